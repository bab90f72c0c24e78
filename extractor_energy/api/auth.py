"""API keys, scopes, per-key rate limits and the anonymous (loopback-only) mode.

Keys are configured as SHA-256 hashes (``EXTRACTOR_API_KEYS`` and/or ``EXTRACTOR_API_KEYS_FILE``),
one entry per key: ``[name:]scope[+scope]:<64 hex digits>``, separated by commas, spaces or
new lines (``#`` starts a comment in the file). ``extractor-energy api-key`` makes a new key and
prints its entry. Clients send ``Authorization: Bearer <key>`` or ``X-API-Key: <key>``.

* ``extract``: ``POST /extract``; ``admin``: everything else that is not open (adapters,
  reload, and any route added later: default deny). ``/healthz``, ``/readyz`` and the API docs
  are open (with keys configured, ``/readyz`` shows its details — model, device, queue — only
  to a caller with a valid key of any scope; probes get the status alone); ``/metrics`` is open only with ``EXTRACTOR_METRICS_PUBLIC=true``. ``review`` (or ``admin``):
  the review page's API ``/ui/api/*`` (the page ``/ui`` itself is static and open).
* 401 (with ``WWW-Authenticate: Bearer``) without a valid key, 403 with a key lacking the scope.
  The presented key is hashed and compared with *every* configured hash with
  ``hmac.compare_digest``, so timing says nothing about which bytes matched.
* Per key, a token bucket (``EXTRACTOR_RATE_LIMIT_PER_MIN``, ``EXTRACTOR_RATE_LIMIT_BURST``):
  429 + ``Retry-After``.
* No keys configured: anonymous mode. Only loopback clients are served (the CLI also binds
  127.0.0.1) unless ``EXTRACTOR_ALLOW_ANONYMOUS=true``.

This is a pure ASGI middleware: requests are refused before their body is read.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import logging
import math
import re
import secrets
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from typing import TYPE_CHECKING

from starlette.types import ASGIApp, Receive, Scope, Send

from extractor_energy.api.offline_docs import ASSET_PATHS as DOCS_ASSET_PATHS
from extractor_energy.api.routes_review import UI_PAGE_PATHS

if TYPE_CHECKING:
    from fastapi import FastAPI

    from extractor_energy.config import Settings

log = logging.getLogger(__name__)

SCOPES = ("extract", "admin", "review")
OPEN_PATHS = frozenset({"/healthz", "/readyz", "/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json"}) | DOCS_ASSET_PATHS | UI_PAGE_PATHS
#: path prefix -> scope needed; anything not listed (and not open) needs ``admin``
SCOPE_BY_PREFIX: tuple[tuple[str, str], ...] = (("/extract", "extract"), ("/ui/api", "review"))
_ENTRY = re.compile(r"^(?:(?P<name>[A-Za-z0-9_.-]{1,64}):)?(?P<scopes>[a-z+]+):(?:sha256:)?(?P<hash>[0-9a-fA-F]{64})$")


class AuthConfigError(ValueError):
    """EXTRACTOR_API_KEYS / EXTRACTOR_API_KEYS_FILE cannot be used; the message says why."""


@dataclass(frozen=True)
class ApiKey:
    name: str
    scopes: frozenset[str]
    digest: bytes


def hash_key(key: str) -> str:
    """The hex SHA-256 of a key, as written in EXTRACTOR_API_KEYS (keys are random, so no salt is needed)."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def new_key() -> str:
    """A fresh random key (256 bits)."""
    return "ee_" + secrets.token_urlsafe(32)


def parse_keys(text: str, source: str = "EXTRACTOR_API_KEYS") -> list[ApiKey]:
    keys: list[ApiKey] = []
    for line in text.splitlines():
        for n, entry in enumerate(line.split("#", 1)[0].replace(",", " ").split()):
            match = _ENTRY.match(entry)
            if not match:
                raise AuthConfigError(
                    f"{source}: entry {entry[:12]!r}… is not [name:]scope[+scope]:<sha256 hex>; "
                    "make one with `extractor-energy api-key --scope extract`"
                )
            scopes = frozenset(match["scopes"].split("+"))
            if not scopes <= set(SCOPES):
                raise AuthConfigError(f"{source}: unknown scope in {'+'.join(sorted(scopes))}; scopes are {', '.join(SCOPES)}")
            name = match["name"] or f"key{len(keys) + 1}"
            keys.append(ApiKey(name=name, scopes=scopes, digest=bytes.fromhex(match["hash"])))
    return keys


def load_keys(inline: str, file: Path | None) -> list[ApiKey]:
    keys = parse_keys(inline or "")
    if file is not None:
        try:
            keys += parse_keys(Path(file).read_text(encoding="utf-8"), "EXTRACTOR_API_KEYS_FILE")
        except OSError as exc:
            raise AuthConfigError(f"EXTRACTOR_API_KEYS_FILE cannot be read: {exc.strerror or type(exc).__name__}") from None
    names = [k.name for k in keys]
    if len(set(names)) != len(names):
        raise AuthConfigError("EXTRACTOR_API_KEYS: two keys have the same name")
    return keys


