"""Overload and shutdown figures (issue 13): a burst of large uploads, then SIGTERM under load.

Starts the real server (``extractor-energy serve``) on the tiny model built offline, with the
default queue, batch and upload settings, and

1. **burst**: sends ``--burst`` (200) concurrent uploads of one ~``--upload-mb`` (17.6) MB JPEG
   the way curl does (``Expect: 100-continue``: the body follows only when the server asks) and
   reports the server's peak RSS (sampled every 20 ms), the status counts and the latency of
   every 503 (aim: peak RSS <= 1.5 GB, every 503 within 1 s);
2. **shutdown**: keeps ``--shutdown-load`` requests in flight, sends SIGTERM, and reports what
   the clients got (JSON 503 + Retry-After, no plain-text 500) and how long the process took to
   exit against EXTRACTOR_SHUTDOWN_GRACE_S + 2 s.

    python benchmarks/overload.py [--burst 200] [--upload-mb 17.6] [--work-dir /tmp/overload]

Generation is kept short (EXTRACTOR_MAX_NEW_TOKENS=64): the figures are about admission,
memory and shutdown, not model speed. Not a test: numbers depend on the machine.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import psutil

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def big_jpeg(megabytes: float) -> bytes:
    """A noise photo of about ``megabytes`` MB (noise does not compress)."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    side = 1000
    while True:
        pixels = rng.integers(0, 256, (int(side * 0.75), side, 3), dtype=np.uint8)
        buf = io.BytesIO()
        Image.fromarray(pixels).save(buf, "JPEG", quality=95)
        if buf.tell() >= megabytes * 1024 * 1024:
            return buf.getvalue()
        side = int(side * max(1.05, (megabytes * 1024 * 1024 / buf.tell()) ** 0.5))


def start_server(model: Path, work: Path, grace_s: float, **extra: str) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {
        **os.environ, "EXTRACTOR_MODEL": str(model), "EXTRACTOR_ADAPTERS_DIR": str(work / "adapters"),
        "EXTRACTOR_MAX_NEW_TOKENS": "64", "EXTRACTOR_SHUTDOWN_GRACE_S": str(grace_s), "EXTRACTOR_MODEL_MAX_PIXELS": str(112 * 112),
        **extra,
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "extractor_energy.cli.main", "serve", "--port", str(port), "--log-level", "warning"],
        env=env, cwd=work, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/readyz", timeout=1).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit("server did not start")


class RssSampler(threading.Thread):
    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.process = psutil.Process(pid)
        self.peak = 0
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                self.peak = max(self.peak, self.process.memory_info().rss)
            except psutil.Error:
                return
            time.sleep(0.02)


async def post_many(url: str, payload: bytes, n: int) -> list[tuple[int | str, float, dict[str, str]]]:
    async with httpx.AsyncClient(timeout=600, limits=httpx.Limits(max_connections=n)) as client:
        async def one() -> tuple[int | str, float, dict[str, str]]:
            started = time.monotonic()
            try:
                r = await client.post(url + "/extract", files={"file": ("big.jpg", payload, "image/jpeg")},
                                      data={"concessionaria": "ENEL", "uf": "RJ"})
                return r.status_code, time.monotonic() - started, {**r.headers, "_json": str(r.headers.get("content-type"))}
            except httpx.HTTPError as exc:
                return type(exc).__name__, time.monotonic() - started, {}

        return await asyncio.gather(*(one() for _ in range(n)))


def multipart(payload: bytes) -> tuple[bytes, str]:
    boundary = "overload-boundary-7f3a"
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="concessionaria"\r\n\r\nENEL\r\n'.encode(),
        f'--{boundary}\r\nContent-Disposition: form-data; name="uf"\r\n\r\nRJ\r\n'.encode(),
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.jpg"\r\n'
        "Content-Type: image/jpeg\r\n\r\n".encode() + payload + b"\r\n",
        f"--{boundary}--\r\n".encode(),
    ]
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def post_like_curl(url: str, body: bytes, content_type: str, n: int) -> list[tuple[int | str, float, dict[str, str]]]:
    """Uploads the way curl sends large bodies: head with ``Expect: 100-continue``, the body only
    after ``100 Continue``. One thread per upload (blocking sockets), so a client busy sending
    other bodies does not delay reading an answer. Latency runs from the head to the final status."""
    host, port = url.removeprefix("http://").split(":")

    def read_head(sock: socket.socket, buffer: bytes) -> tuple[int, dict[str, str], bytes]:
        while b"\r\n\r\n" not in buffer:
            chunk = sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed before an answer")
            buffer += chunk
        head, rest = buffer.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        headers = {k.lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:] if ":" in line)}
        return int(lines[0].split()[1]), headers, rest

    def one() -> tuple[int | str, float, dict[str, str]]:
        try:
            with socket.create_connection((host, int(port)), timeout=600) as sock:
                started = time.monotonic()
                sock.sendall(
                    f"POST /extract HTTP/1.1\r\nHost: {host}\r\nContent-Type: {content_type}\r\n"
                    f"Content-Length: {len(body)}\r\nExpect: 100-continue\r\n\r\n".encode()
                )
                status, headers, rest = read_head(sock, b"")
                if status == 100:
                    sock.sendall(body)
                    status, headers, _ = read_head(sock, rest)
                return status, time.monotonic() - started, {**headers, "_json": headers.get("content-type", "")}
        except OSError as exc:
            return type(exc).__name__, 0.0, {}

    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(lambda _: one(), range(n)))


