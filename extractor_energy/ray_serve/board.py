"""Where model replicas post what they hold; the ingress reads it.

Ray Serve offers no call to one given replica, so each replica reports here every second:
its adapters (with residency), its queue, its model. A replica that stops reporting (killed,
replaced) drops out after ``stale_s``. ``POST /adapters/reload`` raises a counter that every
replica sees in the answer to its next report: it rescans the adapters folder and says so.
"""

from __future__ import annotations

import time
from typing import Any


class ReplicaBoard:
    def __init__(self, stale_s: float = 3.5) -> None:
        self.stale_s = stale_s
        self._reports: dict[str, tuple[float, dict[str, Any]]] = {}
        self._reload_seq = 0

    def report(self, report: dict[str, Any]) -> int:
        """A replica's state; answers the reload counter (rescan when it is above what the replica did)."""
        self._reports[report["replica"]] = (time.monotonic(), report)
        return self._reload_seq

    def forget(self, replica: str) -> None:
        """A replica shutting down."""
        self._reports.pop(replica, None)

    def request_reload(self) -> int:
        self._reload_seq += 1
        return self._reload_seq

    def snapshot(self) -> list[dict[str, Any]]:
        """Reports of live replicas (heard from within ``stale_s``), by replica id."""
        now = time.monotonic()
        for replica in [r for r, (at, _) in self._reports.items() if now - at > self.stale_s]:
            del self._reports[replica]
        return [report for _, (_, report) in sorted(self._reports.items())]
