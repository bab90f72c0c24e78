"""AdapterRegistry: the adapter catalog and the model's residency, joined for the serving path.

* :class:`~.catalog.AdapterCatalog` — where adapters come from: scan, settle, validate, immutable
  versions, leases, retirement. Used by the watcher thread and the event loop.
* :class:`~.residency.ResidencyManager` — what is loaded: LRU over a fixed number of slots, through
  the ``load``/``unload`` of an :class:`AdapterLoader` (the model's LoRA slot table).

:meth:`AdapterRegistry.sync` is the one place they meet: the scheduler's worker thread calls it
between two batches to unload retired versions, honour routers' unload requests, and make the next
batch's adapters resident.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Any, Protocol

from extractor_energy.metrics import Metrics
from extractor_energy.adapters.catalog import FALLBACK_KEY, AdapterCatalog, AdapterVersion, Lease
from extractor_energy.adapters.residency import LoadFailure, ResidencyManager
from extractor_energy.adapters.validation import DEFAULT_MAX_ADAPTER_BYTES, ModelSpec, ValidatedAdapter

__all__ = ["FALLBACK_KEY", "AdapterLoader", "AdapterRegistry", "Lease"]
log = logging.getLogger(__name__)
#: what a request is told when its adapter's weights were refused (the details are in GET /adapters)
REFUSED = "the model refused its weights (GET /adapters shows why)"


class AdapterLoader(Protocol):
    """Where resident adapters' weights go (``lora_slots.SlotTable`` when serving)."""

    def load(self, name: str, adapter: ValidatedAdapter) -> Any: ...

    def unload(self, name: str) -> None: ...


class AdapterRegistry:
    def __init__(
        self,
        root: Path,
        spec: ModelSpec,
        *,
        max_loaded: int,
        max_rank: int,
        allow_base_mismatch: bool,
        stable_s: float,
        loader: AdapterLoader | None = None,
        preload: bool = False,
        metrics: Metrics | None = None,
        max_adapter_bytes: int = DEFAULT_MAX_ADAPTER_BYTES,
        packaged: Path | None = None,
        fallback: Path | None = None,
    ) -> None:
        self.metrics = metrics or Metrics()
        self.catalog = AdapterCatalog(
            root, spec, max_rank=max_rank, allow_base_mismatch=allow_base_mismatch, stable_s=stable_s, metrics=self.metrics,
            max_adapter_bytes=max_adapter_bytes, packaged=packaged, fallback=fallback,
        )
        self.loader = loader
        self.residency: ResidencyManager[AdapterVersion] = ResidencyManager(
            self._load, self._unload, capacity=max_loaded, metrics=self.metrics
        )
        self.preload = preload
        self._unload_requests: set[str] = set()  # keys to unload at the next sync (unload_soon)
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ catalog, as the rest of the code sees it
    @property
    def root(self) -> Path:
        return self.catalog.root

    @property
    def stable_s(self) -> float:
        return self.catalog.stable_s

    @property
    def max_loaded(self) -> int:
        return self.residency.capacity

    def scan(self) -> None:
        self.catalog.scan()

    def settle(self, timeout_s: float = 5.0) -> None:
        self.catalog.settle(timeout_s)

    def pending(self) -> list[str]:
        return self.catalog.pending()

    def acquire(self, key: str) -> Lease | None:
        return self.catalog.acquire(key)

    def release(self, lease: Lease | None) -> None:
        self.catalog.release(lease)

    def error_of(self, key: str) -> str | None:
        return self.catalog.error_of(key)

    def has(self, key: str) -> bool:
        return self.catalog.has(key)

    def keys(self) -> list[str]:
        return self.catalog.keys()

    def describe(self, key: str) -> dict[str, Any] | None:
        return self.catalog.describe(key)

    def describe_all(self) -> list[dict[str, Any]]:
        return self.catalog.describe_all()

    # ------------------------------------------------------------------ residency
    def unload_soon(self, key: str) -> None:
        """Let the worker unload ``key``'s resident adapter at its next sync (unless a batch still needs it).

        For a router that keeps its own per-replica LRU (Ray Serve's multiplexing): when it evicts a
        key, the adapter leaves the model too, so both agree on what is resident."""
        with self._lock:
            self._unload_requests.add(key)

    def is_resident(self, key: str) -> bool:
        """``key``'s current version is loaded in the model (per request on the Ray path: no scan of all keys)."""
        version = self.catalog.current_of(key)
        return version is not None and version.internal_name in self.residency

    def resident_keys(self) -> list[str]:
        """Keys whose current version is loaded in the model."""
        current = {v.internal_name: v.adapter.key for v in self.catalog.current_versions()}
        return sorted(current[n] for n in self.residency.resident() if n in current)

    def sync(self, needed: set[str]) -> dict[str, str]:
        """Worker thread, between batches: make ``needed`` (slot ids, ``AdapterRef.slot_id``) resident.

        Returns {slot id: why} for those that are not: a refused load (the key turns to
        ``error`` in ``GET /adapters``) or no free slot in this batch (retry later)."""
        for version in self.catalog.take_dead(keep=needed):
            self.residency.drop(version.internal_name, reason="retired")
            version.adapter.state_dict = {}  # the host copy of the weights goes with the version
        with self._lock:
            asked, self._unload_requests = self._unload_requests, set()
        for key in asked:
            version = self.catalog.current_of(key)
            if version is not None and version.internal_name not in needed:
                self.residency.drop(version.internal_name, reason="router")
        wanted = {n: v for n in sorted(needed) if (v := self.catalog.version(n)) is not None}
        room = self.residency.capacity - len(set(self.residency.resident()) | set(wanted))
        if self.preload and room > 0:  # fill free slots only (first, so the batch's own adapters end most recently used)
            extra = [v for v in self.catalog.current_versions() if v.internal_name not in wanted and v.internal_name not in self.residency]
            wanted = {**{v.internal_name: v for v in extra[:room]}, **wanted}
        # who holds which version matters only when something must be evicted (not a walk over every
        # version on every batch): eviction happens only when resident + wanted exceed the slots
        busy = self.catalog.leased() if room < 0 else set()
        failures = self.residency.ensure(wanted, busy=busy)
        return {name: self._report(wanted[name], failure) for name, failure in failures.items()}

    def _report(self, version: AdapterVersion, failure: LoadFailure) -> str:
        if failure.over_capacity:
            return failure.message
        self.catalog.mark_load_error(version, failure.message[:200])  # a slot id reads as key@version: quoted as is
        self.metrics.adapter_errors.inc()
        return REFUSED

    def _load(self, name: str, version: AdapterVersion) -> None:
        if self.loader is None:
            raise RuntimeError("this registry has no model to load adapters into")
        self.loader.load(name, version.adapter)
        version.loaded_at = time.time()

    def _unload(self, name: str, version: AdapterVersion) -> None:
        version.loaded_at = None
        if self.loader is not None:
            self.loader.unload(name)
