"""API keys with scopes, open health endpoints, per-key rate limit, CORS, and the anonymous
loopback-only mode (issue 13, item 2)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from extractor_energy.api.app import create_app
from extractor_energy.api.auth import AuthConfigError, bind_host, hash_key, load_keys

from .conftest import bill_image, jpeg_bytes
from .live_server import test_settings

EXTRACT_KEY, ADMIN_KEY = "ee_extract-test-key-0123456789", "ee_admin-test-key-0123456789"
KEYS = f"client:extract:{hash_key(EXTRACT_KEY)}, ops:admin:{hash_key(ADMIN_KEY)}"
IMAGE = jpeg_bytes(bill_image(2))


@pytest.fixture(scope="module")
def loaded(tiny_model_dir, tmp_path_factory):
    from extractor_energy.engine.model import load_model

    return load_model(test_settings(tiny_model_dir, tmp_path_factory.mktemp("unused")))


@pytest.fixture
def make_client(loaded, tiny_model_dir, tmp_path):
    clients = []

    def make(client_addr: tuple[str, int] = ("127.0.0.1", 50000), **overrides) -> TestClient:
        settings = test_settings(tiny_model_dir, tmp_path / "adapters", **overrides)
        client = TestClient(create_app(settings, loaded), client=client_addr)
        clients.append(client.__enter__())
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)


def _extract(client: TestClient, headers: dict[str, str] | None = None):
    return client.post(
        "/extract", files={"file": ("f.jpg", IMAGE)}, data={"concessionaria": "ENEL", "uf": "RJ"}, headers=headers or {}
    )


def test_keys_scopes_and_open_endpoints(make_client):
    c = make_client(api_keys=KEYS)
    assert c.get("/healthz").status_code == 200 and c.get("/readyz").status_code == 200
    r = _extract(c)
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer" and "API key" in r.json()["detail"]
    assert _extract(c, {"Authorization": "Bearer wrong"}).status_code == 401
    assert _extract(c, {"Authorization": f"Bearer {EXTRACT_KEY}"}).status_code == 200
    assert _extract(c, {"X-API-Key": EXTRACT_KEY}).status_code == 200
    assert _extract(c, {"X-API-Key": ADMIN_KEY}).status_code == 403  # admin does not imply extract
    for method, path in (("GET", "/adapters"), ("GET", "/adapters/enel_rj"), ("POST", "/adapters/reload"), ("GET", "/metrics")):
        assert c.request(method, path).status_code == 401, path
        r = c.request(method, path, headers={"X-API-Key": EXTRACT_KEY})
        assert r.status_code == 403 and "admin" in r.json()["detail"], path
        assert c.request(method, path, headers={"X-API-Key": ADMIN_KEY}).status_code in (200, 404), path


def test_metrics_can_be_public(make_client):
    c = make_client(api_keys=KEYS, metrics_public=True)
    assert c.get("/metrics").status_code == 200
    assert c.get("/adapters").status_code == 401


def test_rate_limit_per_key_answers_429_with_retry_after(make_client):
    c = make_client(api_keys=KEYS, rate_limit_per_min=1, rate_limit_burst=2)
    admin = {"Authorization": f"Bearer {ADMIN_KEY}"}
    assert [c.get("/adapters", headers=admin).status_code for _ in range(2)] == [200, 200]
    r = c.get("/adapters", headers=admin)
    assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1 and "rate limit" in r.json()["detail"]
    assert _extract(c, {"X-API-Key": EXTRACT_KEY}).status_code == 200  # another key has its own bucket


def test_cors_is_off_unless_origins_are_set(make_client):
    preflight = {"Origin": "https://ui.example", "Access-Control-Request-Method": "POST"}
    off = make_client(api_keys=KEYS)
    assert "access-control-allow-origin" not in off.options("/extract", headers=preflight).headers
    on = make_client(api_keys=KEYS, cors_origins="https://ui.example")
    assert on.options("/extract", headers=preflight).headers["access-control-allow-origin"] == "https://ui.example"
    evil = {**preflight, "Origin": "https://evil.example"}
    assert "access-control-allow-origin" not in on.options("/extract", headers=evil).headers


def test_without_keys_only_loopback_clients_are_served(make_client):
    assert make_client().get("/adapters").status_code == 200  # loopback, the default `serve`
    remote = make_client(client_addr=("203.0.113.7", 40000))
    r = remote.get("/adapters")
    assert r.status_code == 403 and "EXTRACTOR_API_KEYS" in r.json()["detail"]
    assert remote.get("/healthz").status_code == 403
    assert make_client(client_addr=("203.0.113.7", 40000), allow_anonymous=True).get("/adapters").status_code == 200
    assert make_client(client_addr=("::ffff:127.0.0.1", 40000)).get("/adapters").status_code == 200  # dual-stack loopback
    assert make_client(client_addr=("::ffff:203.0.113.7", 40000)).get("/adapters").status_code == 403


def test_bind_host_and_key_parsing():
    assert bind_host("0.0.0.0", has_keys=False, allow_anonymous=False) == "127.0.0.1"
    assert bind_host("0.0.0.0", has_keys=True, allow_anonymous=False) == "0.0.0.0"
    assert bind_host("0.0.0.0", has_keys=False, allow_anonymous=True) == "0.0.0.0"
    assert bind_host("::1", has_keys=False, allow_anonymous=False) == "::1"
    keys = load_keys(KEYS, None)
    assert [(k.name, sorted(k.scopes)) for k in keys] == [("client", ["extract"]), ("ops", ["admin"])]
    assert EXTRACT_KEY not in repr(keys)  # only hashes are held
    with pytest.raises(AuthConfigError, match="scope"):
        load_keys(f"root:{hash_key('x')}", None)
    with pytest.raises(AuthConfigError, match="api-key"):
        load_keys("extract:plain-text-key", None)


# ---------------------------------------------------------------- issue 23, items 5 and 7
def test_openapi_declares_credentials_only_when_keys_are_configured(make_client):
    schema = make_client().get("/openapi.json").json()  # anonymous mode: nothing asks for a key
    assert "securitySchemes" not in schema.get("components", {})
    for path, operations in schema["paths"].items():
        for operation in operations.values():
            assert "security" not in operation and "401" not in operation.get("responses", {}), path
            assert "Needs an API key" not in operation.get("description", ""), path
    schema = make_client(api_keys=KEYS).get("/openapi.json").json()
    assert set(schema["components"]["securitySchemes"]) == {"bearer", "apiKey"}
    assert schema["paths"]["/extract"]["post"]["security"] == [{"bearer": []}, {"apiKey": []}]
    assert "security" not in schema["paths"]["/readyz"]["get"]


def test_readyz_details_only_for_a_valid_key_when_keys_are_configured(make_client, tiny_model_dir):
    c = make_client(api_keys=KEYS)
    anonymous = c.get("/readyz")
    assert anonymous.status_code == 200 and anonymous.json() == {"status": "ready"}
    assert c.get("/readyz", headers={"X-API-Key": "wrong"}).json() == {"status": "ready"}
    for key in (EXTRACT_KEY, ADMIN_KEY):  # any scope sees the details
        body = c.get("/readyz", headers={"Authorization": f"Bearer {key}"}).json()
        assert body["status"] == "ready" and body["model"] == tiny_model_dir.name and "queue_depth" in body, body
    body = make_client().get("/readyz").json()  # anonymous mode serves only this machine: details for everyone
    assert body["model"] == tiny_model_dir.name and "/" not in body["model"]
