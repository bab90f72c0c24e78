"""Serving benchmark: batched multi-LoRA vs base model vs the naive set_adapter baseline.

Starts the real server (``extractor-energy serve``) on a benchmark-size model built offline
(``tiny-model --size bench``, ~25M parameters) with N random LoRA adapters, drives it over
loopback HTTP with a bounded async load generator (fixed request count per cell), and prints
requests/s and p50/p95/p99 latency for: base only, one adapter, mixed traffic over 4 and 16
adapters, and the naive baseline (one request at a time, set_adapter under a lock), at
concurrency 1, 4 and 16. It ends with the two ratios we track:

* mixed-16 / base throughput at concurrency 16 (cost of multi-LoRA), aim >= 0.85
* batched mixed-16 / naive mixed-16 throughput at concurrency 16, aim >= 4
* single request: p50 batched / naive at concurrency 1 (mixed 16, equal work), aim <= 1.05

Each ratio is the median of ``--runs`` whole runs (servers restarted), printed with every run's
value; both servers use ``--threads`` torch threads so runs compare.

    python -m benchmarks.serving [--runs 3] [--threads 1] [--requests 48] [--max-new-tokens 32] [--work-dir DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
UFS = ["AC", "AL", "AM", "AP", "BA", "CE", "DF", "ES", "GO", "MA", "MG", "MS", "MT", "PA", "PB", "PE"]


def build_assets(work: Path, adapters: int, rank: int) -> tuple[Path, Path]:
    """The bench model and ``adapters`` random (non-zero) LoRA adapters on its language model."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForImageTextToText

    from extractor_energy.engine.model import default_targets
    from extractor_energy.engine.tiny import build_tiny_model

    model_dir = work / "bench-model"
    if not (model_dir / "config.json").exists():
        build_tiny_model(model_dir, size="bench")
    adapters_dir = work / "adapters"
    adapters_dir.mkdir(exist_ok=True)
    base = AutoModelForImageTextToText.from_pretrained(model_dir)
    for i in range(adapters):
        out = adapters_dir / f"util{i}_{UFS[i].lower()}"
        if out.exists():
            continue
        torch.manual_seed(i)
        config = LoraConfig(r=rank, lora_alpha=2 * rank, target_modules=default_targets("vlm"), init_lora_weights=False)
        peft = get_peft_model(base, config)
        peft.save_pretrained(out)
        base = peft.unload()
    return model_dir, adapters_dir


def page_bytes(seed: int) -> bytes:
    from PIL import Image, ImageDraw

    img = Image.new("RGB", (448, 448), "white")
    draw = ImageDraw.Draw(img)
    draw.text((20, 20 + seed % 300), f"Total a pagar R$ {seed},45", fill="black")
    buf = io.BytesIO()
    img.save(buf, "JPEG")
    return buf.getvalue()


def start(cmd: list[str], env: dict[str, str], url: str) -> subprocess.Popen:
    log = tempfile.TemporaryFile(mode="w+")  # a pipe nobody reads would fill up and block the server
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=log, text=True, cwd=ROOT)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            log.seek(0)
            raise RuntimeError(f"server exited: {log.read()[-2000:]}")
        try:
            if httpx.get(url + "/readyz", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.2)
    raise RuntimeError("server did not start")


async def drive(url: str, keys: list[tuple[str, str]], requests: int, concurrency: int, images: list[bytes]) -> dict:
    semaphore = asyncio.Semaphore(concurrency)
    latencies: list[float] = []
    failures = 0

    async def one(i: int, client: httpx.AsyncClient) -> None:
        nonlocal failures
        conc, uf = keys[i % len(keys)]
        async with semaphore:
            started = time.perf_counter()
            r = await client.post(url + "/extract", files={"file": ("f.jpg", images[i % len(images)])}, data={"concessionaria": conc, "uf": uf})
            latencies.append(time.perf_counter() - started)
            failures += r.status_code != 200

    async with httpx.AsyncClient(timeout=600) as client:
        await one(0, client)  # warm-up (adapter load, first-call overheads)
        latencies.clear()
        started = time.perf_counter()
        await asyncio.gather(*(one(i, client) for i in range(requests)))
        elapsed = time.perf_counter() - started
    q = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else latencies * 99
    return {"rps": requests / elapsed, "p50": q[49], "p95": q[94], "p99": q[98], "failures": failures}


