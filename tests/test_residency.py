"""Residency rules (LRU, slots, failures) and the catalog/residency split, with fake load/unload
callables and hand-made adapter files: no model at all."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from extractor_energy.adapters.registry import REFUSED, AdapterRegistry
from extractor_energy.adapters.residency import ResidencyManager
from extractor_energy.adapters.validation import ModelSpec, ValidatedAdapter
from extractor_energy.metrics import Metrics

MODULE = "model.layers.0.self_attn.q_proj"
SPEC = ModelSpec(name="fake/base", linear_shapes={MODULE: (4, 4)}, language_model_marker="layers")


class Recorder:
    """load/unload callables that record what they were asked, and fail for chosen names."""

    def __init__(self, fail: set[str] = frozenset()) -> None:
        self.calls: list[tuple[str, str]] = []
        self.fail = fail

    def load(self, name: str, item: object) -> None:
        self.calls.append(("load", name))
        if any(name.startswith(f) for f in self.fail):
            raise RuntimeError(f"injected failure for {name}")

    def unload(self, name: str, item: object = None) -> None:
        self.calls.append(("unload", name))


def manager(capacity: int, rec: Recorder) -> ResidencyManager[str]:
    return ResidencyManager(rec.load, rec.unload, capacity=capacity, metrics=Metrics())


def unloads(metrics: Metrics, reason: str) -> float:
    return metrics.registry.get_sample_value("extractor_adapter_unloads_total", {"reason": reason}) or 0.0


def test_least_recently_used_adapter_is_unloaded_first():
    rec = Recorder()
    res = manager(2, rec)
    assert res.ensure({"a": "A"}) == {} and res.ensure({"b": "B"}) == {}
    res.ensure({"a": "A"})  # a is used again: b is now the least recently used
    assert res.ensure({"c": "C"}) == {}
    assert res.resident() == ["a", "c"]
    assert rec.calls == [("load", "a"), ("load", "b"), ("unload", "b"), ("load", "c")]
    assert unloads(res.metrics, "lru") == 1


def test_an_adapter_no_request_holds_is_unloaded_before_a_busy_one():
    rec = Recorder()
    res = manager(2, rec)
    res.ensure({"a": "A"})
    res.ensure({"b": "B"})
    res.ensure({"c": "C"}, busy={"a"})  # a is older, but queued requests still need it
    assert res.resident() == ["a", "c"]


def test_a_failed_load_is_reported_leaves_nothing_resident_and_spares_the_others():
    rec = Recorder(fail={"bad"})
    res = manager(2, rec)
    res.ensure({"good": "G"})
    failures = res.ensure({"bad": "B", "other": "O"})
    assert set(failures) == {"bad"} and "injected failure" in failures["bad"].message
    assert not failures["bad"].over_capacity
    assert res.resident() == ["good", "other"]
    assert res.metrics.adapter_loads._value.get() == 2


def test_a_batch_wanting_more_adapters_than_slots_is_refused_over_capacity_without_thrashing():
    rec = Recorder()
    res = manager(2, rec)
    failures = res.ensure({"a": 1, "b": 2, "c": 3})
    assert list(failures) == ["c"] and failures["c"].over_capacity and "EXTRACTOR_MAX_LOADED_ADAPTERS" in failures["c"].message
    assert res.resident() == ["a", "b"] and ("unload", "a") not in rec.calls and ("unload", "b") not in rec.calls


def test_drop_unloads_once_and_survives_a_failing_unload():
    rec = Recorder()

    def broken_unload(name: str, item: object) -> None:
        raise RuntimeError("stuck")

    res = ResidencyManager(rec.load, broken_unload, capacity=1, metrics=Metrics())
    res.ensure({"a": "A"})
    assert res.drop("a", reason="retired") is True
    assert res.drop("a", reason="retired") is False
    assert res.resident() == [] and res.ensure({"b": "B"}) == {}


# ---------------------------------------------------------------- the registry: catalog + residency
def publish(root: Path, key: str, seed: int) -> Path:
    """A stock-PEFT-shaped rank-2 adapter for SPEC's one module, written by hand."""
    folder = root / key
    folder.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    (folder / "adapter_config.json").write_text(json.dumps(
        {"peft_type": "LORA", "r": 2, "lora_alpha": 4, "target_modules": ["q_proj"], "base_model_name_or_path": "fake/base"}
    ))
    save_file({f"base_model.model.{MODULE}.lora_A.weight": torch.randn(2, 4),
               f"base_model.model.{MODULE}.lora_B.weight": torch.randn(4, 2)}, folder / "adapter_model.safetensors")
    return folder


class FakeLoader:
    def __init__(self, fail: set[str] = frozenset()) -> None:
        self.rec = Recorder(fail)
        self.loaded: dict[str, ValidatedAdapter] = {}

    def load(self, name: str, adapter: ValidatedAdapter) -> None:
        self.rec.load(name, adapter)
        self.loaded[name] = adapter

    def unload(self, name: str) -> None:
        self.rec.unload(name)
        self.loaded.pop(name, None)


def make_registry(root: Path, loader: FakeLoader, **kw) -> AdapterRegistry:
    root.mkdir(exist_ok=True)
    kw.setdefault("max_loaded", 2)
    return AdapterRegistry(root, SPEC, max_rank=16, allow_base_mismatch=False, stable_s=0, loader=loader, **kw)


