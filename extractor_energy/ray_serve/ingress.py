"""The ingress: the single-process server's HTTP API, with extractions forwarded to the model replicas.

The app is built from the same routers and installers as ``api/app.py`` (auth, admission, error
handlers, offline docs); ``app.state.service`` is a ``RayService`` whose ``extract`` reads the
upload, makes the request's ``AdapterRef`` (the only place the key is normalised on this path) and
calls the model deployment with it, with ``multiplexed_model_id=<its key>``
when the key has an adapter (Ray routes it to a replica holding that adapter) and without one
otherwise (any replica: keys without an adapter spread). ``/adapters`` shows every replica.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from contextvars import ContextVar
from types import SimpleNamespace
from typing import Any, AsyncIterator, Awaitable, Callable

from fastapi import APIRouter, FastAPI, HTTPException, Request
from pydantic import BaseModel, Field
from ray.exceptions import RayError
from ray.serve.exceptions import BackPressureError, RequestCancelledError
from ray.serve.handle import DeploymentHandle
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from extractor_energy import __version__, errors
from extractor_energy.adapters.identity import AdapterRef
from extractor_energy.api.app import DESCRIPTION, install_api
from extractor_energy.api.public_text import clip, public_detail
from extractor_energy.api.schemas import AdapterInfo, ErrorResponse
from extractor_energy.config import Settings
from extractor_energy.domain.keys import InvalidKey
from extractor_energy.metrics import Metrics
from extractor_energy.ray_serve import REPLICA_HEADER, RESIDENT_HEADER
from extractor_energy.ray_serve.replica import REPORT_INTERVAL_S, ReplicaAnswer

log = logging.getLogger(__name__)
_CALL_SLACK_S = 10.0  # beyond EXTRACTOR_REQUEST_TIMEOUT_S (the replica answers 504 itself by then)
_served: ContextVar[dict[str, str] | None] = ContextVar("extractor_ray_served", default=None)


class ReplicaView:
    """The board's latest snapshot: one report per live model replica."""

    def __init__(self) -> None:
        self.reports: list[dict[str, Any]] = []
        self.updated = 0.0

    @property
    def adapter_keys(self) -> set[str]:
        return {k for r in self.reports for k in r.get("adapter_keys", ())}

    def first(self, field: str, default: Any = None) -> Any:
        return self.reports[0].get(field, default) if self.reports else default


class RayScheduler:
    """What the health routes and the admission middleware ask of a scheduler, over all replicas."""

    def __init__(self, view: ReplicaView) -> None:
        self.view = view
        self.draining = False

    @property
    def running(self) -> bool:
        return any(r.get("running") for r in self.view.reports)

    @property
    def accepting(self) -> bool:
        return not self.draining and any(r.get("accepting") for r in self.view.reports)

    @property
    def queue_depth(self) -> int:
        return sum(int(r.get("queue_depth", 0)) for r in self.view.reports)

    def retry_after(self) -> int:
        return 1


class RayRegistry:
    """Read-only registry facts the shared error handlers need (``has``), from the replicas' reports."""

    def __init__(self, view: ReplicaView, stable_s: float) -> None:
        self.view, self.stable_s = view, stable_s

    def has(self, key: str) -> bool:
        return any(row["key"] == key for r in self.view.reports for row in r.get("adapters", ()))


