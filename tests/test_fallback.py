"""Fallback adapter (EXTRACTOR_FALLBACK_ADAPTER) and packaged adapters (shipped beside EXTRACTOR_ADAPTERS_DIR)."""

from __future__ import annotations

import shutil

import pytest
from fastapi.testclient import TestClient

from extractor_energy.adapters.registry import FALLBACK_KEY, AdapterRegistry
from extractor_energy.api.app import create_app
from extractor_energy.engine.model import load_model, model_spec

from .conftest import bill_text, install_adapter
from .live_server import test_settings
from .test_text_family import text_pdf

A, B = {"cod_cliente": "111"}, {"cod_cliente": "222"}


def extract(client, concessionaria="CEMIG", uf="MG"):
    r = client.post("/extract", files={"file": ("f.pdf", text_pdf(bill_text(2)))},
                    data={"concessionaria": concessionaria, "uf": uf})
    assert r.status_code == 200, r.text
    return r.json()


def test_key_without_adapter_is_served_by_the_fallback_and_says_so(tiny_text_model_dir, text_adapter_factory, tmp_path):
    adapters = tmp_path / "adapters"
    adapters.mkdir()
    fallback = shutil.copytree(text_adapter_factory(A), tmp_path / "generic")
    install_adapter(text_adapter_factory(B), adapters, "equatorial_go")
    settings = test_settings(tiny_text_model_dir, adapters, fallback_adapter=str(fallback), grounded=False)
    with TestClient(create_app(settings)) as client:
        own = extract(client, "EQUATORIAL", "GO")
        assert (own["adapter"], own["fallback"], own["data"]["cod_cliente"]) == ("equatorial_go", False, "222")
        other = extract(client)
        assert (other["adapter"], other["fallback"], other["data"]["cod_cliente"]) == (FALLBACK_KEY, True, "111")
        assert other["adapter_version"] and [w["code"] for w in other["warnings"]][:1] == ["fallback_adapter"]
        listed = {row["key"]: row for row in client.get("/adapters").json()}
        assert listed[FALLBACK_KEY]["source"] == "fallback" and listed["equatorial_go"]["source"] == "adapters_dir"


def test_an_adapter_in_error_is_named_in_a_warning_not_silently_replaced(tiny_text_model_dir, text_adapter_factory, tmp_path):
    adapters = tmp_path / "adapters"
    broken = install_adapter(text_adapter_factory(B), adapters.mkdir() or adapters, "cemig_mg")
    (broken / "adapter_config.json").write_text("{not json")
    fallback = shutil.copytree(text_adapter_factory(A), tmp_path / "generic")
    for fallback_setting, served in ((str(fallback), "111"), ("none", None)):
        settings = test_settings(tiny_text_model_dir, adapters, fallback_adapter=fallback_setting, grounded=False)
        with TestClient(create_app(settings)) as client:
            body = extract(client)
        warning = next(w for w in body["warnings"] if w["code"] == "adapter_error")
        assert "cemig_mg" in warning["message"]
        if served:
            assert body["fallback"] and body["data"]["cod_cliente"] == served and "fallback adapter" in warning["message"]
        else:
            assert body["adapter"] is None and "base model" in warning["message"]


@pytest.fixture(scope="module")
def text_spec(tiny_text_model_dir):
    return model_spec(load_model(test_settings(tiny_text_model_dir, tiny_text_model_dir)))


def registry(spec, root, packaged):
    return AdapterRegistry(root, spec, max_loaded=4, max_rank=64, allow_base_mismatch=False, stable_s=0.0, packaged=packaged)


def test_packaged_adapters_serve_until_the_adapters_dir_has_the_same_key(text_spec, text_adapter_factory, tmp_path):
    packaged, root = tmp_path / "packaged", tmp_path / "adapters"
    root.mkdir()
    install_adapter(text_adapter_factory(A), packaged.mkdir() or packaged, "equatorial_go")
    reg = registry(text_spec, root, packaged)
    reg.settle()
    shipped = reg.acquire("equatorial_go")
    assert shipped is not None and reg.describe("equatorial_go")["source"] == "packaged"
    install_adapter(text_adapter_factory(B), root, "equatorial_go")
    reg.settle()
    own = reg.acquire("equatorial_go")
    assert own.version != shipped.version and reg.describe("equatorial_go")["source"] == "adapters_dir"
    shutil.rmtree(root / "equatorial_go")
    reg.settle()
    reg.settle()
    assert reg.acquire("equatorial_go").version == shipped.version, "the shipped adapter serves again"
    assert reg.describe("equatorial_go")["source"] == "packaged"
