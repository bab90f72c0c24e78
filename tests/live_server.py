"""Run the real app under uvicorn in a background thread, on a free loopback port."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from typing import Callable, Iterator

import httpx
import uvicorn

from extractor_energy.api.app import create_app
from extractor_energy.config import Settings


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_ready(url: str, timeout_s: float, alive: Callable[[], bool]) -> bool:
    """Poll ``/readyz`` until it answers 200 (True), the server is gone or ``timeout_s`` passed (False)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and alive():
        try:
            if httpx.get(url + "/readyz", timeout=1).status_code == 200:
                return True
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    return False


@contextmanager
def live_server(settings: Settings) -> Iterator[str]:
    """Yield the base URL of a running server; stop it (gracefully) afterwards."""
    app = create_app(settings)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    if not wait_ready(url, 60, alive=thread.is_alive):
        raise RuntimeError("server thread died during start-up" if not thread.is_alive() else "server did not become ready")
    try:
        yield url
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def test_settings(model_dir, adapters_dir, **overrides) -> Settings:
    """Settings for the tiny model: small pages, short answers, fast adapter settling."""
    values = dict(
        model=str(model_dir), adapters_dir=adapters_dir, model_max_pixels=112 * 112, model_min_pixels=56 * 56,
        max_new_tokens=40, adapter_stable_s=0.2, max_batch_wait_ms=5, request_timeout_s=120,
        _env_file=None,
    )
    values.update(overrides)
    return Settings(**values)


test_settings.__test__ = False  # not a test, despite the name


def serve_process(model_dir, adapters_dir, **env: str) -> tuple[subprocess.Popen, str]:
    """``extractor-energy serve`` as a child process (real signals), started and ready; ``(process, url)``.

    ``env`` adds ``EXTRACTOR_*`` variables (without the prefix, upper case) to the tiny-model defaults.
    """
    port = free_port()
    values = {"MODEL": str(model_dir), "ADAPTERS_DIR": str(adapters_dir), "MODEL_MAX_PIXELS": str(112 * 112),
              "MAX_BATCH_SIZE": "1", "TORCH_THREADS": "1", **env}
    proc = subprocess.Popen(
        [sys.executable, "-m", "extractor_energy.cli.main", "serve", "--port", str(port), "--log-level", "warning"],
        env={**os.environ, **{f"EXTRACTOR_{k}": v for k, v in values.items()}},
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    url = f"http://127.0.0.1:{port}"
    wait_ready(url, 120, alive=lambda: proc.poll() is None)
    return proc, url
