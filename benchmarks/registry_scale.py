"""The adapter registry at scale: 1,000 adapter folders, LRU churn, 10,000 load/unload cycles.

Runs on the tiny VLM the tests use (built offline) with rank-8 LoRA adapters on every projection
of its language model, so the figures measure the registry and the slot table, not the model:

1. scan: N adapter folders on disk, ``--resident`` of them resident (preloaded). In-process
   catalog scan + validation time (median of 3), the server's time from spawn to ready,
   ``GET /adapters`` p50/p95 over 200 calls on one connection (until the whole body is in; the
   client's JSON parsing not counted), and the server's RSS.
2. churn: requests spread uniformly over ``--churn-adapters`` adapters at ``--concurrency``,
   with ``--churn-resident`` slots against one slot per adapter (all resident): req/s of each
   and their ratio.
3. cycles: ``--cycles`` load/unload cycles through the registry and the slot table
   (two adapters, one slot) in this process: RSS before and after.

    python -m benchmarks.registry_scale [--adapters 1000] [--resident 64] [--churn-adapters 256]
        [--churn-resident 16] [--concurrency 16] [--requests 256] [--cycles 10000] [--threads 1]
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx
import psutil

from benchmarks.serving import start

ROOT = Path(__file__).resolve().parents[1]
UFS = ["AC", "AL", "AM", "AP", "BA", "CE", "DF", "ES", "GO", "MA", "MG", "MS", "MT", "PA", "PB", "PE", "PI", "PR",
       "RJ", "RN", "RO", "RR", "RS", "SC", "SE", "SP", "TO"]
PIXELS = 112 * 112


def key_of(i: int) -> tuple[str, str]:
    return f"u{i:04d}", UFS[i % len(UFS)]


def build(work: Path, count: int) -> tuple[Path, Path]:
    """The tiny model, one random rank-8 adapter, and ``count`` folders holding it (one key each)."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForImageTextToText

    from extractor_energy.engine.model import default_targets
    from extractor_energy.engine.tiny import build_tiny_model

    model_dir = work / "model"
    if not (model_dir / "config.json").exists():
        build_tiny_model(model_dir)
    seed = work / "seed-adapter"
    if not (seed / "adapter_model.safetensors").exists():
        torch.manual_seed(0)
        peft = get_peft_model(
            AutoModelForImageTextToText.from_pretrained(model_dir),
            LoraConfig(r=8, lora_alpha=16, target_modules=default_targets("vlm"), init_lora_weights=False),
        )
        peft.peft_config["default"].base_model_name_or_path = str(model_dir)
        peft.save_pretrained(seed)
    adapters = work / f"adapters-{count}"
    adapters.mkdir(exist_ok=True)
    for i in range(count):
        conc, uf = key_of(i)
        target = adapters / f"{conc}_{uf.lower()}"
        if not target.exists():
            shutil.copytree(seed, target, ignore=shutil.ignore_patterns("README.md"))
    return model_dir, adapters


def env_for(model_dir: Path, adapters: Path, slots: int, threads: int) -> dict[str, str]:
    return {
        **os.environ, "PYTHONPATH": str(ROOT), "EXTRACTOR_MODEL": str(model_dir), "EXTRACTOR_ADAPTERS_DIR": str(adapters),
        "EXTRACTOR_MAX_LOADED_ADAPTERS": str(slots), "EXTRACTOR_PRELOAD_ADAPTERS": "true", "EXTRACTOR_MAX_ADAPTER_RANK": "8",
        "EXTRACTOR_MODEL_MAX_PIXELS": str(PIXELS), "EXTRACTOR_MAX_NEW_TOKENS": "16", "EXTRACTOR_TORCH_THREADS": str(threads),
        "EXTRACTOR_CONSTRAINED_DECODING": "false", "EXTRACTOR_MAX_BATCH_SIZE": "16", "EXTRACTOR_MAX_QUEUE_SIZE": "512",
        "EXTRACTOR_FALLBACK_ADAPTER": "none",
    }


