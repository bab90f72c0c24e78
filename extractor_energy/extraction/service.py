"""One extraction, start to finish: document -> key -> adapter lease -> scheduler -> contract.

Failures are raised as :mod:`extractor_energy.errors` exceptions (no HTTP here: ``api/errors.py``
maps them to statuses, headers and the request metrics).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Awaitable, Callable

from extractor_energy import errors
from extractor_energy.adapters import AdapterRegistry
from extractor_energy.adapters.identity import AdapterRef
from extractor_energy.adapters.registry import FALLBACK_KEY, Lease
from extractor_energy.domain.checks import check_bill, findings_to_warnings
from extractor_energy.config import Settings
from extractor_energy.documents.decode_pool import DecodePool, LazyPayload
from extractor_energy.extraction.confidence import field_confidence, requires_review
from extractor_energy.documents.limits import DocumentLimits
from extractor_energy.documents.decode import Document
from extractor_energy.engine.generate import BASE, GenerationInput, GenerationOutput
from extractor_energy.domain.keys import BillKey, InvalidKey
from extractor_energy.metrics import Metrics
from extractor_energy.engine.model import LoadedModel
from extractor_energy.documents.page_pool import PagesTooSlow, PageTextPool
from extractor_energy.documents.page_text import PageText, prompt_text
from extractor_energy.grounding import GroundedAnswer, ground_bill, locate_sources
from extractor_energy.grounding.arbiter import apply_choice, ask
from extractor_energy.extraction.parsing import parse_answer
from extractor_energy.extraction.prompts import build_messages
from extractor_energy.engine.scheduler import Scheduler

#: a warning in the answer's ``warnings`` list: ``{"code", "fields", "message"}``
AnswerWarning = dict[str, Any]


@dataclass
class ExtractionService:
    settings: Settings
    loaded: LoadedModel
    registry: AdapterRegistry
    scheduler: Scheduler
    metrics: Metrics
    page_texts: PageTextPool | None = None  # text family: reads page text (PDF text layer or OCR)

    @cached_property
    def decoder(self) -> DecodePool:
        """At most EXTRACTOR_DECODE_WORKERS uploads in memory and decoding at once."""
        return DecodePool(self.settings.decode_workers)

    @cached_property
    def limits(self) -> DocumentLimits:
        return self.settings.document_limits(self.loaded.family)

    async def read_text(self, document: Document, deadline: float | None = None) -> tuple[str | None, list[PageText]]:
        """Text family: the bill's page text, cut to the token budget; VLM family: ``(None, [])``.

        ``deadline`` (``time.perf_counter()`` time) bounds the reading: past it the request times out (504)."""
        if self.page_texts is None:
            return None, []
        timeout = max(0.1, deadline - time.perf_counter()) if deadline is not None else None
        try:
            pages = await self.page_texts.read(document.pages, document.text_layers, timeout)
        except PagesTooSlow as exc:
            raise errors.TimedOut(
                f"no answer within {self.settings.request_timeout_s:g} s (EXTRACTOR_REQUEST_TIMEOUT_S): {exc} "
                "(OCR); retry later, or send a PDF with its text layer or a smaller photo"
            ) from None
        return prompt_text([p.text for p in pages], self.loaded.tokenizer, self.settings.text_max_tokens), pages

    async def extract(
        self,
        payload: bytes | LazyPayload,
        filename: str | None,
        content_type: str | None,
        concessionaria: str,
        uf: str,
        is_disconnected: Callable[[], Awaitable[bool]] | None = None,
    ) -> dict[str, Any]:
        """The answer envelope, or an :class:`~extractor_energy.errors.ExtractionError` carrying the key.

        The edge of an in-process request: the form fields become the request's :class:`AdapterRef` here."""
        try:
            ref = AdapterRef.of(concessionaria, uf)
        except InvalidKey as exc:
            raise errors.BadKey(str(exc)) from None
        return await self.extract_for(ref, payload, filename, content_type, is_disconnected)

    async def extract_for(
        self,
        ref: AdapterRef,
        payload: bytes | LazyPayload,
        filename: str | None,
        content_type: str | None,
        is_disconnected: Callable[[], Awaitable[bool]] | None = None,
    ) -> dict[str, Any]:
        """:meth:`extract` for a request whose ref was made elsewhere (the Ray ingress), used as is."""
        started = time.perf_counter()
        try:
            result = await self._extract(ref, payload, filename, content_type, is_disconnected, started)
        except errors.ExtractionError as exc:
            exc.key = ref.key
            raise
        self.metrics.latency.observe(time.perf_counter() - started)
        return result

    async def _extract(
        self,
        ref: AdapterRef,
        payload: bytes | LazyPayload,
        filename: str | None,
        content_type: str | None,
        is_disconnected: Callable[[], Awaitable[bool]] | None,
        started: float,
    ) -> dict[str, Any]:
        key = ref.bill
        document = await self.decoder.decode(payload, self.limits, filename, content_type)
        decoded = time.perf_counter()
        text, page_texts = await self.read_text(document, started + self.settings.request_timeout_s)
        read = time.perf_counter()
        if text is not None and self.settings.grounded:
            return await self._grounded(key, document, page_texts, started, decoded, read)
        output, served, notes = await self.generate(ref, document.pages, text, is_disconnected)
        parsed = parse_answer(output.text)
        confidence = field_confidence(output, parsed)
        findings = check_bill(parsed.data)
        warnings = notes + page_warnings(page_texts) + parsed.warnings + findings_to_warnings(findings)
        finished = time.perf_counter()
        sources = locate_sources(parsed.data, page_texts or _text_layer_pages(document))
        return {
            "key": key.key,
            "concessionaria": key.concessionaria.upper(),
            "uf": key.uf,
            "adapter": served.adapter,
            "adapter_version": served.version,
            "fallback": served.adapter == FALLBACK_KEY,
            "model": self.loaded.name,
            "model_family": self.loaded.family,
            "extraction": "generative",
            "pages": len(document.pages),
            "page_sizes": [[p.width, p.height] for p in document.pages],
            "data": parsed.data.model_dump(),
            "sources": sources,
            "confidence": confidence,
            "requires_review": requires_review(parsed.data, confidence, findings, self.settings.review_threshold),
            "warnings": warnings,
            "timings_ms": {
                "decode": round((decoded - started) * 1000, 1),
                "ocr": round((read - decoded) * 1000, 1),
                "queue": round(output.queue_ms, 1),
                "preprocess": round(output.preprocess_ms, 1),
                "generate": round(output.generate_ms, 1),
                "total": round((finished - started) * 1000, 1),
            },
            "batch_size": output.batch_size,
            "tokens_generated": output.tokens_generated,
            "prompt_tokens": output.prompt_tokens,
        }

    async def generate(
        self, ref: AdapterRef, pages: list[Any], text: str | None,
        is_disconnected: Callable[[], Awaitable[bool]] | None = None,
    ) -> tuple[GenerationOutput, AdapterRef, list[AnswerWarning]]:
        """The generative path: the key's adapter (or the fallback) writes the contract from the page
        images (VLM family, ``text`` None) or the page text (then only the number of ``pages`` is used,
        for the prompt). Returns the output, the ref that served it and the lease's notes."""
        key = ref.bill
        lease, notes = self.lease_for(ref)
        served = ref.served_by(lease.key, lease.version, lease.internal_name) if lease else ref
        try:
            gen_input = GenerationInput(
                pages=pages if text is None else [],
                messages=build_messages(key, len(pages), with_adapter=lease is not None, document_text=text),
                adapter_name=served.slot_id,
                schema_fields=lease.fields if lease else None,
            )
            output = await self._run(gen_input, served, is_disconnected)
        finally:
            self.registry.release(lease)
        return output, served, notes

    async def _grounded(self, key: BillKey, document: Document, page_texts: list[PageText], started: float, decoded: float,
                  read: float, is_disconnected: Callable[[], Awaitable[bool]] | None = None) -> dict[str, Any]:
        """Text family: every value read off the page (:mod:`extractor_energy.grounding`). With
        ``EXTRACTOR_GROUNDED_CHOICE=model`` the key's adapter then chooses among the candidates of the
        ambiguous fields (decoding held to them); ``evidence`` generates nothing."""
        answer: GroundedAnswer = await asyncio.to_thread(ground_bill, page_texts, key.concessionaria)  # pure Python, off the event loop
        answer, lease, output, notes = await self.choose_with_model(key, answer, page_texts, is_disconnected)
        findings = check_bill(answer.data)
        warnings = notes + page_warnings(page_texts) + answer.conflicts + findings_to_warnings(findings)
        finished = time.perf_counter()
        return {
            "key": key.key,
            "concessionaria": key.concessionaria.upper(),
            "uf": key.uf,
            "adapter": lease.key if lease else None,
            "adapter_version": lease.version if lease else None,
            "fallback": bool(lease and lease.key == FALLBACK_KEY),
            "model": self.loaded.name,
            "model_family": self.loaded.family,
            "extraction": "grounded",
            "pages": len(document.pages),
            "page_sizes": [[p.width, p.height] for p in document.pages],
            "data": answer.data.model_dump(),
            "sources": answer.sources,
            "confidence": answer.confidence,
            "requires_review": requires_review(answer.data, answer.confidence, [*findings, *answer.conflicts],
                                               self.settings.review_threshold),
            "warnings": warnings,
            "timings_ms": {
                "decode": round((decoded - started) * 1000, 1),
                "ocr": round((read - decoded) * 1000, 1),
                "queue": round(output.queue_ms, 1) if output else 0.0,
                "preprocess": round(output.preprocess_ms, 1) if output else 0.0,
                "generate": round(output.generate_ms, 1) if output else 0.0,
                "total": round((finished - started) * 1000, 1),
            },
            "batch_size": output.batch_size if output else 0,
            "tokens_generated": output.tokens_generated if output else 0,
            "prompt_tokens": output.prompt_tokens if output else 0,
        }

    async def choose_with_model(
        self, key: BillKey, answer: GroundedAnswer, page_texts: list[PageText],
        is_disconnected: Callable[[], Awaitable[bool]] | None = None,
    ) -> tuple[GroundedAnswer, Lease | None, GenerationOutput | None, list[AnswerWarning]]:
        """``EXTRACTOR_GROUNDED_CHOICE`` model / model_all: one constrained generation that picks, per asked
        field, one of its candidates or none (:mod:`extractor_energy.grounding.arbiter`); evidence, or no
        field worth asking: ``answer`` unchanged and nothing generated. Returns the answer, the lease
        that served it, the generation and the lease's notes."""
        mode = self.settings.grounded_choice
        question = ask(answer, mode) if mode != "evidence" else None
        if question is None:
            return answer, None, None, []
        lease, notes = self.lease_for(key.key)
        try:
            text = prompt_text([p.text for p in page_texts], self.loaded.tokenizer, self.settings.text_max_tokens)
            gen_input = GenerationInput(
                pages=[], messages=build_messages(key, 0, with_adapter=lease is not None, document_text=text),
                adapter_name=lease.internal_name if lease else BASE, json_schema=question.schema,
            )
            output = await self._run(gen_input, key.key, is_disconnected)
        finally:
            self.registry.release(lease)
        return apply_choice(answer, question, output), lease, output, notes

    def lease_for(self, ref: AdapterRef | str) -> tuple[Lease | None, list[AnswerWarning]]:
        """The key's own adapter, else the fallback adapter, else None (base prompt); warnings say which and why."""
        key = ref.key if isinstance(ref, AdapterRef) else ref  # what is looked up and what the warnings name
        notes: list[AnswerWarning] = []
        lease = self.registry.acquire(key)
        if lease is not None:
            return lease, notes
        broken = self.registry.error_of(key)
        lease = self.registry.acquire(FALLBACK_KEY)
        served = "the fallback adapter" if lease else "the base model with the utility's prompt"
        if broken:
            notes.append({"code": "adapter_error", "fields": [],
                          "message": f"the adapter for {key} cannot be served ({broken[:200]}); {served} answered instead"})
        elif lease is not None:
            notes.append({"code": "fallback_adapter", "fields": [],
                          "message": f"no adapter for {key}; the fallback adapter answered"})
        return lease, notes

    async def _run(
        self,
        gen_input: GenerationInput,
        ref: AdapterRef | str,
        is_disconnected: Callable[[], Awaitable[bool]] | None,
    ) -> GenerationOutput:
        job = self.scheduler.submit(gen_input, ref)  # raises errors.ServerFull / errors.ShuttingDown
        deadline = time.monotonic() + self.settings.request_timeout_s
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                job.cancel()
                raise errors.TimedOut(
                    f"no answer within {self.settings.request_timeout_s:g} s (EXTRACTOR_REQUEST_TIMEOUT_S); "
                    "the server is busy — retry later or with fewer pages"
                )
            done, _ = await asyncio.wait({job.future}, timeout=min(remaining, 0.25))
            if done:
                break
            if is_disconnected is not None and await is_disconnected():
                job.cancel()  # dropped from the queue, or its row stops at the next generation step
                # a running row is counted as stopped by the scheduler, not as a refusal
                raise errors.ClientGone("client disconnected", before_inference=job.started_at is None)
        output: GenerationOutput = job.future.result()  # or errors.InferenceFailed / errors.ShuttingDown
        output.queue_ms = ((job.started_at or time.monotonic()) - job.enqueued_at) * 1000
        return output


def page_warnings(pages: list[PageText]) -> list[AnswerWarning]:
    """A page that could not be read is a warning on that page, not a failed request."""
    return [
        {"code": "page_unreadable", "fields": [], "message": f"page {n}: {page.warning}"}
        for n, page in enumerate(pages, start=1) if page.warning
    ]


def _text_layer_pages(document: Document) -> list[PageText]:
    """A PDF's own text layers as page texts (VLM family: no OCR), to locate what the model wrote."""
    return [PageText("", "pdf_text", boxes=list(layer or []), width=page.width, height=page.height)
            for page, layer in zip(document.pages, document.text_layers or [])]