def _loopback_ip(text: str) -> bool:
    """A loopback address, also as an IPv4-mapped IPv6 one (``::ffff:127.0.0.1`` on dual-stack sockets)."""
    address = ipaddress.ip_address(text)
    mapped = getattr(address, "ipv4_mapped", None)
    return (mapped or address).is_loopback


def is_loopback_host(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return _loopback_ip(host)
    except ValueError:
        return False


def _client_is_remote(scope: Scope) -> bool:
    """A TCP client with a non-loopback address (unix sockets and in-process test clients are local)."""
    client = scope.get("client")
    if not client:
        return False
    try:
        return not _loopback_ip(client[0])
    except ValueError:
        return False


@dataclass
class TokenBucket:
    rate_per_s: float
    burst: float
    tokens: float = field(default=-1.0)
    updated: float = field(default_factory=time.monotonic)

    def take(self, now: float) -> float:
        """Take one token; return 0 when allowed, else the seconds until one is available."""
        if self.tokens < 0:
            self.tokens = self.burst
        self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate_per_s)
        self.updated = now
        if self.tokens >= 1:
            self.tokens -= 1
            return 0.0
        return (1 - self.tokens) / self.rate_per_s


@dataclass
class AuthPolicy:
    keys: list[ApiKey]
    allow_anonymous: bool = False
    metrics_public: bool = False
    rate_per_min: float = 0.0
    burst: int = 1
    _buckets: dict[str, TokenBucket] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def anonymous(self) -> bool:
        return not self.keys

    def scope_for(self, path: str) -> str | None:
        """Scope a path needs, or None when it is open."""
        if path in OPEN_PATHS or (path == "/metrics" and self.metrics_public):
            return None
        for prefix, scope in SCOPE_BY_PREFIX:
            if path == prefix or path.startswith(prefix + "/"):
                return scope
        return "admin"

    def identify(self, presented: str) -> ApiKey | None:
        digest = hashlib.sha256(presented.encode("utf-8", "surrogateescape")).digest()
        found = None
        for key in self.keys:  # no early exit: the same work whichever key (if any) matches
            if hmac.compare_digest(digest, key.digest):
                found = key
        return found

    def retry_after(self, name: str) -> float:
        if self.rate_per_min <= 0:
            return 0.0
        with self._lock:
            bucket = self._buckets.setdefault(name, TokenBucket(self.rate_per_min / 60, max(1, self.burst)))
            return bucket.take(time.monotonic())


def _presented_key(scope: Scope) -> str | None:
    """The key sent; when several are sent (both headers, or one twice) they must all be the same,
    else an invalid one could hide behind a valid one: "" then (never a valid key)."""
    keys: set[str] = set()
    for name, value in scope.get("headers", ()):
        if name == b"authorization":
            text = value.decode("latin-1").strip()
            keys.add(text[7:].strip() if text[:7].lower() == "bearer " else "")
        elif name == b"x-api-key":
            keys.add(value.decode("latin-1").strip())
    if not keys:
        return None
    return keys.pop() if len(keys) == 1 else ""


async def _deny(send: Send, status: int, detail: str, headers: dict[str, str] | None = None) -> None:
    body = json.dumps({"detail": detail}).encode()
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    raw += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


class AuthMiddleware:
    """Checks every HTTP request against the :class:`AuthPolicy` before the app sees it."""

    def __init__(self, app: ASGIApp, policy: AuthPolicy) -> None:
        self.app = app
        self.policy = policy

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method") == "OPTIONS":  # CORS preflights carry no credentials
            await self.app(scope, receive, send)
            return
        policy = self.policy
        needed = policy.scope_for(scope.get("path", ""))
        if policy.anonymous:
            if not policy.allow_anonymous and _client_is_remote(scope):
                await _deny(send, 403, "this server has no API keys and serves only this machine; the operator must set "
                            "EXTRACTOR_API_KEYS (or EXTRACTOR_ALLOW_ANONYMOUS=true)")
                return
            await self.app(scope, receive, send)
            return
        if needed is None:
            presented = _presented_key(scope)  # optional here: a valid one unlocks /readyz's details
            key = policy.identify(presented) if presented else None
            if key is not None:
                scope.setdefault("state", {})["api_key"] = key.name
            await self.app(scope, receive, send)
            return
        presented = _presented_key(scope)
        key = policy.identify(presented) if presented else None
        if presented == "":
            presented = "invalid"  # an Authorization that is no Bearer key, or two different keys
        if key is None:
            what = "an API key is required" if not presented else "the API key is not valid"
            await _deny(send, 401, f"{what}: send it as 'Authorization: Bearer <key>' or 'X-API-Key: <key>'",
                        {"WWW-Authenticate": "Bearer"})
            return
        if needed not in key.scopes and not (needed == "review" and "admin" in key.scopes):  # admin may review
            await _deny(send, 403, f"this API key lacks the '{needed}' scope needed for {scope.get('path', '')[:100]}")
            return
        wait = policy.retry_after(key.name)
        if wait > 0:
            await _deny(send, 429, f"rate limit of {policy.rate_per_min:g} requests per minute for this key "
                        "(EXTRACTOR_RATE_LIMIT_PER_MIN); retry later", {"Retry-After": str(max(1, math.ceil(wait)))})
            return
        scope.setdefault("state", {})["api_key"] = key.name
        await self.app(scope, receive, send)


