"""Python client for the ``POST /extract`` API: :class:`Client` (blocking) and :class:`AsyncClient`.

    from extractor_energy.client import Client

    with Client("http://localhost:8000", api_key="ee_...") as client:
        bill = client.extract("fatura.pdf", "EQUATORIAL", "GO")
        print(bill.data.valor_fatura, bill.requires_review)

* ``extract`` takes a path, raw bytes or a binary file object and returns an :class:`Extraction`
  (the server's response envelope, a pydantic model).
* 503 (queue full, shutting down) and 429 (rate limit) are retried with exponential backoff;
  a ``Retry-After`` from the server wins over the computed delay. Connection failures are
  retried the same way. When retries run out, :class:`ServerBusy` is raised.
* Other errors raise :class:`ExtractorHTTPError` subclasses carrying the server's ``detail``:
  :class:`AuthenticationError` (401/403), :class:`RequestError` (other 4xx), :class:`ServerError` (5xx).
"""

from __future__ import annotations

import asyncio
import email.utils
import os
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Awaitable, Callable, Generator, Union

import httpx
from pydantic import ConfigDict

from extractor_energy.api.schemas import ExtractResponse

__all__ = [
    "AsyncClient", "AuthenticationError", "Client", "Extraction", "ExtractorError", "ExtractorHTTPError",
    "RequestError", "RetryPolicy", "ServerBusy", "ServerError", "Source",
]

#: what ``extract`` accepts: a path, the file's bytes, or an open binary file
Source = Union[str, "os.PathLike[str]", bytes, bytearray, memoryview, IO[bytes]]
RETRY_STATUSES = frozenset({429, 503})


class Extraction(ExtractResponse):
    """One bill's answer: the ``POST /extract`` envelope (``data`` is the typed contract).

    Fields a newer server adds are kept (``model_extra``) rather than refused, so an old client keeps working.
    """

    model_config = ConfigDict(extra="allow")


class ExtractorError(Exception):
    """Base class of everything this client raises."""


class ExtractorHTTPError(ExtractorError):
    """The server answered with an error status; ``detail`` is its explanation (``{"detail": ...}``)."""

    def __init__(self, status_code: int, detail: str, headers: httpx.Headers | None = None) -> None:
        self.status_code, self.detail, self.headers = status_code, detail, headers or httpx.Headers()
        super().__init__(f"HTTP {status_code}: {detail}")


class AuthenticationError(ExtractorHTTPError):
    """401 (missing or unknown API key) or 403 (the key lacks the scope, or anonymous server reached remotely)."""


class RequestError(ExtractorHTTPError):
    """Another 4xx: the request cannot succeed as sent (bad file, unknown UF, file too large...)."""


class ServerError(ExtractorHTTPError):
    """A 5xx other than a retried 503 (e.g. 504: no answer within the server's timeout)."""


class ServerBusy(ExtractorError):
    """503/429 (or no connection) on every attempt; ``last`` is the final status error, if any."""

    def __init__(self, attempts: int, last: BaseException | None) -> None:
        self.attempts, self.last = attempts, last
        detail = last.detail if isinstance(last, ExtractorHTTPError) else (str(last) or type(last).__name__)
        super().__init__(f"server unavailable after {attempts} attempts: {detail}")

    @property
    def detail(self) -> str:
        return str(self)


