"""AdapterRegistry: per-request adapters under concurrency, hot swaps, refusals, memory."""

from __future__ import annotations

import asyncio
import json
import random
import shutil
import threading
import time
from pathlib import Path

import httpx
import psutil
import pytest
import torch
from safetensors.torch import load_file, save_file

from .conftest import bill_image, install_adapter, jpeg_bytes
from .live_server import live_server, test_settings

A = {"cod_cliente": "111"}
B = {"cod_cliente": "222"}
A2 = {"cod_cliente": "333"}
KEYS = {"a": ("EQUATORIAL", "GO", "equatorial_go"), "b": ("CEMIG", "MG", "cemig_mg"), "base": ("ENEL", "RJ", "enel_rj")}
IMAGE = jpeg_bytes(bill_image(7))


async def extract(client: httpx.AsyncClient, url: str, which: str, image: bytes = IMAGE) -> tuple[str, httpx.Response]:
    conc, uf, _ = KEYS[which]
    r = await client.post(
        url + "/extract", files={"file": ("f.jpg", image, "image/jpeg")}, data={"concessionaria": conc, "uf": uf}, timeout=300
    )
    return which, r


def wait_for(url: str, key: str, predicate, timeout: float = 10.0) -> dict:
    deadline = time.monotonic() + timeout
    row: dict = {}
    while time.monotonic() < deadline:
        r = httpx.get(f"{url}/adapters/{key}")
        row = r.json() if r.status_code == 200 else {}
        if predicate(row):
            return row
        time.sleep(0.05)
    raise AssertionError(f"{key}: condition not met; last {row}")


def served(row: dict) -> bool:
    return row.get("state") in ("ready", "unloaded")


@pytest.fixture
def adapters_dir(tmp_path: Path) -> Path:
    path = tmp_path / "adapters"
    path.mkdir()
    return path


def test_concurrent_mixed_requests_each_get_their_own_adapter(tiny_model_dir, adapter_factory, adapters_dir):
    install_adapter(adapter_factory(A), adapters_dir, "equatorial_go")
    install_adapter(adapter_factory(B), adapters_dir, "cemig_mg")
    settings = test_settings(tiny_model_dir, adapters_dir, max_batch_size=8, max_queue_size=256)
    with live_server(settings) as url:
        versions = {k: httpx.get(f"{url}/adapters/{KEYS[k][2]}").json()["version"] for k in ("a", "b")}

        async def run() -> list[tuple[str, httpx.Response]]:
            limits = httpx.Limits(max_connections=64)
            async with httpx.AsyncClient(limits=limits) as client:
                order = ["a", "b", "base"] * 70
                random.Random(1).shuffle(order)
                return await asyncio.gather(*(extract(client, url, w) for w in order))

        results = asyncio.run(run())
        metrics = httpx.get(url + "/metrics").text
    assert len(results) == 210
    batched = 0
    for which, r in results:
        assert r.status_code == 200, r.text
        body = r.json()
        batched += body["batch_size"] > 1
        if which == "a":
            assert (body["adapter_version"], body["data"]["cod_cliente"]) == (versions["a"], "111")
        elif which == "b":
            assert (body["adapter_version"], body["data"]["cod_cliente"]) == (versions["b"], "222")
        else:
            assert body["adapter"] is None and body["data"]["cod_cliente"] not in ("111", "222")
    assert batched > 100, "requests should share generate calls"
    assert "extractor_adapter_loads_total 2.0" in metrics


