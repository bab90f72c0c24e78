"""AdapterCatalog: where adapters come from — folders on disk -> immutable versions -> leases.

* Disk side (watcher thread, ``scan``): a folder is validated only once its files have stopped
  changing; a valid change becomes a new immutable version (its slot id ``<key>@<fingerprint>-<n>``),
  an invalid one is reported while the previous version keeps serving.
* Request side (event loop, ``acquire``/``release``): a request takes a lease on the version
  current at accept time; it is served by that version even if the folder changes meanwhile.
* Retirement: a replaced or removed version is retired; :meth:`take_dead` hands the retired
  versions nobody holds any more to the residency side, which unloads them.

The catalog never touches the model: what is loaded is the residency manager's business.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from extractor_energy.adapters.identity import slot_id
from extractor_energy.domain.keys import InvalidKey, parse_key
from extractor_energy.metrics import Metrics
from extractor_energy.adapters.validation import DEFAULT_MAX_ADAPTER_BYTES, AdapterInvalid, ModelSpec, ValidatedAdapter, validate_adapter_dir

log = logging.getLogger(__name__)
#: Registry key of the fallback adapter (``EXTRACTOR_FALLBACK_ADAPTER``): not a ``<concessionaria>_<uf>``
#: name, so no adapter folder can ever take it.
FALLBACK_KEY = "fallback"


@dataclass
class AdapterVersion:
    adapter: ValidatedAdapter
    internal_name: str
    loaded_at: float | None = None
    last_used: float | None = None
    request_count: int = 0
    leases: int = 0
    retired: bool = False

    @property
    def loaded(self) -> bool:
        return self.loaded_at is not None

    @cached_property
    def summary(self) -> dict[str, Any]:
        """What ``GET /adapters`` shows of this version that never changes (computed once: 1,000 rows stay cheap)."""
        a = self.adapter
        return {"version": a.version, "rank": a.rank, "alpha": a.alpha, "size_bytes": a.size_bytes,
                "target_modules": sorted({m.rsplit(".", 1)[-1] for m in a.modules}), "base_model": a.base_model,
                "metadata": a.metadata}


@dataclass
class KeyEntry:
    key: str
    path: Path
    source: str = "adapters_dir"  # adapters_dir | packaged (read-only, shipped) | fallback
    current: AdapterVersion | None = None
    error: str | None = None
    signature: tuple | None = None  # file names, sizes, mtimes last seen
    signature_since: float = 0.0
    checked_signature: tuple | None = None  # the signature last validated


@dataclass(frozen=True)
class Lease:
    """A request's hold on one adapter version; release it when the request is done."""

    key: str
    version: str
    internal_name: str
    fields: tuple[str, ...] | None = None  # the adapter's own field set, from its metadata


def _field_set(metadata: dict[str, Any] | None) -> tuple[str, ...] | None:
    """Fields an adapter's trainer says it writes (``fields`` in its metadata), if a valid subset of the contract."""
    from extractor_energy.domain.schema import ALL_FIELDS

    fields = (metadata or {}).get("fields")
    if not isinstance(fields, list) or not fields or not set(fields) <= set(ALL_FIELDS) or set(fields) == set(ALL_FIELDS):
        return None
    return tuple(f for f in ALL_FIELDS if f in fields)


def _inside(path: Path, root: Path) -> bool:
    """``path`` resolves (links followed) to a place inside ``root``."""
    try:
        return path.resolve().is_relative_to(root.resolve())
    except OSError:  # a link loop
        return False


def _signature(folder: Path) -> tuple:
    try:
        stats = ((p.name, p.stat()) for p in folder.iterdir() if p.is_file())
        return tuple(sorted((name, st.st_size, st.st_mtime_ns) for name, st in stats))
    except OSError:  # vanished while we looked: treat as still changing
        return (("<unreadable>", time.monotonic_ns(), 0),)


