"""Provenance in the response model (issue 20): ``sources`` and ``page_sizes`` survive the response
model, are typed in the Python client and are documented in the OpenAPI schema."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import ValidationError

from extractor_energy.api.app import create_app
from extractor_energy.api.schemas import ExtractResponse, FieldSource
from extractor_energy.client import Extraction

from .live_server import test_settings

SOURCES = {
    "valor_fatura": {"page": 1, "box": [812.0, 1402.5, 968.0, 1431.0], "text": "R$ 396,89"},
    "vencimento": None,  # answered, but not located on the page
    "consumo_lista": [{"page": 1, "box": [40, 1800, 400, 1822], "text": "04/2025 | 340"}, None],
}


def envelope(**extra) -> dict:
    return {
        "key": "equatorial_go", "concessionaria": "EQUATORIAL", "uf": "GO", "adapter": None, "adapter_version": None,
        "model": "m", "model_family": "text", "pages": 1, "data": {}, "confidence": {}, "requires_review": False,
        "warnings": [], "timings_ms": {"decode": 0, "queue": 0, "preprocess": 0, "generate": 0, "total": 0},
        "batch_size": 1, "tokens_generated": 1, **extra,
    }


def test_the_response_model_passes_sources_and_page_sizes_through():
    """/extract filters its answer through ExtractResponse: keys the model lacks never reach the client."""
    app = FastAPI()

    @app.get("/x", response_model=ExtractResponse)
    def answer() -> dict:
        return envelope(sources=SOURCES, page_sizes=[[1240, 1754]])

    body = TestClient(app).get("/x").json()
    assert body["page_sizes"] == [[1240, 1754]]
    assert body["sources"]["valor_fatura"] == {"page": 1, "box": [812.0, 1402.5, 968.0, 1431.0], "text": "R$ 396,89"}
    assert body["sources"]["vencimento"] is None
    assert body["sources"]["consumo_lista"] == [{"page": 1, "box": [40.0, 1800.0, 400.0, 1822.0], "text": "04/2025 | 340"},
                                                None]


def test_client_types_sources_and_reads_an_older_server():
    typed = Extraction.model_validate(envelope(sources=SOURCES, page_sizes=[[1240, 1754]]))
    assert isinstance(typed.sources["valor_fatura"], FieldSource) and typed.sources["valor_fatura"].text == "R$ 396,89"
    assert typed.sources["consumo_lista"][0].box == [40.0, 1800.0, 400.0, 1822.0]
    old = Extraction.model_validate(envelope())  # a server from before provenance
    assert old.sources == {} and old.page_sizes == []


@pytest.mark.parametrize("bad", [
    {"page": 0, "box": [0, 0, 1, 1], "text": "x"},  # pages are 1-based
    {"page": 1, "box": [0, 0, 1], "text": "x"},  # a box is four numbers
    {"page": 1, "box": [0, 0, 1, 1]},  # the printed text is part of the source
])
def test_a_malformed_source_is_refused(bad):
    with pytest.raises(ValidationError):
        ExtractResponse.model_validate(envelope(sources={"valor_fatura": bad}))
    with pytest.raises(ValidationError):
        ExtractResponse.model_validate(envelope(page_sizes=[[1240]]))


def test_openapi_documents_sources(tmp_path):
    schema = create_app(test_settings(tmp_path / "no-model", tmp_path / "adapters")).openapi()
    components = schema["components"]["schemas"]
    source = components["FieldSource"]
    assert source["required"] == ["page", "box", "text"]
    assert all(p.get("description") for p in source["properties"].values())
    assert "1-based" in source["properties"]["page"]["description"]
    box = source["properties"]["box"]
    assert box["minItems"] == box["maxItems"] == 4 and "pixels" in box["description"] and "upright" in box["description"]
    props = components["ExtractResponse"]["properties"]
    values = props["sources"]["additionalProperties"]["anyOf"]
    assert {"$ref": "#/components/schemas/FieldSource"} in values
    assert {"type": "null"} in values
    lists = next(v for v in values if v.get("type") == "array")
    assert {"$ref": "#/components/schemas/FieldSource"} in lists["items"]["anyOf"]
    assert "consumo_lista" in props["sources"]["description"] and "page_sizes" in props["sources"]["description"]
    assert props["page_sizes"]["items"]["minItems"] == 2 and "width" in props["page_sizes"]["description"]
