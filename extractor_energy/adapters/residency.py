"""ResidencyManager: what is loaded in the model — at most ``capacity`` adapters, least recently used out.

It knows names and opaque items, never PEFT, torch or the model: it is handed a ``load(name, item)``
and an ``unload(name, item)`` callable (the LoRA slot table's, when serving), so its rules are
tested with plain functions (as Ray Serve tests its multiplexing LRU):

* ``ensure(wanted)`` makes a batch's adapters resident, in order, and marks them most recently used;
* to make room it unloads the least recently used adapter the batch does not need, preferring
  one no queued request holds (``busy``);
* when every resident adapter is needed by the batch, the extra ones are refused as *over capacity*
  (the scheduler never forms such a batch; this is the backstop) instead of exceeding the slots;
* a failed load leaves nothing resident under that name and is reported, never raised.

Only the scheduler's worker thread calls ``ensure``/``drop``; readers on other threads see a
consistent snapshot through the lock.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Callable, Generic, Iterable, TypeVar

from extractor_energy.metrics import Metrics

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True)
class LoadFailure:
    """Why a wanted adapter is not resident after :meth:`ResidencyManager.ensure`."""

    message: str
    over_capacity: bool = False  # no slot free for it in this batch (not the adapter's fault)


class ResidencyManager(Generic[T]):
    def __init__(
        self,
        load: Callable[[str, T], None],
        unload: Callable[[str, T], None],
        capacity: int,
        metrics: Metrics | None = None,
    ) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self._load, self._unload = load, unload
        self.capacity = capacity
        self.metrics = metrics or Metrics()
        self._lock = threading.Lock()
        self._resident: OrderedDict[str, T] = OrderedDict()  # least recently used first

    def resident(self) -> list[str]:
        """Resident names, least recently used first."""
        with self._lock:
            return list(self._resident)

    def __contains__(self, name: str) -> bool:
        return name in self._resident

    def ensure(self, wanted: dict[str, T], busy: Iterable[str] = ()) -> dict[str, LoadFailure]:
        """Make every ``wanted`` item resident (most recently used from now); return those that are not."""
        busy = set(busy)
        failures: dict[str, LoadFailure] = {}
        with self._lock:
            for name in wanted:
                if name in self._resident:
                    self._resident.move_to_end(name)
        for name, item in wanted.items():
            if name in self._resident:
                continue
            if not self._make_room(keep=set(wanted), busy=busy):
                failures[name] = LoadFailure(
                    f"all {self.capacity} adapter slots hold adapters of this batch (EXTRACTOR_MAX_LOADED_ADAPTERS)",
                    over_capacity=True,
                )
                continue
            started = time.perf_counter()
            try:
                self._load(name, item)
            except Exception as exc:  # a broken adapter must never take the worker down nor touch the others
                failures[name] = LoadFailure(f"{type(exc).__name__}: {exc}")
                log.warning("adapter %s failed to load (%s: %s)", name, type(exc).__name__, exc)
                continue
            with self._lock:
                self._resident[name] = item
            self.metrics.adapter_loads.inc()
            log.info("loaded adapter %s in %.1f ms", name, (time.perf_counter() - started) * 1000)
        return failures

    def drop(self, name: str, reason: str) -> bool:
        """Unload ``name`` if resident (``reason`` labels the metric); True when it was."""
        with self._lock:
            if name not in self._resident:
                return False
            item = self._resident.pop(name)
        try:
            self._unload(name, item)
        except Exception as exc:  # never let one adapter's remains block the others
            log.warning("unloading adapter %s failed (%s: %s)", name, type(exc).__name__, exc)
        self.metrics.adapter_unloads.labels(reason=reason).inc()
        return True

    def _make_room(self, keep: set[str], busy: set[str]) -> bool:
        while len(self._resident) >= self.capacity:
            with self._lock:
                candidates = [n for n in self._resident if n not in keep]  # least recently used first
            if not candidates:
                return False
            idle = [n for n in candidates if n not in busy]
            self.drop((idle or candidates)[0], reason="lru")
        return True