def test_hot_swap_add_replace_delete_under_load(tiny_model_dir, adapter_factory, adapters_dir):
    sources = {"111": adapter_factory(A), "222": adapter_factory(B), "333": adapter_factory(A2)}
    install_adapter(sources["111"], adapters_dir, "equatorial_go")
    settings = test_settings(tiny_model_dir, adapters_dir, max_batch_size=8, max_queue_size=256, adapter_stable_s=0.05)
    version_answer: dict[str, str] = {}
    with live_server(settings) as url:
        stop = threading.Event()
        changes: list[str] = []

        def churn() -> None:
            step = 0
            while not stop.is_set():
                step += 1
                a_source = "333" if step % 2 else "111"
                install_adapter(sources[a_source], adapters_dir, "equatorial_go")
                if step % 3 == 0:
                    shutil.rmtree(adapters_dir / "cemig_mg", ignore_errors=True)
                    changes.append("delete b")
                else:
                    install_adapter(sources["222"], adapters_dir, "cemig_mg")
                changes.append(f"a={a_source}")
                time.sleep(0.3)

        async def run() -> list[tuple[str, httpx.Response]]:
            async with httpx.AsyncClient(limits=httpx.Limits(max_connections=32)) as client:
                order = ["a", "b", "base"] * 80
                random.Random(2).shuffle(order)
                out = []
                for i in range(0, len(order), 24):  # waves, so the churn happens between and during them
                    out += await asyncio.gather(*(extract(client, url, w) for w in order[i : i + 24]))
                return out

        churner = threading.Thread(target=churn)
        churner.start()
        try:
            results = asyncio.run(run())
        finally:
            stop.set()
            churner.join()
    assert len(changes) >= 6, changes
    for src, answer in (("111", "111"), ("222", "222"), ("333", "333")):
        cfg = sources[src]
        from extractor_energy.adapters.validation import fingerprint

        version_answer[fingerprint((cfg / "adapter_config.json").read_bytes(), (cfg / "adapter_model.safetensors").read_bytes())] = answer
    seen_versions = set()
    for which, r in results:
        assert r.status_code == 200, r.text
        body = r.json()
        if body["adapter_version"] is None:
            assert body["data"]["cod_cliente"] not in ("111", "222", "333")
            continue
        seen_versions.add(body["adapter_version"])
        assert body["data"]["cod_cliente"] == version_answer[body["adapter_version"]], body
        assert body["adapter"] == KEYS[which][2]
    assert len(seen_versions) >= 3, "A's two versions and B should all have served"


