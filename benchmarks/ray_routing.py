"""Ray Serve path vs the single-process server: adapter affinity and throughput at equal work.

Builds the benchmark model (``tiny-model --size bench``, ~25M parameters) and 16 random rank-16
adapters (as ``benchmarks/serving.py`` does), then serves the same requests (16 adapter keys,
shuffled, 32 new tokens each, constrained decoding off) at one concurrency level through:

* ``single, 1 thread``: ``extractor-energy serve``, torch on 1 thread, 16 adapter slots;
* ``ray, 1 replica``: ``serve --ray --replicas 1``, 1 thread, 16 slots: the same compute behind
  Ray's HTTP proxy, the ingress and a handle call, so the ratio to the line above is the Ray path's overhead;
* ``single, 2 threads``: the single-process server given both cores;
* ``ray, 2 replicas``: ``serve --ray --replicas 2``, 1 thread each, **8 slots each** for the 16
  adapters, so a request finds its adapter resident only if Ray routed it to the replica that
  holds it: the hit rate (``X-Extractor-Adapter-Resident``) measures the routing.

Each server gets a warm-up pass (every key once, in order: Ray places each new key on the replica
with the fewest keys) before the measured requests. Prints req/s, p50/p95 latency and the hit rate.

    python -m benchmarks.ray_routing [--requests 96] [--concurrency 8] [--runs 2] [--work-dir DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from benchmarks.serving import UFS, build_assets, page_bytes, start

ROOT = Path(__file__).resolve().parents[1]
KEYS = [(f"util{i}", UFS[i]) for i in range(16)]


async def drive(url: str, requests: int, concurrency: int, images: list[bytes], seed: int) -> dict:
    """``requests`` shuffled over the 16 keys at ``concurrency``; latency, throughput and residency hits."""
    order = [KEYS[i % len(KEYS)] for i in range(requests)]
    random.Random(seed).shuffle(order)
    semaphore = asyncio.Semaphore(concurrency)
    latencies: list[float] = []
    batches: list[int] = []
    resident: list[str] = []
    replicas: dict[str, set[str]] = {}
    failures = 0

    async def one(i: int, client: httpx.AsyncClient) -> None:
        nonlocal failures
        conc, uf = order[i]
        async with semaphore:
            began = time.perf_counter()
            r = await client.post(url + "/extract", files={"file": ("f.jpg", images[i % len(images)], "image/jpeg")},
                                  data={"concessionaria": conc, "uf": uf})
            latencies.append(time.perf_counter() - began)
            failures += r.status_code != 200
            batches.append(r.json().get("batch_size", 0) if r.status_code == 200 else 0)
            resident.append(r.headers.get("x-extractor-adapter-resident", "n/a"))
            replicas.setdefault(conc, set()).add(r.headers.get("x-extractor-replica", "-"))

    async with httpx.AsyncClient(timeout=600) as client:
        began = time.perf_counter()
        await asyncio.gather(*(one(i, client) for i in range(requests)))
        elapsed = time.perf_counter() - began
    q = statistics.quantiles(latencies, n=100)
    measured = [r for r in resident if r in ("true", "false")]
    return {"rps": requests / elapsed, "p50": q[49], "p95": q[94], "failures": failures, "batch": statistics.mean(batches),
            "hit": sum(r == "true" for r in measured) / len(measured) if measured else None,
            "keys_on_one_replica": sum(len(s) == 1 for s in replicas.values())}


def warm_up(url: str, images: list[bytes]) -> None:
    """Every key once, in order, with time for Ray's routers to learn where each one went."""
    with httpx.Client(timeout=600) as client:
        for i, (conc, uf) in enumerate(KEYS):
            r = client.post(url + "/extract", files={"file": ("f.jpg", images[i % len(images)], "image/jpeg")},
                            data={"concessionaria": conc, "uf": uf})
            r.raise_for_status()
            time.sleep(0.3)
    time.sleep(1.0)


