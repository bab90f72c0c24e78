"""Review queue and /ui/api: requires_review answers are kept, corrected, and saved as training rows."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from extractor_energy.api.app import create_app
from extractor_energy.api.auth import hash_key
from extractor_energy.training.datasets import prepare_dataset
from extractor_energy.documents.decode import DocumentLimits

from .conftest import bill_image, jpeg_bytes
from .live_server import test_settings

ADMIN = {"X-API-Key": "ee_admin"}
EXTRACT = {"Authorization": "Bearer ee_extract"}
REVIEW = {"X-API-Key": "ee_review"}
KEYS = f"ops:admin:{hash_key('ee_admin')}, billing:extract:{hash_key('ee_extract')}, ana:review:{hash_key('ee_review')}"


@pytest.fixture(scope="module")
def served(tiny_model_dir, tmp_path_factory):
    root = tmp_path_factory.mktemp("review")
    # review threshold 1.0: every answer of the random model needs review, so it is queued
    settings = test_settings(tiny_model_dir, root / "adapters", review_dir=root / "review", api_keys=KEYS,
                             review_threshold=1.0)
    with TestClient(create_app(settings)) as client:
        yield client, root / "review"


def extract(client, seed=1) -> dict:
    r = client.post("/extract", headers=EXTRACT, files={"file": ("f.jpg", jpeg_bytes(bill_image(seed)), "image/jpeg")},
                    data={"concessionaria": "EQUATORIAL", "uf": "GO"})
    assert r.status_code == 200, r.text
    return r.json()


def queued(client) -> list[dict]:
    r = client.get("/ui/api/queue", headers=ADMIN)
    assert r.status_code == 200, r.text
    return r.json()["items"]


def test_page_is_open_and_strict_but_the_api_needs_admin(served):
    client, _ = served
    page = client.get("/ui")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert client.get("/ui/review.js").status_code == 200 and client.get("/ui/review.css").status_code == 200
    assert client.get("/ui/api/queue").status_code == 401
    assert client.get("/ui/api/queue", headers=EXTRACT).status_code == 403
    assert client.get("/ui/api/queue", headers=REVIEW).status_code == 200  # the review scope: the review API only
    assert client.get("/adapters", headers=REVIEW).status_code == 403
    assert client.post("/extract", headers=REVIEW, data={"uf": "GO"}).status_code == 403


def test_requires_review_answer_is_queued_corrected_and_saved_for_training(served):
    client, review_dir = served
    answer = extract(client, seed=2)
    assert answer["requires_review"] is True
    item = next(i for i in queued(client) if i["key"] == "equatorial_go")
    detail = client.get(f"/ui/api/items/{item['id']}", headers=ADMIN).json()
    assert detail["envelope"]["data"] == answer["data"] and "valor_fatura" in detail["fields"]
    page = client.get(f"/ui/api/items/{item['id']}/pages/1", headers=ADMIN)
    assert page.status_code == 200 and page.content.startswith(b"\x89PNG")
    assert client.get(f"/ui/api/items/{item['id']}/pages/2", headers=ADMIN).status_code == 404

    bad = client.post(f"/ui/api/items/{item['id']}", headers=ADMIN,
                      json={"data": {"vencimento": "31/02/2025", "no_such_field": 1}})
    assert bad.status_code == 422 and "no_such_field" in bad.json()["detail"]

    corrected = {"num_instalacao": "9876543", "mes_referencia": "7/2025", "vencimento": "15/08/2025",
                 "valor_fatura": "R$ 1.234,56", "nome_cliente": "<script>alert(1)</script>"}
    r = client.post(f"/ui/api/items/{item['id']}", headers=REVIEW, json={"data": corrected})
    assert r.status_code == 200, r.text
    assert r.json()["annotations"] == "equatorial_go/annotations.jsonl"
    rows = [json.loads(line) for line in (review_dir / "equatorial_go" / "annotations.jsonl").read_text().splitlines()]
    row = rows[-1]
    assert row["json"]["valor_fatura"] == 1234.56 and row["json"]["mes_referencia"] == "07/2025"
    assert row["json"]["nome_cliente"] == "<script>alert(1)</script>" and row["review"]["reviewer"] == "ana"
    assert (review_dir / "equatorial_go" / row["image"]).read_bytes()[:3] == b"\xff\xd8\xff"
    assert item["id"] not in [i["id"] for i in queued(client)]
    assert client.get(f"/ui/api/items/{item['id']}", headers=ADMIN).status_code == 404

    # the existing training script reads the review folder as it is
    result = prepare_dataset(review_dir, "EQUATORIAL", "GO", review_dir.parent / "dataset", page_text=False,
                             limits=DocumentLimits(pdf_dpi=72, model_max_pixels=256 * 256))
    assert result.usable >= 1 and result.summary["counts"]["rejected"] == 0


def test_upload_discard_and_bad_ids(served):
    client, _ = served
    r = client.post("/ui/api/upload", headers=ADMIN, files={"file": ("x.png", jpeg_bytes(bill_image(4)), "image/png")},
                    data={"concessionaria": "cemig-d", "uf": "mg"})
    assert r.status_code == 200, r.text
    item_id = r.json()["id"]
    assert r.json()["envelope"]["key"] == "cemig_mg" and item_id in [i["id"] for i in queued(client)]
    assert client.delete(f"/ui/api/items/{item_id}", headers=ADMIN).status_code == 200
    assert item_id not in [i["id"] for i in queued(client)]
    for bad in ("..%2F..%2Fetc", "0" * 31, item_id):
        assert client.get(f"/ui/api/items/{bad}", headers=ADMIN).status_code == 404
    assert client.post(f"/ui/api/items/{'a' * 32}", headers=ADMIN, json={"data": {"valor_fatura": 1}}).status_code == 404
    empty = client.post("/ui/api/upload", headers=ADMIN, files={"file": ("x.jpg", b"", "image/jpeg")},
                        data={"concessionaria": "cemig", "uf": "mg"})
    assert empty.status_code == 422


def test_without_review_dir_nothing_is_kept(tiny_model_dir, tmp_path):
    settings = test_settings(tiny_model_dir, tmp_path / "adapters", review_threshold=1.0)
    with TestClient(create_app(settings)) as client:
        r = client.post("/extract", files={"file": ("f.jpg", jpeg_bytes(bill_image(1)), "image/jpeg")},
                        data={"concessionaria": "EQUATORIAL", "uf": "GO"})
        assert r.status_code == 200 and r.json()["requires_review"]
        off = client.get("/ui/api/queue")
        assert off.status_code == 404 and "EXTRACTOR_REVIEW_DIR" in off.json()["detail"]
    assert not any(Path(tmp_path).rglob("envelope.json"))


def test_a_page_that_cannot_be_shown_is_a_422_not_a_500(tmp_path):
    from extractor_energy.api.routes_review import review_status
    from extractor_energy.extraction.review_queue import ReviewError, ReviewNotFound, ReviewQueue

    queue = ReviewQueue(tmp_path)
    item_id = queue.add(b"\xff\xd8\xff not an image", {"key": "equatorial_go", "pages": 1, "data": {}})
    with pytest.raises(ReviewError) as info:
        queue.page_png(item_id, 1)
    assert review_status(info.value) == 422 and "cannot be shown" in info.value.message
    with pytest.raises(ReviewNotFound) as missing:
        queue.page_png("0" * 32, 1)
    assert review_status(missing.value) == 404
    assert [i["id"] for i in queue.items()] == [item_id] and not list(tmp_path.glob("equatorial_go"))