def _break(kind: str, good: Path, target: Path) -> None:
    shutil.copytree(good, target)
    cfg_path, weights = target / "adapter_config.json", target / "adapter_model.safetensors"
    cfg = json.loads(cfg_path.read_text())
    if kind == "half_copied":
        data = weights.read_bytes()
        weights.write_bytes(data[: len(data) // 2])
    elif kind == "corrupt":
        weights.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json" + b"\0" * 64)
    elif kind == "unknown_targets":
        cfg["target_modules"] = ["q_proj", "warp_drive_proj"]
    elif kind == "wrong_rank":
        cfg["r"] = cfg["r"] * 2
    elif kind == "wrong_shape":
        state = load_file(weights)
        name = next(k for k in state if k.endswith("lora_A.weight"))
        state[name] = torch.zeros(state[name].shape[0], state[name].shape[1] + 3)
        save_file(state, weights)
    elif kind == "vision_tower":
        state = load_file(weights)
        r = cfg["r"]
        state["base_model.model.model.visual.blocks.0.mlp.gate_proj.lora_A.weight"] = torch.zeros(r, 32)
        state["base_model.model.model.visual.blocks.0.mlp.gate_proj.lora_B.weight"] = torch.zeros(64, r)
        save_file(state, weights)
        cfg["target_modules"] = ["q_proj", "gate_proj"]
    elif kind == "other_base_model":
        cfg["base_model_name_or_path"] = "Qwen/Qwen2-VL-7B-Instruct"
    elif kind == "dora":
        cfg["use_dora"] = True
    elif kind == "not_lora":
        cfg["peft_type"] = "IA3"
    cfg_path.write_text(json.dumps(cfg))


BROKEN = {
    "half_copied": "unreadable",
    "corrupt": "unreadable",
    "unknown_targets": "warp_drive_proj",
    "wrong_rank": "shapes",
    "wrong_shape": "shapes",
    "vision_tower": "adapters on the vision tower are not supported",
    "other_base_model": "EXTRACTOR_ALLOW_BASE_MODEL_MISMATCH",
    "dora": "DoRA",
    "not_lora": "only LORA",
}


def test_broken_adapters_are_refused_with_reasons_and_others_keep_serving(tiny_model_dir, adapter_factory, adapters_dir):
    good = adapter_factory(A)
    install_adapter(good, adapters_dir, "equatorial_go")
    ufs = ["sp", "rj", "mg", "ba", "pe", "ce", "pr", "sc", "rs"]
    keys = {kind: f"broken_{uf}" for kind, uf in zip(BROKEN, ufs)}
    for kind, key in keys.items():
        _break(kind, good, adapters_dir / key)
    (adapters_dir / "not-a-key").mkdir()
    with live_server(test_settings(tiny_model_dir, adapters_dir)) as url:
        rows = {row["key"]: row for row in httpx.get(url + "/adapters").json()}
        for kind, key in keys.items():
            assert rows[key]["state"] == "error", (kind, rows[key])
            assert BROKEN[kind] in rows[key]["error"], (kind, rows[key]["error"])
        assert rows["not-a-key"]["state"] == "error"
        assert served(rows["equatorial_go"])
        r = httpx.post(url + "/extract", files={"file": ("f.jpg", IMAGE)}, data={"concessionaria": "EQUATORIAL", "uf": "GO"}, timeout=60)
        assert r.status_code == 200 and r.json()["data"]["cod_cliente"] == "111"
        # a broken key falls back to the base model, never to a wrong adapter
        r = httpx.post(url + "/extract", files={"file": ("f.jpg", IMAGE)}, data={"concessionaria": "BROKEN", "uf": "SP"}, timeout=60)
        assert r.status_code == 200 and r.json()["adapter"] is None


def test_invalid_new_version_keeps_old_one_serving(tiny_model_dir, adapter_factory, adapters_dir):
    install_adapter(adapter_factory(A), adapters_dir, "equatorial_go")
    with live_server(test_settings(tiny_model_dir, adapters_dir)) as url:
        before = httpx.get(url + "/adapters/equatorial_go").json()
        weights = adapters_dir / "equatorial_go" / "adapter_model.safetensors"
        weights.write_bytes(weights.read_bytes()[:100])  # overwritten in place with garbage
        row = wait_for(url, "equatorial_go", lambda r: r.get("error"))
        assert row["version"] == before["version"] and "unreadable" in row["error"]
        r = httpx.post(url + "/extract", files={"file": ("f.jpg", IMAGE)}, data={"concessionaria": "EQUATORIAL", "uf": "GO"}, timeout=60)
        assert r.json()["adapter_version"] == before["version"] and r.json()["data"]["cod_cliente"] == "111"
        # fixed again: the error clears
        install_adapter(adapter_factory(A2), adapters_dir, "equatorial_go")
        row = wait_for(url, "equatorial_go", lambda r: served(r) and r.get("version") != before["version"])
        assert row["error"] is None


def test_new_folder_is_served_within_two_seconds_without_api_call(tiny_model_dir, adapter_factory, adapters_dir):
    source = adapter_factory(B)
    with live_server(test_settings(tiny_model_dir, adapters_dir, adapter_stable_s=0.5)) as url:
        assert httpx.get(url + "/adapters").json() == []
        target = adapters_dir / "cemig_mg"
        target.mkdir()
        for f in sorted(source.iterdir()):  # file by file, like cp -r
            shutil.copy(f, target / f.name)
        written = time.monotonic()
        wait_for(url, "cemig_mg", served, timeout=5)
        assert time.monotonic() - written < 2.0
        r = httpx.post(url + "/extract", files={"file": ("f.jpg", IMAGE)}, data={"concessionaria": "CEMIG", "uf": "MG"}, timeout=60)
        assert r.json()["data"]["cod_cliente"] == "222"
        # deleted: new requests fall back to the base model
        shutil.rmtree(target)
        wait_for(url, "cemig_mg", lambda row: row == {}, timeout=5)
        r = httpx.post(url + "/extract", files={"file": ("f.jpg", IMAGE)}, data={"concessionaria": "CEMIG", "uf": "MG"}, timeout=60)
        assert r.json()["adapter"] is None
        # reload endpoint forces a rescan
        shutil.copytree(source, target)
        rows = httpx.post(url + "/adapters/reload", timeout=30).json()
        assert any(row["key"] == "cemig_mg" and served(row) for row in rows)


def test_lru_cap_and_lazy_loading(tiny_model_dir, adapter_factory, adapters_dir):
    install_adapter(adapter_factory(A), adapters_dir, "equatorial_go")
    install_adapter(adapter_factory(B), adapters_dir, "cemig_mg")
    with live_server(test_settings(tiny_model_dir, adapters_dir, max_loaded_adapters=1)) as url:
        rows = {r["key"]: r for r in httpx.get(url + "/adapters").json()}
        assert {r["state"] for r in rows.values()} == {"unloaded"}  # lazy: nothing loaded before use
        for conc, uf, key, answer in (("EQUATORIAL", "GO", "equatorial_go", "111"), ("CEMIG", "MG", "cemig_mg", "222")) * 2:
            r = httpx.post(url + "/extract", files={"file": ("f.jpg", IMAGE)}, data={"concessionaria": conc, "uf": uf}, timeout=60)
            assert r.json()["data"]["cod_cliente"] == answer
            rows = {r["key"]: r for r in httpx.get(url + "/adapters").json()}
            assert rows[key]["state"] == "ready" and sum(r["loaded"] for r in rows.values()) == 1
        row = rows["cemig_mg"]
        assert row["request_count"] == 2 and row["rank"] == 8 and row["size_bytes"] > 0 and row["target_modules"]
        assert "extractor_adapter_unloads_total{reason=\"lru\"} 3.0" in httpx.get(url + "/metrics").text


def test_thousand_load_unload_cycles_keep_memory_flat(tiny_model_dir, adapter_factory, adapters_dir):
    from extractor_energy.adapters import AdapterRegistry
    from extractor_energy.engine.model import load_model, model_spec

    install_adapter(adapter_factory(A), adapters_dir, "equatorial_go")
    install_adapter(adapter_factory(B), adapters_dir, "cemig_mg")
    loaded = load_model(test_settings(tiny_model_dir, adapters_dir))
    registry = AdapterRegistry(adapters_dir, model_spec(loaded), max_loaded=1, max_rank=64, allow_base_mismatch=False, stable_s=0,
                               loader=loaded.slots)
    registry.settle()
    leases = [registry.acquire("equatorial_go"), registry.acquire("cemig_mg")]
    for lease in leases:
        registry.release(lease)
    process = psutil.Process()

    def cycle(n: int) -> None:
        for i in range(n):
            assert not registry.sync({leases[i % 2].internal_name})

    cycle(100)
    baseline = process.memory_info().rss
    cycle(1000)
    growth_mb = (process.memory_info().rss - baseline) / 2**20
    assert registry.metrics.adapter_loads._value.get() >= 1100
    assert growth_mb < 20, f"RSS grew by {growth_mb:.1f} MB over 1,000 load/unload cycles"
    assert len(loaded.slots.loaded()) == 1  # the one resident adapter


def test_adapter_metadata_field_set_reaches_the_lease(tiny_model_dir, adapter_factory, adapters_dir):
    from extractor_energy.adapters import AdapterRegistry
    from extractor_energy.engine.model import load_model, model_spec

    folder = install_adapter(adapter_factory(A), adapters_dir, "equatorial_go")
    (folder / "extractor_metadata.json").write_text(json.dumps({"fields": ["valor_fatura", "cod_cliente"]}))
    loaded = load_model(test_settings(tiny_model_dir, adapters_dir))
    registry = AdapterRegistry(adapters_dir, model_spec(loaded), max_loaded=1, max_rank=64, allow_base_mismatch=False, stable_s=0)
    registry.settle()
    lease = registry.acquire("equatorial_go")
    assert lease is not None and lease.fields == ("cod_cliente", "valor_fatura")  # contract order
    assert registry.describe("equatorial_go")["metadata"]["fields"] == ["valor_fatura", "cod_cliente"]
