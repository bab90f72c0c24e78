"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

router = APIRouter(tags=["operations"])


@router.get("/healthz", summary="The process is up")
async def healthz() -> dict:
    return {"status": "ok"}


def may_see_details(request: Request) -> bool:
    """Health details (model name, family, device, queue depth) go to callers the API trusts: every
    caller in anonymous mode (loopback-only unless the operator opened it), else a valid API key of
    any scope. A keyless probe (a load balancer, Kubernetes) gets the status alone."""
    policy = getattr(request.app.state, "auth_policy", None)
    return policy is None or policy.anonymous or bool(getattr(request.state, "api_key", None))


@router.get(
    "/readyz", summary="The model is loaded and the worker runs", responses={503: {"description": "not ready"}},
    description="Open to probes. With API keys configured, the details (`model`, `model_family`, `device`, "
    "`queue_depth`) come only with a valid key of any scope; `model` is a public name (a Hub id or a folder's "
    "last part), never a path.",
)
async def readyz(request: Request, response: Response) -> dict:
    service = getattr(request.app.state, "service", None)
    ready = service is not None and service.scheduler.running
    if not ready or not service.scheduler.accepting:
        response.status_code = 503
        response.headers["Retry-After"] = "5"
        return {"status": "not ready" if not ready else "shutting down"}
    if not may_see_details(request):
        return {"status": "ready"}
    loaded = service.loaded
    return {"status": "ready", "model": loaded.name, "model_family": loaded.family, "device": str(loaded.device),
            "queue_depth": service.scheduler.queue_depth}


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
async def metrics(request: Request) -> Response:
    service = request.app.state.service
    service.metrics.queue_depth.set(service.scheduler.queue_depth)
    return Response(generate_latest(service.metrics.registry), media_type=CONTENT_TYPE_LATEST)
