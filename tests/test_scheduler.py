"""The inference worker: real batching across adapters, backpressure, timeouts, disconnects, drain."""

from __future__ import annotations

import asyncio
import re
import signal
import time
from concurrent.futures import ThreadPoolExecutor

import httpx

from .conftest import bill_image, install_adapter, jpeg_bytes
from .live_server import live_server, serve_process, test_settings

IMAGE = jpeg_bytes(bill_image(11))


def metric(text: str, name: str) -> float:
    match = re.search(rf"^{re.escape(name)} ([0-9.e+]+)$", text, re.M)
    return float(match.group(1)) if match else 0.0


async def burst(url: str, pairs: list[tuple[str, str]], timeout: float = 300) -> list[httpx.Response | Exception]:
    async with httpx.AsyncClient(timeout=timeout, limits=httpx.Limits(max_connections=64)) as client:
        async def one(conc: str, uf: str):
            try:
                return await client.post(url + "/extract", files={"file": ("f.jpg", IMAGE)}, data={"concessionaria": conc, "uf": uf})
            except httpx.HTTPError as exc:
                return exc

        return await asyncio.gather(*(one(c, u) for c, u in pairs))


def test_one_generate_call_serves_mixed_adapters(tiny_model_dir, adapter_factory, tmp_path):
    install_adapter(adapter_factory({"cod_cliente": "111"}), tmp_path, "equatorial_go")
    install_adapter(adapter_factory({"cod_cliente": "222"}), tmp_path, "cemig_mg")
    settings = test_settings(tiny_model_dir, tmp_path, max_batch_size=6, max_batch_wait_ms=500)
    with live_server(settings) as url:
        pairs = [("EQUATORIAL", "GO"), ("CEMIG", "MG"), ("ENEL", "RJ")] * 2
        responses = asyncio.run(burst(url, pairs))
        metrics = httpx.get(url + "/metrics").text
    bodies = [r.json() for r in responses]
    assert [b["batch_size"] for b in bodies] == [6] * 6
    assert [b["data"]["cod_cliente"] for b in bodies[:2]] == ["111", "222"]
    assert [b["data"]["cod_cliente"] for b in bodies[3:5]] == ["111", "222"]
    assert bodies[2]["adapter"] is None and bodies[2]["data"]["cod_cliente"] not in ("111", "222")
    assert metric(metrics, "extractor_batch_size_count") == 1.0
    assert metric(metrics, "extractor_adapters_per_batch_sum") == 3.0


def test_full_queue_answers_503_with_retry_after(tiny_model_dir, tmp_path):
    settings = test_settings(tiny_model_dir, tmp_path, max_batch_size=1, max_queue_size=1, max_new_tokens=120, max_batch_wait_ms=0)
    with live_server(settings) as url:
        responses = asyncio.run(burst(url, [("ENEL", "RJ")] * 12))
        metrics = httpx.get(url + "/metrics").text
        assert httpx.get(url + "/healthz").status_code == 200
    statuses = [r.status_code for r in responses]
    assert 200 in statuses and 503 in statuses, statuses
    rejected = [r for r in responses if r.status_code == 503]
    assert all(int(r.headers["Retry-After"]) >= 1 and "capacity" in r.json()["detail"] for r in rejected)
    assert metric(metrics, 'extractor_rejected_total{reason="queue_full"}') == len(rejected)


def test_request_timeout_answers_504(tiny_model_dir, tmp_path):
    settings = test_settings(tiny_model_dir, tmp_path, request_timeout_s=0.01, max_new_tokens=200)
    with live_server(settings) as url:
        r = httpx.post(url + "/extract", files={"file": ("f.jpg", IMAGE)}, data={"concessionaria": "ENEL", "uf": "RJ"}, timeout=60)
        assert r.status_code == 504 and "EXTRACTOR_REQUEST_TIMEOUT_S" in r.json()["detail"]
        assert httpx.get(url + "/readyz").status_code == 200


def test_client_that_disconnects_is_dropped_from_queue(tiny_model_dir, tmp_path):
    settings = test_settings(tiny_model_dir, tmp_path, max_batch_size=1, max_new_tokens=150, max_batch_wait_ms=0)
    with live_server(settings) as url:
        results = asyncio.run(burst(url, [("ENEL", "RJ")] * 10, timeout=0.3))  # clients give up after 0.3 s
        gave_up = sum(isinstance(r, httpx.TimeoutException) for r in results)
        assert gave_up >= 5, results
        time.sleep(3)  # long enough for the worker to have run all 10 had they stayed queued
        metrics = httpx.get(url + "/metrics").text
    dropped = metric(metrics, 'extractor_rejected_total{reason="client_disconnected"}')
    ran = metric(metrics, "extractor_batch_size_count")
    assert dropped >= 3 and ran + dropped <= 10, (dropped, ran)


