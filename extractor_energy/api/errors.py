"""Every error leaves as ``{"detail": "..."}`` with a status the client can act on."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..metrics import key_label
from ..service import ApiError
from .public_text import clip, public_detail

log = logging.getLogger(__name__)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        service = getattr(request.app.state, "service", None)
        if service is not None and request.url.path.startswith("/extract"):
            key = key_label(exc.key, service.registry.has(exc.key))
            service.metrics.requests.labels(status=str(exc.status), key=key).inc()
        return JSONResponse({"detail": public_detail(exc.message)}, status_code=exc.status, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        parts = [_describe_invalid(e) for e in exc.errors()[:5]]
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
