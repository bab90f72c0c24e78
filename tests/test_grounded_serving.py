"""The text family reads every value off the page (grounded) and says where it read it."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from extractor_energy.api.app import create_app

from .conftest import bill_text, jpeg_bytes
from .live_server import test_settings
from .test_text_family import text_pdf


@pytest.fixture(scope="module")
def grounded_client(tiny_text_model_dir, tmp_path_factory):
    settings = test_settings(tiny_text_model_dir, tmp_path_factory.mktemp("adapters"))
    with TestClient(create_app(settings)) as c:
        yield c


def post(client, content: bytes, name: str):
    return client.post("/extract", files={"file": (name, content)}, data={"concessionaria": "EQUATORIAL", "uf": "GO"})


def test_values_are_read_off_the_page_with_their_sources(grounded_client):
    r = post(grounded_client, text_pdf(bill_text(5)), "fatura.pdf")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["extraction"] == "grounded" and body["tokens_generated"] == 0
    data = body["data"]
    assert (data["num_instalacao"], data["mes_referencia"], data["valor_fatura"], data["vencimento"]) == \
        ("1005", "06/2025", 15.45, "10/06/2025")
    (width, height), = body["page_sizes"]
    for field in ("num_instalacao", "mes_referencia", "valor_fatura", "vencimento"):
        source = body["sources"][field]
        x0, y0, x1, y1 = source["box"]
        assert source["page"] == 1 and 0 <= x0 < x1 <= width and 0 <= y0 < y1 <= height
    assert body["sources"]["valor_fatura"]["text"] == "R$ 15,45"
    assert body["sources"]["vencimento"]["text"] == "10/06/2025"
    assert set(body["sources"]) <= {k for k, v in data.items() if v not in (None, False, [])}


def test_a_page_without_values_gives_nulls_not_guesses(grounded_client):
    r = post(grounded_client, text_pdf("FATURA DE ENERGIA\nOBRIGADO POR SER NOSSO CLIENTE"), "fatura.pdf")
    assert r.status_code == 200, r.text
    body = r.json()
    assert {k: v for k, v in body["data"].items() if v not in (None, False, [])} == {}
    assert body["sources"] == {}


def test_a_blank_photo_is_the_empty_contract_with_page_unreadable(grounded_client):
    from PIL import Image

    r = post(grounded_client, jpeg_bytes(Image.new("RGB", (400, 560), "white")), "blank.jpg")
    assert r.status_code == 200, r.text
    body = r.json()
    assert [w["code"] for w in body["warnings"]] == ["page_unreadable"]
    assert {k: v for k, v in body["data"].items() if v not in (None, False, [])} == {}


def test_generative_path_stays_available(tiny_text_model_dir, tmp_path):
    settings = test_settings(tiny_text_model_dir, tmp_path, grounded=False)
    with TestClient(create_app(settings)) as client:
        body = post(client, text_pdf(bill_text(5)), "fatura.pdf").json()
    assert body["extraction"] == "generative" and body["tokens_generated"] > 0
    for field, value in body["data"].items():  # whatever the random model wrote: a source only where it is on the page
        source = body["sources"].get(field)
        if source is not None:
            assert source["page"] == 1
