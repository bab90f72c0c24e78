"""A poisoned adapter must be refused, or — when loading fails anyway — rolled back without
touching any other adapter (issue 13, item 1)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import httpx
import pytest
from safetensors.torch import load_file, save_file

from .conftest import bill_image, install_adapter, jpeg_bytes
from .live_server import live_server, test_settings
from .test_registry import wait_for

IMAGE = jpeg_bytes(bill_image(3))


@pytest.fixture(scope="module")
def loaded_tiny(tiny_model_dir, tmp_path_factory):
    from extractor_energy.engine.model import load_model

    return load_model(test_settings(tiny_model_dir, tmp_path_factory.mktemp("unused")))


@pytest.fixture(scope="module")
def spec(loaded_tiny):
    from extractor_energy.engine.model import model_spec

    return model_spec(loaded_tiny)


def _poison(good: Path, target: Path, kind: str) -> Path:
    shutil.copytree(good, target)
    cfg_path, weights = target / "adapter_config.json", target / "adapter_model.safetensors"
    cfg = json.loads(cfg_path.read_text())
    if kind in ("nan", "inf"):
        state = load_file(weights)
        name = next(k for k in state if k.endswith("lora_B.weight"))
        state[name][0, 0] = float("nan") if kind == "nan" else float("inf")
        save_file(state, weights)
    else:
        cfg.update(POISON_OPTIONS[kind])
    cfg_path.write_text(json.dumps(cfg))
    return target


POISON_OPTIONS = {
    "trainable_token_indices": {"trainable_token_indices": [0, 1]},
    "layer_replication": {"layer_replication": [[0, 1], [0, 1]]},
    "lora_bias": {"lora_bias": True},
    "alora_invocation_tokens": {"alora_invocation_tokens": [1, 2, 3]},
    "target_parameters": {"target_parameters": ["mlp.experts.gate_up_proj"]},
    "bias": {"bias": "all"},
    "fan_in_fan_out": {"fan_in_fan_out": True},
    "use_qalora": {"use_qalora": True},
    "unknown_future_option": {"use_hyper_lora": {"mode": "x"}},
    "pissa": {"init_lora_weights": "pissa"},
}


@pytest.mark.parametrize("kind", [*POISON_OPTIONS, "nan", "inf"])
def test_validation_refuses_options_beyond_plain_lora(kind, adapter_factory, spec, tmp_path):
    from extractor_energy.adapters.validation import AdapterInvalid, validate_adapter_dir

    folder = _poison(adapter_factory({"cod_cliente": "111"}), tmp_path / "bad_go", kind)
    with pytest.raises(AdapterInvalid) as err:
        validate_adapter_dir(folder, "bad_go", spec, max_rank=64, allow_base_mismatch=True)
    needle = {"nan": "NaN", "inf": "infinite", "pissa": "base weights", "unknown_future_option": "use_hyper_lora"}.get(kind, kind)
    assert needle in str(err.value)


def test_plain_adapter_config_still_validates(adapter_factory, spec, tmp_path):
    from extractor_energy.adapters.validation import validate_adapter_dir

    folder = install_adapter(adapter_factory({"cod_cliente": "111"}), tmp_path, "good_go")
    assert validate_adapter_dir(folder, "good_go", spec, max_rank=64, allow_base_mismatch=True).rank == 8


def _extract(url: str, conc: str, uf: str) -> httpx.Response:
    return httpx.post(url + "/extract", files={"file": ("f.jpg", IMAGE)}, data={"concessionaria": conc, "uf": uf}, timeout=120)


def test_failed_load_rolls_back_and_others_keep_serving(tiny_model_dir, adapter_factory, tmp_path, monkeypatch):
    """Fault injection: the weights of light_rj fail half-way into their slot after validation passed."""
    from extractor_energy.lora import slots as lora_slots

    real = lora_slots.write_slot

    def failing(table, slot, adapter, pairs):
        if adapter.key == "light_rj":
            real(table, slot, adapter, dict(list(pairs.items())[:3]))  # some layers written, then it breaks
            raise RuntimeError(f"injected failure while loading {adapter.key}")
        return real(table, slot, adapter, pairs)

    monkeypatch.setattr(lora_slots, "write_slot", failing)
    adapters = tmp_path / "adapters"
    adapters.mkdir()
    install_adapter(adapter_factory({"cod_cliente": "111"}), adapters, "equatorial_go")
    install_adapter(adapter_factory({"cod_cliente": "222"}), adapters, "cemig_mg")
    install_adapter(adapter_factory({"cod_cliente": "333"}), adapters, "light_rj")
    _poison(adapter_factory({"cod_cliente": "333"}), adapters / "enel_rj", "trainable_token_indices")
    with live_server(test_settings(tiny_model_dir, adapters)) as url:
        assert _extract(url, "EQUATORIAL", "GO").json()["data"]["cod_cliente"] == "111"
        r = _extract(url, "LIGHT", "RJ")
        assert r.status_code == 503 and "light_rj" in r.json()["detail"], r.text
        assert "__" not in r.json()["detail"]  # no internal version names
        rows = {row["key"]: row for row in httpx.get(url + "/adapters").json()}
        assert rows["light_rj"]["state"] == "error" and "injected failure" in rows["light_rj"]["error"]
        assert "__" not in rows["light_rj"]["error"]
        assert rows["enel_rj"]["state"] == "error" and "trainable_token_indices" in rows["enel_rj"]["error"]
        for conc, uf, answer in (("EQUATORIAL", "GO", "111"), ("CEMIG", "MG", "222")):
            r = _extract(url, conc, uf)
            assert r.status_code == 200 and r.json()["data"]["cod_cliente"] == answer, r.text
        rows = {row["key"]: row for row in httpx.get(url + "/adapters").json()}
        assert rows["equatorial_go"]["state"] == "ready" and rows["cemig_mg"]["state"] == "ready"
        # a newly published version of the failed key loads normally once the fault is gone
        monkeypatch.setattr(lora_slots, "write_slot", real)
        install_adapter(adapter_factory({"cod_cliente": "111"}), adapters, "light_rj")
        wait_for(url, "light_rj", lambda row: row.get("state") in ("ready", "unloaded"))
        r = _extract(url, "LIGHT", "RJ")
        assert r.status_code == 200 and r.json()["data"]["cod_cliente"] == "111", r.text


# ---------------------------------------------------------------- item 8: links and sizes
def _registry(root: Path, spec, **kw):
    from extractor_energy.adapters import AdapterRegistry

    return AdapterRegistry(root, spec, max_loaded=2, max_rank=64, allow_base_mismatch=True, stable_s=0, **kw)


def test_folders_and_files_linking_outside_the_adapters_dir_are_refused(adapter_factory, spec, tmp_path):
    good = adapter_factory({"cod_cliente": "111"})
    root, outside = tmp_path / "adapters", tmp_path / "elsewhere"
    root.mkdir()
    shutil.copytree(good, outside / "real")
    (outside / "secret.json").write_text(json.dumps({"password": "hunter2-test-secret"}))
    (root / "equatorial_go").symlink_to(outside / "real", target_is_directory=True)
    meta = install_adapter(good, root, "cemig_mg")
    (meta / "extractor_metadata.json").symlink_to(outside / "secret.json")
    weights = install_adapter(good, root, "light_rj")
    (weights / "adapter_model.safetensors").unlink()
    (weights / "adapter_model.safetensors").symlink_to(outside / "real" / "adapter_model.safetensors")
    inside = install_adapter(good, root, ".shared")  # a link that stays inside the folder is fine
    (root / "enel_rj").symlink_to(inside, target_is_directory=True)
    registry = _registry(root, spec)
    registry.settle()
    rows = {row["key"]: row for row in registry.describe_all()}
    for key in ("equatorial_go", "cemig_mg", "light_rj"):
        assert rows[key]["state"] == "error" and "outside the adapters directory" in rows[key]["error"], rows[key]
        assert registry.acquire(key) is None
    assert "hunter2" not in json.dumps(rows)
    assert rows["enel_rj"]["state"] == "unloaded"


def test_adapter_size_cap_is_checked_before_reading(adapter_factory, spec, tmp_path):
    import psutil

    root = tmp_path / "adapters"
    folder = install_adapter(adapter_factory({"cod_cliente": "111"}), root, "equatorial_go")
    with open(folder / "adapter_model.safetensors", "r+b") as handle:  # sparse: 500 MB that take no disk
        handle.truncate(500 * 1024 * 1024)
    registry = _registry(root, spec, max_adapter_bytes=64 * 1024 * 1024)
    rss = psutil.Process().memory_info().rss
    registry.settle()
    grown_mb = (psutil.Process().memory_info().rss - rss) / 2**20
    row = registry.describe("equatorial_go")
    assert row["state"] == "error" and "EXTRACTOR_MAX_ADAPTER_MB" in row["error"] and "500.0 MB" in row["error"], row
    assert grown_mb < 100, f"RSS grew {grown_mb:.0f} MB: the file was read"


# ---------------------------------------------------------------- item 9: which base model
def test_base_model_check_compares_full_ids_and_resolved_paths(tmp_path):
    from extractor_energy.adapters.validation import ModelSpec, same_model, with_source

    local = tmp_path / "models" / "tiny"
    local.mkdir(parents=True)
    (tmp_path / "link").symlink_to(local, target_is_directory=True)
    (tmp_path / "elsewhere" / "tiny").mkdir(parents=True)
    served_local = ModelSpec(name=str(local), linear_shapes={})
    assert not same_model("evil-org/tiny", served_local)  # only the last component matches
    assert not same_model(str(tmp_path / "elsewhere" / "tiny"), served_local)
    assert same_model(str(local) + "/", served_local) and same_model(str(tmp_path / "link"), served_local)

    cache = tmp_path / "hub" / "models--HuggingFaceTB--SmolLM2-135M-Instruct" / "snapshots" / "0123abc"
    cache.mkdir(parents=True)
    served_hub = with_source(ModelSpec(name="HuggingFaceTB/SmolLM2-135M-Instruct", linear_shapes={}), str(cache))
    assert same_model("HuggingFaceTB/SmolLM2-135M-Instruct", served_hub)
    assert same_model("huggingfacetb/smollm2-135m-instruct", served_hub)
    assert same_model(str(cache), served_hub)  # trained on the same cache directory
    assert same_model("/other/machine/models--HuggingFaceTB--SmolLM2-135M-Instruct/snapshots/x", served_hub)
    assert not same_model("evil-org/SmolLM2-135M-Instruct", served_hub)
    assert not same_model("SmolLM2-135M-Instruct", served_hub)
    # served from a plain local directory under a Hub id (no cache layout): the id still matches
    plain = with_source(ModelSpec(name="HuggingFaceTB/SmolLM2-135M-Instruct", linear_shapes={}), str(local))
    assert same_model("HuggingFaceTB/SmolLM2-135M-Instruct", plain) and same_model(str(local), plain)


def test_adapter_naming_another_org_is_refused(adapter_factory, spec, tmp_path):
    from extractor_energy.adapters.validation import AdapterInvalid, validate_adapter_dir

    folder = install_adapter(adapter_factory({"cod_cliente": "111"}), tmp_path, "equatorial_go")
    cfg = json.loads((folder / "adapter_config.json").read_text())
    cfg["base_model_name_or_path"] = "evil-org/" + Path(spec.name).name
    (folder / "adapter_config.json").write_text(json.dumps(cfg))
    with pytest.raises(AdapterInvalid, match="EXTRACTOR_ALLOW_BASE_MODEL_MISMATCH"):
        validate_adapter_dir(folder, "equatorial_go", spec, max_rank=64, allow_base_mismatch=False)


# ---------------------------------------------------------------- issue 23, items 1-3: magnitude, rank_pattern, vision tower
def _edit(good: Path, target: Path, config: dict | None = None, weights=None) -> Path:
    shutil.copytree(good, target)
    if config is not None:
        cfg = json.loads((target / "adapter_config.json").read_text())
        cfg.update(config)
        (target / "adapter_config.json").write_text(json.dumps(cfg))
    if weights is not None:
        state = load_file(target / "adapter_model.safetensors")
        save_file(weights(state), target / "adapter_model.safetensors")
    return target


def test_huge_finite_weights_are_refused_naming_the_module(adapter_factory, spec, tmp_path):
    from extractor_energy.adapters.validation import AdapterInvalid, validate_adapter_dir

    def huge(state):
        return {k: (v.fill_(1e30) if "lora_B" in k else v) for k, v in state.items()}

    folder = _edit(adapter_factory({"cod_cliente": "111"}), tmp_path / "huge_go", weights=huge)
    with pytest.raises(AdapterInvalid) as err:
        validate_adapter_dir(folder, "huge_go", spec, max_rank=64, allow_base_mismatch=True)
    message = str(err.value)
    assert "too large" in message and "base weight" in message and "4×" in message, message
    assert any(module in message for module in spec.linear_shapes), message  # names the module


def test_an_update_just_past_the_bound_is_refused_and_a_trained_one_passes(adapter_factory, spec, tmp_path):
    """The bound is relative to each base weight: scaling one module's B past it is caught, the trained adapter is well inside."""
    from extractor_energy.adapters.magnitude import MAX_DELTA_RATIO, delta_norm
    from extractor_energy.adapters.validation import _KEY, AdapterInvalid, validate_adapter_dir

    good = adapter_factory({"cod_cliente": "111"})
    trained = validate_adapter_dir(good, "good_go", spec, max_rank=64, allow_base_mismatch=True)
    scaling = trained.alpha / trained.rank
    pairs: dict[str, dict] = {}
    for key, tensor in trained.state_dict.items():
        match = _KEY.match(key)
        pairs.setdefault(match["module"], {})[match["part"]] = tensor
    ratios = {m: scaling * delta_norm(p["lora_A"], p["lora_B"]) / spec.weight_norms[m] for m, p in pairs.items()}
    assert max(ratios.values()) < MAX_DELTA_RATIO / 2, ratios
    module = max(ratios, key=ratios.get)
    factor = 1.05 * MAX_DELTA_RATIO / max(ratios[module], 1e-9)

    def past_the_bound(state):
        name = f"base_model.model.{module}.lora_B.weight"
        return {k: (v * factor if k == name else v) for k, v in state.items()}

    folder = _edit(good, tmp_path / "big_go", weights=past_the_bound)
    with pytest.raises(AdapterInvalid, match=module.replace(".", r"\.")):
        validate_adapter_dir(folder, "big_go", spec, max_rank=64, allow_base_mismatch=True)


