"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

router = APIRouter(tags=["operations"])


@router.get("/healthz", summary="The process is up")
async def healthz() -> dict:
    return {"status": "ok"}


@router.get("/readyz", summary="The model is loaded and the worker runs", responses={503: {"description": "not ready"}})
async def readyz(request: Request, response: Response) -> dict:
    service = getattr(request.app.state, "service", None)
    ready = service is not None and service.scheduler.running
    if not ready or not service.scheduler.accepting:
        response.status_code = 503
        response.headers["Retry-After"] = "5"
        return {"status": "not ready" if not ready else "shutting down"}
    return {"status": "ready", "model": service.loaded.name, "model_family": service.loaded.family, "device": str(service.loaded.device), "queue_depth": service.scheduler.queue_depth}


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
async def metrics(request: Request) -> Response:
    service = request.app.state.service
    service.metrics.queue_depth.set(service.scheduler.queue_depth)
    return Response(generate_latest(service.metrics.registry), media_type=CONTENT_TYPE_LATEST)
