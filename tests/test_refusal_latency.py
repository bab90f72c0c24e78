"""A full server answers 503 at once, even to a client whose body is still coming (issue 23, item 8).

Before, a client without ``Expect: 100-continue`` got its 503 only after the server had read and
discarded its whole body: during a burst of large uploads the slowest refusal came after 6.8 s.
Now the answer goes out first and the HTTP server drops the rest of the body.
"""

from __future__ import annotations

import socket
import time
from urllib.parse import urlparse

import httpx

from .conftest import bill_image, jpeg_bytes
from .live_server import live_server, test_settings
from .test_admission import _open_upload

BODY_BYTES = 1024 * 1024


def test_refusal_does_not_wait_for_the_body_and_the_connection_stays_usable(tiny_model_dir, tmp_path):
    settings = test_settings(tiny_model_dir, tmp_path, max_queue_size=1, max_batch_size=1, max_upload_mb=2)
    multipart = {"Content-Type": "multipart/form-data; boundary=x", "Content-Length": str(BODY_BYTES)}
    with live_server(settings) as url:
        holders = [_open_upload(url, multipart) for _ in range(2)]  # admitted, bodies never sent: the server is full
        try:
            parsed = urlparse(url)
            with socket.create_connection((parsed.hostname, parsed.port), timeout=10) as sock:
                head = "".join(f"{k}: {v}\r\n" for k, v in multipart.items())
                sock.sendall(f"POST /extract HTTP/1.1\r\nHost: {parsed.netloc}\r\n{head}\r\n".encode() + b"x" * 1000)
                started, answer = time.monotonic(), b""
                sock.settimeout(3)
                try:  # the head and 1 KB of a 1 MB body are sent; the rest is not (yet)
                    while b"\r\n\r\n" not in answer:
                        chunk = sock.recv(65536)
                        if not chunk:
                            break
                        answer += chunk
                except socket.timeout:
                    pass
                waited = time.monotonic() - started
                assert answer.startswith(b"HTTP/1.1 503"), f"no answer within {waited:.1f} s: {answer[:80]!r}"
                assert waited < 1.0 and b"retry-after" in answer.lower() and b"connection: close" not in answer.lower()
                sock.sendall(b"x" * (BODY_BYTES - 1000))  # the client finishes its upload: no reset
                sock.settimeout(5)
                # the same connection serves the next request once the old body is through
                sock.sendall(f"GET /healthz HTTP/1.1\r\nHost: {parsed.netloc}\r\n\r\n".encode())
                rest = answer.split(b"\r\n\r\n", 1)[1]
                deadline = time.monotonic() + 5
                while b'{"status":"ok"}' not in rest and time.monotonic() < deadline:
                    rest += sock.recv(65536)
                assert b'{"status":"ok"}' in rest, rest[-200:]
            r = httpx.post(url + "/extract", files={"file": ("f.jpg", jpeg_bytes(bill_image(1)))},
                           data={"concessionaria": "ENEL", "uf": "RJ"})
            assert r.status_code == 503 and "Retry-After" in r.headers  # an ordinary client reads the answer
        finally:
            for sock, _ in holders:
                sock.close()
