"""Undo a failed adapter load completely, so one bad adapter can never touch the others.

``add_adapter`` changes the model in two ways: it *wraps* base modules (a ``Linear`` becomes a
LoRA layer holding the original as ``base_layer``; auxiliary options may wrap embeddings) and
it *adds entries* for the new adapter to layers that were already wrapped. When loading fails
half-way, PEFT's own ``delete_adapter`` can itself fail on such a half-built state and leave
wrappers behind that break every later load. Here the module tree is snapshotted before the
load; rollback puts every replaced module back, removes the adapter's entries from the layers
that stay, and forgets its config — whatever PEFT managed to build.
"""

from __future__ import annotations

import logging

import torch
from peft.tuners.tuners_utils import BaseTunerLayer

log = logging.getLogger(__name__)

Snapshot = dict[str, torch.nn.Module]


def snapshot(model: torch.nn.Module) -> Snapshot:
    """Every module of ``model`` by its dotted path (cheap: references only)."""
    return dict(model.named_modules(remove_duplicate=False))


def rollback(model: torch.nn.Module, adapter_name: str, before: Snapshot) -> None:
    """Restore ``model`` to ``before`` and remove every trace of ``adapter_name``. Never raises."""
    # 1. modules that the load replaced (wrappers): put the originals back, shallowest first
    for path in sorted(before, key=lambda p: p.count(".")):
        if not path:
            continue
        parent_path, _, attr = path.rpartition(".")
        parent = before.get(parent_path)
        original = before[path]
        if parent is None or attr not in parent._modules:
            continue
        if parent._modules[attr] is not original:
            parent._modules[attr] = original
    # 2. layers that existed before: drop the adapter's entries (lora_A/B, scaling, …)
    for module in model.modules():
        if isinstance(module, BaseTunerLayer):
            try:
                names = module.adapter_layer_names + module.other_param_names
                if any(adapter_name in getattr(module, attr, {}) for attr in names):
                    module.delete_adapter(adapter_name)
            except Exception as exc:  # keep going: the rest must still be cleaned
                log.warning("rollback of %s: %s on %s", adapter_name, exc, type(module).__name__)
            module.__dict__.pop("_extractor_stack", None)  # stacked copies may hold its weights
    # 3. its config
    for holder in (model, getattr(model, "base_model", None)):
        configs = getattr(holder, "peft_config", None)
        if isinstance(configs, dict):
            configs.pop(adapter_name, None)