def test_rank_pattern_over_the_cap_names_that_rank_and_module(adapter_factory, spec, tmp_path):
    from extractor_energy.adapters.validation import AdapterInvalid, validate_adapter_dir

    folder = _edit(adapter_factory({"cod_cliente": "111"}), tmp_path / "rp_go", config={"r": 8, "rank_pattern": {"q_proj": 64}})
    with pytest.raises(AdapterInvalid) as err:
        validate_adapter_dir(folder, "rp_go", spec, max_rank=16, allow_base_mismatch=True)
    message = str(err.value)
    assert "64" in message and "q_proj" in message and "EXTRACTOR_MAX_ADAPTER_RANK=16" in message, message
    assert "rank 8" not in message and "r=8" not in message, message


@pytest.mark.parametrize("targets", [["model.visual.blocks.0.attn.proj"], r"model\.visual\..*\.proj"])
def test_vision_tower_targets_are_refused_as_unsupported_not_missing(adapter_factory, spec, tmp_path, targets):
    from extractor_energy.adapters.validation import AdapterInvalid, validate_adapter_dir

    assert "model.visual.blocks.0.attn.proj" in spec.other_linear  # the module exists in the base model
    folder = _edit(adapter_factory({"cod_cliente": "111"}), tmp_path / "vis_go", config={"target_modules": targets})
    with pytest.raises(AdapterInvalid) as err:
        validate_adapter_dir(folder, "vis_go", spec, max_rank=64, allow_base_mismatch=True)
    message = str(err.value)
    assert "vision tower are not supported" in message and "not in the base model" not in message, message


def test_vision_tower_weights_are_refused_as_unsupported(adapter_factory, spec, tmp_path):
    import torch

    from extractor_energy.adapters.validation import AdapterInvalid, validate_adapter_dir

    def with_visual(state):
        layer = "model.visual.blocks.0.attn.proj"
        a = next(v for k, v in state.items() if "lora_A" in k)
        return {**state, f"base_model.model.{layer}.lora_A.weight": torch.zeros(a.shape[0], 8),
                f"base_model.model.{layer}.lora_B.weight": torch.zeros(8, a.shape[0])}

    folder = _edit(adapter_factory({"cod_cliente": "111"}), tmp_path / "visw_go", weights=with_visual)
    with pytest.raises(AdapterInvalid, match="vision tower are not supported"):
        validate_adapter_dir(folder, "visw_go", spec, max_rank=64, allow_base_mismatch=True)
