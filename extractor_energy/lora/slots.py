"""Resident LoRA weights in a slot table: vLLM's LoRA model manager, in plain torch.

At start-up every LoRA-targetable Linear layer of the language model (the family's attention and
MLP projections) is replaced by a :class:`~extractor_energy.lora.layers.SlotLinear` that wraps it
and holds two buffers, allocated once for all slots at the largest allowed rank (the layer's
docstring states the math). Loading an adapter copies its stock PEFT ``lora_A``/``lora_B`` weights
into a free slot of every layer it targets (ranks zero-padded, scaling folded into B); unloading
zeroes the slot. Nothing is re-allocated while serving.

Per batch, :meth:`SlotTable.rows` turns the rows' adapter names into slot indices once and
publishes them to every layer on one shared :class:`~extractor_energy.lora.layers.PlanBoard`.
:meth:`SlotTable.detach` puts the model's own Linear layers back (before training on the model).
"""

from __future__ import annotations

import math
import re
import threading
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Iterator

import torch

from extractor_energy.lora.layers import BASE_ONLY, BatchSlots, PlanBoard, SlotLinear, replace_submodule

if TYPE_CHECKING:
    from extractor_energy.adapters.validation import ValidatedAdapter

#: attention/MLP projections of the language model: the modules a served adapter may target
PROJECTIONS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
_LORA_KEY = re.compile(r"^base_model\.model\.(?P<module>.+)\.(?P<part>lora_A|lora_B)(?:\.[^.]+)?\.weight$")


class SlotTableError(RuntimeError):
    """The slot table cannot take this adapter (no free slot, unknown module, rank too large)."""


class SlotMemoryError(ValueError):
    """The table the settings ask for is larger than ``EXTRACTOR_LORA_SLOTS_MAX_MB``."""


def slot_layers(model: torch.nn.Module, marker: str) -> dict[str, torch.nn.Linear]:
    """The Linear projections under the family's language-model marker, by module name."""
    return {
        name: module for name, module in model.named_modules()
        if isinstance(module, torch.nn.Linear) and name.rsplit(".", 1)[-1] in PROJECTIONS and marker in name.split(".")
    }


def table_bytes(layers: dict[str, torch.nn.Linear] | dict[str, SlotLinear], slots: int, rank: int, dtype: torch.dtype) -> int:
    """Memory of the table: (slots + 1) × rank × Σ(in + out) over the layers × bytes per value."""
    width = sum(layer.in_features + layer.out_features for layer in layers.values())
    return (slots + 1) * rank * width * torch.empty((), dtype=dtype).element_size()


