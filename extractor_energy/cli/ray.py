"""``extractor-energy serve --ray --replicas N``: the Ray Serve application on this machine (or on the
Ray cluster RAY_ADDRESS names), until SIGTERM/SIGINT; then Serve drains and everything stops, exit 0."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading

log = logging.getLogger(__name__)


def serve_ray(args: argparse.Namespace) -> int:
    from extractor_energy.api.auth import AuthConfigError, serving_host
    from extractor_energy.config import get_settings

    logging.getLogger().setLevel(args.log_level.upper())
    settings = get_settings()
    try:
        host = serving_host(args.host, settings)
    except AuthConfigError as exc:
        print(f"extractor-energy: {exc}", file=sys.stderr)
        return 2
    # Ray Serve's throughput-optimized mode (gRPC between deployments, user code on the replicas'
    # own event loop, HTTP straight to the ingress replica): half the ingress's CPU per request here
    os.environ.setdefault("RAY_SERVE_THROUGHPUT_OPTIMIZED", "1")  # read when Ray's modules load; inherited by Ray
    try:
        from extractor_energy.ray_serve.app import start_local, stop_local
    except ImportError as exc:
        print(f"extractor-energy: --ray needs Ray Serve ({exc.name} is missing): pip install 'extractor-energy[ray]'",
              file=sys.stderr)
        return 2
    replicas = 1 if args.replicas is None else args.replicas
    if replicas < 1:
        print("extractor-energy: --replicas must be 1 or more", file=sys.stderr)
        return 2
    try:
        url = start_local(settings, replicas, host=host, port=args.port)
    except Exception as exc:  # e.g. the model cannot be loaded: Serve gave up on the replicas
        print(f"extractor-energy: the Ray Serve application did not start: {_last_line(exc)}", file=sys.stderr)
        stop_local()
        return 2
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):  # after ray.init, which installs handlers of its own
        signal.signal(sig, lambda *_: stop.set())
    log.info("serving on %s with %d model replica(s) (Ray Serve); SIGTERM or Ctrl-C stops", url, replicas)
    stop.wait()
    log.info("shutting down: Serve drains the replicas (up to EXTRACTOR_SHUTDOWN_GRACE_S)")
    stop_local()
    return 0


def _last_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[-1] if lines else type(exc).__name__
