"""Mixed-adapter LoRA batches with gathered batched matmuls (the S-LoRA / Punica idea in torch).

PEFT serves a batch whose rows use different adapters by looping over the adapters in every
LoRA layer: for 16 adapters that is ~100 small tensor ops per layer per generated token, and
Python overhead, not arithmetic, sets the speed. Here each LoRA layer keeps the weights of the
adapters in the current batch stacked (slot 0 = zeros for base rows and adapters that do not
target the layer), gathers one A and one B per row, and runs two ``bmm`` calls: a constant
number of ops whatever the mix. The math is PEFT's (``x @ A.T @ B.T * scaling`` added to the
base output); ranks are zero-padded to the largest one. Variants (DoRA, aLoRA) and
``fan_in_fan_out`` layers fall back to PEFT's own loop.

Memory: the stack holds one extra copy of the weights of the adapters in the current batch for
each layer (rebuilt only when that set of adapters changes).
"""

from __future__ import annotations

import types
from dataclasses import dataclass
from typing import Any

import torch
from peft.tuners.lora import layer as lora_layer

_FLAG = "_extractor_gathered_lora"


@dataclass
class _Stack:
    names: tuple[str, ...]
    slot: dict[str, int]
    a: torch.Tensor  # [adapters + 1, r_max, in]
    b: torch.Tensor  # [adapters + 1, out, r_max], scaling folded in


def _build_stack(layer: Any, names: tuple[str, ...]) -> _Stack:
    first = layer.lora_A[names[0]].weight
    rank = max(layer.lora_A[n].weight.shape[0] for n in names)
    in_f, out_f = first.shape[1], layer.lora_B[names[0]].weight.shape[0]
    a = torch.zeros(len(names) + 1, rank, in_f, dtype=first.dtype, device=first.device)
    b = torch.zeros(len(names) + 1, out_f, rank, dtype=first.dtype, device=first.device)
    with torch.no_grad():
        for i, name in enumerate(names, start=1):
            r = layer.lora_A[name].weight.shape[0]
            a[i, :r] = layer.lora_A[name].weight
            b[i, :, :r] = layer.lora_B[name].weight * layer.scaling[name]
    return _Stack(names=names, slot={n: i for i, n in enumerate(names, start=1)}, a=a, b=b)


def _gathered_forward(self: Any, x: torch.Tensor, *args: Any, adapter_names: list[str], **kwargs: Any) -> torch.Tensor:
    used = sorted({n for n in adapter_names if n in self.lora_A})
    if getattr(self, "fan_in_fan_out", False) or any(n in self.lora_variant for n in used):
        return lora_layer.Linear._mixed_batch_forward(self, x, *args, adapter_names=adapter_names, **kwargs)
    for key in getattr(lora_layer, "VARIANT_KWARG_KEYS", ()):
        kwargs.pop(key, None)
    result = self.base_layer(x, *args, **kwargs)
    if not used:
        return result
    stack: _Stack | None = self.__dict__.get("_extractor_stack")
    if stack is None or stack.names != tuple(used):
        stack = _build_stack(self, tuple(used))
        self.__dict__["_extractor_stack"] = stack
    index = torch.tensor([stack.slot.get(n, 0) for n in adapter_names], device=stack.a.device)
    rows = (x if x.dim() == 3 else x.unsqueeze(1)).to(stack.a.dtype)
    if len(used) == 1:  # one adapter (maybe with base rows): plain matmuls, no per-row weight gather
        delta = rows @ stack.a[1].T @ stack.b[1].T
        delta = delta * (index > 0).to(delta.dtype).view(-1, 1, 1)
    else:
        hidden = torch.bmm(rows, stack.a.index_select(0, index).transpose(1, 2))
        delta = torch.bmm(hidden, stack.b.index_select(0, index).transpose(1, 2))
    return result + (delta if x.dim() == 3 else delta.squeeze(1)).to(result.dtype)


def enable_gathered_lora(model: torch.nn.Module) -> int:
    """Route every LoRA ``Linear`` layer of ``model`` through the gathered path; return how many.

    Idempotent; call again after ``add_adapter`` wraps new modules.
    """
    count = 0
    for module in model.modules():
        if isinstance(module, lora_layer.Linear) and not module.__dict__.get(_FLAG):
            module._mixed_batch_forward = types.MethodType(_gathered_forward, module)
            module.__dict__[_FLAG] = True
            count += 1
    return count


def drop_stacks(model: torch.nn.Module) -> None:
    """Free the stacked copies (after adapters were unloaded, so their tensors can go)."""
    for module in model.modules():
        module.__dict__.pop("_extractor_stack", None)