class RayService:
    """``app.state.service`` of the ingress: the service interface the routes use, backed by the model deployment."""

    def __init__(self, settings: Settings, model: DeploymentHandle, view: ReplicaView) -> None:
        self.settings, self.model, self.view = settings, model, view
        self.metrics = Metrics()
        self.scheduler = RayScheduler(view)
        self.registry = RayRegistry(view, settings.adapter_stable_s)

    @property
    def loaded(self) -> SimpleNamespace:
        view = self.view
        return SimpleNamespace(name=view.first("model", "?"), family=view.first("model_family", "?"),
                               device=f"{view.first('device', '?')} x {len(view.reports)} replicas")

    async def extract(
        self,
        payload: Any,
        filename: str | None,
        content_type: str | None,
        concessionaria: str,
        uf: str,
        is_disconnected: Callable[[], Awaitable[bool]] | None = None,  # Ray cancels the replica's call when the client leaves
    ) -> dict[str, Any]:
        started = time.perf_counter()
        try:
            ref = AdapterRef.of(concessionaria, uf)
        except InvalidKey as exc:
            raise errors.BadKey(str(exc)) from None  # the shared error handlers word it as everywhere else
        data = payload if isinstance(payload, (bytes, bytearray)) else await payload.read_all()
        routed = ref.key in self.view.adapter_keys  # Ray's multiplexed model id is the ref's key
        handle = self.model.options(multiplexed_model_id=ref.key) if routed else self.model
        answer = await self._call(handle, ref, bytes(data), filename, content_type)
        served = _served.get()
        if served is not None:
            served.update({REPLICA_HEADER: answer.replica,
                           RESIDENT_HEADER: "none" if answer.resident is None else str(answer.resident).lower()})
        if answer.error is not None:
            raise answer.error.restore()
        assert answer.envelope is not None
        self.metrics.latency.observe(time.perf_counter() - started)  # requests by status: the routes and error handlers count them
        return answer.envelope

    async def _call(self, handle: DeploymentHandle, *args: Any) -> ReplicaAnswer:
        response = handle.extract.remote(*args)
        limit = self.settings.request_timeout_s + _CALL_SLACK_S
        try:
            return await asyncio.wait_for(_resolve(response), timeout=limit)
        except asyncio.TimeoutError:
            response.cancel()
            self.metrics.rejected.labels(reason="timeout").inc()
            raise HTTPException(504, f"no model replica answered within {limit:g} s; retry later") from None
        except asyncio.CancelledError:
            response.cancel()
            raise
        except BackPressureError:
            self.metrics.rejected.labels(reason="queue_full").inc()
            raise HTTPException(503, "every model replica is at capacity; retry in 1 s", headers={"Retry-After": "1"}) from None
        except RequestCancelledError:
            raise HTTPException(503, "the request was cancelled", headers={"Retry-After": "1"}) from None
        except RayError as exc:  # the replica died (killed, out of memory) or is being replaced
            log.warning("model replica call failed: %s", type(exc).__name__)
            self.metrics.rejected.labels(reason="replica_failed").inc()
            raise HTTPException(
                503, "the model replica serving this request stopped (it is being replaced); retry in 1 s",
                headers={"Retry-After": "1"},
            ) from None


async def _resolve(response: Any) -> ReplicaAnswer:
    return await response


class ServedHeaders:
    """ASGI middleware: the replica that served an extraction and whether its adapter was already
    resident there, as response headers (``X-Extractor-Replica``, ``X-Extractor-Adapter-Resident``)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        served: dict[str, str] = {}
        token = _served.set(served)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start" and served:
                extra = [(k.lower().encode(), v.encode()) for k, v in served.items()]
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        finally:
            _served.reset(token)


# ---------------------------------------------------------------------------- /adapters, per replica
class ReplicaAdapter(BaseModel):
    replica: str = Field(description="model replica id")
    state: str = Field(description="this replica's state of the adapter (ready = resident here)")
    version: str | None = None
    loaded: bool = Field(False, description="resident in this replica's model")
    request_count: int = 0
    in_flight: int = 0


class ReplicatedAdapterInfo(AdapterInfo):
    replicas: list[ReplicaAdapter] = Field(
        default_factory=list, description="Ray Serve: each model replica's view (ready = resident there); "
        "state/loaded above are ready/true when any replica holds it, counts are summed"
    )


def merge_adapters(reports: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per key (the first replica's), with every replica's residency under ``replicas``."""
    merged: dict[str, dict[str, Any]] = {}
    for report in reports:
        for row in report.get("adapters", ()):
            entry = merged.setdefault(row["key"], {**row, "replicas": [], "request_count": 0, "in_flight": 0})
            entry["replicas"].append({
                "replica": report["replica"], "state": row["state"], "version": row.get("version"),
                "loaded": bool(row.get("loaded")), "request_count": row.get("request_count") or 0,
                "in_flight": row.get("in_flight") or 0,
            })
    for entry in merged.values():
        replicas = entry["replicas"]
        entry["request_count"] = sum(r["request_count"] for r in replicas)
        entry["in_flight"] = sum(r["in_flight"] for r in replicas)
        if entry.get("version") is not None:
            entry["loaded"] = any(r["loaded"] for r in replicas)
            if entry["state"] == "unloaded" and entry["loaded"]:
                entry["state"] = "ready"
        if entry.get("error"):
            entry["error"] = public_detail(entry["error"])
    return [merged[k] for k in sorted(merged)]


