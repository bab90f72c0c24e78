"""The model deployment: one resident model, its adapter registry, watcher and scheduler per replica.

Ray's multiplexing and the registry agree on residency: the replica's ``@serve.multiplexed``
LRU has as many entries as the registry has adapter slots for keys (less the fallback adapter's
slot when one is configured), every request carrying a key touches that LRU, and when Ray evicts
a key its ``ResidentKey.__del__`` asks the registry to unload the adapter at the worker's next
sync (Ray calls ``__del__`` of the evicted object: ``ray/serve/multiplex.py``,
``unload_model_lru``). Ray publishes the keys each replica holds to its routers, which send a
key's requests to a replica that holds it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
from dataclasses import dataclass
from typing import Any

from ray import serve
from ray.serve.handle import DeploymentHandle

from extractor_energy.adapters.identity import AdapterRef
from extractor_energy.adapters.packaged import fallback_adapter_dir
from extractor_energy.config import Settings
from extractor_energy.extraction.wiring import settle_s, start_service
from extractor_energy.ray_serve.errors import PortableError

log = logging.getLogger(__name__)
REPORT_INTERVAL_S = 1.0  # replicas report, and the ingress reads the board, this often
_CANCEL_WAIT_S = 2.0  # after the caller is gone: time for the service to drop its queued job


@dataclass(frozen=True)
class ReplicaAnswer:
    """What a replica sends back: the envelope or the error, and where and how it was served."""

    replica: str
    resident: bool | None  # the key's adapter was resident here on arrival; None: the key has no adapter here
    envelope: dict[str, Any] | None = None
    error: PortableError | None = None


class ResidentKey:
    """The object Ray's multiplexing LRU holds per key; evicting it unloads the key's adapter."""

    def __init__(self, key: str, registry: Any) -> None:
        self.key, self._registry = key, registry

    def __del__(self) -> None:  # Ray calls it on LRU eviction, the garbage collector later: once is enough
        registry, self._registry = self._registry, None
        if registry is not None:
            registry.unload_soon(self.key)


def adapter_slots(settings: Settings, has_fallback: bool) -> int:
    """Keys a replica's multiplexing LRU holds: the registry's slots, less the fallback adapter's."""
    return max(1, settings.max_loaded_adapters - (1 if has_fallback else 0))


def replica_id() -> str:
    context = serve.get_replica_context()
    return getattr(context.replica_id, "unique_id", None) or str(context.replica_id)


class ModelReplica:
    async def __init__(self, settings: Settings, board: DeploymentHandle | None = None) -> None:
        self.settings = settings
        self.replica = replica_id()
        self.host = socket.gethostname()
        self.running = await start_service(settings)
        self.service = self.running.service
        self.registry = self.service.registry
        loaded = self.service.loaded
        self.slots = adapter_slots(settings, fallback_adapter_dir(settings, loaded) is not None)

        registry = self.registry

        async def hold(key: str) -> ResidentKey:
            return ResidentKey(key, registry)

        # wired per instance: the LRU size comes from the settings (and the model) this replica serves
        self._hold = serve.multiplexed(max_num_models_per_replica=self.slots)(hold)
        self._board = board
        self._reload_seen = 0
        self._closed = False
        self._reporter = asyncio.get_running_loop().create_task(self._report_loop()) if board is not None else None
        log.info("replica %s serving %s; %d adapter slots for keys", self.replica, loaded.name, self.slots)

    # ------------------------------------------------------------------ requests
    async def extract(
        self, ref: AdapterRef, payload: bytes, filename: str | None, content_type: str | None
    ) -> ReplicaAnswer:
        """One extraction for the ref the ingress made; errors come back as values (``PortableError``)
        for the ingress to raise."""
        model_id = serve.get_multiplexed_model_id()  # the ref's key, when the ingress routed by it
        if model_id:
            await self._hold(model_id)  # Ray's LRU: marks the key used, evicts (and unloads) the oldest when full
        resident = self._resident(ref)
        gone = False

        async def is_disconnected() -> bool:
            return gone

        task = asyncio.ensure_future(
            self.service.extract_for(ref, payload, filename, content_type, is_disconnected=is_disconnected)
        )
        try:
            envelope = await asyncio.shield(task)
        except asyncio.CancelledError:  # the caller left (Ray cancels downstream calls): drop the queued job
            gone = True
            await asyncio.wait({task}, timeout=_CANCEL_WAIT_S)
            if task.done() and not task.cancelled():
                task.exception()  # retrieved: no "never retrieved" noise
            raise
        except Exception as exc:
            return ReplicaAnswer(self.replica, resident, error=PortableError.of(exc))
        return ReplicaAnswer(self.replica, resident, envelope=envelope)

    def _resident(self, ref: AdapterRef) -> bool | None:
        if self.registry.is_resident(ref.key):
            return True
        row = self.registry.describe(ref.key)
        return False if row and row.get("version") else None

    # ------------------------------------------------------------------ visibility
    def report(self) -> dict[str, Any]:
        """What this replica holds, as posted on the board (``GET /adapters`` shows it per replica)."""
        loaded, scheduler = self.service.loaded, self.service.scheduler
        rows = self.registry.describe_all()
        return {
            "replica": self.replica, "host": self.host, "time": time.time(),
            "model": loaded.name, "model_family": loaded.family, "device": str(loaded.device),
            "running": scheduler.running, "accepting": scheduler.accepting, "queue_depth": scheduler.queue_depth,
            "slots": self.slots, "resident": self.registry.resident_keys(),
            "adapter_keys": sorted(r["key"] for r in rows if r.get("version") and r.get("source") != "fallback"),
            "adapters": rows, "reloaded": self._reload_seen,
        }

    async def _report_loop(self) -> None:
        assert self._board is not None
        while not self._closed:
            try:
                wanted = await self._board.report.remote(self.report())
                if wanted > self._reload_seen:  # POST /adapters/reload on the ingress: rescan now, then say so
                    await asyncio.to_thread(self.registry.settle, settle_s(self.settings))
                    self._reload_seen = wanted
                    continue
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the board restarting: try again at the next tick
                log.debug("report to the board failed: %s", exc)
            await asyncio.sleep(REPORT_INTERVAL_S)

    def check_health(self) -> None:
        """Ray Serve replaces a replica whose inference worker died."""
        if not self.service.scheduler.running:
            raise RuntimeError("the inference worker is not running")

    async def __del__(self) -> None:
        """Ray Serve's graceful shutdown (in-flight requests have finished or timed out by now)."""
        if self._closed:
            return
        self._closed = True
        if self._reporter is not None:
            self._reporter.cancel()
        if self._board is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._board.forget.remote(self.replica), timeout=2)
        await self.running.stop()
