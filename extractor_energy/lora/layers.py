"""LoRA layer modules that take the place of a model's projections (vLLM's ``lora/layers``).

A :class:`SlotLinear` wraps the model's own ``nn.Linear`` (``base_layer``) and adds, per row of the
running batch, ``x @ A[slot].T @ B[slot]`` read from its two slot buffers:

    slot_a: [slots + 1, max_rank, in_features]      slot_b (B stored transposed): [slots + 1, max_rank, out_features]

Slot 0 stays zero (the base model). The layer does not decide which row uses which slot: it reads
the :class:`BatchSlots` plan that the slot table publishes once per batch on a shared
:class:`PlanBoard` (no per-layer, per-step lookup).

* every row on the base model: the base output, untouched;
* every row on one adapter (the common case at low load): two plain matmuls;
* a mix: one gather of A and B per row and two ``bmm`` calls, whatever the number of adapters.

Only the columns up to the largest rank in the batch are used, so rank-8 adapters do not pay for
a rank-64 table. Both buffers keep the rank as their middle dimension, so the first ``r`` ranks of
a slot are one contiguous block (no copy per step).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class BatchSlots:
    """Which slot each row of the running batch uses, computed once per batch."""

    single: int  # the one slot every row uses (0: all base), or -1 for a mix
    rank: int  # columns of A/B in use: the largest rank among the batch's adapters
    index: torch.Tensor | None = None  # [rows] slot per row (mixed batches)
    mask: torch.Tensor | None = None  # [rows, 1, 1]: 1 for rows on ``single``, 0 for base rows (single with base rows)


BASE_ONLY = BatchSlots(single=0, rank=0)


class PlanBoard:
    """The plan of the running batch, shared by every :class:`SlotLinear` of one model."""

    __slots__ = ("batch",)

    def __init__(self) -> None:
        self.batch: BatchSlots = BASE_ONLY


class SlotLinear(nn.Module):
    """A projection with per-row LoRA: ``base_layer(x)`` plus the delta of each row's slot."""

    def __init__(self, base_layer: nn.Linear, slots: int, max_rank: int, board: PlanBoard) -> None:
        super().__init__()
        weight = base_layer.weight
        self.base_layer = base_layer
        self.in_features, self.out_features = base_layer.in_features, base_layer.out_features
        self.slots, self.max_rank = slots, max_rank
        # not persistent: the served model's state dict stays the base model's, only the keys move under base_layer
        self.register_buffer("slot_a", torch.zeros(slots + 1, max_rank, self.in_features, dtype=weight.dtype, device=weight.device),
                             persistent=False)
        self.register_buffer("slot_b", torch.zeros(slots + 1, max_rank, self.out_features, dtype=weight.dtype, device=weight.device),
                             persistent=False)
        self.board = board
        self.train(base_layer.training)

    def set_slot(self, slot: int, a: torch.Tensor, b_scaled: torch.Tensor) -> None:
        """Write one adapter's ``lora_A`` [r, in] and scaled ``lora_B`` [out, r] into ``slot``."""
        rank = a.shape[0]
        if rank > self.max_rank:
            raise ValueError(f"rank {rank} is above the layer's {self.max_rank}")
        with torch.no_grad():
            self.slot_a[slot, :rank].copy_(a.to(self.slot_a.dtype))
            self.slot_b[slot, :rank].copy_(b_scaled.to(self.slot_b.dtype).T)

    def clear_slot(self, slot: int) -> None:
        with torch.no_grad():
            self.slot_a[slot].zero_()
            self.slot_b[slot].zero_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        base = self.base_layer
        out = F.linear(x, base.weight, base.bias)
        rows = self.board.batch
        if rows.single == 0:
            return out
        r = rows.rank
        slot_a, slot_b = self.slot_a, self.slot_b
        if rows.single > 0:
            delta = F.linear(x.to(slot_a.dtype), slot_a[rows.single, :r]) @ slot_b[rows.single, :r]
            if rows.mask is not None:
                delta = delta * (rows.mask if x.dim() == 3 else rows.mask.view(-1, 1))
            return out + delta.to(out.dtype)
        seq = (x if x.dim() == 3 else x.unsqueeze(1)).to(slot_a.dtype)
        hidden = torch.bmm(seq, slot_a[:, :r].index_select(0, rows.index).transpose(1, 2))
        delta = torch.bmm(hidden, slot_b[:, :r].index_select(0, rows.index))
        return out + (delta if x.dim() == 3 else delta.squeeze(1)).to(out.dtype)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, slots={self.slots}, max_rank={self.max_rank}"


def replace_submodule(model: nn.Module, name: str, module: nn.Module) -> nn.Module:
    """Put ``module`` where ``name`` is in ``model``; return the module it replaces."""
    parent_name, _, child = name.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    old = parent.get_submodule(child)
    setattr(parent, child, module)
    return old