class Server:
    """``extractor-energy serve`` in a child process; ``ready_s`` is spawn -> /readyz 200."""

    def __init__(self, env: dict[str, str], port: int) -> None:
        self.url = f"http://127.0.0.1:{port}"
        started = time.perf_counter()
        command = [sys.executable, "-m", "extractor_energy.cli.main", "serve", "--port", str(port), "--log-level", "warning"]
        self.proc = start(command, env, self.url)
        self.ready_s = time.perf_counter() - started

    def wait_resident(self, count: int, timeout_s: float = 300) -> float:
        """Seconds until ``count`` adapters are loaded (preloading happens between batches)."""
        started = time.perf_counter()
        while time.perf_counter() - started < timeout_s:
            rows = httpx.get(self.url + "/adapters", timeout=30).json()
            if sum(1 for r in rows if r.get("loaded")) >= count:
                return time.perf_counter() - started
            time.sleep(0.2)
        raise RuntimeError(f"fewer than {count} adapters became resident")

    def rss_mb(self) -> float:
        process = psutil.Process(self.proc.pid)
        return sum(p.memory_info().rss for p in [process, *process.children(recursive=True)]) / 2**20

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=60)


def page() -> bytes:
    from PIL import Image, ImageDraw

    img = Image.new("RGB", (224, 224), "white")
    ImageDraw.Draw(img).text((10, 10), "Total a pagar R$ 140,54", fill="black")
    buf = io.BytesIO()
    img.save(buf, "JPEG")
    return buf.getvalue()


async def drive(url: str, keys: list[tuple[str, str]], requests: int, concurrency: int) -> tuple[float, int]:
    """req/s over ``requests`` requests with random keys from ``keys``; and how many failed."""
    body, rng, semaphore, failures = page(), random.Random(7), asyncio.Semaphore(concurrency), 0
    order = [keys[rng.randrange(len(keys))] for _ in range(requests)]

    async def one(client: httpx.AsyncClient, key: tuple[str, str]) -> None:
        nonlocal failures
        async with semaphore:
            r = await client.post(url + "/extract", files={"file": ("f.jpg", body)}, data={"concessionaria": key[0], "uf": key[1]})
            failures += r.status_code != 200

    async with httpx.AsyncClient(timeout=600) as client:
        await asyncio.gather(*(one(client, k) for k in order[:concurrency]))  # warm-up
        started = time.perf_counter()
        await asyncio.gather(*(one(client, k) for k in order))
        return requests / (time.perf_counter() - started), failures


def scan_in_process(model_dir: Path, adapters: Path, runs: int = 3) -> list[float]:
    from extractor_energy.adapters.catalog import AdapterCatalog
    from extractor_energy.config import Settings
    from extractor_energy.engine.model import load_model, model_spec

    spec = model_spec(load_model(Settings(model=str(model_dir), model_max_pixels=PIXELS, max_adapter_rank=8, _env_file=None)))
    times = []
    for _ in range(runs):
        catalog = AdapterCatalog(adapters, spec, max_rank=8, allow_base_mismatch=False, stable_s=0)
        started = time.perf_counter()
        catalog.settle(timeout_s=600)
        times.append(time.perf_counter() - started)
        assert len(catalog.keys()) == len(list(adapters.iterdir())) and not any(r["error"] for r in catalog.describe_all())
    return times


