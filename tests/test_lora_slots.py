"""The LoRA slot table computes exactly what stock PEFT computes, for any mix of adapters in a batch."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from peft import LoraConfig, PeftModel, get_peft_model
from transformers import AutoModelForImageTextToText

from extractor_energy.adapters.validation import validate_adapter_dir
from extractor_energy.domain.keys import make_key
from extractor_energy.lora.slots import SlotTable, SlotTableError, table_bytes
from extractor_energy.engine.model import ModelLoadError, load_model, model_spec
from extractor_energy.extraction.prompts import build_messages

from .conftest import bill_image
from .live_server import test_settings

_ALL = r".*language_model.*\.(q_proj|k_proj|v_proj|o_proj|gate_proj|up_proj|down_proj)"
ADAPTERS = {  # mixed ranks, targets, rsLoRA and per-module alpha: every scaling rule PEFT has for plain LoRA
    "r4_all": LoraConfig(r=4, lora_alpha=12, target_modules=_ALL, init_lora_weights=False),
    "r8_some": LoraConfig(r=8, lora_alpha=8, target_modules=r".*language_model.*\.(q_proj|down_proj)", init_lora_weights=False,
                          use_rslora=True),
    "r2_mlp": LoraConfig(r=2, lora_alpha=6, target_modules=r".*language_model.*\.(gate_proj|up_proj)", init_lora_weights=False,
                         alpha_pattern={"up_proj": 1}),
}


@pytest.fixture(scope="module")
def saved_adapters(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Stock PEFT adapters with random (non-zero) A and B, saved the way training saves them."""
    root = tmp_path_factory.mktemp("slot-adapters")
    folders = {}
    for i, (name, config) in enumerate(ADAPTERS.items()):
        torch.manual_seed(i)
        peft_model = get_peft_model(AutoModelForImageTextToText.from_pretrained(tiny_model_dir), config)
        peft_model.peft_config["default"].base_model_name_or_path = str(tiny_model_dir)
        peft_model.save_pretrained(root / name)
        folders[name] = root / name
    return folders


def _batch(loaded, rows: int):
    processor = loaded.processor
    text = processor.apply_chat_template(build_messages(make_key("EQUATORIAL", "GO"), 1, True), add_generation_prompt=True, tokenize=False)
    pages = [bill_image(i).resize((112, 84 + 28 * (i % 2))) for i in range(rows)]
    return processor(text=[text] * rows, images=pages, return_tensors="pt", padding=True)


def test_slot_table_matches_stock_peft_on_mixed_and_single_adapter_batches(tiny_model_dir, saved_adapters, tmp_path):
    loaded = load_model(test_settings(tiny_model_dir, tmp_path))
    for name, folder in saved_adapters.items():
        loaded.load_adapter(folder, name)
    names = ["r4_all", "__base__", "r8_some", "r2_mlp", "r4_all", "r8_some"]
    single = ["r8_some", "__base__", "r8_some", "__base__", "__base__", "r8_some"]
    batch = _batch(loaded, len(names))
    with torch.no_grad():
        with loaded.slots.rows(names):
            mixed = loaded.model(**batch).logits
        with loaded.slots.rows(single):
            one = loaded.model(**batch).logits
        with loaded.slots.rows(["r4_all"] * len(names)):
            all_one = loaded.model(**batch).logits
        plain = loaded.model(**batch).logits  # outside rows(): every row on the base model

    reference = PeftModel.from_pretrained(AutoModelForImageTextToText.from_pretrained(tiny_model_dir), str(saved_adapters["r4_all"]),
                                          adapter_name="r4_all")
    for name in ("r8_some", "r2_mlp"):
        reference.load_adapter(str(saved_adapters[name]), adapter_name=name)
    reference.eval()
    with torch.no_grad():
        expected = reference(**batch, adapter_names=names).logits
        expected_one = reference(**batch, adapter_names=single).logits
        expected_all_one = reference(**batch, adapter_names=["r4_all"] * len(names)).logits
        with reference.disable_adapter():
            base = reference(**batch).logits
    assert torch.allclose(mixed, expected, atol=1e-5), (mixed - expected).abs().max()
    assert torch.allclose(one, expected_one, atol=1e-5), (one - expected_one).abs().max()
    assert torch.allclose(all_one, expected_all_one, atol=1e-5)
    assert torch.allclose(plain, base, atol=1e-6)
    assert not torch.allclose(expected[0], base[0], atol=1e-3)  # the adapters really change the output
    assert torch.allclose(mixed[1], base[1], atol=1e-5)  # base rows are untouched


def test_unload_zeroes_the_slot_and_a_failed_load_leaves_no_trace(tiny_model_dir, saved_adapters, tmp_path):
    loaded = load_model(test_settings(tiny_model_dir, tmp_path, max_loaded_adapters=2))
    table = loaded.slots
    batch = _batch(loaded, 2)
    with torch.no_grad():
        base = loaded.model(**batch).logits
    loaded.load_adapter(saved_adapters["r4_all"], "a")
    loaded.load_adapter(saved_adapters["r8_some"], "b")
    with pytest.raises(SlotTableError, match="all 2 LoRA slots"):
        loaded.load_adapter(saved_adapters["r2_mlp"], "c")
    table.unload("a")
    assert table.loaded() == {"b": 2}
    assert all(float(layer.slot_a[1].abs().sum()) == 0 and float(layer.slot_b[1].abs().sum()) == 0 for layer in table.layers.values())
    # a load that fails half-way (one module's weights are broken) leaves its slot zero and free
    adapter = validate_adapter_dir(saved_adapters["r2_mlp"], "r2_mlp", model_spec(loaded), max_rank=16, allow_base_mismatch=True)
    last = sorted(adapter.state_dict)[-1]
    adapter.state_dict[last] = adapter.state_dict[last][:, :1]  # wrong shape: the copy into the slot fails
    with pytest.raises(RuntimeError):
        table.load("broken", adapter)
    assert table.loaded() == {"b": 2}
    assert all(float(layer.slot_a[1].abs().sum()) == 0 and float(layer.slot_b[1].abs().sum()) == 0 for layer in table.layers.values())
    with torch.no_grad(), table.rows(["broken", "__base__"]):  # an unknown name is the base model
        assert torch.allclose(loaded.model(**batch).logits, base, atol=1e-6)


def test_slot_memory_is_stated_and_capped(tiny_model_dir, tmp_path):
    loaded = load_model(test_settings(tiny_model_dir, tmp_path, max_loaded_adapters=3, max_adapter_rank=8))
    width = sum(layer.in_features + layer.out_features for layer in loaded.slots.layers.values())
    assert loaded.slots.bytes == table_bytes(loaded.slots.layers, 3, 8, torch.float32) == 4 * 8 * width * 4
    with pytest.raises(ModelLoadError, match="EXTRACTOR_LORA_SLOTS_MAX_MB"):
        load_model(test_settings(tiny_model_dir, tmp_path, max_loaded_adapters=64, max_adapter_rank=128,
                                 lora_slots_max_mb=loaded.slots.bytes / 2**20))


def test_the_table_only_holds_language_model_projections(tiny_model_dir, tmp_path):
    loaded = load_model(test_settings(tiny_model_dir, tmp_path))
    names = set(loaded.slots.layers)
    assert names and all("language_model" in n.split(".") for n in names)
    assert {n.rsplit(".", 1)[-1] for n in names} == {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}
    with pytest.raises(SlotTableError, match="no q_proj"):
        SlotTable(torch.nn.Sequential(torch.nn.Linear(4, 4)), "language_model", 2, 4)
