"""Admission before the body is read, and a bounded decode pool (issue 13, item 4)."""

from __future__ import annotations

import asyncio
import socket
import time
from urllib.parse import urlparse

import httpx

from extractor_energy.documents.decode_pool import DecodePool
from extractor_energy.documents.decode import DocumentLimits

from .conftest import bill_image, jpeg_bytes
from .live_server import live_server, test_settings

SLOW_IMAGE = jpeg_bytes(bill_image(1))  # the tiny model writes all max_new_tokens for it


def _raw_request(url: str, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
    """Send only the request head (no body) and read the answer."""
    parsed = urlparse(url)
    head = "".join(f"{k}: {v}\r\n" for k, v in {"Host": parsed.netloc, **headers}.items())
    with socket.create_connection((parsed.hostname, parsed.port), timeout=30) as sock:
        sock.sendall(f"POST /extract HTTP/1.1\r\n{head}\r\n".encode())
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    status_line, *lines = data.split(b"\r\n\r\n", 1)[0].decode().split("\r\n")
    answer_headers = {k.lower(): v.strip() for k, v in (line.split(":", 1) for line in lines)}
    return int(status_line.split()[1]), answer_headers, data


def test_full_server_refuses_before_reading_the_body(tiny_model_dir, tmp_path):
    settings = test_settings(tiny_model_dir, tmp_path, max_queue_size=1, max_batch_size=1, max_upload_mb=2)
    multipart = {"Content-Type": "multipart/form-data; boundary=x", "Content-Length": str(1024 * 1024)}
    with live_server(settings) as url:
        # two uploads admitted (100 Continue) whose bodies never come: the server is full (1 queued + 1 batch)
        holders = [_open_upload(url, multipart) for _ in range(2)]
        try:
            assert all(first.startswith(b"HTTP/1.1 100") for _, first in holders)
            # the body is never sent: an answer proves it was not read
            status, headers, body = _raw_request(url, {**multipart, "Expect": "100-continue"})
            assert status == 503 and int(headers["retry-after"]) >= 1 and b"capacity" in body
            # a client without Expect: its body is discarded, it still gets the 503 (not a reset connection)
            r = httpx.post(url + "/extract", files={"file": ("f.jpg", SLOW_IMAGE)}, data={"concessionaria": "ENEL", "uf": "RJ"})
            assert r.status_code == 503 and "Retry-After" in r.headers
            # an upload announced over the limit: 413 at once, body never read
            status, _, body = _raw_request(url, {**multipart, "Content-Length": str(50 * 1024 * 1024)})
            assert status == 413 and b"EXTRACTOR_MAX_UPLOAD_MB" in body
        finally:
            for sock, _ in holders:
                sock.close()
        metrics = httpx.get(url + "/metrics").text
        assert 'extractor_rejected_total{reason="queue_full"} 2.0' in metrics
        deadline = time.monotonic() + 30  # the holders' slots come back once they are gone
        while time.monotonic() < deadline:
            r = httpx.post(url + "/extract", files={"file": ("f.jpg", SLOW_IMAGE)}, data={"concessionaria": "ENEL", "uf": "RJ"})
            if r.status_code == 200:
                break
            time.sleep(0.1)
        assert r.status_code == 200, r.text


def _open_upload(url: str, headers: dict[str, str]) -> tuple[socket.socket, bytes]:
    """Start an upload with Expect: 100-continue and return the socket and the server's first answer."""
    parsed = urlparse(url)
    head = "".join(f"{k}: {v}\r\n" for k, v in {"Host": parsed.netloc, "Expect": "100-continue", **headers}.items())
    sock = socket.create_connection((parsed.hostname, parsed.port), timeout=30)
    sock.sendall(f"POST /extract HTTP/1.1\r\n{head}\r\n".encode())
    return sock, sock.recv(65536)


class _Payload:
    def __init__(self, data: bytes, stats: dict[str, int]) -> None:
        self.data, self.stats = data, stats

    async def read_all(self) -> bytes:
        self.stats["in_memory"] += 1
        self.stats["peak"] = max(self.stats["peak"], self.stats["in_memory"])
        await asyncio.sleep(0.01)  # let the others try to get in
        return self.data


def test_decode_pool_bounds_uploads_in_memory():
    stats = {"in_memory": 0, "peak": 0}
    pool = DecodePool(workers=2)
    limits = DocumentLimits(model_max_pixels=112 * 112)

    async def one(i: int) -> None:
        await pool.decode(_Payload(jpeg_bytes(bill_image(i)), stats), limits, "f.jpg", None)
        stats["in_memory"] -= 1  # decoded: its bytes are gone

    async def run() -> None:
        await asyncio.gather(*(one(i) for i in range(12)))

    asyncio.run(run())
    pool.close()
    assert stats["peak"] == 2 and pool.waiting == 0
