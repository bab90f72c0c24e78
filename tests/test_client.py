"""extractor_energy.client: typed answers, retries on 503/429 honouring Retry-After, errors with the server's detail."""

from __future__ import annotations

import asyncio
import io
import json

import httpx
import pytest

from extractor_energy.api.auth import hash_key
from extractor_energy.client import (
    AsyncClient, AuthenticationError, Client, Extraction, RequestError, RetryPolicy, ServerBusy, ServerError,
    parse_retry_after,
)
from extractor_energy.domain.schema import ALL_FIELDS

from .conftest import bill_image, jpeg_bytes
from .live_server import live_server, test_settings


def envelope(**overrides) -> dict:
    body = {
        "key": "equatorial_go", "concessionaria": "EQUATORIAL", "uf": "GO", "adapter": None, "adapter_version": None,
        "fallback": False, "model": "m", "model_family": "vlm", "pages": 1, "data": {"valor_fatura": 10.5},
        "confidence": {"valor_fatura": 0.9}, "requires_review": False, "warnings": [],
        "timings_ms": {"decode": 1, "ocr": 0, "queue": 1, "preprocess": 1, "generate": 1, "total": 4},
        "batch_size": 1, "tokens_generated": 3,
    }
    body.update(overrides)
    return body


class Script:
    """A mock transport answering a fixed list of responses, recording what it was sent."""

    def __init__(self, *responses: httpx.Response) -> None:
        self.responses, self.requests = list(responses), []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.responses.pop(0)


def busy(status: int = 503, retry_after: str | None = "2") -> httpx.Response:
    headers = {"Retry-After": retry_after} if retry_after else {}
    return httpx.Response(status, json={"detail": "the queue is full"}, headers=headers)


def test_extract_sends_form_and_key_and_returns_typed_extraction(tmp_path):
    script = Script(httpx.Response(200, json=envelope(new_field="kept")))
    bill = tmp_path / "fatura.jpg"
    bill.write_bytes(b"\xff\xd8bytes")
    with Client("http://x", api_key="ee_secret", transport=httpx.MockTransport(script)) as client:
        result = client.extract(bill, "EQUATORIAL", "GO")
    assert isinstance(result, Extraction)
    assert result.data.valor_fatura == 10.5 and result.model_family == "vlm" and result.timings_ms.ocr == 0
    assert result.model_extra == {"new_field": "kept"}
    request = script.requests[0]
    assert request.url.path == "/extract" and request.headers["Authorization"] == "Bearer ee_secret"
    body = request.content
    assert b'name="concessionaria"' in body and b"EQUATORIAL" in body and b'filename="fatura.jpg"' in body
    assert b"\xff\xd8bytes" in body


def test_retries_503_and_429_honouring_retry_after():
    slept: list[float] = []
    script = Script(busy(503, "3"), busy(429, "1"), busy(503, None), httpx.Response(200, json=envelope()))
    policy = RetryPolicy(retries=5, backoff_s=0.25, max_backoff_s=10)
    client = Client("http://x", transport=httpx.MockTransport(script), retry=policy, sleep=slept.append)
    assert client.extract(b"img", "EQUATORIAL", "GO").key == "equatorial_go"
    assert slept[:2] == [3.0, 1.0]  # the server's Retry-After
    assert 0.25 <= slept[2] <= 1.0  # no Retry-After: backoff (0.25 * 2**2, jittered to [0.5, 1] of it)
    assert len(script.requests) == 4 and all(b"img" in r.content for r in script.requests)  # body resent


def test_gives_up_with_server_busy_carrying_the_detail():
    slept: list[float] = []
    script = Script(*[busy() for _ in range(3)])
    client = Client("http://x", transport=httpx.MockTransport(script), retry=RetryPolicy(retries=2), sleep=slept.append)
    with pytest.raises(ServerBusy, match="the queue is full") as info:
        client.extract(b"img", "EQUATORIAL", "GO")
    assert info.value.attempts == 3 and len(slept) == 2


