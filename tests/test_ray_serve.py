"""Ray Serve: `extractor-energy serve --ray --replicas 2` on a local Ray instance bound to loopback,
two replicas of the tiny model, four adapters.

One server for the module (starting Ray and two replicas takes about half a minute on 2 cores);
the tests run in file order and the last one shuts it down.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import httpx
import psutil
import pytest

from .conftest import bill_image, install_adapter, jpeg_bytes
from .live_server import free_port

A = {"cod_cliente": "111"}
B = {"cod_cliente": "222"}
KEYS = {"equatorial_go": ("EQUATORIAL", "GO"), "cemig_mg": ("CEMIG", "MG"), "light_rj": ("LIGHT", "RJ"),
        "enel_rj": ("ENEL", "RJ")}
IMAGE = jpeg_bytes(bill_image(3))
REPLICA, RESIDENT = "x-extractor-replica", "x-extractor-adapter-resident"
START_TIMEOUT_S = 180


@dataclass
class RayServer:
    url: str
    adapters: Path
    process: subprocess.Popen
    log: Path


def _env(model_dir: Path, adapters: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("EXTRACTOR_", "RAY_"))}
    env.update({
        "EXTRACTOR_MODEL": str(model_dir), "EXTRACTOR_ADAPTERS_DIR": str(adapters), "EXTRACTOR_TORCH_THREADS": "1",
        "EXTRACTOR_MODEL_MAX_PIXELS": str(112 * 112), "EXTRACTOR_MODEL_MIN_PIXELS": str(56 * 56),
        "EXTRACTOR_MAX_NEW_TOKENS": "40", "EXTRACTOR_ADAPTER_STABLE_S": "0.2", "EXTRACTOR_MAX_BATCH_WAIT_MS": "5",
        # two slots per replica for four keys: routing that ignores residency makes replicas swap adapters
        "EXTRACTOR_MAX_LOADED_ADAPTERS": "2", "EXTRACTOR_REQUEST_TIMEOUT_S": "30", "EXTRACTOR_SHUTDOWN_GRACE_S": "5",
        "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false",
    })
    return env


def _ray_processes(server: RayServer) -> list[psutil.Process]:
    """Live Ray Serve replicas of this server (Ray starts them with the server's environment)."""
    found = []
    for proc in psutil.process_iter(["cmdline", "status"]):
        try:
            title = " ".join(proc.info["cmdline"] or [])
            if proc.info["status"] == psutil.STATUS_ZOMBIE or "ServeReplica:extractor:" not in title:
                continue
            if proc.environ().get("EXTRACTOR_ADAPTERS_DIR") == str(server.adapters):
                found.append(proc)
        except psutil.Error:
            continue
    return found


def model_replica_pids(server: RayServer) -> list[int]:
    return [p.pid for p in _ray_processes(server) if "ExtractorModel" in " ".join(p.cmdline())]


def _log_tail(server: RayServer) -> str:
    return server.log.read_text(errors="replace")[-3000:]


@pytest.fixture(scope="module")
def ray_server(tiny_model_dir: Path, adapter_factory, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RayServer]:
    adapters = tmp_path_factory.mktemp("ray-adapters")
    for key in KEYS:
        install_adapter(adapter_factory(A), adapters, key)
    adapter_factory(B)  # trained now, while no replica competes for the CPU
    port = free_port()
    log = tmp_path_factory.mktemp("ray-log") / "serve.log"
    with open(log, "w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "extractor_energy.cli.main", "serve", "--ray", "--replicas", "2", "--port", str(port)],
            env=_env(tiny_model_dir, adapters), stdout=out, stderr=subprocess.STDOUT,
        )
    server = RayServer(f"http://127.0.0.1:{port}", adapters, process, log)
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not _all_adapters_on_both(server.url):
            assert process.poll() is None, f"serve --ray exited: {_log_tail(server)}"
            assert time.monotonic() < deadline, "serve --ray did not become ready"
            time.sleep(0.5)
        yield server
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()


def _all_adapters_on_both(url: str) -> bool:
    try:
        rows = httpx.get(url + "/adapters", timeout=5).json()
    except (httpx.HTTPError, ValueError):
        return False
    ready = {r["key"] for r in rows if isinstance(r, dict) and len(r.get("replicas", [])) == 2 and r.get("version")}
    return ready >= set(KEYS)


def post(url: str, key: str, image: bytes = IMAGE, timeout: float = 90) -> httpx.Response:
    concessionaria, uf = KEYS.get(key, ("EQUATORIAL", key))
    return httpx.post(url + "/extract", files={"file": ("f.jpg", image, "image/jpeg")},
                      data={"concessionaria": concessionaria, "uf": uf}, timeout=timeout)


# ---------------------------------------------------------------------------- config files, CLI
ROOT = Path(__file__).resolve().parent.parent


def _serve_configs() -> list[dict]:
    import yaml

    rayservice = next(yaml.safe_load_all((ROOT / "deploy/k8s/rayservice.yaml").read_text()))
    assert rayservice["kind"] == "RayService"
    return [yaml.safe_load((ROOT / "deploy/ray/serve.yaml").read_text()), yaml.safe_load(rayservice["spec"]["serveConfigV2"])]


@pytest.mark.parametrize("which", [0, 1], ids=["deploy/ray/serve.yaml", "deploy/k8s/rayservice.yaml"])
def test_serve_config_files_build_the_application(which: int, tiny_model_dir: Path, monkeypatch) -> None:
    from ray.serve import Application
    from ray.serve.schema import ServeDeploySchema

    from extractor_energy.ray_serve.app import app_builder

    config = ServeDeploySchema.model_validate(_serve_configs()[which])  # Ray's own validation of the file
    (app,) = config.applications
    assert app.import_path == "extractor_energy.ray_serve.app:app_builder"
    assert app.args["num_gpus"] == 1 and app.runtime_env["env_vars"]["EXTRACTOR_WATCH_FORCE_POLLING"] == "true"
    for name, value in app.runtime_env["env_vars"].items():
        if name != "EXTRACTOR_API_KEYS_FILE":  # a secret mounted in the pods only
            monkeypatch.setenv(name, value)
    assert isinstance(app_builder(app.args), Application)


def test_ray_path_settings_batch_wait_default_and_no_preload(monkeypatch) -> None:
    from extractor_energy.config import Settings
    from extractor_energy.ray_serve.app import RAY_BATCH_WAIT_MS, ray_settings

    monkeypatch.delenv("EXTRACTOR_MAX_BATCH_WAIT_MS", raising=False)
    assert ray_settings(Settings(_env_file=None)).max_batch_wait_ms == RAY_BATCH_WAIT_MS
    explicit = ray_settings(Settings(_env_file=None, max_batch_wait_ms=5, preload_adapters=True))
    assert explicit.max_batch_wait_ms == 5 and not explicit.preload_adapters


def test_replica_errors_come_back_as_the_same_exception() -> None:
    """Domain errors whose __init__ takes more than their message do not survive pickling as such."""
    import pickle

    from extractor_energy.api.errors import outcome
    from extractor_energy.errors import DocumentError, DocumentProblem, ServerFull
    from extractor_energy.ray_serve.errors import PortableError

    for exc in (DocumentError(DocumentProblem.UNSUPPORTED_TYPE, "upload a JPEG"), ServerFull("full", retry_after_s=3)):
        exc.key = "cemig_mg"
        back = pickle.loads(pickle.dumps(PortableError.of(exc))).restore()
        assert type(back) is type(exc) and str(back) == str(exc) and vars(back) == vars(exc)
        assert outcome(back) == outcome(exc)


def test_replicas_without_ray_is_refused(capsys) -> None:
    from extractor_energy.cli.main import main

    assert main(["serve", "--replicas", "2"]) == 2
    assert "--ray" in capsys.readouterr().err


# ---------------------------------------------------------------------------- the same HTTP API
def test_same_http_api_routes_errors_and_envelope(ray_server: RayServer) -> None:
    url = ray_server.url
    r = post(url, "equatorial_go")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["key"] == "equatorial_go" and body["adapter"] == "equatorial_go" and body["data"]["cod_cliente"] == "111"
    assert {"timings_ms", "confidence", "warnings", "batch_size", "model_family"} <= set(body)
    assert r.headers[REPLICA] and r.headers[RESIDENT] in ("true", "false")

    bad_uf = post(url, "XX")  # unknown state: the ingress's 422 (it makes the key), worded as everywhere else
    assert bad_uf.status_code == 422 and "uf" in bad_uf.json()["detail"]
    junk = post(url, "equatorial_go", image=b"not an image")
    assert junk.status_code in (415, 422) and junk.json()["detail"]
    missing = httpx.post(url + "/extract", data={"concessionaria": "CEMIG", "uf": "MG"}, timeout=30)
    assert missing.status_code == 422 and "file" in missing.json()["detail"]

    ready = httpx.get(url + "/readyz", timeout=10).json()
    assert ready["status"] == "ready" and "2 replicas" in ready["device"]
    rows = httpx.get(url + "/adapters", timeout=10).json()
    assert {r["key"] for r in rows} == set(KEYS)
    assert all(len({rep["replica"] for rep in r["replicas"]}) == 2 for r in rows)
    reloaded = httpx.post(url + "/adapters/reload", timeout=30)  # every replica rescans, then answers
    assert reloaded.status_code == 200 and all(len(r["replicas"]) == 2 for r in reloaded.json())
    assert httpx.get(url + "/adapters/cemig_mg", timeout=10).json()["key"] == "cemig_mg"
    nope = httpx.get(url + "/adapters/nope_sp", timeout=10)
    assert nope.status_code == 404 and "nope_sp" in nope.json()["detail"]
    assert "/extract" in httpx.get(url + "/openapi.json", timeout=10).json()["paths"]


# ---------------------------------------------------------------------------- routing follows residency
def test_requests_go_to_the_replica_that_holds_the_adapter(ray_server: RayServer) -> None:
    url = ray_server.url
    for key in KEYS:  # warm-up: each key's first request loads it on the replica with the fewest keys
        assert post(url, key).status_code == 200
        time.sleep(1.0)  # the replica's keys reach Ray's routers
    keys = list(KEYS) * 8
    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda k: (k, post(url, k)), keys))
    assert all(r.status_code == 200 for _, r in answers), [r.text for _, r in answers if r.status_code != 200][:3]
    hits = sum(r.headers[RESIDENT] == "true" for _, r in answers)
    assert hits / len(answers) >= 0.9, f"{hits}/{len(answers)} requests found their adapter resident"
    by_key = {k: Counter(r.headers[REPLICA] for kk, r in answers if kk == k) for k in KEYS}
    assert len({c.most_common(1)[0][0] for c in by_key.values()}) == 2, f"keys spread over both replicas: {by_key}"
    rows = httpx.get(url + "/adapters", timeout=10).json()
    resident = {r["key"]: [rep["replica"] for rep in r["replicas"] if rep["loaded"]] for r in rows}
    assert all(len(on) >= 1 for on in resident.values()), resident