def cycles_in_process(model_dir: Path, adapters: Path, cycles: int) -> tuple[float, float]:
    """RSS (MB) after 100 warm-up cycles and after ``cycles`` more."""
    from extractor_energy.adapters import AdapterRegistry
    from extractor_energy.config import Settings
    from extractor_energy.engine.model import load_model, model_spec

    loaded = load_model(Settings(model=str(model_dir), model_max_pixels=PIXELS, max_adapter_rank=8, max_loaded_adapters=1,
                                 _env_file=None))
    two = Path(tempfile.mkdtemp(prefix="two-adapters-"))
    for folder in sorted(adapters.iterdir())[:2]:
        shutil.copytree(folder, two / folder.name)
    registry = AdapterRegistry(two, model_spec(loaded), max_loaded=1, max_rank=8, allow_base_mismatch=False, stable_s=0,
                               loader=loaded.slots)
    registry.settle()
    names = [registry.acquire(k).internal_name for k in registry.keys()]
    process = psutil.Process()
    for i in range(100):
        assert not registry.sync({names[i % 2]})
    before = process.memory_info().rss / 2**20
    for i in range(cycles):
        registry.sync({names[i % 2]})
    after = process.memory_info().rss / 2**20
    loads = registry.metrics.adapter_loads._value.get()
    assert loads >= cycles + 100, loads
    shutil.rmtree(two, ignore_errors=True)
    return before, after


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--adapters", type=int, default=1000, help="adapter folders for the scan figures (default 1000)")
    parser.add_argument("--resident", type=int, default=64, help="slots (all preloaded) in the scan figures (default 64)")
    parser.add_argument("--churn-adapters", type=int, default=256, help="adapters the churn traffic spreads over (default 256)")
    parser.add_argument("--churn-resident", type=int, default=16, help="slots in the churn run (default 16)")
    parser.add_argument("--concurrency", type=int, default=16, help="client concurrency of the churn runs (default 16)")
    parser.add_argument("--requests", type=int, default=256, help="requests per churn run (default 256)")
    parser.add_argument("--cycles", type=int, default=10_000, help="load/unload cycles (default 10000)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads of the server and this process (default 1)")
    parser.add_argument("--work-dir", type=Path, default=None, help="where the model and adapter folders are built (reused)")
    parser.add_argument("--port", type=int, default=8790)
    args = parser.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    work = args.work_dir or Path(tempfile.mkdtemp(prefix="extractor-registry-scale-"))
    work.mkdir(parents=True, exist_ok=True)
    model_dir, many = build(work, args.adapters)
    size_kb = sum(f.stat().st_size for f in next(many.iterdir()).iterdir()) / 1024
    print(f"tiny VLM, rank-8 adapters on every language-model projection ({size_kb:.0f} KB each), torch threads {args.threads}")

    scans = scan_in_process(model_dir, many)
    print(f"\n[scan] {args.adapters} folders: catalog scan + validation {statistics.median(scans):.2f} s "
          f"(median of {len(scans)}, {min(scans):.2f}-{max(scans):.2f})  aim <= 5 s")
    server = Server(env_for(model_dir, many, args.resident, args.threads), args.port)
    try:
        preload_s = server.wait_resident(args.resident)
        timings = []
        with httpx.Client(timeout=30) as client:  # one connection, as a dashboard polling it would keep
            for _ in range(200):
                started = time.perf_counter()
                response = client.get(server.url + "/adapters")  # the whole body received
                timings.append((time.perf_counter() - started) * 1000)
        rows = response.json()
        q = statistics.quantiles(timings, n=100)
        print(f"[scan] server ready in {server.ready_s:.1f} s, {args.resident} preloaded {preload_s:.1f} s later; "
              f"GET /adapters ({len(rows)} rows) p50 {q[49]:.1f} ms, p95 {q[94]:.1f} ms (aim <= 50); RSS {server.rss_mb():.0f} MB")
    finally:
        server.stop()

    keys = [key_of(i) for i in range(args.churn_adapters)]
    _, few = build(work, args.churn_adapters)
    rates = {}
    for label, slots in (("all resident", args.churn_adapters), ("churn", args.churn_resident)):
        server = Server(env_for(model_dir, few, slots, args.threads), args.port + 1)
        try:
            server.wait_resident(min(slots, args.churn_adapters))
            rps, failures = asyncio.run(drive(server.url, keys, args.requests, args.concurrency))
            loads = httpx.get(server.url + "/metrics", timeout=30).text
            count = next((float(line.split()[-1]) for line in loads.splitlines() if line.startswith("extractor_adapter_loads_total")), 0)
            rates[label] = rps
            print(f"[churn] {label:<13} {slots:>4} slots: {rps:6.2f} req/s, {failures} failed, {count:.0f} adapter loads in all")
        finally:
            server.stop()
    print(f"[churn] {args.churn_resident} slots / all resident at c={args.concurrency}: "
          f"{rates['churn'] / rates['all resident']:.2f}  aim >= 0.7")

    before, after = cycles_in_process(model_dir, many, args.cycles)
    print(f"\n[cycles] {args.cycles} load/unload cycles: RSS {before:.0f} MB -> {after:.0f} MB "
          f"({(after - before) / before * 100:+.1f} %)  aim <= 5 %")
    return 0


if __name__ == "__main__":
    sys.exit(main())