def wait_replicas(url: str, replicas: int, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if f"x {replicas} replicas" in httpx.get(url + "/readyz", timeout=2).json().get("device", ""):
                return
        except (httpx.HTTPError, ValueError):
            pass
        time.sleep(0.5)
    raise RuntimeError(f"{replicas} replicas did not come up")


def run_config(name: str, cmd: list[str], env: dict[str, str], port: int, replicas: int | None, args: argparse.Namespace,
               images: list[bytes], seed: int) -> dict:
    url = f"http://127.0.0.1:{port}"
    proc = start([*cmd, "--port", str(port)], env, url)
    try:
        if replicas:
            wait_replicas(url, replicas)
        warm_up(url, images)
        result = asyncio.run(drive(url, args.requests, args.concurrency, images, seed))
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=90)
        except subprocess.TimeoutExpired:
            proc.kill()
    hit = "" if result["hit"] is None else f"  hit {result['hit']:.1%}, keys on one replica {result['keys_on_one_replica']}/16"
    print(f"  {name:<18} {result['rps']:6.2f} req/s  p50 {result['p50']:.2f} s  mean batch {result['batch']:.1f}{hit}",
          file=sys.stderr, flush=True)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=96, help="measured requests per server (default 96)")
    parser.add_argument("--concurrency", type=int, default=8, help="client concurrency (default 8)")
    parser.add_argument("--max-new-tokens", type=int, default=32, help="tokens generated per request (default 32)")
    parser.add_argument("--runs", type=int, default=2, help="whole runs; figures are medians (default 2)")
    parser.add_argument("--work-dir", type=Path, default=None, help="where the model and adapters are built (reused)")
    args = parser.parse_args()
    work = args.work_dir or Path(tempfile.mkdtemp(prefix="extractor-ray-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    model_dir, adapters_dir = build_assets(work, 16, 16)
    base_env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("EXTRACTOR_")},
        "EXTRACTOR_MODEL": str(model_dir), "EXTRACTOR_ADAPTERS_DIR": str(adapters_dir),
        "EXTRACTOR_MAX_NEW_TOKENS": str(args.max_new_tokens), "EXTRACTOR_MODEL_MAX_PIXELS": str(224 * 224),
        "EXTRACTOR_MAX_BATCH_SIZE": "16", "EXTRACTOR_MAX_ADAPTER_RANK": "16", "EXTRACTOR_FALLBACK_ADAPTER": "none",
        "EXTRACTOR_CONSTRAINED_DECODING": "false", "EXTRACTOR_MAX_QUEUE_SIZE": "256", "EXTRACTOR_MAX_BATCH_WAIT_MS": "5",
        "EXTRACTOR_WATCH_ADAPTERS": "false", "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT),
    }
    serve = [sys.executable, "-m", "extractor_energy.cli", "serve", "--log-level", "warning"]
    configs = [  # name, command, torch threads, adapter slots, replicas
        ("single, 1 thread", serve, 1, 16, None),
        ("ray, 1 replica", [*serve, "--ray", "--replicas", "1"], 1, 16, 1),
        ("single, 2 threads", serve, 2, 16, None),
        ("ray, 2 replicas", [*serve, "--ray", "--replicas", "2"], 1, 8, 2),
    ]
    images = [page_bytes(i) for i in range(8)]
    runs: list[dict[str, dict]] = []
    for run in range(args.runs):
        print(f"run {run + 1}/{args.runs}", file=sys.stderr, flush=True)
        cells = {}
        for n, (name, cmd, threads, slots, replicas) in enumerate(configs):
            env = {**base_env, "EXTRACTOR_TORCH_THREADS": str(threads), "EXTRACTOR_MAX_LOADED_ADAPTERS": str(slots)}
            cells[name] = run_config(name, cmd, env, 8790 + n, replicas, args, images, seed=run)
        runs.append(cells)

    def med(name: str, field: str) -> float:
        return statistics.median(r[name][field] for r in runs)

    print(f"\nmodel: {model_dir.name} (~25M params), 16 rank-16 adapters, {args.max_new_tokens} new tokens/request, "
          f"{args.requests} requests at concurrency {args.concurrency} per server, {args.runs} runs (medians)")
    print(f"{'server':<18} {'req/s':>7} {'p50 s':>7} {'p95 s':>7} {'hit rate':>9} {'fail':>5}")
    for name, *_ in configs:
        hits = [r[name]["hit"] for r in runs if r[name]["hit"] is not None]
        hit = f"{statistics.median(hits):.1%}" if hits else "-"
        print(f"{name:<18} {med(name, 'rps'):>7.2f} {med(name, 'p50'):>7.2f} {med(name, 'p95'):>7.2f} {hit:>9} "
              f"{sum(r[name]['failures'] for r in runs):>5}")
    overhead = [1 - r["ray, 1 replica"]["rps"] / r["single, 1 thread"]["rps"] for r in runs]
    scale = [r["ray, 2 replicas"]["rps"] / r["single, 2 threads"]["rps"] for r in runs]
    hit = [r["ray, 2 replicas"]["hit"] for r in runs]
    print(f"\nRay path overhead at c={args.concurrency} (1 - ray 1 replica / single 1 thread): "
          f"{statistics.median(overhead):.1%} (runs: {', '.join(f'{v:.1%}' for v in overhead)})  (aim <= 10 %)")
    print(f"hit rate, 16 adapters over 2 replicas of 8 slots: {statistics.median(hit):.1%} "
          f"(runs: {', '.join(f'{v:.1%}' for v in hit)})  (aim >= 95 %; routing blind to residency: about 50 %)")
    print(f"ray 2 replicas x 1 thread / single 2 threads (both cores either way): {statistics.median(scale):.2f} "
          f"(runs: {', '.join(f'{v:.2f}' for v in scale)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