def test_a_replaced_version_stays_loaded_while_leased_and_is_unloaded_once_released(tmp_path):
    loader = FakeLoader()
    reg = make_registry(tmp_path / "adapters", loader)
    publish(reg.root, "equatorial_go", seed=1)
    reg.settle()
    old = reg.acquire("equatorial_go")
    assert reg.sync({old.internal_name}) == {} and old.internal_name in loader.loaded
    publish(reg.root, "equatorial_go", seed=2)  # new weights: a new version
    reg.settle()
    new = reg.acquire("equatorial_go")
    assert new.version != old.version
    reg.sync({new.internal_name})
    assert set(loader.loaded) == {old.internal_name, new.internal_name}  # the old one still serves its request
    reg.release(old)
    reg.sync(set())
    assert set(loader.loaded) == {new.internal_name}
    assert unloads(reg.metrics, "retired") == 1
    reg.release(new)


def test_a_refused_load_turns_the_key_to_error_and_the_others_keep_serving(tmp_path):
    loader = FakeLoader(fail={"light_rj"})
    reg = make_registry(tmp_path / "adapters", loader)
    publish(reg.root, "light_rj", seed=1)
    publish(reg.root, "cemig_mg", seed=2)
    reg.settle()
    bad, good = reg.acquire("light_rj"), reg.acquire("cemig_mg")
    failures = reg.sync({bad.internal_name, good.internal_name})
    assert failures == {bad.internal_name: REFUSED}
    row = reg.describe("light_rj")
    assert row["state"] == "error" and "injected failure for light_rj" in row["error"] and "__" not in row["error"]
    assert reg.acquire("light_rj") is None and reg.describe("cemig_mg")["state"] == "ready"
    reg.release(bad)
    reg.release(good)


def test_preload_fills_free_slots_only_and_over_capacity_is_not_an_adapter_error(tmp_path):
    loader = FakeLoader()
    reg = make_registry(tmp_path / "adapters", loader, preload=True)
    for i, key in enumerate(("cemig_mg", "enel_rj", "light_rj")):
        publish(reg.root, key, seed=i)
    reg.settle()
    reg.sync(set())
    assert len(loader.loaded) == 2  # two slots, three adapters
    reg.preload = False
    leases = [reg.acquire(k) for k in ("cemig_mg", "enel_rj", "light_rj")]
    failures = reg.sync({lease.internal_name for lease in leases})
    assert len(failures) == 1 and "EXTRACTOR_MAX_LOADED_ADAPTERS" in next(iter(failures.values()))
    assert all(row["state"] in ("ready", "unloaded") for row in reg.describe_all())  # nobody is blamed
    for lease in leases:
        reg.release(lease)


def test_unload_soon_lets_a_router_evict_what_it_no_longer_routes_here(tmp_path):
    loader = FakeLoader()
    reg = make_registry(tmp_path / "adapters", loader)
    publish(reg.root, "cemig_mg", seed=1)
    reg.settle()
    lease = reg.acquire("cemig_mg")
    reg.sync({lease.internal_name})
    reg.release(lease)
    assert reg.resident_keys() == ["cemig_mg"]
    reg.unload_soon("cemig_mg")
    reg.sync(set())
    assert reg.resident_keys() == [] and loader.loaded == {} and unloads(reg.metrics, "router") == 1
    assert reg.describe("cemig_mg")["state"] == "unloaded"


def test_without_a_loader_the_catalog_still_scans_and_leases(tmp_path):
    root = tmp_path / "adapters"
    root.mkdir()
    publish(root, "cemig_mg", seed=1)
    reg = AdapterRegistry(root, SPEC, max_loaded=1, max_rank=16, allow_base_mismatch=False, stable_s=0)
    reg.settle()
    lease = reg.acquire("cemig_mg")
    assert lease is not None and reg.describe("cemig_mg")["state"] == "unloaded"
    with pytest.raises(ValueError):
        ResidencyManager(print, print, capacity=0)


def test_is_resident_answers_for_the_current_version_only(tmp_path):
    loader = FakeLoader()
    reg = make_registry(tmp_path / "adapters", loader)
    publish(reg.root, "cemig_mg", seed=1)
    reg.settle()
    assert not reg.is_resident("cemig_mg") and not reg.is_resident("enel_rj")
    lease = reg.acquire("cemig_mg")
    reg.sync({lease.internal_name})
    assert reg.is_resident("cemig_mg")
    publish(reg.root, "cemig_mg", seed=2)  # a new version: the loaded one is no longer current
    reg.settle()
    assert not reg.is_resident("cemig_mg")
    reg.release(lease)


def test_a_quiet_watcher_does_not_rescan_every_tick(tmp_path):
    """With nothing changing and nothing settling, the watcher scans once, not on every 50 ms tick;
    a new folder is still picked up."""
    import time

    from extractor_energy.adapters.watcher import AdapterWatcher

    class CountingRegistry(AdapterRegistry):
        scans = 0

        def scan(self) -> None:
            CountingRegistry.scans += 1
            super().scan()

    root = tmp_path / "adapters"
    root.mkdir()
    publish(root, "cemig_mg", seed=1)
    reg = CountingRegistry(root, SPEC, max_loaded=1, max_rank=16, allow_base_mismatch=False, stable_s=0)
    watcher = AdapterWatcher(reg, tick_ms=50, full_rescan_s=60)
    watcher.start()
    try:
        time.sleep(1.0)
        assert 1 <= CountingRegistry.scans <= 3, CountingRegistry.scans  # every tick would be ~20
        publish(root, "enel_rj", seed=2)
        deadline = time.monotonic() + 5
        while "enel_rj" not in reg.keys() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert "enel_rj" in reg.keys()
    finally:
        watcher.stop()