def summarize(results: list[tuple[int | str, float, dict[str, str]]]) -> str:
    counts: dict[str, int] = {}
    for status, _, _ in results:
        counts[str(status)] = counts.get(str(status), 0) + 1
    return ", ".join(f"{k}: {v}" for k, v in sorted(counts.items()))


def burst(model: Path, work: Path, n: int, upload_mb: float) -> None:
    payload = big_jpeg(upload_mb)
    proc, url = start_server(model, work, grace_s=30)
    try:
        baseline = psutil.Process(proc.pid).memory_info().rss
        sampler = RssSampler(proc.pid)
        sampler.start()
        started = time.monotonic()
        body, content_type = multipart(payload)
        results = post_like_curl(url, body, content_type, n)
        elapsed = time.monotonic() - started
        sampler.stop.set()
        sampler.join()
    finally:
        proc.terminate()
        proc.wait(timeout=120)
    refused = [t for s, t, _ in results if s == 503]
    served = [t for s, t, _ in results if s == 200]
    print(f"burst: {n} concurrent uploads of {len(payload) / 2**20:.1f} MB in {elapsed:.1f} s -> {summarize(results)}")
    print(f"  server RSS: {baseline / 2**20:.0f} MB idle, peak {sampler.peak / 2**20:.0f} MB (aim <= 1536 MB)")
    if refused:
        print(f"  503 latency: p50 {statistics.median(refused):.2f} s, max {max(refused):.2f} s (aim: every 503 within 1 s); "
              f"all with Retry-After: {all('retry-after' in h for s, _, h in results if s == 503)}")
    if served:
        print(f"  200 latency: p50 {statistics.median(served):.2f} s, max {max(served):.2f} s")


def shutdown(model: Path, work: Path, n: int, grace_s: float) -> None:
    image = big_jpeg(0.2)  # noise: the tiny model writes every token it may for it
    # long answers, so the work outlasts the grace
    proc, url = start_server(model, work, grace_s=grace_s, EXTRACTOR_MAX_NEW_TOKENS="2000", EXTRACTOR_CONSTRAINED_DECODING="false")
    results: list = []
    runner = threading.Thread(target=lambda: results.extend(asyncio.run(post_many(url, image, n))))
    runner.start()
    time.sleep(2.0)  # requests admitted, decoded and queued
    sent = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    time.sleep(0.3)
    late = asyncio.run(post_many(url, image, 8))  # new requests during the drain
    code = proc.wait(timeout=grace_s + 60)
    exited = time.monotonic() - sent
    runner.join()

    def json_503(rows: list) -> int:
        return sum(1 for s, _, h in rows if s == 503 and "json" in h.get("_json", "") and "retry-after" in h)

    print(f"shutdown: SIGTERM with {n} requests in flight, grace {grace_s:g} s -> exit code {code} after {exited:.1f} s "
          f"(aim <= {grace_s + 2:g} s)")
    print(f"  in flight: {summarize(results)} ({json_503(results)} JSON 503 with Retry-After)")
    print(f"  sent during the drain: {summarize(late)} ({json_503(late)} JSON 503 with Retry-After)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--burst", type=int, default=200)
    parser.add_argument("--upload-mb", type=float, default=17.6)
    parser.add_argument("--shutdown-load", type=int, default=64)
    parser.add_argument("--grace-s", type=float, default=2.0)
    parser.add_argument("--work-dir", type=Path, default=None)
    parser.add_argument("--skip-burst", action="store_true")
    parser.add_argument("--skip-shutdown", action="store_true")
    args = parser.parse_args()
    work = args.work_dir or Path(tempfile.mkdtemp(prefix="overload-"))
    work.mkdir(parents=True, exist_ok=True)
    (work / "adapters").mkdir(exist_ok=True)
    model = work / "tiny-model"
    if not (model / "config.json").exists():
        from extractor_energy.engine.tiny import build_tiny_model

        build_tiny_model(model)
    if not args.skip_burst:
        burst(model, work, args.burst, args.upload_mb)
    if not args.skip_shutdown:
        shutdown(model, work, args.shutdown_load, args.grace_s)


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
