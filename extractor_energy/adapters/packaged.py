"""Adapters shipped inside the package for the embedded model, and the fallback adapter setting.

The embedded text model (SmolLM2-135M-Instruct) comes with adapters trained by
``training/embedded_adapters.sh`` (seeded, reproducible): one per synthetic layout it was
specialised on, under ``embedded_adapters/<concessionaria>_<uf>/``, and a generic one under
``embedded_adapters/_generic/`` that serves every other key. They are a read-only source beside
``EXTRACTOR_ADAPTERS_DIR`` (a folder of the same key there wins) and are used only when the
embedded model is the base: their weights fit no other model.
"""

from __future__ import annotations

from pathlib import Path

from extractor_energy.config import Settings
from extractor_energy.engine.embedded import is_embedded
from extractor_energy.engine.model import LoadedModel

EMBEDDED_ADAPTERS = Path(__file__).parents[1] / "embedded_adapters"
GENERIC = "_generic"


def packaged_adapters_dir(settings: Settings, loaded: LoadedModel) -> Path | None:
    """The shipped adapters folder when it applies (embedded base, not switched off), else None."""
    if settings.packaged_adapters and is_embedded(loaded.name) and EMBEDDED_ADAPTERS.is_dir():
        return EMBEDDED_ADAPTERS
    return None


def fallback_adapter_dir(settings: Settings, loaded: LoadedModel) -> Path | None:
    """``EXTRACTOR_FALLBACK_ADAPTER``: a folder, ``none``, or ``auto`` (the shipped generic adapter on the embedded model)."""
    value = settings.fallback_adapter.strip()
    if value.lower() == "none" or not value:
        return None
    if value.lower() == "auto":
        generic = EMBEDDED_ADAPTERS / GENERIC
        return generic if packaged_adapters_dir(settings, loaded) and generic.is_dir() else None
    return Path(value)
