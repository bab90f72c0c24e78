"""Adapter lifecycle: validation, versions, LRU residency, and watching ``adapters/``.

Only :class:`AdapterRegistry` mutates the set of adapters loaded in the model, and it does so
from the scheduler's worker thread, between two ``generate`` calls.
"""

from .registry import AdapterRegistry, Lease
from .validation import AdapterInvalid, ValidatedAdapter, validate_adapter_dir

__all__ = ["AdapterRegistry", "Lease", "AdapterInvalid", "ValidatedAdapter", "validate_adapter_dir"]