@pytest.mark.parametrize(
    ("status", "kind"), [(401, AuthenticationError), (403, AuthenticationError), (413, RequestError),
                         (422, RequestError), (504, ServerError)],
)
def test_errors_carry_the_servers_detail_without_retrying(status, kind):
    script = Script(httpx.Response(status, json={"detail": f"reason {status}"}))
    client = Client("http://x", transport=httpx.MockTransport(script), sleep=lambda s: pytest.fail("no retry expected"))
    with pytest.raises(kind) as info:
        client.extract(io.BytesIO(b"img"), "EQUATORIAL", "GO")
    assert info.value.status_code == status and info.value.detail == f"reason {status}"
    assert len(script.requests) == 1


def test_connection_errors_are_retried():
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        if len(calls) == 1:
            raise httpx.ConnectError("refused")
        return httpx.Response(200, json=envelope())

    client = Client("http://x", transport=httpx.MockTransport(handler), sleep=lambda s: None)
    assert client.extract(b"img", "EQUATORIAL", "GO").pages == 1 and len(calls) == 2


def test_async_client_retries_and_raises():
    slept: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        slept.append(seconds)

    async def main() -> tuple[Extraction, RequestError]:
        script = Script(busy(503, "4"), httpx.Response(200, json=envelope(requires_review=True)),
                        httpx.Response(422, json={"detail": "unknown UF 'XX'"}))
        async with AsyncClient("http://x", api_key="k", transport=httpx.MockTransport(script), sleep=fake_sleep) as client:
            ok = await client.extract(b"img", "EQUATORIAL", "GO")
            with pytest.raises(RequestError) as info:
                await client.extract(b"img", "EQUATORIAL", "XX")
        return ok, info.value

    ok, error = asyncio.run(main())
    assert ok.requires_review is True and slept == [4.0]
    assert error.status_code == 422 and "unknown UF" in error.detail


def test_parse_retry_after():
    assert parse_retry_after("7") == 7.0 and parse_retry_after(None) is None and parse_retry_after("soon") is None
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # a date in the past: retry now


def test_against_the_real_server_with_api_keys(tiny_model_dir, tmp_path):
    keys = f"billing:extract:{hash_key('ee_good')}, ops:admin:{hash_key('ee_admin')}"
    settings = test_settings(tiny_model_dir, tmp_path / "adapters", api_keys=keys)
    with live_server(settings) as url:
        with Client(url, api_key="ee_good") as client:
            result = client.extract(jpeg_bytes(bill_image(3)), "Cemig Distribuição", "mg", filename="f.jpg")
            assert result.key == "cemig_mg" and set(result.data.model_dump()) == set(ALL_FIELDS)
            with pytest.raises(RequestError) as info:
                client.extract(b"not an image", "EQUATORIAL", "GO")
            assert info.value.status_code in (415, 422) and info.value.detail
        with Client(url, api_key="ee_admin") as client, pytest.raises(AuthenticationError) as denied:
            client.extract(jpeg_bytes(bill_image(3)), "EQUATORIAL", "GO")
        assert denied.value.status_code == 403 and "extract" in denied.value.detail
        with Client(url, api_key="ee_wrong") as client, pytest.raises(AuthenticationError) as unknown:
            client.extract(jpeg_bytes(bill_image(3)), "EQUATORIAL", "GO")
        assert unknown.value.status_code == 401
    json.dumps(result.model_dump())  # the typed answer serialises back to JSON


def test_both_clients_run_the_one_retry_loop_step_by_step():
    """The retry loop asks for a send (None) or a sleep (seconds) and never does I/O itself."""
    client = Client("http://x", retry=RetryPolicy(retries=2), transport=httpx.MockTransport(Script()))
    attempts = client._attempts()
    assert next(attempts) is None  # send
    assert attempts.send(busy(503, "4")) == 4.0  # the server's Retry-After
    assert attempts.send(None) is None  # send again
    with pytest.raises(StopIteration) as finished:
        attempts.send(httpx.Response(200, json=envelope()))
    assert finished.value.value.key == "equatorial_go"
    attempts = client._attempts()
    next(attempts)
    with pytest.raises(ServerBusy, match="after 3 attempts"):
        for _ in range(3):
            attempts.send(httpx.ConnectError("refused"))
            attempts.send(None)
