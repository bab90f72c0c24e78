"""The HTTP service end to end on the tiny model: the contract, inputs, and every bad input."""

from __future__ import annotations

import io
import subprocess
import sys
import zlib
import struct

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from extractor_energy.api.app import create_app
from extractor_energy.domain.schema import ALL_FIELDS

from .conftest import bill_image, jpeg_bytes
from .live_server import test_settings


@pytest.fixture(scope="module")
def client(tiny_model_dir, tmp_path_factory):
    settings = test_settings(tiny_model_dir, tmp_path_factory.mktemp("adapters"), max_upload_mb=1, max_pdf_pages=2)
    with TestClient(create_app(settings)) as c:
        yield c


def post(client, content: bytes, name="fatura.jpg", concessionaria="EQUATORIAL", uf="GO", path="/extract"):
    data = {k: v for k, v in (("concessionaria", concessionaria), ("uf", uf)) if v is not None}
    return client.post(path, files={"file": (name, content, "application/octet-stream")}, data=data)


def png_bytes(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


def pdf_bytes(pages: int) -> bytes:
    import pypdfium2 as pdfium

    doc = pdfium.PdfDocument.new()
    for _ in range(pages):
        doc.new_page(595, 842)
    buf = io.BytesIO()
    doc.save(buf)
    return buf.getvalue()


def test_extract_returns_full_contract(client):
    r = post(client, jpeg_bytes(bill_image(1)))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["key"] == "equatorial_go" and body["concessionaria"] == "EQUATORIAL" and body["uf"] == "GO"
    assert body["adapter"] is None and body["adapter_version"] is None
    assert body["pages"] == 1
    assert set(body["data"]) == set(ALL_FIELDS)
    assert isinstance(body["data"]["consumo_lista"], list) and isinstance(body["data"]["baixa_renda"], bool)
    assert isinstance(body["warnings"], list) and set(body["timings_ms"]) >= {"decode", "generate", "total"}
    assert body["tokens_generated"] >= 1


def test_alias_path_and_key_normalisation(client):
    r = post(client, png_bytes(bill_image(2)), name="x.png", concessionaria="Cemig Distribuição", uf="mg", path="/extract/energy")
    assert r.status_code == 200, r.text
    assert r.json()["key"] == "cemig_mg"


@pytest.mark.parametrize("mode", ["RGBA", "P", "L"])
def test_png_modes_accepted(client, mode):
    img = bill_image(3).convert(mode)
    assert post(client, png_bytes(img), name="s.png").status_code == 200


def test_multi_page_pdf_goes_to_model_together(client):
    r = post(client, pdf_bytes(2), name="fatura.pdf")
    assert r.status_code == 200, r.text
    assert r.json()["pages"] == 2


def _bomb_png() -> bytes:
    """A valid small PNG whose header claims 30000 x 30000 pixels."""
    raw = png_bytes(Image.new("L", (1, 1)))
    ihdr = struct.pack(">IIBBBBB", 30000, 30000, 8, 0, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    return raw[:8] + struct.pack(">I", 13) + chunk + struct.pack(">I", zlib.crc32(chunk)) + raw[33:]


def _encrypted_pdf() -> bytes:
    from .test_documents import half_black, make_pdf  # a real RC4-encrypted PDF, written by hand

    return make_pdf([half_black()], user_password="segredo")


@pytest.mark.parametrize(
    ("case", "status", "needle"),
    [
        ("empty", 422, "empty"),
        ("not_image", 415, "JPEG"),
        ("truncated", 422, "truncated"),
        ("bomb", 413, "pixels"),
        ("too_big", 413, "MB"),
        ("too_many_pages", 422, "pages"),
        ("broken_pdf", 422, "PDF"),
        ("missing_concessionaria", 422, "concessionaria"),
        ("missing_uf", 422, "uf"),
        ("unknown_uf", 422, "unknown uf"),
        ("path_trick", 422, "not allowed"),
        ("slash", 422, "not allowed"),
        ("nul", 422, "not allowed"),
    ],
)
def test_bad_input_gets_clear_4xx(client, case, status, needle):
    good = jpeg_bytes(bill_image(4))
    kwargs = {}
    content = good
    if case == "empty":
        content = b""
    elif case == "not_image":
        content = b"hello, this is a text file" * 10
    elif case == "truncated":
        content = good[: len(good) // 2]
    elif case == "bomb":
        content = _bomb_png()
    elif case == "too_big":
        content = good + b"\0" * (1024 * 1024 + 10)
    elif case == "too_many_pages":
        content = pdf_bytes(3)
    elif case == "broken_pdf":
        content = b"%PDF-1.7\n1 0 obj << /Type /Catalog >> garbage"
    elif case == "missing_concessionaria":
        kwargs["concessionaria"] = None
    elif case == "missing_uf":
        kwargs["uf"] = None
    elif case == "unknown_uf":
        kwargs["uf"] = "XX"
    elif case == "path_trick":
        kwargs["concessionaria"] = "../../etc"
    elif case == "slash":
        kwargs["concessionaria"] = "equatorial/go"
    elif case == "nul":
        kwargs["concessionaria"] = "equatorial\x00"
    r = post(client, content, **kwargs)
    assert r.status_code == status, (case, r.status_code, r.text)
    assert needle.lower() in r.json()["detail"].lower()
    # the server keeps serving
    assert post(client, good).status_code == 200


def test_encrypted_pdf_is_refused(client):
    content = _encrypted_pdf()
    r = post(client, content, name="locked.pdf")
    assert r.status_code == 422 and "password" in r.json()["detail"]


def test_missing_file_field(client):
    r = client.post("/extract", data={"concessionaria": "EQUATORIAL", "uf": "GO"})
    assert r.status_code == 422 and "file" in r.json()["detail"]


def test_health_ready_adapters_docs(client):
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["status"] == "ready"
    assert client.get("/adapters").json() == []
    schema = client.get("/openapi.json").json()
    props = schema["components"]["schemas"]["BillData"]["properties"]
    assert set(props) == set(ALL_FIELDS) and all(p.get("description") for p in props.values())
    assert "/extract" in schema["paths"] and client.get("/docs").status_code == 200


def test_metrics_exported(client):
    post(client, jpeg_bytes(bill_image(5)))
    text = client.get("/metrics").text
    for name in ("extractor_batch_size", "extractor_queue_depth", "extractor_generation_seconds", "extractor_generated_tokens_total"):
        assert name in text


def test_serve_fails_with_one_clear_line_when_model_missing(tmp_path):
    env = {"EXTRACTOR_MODEL": str(tmp_path / "no-such-model"), "HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"}
    proc = subprocess.run(
        [sys.executable, "-m", "extractor_energy.cli.main", "serve", "--port", "0"],
        capture_output=True, text=True, timeout=120, env={**__import__("os").environ, **env},
    )
    assert proc.returncode == 2
    lines = [line for line in proc.stderr.strip().splitlines() if line.startswith("extractor-energy:")]
    assert len(lines) == 1 and "EXTRACTOR_MODEL" in lines[0]
    assert "Traceback" not in proc.stderr


def test_uvicorn_main_app_start_up_failure_is_one_line(tmp_path):
    import os
    from pathlib import Path

    env = {**os.environ, "EXTRACTOR_MODEL": str(tmp_path / "missing"), "HF_HUB_OFFLINE": "1"}
    root = Path(__file__).resolve().parents[1]
    proc = subprocess.run(
        [sys.executable, "-m", "uvicorn", "--app-dir", str(root), "main:app", "--port", "0"],
        capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path,
    )
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("ERROR")]
    assert any("EXTRACTOR_MODEL" in line and "no such local directory" in line for line in errors), proc.stderr


def test_metrics_count_requests_by_status_and_key_and_time_them(client):
    assert post(client, jpeg_bytes(bill_image(6)), concessionaria="LIGHT", uf="RJ").status_code == 200
    assert post(client, b"", concessionaria="LIGHT", uf="RJ").status_code == 422
    text = client.get("/metrics").text
    assert 'extractor_requests_total{key="light_rj",status="200"} 1.0' in text
    assert 'extractor_requests_total{key="light_rj",status="422"} 1.0' in text
    count = [line for line in text.splitlines() if line.startswith("extractor_request_seconds_count")]
    assert count and float(count[0].split()[-1]) >= 1


def test_adapter_rows_skip_the_response_model_but_keep_its_json_shape():
    """GET /adapters sends the registry's rows as they are: every AdapterInfo field, in its order,
    null where the row has none (what the response model used to fill in), and still valid."""
    import json

    from extractor_energy.api.routes_adapters import _rows
    from extractor_energy.api.schemas import AdapterInfo

    bad = {"key": "x_go", "state": "error", "error": "adapter_config.json is missing"}
    good = {"key": "cemig_mg", "state": "ready", "path": "cemig_mg", "error": None, "source": "adapters_dir",
            "version": "abc", "rank": 8, "alpha": 16.0, "size_bytes": 10, "target_modules": ["q_proj"], "base_model": "m",
            "metadata": None, "loaded": True, "loaded_at": 1.0, "last_used": 2.0, "request_count": 3, "in_flight": 0}
    rows = json.loads(_rows([bad, good]).body)
    for row in rows:
        assert list(row) == list(AdapterInfo.model_fields)
        assert AdapterInfo.model_validate(row).model_dump(mode="json") == row
    assert rows[0]["version"] is None and rows[0]["error"] == "adapter_config.json is missing"


# ---------------------------------------------------------------- issue 23, items 4 and 7
def test_openapi_uf_is_the_enum_of_the_27_states_and_lower_case_still_works(client):
    from extractor_energy.domain.keys import UFS

    schema = client.get("/openapi.json").json()
    body_ref = schema["paths"]["/extract"]["post"]["requestBody"]["content"]["multipart/form-data"]["schema"]["$ref"]
    uf = schema["components"]["schemas"][body_ref.rsplit("/", 1)[-1]]["properties"]["uf"]
    assert uf["enum"] == list(UFS) and len(uf["enum"]) == 27, uf
    assert post(client, jpeg_bytes(bill_image(4)), uf=" go ").status_code == 200  # the server stays lenient


def test_no_answer_discloses_the_model_path(tiny_model_dir, adapter_factory, tmp_path):
    """/extract's model, /adapters' base_model (config and metadata) and /readyz show a name, never the path."""
    import json

    from .conftest import install_adapter

    adapters = tmp_path / "adapters"
    folder = install_adapter(adapter_factory({"cod_cliente": "111"}), adapters, "equatorial_go")
    assert str(tiny_model_dir) in (folder / "adapter_config.json").read_text()  # trained on the local folder
    (folder / "extractor_metadata.json").write_text(json.dumps({"base_model": str(tiny_model_dir), "fields": ["cod_cliente"]}))
    with TestClient(create_app(test_settings(tiny_model_dir, adapters))) as c:
        answers = {"extract": post(c, jpeg_bytes(bill_image(1))), "adapters": c.get("/adapters"), "readyz": c.get("/readyz")}
    for what, r in answers.items():
        assert r.status_code == 200, (what, r.text)
        assert str(tiny_model_dir.parent) not in r.text and "/tmp" not in r.text, (what, r.text[:500])
    assert answers["extract"].json()["model"] == tiny_model_dir.name
    assert answers["readyz"].json()["model"] == tiny_model_dir.name
    row = answers["adapters"].json()[0]
    assert row["state"] in ("ready", "unloaded") and row["base_model"] == tiny_model_dir.name
    assert row["metadata"]["base_model"] == tiny_model_dir.name


def test_public_model_name_keeps_hub_ids_and_drops_paths(tmp_path):
    from extractor_energy.engine.model import public_model_name

    assert public_model_name("Qwen/Qwen2.5-VL-3B-Instruct") == "Qwen/Qwen2.5-VL-3B-Instruct"
    assert public_model_name("/srv/models/qwen-ft/") == "qwen-ft"
    assert public_model_name("~/models/tiny") == "tiny" and public_model_name("./models/tiny") == "tiny"
    assert public_model_name("/h/hub/models--HuggingFaceTB--SmolLM2-135M-Instruct/snapshots/0a1b") == "HuggingFaceTB/SmolLM2-135M-Instruct"
    (tmp_path / "models" / "mine").mkdir(parents=True)
    import os

    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        assert public_model_name("models/mine") == "mine"  # a relative folder that exists
    finally:
        os.chdir(cwd)
