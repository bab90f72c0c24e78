"""Personal data in the review queue: retention, deleting bills, forgetting trained files; per-key counts and scores."""

from __future__ import annotations

import json
import time

import pytest
from fastapi.testclient import TestClient

from extractor_energy.api.app import create_app
from extractor_energy.domain.schema import BillData
from extractor_energy.extraction.review_queue import TRAINED, ReviewNotFound, ReviewQueue
from extractor_energy.extraction.review_stats import key_stats

from .conftest import bill_image, jpeg_bytes
from .live_server import test_settings

ANSWER = {"key": "equatorial_go", "adapter": "fallback", "adapter_version": "v1",
          "data": {"num_instalacao": "1001", "valor_fatura": 10.45, "mes_referencia": "01/2025"}}


def _saved(queue: ReviewQueue, correction: dict, answer: dict = ANSWER) -> str:
    item = queue.add(jpeg_bytes(bill_image(len(list(queue.root.rglob("*.jpg"))))), answer)
    queue.save(item, BillData(**correction))
    return item


def test_queued_bills_older_than_the_retention_are_deleted(tmp_path):
    queue = ReviewQueue(tmp_path, retention_days=30)
    old, new = queue.add(b"%PDF-1.4 old", ANSWER), queue.add(b"%PDF-1.4 new", ANSWER)
    envelope = queue.queue_dir / old / "envelope.json"
    meta = json.loads(envelope.read_text())
    envelope.write_text(json.dumps({**meta, "queued_at": time.time() - 31 * 86400}))
    assert queue.purge_expired(force=True) == [old]
    assert [i["id"] for i in queue.items()] == [new]
    assert not (queue.queue_dir / old).exists()
    keep_forever = ReviewQueue(tmp_path, retention_days=0)
    assert keep_forever.purge_expired(now=time.time() + 1000 * 86400, force=True) == []


def test_a_reviewed_bill_can_be_deleted_and_trained_files_forgotten(tmp_path):
    queue = ReviewQueue(tmp_path)
    a = _saved(queue, {"num_instalacao": "1001", "valor_fatura": 10.45, "mes_referencia": "01/2025"})
    b = _saved(queue, {"num_instalacao": "1002", "valor_fatura": 11.45, "mes_referencia": "02/2025"})
    c = _saved(queue, {"num_instalacao": "1003", "valor_fatura": 12.45, "mes_referencia": "03/2025"})
    bills = tmp_path / "equatorial_go" / "bills"
    assert len(list(bills.iterdir())) == 3

    queue.delete_reviewed("equatorial_go", a)
    assert not any(p.name.startswith(a) for p in bills.iterdir())
    with pytest.raises(ReviewNotFound):
        queue.delete_reviewed("equatorial_go", a)
    with pytest.raises(ReviewNotFound):
        queue.delete_reviewed("../etc", b)

    assert queue.forget_trained("equatorial_go", {b}) == 1
    assert [p.name.split(".")[0] for p in bills.iterdir()] == [c]
    forgotten = [json.loads(x) for x in (tmp_path / "equatorial_go" / TRAINED).read_text().splitlines()]
    assert forgotten[0]["review"]["id"] == b and "image" not in forgotten[0]
    stats = key_stats(tmp_path)
    assert stats[0]["corrected"] == 1 and stats[0]["trained_forgotten"] == 1


def test_key_stats_score_the_serving_adapter_on_the_bills_it_answered(tmp_path):
    queue = ReviewQueue(tmp_path)
    _saved(queue, ANSWER["data"])  # the answer was right
    _saved(queue, {**ANSWER["data"], "valor_fatura": 99.0})  # one field of three wrong
    _saved(queue, ANSWER["data"], {**ANSWER, "adapter_version": "v0"})
    [entry] = key_stats(tmp_path, lambda key: {"adapter": "fallback", "version": "v1"})
    assert entry["corrected"] == 3 and entry["serving_scored_on"] == 2
    assert entry["serving_score"] == pytest.approx(5 / 6, abs=1e-3)  # 5 of 6 pairs right, none invented
    assert {v["version"] for v in entry["by_version"]} == {"v0", "v1"}
    [unknown] = key_stats(tmp_path, lambda key: {"adapter": "equatorial_go", "version": "v9"})
    assert unknown["serving_score"] is None


def test_review_api_lists_keys_and_deletes_a_reviewed_bill(tiny_model_dir, tmp_path):
    settings = test_settings(tiny_model_dir, tmp_path / "adapters", review_dir=tmp_path / "review", review_threshold=1.0,
                             review_retention_days=7)
    with TestClient(create_app(settings)) as client:
        r = client.post("/extract", files={"file": ("f.jpg", jpeg_bytes(bill_image(3)), "image/jpeg")},
                        data={"concessionaria": "EQUATORIAL", "uf": "GO"})
        assert r.status_code == 200, r.text
        [item] = client.get("/ui/api/queue").json()["items"]
        saved = client.post(f"/ui/api/items/{item['id']}", json={"data": {"valor_fatura": "10,45"}})
        assert saved.status_code == 200, saved.text
        assert client.app.state.review_queue.retention_days == 7
        [entry] = client.get("/ui/api/keys").json()["keys"]
        assert entry["key"] == "equatorial_go" and entry["corrected"] == 1
        assert entry["bills"][0]["id"] == item["id"]
        assert entry["serving"] is None and entry["serving_score"] is None  # no adapter serves the tiny model
        assert client.delete(f"/ui/api/keys/equatorial_go/bills/{item['id']}").status_code == 200
        assert client.delete(f"/ui/api/keys/equatorial_go/bills/{item['id']}").status_code == 404
        assert client.delete("/ui/api/keys/not-a-key/bills/" + "0" * 32).status_code == 404
        assert client.get("/ui/api/keys").json()["keys"] == []  # no corrected bill left for the key