def one_run(env: dict[str, str], levels: list[int], requests: int, images: list[bytes], port: int) -> dict[tuple[str, int], dict]:
    """Every cell once: the batched server (4 scenarios) then the naive one, each at every level."""
    adapter_keys = [(f"util{i}", UFS[i]) for i in range(16)]
    scenarios = {
        "base": [("NOADAPTER", "SP")],
        "one adapter": adapter_keys[:1],
        "mixed 4": adapter_keys[:4],
        "mixed 16": adapter_keys,
    }
    cells: dict[tuple[str, int], dict] = {}
    for name, cmd in (
        ("batched", [sys.executable, "-m", "extractor_energy.cli.main", "serve", "--port", str(port), "--log-level", "warning"]),
        ("naive", [sys.executable, "-m", "benchmarks.naive_server", "--port", str(port + 1)]),
    ):
        url = f"http://127.0.0.1:{port if name == 'batched' else port + 1}"
        proc = start(cmd, env, url)
        try:
            todo = scenarios.items() if name == "batched" else [("naive mixed 16", adapter_keys)]
            for scenario, keys in todo:
                for level in levels:
                    shuffled = keys[:]
                    random.Random(level).shuffle(shuffled)
                    cells[(scenario, level)] = result = asyncio.run(drive(url, shuffled, requests, level, images))
                    print(f"  {scenario:<16} c={level:<3} {result['rps']:6.2f} req/s  p50 {result['p50']:.3f} s",
                          file=sys.stderr, flush=True)
        finally:
            proc.terminate()
            proc.wait(timeout=60)
    return cells


def _spread(values: list[float]) -> str:
    return f"{statistics.median(values):.2f} (runs: {', '.join(f'{v:.2f}' for v in values)})"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=48, help="requests per cell (default 48)")
    parser.add_argument("--max-new-tokens", type=int, default=32, help="tokens generated per request (default 32)")
    parser.add_argument("--rank", type=int, default=16, help="LoRA rank of the random adapters (default 16)")
    parser.add_argument("--concurrency", default="1,4,16", help="comma-separated client concurrency levels")
    parser.add_argument("--threads", type=int, default=1, help="torch threads of each server (default 1: runs comparable)")
    parser.add_argument("--runs", type=int, default=3, help="whole runs; ratios are reported as their median (default 3)")
    parser.add_argument("--work-dir", type=Path, default=None, help="where the model and adapters are built (reused)")
    args = parser.parse_args()
    levels = sorted({1, *(int(c) for c in args.concurrency.split(","))})
    work = args.work_dir or Path(tempfile.mkdtemp(prefix="extractor-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    model_dir, adapters_dir = build_assets(work, 16, args.rank)
    env = {
        **os.environ, "EXTRACTOR_MODEL": str(model_dir), "EXTRACTOR_ADAPTERS_DIR": str(adapters_dir),
        "EXTRACTOR_MAX_NEW_TOKENS": str(args.max_new_tokens), "EXTRACTOR_MODEL_MAX_PIXELS": str(224 * 224),
        "EXTRACTOR_MAX_BATCH_SIZE": "16", "EXTRACTOR_MAX_LOADED_ADAPTERS": "16", "EXTRACTOR_PRELOAD_ADAPTERS": "true",
        "EXTRACTOR_MAX_ADAPTER_RANK": str(max(16, args.rank)), "EXTRACTOR_FALLBACK_ADAPTER": "none",
        "EXTRACTOR_CONSTRAINED_DECODING": "false", "EXTRACTOR_MAX_QUEUE_SIZE": "256",
        "EXTRACTOR_TORCH_THREADS": str(args.threads), "PYTHONPATH": str(ROOT),
    }
    images = [page_bytes(i) for i in range(8)]
    runs = []
    for run in range(args.runs):
        print(f"run {run + 1}/{args.runs}", file=sys.stderr, flush=True)
        runs.append(one_run(env, levels, args.requests, images, 8770))
    print(f"\nmodel: {model_dir.name} (~25M params), {args.max_new_tokens} new tokens/request, rank-{args.rank} adapters, "
          f"{args.requests} requests per cell, torch threads per server: {args.threads}, {args.runs} runs (cells: median)")
    print(f"{'scenario':<16} {'conc':>4} {'req/s':>8} {'p50 s':>8} {'p95 s':>8} {'p99 s':>8} {'fail':>5}")
    for cell in runs[0]:
        values = {k: statistics.median(r[cell][k] for r in runs) for k in ("rps", "p50", "p95", "p99")}
        failures = sum(r[cell]["failures"] for r in runs)
        print(f"{cell[0]:<16} {cell[1]:>4} {values['rps']:>8.2f} {values['p50']:>8.3f} {values['p95']:>8.3f} "
              f"{values['p99']:>8.3f} {failures:>5}")
    top = max(levels)
    multi = [r[("mixed 16", top)]["rps"] / r[("base", top)]["rps"] for r in runs]
    per_adapter = [r[("mixed 16", top)]["rps"] / r[("one adapter", top)]["rps"] for r in runs]
    speedup = [r[("mixed 16", top)]["rps"] / r[("naive mixed 16", top)]["rps"] for r in runs]
    single = [r[("mixed 16", 1)]["p50"] / r[("naive mixed 16", 1)]["p50"] for r in runs]
    print(f"\nmixed-16 / base throughput at c={top}: {_spread(multi)}  (aim >= 0.85; base rows carry the long utility prompt)")
    print(f"mixed-16 / one-adapter throughput at c={top}: {_spread(per_adapter)}  (same prompt: the cost of mixing adapters)")
    print(f"batched / naive throughput at c={top}: {_spread(speedup)}  (aim >= 4)")
    print(f"single request, p50 batched / naive at c=1: {_spread(single)}  (aim <= 1.05)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
