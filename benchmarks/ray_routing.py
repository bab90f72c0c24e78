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

The two servers of a pair run at the same time and are measured in alternating rounds, so load
from other work on the machine falls on both alike. Each gets a warm-up pass first (every key
once, in order: Ray places each new key on the replica with the fewest keys). Prints req/s,
p50/p95 latency, the mean batch size and the hit rate; the ratios are medians over the rounds.
Every server gets the same EXTRACTOR_MAX_BATCH_WAIT_MS (``--batch-wait-ms``, default 50: the Ray
path's default; at 5 ms, requests that reach a replica through the ingress start batches half full).

    python -m benchmarks.ray_routing [--rounds 4] [--requests 32] [--concurrency 8] [--batch-wait-ms 50] [--work-dir DIR]
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


def serve_pair(pair: list[tuple[str, list[str], dict[str, str], int | None]], args: argparse.Namespace,
               images: list[bytes], port: int) -> dict[str, list[dict]]:
    """Both servers up at once, measured in alternating rounds: noise from other work on the machine
    falls on both alike (each is idle while the other is measured)."""
    procs, urls = [], []
    try:
        for n, (name, cmd, env, replicas) in enumerate(pair):
            url = f"http://127.0.0.1:{port + n}"
            procs.append(start([*cmd, "--port", str(port + n)], env, url))
            if replicas:
                wait_replicas(url, replicas)
            urls.append(url)
        for url in urls:
            warm_up(url, images)
        results: dict[str, list[dict]] = {name: [] for name, *_ in pair}
        for round_ in range(args.rounds):
            for (name, *_), url in zip(pair, urls):
                result = asyncio.run(drive(url, args.requests, args.concurrency, images, seed=round_))
                results[name].append(result)
                hit = "" if result["hit"] is None else (f"  hit {result['hit']:.1%}, keys on one replica "
                                                        f"{result['keys_on_one_replica']}/16")
                print(f"  round {round_ + 1} {name:<18} {result['rps']:6.2f} req/s  p50 {result['p50']:.2f} s  "
                      f"mean batch {result['batch']:.1f}{hit}", file=sys.stderr, flush=True)
        return results
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=90)
            except subprocess.TimeoutExpired:
                proc.kill()


def _runs(values: list[float], fmt: str) -> str:
    return f"{format(statistics.median(values), fmt)} (rounds: {', '.join(format(v, fmt) for v in values)})"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=32, help="measured requests per server per round (default 32)")
    parser.add_argument("--concurrency", type=int, default=8, help="client concurrency (default 8)")
    parser.add_argument("--max-new-tokens", type=int, default=32, help="tokens generated per request (default 32)")
    parser.add_argument("--rounds", type=int, default=4, help="alternating rounds per pair; figures are medians (default 4)")
    parser.add_argument("--batch-wait-ms", type=float, default=50.0,
                        help="EXTRACTOR_MAX_BATCH_WAIT_MS of every server (default 50, the Ray path's default)")
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
        "EXTRACTOR_CONSTRAINED_DECODING": "false", "EXTRACTOR_MAX_QUEUE_SIZE": "256",
        "EXTRACTOR_MAX_BATCH_WAIT_MS": str(args.batch_wait_ms),
        "EXTRACTOR_WATCH_ADAPTERS": "false", "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT),
    }

    def env(threads: int, slots: int) -> dict[str, str]:
        return {**base_env, "EXTRACTOR_TORCH_THREADS": str(threads), "EXTRACTOR_MAX_LOADED_ADAPTERS": str(slots)}

    serve = [sys.executable, "-m", "extractor_energy.cli.main", "serve", "--log-level", "warning"]
    images = [page_bytes(i) for i in range(8)]
    print("overhead pair: the same compute (1 torch thread, 16 slots) with and without Ray", file=sys.stderr, flush=True)
    one = serve_pair([("single, 1 thread", serve, env(1, 16), None),
                      ("ray, 1 replica", [*serve, "--ray", "--replicas", "1"], env(1, 16), 1)], args, images, 8790)
    print("scale-out pair: both cores, 16 adapters (ray: 2 replicas x 8 slots)", file=sys.stderr, flush=True)
    two = serve_pair([("single, 2 threads", serve, env(2, 16), None),
                      ("ray, 2 replicas", [*serve, "--ray", "--replicas", "2"], env(1, 8), 2)], args, images, 8795)
    cells = {**one, **two}

    print(f"\nmodel: {model_dir.name} (~25M params), 16 rank-16 adapters, {args.max_new_tokens} new tokens/request, "
          f"{args.rounds} rounds of {args.requests} requests at concurrency {args.concurrency} per server (medians), "
          f"batch wait {args.batch_wait_ms:g} ms")
    print(f"{'server':<18} {'req/s':>7} {'p50 s':>7} {'p95 s':>7} {'hit rate':>9} {'fail':>5}")
    for name, rounds in cells.items():
        hits = [r["hit"] for r in rounds if r["hit"] is not None]
        hit = f"{statistics.median(hits):.1%}" if hits else "-"
        med = {k: statistics.median(r[k] for r in rounds) for k in ("rps", "p50", "p95")}
        print(f"{name:<18} {med['rps']:>7.2f} {med['p50']:>7.2f} {med['p95']:>7.2f} {hit:>9} {sum(r['failures'] for r in rounds):>5}")
    overhead = [1 - r["rps"] / s["rps"] for r, s in zip(cells["ray, 1 replica"], cells["single, 1 thread"])]
    scale = [r["rps"] / s["rps"] for r, s in zip(cells["ray, 2 replicas"], cells["single, 2 threads"])]
    hits = [r["hit"] for r in cells["ray, 2 replicas"]]
    print(f"\nRay path overhead at c={args.concurrency} (1 - ray 1 replica / single 1 thread, per round): "
          f"{_runs(overhead, '.1%')}  (aim <= 10 %)")
    print(f"hit rate, 16 adapters over 2 replicas of 8 slots: {_runs(hits, '.1%')}  "
          "(aim >= 95 %; routing blind to residency: about 50 %)")
    print(f"ray 2 replicas x 1 thread / single server x 2 threads (both cores either way): {_runs(scale, '.2f')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
