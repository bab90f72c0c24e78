"""One way to build, start and stop the service, shared by the FastAPI app and the Ray replicas."""

from __future__ import annotations

import asyncio
import subprocess
import sys

from extractor_energy.extraction.wiring import start_service

from .live_server import test_settings


def test_wiring_loads_no_web_framework():
    code = ("import sys, extractor_energy.extraction.wiring; "
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'fastapi', 'starlette'}), "
            "[m for m in sys.modules if m.startswith('extractor_energy.api')])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[] []"


def test_start_scans_adapters_and_runs_the_worker_and_stop_ends_both(tiny_model_dir, tmp_path):
    settings = test_settings(tiny_model_dir, tmp_path / "adapters", watch_adapters=True)

    async def run() -> None:
        running = await start_service(settings)
        try:
            assert (tmp_path / "adapters").is_dir()
            assert running.service.scheduler.running and running.watcher is not None
            assert running.service.registry is not None and running.service.loaded.name
        finally:
            await running.stop()
        assert not running.service.scheduler.running

    asyncio.run(run())
