"""Error bodies say what was wrong in the user's terms: no reprs, addresses, paths or internal
names, and echoed input cut to about 100 characters (issue 13, item 10)."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from extractor_energy.api.app import create_app
from extractor_energy.api.public_text import public_detail

from .conftest import bill_image, jpeg_bytes
from .live_server import test_settings

LEAKS = re.compile(r"0x[0-9a-f]{6,}|<_io\.|object at|Traceback|/tmp/|__[0-9a-f]{12}__")


@pytest.fixture(scope="module")
def client(tiny_model_dir, tmp_path_factory):
    with TestClient(create_app(test_settings(tiny_model_dir, tmp_path_factory.mktemp("adapters")))) as c:
        yield c


def _post(client, content=b"", name="f.jpg", concessionaria="EQUATORIAL", uf="GO"):
    return client.post(
        "/extract", files={"file": (name, content, "image/jpeg")}, data={"concessionaria": concessionaria, "uf": uf}
    )


@pytest.mark.parametrize(
    ("case", "status", "needle"),
    [
        ("unidentified_jpeg", 422, "corrupt"),
        ("huge_uf", 422, "uf: String should have at most 32 characters"),
        ("long_uf", 422, "unknown uf"),
        ("huge_concessionaria_symbols", 422, "at most 80 characters"),
        ("long_concessionaria_symbols", 422, "at least one letter or digit"),
        ("huge_filename", 422, "corrupt"),
    ],
)
def test_error_bodies_leak_nothing_and_echo_little(client, case, status, needle):
    junk = b"\xff\xd8\xff" + b"junk" * 10
    kwargs: dict = {"content": jpeg_bytes(bill_image(1))}
    if case == "unidentified_jpeg":
        kwargs["content"] = junk
    elif case == "huge_uf":
        kwargs["uf"] = "Z" * 500_000
    elif case == "long_uf":
        kwargs["uf"] = "Z" * 32
    elif case == "huge_concessionaria_symbols":
        kwargs["concessionaria"] = "!" * 5_000
    elif case == "long_concessionaria_symbols":
        kwargs["concessionaria"] = "!" * 80
    elif case == "huge_filename":
        kwargs.update(content=junk, name="a" * 600 + ".jpg")
    r = _post(client, **kwargs)
    detail = r.json()["detail"]
    assert r.status_code == status and needle in detail, (r.status_code, detail[:300])
    assert not LEAKS.search(detail), detail
    assert len(detail) < 400, len(detail)


def test_unknown_adapter_404_echoes_little(client):
    r = client.get("/adapters/" + "x" * 5_000)
    assert r.status_code == 404 and len(r.json()["detail"]) < 300


def test_public_detail_strips_internals():
    text = public_detail(
        "boom <_io.BytesIO object at 0x7f32bbf376a0> at /srv/models/qwen/config.json for equatorial_go__3f2a9c1b7d0e__12"
    )
    assert not LEAKS.search(text) and "/srv" not in text and "equatorial_go" in text
    assert public_detail("upload a JPEG/PNG for 07/2025") == "upload a JPEG/PNG for 07/2025"


def test_metric_key_labels_stay_bounded(client):
    """Junk utility names (even in rejected requests) go to one 'other' series (issue 13, item 5)."""
    for i in range(30):
        assert _post(client, b"", concessionaria=f"junk utility {i}", uf="SP").status_code == 422
    assert _post(client, b"", concessionaria="LIGHT", uf="RJ").status_code == 422
    text = client.get("/metrics").text
    series = [line for line in text.splitlines() if line.startswith("extractor_requests_total{")]
    assert not any("junk" in line for line in series), series
    assert 'extractor_requests_total{key="other",status="422"} 30.0' in text
    assert 'key="light_rj",status="422"' in text


@pytest.mark.parametrize("size", [(2000, 8), (8, 2000), (5100, 100)])
def test_impossible_page_geometry_is_422_not_503(client, size):
    """A page no bill can have is refused when decoding, with no Retry-After (issue 13, item 7)."""
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", size, "white").save(buf, "PNG")
    r = _post(client, buf.getvalue(), name="strip.png")
    assert r.status_code == 422 and "aspect ratio" in r.json()["detail"], r.text
    assert "retry-after" not in r.headers


def test_url_encoded_form_gets_an_actionable_422_without_a_repr(client):
    """``file=x&concessionaria=a&uf=GO`` as application/x-www-form-urlencoded (issue 23, item 6)."""
    r = client.post("/extract", content=b"file=x&concessionaria=a&uf=GO",
                    headers={"content-type": "application/x-www-form-urlencoded"})
    detail = r.json()["detail"]
    assert r.status_code == 422, r.text
    assert "<class" not in detail and "UploadFile" not in detail and not LEAKS.search(detail), detail
    assert "multipart/form-data" in detail and "curl -F file=@" in detail, detail


def test_public_detail_drops_class_reprs():
    assert public_detail("Expected UploadFile, received: <class 'str'>") == "Expected UploadFile, received: str"
