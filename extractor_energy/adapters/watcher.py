"""Watch the adapters folder and rescan the registry on every change.

inotify through ``watchfiles`` by default; polling where events do not arrive (network
volumes: ``EXTRACTOR_WATCH_FORCE_POLLING=true``). The watcher also wakes up every few hundred
milliseconds without events, so folders that are still settling get validated on time; a quiet
wake-up rescans only then, or every few seconds in case an event was missed (with 1,000 adapter
folders a scan costs tens of milliseconds of CPU: it should not run four times a second for nothing).
"""

from __future__ import annotations

import logging
import threading
import time

from watchfiles import watch

from extractor_energy.adapters.registry import AdapterRegistry

log = logging.getLogger(__name__)


class AdapterWatcher:
    def __init__(
        self, registry: AdapterRegistry, *, force_polling: bool = False, tick_ms: int = 250, full_rescan_s: float = 5.0
    ) -> None:
        self.registry = registry
        #: a quiet tick rescans only while a folder is settling, or after this long (a missed event)
        self.full_rescan_s = full_rescan_s
        self._last_scan = 0.0
        self.force_polling = force_polling
        self.tick_ms = tick_ms
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="adapter-watcher", daemon=True)

    def start(self) -> None:
        self.registry.root.mkdir(parents=True, exist_ok=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                for changes in watch(
                    self.registry.root,
                    stop_event=self._stop,
                    debounce=100,
                    step=50,
                    rust_timeout=self.tick_ms,
                    yield_on_timeout=True,
                    force_polling=self.force_polling or None,
                    poll_delay_ms=self.tick_ms,
                    recursive=True,
                    raise_interrupt=False,
                ):
                    if changes or self.registry.pending() or time.monotonic() - self._last_scan >= self.full_rescan_s:
                        self._rescan()
            except Exception as exc:  # e.g. the folder was removed: keep trying, never die
                log.warning("adapter watcher error (%s); retrying", exc)
                self._rescan()
                self._stop.wait(1.0)
                try:
                    self.registry.root.mkdir(parents=True, exist_ok=True)
                except OSError:
                    pass

    def _rescan(self) -> None:
        self._last_scan = time.monotonic()
        try:
            self.registry.scan()
        except Exception:  # a scan error must not stop watching
            log.exception("adapter scan failed")