# ---------------------------------------------------------------------------- hot swap in the shared folder
def test_hot_swap_in_the_shared_folder_is_served_by_both_replicas(ray_server: RayServer, adapter_factory) -> None:
    url = ray_server.url
    before = {r["key"]: r["version"] for r in httpx.get(url + "/adapters", timeout=10).json()}
    for key in KEYS:
        install_adapter(adapter_factory(B), ray_server.adapters, key)
    deadline = time.monotonic() + 30
    while True:  # every replica's own watcher picks the new version up
        rows = httpx.get(url + "/adapters", timeout=10).json()
        swapped = all(rep["version"] != before[r["key"]] and rep["state"] != "loading" for r in rows for rep in r["replicas"])
        if swapped and all(len(r["replicas"]) == 2 for r in rows):
            break
        assert time.monotonic() < deadline, f"not swapped everywhere: {rows}"
        time.sleep(0.2)
    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda k: post(url, k), list(KEYS) * 2))
    assert all(r.status_code == 200 and r.json()["data"]["cod_cliente"] == "222" for r in answers), [r.text[:200] for r in answers]
    assert len({r.headers[REPLICA] for r in answers}) == 2, "both replicas served the new version"


# ---------------------------------------------------------------------------- a replica dies under load
def test_replicas_killed_under_load_and_mid_load_are_replaced_requests_get_200_or_503(ray_server: RayServer) -> None:
    url = ray_server.url
    replicas_before = {rep["replica"] for r in httpx.get(url + "/adapters", timeout=10).json() for rep in r["replicas"]}
    pids = model_replica_pids(ray_server)
    assert len(pids) == 2, pids
    stop = threading.Event()
    results: list[tuple[int, str, str | None]] = []
    errors: list[str] = []

    def client(offset: int) -> None:
        keys = list(KEYS)
        n = offset
        while not stop.is_set():
            n += 1
            try:
                r = post(url, keys[n % len(keys)], timeout=60)  # a hang would end here as an error
                results.append((r.status_code, r.text[:200], r.headers.get("retry-after")))
            except httpx.HTTPError as exc:
                errors.append(f"{type(exc).__name__}: {exc}")

    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(4)]
    for t in threads:
        t.start()
    time.sleep(1.5)
    os.kill(pids[0], signal.SIGKILL)  # mid-flight: requests queued and generating on it
    deadline = time.monotonic() + 60
    while not (fresh := set(model_replica_pids(ray_server)) - set(pids)):
        assert time.monotonic() < deadline, "Serve started no replacement"
        time.sleep(0.1)
    os.kill(fresh.pop(), signal.SIGKILL)  # and its replacement while it is still loading the model
    deadline = time.monotonic() + 150
    while True:
        rows = httpx.get(url + "/adapters", timeout=10).json()
        now = {rep["replica"] for r in rows for rep in r["replicas"]}
        if len(now) == 2 and now - replicas_before:
            break
        assert time.monotonic() < deadline, f"no replacement replica; replicas {now}"
        time.sleep(0.5)
    replaced_at = len(results)
    time.sleep(3)
    stop.set()
    for t in threads:
        t.join(timeout=90)
    assert not errors, errors[:3]
    statuses = Counter(status for status, _, _ in results)
    assert set(statuses) <= {200, 503}, statuses
    for status, text, retry_after in results:
        if status == 503:
            assert retry_after and "detail" in text, text
    assert any(status == 200 for status, _, _ in results[replaced_at:]), statuses
    assert len(model_replica_pids(ray_server)) == 2
    assert httpx.get(url + "/readyz", timeout=10).status_code == 200


# ---------------------------------------------------------------------------- shutdown
def test_sigterm_shuts_everything_down_and_exits_0(ray_server: RayServer) -> None:
    process = ray_server.process
    assert post(ray_server.url, "cemig_mg").status_code == 200
    started = time.monotonic()
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=60) == 0, _log_tail(ray_server)
    took = time.monotonic() - started
    assert took < 5 + 45, f"shutdown took {took:.1f} s"  # grace + Ray's own teardown (35.7 s seen in a full-suite run on 2 cores)
    deadline = time.monotonic() + 20
    while _ray_processes(ray_server) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not _ray_processes(ray_server), "replicas left running"
    with pytest.raises(httpx.HTTPError):
        httpx.get(ray_server.url + "/healthz", timeout=2)
