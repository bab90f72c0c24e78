"""Adapter lifecycle: validation, a catalog of versions and leases, residency in the model, watching ``adapters/``.

Only :class:`AdapterRegistry` changes what is loaded in the model (through the LoRA slot table), and
it does so from the scheduler's worker thread, between two ``generate`` calls.
"""

from .registry import AdapterRegistry, Lease
from .validation import AdapterInvalid, ValidatedAdapter, validate_adapter_dir

__all__ = ["AdapterRegistry", "Lease", "AdapterInvalid", "ValidatedAdapter", "validate_adapter_dir"]