@dataclass(frozen=True)
class RetryPolicy:
    """How 503/429 and connection failures are retried.

    The n-th retry waits ``min(max_backoff_s, backoff_s * 2**n)`` scaled by a random factor in
    [0.5, 1] (so many clients do not retry in step), or the server's ``Retry-After`` when it sent one
    (capped at ``max_retry_after_s``).
    """

    retries: int = 5
    backoff_s: float = 0.5
    max_backoff_s: float = 30.0
    max_retry_after_s: float = 120.0
    retry_connect_errors: bool = True

    def delay(self, attempt: int, retry_after: str | None) -> float:
        server = parse_retry_after(retry_after)
        if server is not None:
            return min(server, self.max_retry_after_s)
        return min(self.max_backoff_s, self.backoff_s * 2**attempt) * random.uniform(0.5, 1.0)


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or an HTTP date); None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _read_source(source: Source, filename: str | None) -> tuple[bytes, str]:
    """The file's bytes (read once: retries resend them) and the name sent with them."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        return bytes(source), filename or "bill"
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        return path.read_bytes(), filename or path.name
    data = source.read()
    if not isinstance(data, bytes):
        raise TypeError("extract() needs a path, bytes or a file opened in binary mode")
    return data, filename or Path(str(getattr(source, "name", "") or "bill")).name


def _detail(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and "detail" in body:
        detail = body["detail"]
        return detail if isinstance(detail, str) else str(detail)
    return (response.text or response.reason_phrase or "")[:300]


def _error_for(response: httpx.Response) -> ExtractorHTTPError:
    status, detail = response.status_code, _detail(response)
    if status in (401, 403):
        return AuthenticationError(status, detail, response.headers)
    if 400 <= status < 500:
        return RequestError(status, detail, response.headers)
    return ServerError(status, detail, response.headers)


def _headers(api_key: str | None) -> dict[str, str]:
    from extractor_energy import __version__

    headers = {"User-Agent": f"extractor-energy-client/{__version__}"}
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    return headers


class _Base:
    def __init__(self, url: str, api_key: str | None, retry: RetryPolicy | None) -> None:
        self.url = url.rstrip("/")
        self.api_key = api_key if api_key is not None else os.environ.get("EXTRACTOR_API_KEY") or None
        self.retry = retry or RetryPolicy()

    def _form(self, source: Source, concessionaria: str, uf: str, filename: str | None) -> dict[str, Any]:
        content, name = _read_source(source, filename)
        return {
            "files": {"file": (name, content, "application/octet-stream")},
            "data": {"concessionaria": concessionaria, "uf": uf},
        }

    def _attempt(
        self, response: httpx.Response | httpx.TransportError
    ) -> tuple[Extraction | None, BaseException | None, str | None]:
        """One attempt's outcome, shared by both clients: ``(extraction, None, None)``, or ``(None, what
        failed, Retry-After)`` when worth retrying; raises what is not (4xx, timeouts, refused retries)."""
        if isinstance(response, httpx.TransportError):
            if not self.retry.retry_connect_errors or isinstance(response, httpx.ReadTimeout):
                raise ExtractorError(f"request failed: {response or type(response).__name__}") from response
            return None, response, None
        outcome = self._outcome(response)
        if isinstance(outcome, Extraction):
            return outcome, None, None
        if outcome.status_code not in RETRY_STATUSES:
            raise outcome
        return None, outcome, response.headers.get("Retry-After")

    def _attempts(self) -> Generator[float | None, httpx.Response | httpx.TransportError | None, Extraction]:
        """The one retry loop of both clients, without I/O: it yields ``None`` for "send the request"
        (and is sent the response, or the transport error) or a delay in seconds for "sleep", and returns
        the extraction; it raises :class:`ServerBusy` when the retries run out, or what is not retried."""
        last: BaseException | None = None
        for attempt in range(self.retry.retries + 1):
            response = yield None
            assert response is not None
            done, last, retry_after = self._attempt(response)
            if done is not None:
                return done
            if attempt < self.retry.retries:
                yield self.retry.delay(attempt, retry_after)
        raise ServerBusy(self.retry.retries + 1, last)

    def _outcome(self, response: httpx.Response) -> Extraction | ExtractorHTTPError:
        if response.status_code == 200:
            return Extraction.model_validate(response.json())
        return _error_for(response)


class Client(_Base):
    """Blocking client. ``api_key`` defaults to ``$EXTRACTOR_API_KEY``; ``timeout`` is per HTTP attempt."""

    def __init__(
        self,
        url: str = "http://127.0.0.1:8000",
        api_key: str | None = None,
        *,
        timeout: float = 300.0,
        retry: RetryPolicy | None = None,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        super().__init__(url, api_key, retry)
        self._sleep = sleep
        self._http = httpx.Client(base_url=self.url, headers=_headers(self.api_key), timeout=timeout, transport=transport)

    def extract(self, source: Source, concessionaria: str, uf: str, *, filename: str | None = None) -> Extraction:
        """Extract one bill (path, bytes or binary file); see the module docstring for errors and retries."""
        form = self._form(source, concessionaria, uf, filename)
        attempts = self._attempts()
        step = next(attempts)
        while True:  # drives the shared retry loop: send when it asks (None), sleep when it gives a delay
            try:
                step = attempts.send(self._post(form) if step is None else self._sleep(step))
            except StopIteration as finished:
                return finished.value

    def _post(self, form: dict[str, Any]) -> httpx.Response | httpx.TransportError:
        try:
            return self._http.post("/extract", **form)
        except httpx.TransportError as exc:
            return exc

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncClient(_Base):
    """asyncio client; the same API as :class:`Client` with ``await``. Safe to share between tasks."""

    def __init__(
        self,
        url: str = "http://127.0.0.1:8000",
        api_key: str | None = None,
        *,
        timeout: float = 300.0,
        retry: RetryPolicy | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        max_connections: int = 100,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        super().__init__(url, api_key, retry)
        self._sleep = sleep
        limits = httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections)
        self._http = httpx.AsyncClient(
            base_url=self.url, headers=_headers(self.api_key), timeout=timeout, transport=transport, limits=limits
        )

    async def extract(self, source: Source, concessionaria: str, uf: str, *, filename: str | None = None) -> Extraction:
        """Extract one bill (path, bytes or binary file); see the module docstring for errors and retries."""
        form = await asyncio.to_thread(self._form, source, concessionaria, uf, filename)
        attempts = self._attempts()
        step = next(attempts)
        while True:  # drives the shared retry loop, as Client.extract does
            try:
                step = attempts.send(await self._post(form) if step is None else await self._sleep(step))
            except StopIteration as finished:
                return finished.value

    async def _post(self, form: dict[str, Any]) -> httpx.Response | httpx.TransportError:
        try:
            return await self._http.post("/extract", **form)
        except httpx.TransportError as exc:
            return exc

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> "AsyncClient":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
