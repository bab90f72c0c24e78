"""The Ray Serve application: builder for ``serve.yaml`` / ``serve run``, and the local runner of ``serve --ray``."""

from __future__ import annotations

import logging
import os
from typing import Any

from fastapi import FastAPI
from ray import serve
from ray.serve import Application

from extractor_energy.config import Settings
from extractor_energy.ray_serve import BOARD_DEPLOYMENT, INGRESS_DEPLOYMENT, MODEL_DEPLOYMENT
from extractor_energy.ray_serve.board import ReplicaBoard
from extractor_energy.ray_serve.ingress import build_ingress_app
from extractor_energy.ray_serve.replica import ModelReplica

log = logging.getLogger(__name__)
APP_NAME = "extractor"
#: no per-request access log lines from Serve's proxy and replicas (the CPU they cost is the Ray path's overhead)
QUIET = {"enable_access_log": False}


#: EXTRACTOR_MAX_BATCH_WAIT_MS and EXTRACTOR_BATCH_GAP_MS on the Ray path unless set: requests reach
#: a replica through the ingress, spread over tens of ms, and a 5-10 ms wait starts batches half full
#: (benchmarks/ray_routing.py), so a replica waits the whole 50 ms
RAY_BATCH_WAIT_MS = 50.0


def ray_settings(settings: Settings) -> Settings:
    """The settings as the Ray path serves them: its batch wait default, and no preloading (a
    replica holds the adapters of the keys Ray routes to it; preloading would fill its slots with others)."""
    updates: dict[str, Any] = {}
    for name in ("max_batch_wait_ms", "batch_gap_ms"):
        if name not in settings.model_fields_set:
            updates[name] = RAY_BATCH_WAIT_MS
    if settings.preload_adapters:
        log.warning("EXTRACTOR_PRELOAD_ADAPTERS is ignored on Ray Serve: each replica loads the adapters of the keys routed to it")
        updates["preload_adapters"] = False
    return settings.model_copy(update=updates) if updates else settings


def build_app(settings: Settings, replicas: int = 1, *, num_cpus: float = 1.0, num_gpus: float = 0.0) -> Application:
    """Board + ``replicas`` model replicas (``num_gpus`` each: 1 on GPU nodes) + the HTTP ingress."""
    settings = ray_settings(settings)
    board = serve.deployment(ReplicaBoard, name=BOARD_DEPLOYMENT, num_replicas=1, max_ongoing_requests=1000,
                             ray_actor_options={"num_cpus": 0}, logging_config=QUIET).bind()
    model = serve.deployment(
        ModelReplica, name=MODEL_DEPLOYMENT, num_replicas=replicas,
        # queueing and the 503 at capacity stay the scheduler's (EXTRACTOR_MAX_QUEUE_SIZE), per replica
        max_ongoing_requests=settings.max_queue_size + settings.max_batch_size,
        graceful_shutdown_timeout_s=settings.shutdown_grace_s, graceful_shutdown_wait_loop_s=0.5,
        health_check_period_s=2.0, health_check_timeout_s=30.0,
        max_constructor_retry_count=3,  # a model that cannot load will not load on the 20th try either
        ray_actor_options={"num_cpus": num_cpus, "num_gpus": num_gpus}, logging_config=QUIET,
    ).bind(settings, board)

    def asgi_app() -> FastAPI:  # evaluated on each ingress replica, at its start
        return build_ingress_app(
            settings, serve.get_deployment_handle(MODEL_DEPLOYMENT), serve.get_deployment_handle(BOARD_DEPLOYMENT), replicas
        )

    ingress = serve.deployment(
        serve.ingress(asgi_app)(), name=INGRESS_DEPLOYMENT, num_replicas=1,
        max_ongoing_requests=(settings.max_queue_size + settings.max_batch_size) * max(1, replicas) + 16,
        ray_actor_options={"num_cpus": 0}, logging_config=QUIET,
    )
    return ingress.bind(model, board)  # bound so that Serve deploys both with the ingress


def app_builder(args: dict[str, Any]) -> Application:
    """``import_path: extractor_energy.ray_serve.app:app_builder`` (deploy/ray/serve.yaml).

    ``args``: ``replicas`` (default 1), ``num_gpus`` and ``num_cpus`` per model replica (default 0
    and 1), and ``settings``: EXTRACTOR_* values by field name; the rest comes from the environment
    (the application's ``runtime_env``), read where Serve builds the application."""
    settings = Settings(**dict(args.get("settings") or {}))
    return build_app(
        settings, int(args.get("replicas", 1)), num_cpus=float(args.get("num_cpus", 1)),
        num_gpus=float(args.get("num_gpus", 0)),
    )


def start_local(
    settings: Settings, replicas: int, *, host: str = "127.0.0.1", port: int = 8000, num_cpus: int | None = None,
    num_gpus_per_replica: float | None = None,
) -> str:
    """Start (or join, with RAY_ADDRESS) a Ray instance, deploy the application, return its URL once serving."""
    import ray

    if num_gpus_per_replica is None:
        num_gpus_per_replica = _local_gpus(settings)
    if not ray.is_initialized():
        if os.environ.get("RAY_ADDRESS"):
            ray.init(log_to_driver=False)
        else:  # a single machine: logical CPUs enough for every replica; bound to loopback
            ray.init(num_cpus=num_cpus or max(replicas, os.cpu_count() or 1), include_dashboard=False,
                     _node_ip_address="127.0.0.1", log_to_driver=False)
    serve.start(http_options={"host": host, "port": port}, logging_config=QUIET)
    serve.run(build_app(settings, replicas, num_gpus=num_gpus_per_replica), name=APP_NAME, route_prefix="/")
    return f"http://{host}:{port}"


def stop_local() -> None:
    """Graceful: Serve drains each replica (within EXTRACTOR_SHUTDOWN_GRACE_S), then Ray stops."""
    import ray

    try:
        serve.shutdown()
    finally:
        ray.shutdown()


def _local_gpus(settings: Settings) -> float:
    if settings.device == "cpu":
        return 0.0
    try:
        import torch

        return 1.0 if torch.cuda.is_available() else 0.0
    except Exception:
        return 0.0
