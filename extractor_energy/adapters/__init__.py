"""Adapter lifecycle: validation, a catalog of versions and leases, residency in the model, watching ``adapters/``.

Only :class:`AdapterRegistry` changes what is loaded in the model (through the LoRA slot table), and
it does so from the scheduler's worker thread, between two ``generate`` calls.
"""

from extractor_energy.adapters.registry import AdapterRegistry, Lease
from extractor_energy.adapters.validation import AdapterInvalid, ValidatedAdapter, validate_adapter_dir

__all__ = ["AdapterRegistry", "Lease", "AdapterInvalid", "ValidatedAdapter", "validate_adapter_dir"]