class SlotTable:
    """LoRA weights of up to ``slots`` resident adapters, written into buffers allocated once.

    ``load``/``unload`` and the forward passes run on the inference worker thread only; a lock
    keeps an evaluation script or a test that loads from another thread consistent.
    """

    def __init__(self, model: torch.nn.Module, marker: str, slots: int, max_rank: int, max_bytes: int | None = None) -> None:
        linears = slot_layers(model, marker)
        if not linears:
            raise SlotTableError(f"the model has no {'/'.join(PROJECTIONS)} layers under {marker!r} for LoRA adapters")
        first = next(iter(linears.values())).weight
        self.dtype, self.device = first.dtype, first.device
        self.slots, self.max_rank = slots, max_rank
        self.bytes = table_bytes(linears, slots, max_rank, self.dtype)
        if max_bytes is not None and self.bytes > max_bytes:
            raise SlotMemoryError(
                f"the LoRA slot table needs {self.bytes / 2**20:.0f} MiB ({slots} slots × rank {max_rank} over "
                f"{len(linears)} layers) but EXTRACTOR_LORA_SLOTS_MAX_MB is {max_bytes / 2**20:.0f}; lower "
                "EXTRACTOR_MAX_LOADED_ADAPTERS or EXTRACTOR_MAX_ADAPTER_RANK, or raise the cap"
            )
        self._lock = threading.RLock()
        self._slot_of: dict[str, int] = {}  # adapter name -> slot (1..slots)
        self._rank: list[int] = [0] * (slots + 1)
        self._free = list(range(slots, 0, -1))  # pop() gives the lowest free slot
        self.board = PlanBoard()
        self._model = model
        self.layers: dict[str, SlotLinear] = {}
        for name, linear in linears.items():
            self.layers[name] = SlotLinear(linear, slots, max_rank, self.board)
            replace_submodule(model, name, self.layers[name])

    @property
    def batch(self) -> BatchSlots:
        """The plan of the running batch (every row on the base model outside :meth:`rows`)."""
        return self.board.batch

    # ------------------------------------------------------------------ residency
    def load(self, name: str, adapter: "ValidatedAdapter") -> int:
        """Write ``adapter``'s weights into a free slot under ``name``; return the slot.

        On any failure the slot is zeroed again and stays free: a failed load leaves no trace."""
        pairs = lora_pairs(adapter)
        unknown = sorted(set(pairs) - set(self.layers))
        if unknown:
            raise SlotTableError(f"the adapter targets {unknown[0]}, which has no LoRA slot in the served model")
        with self._lock:
            if name in self._slot_of:
                raise SlotTableError(f"{name} is already loaded")
            if not self._free:
                raise SlotTableError(f"all {self.slots} LoRA slots are in use (EXTRACTOR_MAX_LOADED_ADAPTERS)")
            slot = self._free.pop()
            try:
                rank = write_slot(self, slot, adapter, pairs)
            except BaseException:
                self._clear(slot)
                self._free.append(slot)
                raise
            self._slot_of[name], self._rank[slot] = slot, rank
            return slot

    def unload(self, name: str) -> None:
        """Zero ``name``'s slot and free it (a no-op for an unknown name)."""
        with self._lock:
            slot = self._slot_of.pop(name, None)
            if slot is None:
                return
            self._clear(slot)
            self._rank[slot] = 0
            self._free.append(slot)
            self._free.sort(reverse=True)

    def _clear(self, slot: int) -> None:
        for layer in self.layers.values():
            layer.clear_slot(slot)

    def loaded(self) -> dict[str, int]:
        with self._lock:
            return dict(self._slot_of)

    # ------------------------------------------------------------------ batches
    def plan(self, adapter_names: list[str]) -> BatchSlots:
        """Row -> slot for one batch (unknown names and the base marker use slot 0)."""
        slots = [self._slot_of.get(n, 0) for n in adapter_names]
        used = set(slots) - {0}
        if not used:
            return BASE_ONLY
        rank = max(self._rank[s] for s in used)
        if len(used) == 1:
            (slot,) = used
            mask = None
            if 0 in slots:
                mask = torch.tensor([1.0 if s else 0.0 for s in slots], dtype=self.dtype, device=self.device).view(-1, 1, 1)
            return BatchSlots(single=slot, rank=rank, mask=mask)
        return BatchSlots(single=-1, rank=rank, index=torch.tensor(slots, device=self.device))

    @contextmanager
    def rows(self, adapter_names: list[str]) -> Iterator[BatchSlots]:
        """Run the model with each row on its adapter; outside the block every row is on the base model."""
        with self._lock:
            self.board.batch = self.plan(adapter_names)
            try:
                yield self.board.batch
            finally:
                self.board.batch = BASE_ONLY

    def detach(self) -> None:
        """Give the model its own Linear layers back and free the buffers (before training on it)."""
        with self._lock:
            for name, layer in self.layers.items():
                replace_submodule(self._model, name, layer.base_layer)
            self.layers, self._slot_of = {}, {}


def lora_pairs(adapter: "ValidatedAdapter") -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """Module name -> (lora_A weight [r, in], lora_B weight [out, r]) of a validated adapter."""
    parts: dict[str, dict[str, torch.Tensor]] = {}
    for key, tensor in adapter.state_dict.items():
        match = _LORA_KEY.match(key)
        if match:
            parts.setdefault(match["module"], {})[match["part"]] = tensor
    return {module: (p["lora_A"], p["lora_B"]) for module, p in parts.items() if len(p) == 2}


def lora_scaling(config: dict[str, Any], module: str, rank: int) -> float:
    """PEFT's scaling for one module: alpha / r, or alpha / sqrt(r) with rsLoRA (alpha_pattern wins)."""
    alpha = config.get("lora_alpha") or rank
    for pattern, value in (config.get("alpha_pattern") or {}).items():
        if re.search(rf"(^|\.){pattern}$", module):
            alpha = value
            break
    return alpha / math.sqrt(rank) if config.get("use_rslora") else alpha / rank


def write_slot(table: SlotTable, slot: int, adapter: "ValidatedAdapter", pairs: dict[str, tuple[torch.Tensor, torch.Tensor]]) -> int:
    """Copy an adapter's A/B into ``slot`` of every layer it targets (B pre-scaled); return its largest rank."""
    largest = 0
    with torch.no_grad():
        for module, (a, b) in pairs.items():
            rank = a.shape[0]
            if rank > table.max_rank:
                raise SlotTableError(f"{module} has rank {rank}, above the table's {table.max_rank} (EXTRACTOR_MAX_ADAPTER_RANK)")
            layer = table.layers[module]
            if tuple(a.shape) != (rank, layer.in_features) or tuple(b.shape) != (layer.out_features, rank):
                raise SlotTableError(f"{module}: lora_A {tuple(a.shape)} / lora_B {tuple(b.shape)} do not fit the layer")
            layer.set_slot(slot, a, b.to(table.dtype) * lora_scaling(adapter.config, module, rank))
            largest = max(largest, rank)
    return largest
