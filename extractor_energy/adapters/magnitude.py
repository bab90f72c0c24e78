"""The magnitude bound on an adapter's update, per module.

For each module the adapter adds ``ΔW = scaling · B·A`` (PEFT's scaling: alpha/r, or alpha/√r
with rsLoRA; ``alpha_pattern`` wins). It must satisfy

    ‖ΔW‖_F ≤ MAX_DELTA_RATIO · ‖W‖_F        (Frobenius norms, ``W`` the base layer's weight)

A trained adapter nudges a layer: its update is a fraction of the weight's norm. One whose update
outweighs the layer several times over replaces it, and the model answers garbage — an adapter
with ``lora_B`` = 1e30 everywhere has only finite weights yet makes every field null.

The five adapters packaged for the embedded model reach at most 0.024× (median 0.006×), so the
bound of 4× refuses only updates that swamp their layer.
"""

from __future__ import annotations

import re
from typing import Any, Mapping

import torch

from extractor_energy.lora.slots import lora_scaling

#: ‖scaling·B·A‖_F may be at most this many times ‖W‖_F of the base layer.
MAX_DELTA_RATIO = 4.0


def delta_norm(a: torch.Tensor, b: torch.Tensor) -> float:
    """‖B·A‖_F without forming B·A: ‖BA‖²_F = Σ (BᵀB ⊙ AAᵀ), r×r matrices, in float64 (1e30 does not overflow)."""
    a64, b64 = a.to(torch.float64), b.to(torch.float64)
    return float((b64.T @ b64 * (a64 @ a64.T)).sum().clamp_min(0).sqrt())


def oversized_update(
    state: Mapping[str, torch.Tensor], config: dict[str, Any], weight_norms: Mapping[str, float], key: re.Pattern[str]
) -> str | None:
    """Why the first module over the bound is refused, or None. ``key`` splits a tensor name into
    ``module`` and ``part`` (lora_A/lora_B); modules without a known base norm are not checked."""
    parts: dict[str, dict[str, torch.Tensor]] = {}
    for name, tensor in state.items():
        if (match := key.match(name)) and match["module"] in weight_norms:
            parts.setdefault(match["module"], {})[match["part"]] = tensor
    for module, pair in sorted(parts.items()):
        if set(pair) != {"lora_A", "lora_B"}:
            continue
        a, b, base = pair["lora_A"], pair["lora_B"], max(float(weight_norms[module]), 1e-12)
        delta = abs(lora_scaling(config, module, a.shape[0])) * delta_norm(a, b)
        if not delta <= MAX_DELTA_RATIO * base:  # also catches an overflow to inf/NaN
            return (
                f"{module}: the adapter's update is too large (‖scaling·B·A‖_F = {delta:.3g}, {delta / base:.3g}× the "
                f"base weight's norm {base:.3g}; the bound is {MAX_DELTA_RATIO:g}×): it would overwrite the layer, not "
                "adapt it — retrain with a lower learning rate or lora_alpha"
            )
    return None
