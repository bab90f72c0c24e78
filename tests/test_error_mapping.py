"""The service raises domain exceptions; ``api/errors.py`` alone turns them into HTTP.

No model here: the mapping runs on a bare FastAPI app, and the service on fakes that stop it
before generation.
"""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from extractor_energy.engine import scheduler as sched
from extractor_energy.api.errors import DOCUMENT_STATUS, install_error_handlers, outcome
from extractor_energy.config import Settings
from extractor_energy.engine.generate import GenerationInput
from extractor_energy.errors import (
    BadKey, ClientGone, DocumentError, DocumentProblem, ExtractionError, InferenceFailed, ServerFull, ShuttingDown,
    TimedOut,
)
from extractor_energy.metrics import Metrics
from extractor_energy.extraction.service import ExtractionService

from .conftest import bill_image, jpeg_bytes

#: exception -> (status, Retry-After, extractor_rejected reason): what clients and dashboards saw before the move
CASES: list[tuple[ExtractionError, int, str | None, str | None]] = [
    (BadKey("unknown UF 'XX': use one of the 27 codes"), 422, None, None),
    (DocumentError(DocumentProblem.TOO_LARGE, "the uploaded file is 21 MB; the limit is 20 MB"), 413, None, None),
    (DocumentError(DocumentProblem.UNSUPPORTED_TYPE, "unsupported file type"), 415, None, None),
    (DocumentError(DocumentProblem.UNREADABLE, "the uploaded file is empty"), 422, None, None),
    (DocumentError(DocumentProblem.TOO_MANY_PAGES, "the PDF has 5 pages; at most 4 are accepted"), 422, None, None),
    (DocumentError(DocumentProblem.BAD_PAGE_SHAPE, "the image is 2000x8 px"), 422, None, None),
    (ServerFull("the server is at capacity; retry in 7 s", 7), 503, "7", "queue_full"),
    (ShuttingDown("the server is shutting down"), 503, "5", None),
    (InferenceFailed("the model failed on this document (details are in the server log)"), 503, "1", None),
    (TimedOut("no answer within 120 s (EXTRACTOR_REQUEST_TIMEOUT_S)"), 504, None, "timeout"),
    (ClientGone("client disconnected", before_inference=True), 499, None, "client_disconnected"),
    (ClientGone("client disconnected", before_inference=False), 499, None, None),  # its row is counted as stopped
]


def _subclasses(cls: type) -> set[type]:
    return {sub for direct in cls.__subclasses__() for sub in {direct} | _subclasses(direct)}


def test_every_domain_exception_and_document_problem_has_a_mapping():
    assert {type(exc) for exc, *_ in CASES} == _subclasses(ExtractionError)
    assert set(DOCUMENT_STATUS) == set(DocumentProblem)
    assert all(outcome(exc).status != 500 for exc, *_ in CASES)


class _Registry:
    def has(self, key: str) -> bool:
        return key == "equatorial_go"


@pytest.fixture(scope="module")
def client_and_metrics():
    app = FastAPI()
    install_error_handlers(app)
    app.state.service = SimpleNamespace(metrics=Metrics(), registry=_Registry())
    raised: dict[str, ExtractionError] = {}

    @app.post("/extract")
    async def boom() -> None:
        raise raised["exc"]

    with TestClient(app) as client:
        yield client, app.state.service.metrics, raised


@pytest.mark.parametrize(("exc", "status", "retry_after", "rejected"), CASES, ids=lambda v: type(v).__name__)
def test_each_domain_exception_maps_to_its_status_headers_body_and_metrics(client_and_metrics, exc, status, retry_after, rejected):
    client, metrics, raised = client_and_metrics
    exc.key = "equatorial_go"
    raised["exc"] = exc

    def count(name: str, labels: dict[str, str]) -> float:
        return metrics.registry.get_sample_value(name, labels) or 0.0

    requests = {"status": str(status), "key": "equatorial_go"}
    before = count("extractor_requests_total", requests)
    before_rejected = {r: count("extractor_rejected_total", {"reason": r}) for r in ("queue_full", "timeout", "client_disconnected")}
    r = client.post("/extract")
    assert r.status_code == status
    assert r.json() == {"detail": exc.message}
    assert r.headers.get("Retry-After") == retry_after
    assert count("extractor_requests_total", requests) == before + 1
    for reason, value in before_rejected.items():
        assert count("extractor_rejected_total", {"reason": reason}) == value + (reason == rejected), reason


