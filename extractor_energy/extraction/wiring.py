"""Building the extraction service and its one start/stop sequence, shared by every way of serving it.

The single-process FastAPI app (``api/app.py``, in its lifespan) and each Ray Serve model replica
(``ray_serve/replica.py``) both call :func:`start_service` and :meth:`RunningService.stop`, so
neither pulls the other's framework in (a replica imports no web framework through this module).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from extractor_energy.adapters import AdapterRegistry
from extractor_energy.adapters.packaged import fallback_adapter_dir, packaged_adapters_dir
from extractor_energy.adapters.validation import ModelSpec, with_source
from extractor_energy.adapters.watcher import AdapterWatcher
from extractor_energy.config import Settings
from extractor_energy.documents.page_pool import PageTextPool
from extractor_energy.documents.page_text import PageTextReader
from extractor_energy.engine.constrained import schema_constraint_factory
from extractor_energy.engine.model import LoadedModel, load_model, model_spec
from extractor_energy.engine.scheduler import Scheduler
from extractor_energy.extraction.service import ExtractionService
from extractor_energy.metrics import Metrics


def settle_s(settings: Settings) -> float:
    """How long a full adapter-folder scan may wait for files still being written."""
    return max(2.0, settings.adapter_stable_s * 4)


def build_service(settings: Settings, loaded: LoadedModel, metrics: Metrics) -> ExtractionService:
    """The service around a loaded model: adapter registry, scheduler, and (text family) the OCR pool."""
    # the served name may be a Hub id loaded from a local (cache) directory: adapters may name either
    spec: ModelSpec = with_source(model_spec(loaded), getattr(loaded.model, "name_or_path", None))
    registry = AdapterRegistry(
        settings.adapters_dir, spec, max_loaded=settings.max_loaded_adapters, max_rank=settings.max_adapter_rank,
        allow_base_mismatch=settings.allow_base_model_mismatch, stable_s=settings.adapter_stable_s, loader=loaded.slots,
        preload=settings.preload_adapters, metrics=metrics, max_adapter_bytes=settings.max_adapter_bytes,
        packaged=packaged_adapters_dir(settings, loaded), fallback=fallback_adapter_dir(settings, loaded),
    )
    factory = schema_constraint_factory(loaded) if settings.constrained_decoding else None
    scheduler = Scheduler(loaded, registry, settings, metrics, extra_processors=factory)
    page_texts = None
    if loaded.family == "text":
        reader = PageTextReader(
            ocr_threads=settings.ocr_threads, use_pdf_text_layer=settings.pdf_text_layer, ocr_max_pixels=settings.ocr_max_pixels
        )
        page_texts = PageTextPool(reader, settings.ocr_workers)
    return ExtractionService(
        settings=settings, loaded=loaded, registry=registry, scheduler=scheduler, metrics=metrics, page_texts=page_texts
    )


@dataclass
class RunningService:
    """A started service: its adapters scanned, the watcher (if enabled) and the inference worker running."""

    service: ExtractionService
    watcher: AdapterWatcher | None
    settings: Settings

    async def stop(self) -> None:
        """Finish or fail what is queued (within ``shutdown_grace_s``), then close the OCR pool and the watcher."""
        await asyncio.to_thread(self.service.scheduler.stop, self.settings.shutdown_grace_s)
        if self.service.page_texts is not None:
            self.service.page_texts.close()
        if self.watcher:
            self.watcher.stop()


async def start_service(settings: Settings, loaded: LoadedModel | None = None, metrics: Metrics | None = None) -> RunningService:
    """Load the model (unless given), build the service, scan the adapters, start the watcher and the worker."""
    model = loaded or await asyncio.to_thread(load_model, settings)
    service = build_service(settings, model, metrics or Metrics())
    settings.adapters_dir.mkdir(parents=True, exist_ok=True)
    await asyncio.to_thread(service.registry.settle, settle_s(settings))
    watcher = AdapterWatcher(service.registry, force_polling=settings.watch_force_polling) if settings.watch_adapters else None
    if watcher:
        watcher.start()
    service.scheduler.start()
    return RunningService(service, watcher, settings)
