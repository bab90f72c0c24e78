"""``create_app``: wires settings, model, registry, watcher and scheduler into a FastAPI app."""

from __future__ import annotations

import logging
from contextlib import asynccontextmanager
from typing import AsyncIterator

from fastapi import APIRouter, FastAPI

from extractor_energy import __version__
from extractor_energy.config import Settings, get_settings
from extractor_energy.engine.model import LoadedModel
from extractor_energy.extraction.wiring import start_service
from extractor_energy.api.admission import AdmissionMiddleware
from extractor_energy.api.auth import install_security
from extractor_energy.api.offline_docs import install_offline_docs
from extractor_energy.api.errors import OneLineStartupFailure, install_error_handlers
from extractor_energy.api.routes_adapters import router as adapters_router
from extractor_energy.api.routes_extract import router as extract_router
from extractor_energy.api.routes_review import router as review_router
from extractor_energy.api.routes_health import router as health_router

log = logging.getLogger(__name__)

DESCRIPTION = """Structured JSON from Brazilian electricity bills ("faturas de energia").

One model stays resident: a vision-language model reading page images (`vlm` family), or a causal
LM reading the page text from the PDF text layer or OCR (`text` family, the embedded default on
CPU). A LoRA adapter per utility and state (`adapters/<concessionaria>_<uf>/`) is attached per
request and hot-swapped without restarts. A key without an adapter is served by the fallback
adapter when one is configured, else by the base model with the utility's prompt notes."""


def create_app(settings: Settings | None = None, loaded: LoadedModel | None = None) -> FastAPI:
    """Build the app. The model loads in the lifespan unless an already loaded one is passed."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        running = await start_service(settings, loaded)
        service = running.service
        app.state.service, app.state.registry = service, service.registry
        log.info("serving %s; adapters: %s", service.loaded.name, ", ".join(service.registry.keys()) or "none")
        try:
            yield
        finally:
            await running.stop()

    app = FastAPI(title="extractor-energy", version=__version__, description=DESCRIPTION, lifespan=lifespan,
                  docs_url=None, redoc_url=None)  # the docs come from install_offline_docs: no CDN
    install_api(app, settings, max_in_flight=settings.max_queue_size + settings.max_batch_size)
    return app


def install_api(app: FastAPI, settings: Settings, *, max_in_flight: int, adapters: APIRouter = adapters_router) -> None:
    """The HTTP API around ``app.state.service``: docs, error handlers, admission, auth and the routers
    (also the Ray Serve ingress's, with its own ``/adapters`` router)."""
    install_offline_docs(app)
    install_error_handlers(app)
    app.add_middleware(OneLineStartupFailure)
    app.add_middleware(  # inside the auth layer: refuses before the body is read when the server is full
        AdmissionMiddleware, state=app.state, max_in_flight=max_in_flight, max_upload_bytes=settings.max_upload_bytes,
    )
    install_security(app, settings)  # API keys, rate limits, CORS: before any route or body read
    app.include_router(extract_router)
    app.include_router(adapters)
    app.include_router(health_router)
    app.include_router(review_router)  # /ui review page (its API needs EXTRACTOR_REVIEW_DIR)
