"""/docs and /redoc work without internet: every asset they load comes from this server, with or without API keys."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from extractor_energy.api.app import create_app
from extractor_energy.api.auth import hash_key

from .live_server import test_settings


def client(tmp_path, **overrides) -> TestClient:
    # no lifespan (no `with`): the docs need no model
    return TestClient(create_app(test_settings(tmp_path / "no-model", tmp_path / "adapters", **overrides)))


def test_docs_pages_load_only_local_assets_and_are_open_with_keys(tmp_path):
    c = client(tmp_path, api_keys=f"billing:extract:{hash_key('ee_k')}")
    for page in ("/docs", "/redoc"):
        r = c.get(page)
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
        urls = re.findall(r"""(?:src|href)=["']([^"']+)["']|url: ?["']([^"']+)["']""", r.text)
        urls = [u for pair in urls for u in pair if u]
        assert urls and not [u for u in urls if "://" in u or u.startswith("//")], urls  # nothing from a CDN
        for url in urls:
            asset = c.get(url)
            assert asset.status_code == 200, url
            if url.endswith(".js"):
                assert len(asset.content) > 500_000 and "javascript" in asset.headers["content-type"]
    assert c.get("/openapi.json").json()["openapi"].startswith("3.")
    assert c.get("/docs/assets/nothing.js").status_code == 401  # only the known assets are open
    assert c.get("/docs/assets/nothing.js", headers={"X-API-Key": "ee_k"}).status_code == 403  # admin-only like any other route


def test_unknown_asset_is_404_in_anonymous_mode(tmp_path):
    assert client(tmp_path).get("/docs/assets/../../etc/passwd").status_code == 404
    assert client(tmp_path).get("/docs/assets/swagger-ui.css").headers["content-type"].startswith("text/css")