adapters_router = APIRouter(prefix="/adapters", tags=["adapters"])


@adapters_router.get("", response_model=list[ReplicatedAdapterInfo], summary="Every adapter folder and its state, per replica")
async def list_adapters(request: Request) -> list[dict[str, Any]]:
    return merge_adapters(request.app.state.service.view.reports)


@adapters_router.post("/reload", response_model=list[ReplicatedAdapterInfo], summary="Rescan the adapters folder now, on every replica")
async def reload_adapters(request: Request) -> list[dict[str, Any]]:
    """Every replica rescans (their watchers do this by themselves within about a second of a change)."""
    state = request.app.state
    seq = await state.board.request_reload.remote()
    deadline = time.monotonic() + max(2.0, state.settings.adapter_stable_s * 4) + 5 * REPORT_INTERVAL_S + 2
    while time.monotonic() < deadline:
        reports = await state.board.snapshot.remote()
        if reports and all(r.get("reloaded", 0) >= seq for r in reports):
            state.service.view.reports = reports
            break
        await asyncio.sleep(REPORT_INTERVAL_S / 2)
    return merge_adapters(state.service.view.reports)


@adapters_router.get("/{key}", response_model=ReplicatedAdapterInfo, responses={404: {"model": ErrorResponse}}, summary="One adapter")
async def get_adapter(key: str, request: Request) -> dict[str, Any]:
    for row in merge_adapters(request.app.state.service.view.reports):
        if row["key"] == key:
            return row
    raise HTTPException(404, f"no adapter folder {clip(key)} under the adapters directory; GET /adapters lists them")


# ---------------------------------------------------------------------------- the app
def build_ingress_app(settings: Settings, model: DeploymentHandle, board: DeploymentHandle, replicas: int) -> FastAPI:
    """The HTTP API of ``api/app.py``, over the model deployment instead of an in-process model."""
    view = ReplicaView()
    service = RayService(settings, model, view)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        task = asyncio.get_running_loop().create_task(_follow_board(board, view))
        try:
            yield
        finally:
            service.scheduler.draining = True
            task.cancel()

    app = FastAPI(title="extractor-energy", version=__version__, description=DESCRIPTION, lifespan=lifespan,
                  docs_url=None, redoc_url=None)
    app.state.settings = settings
    app.state.service, app.state.registry, app.state.board = service, service.registry, board
    # the whole deployment's capacity at admission: every replica's queue and batch
    install_api(app, settings, max_in_flight=(settings.max_queue_size + settings.max_batch_size) * max(1, replicas),
                adapters=adapters_router)
    app.add_middleware(ServedHeaders)  # outermost: sees every answer
    return app


async def _follow_board(board: DeploymentHandle, view: ReplicaView) -> None:
    while True:
        try:
            view.reports = await board.snapshot.remote()
            view.updated = time.monotonic()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the board is being replaced: keep the last view
            log.debug("board snapshot failed: %s", exc)
        await asyncio.sleep(REPORT_INTERVAL_S)
