"""Load on the real-weights path (issue 23, item 8): the embedded model (SmolLM2-135M) with its OCR pool.

Starts ``extractor-energy serve`` with ``EXTRACTOR_MODEL=auto`` on CPU (the embedded text model
and its packaged adapters; nothing is downloaded when the checkpoint is in the cache) and runs

1. **burst**: ``--burst`` (100) synthetic *photo* bills sent at concurrency ``--concurrency`` (32):
   status counts, the server's peak RSS (process and children, sampled every 50 ms), the
   latency of every 503 and whether each carries ``Retry-After`` (aim: within 1 s), and
   ``/healthz`` polled throughout (its slowest answer);
2. **soak**: ``--soak-min`` minutes at ``--rate`` requests/s (open loop: one request is sent every
   1/rate s whatever the answers) mixed over 5 keys (four packaged adapters and one served by the
   fallback): RSS and p50 latency per minute, their drift first -> last minute, and the 5xx count;
3. **ocr faults**: a server whose OCR engine raises on every page, then one whose OCR hangs,
   with ``--fault-timeout-s`` as EXTRACTOR_REQUEST_TIMEOUT_S: what each bill gets and when, and
   whether bills sent after the hang are answered (does the pool recover?).

    nice -n 10 python benchmarks/load_real.py [--burst 100 --concurrency 32 --queue-size 0 --soak-min 20 --rate 1]

The fault servers are this script run as ``--serve-with-fault raise|hang``: the real server with
the OCR engine's ``read_upright`` replaced. Not a test: the numbers depend on the machine.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.overload import free_port  # noqa: E402
#: four keys with a packaged adapter and one served by the fallback adapter
KEYS = [("EQUATORIAL", "GO"), ("CEMIG", "MG"), ("ENEL", "RJ"), ("LIGHT", "RJ"), ("COPEL", "PR")]


def photo_bills(n: int) -> list[bytes]:
    """``n`` distinct photos of synthetic bills (busy background, perspective, light), as JPEG."""
    from extractor_energy.synth import generate_bill
    from extractor_energy.synth.capture import capture

    keys = ["equatorial_go", "cemig_mg", "enel_rj", "light_rj"]
    bills = []
    for seed in range(n):
        shot = capture(generate_bill(keys[seed % len(keys)], seed=seed, dpi=100), "photo", seed).image
        buf = io.BytesIO()
        shot.convert("RGB").save(buf, "JPEG", quality=85)
        bills.append(buf.getvalue())
    return bills


def start_server(work: Path, fault: str | None = None, **env: str) -> tuple[subprocess.Popen, str]:
    port = free_port()
    command = [sys.executable, __file__, "--serve-with-fault", fault] if fault else [sys.executable, "-m", "extractor_energy.cli.main"]
    values = {"EXTRACTOR_MODEL": "auto", "EXTRACTOR_DEVICE": "cpu", "EXTRACTOR_ADAPTERS_DIR": str(work / "adapters"),
              "EXTRACTOR_TORCH_THREADS": "1", "OMP_NUM_THREADS": "1", **env}
    proc = subprocess.Popen([*command, "serve", "--port", str(port), "--log-level", "warning"], env={**os.environ, **values},
                            cwd=work, stdout=subprocess.DEVNULL, stderr=open(work / f"server-{port}.log", "w"))
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if httpx.get(url + "/readyz", timeout=1).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    proc.kill()
    raise SystemExit(f"server did not start; see {work}/server-{port}.log")


def rss(pid: int) -> int:
    """Resident memory of the server and its children (OCR runs in-process, but pools may fork)."""
    try:
        root = psutil.Process(pid)
        return sum(p.memory_info().rss for p in [root, *root.children(recursive=True)])
    except psutil.Error:
        return 0


class Sampler(threading.Thread):
    """Peak RSS (every 50 ms) and /healthz latency (every 250 ms) while a phase runs."""

    def __init__(self, pid: int, url: str) -> None:
        super().__init__(daemon=True)
        self.pid, self.url = pid, url
        self.peak, self.health = 0, []  # health: (status or error name, seconds)
        self.stop = threading.Event()

    def run(self) -> None:
        last_probe = 0.0
        with httpx.Client(timeout=30) as client:
            while not self.stop.is_set():
                self.peak = max(self.peak, rss(self.pid))
                if time.monotonic() - last_probe >= 0.25:
                    last_probe = time.monotonic()
                    try:
                        self.health.append((client.get(self.url + "/healthz").status_code, time.monotonic() - last_probe))
                    except httpx.HTTPError as exc:
                        self.health.append((type(exc).__name__, time.monotonic() - last_probe))
                time.sleep(0.05)


async def send(client: httpx.AsyncClient, url: str, bill: bytes, key: tuple[str, str]) -> tuple[int | str, float, dict]:
    started = time.monotonic()
    try:
        r = await client.post(url + "/extract", files={"file": ("photo.jpg", bill, "image/jpeg")},
                              data={"concessionaria": key[0], "uf": key[1]})
        body = r.json() if r.headers.get("content-type", "").startswith("application/json") else {}
        return r.status_code, time.monotonic() - started, {"retry-after": r.headers.get("retry-after"), **body}
    except httpx.HTTPError as exc:
        return type(exc).__name__, time.monotonic() - started, {}


def counts(results: list) -> str:
    tally: dict[str, int] = {}
    for status, *_ in results:
        tally[str(status)] = tally.get(str(status), 0) + 1
    return ", ".join(f"{k}: {v}" for k, v in sorted(tally.items()))


def burst(work: Path, bills: list[bytes], n: int, concurrency: int, **env: str) -> None:
    proc, url = start_server(work, **env)
    try:
        idle = rss(proc.pid)
        sampler = Sampler(proc.pid, url)
        sampler.start()

        async def run() -> list:
            gate = asyncio.Semaphore(concurrency)
            async with httpx.AsyncClient(timeout=900, limits=httpx.Limits(max_connections=concurrency)) as client:
                async def one(i: int):
                    async with gate:
                        return await send(client, url, bills[i % len(bills)], KEYS[i % len(KEYS)])
                return await asyncio.gather(*(one(i) for i in range(n)))

        started = time.monotonic()
        results = asyncio.run(run())
        elapsed = time.monotonic() - started
        sampler.stop.set()
        sampler.join()
    finally:
        proc.terminate()
        proc.wait(timeout=120)
    refused = [(t, h) for s, t, h in results if s == 503]
    served = [t for s, t, _ in results if s == 200]
    health = [t for s, t in sampler.health if s == 200]
    setting = ", ".join(f"{k}={v}" for k, v in env.items()) or "default queue"
    print(f"burst: {n} photo bills at concurrency {concurrency} ({setting}) in {elapsed:.0f} s -> {counts(results)}")
    print(f"  server RSS: {idle / 2**20:.0f} MB idle, peak {sampler.peak / 2**20:.0f} MB")
    if served:
        print(f"  200 latency: p50 {statistics.median(served):.1f} s, max {max(served):.1f} s")
    if refused:
        times = [t for t, _ in refused]
        print(f"  503 latency: p50 {statistics.median(times):.2f} s, max {max(times):.2f} s; "
              f"with Retry-After: {sum(1 for _, h in refused if h.get('retry-after'))}/{len(refused)}")
    print(f"  /healthz: {len(health)}/{len(sampler.health)} answered 200, slowest {max(health, default=0):.2f} s")


def soak(work: Path, bills: list[bytes], minutes: float, rate: float) -> None:
    proc, url = start_server(work)
    results: list[tuple[float, int | str, float]] = []  # (sent at, status, latency)
    memory: list[tuple[float, int]] = []
    try:
        async def run() -> None:
            async with httpx.AsyncClient(timeout=900) as client:
                tasks, started, i = [], time.monotonic(), 0
                while (now := time.monotonic() - started) < minutes * 60:
                    if not memory or now - memory[-1][0] >= 10:
                        memory.append((now, rss(proc.pid)))

                    async def one(at: float, k: int) -> None:
                        status, latency, _ = await send(client, url, bills[k % len(bills)], KEYS[k % len(KEYS)])
                        results.append((at, status, latency))
                    tasks.append(asyncio.create_task(one(now, i)))
                    i += 1
                    await asyncio.sleep(max(0.0, started + i / rate - time.monotonic()))
                await asyncio.gather(*tasks)
                memory.append((time.monotonic() - started, rss(proc.pid)))

        asyncio.run(run())
    finally:
        proc.terminate()
        proc.wait(timeout=120)
    fivexx = sum(1 for _, s, _ in results if isinstance(s, int) and s >= 500)
    print(f"soak: {minutes:g} min at {rate:g} req/s over {len(KEYS)} keys -> {counts([(s,) for _, s, _ in results])}; "
          f"5xx: {fivexx}")
    per_minute = []
    for m in range(int(minutes + 0.999)):
        window = [t for at, s, t in results if s == 200 and m * 60 <= at < (m + 1) * 60]
        mem = [r for at, r in memory if m * 60 <= at < (m + 1) * 60]
        if window:
            per_minute.append((m + 1, statistics.median(window), max(mem, default=0)))
            print(f"  minute {m + 1}: p50 {statistics.median(window):.2f} s, p max {max(window):.2f} s, RSS {max(mem, default=0) / 2**20:.0f} MB")
    if len(per_minute) >= 2:
        (_, lat0, mem0), (_, lat1, mem1) = per_minute[0], per_minute[-1]
        print(f"  drift first -> last minute: p50 latency {lat0:.2f} -> {lat1:.2f} s, RSS {mem0 / 2**20:.0f} -> {mem1 / 2**20:.0f} MB "
              f"(end of run {memory[-1][1] / 2**20:.0f} MB)")


def faults(work: Path, bills: list[bytes], timeout_s: float) -> None:
    for fault in ("raise", "hang"):
        proc, url = start_server(work, fault, EXTRACTOR_REQUEST_TIMEOUT_S=str(timeout_s))
        try:
            async def run(n: int, limit: float) -> list:
                async with httpx.AsyncClient(timeout=limit) as client:
                    return await asyncio.gather(*(send(client, url, bills[i], KEYS[i % len(KEYS)]) for i in range(n)))

            first = asyncio.run(run(4, 3 * timeout_s))
            after = asyncio.run(run(2, 3 * timeout_s)) if fault == "hang" else []
            health = httpx.get(url + "/healthz", timeout=5).status_code
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
        slowest = max(t for _, t, _ in first)
        print(f"ocr {fault}: 4 bills -> {counts(first)}, slowest {slowest:.1f} s (EXTRACTOR_REQUEST_TIMEOUT_S={timeout_s:g}); "
              f"/healthz {health}")
        for status, latency, body in first[:1]:
            detail = body.get("detail") or "; ".join(w.get("message", "") for w in body.get("warnings", [])[:1])
            print(f"  e.g. {status} after {latency:.1f} s: {str(detail)[:160]}")
        if after:
            print(f"  2 bills sent after the hang: {counts(after)}, slowest {max(t for _, t, _ in after):.1f} s")


def serve_with_fault(fault: str, argv: list[str]) -> int:
    """The real server, its OCR engine raising on every page (``raise``) or never returning (``hang``)."""
    from extractor_energy.cli.main import main
    from extractor_energy.documents import page_text

    def broken(self, image):
        if fault == "hang":
            threading.Event().wait()  # a wedged native call: never returns
        raise RuntimeError("injected OCR failure")

    page_text.OcrEngine.read_upright = broken
    return main(argv)


def main() -> None:
    if len(sys.argv) > 2 and sys.argv[1] == "--serve-with-fault":
        sys.exit(serve_with_fault(sys.argv[2], sys.argv[3:]))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--burst", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--queue-size", type=int, default=0, help="EXTRACTOR_MAX_QUEUE_SIZE for the burst (0: the "
                        "server's default, 64 + batch 8 in flight, which a burst at concurrency 32 never fills)")
    parser.add_argument("--batch-size", type=int, default=0, help="EXTRACTOR_MAX_BATCH_SIZE for the burst (0: default)")
    parser.add_argument("--soak-min", type=float, default=20.0)
    parser.add_argument("--rate", type=float, default=1.0)
    parser.add_argument("--fault-timeout-s", type=float, default=20.0)
    parser.add_argument("--skip", nargs="*", default=[], choices=["burst", "soak", "faults"])
    parser.add_argument("--work-dir", type=Path, default=None)
    args = parser.parse_args()
    import tempfile

    work = args.work_dir or Path(tempfile.mkdtemp(prefix="load-real-"))
    (work / "adapters").mkdir(parents=True, exist_ok=True)
    bills = photo_bills(24)
    print(f"{len(bills)} photo bills, {statistics.mean(map(len, bills)) / 1024:.0f} KB on average")
    if "burst" not in args.skip:
        sizes = {"EXTRACTOR_MAX_QUEUE_SIZE": args.queue_size, "EXTRACTOR_MAX_BATCH_SIZE": args.batch_size}
        burst(work, bills, args.burst, args.concurrency, **{k: str(v) for k, v in sizes.items() if v})
    if "soak" not in args.skip:
        soak(work, bills, args.soak_min, args.rate)
    if "faults" not in args.skip:
        faults(work, bills, args.fault_timeout_s)


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
