"""Every error leaves as ``{"detail": "..."}`` with a status the client can act on.

The one place that knows HTTP for the service's failures: :func:`outcome` maps each
:mod:`extractor_energy.errors` exception to its status, ``Retry-After`` and the
``extractor_rejected`` reason; the handler answers it and counts ``extractor_requests``.
Routes raise :class:`ApiError` for problems of the HTTP request itself (a blank form field, an
unknown path parameter).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from extractor_energy.errors import (
    BadKey, ClientGone, DocumentError, DocumentProblem, ExtractionError, InferenceFailed, ServerFull, ShuttingDown,
    TimedOut,
)
from extractor_energy.metrics import key_label
from extractor_energy.api.public_text import clip, public_detail

if TYPE_CHECKING:
    from extractor_energy.extraction.service import ExtractionService

log = logging.getLogger(__name__)

#: nginx's "client closed request": the client has left, so the status is for the logs and metrics
CLIENT_CLOSED_REQUEST = 499
SHUTDOWN_RETRY_AFTER_S = 5  # another instance takes over, or this one is back
INFERENCE_RETRY_AFTER_S = 1  # the server keeps serving: the next try may well succeed

DOCUMENT_STATUS: dict[DocumentProblem, int] = {
    DocumentProblem.TOO_LARGE: 413,
    DocumentProblem.UNSUPPORTED_TYPE: 415,
    DocumentProblem.UNREADABLE: 422,
    DocumentProblem.TOO_MANY_PAGES: 422,
    DocumentProblem.BAD_PAGE_SHAPE: 422,
}


class ApiError(Exception):
    """A problem of the HTTP request itself, answered with ``status`` and an actionable ``message``."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        self.status, self.message, self.headers = status, message, headers or {}
        super().__init__(message)


@dataclass(frozen=True)
class Outcome:
    """How an extraction failure reaches the client and the metrics."""

    status: int
    retry_after_s: int | None = None
    rejected: str | None = None  # extractor_rejected{reason}: refused before (or instead of) inference

    @property
    def headers(self) -> dict[str, str]:
        return {} if self.retry_after_s is None else {"Retry-After": str(self.retry_after_s)}


def outcome(exc: ExtractionError) -> Outcome:
    """The status, Retry-After and rejection reason for one of the service's exceptions."""
    match exc:
        case DocumentError():
            return Outcome(DOCUMENT_STATUS[exc.kind])
        case BadKey():
            return Outcome(422)
        case ServerFull():
            return Outcome(503, exc.retry_after_s, "queue_full")
        case ShuttingDown():
            return Outcome(503, SHUTDOWN_RETRY_AFTER_S)
        case InferenceFailed():
            return Outcome(503, INFERENCE_RETRY_AFTER_S)
        case TimedOut():
            return Outcome(504, rejected="timeout")
        case ClientGone():
            return Outcome(CLIENT_CLOSED_REQUEST, rejected="client_disconnected" if exc.before_inference else None)
    return Outcome(500)  # a new exception nobody mapped yet (tests/test_error_mapping.py catches that)


def count_extraction(service: ExtractionService, status: int, key: str) -> None:
    """``extractor_requests{status, key}``: one per extraction answered (unknown keys fold into ``other``)."""
    service.metrics.requests.labels(status=str(status), key=key_label(key, service.registry.has(key))).inc()


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ExtractionError)
    async def _extraction_error(request: Request, exc: ExtractionError) -> JSONResponse:
        result = outcome(exc)
        service: ExtractionService | None = getattr(request.app.state, "service", None)
        if service is not None:
            if result.rejected:
                service.metrics.rejected.labels(reason=result.rejected).inc()
            count_extraction(service, result.status, exc.key)
        return JSONResponse({"detail": public_detail(exc.message)}, status_code=result.status, headers=result.headers)

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        service: ExtractionService | None = getattr(request.app.state, "service", None)
        if service is not None and request.url.path.startswith("/extract"):  # e.g. a blank form field
            count_extraction(service, exc.status, "-")
        return JSONResponse({"detail": public_detail(exc.message)}, status_code=exc.status, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        parts = [_describe_invalid(e) for e in exc.errors()[:5]]
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if request.url.path.startswith("/extract") and content_type != "multipart/form-data":
            parts.insert(0, f"the body must be multipart/form-data, not {clip(content_type or 'empty', 60)}: "
                            "e.g. curl -F file=@fatura.jpg -F concessionaria=EQUATORIAL -F uf=GO")
        return JSONResponse({"detail": public_detail("invalid request: " + "; ".join(parts))}, status_code=422)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error on %s", request.url.path)
        return JSONResponse({"detail": f"internal error ({type(exc).__name__}); the server keeps serving"}, status_code=500)


#: what to send when a form field is missing (shown with the 422)
FIELD_HINTS = {
    "file": "send the bill as multipart/form-data, e.g. curl -F file=@fatura.jpg",
    "concessionaria": "e.g. -F concessionaria=EQUATORIAL",
    "uf": "e.g. -F uf=GO",
}


def _describe_invalid(error: dict) -> str:
    loc = [str(p) for p in error.get("loc", ())]
    name = loc[-1] if loc else ""
    if error.get("type") == "missing" and loc[:1] == ["body"]:
        return f"missing form field {clip(name, 40)}" + (f": {FIELD_HINTS[name]}" if name in FIELD_HINTS else "")
    where = ".".join(loc[1:] if loc[:1] in (["body"], ["query"], ["path"]) else loc)
    if name == "concessionaria" and error.get("type") == "string_pattern_mismatch":
        return ("concessionaria must be a utility name with at least one letter or digit, e.g. EQUATORIAL; "
                "'/', '\\', '..' and NUL are not allowed")
    if name == "file" and "UploadFile" in str(error.get("msg")):  # e.g. file=x in a URL-encoded form
        return f"form field file must be an uploaded file, not text: {FIELD_HINTS['file']}"
    return f"{where[:60]}: {error.get('msg')}"


class OneLineStartupFailure:
    """ASGI middleware: a start-up failure (e.g. the model cannot be loaded) is reported as its
    one-line reason instead of the traceback Starlette attaches to ``lifespan.startup.failed``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "lifespan":
            await self.app(scope, receive, send)
            return

        async def send_short(message: Message) -> None:
            if message.get("type") == "lifespan.startup.failed" and message.get("message"):
                lines = [line for line in str(message["message"]).strip().splitlines() if line.strip()]
                reason = lines[-1] if lines else "start-up failed"
                message = {**message, "message": reason.split(": ", 1)[-1] if "Error: " in reason else reason}
            await send(message)

        try:
            await self.app(scope, receive, send_short)
        except Exception:  # already reported through lifespan.startup.failed
            return