def test_sigterm_drains_queued_requests_and_exits_zero(tiny_model_dir, tmp_path):
    proc, url = serve_process(tiny_model_dir, tmp_path, MAX_NEW_TOKENS="200")
    try:

        def call(_: int) -> int:
            r = httpx.post(url + "/extract", files={"file": ("f.jpg", IMAGE)}, data={"concessionaria": "ENEL", "uf": "RJ"}, timeout=120)
            return r.status_code

        with ThreadPoolExecutor(8) as pool:
            futures = [pool.submit(call, i) for i in range(8)]
            time.sleep(1.5)  # all accepted; at ~0.3 s per request, most are still queued
            proc.send_signal(signal.SIGTERM)
            statuses = [f.result() for f in futures]
        code = proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert statuses == [200] * 8, statuses
    assert code == 0, proc.stdout.read() if proc.stdout else ""


def test_a_batch_never_holds_more_distinct_adapters_than_there_are_slots():
    """Jobs whose adapter would be one too many wait, in arrival order, for the next batch."""
    from types import SimpleNamespace

    from extractor_energy.config import Settings
    from extractor_energy.engine.generate import BASE, GenerationInput
    from extractor_energy.metrics import Metrics
    from extractor_energy.engine.scheduler import Job, Scheduler

    settings = Settings(_env_file=None, max_batch_size=8, max_batch_wait_ms=0)
    scheduler = Scheduler(None, SimpleNamespace(max_loaded=2), settings, Metrics())  # type: ignore[arg-type]
    loop = asyncio.new_event_loop()
    names = ["a", "b", "a", "c", BASE, "d", "b", "c"]
    jobs = [Job(GenerationInput([], [], adapter_name=n), loop.create_future(), loop, key=n) for n in names]
    for job in jobs[1:]:
        scheduler._queue.put_nowait(job)
    first = scheduler._collect(jobs[0])
    assert [j.input.adapter_name for j in first] == ["a", "b", "a", BASE, "b"]
    second = scheduler._collect(scheduler._held.popleft())
    assert [j.input.adapter_name for j in second] == ["c", "d", "c"]
    assert not scheduler._held and scheduler._queue.empty()
    loop.close()


def test_more_adapters_in_flight_than_slots_are_all_served_right(tiny_model_dir, adapter_factory, tmp_path):
    answers = {"equatorial_go": "111", "cemig_mg": "222", "light_rj": "333"}
    for key, code in answers.items():
        install_adapter(adapter_factory({"cod_cliente": code}), tmp_path, key)
    settings = test_settings(tiny_model_dir, tmp_path, max_batch_size=6, max_batch_wait_ms=300, max_loaded_adapters=2)
    with live_server(settings) as url:
        pairs = [("EQUATORIAL", "GO"), ("CEMIG", "MG"), ("LIGHT", "RJ")] * 2
        responses = asyncio.run(burst(url, pairs))
        for (conc, uf), r in zip(pairs, responses):
            assert r.status_code == 200, r.text
            assert r.json()["data"]["cod_cliente"] == answers[f"{conc.lower()}_{uf.lower()}"]
            assert r.json()["batch_size"] <= 4  # two adapters of two rows each at most: the third waited


def test_a_batch_fills_while_requests_keep_arriving_and_closes_after_a_quiet_gap():
    """Arrivals 10 ms apart join one batch (gap 60 ms) however long it takes, up to the cap; after a
    quiet gap the batch closes: a lone request waits only the gap, not the cap."""
    import threading
    from types import SimpleNamespace

    from extractor_energy.config import Settings
    from extractor_energy.engine.generate import GenerationInput
    from extractor_energy.metrics import Metrics
    from extractor_energy.engine.scheduler import Job, Scheduler

    settings = Settings(_env_file=None, max_batch_size=16, max_batch_wait_ms=5000, batch_gap_ms=60)
    scheduler = Scheduler(None, SimpleNamespace(max_loaded=8), settings, Metrics())  # type: ignore[arg-type]
    loop = asyncio.new_event_loop()
    jobs = [Job(GenerationInput([], []), loop.create_future(), loop, key="k") for _ in range(8)]

    def feed(spacing_s: float) -> None:
        for job in jobs[1:]:
            time.sleep(spacing_s)
            scheduler._queue.put_nowait(job)

    feeder = threading.Thread(target=feed, args=(0.01,))
    feeder.start()
    assert len(scheduler._collect(jobs[0])) == 8  # 70 ms of arrivals, never a 60 ms gap
    feeder.join()
    started = time.monotonic()
    assert len(scheduler._collect(jobs[0])) == 1  # nobody else comes
    assert time.monotonic() - started < 1.0  # closed after the gap, long before the 5 s cap
    loop.close()
