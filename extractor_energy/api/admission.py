"""Admission control before the request body is read.

``POST /extract`` requests in the server (reading, waiting to decode, queued, generating) are
counted; beyond ``EXTRACTOR_MAX_QUEUE_SIZE + EXTRACTOR_MAX_BATCH_SIZE`` a new one is answered
503 + ``Retry-After`` at once, and one whose ``Content-Length`` is over the upload limit 413 —
without reading its body. A client that sent ``Expect: 100-continue`` (curl does for large
uploads) then never sends the body at all; for other clients the answer goes out at once and the
connection stays open, so the HTTP server's parser drops the rest of their body (no memory is
spent on it, nothing passes through the app) and they read the answer instead of a reset
connection — a refusal never waits for an upload to finish. Admitted requests receive their bodies a few at a
time (``max_reading``), so parsing a burst of large uploads never keeps the event loop from
answering new requests.
"""

from __future__ import annotations

import asyncio
import json
import logging

from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger(__name__)
_MULTIPART_SLACK = 64 * 1024  # form fields and boundaries around the file


class AdmissionMiddleware:
    def __init__(self, app: ASGIApp, *, state: object, max_in_flight: int, max_upload_bytes: int, max_reading: int = 4) -> None:
        self.app = app
        self.max_reading = max_reading  # bodies being received at once; the others wait unread
        self._read_slots: asyncio.Semaphore | None = None
        self.state = state  # the FastAPI app's state: .service once started
        self.max_in_flight = max_in_flight
        self.max_upload_bytes = max_upload_bytes
        self.in_flight = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if scope.get("method") != "POST" or not (path == "/extract" or path.startswith("/extract/")):
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers", ()))
        length = _int(headers.get(b"content-length"))
        if length is not None and length > self.max_upload_bytes + _MULTIPART_SLACK:
            await self._refuse(scope, receive, send, 413, f"the upload is {length / 2**20:.1f} MB; the limit is "
                               f"{self.max_upload_bytes / 2**20:g} MB (EXTRACTOR_MAX_UPLOAD_MB)", {}, drain=False)
            return
        service = getattr(self.state, "service", None)
        shutting_down = service is not None and not service.scheduler.accepting
        if self.in_flight >= self.max_in_flight or shutting_down:
            retry = 5 if shutting_down else (service.scheduler.retry_after() if service is not None else 1)
            reason = "shutting_down" if shutting_down else "queue_full"
            if service is not None:
                service.metrics.rejected.labels(reason=reason).inc()
            detail = ("the server is shutting down; retry on another instance or in a few seconds" if shutting_down
                      else f"the server is at capacity; retry in {retry} s")
            await self._refuse(scope, receive, send, 503, detail, {"Retry-After": str(retry)}, drain=length is not None)
            return
        self.in_flight += 1
        gate = _BodyGate(receive, self._reading())
        try:
            await self.app(scope, gate.receive, send)
        finally:
            gate.release()
            self.in_flight -= 1

    def _reading(self) -> asyncio.Semaphore:
        if self._read_slots is None:  # created on the serving loop
            self._read_slots = asyncio.Semaphore(self.max_reading)
        return self._read_slots

    async def _refuse(
        self, scope: Scope, receive: Receive, send: Send, status: int, detail: str, headers: dict[str, str], drain: bool
    ) -> None:
        expects_continue = dict(scope.get("headers", ())).get(b"expect", b"").lower() == b"100-continue"
        # Answer at once. A body that is coming anyway (no Expect: 100-continue) is left to the HTTP
        # server: the connection stays open and its parser drops the rest of a request already
        # answered, so the client reads the answer, not a reset, and waits for nothing.
        keep_open = drain and not expects_continue
        body = json.dumps({"detail": detail}).encode()
        raw = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        raw += [] if keep_open else [(b"connection", b"close")]
        raw += [(k.lower().encode(), v.encode()) for k, v in headers.items()]
        await send({"type": "http.response.start", "status": status, "headers": raw})
        await send({"type": "http.response.body", "body": body})


class _BodyGate:
    """``receive`` for one request: its body is read only while it holds one of the reading slots,
    so a burst of admitted uploads streams in a few at a time and the event loop stays free to
    answer (and refuse) new requests at once."""

    def __init__(self, receive: Receive, slots: asyncio.Semaphore) -> None:
        self._receive, self._slots = receive, slots
        self._holding = self._done = False

    async def receive(self) -> Message:
        if not self._done and not self._holding:
            await self._slots.acquire()
            self._holding = True
        message = await self._receive()
        if message["type"] != "http.request" or not message.get("more_body", False):
            self._done = True
            self.release()
        return message

    def release(self) -> None:
        if self._holding:
            self._holding = False
            self._slots.release()


def _int(value: bytes | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None
