"""Schema-constrained decoding (filled in by the constrained-decoding work)."""

from __future__ import annotations

from .model import LoadedModel


def schema_constraint_factory(loaded: LoadedModel):
    return None
