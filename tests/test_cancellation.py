"""Rows whose request timed out or whose client left stop generating at the next step, and a
batch whose rows are all gone ends (issue 13, item 3)."""

from __future__ import annotations

import asyncio
import re
import time

import httpx
import torch

from extractor_energy.engine.cancellation import StopRows

from .conftest import bill_image, jpeg_bytes
from .live_server import live_server, test_settings

IMAGE = jpeg_bytes(bill_image(1))  # the tiny model writes all LONG tokens for it (no early end)
LONG = 4000  # far more tokens than the tiny model writes in the test's timeout


def metric(text: str, name: str) -> float:
    match = re.search(rf"^{re.escape(name)} ([0-9.e+]+)$", text, re.M)
    return float(match.group(1)) if match else 0.0


def test_stop_rows_allows_only_eos_for_stopped_rows():
    flags = [False, True]
    stop = StopRows([lambda: flags[0], lambda: flags[1]], eos_id=3)
    scores = stop(torch.zeros(2, 1, dtype=torch.long), torch.zeros(2, 8))
    assert scores[0].tolist() == [0.0] * 8  # untouched
    assert scores[1].argmax().item() == 3 and torch.isinf(scores[1]).sum().item() == 7
    assert stop.stopped == {1}


def _settings(tiny_model_dir, tmp_path, **kw):
    return test_settings(
        tiny_model_dir, tmp_path, max_new_tokens=LONG, constrained_decoding=False, max_batch_size=2, **kw
    )


def test_timed_out_rows_stop_and_their_batch_ends(tiny_model_dir, tmp_path):
    settings = _settings(tiny_model_dir, tmp_path, request_timeout_s=1.0, max_batch_wait_ms=500)
    with live_server(settings) as url:
        async def two() -> list[httpx.Response]:
            async with httpx.AsyncClient(timeout=120) as client:
                return await asyncio.gather(*(
                    client.post(url + "/extract", files={"file": ("f.jpg", IMAGE)}, data={"concessionaria": "ENEL", "uf": "RJ"})
                    for _ in range(2)
                ))

        assert [r.status_code for r in asyncio.run(two())] == [504, 504]
        text = _wait_metrics(url, lambda t: metric(t, "extractor_rows_stopped_total") >= 2)
    assert metric(text, "extractor_batch_size_count") == 1.0  # one batch, both rows in it
    assert metric(text, "extractor_generated_tokens_total") < 2 * LONG  # it ended long before max_new_tokens


def test_rows_of_disconnected_clients_stop(tiny_model_dir, tmp_path):
    with live_server(_settings(tiny_model_dir, tmp_path, request_timeout_s=300)) as url:
        try:
            httpx.post(url + "/extract", files={"file": ("f.jpg", IMAGE)}, data={"concessionaria": "ENEL", "uf": "RJ"}, timeout=1.0)
        except httpx.TimeoutException:
            pass  # the client gives up while its row is generating
        text = _wait_metrics(url, lambda t: metric(t, "extractor_rows_stopped_total") >= 1)
    assert metric(text, 'extractor_rejected_total{reason="client_disconnected"}') == 0.0  # it had started: stopped, not refused
    assert metric(text, "extractor_generated_tokens_total") < LONG


def _wait_metrics(url: str, predicate, timeout: float = 120.0) -> str:
    deadline = time.monotonic() + timeout
    text = ""
    while time.monotonic() < deadline:
        text = httpx.get(url + "/metrics").text
        if predicate(text):
            return text
        time.sleep(0.1)
    raise AssertionError("condition not met; metrics:\n" + "\n".join(l for l in text.splitlines() if "rows_stopped" in l or "tokens" in l))
