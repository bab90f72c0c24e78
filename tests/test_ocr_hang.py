"""An OCR worker that hangs costs its request a 504 within the request timeout, and the pool recovers."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

from fastapi.testclient import TestClient

from extractor_energy.api.app import create_app
from extractor_energy.documents.page_text import OcrEngine

from .conftest import bill_image, jpeg_bytes
from .live_server import test_settings


def test_a_hung_ocr_page_gets_a_504_in_time_and_later_bills_are_read(tiny_text_model_dir, tmp_path, monkeypatch):
    release = threading.Event()
    calls = {"n": 0}
    real = OcrEngine.read_upright

    def first_call_hangs(self, image):
        calls["n"] += 1
        if calls["n"] == 1:
            release.wait(60)  # a stuck OCR session
        return real(self, image)

    monkeypatch.setattr(OcrEngine, "read_upright", first_call_hangs)
    settings = test_settings(tiny_text_model_dir, tmp_path, request_timeout_s=10, ocr_workers=1)
    try:
        with TestClient(create_app(settings)) as client:
            def post():
                return client.post("/extract", files={"file": ("f.jpg", jpeg_bytes(bill_image(1)))},
                                   data={"concessionaria": "EQUATORIAL", "uf": "GO"})

            started = time.monotonic()
            with ThreadPoolExecutor(2) as pool:  # the second bill queues behind the stuck page
                first = pool.submit(post)
                time.sleep(2)  # arrives later: its deadline falls after the first one's
                second = pool.submit(post)
                answers = [first.result(), second.result()]
            waited = time.monotonic() - started
            assert [r.status_code for r in answers] == [504, 504], [r.text for r in answers]
            assert all("OCR" in r.json()["detail"] for r in answers) and waited < 15
            # the only OCR worker is still stuck, yet the next bill is read by the fresh pool
            r = post()
            assert r.status_code == 200, r.text
    finally:
        release.set()