def install_security(app: "FastAPI", settings: "Settings") -> AuthPolicy:
    """Add the auth middleware (and CORS when ``EXTRACTOR_CORS_ORIGINS`` is set) to ``app``."""
    keys = load_keys(settings.api_keys, settings.api_keys_file)
    policy = AuthPolicy(
        keys=keys, allow_anonymous=settings.allow_anonymous, metrics_public=settings.metrics_public,
        rate_per_min=settings.rate_limit_per_min, burst=settings.rate_limit_burst,
    )
    app.add_middleware(AuthMiddleware, policy=policy)
    app.state.auth_policy = policy  # /readyz: anonymous mode shows its details to every (local) caller
    document_security(app, policy)
    origins = [o.strip() for o in settings.cors_origins.split(",") if o.strip()]
    if origins:
        from starlette.middleware.cors import CORSMiddleware

        app.add_middleware(
            CORSMiddleware, allow_origins=origins, allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "X-API-Key", "Content-Type"], max_age=600,
        )
    if keys:
        log.info("API keys: %d configured (%s)", len(keys), ", ".join(f"{k.name}={'+'.join(sorted(k.scopes))}" for k in keys))
    elif settings.allow_anonymous:
        log.warning("no API keys configured and EXTRACTOR_ALLOW_ANONYMOUS=true: anyone who reaches this port can use it")
    else:
        log.warning("no API keys configured (EXTRACTOR_API_KEYS): anonymous mode, serving loopback clients only")
    return policy


_AUTH_RESPONSES = {
    "401": {"description": "no API key, or an unknown one (when keys are configured)"},
    "403": {"description": "the API key lacks the scope, or anonymous access from another machine"},
    "429": {"description": "the API key's rate limit; see Retry-After"},
}


def document_security(app: "FastAPI", policy: AuthPolicy) -> None:
    """Put the API keys in the OpenAPI schema: the two ways to send one, and per operation the
    scope it needs and the 401/403/429 answers. Without keys (anonymous mode) none of that is declared."""
    build = app.openapi

    def openapi() -> dict:
        if app.openapi_schema:
            return app.openapi_schema
        schema = build()
        if policy.anonymous:  # no keys configured: nothing asks for credentials, so the schema declares none
            app.openapi_schema = schema
            return schema
        schema.setdefault("components", {})["securitySchemes"] = {
            "bearer": {"type": "http", "scheme": "bearer", "description": "an API key (EXTRACTOR_API_KEYS)"},
            "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key", "description": "an API key"},
        }
        error = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorResponse"}}}
        for path, operations in schema.get("paths", {}).items():
            needed = policy.scope_for(path)
            if needed is None:
                continue
            for operation in operations.values():
                operation["security"] = [{"bearer": []}, {"apiKey": []}]
                operation["description"] = (operation.get("description") or "") + f"\n\nNeeds an API key with the `{needed}` scope."
                for status, answer in _AUTH_RESPONSES.items():
                    has_model = "ErrorResponse" in schema.get("components", {}).get("schemas", {})
                    operation.setdefault("responses", {}).setdefault(status, {**answer, **({"content": error} if has_model else {})})
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def bind_host(requested: str, has_keys: bool, allow_anonymous: bool) -> str:
    """The interface to listen on: without API keys only loopback, unless anonymous access is allowed."""
    if has_keys or allow_anonymous or is_loopback_host(requested):
        return requested
    log.warning(
        "no API keys configured: listening on 127.0.0.1 instead of %s; set EXTRACTOR_API_KEYS (see "
        "`extractor-energy api-key`) or EXTRACTOR_ALLOW_ANONYMOUS=true to serve other machines", requested[:100],
    )
    return "127.0.0.1"


def serving_host(requested: str, settings: Settings) -> str:
    """``bind_host`` for the configured keys (both ``serve`` paths); raises :class:`AuthConfigError`."""
    keys = load_keys(settings.api_keys, settings.api_keys_file)
    return bind_host(requested, bool(keys), settings.allow_anonymous)