# ---------------------------------------------------------------------------- the service side


class _Job:
    def __init__(self, started: bool = False) -> None:
        self.future = asyncio.get_running_loop().create_future()  # never answered
        self.enqueued_at, self.started_at, self.cancelled = 0.0, 1.0 if started else None, False

    def cancel(self) -> None:
        self.cancelled = True


class _Scheduler:
    def __init__(self, outcome: Exception | bool) -> None:
        self.outcome, self.jobs = outcome, []

    def submit(self, *args: object) -> _Job:
        if isinstance(self.outcome, Exception):
            raise self.outcome
        self.jobs.append(_Job(started=self.outcome))
        return self.jobs[-1]


class _Leases:
    def acquire(self, key: str) -> None:
        return None

    def error_of(self, key: str) -> None:
        return None

    def release(self, lease: object) -> None:
        pass

    def has(self, key: str) -> bool:
        return False


def _service(scheduler: object = None, **settings: object) -> ExtractionService:
    return ExtractionService(
        settings=Settings(**settings), loaded=SimpleNamespace(family="vlm"), registry=_Leases(),  # type: ignore[arg-type]
        scheduler=scheduler, metrics=Metrics(),  # type: ignore[arg-type]
    )


def _extract(service: ExtractionService, payload: bytes, uf: str = "GO", gone: bool = False) -> ExtractionError:
    async def is_disconnected() -> bool:
        return gone

    with pytest.raises(ExtractionError) as info:
        asyncio.run(service.extract(payload, "bill.jpg", "image/jpeg", "EQUATORIAL", uf, is_disconnected))
    return info.value


PHOTO = jpeg_bytes(bill_image(3))


def test_the_service_raises_domain_exceptions_that_carry_the_key():
    bad_key = _extract(_service(), PHOTO, uf="XX")
    assert type(bad_key) is BadKey and bad_key.key == "-" and "XX" in bad_key.message
    empty = _extract(_service(), b"")
    assert isinstance(empty, DocumentError) and empty.kind is DocumentProblem.UNREADABLE and empty.key == "equatorial_go"


def test_the_scheduler_refuses_with_domain_exceptions():
    scheduler = sched.Scheduler(None, SimpleNamespace(max_loaded=8), Settings(_env_file=None, max_queue_size=1), Metrics())

    async def submit_two() -> Exception:
        scheduler.submit(GenerationInput([], []), "equatorial_go")
        try:
            scheduler.submit(GenerationInput([], []), "equatorial_go")
        except ServerFull as exc:
            return exc
        raise AssertionError("a full queue accepted a job")

    full = asyncio.run(submit_two())
    assert full.retry_after_s >= 1 and f"retry in {full.retry_after_s} s" in full.message
    scheduler.abort()  # the grace period is over: refuse everything

    async def submit_after_stop() -> None:
        scheduler.submit(GenerationInput([], []), "equatorial_go")

    with pytest.raises(ShuttingDown):
        asyncio.run(submit_after_stop())


@pytest.mark.parametrize("raised", [
    ServerFull("the server is at capacity; retry in 7 s", 7), ShuttingDown("the server is shutting down"),
])
def test_scheduler_refusals_reach_the_handler_with_the_key(raised):
    exc = _extract(_service(_Scheduler(raised)), PHOTO)
    assert exc is raised and exc.key == "equatorial_go"


def test_a_request_past_its_deadline_is_cancelled_and_timed_out():
    scheduler = _Scheduler(False)
    exc = _extract(_service(scheduler, request_timeout_s=0.05), PHOTO)
    assert type(exc) is TimedOut and "0.05 s (EXTRACTOR_REQUEST_TIMEOUT_S)" in exc.message
    assert scheduler.jobs[0].cancelled


@pytest.mark.parametrize("started", [False, True])
def test_a_client_that_leaves_cancels_its_job(started):
    scheduler = _Scheduler(started)
    exc = _extract(_service(scheduler), PHOTO, gone=True)
    assert type(exc) is ClientGone and exc.before_inference is not started and scheduler.jobs[0].cancelled