class AdapterCatalog:
    def __init__(
        self,
        root: Path,
        spec: ModelSpec,
        *,
        max_rank: int,
        allow_base_mismatch: bool,
        stable_s: float,
        metrics: Metrics | None = None,
        max_adapter_bytes: int = DEFAULT_MAX_ADAPTER_BYTES,
        packaged: Path | None = None,
        fallback: Path | None = None,
    ) -> None:
        self.root = Path(root)
        #: read-only adapters shipped for the served model; a folder of the same key in ``root`` wins
        self.packaged = Path(packaged) if packaged else None
        #: served for keys without an adapter of their own (before the plain base prompt)
        self.fallback = Path(fallback) if fallback else None
        self.max_adapter_bytes = max_adapter_bytes
        self.spec = spec
        self.max_rank = max_rank
        self.allow_base_mismatch = allow_base_mismatch
        self.stable_s = stable_s
        self.metrics = metrics or Metrics()
        self._lock = threading.RLock()
        self._scan_lock = threading.Lock()
        self._entries: dict[str, KeyEntry] = {}
        self._bad_folders: dict[str, str] = {}  # folder name -> why it is not a key
        self._versions: dict[str, AdapterVersion] = {}  # internal name -> live version (current or leased)
        self._generation = 0  # makes internal names unique even when the same bytes come back

    # ------------------------------------------------------------------ disk side
    def scan(self) -> None:
        """Look at the folder once: note changes, validate folders that have settled, retire removed ones."""
        with self._scan_lock:
            now = time.monotonic()
            seen: set[str] = set()
            bad: dict[str, str] = {}
            for root, source in ((self.root, "adapters_dir"), (self.packaged, "packaged")):
                folders = sorted(p for p in root.iterdir() if p.is_dir()) if root and root.is_dir() else []
                for folder in folders:
                    if folder.name.startswith((".", "_")):
                        continue  # temporary folders of publishers (atomic rename pattern) and hidden ones
                    try:
                        key = parse_key(folder.name).key
                    except InvalidKey as exc:
                        if source == "adapters_dir":
                            bad[folder.name[:100]] = str(exc)
                        continue
                    if key in seen:
                        continue  # the adapters directory wins over the packaged adapters
                    if not _inside(folder, root):
                        bad[folder.name] = "the folder is a link to a place outside the adapters directory; copy it in instead"
                        continue
                    seen.add(key)
                    self._scan_folder(key, folder, now, source, root)
            if self.fallback is not None and self.fallback.is_dir():
                seen.add(FALLBACK_KEY)
                self._scan_folder(FALLBACK_KEY, self.fallback, now, "fallback", self.fallback)
            with self._lock:
                self._bad_folders = bad
                for key in [k for k in self._entries if k not in seen]:
                    entry = self._entries.pop(key)
                    if entry.current:
                        log.info("adapter %s removed from disk; retiring version %s", key, entry.current.adapter.version)
                        self._retire(entry.current)

    def settle(self, timeout_s: float = 5.0) -> None:
        """Scan until no folder is waiting to settle (start-up, tests, ``POST /adapters/reload``)."""
        deadline = time.monotonic() + timeout_s
        while True:
            self.scan()
            if not self.pending() or time.monotonic() > deadline:
                return
            time.sleep(min(0.05, max(self.stable_s / 4, 0.01)))

    def pending(self) -> list[str]:
        with self._lock:
            return [k for k, e in self._entries.items() if e.signature != e.checked_signature]

    def _scan_folder(self, key: str, folder: Path, now: float, source: str = "adapters_dir", root: Path | None = None) -> None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                entry = self._entries[key] = KeyEntry(key=key, path=folder, source=source)
            elif entry.path != folder:  # e.g. a user folder now overrides a packaged one: the old version
                entry.path, entry.source = folder, source  # serves until the new one is validated
                entry.signature = entry.checked_signature = None
        signature = _signature(folder)
        if signature == entry.checked_signature:
            return
        if signature != entry.signature:
            entry.signature, entry.signature_since = signature, now
            if self.stable_s > 0:
                return  # changed just now: wait until it stops changing
        if now - entry.signature_since < self.stable_s:
            return
        try:
            adapter = validate_adapter_dir(
                folder, key, self.spec, max_rank=self.max_rank, allow_base_mismatch=self.allow_base_mismatch,
                max_bytes=self.max_adapter_bytes, root=root or self.root,
            )
        except AdapterInvalid as exc:
            with self._lock:
                entry.error, entry.checked_signature = str(exc), signature
            self.metrics.adapter_errors.inc()
            log.warning("adapter %s rejected: %s", key, exc)
            return
        if _signature(folder) != signature:
            entry.signature, entry.signature_since = None, now  # changed while we read it: look again later
            return
        with self._lock:
            entry.checked_signature, entry.error = signature, None
            if entry.current and entry.current.adapter.version == adapter.version:
                return  # touched, not changed
            self._generation += 1
            version = AdapterVersion(adapter=adapter, internal_name=slot_id(key, adapter.version, self._generation))
            previous, entry.current = entry.current, version
            self._versions[version.internal_name] = version
            if previous:
                self._retire(previous)
        log.info("adapter %s version %s ready to serve (rank %d, %d modules)", key, adapter.version, adapter.rank, len(adapter.modules))

    def _retire(self, version: AdapterVersion) -> None:
        version.retired = True  # unloaded by the registry's sync once no request holds it (take_dead)

    # ------------------------------------------------------------------ request side
    def acquire(self, key: str) -> Lease | None:
        """Lease the current version for ``key``, or None when the key has no servable adapter."""
        with self._lock:
            entry = self._entries.get(key)
            version = entry.current if entry else None
            if version is None:
                return None
            version.leases += 1
            version.request_count += 1
            version.last_used = time.time()
            return Lease(
                key=key, version=version.adapter.version, internal_name=version.internal_name,
                fields=_field_set(version.adapter.metadata),
            )

    def release(self, lease: Lease | None) -> None:
        if lease is None:
            return
        with self._lock:
            version = self._versions.get(lease.internal_name)
            if version is not None:
                version.leases -= 1

    # ------------------------------------------------------------------ for the residency side
    def version(self, internal_name: str) -> AdapterVersion | None:
        """A live (current or still leased) version by internal name."""
        with self._lock:
            return self._versions.get(internal_name)

    def current_versions(self) -> list[AdapterVersion]:
        """The version each key serves now (preloading)."""
        with self._lock:
            return [e.current for _, e in sorted(self._entries.items()) if e.current is not None]

    def current_of(self, key: str) -> AdapterVersion | None:
        with self._lock:
            entry = self._entries.get(key)
            return entry.current if entry else None

    def leased(self) -> set[str]:
        """Internal names some request holds (queued or running)."""
        with self._lock:
            return {n for n, v in self._versions.items() if v.leases > 0}

    def take_dead(self, keep: set[str]) -> list[AdapterVersion]:
        """Retired versions no request holds (and not in ``keep``): forgotten here, to be unloaded."""
        with self._lock:
            dead = [v for v in self._versions.values() if v.retired and v.leases <= 0 and v.internal_name not in keep]
            for version in dead:
                del self._versions[version.internal_name]
            return dead

    def mark_load_error(self, version: AdapterVersion, message: str) -> None:
        """The model refused this version: the key has no servable version until a new one arrives."""
        with self._lock:
            entry = self._entries.get(version.adapter.key)
            if entry and entry.current is version:
                entry.current = None
                entry.error = f"failed to load into the model: {message}"
            version.retired = True

    def error_of(self, key: str) -> str | None:
        """Why ``key``'s adapter folder cannot serve, when it has one that is in error and no servable version."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and entry.current is None and entry.error:
                return entry.error
            return self._bad_folders.get(key)

    # ------------------------------------------------------------------ visibility
    def has(self, key: str) -> bool:
        """An adapter folder exists for ``key`` (valid or not)."""
        return key in self._entries

    def keys(self) -> list[str]:
        with self._lock:
            return sorted(self._entries)

    def describe(self, key: str) -> dict[str, Any] | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                if key in self._bad_folders:
                    return {"key": key, "state": "error", "error": self._bad_folders[key]}
                return None
            return self._describe(entry)

    def describe_all(self) -> list[dict[str, Any]]:
        with self._lock:
            rows = [self._describe(e) for _, e in sorted(self._entries.items())]
            rows += [{"key": name, "state": "error", "error": why} for name, why in sorted(self._bad_folders.items())]
            return rows

    def _describe(self, entry: KeyEntry) -> dict[str, Any]:
        version = entry.current
        waiting = entry.signature != entry.checked_signature
        if version is None:
            state = "loading" if waiting else "error"
        elif waiting:
            state = "loading"
        else:
            state = "ready" if version.loaded else "unloaded"
        row: dict[str, Any] = {"key": entry.key, "state": state, "path": entry.path.name, "error": entry.error,
                               "source": entry.source}
        if version is not None:
            row.update(version.summary)
            row.update(loaded=version.loaded, loaded_at=version.loaded_at, last_used=version.last_used,
                       request_count=version.request_count, in_flight=version.leases)
        return row
