"""The gathered-bmm mixed-adapter path computes exactly what PEFT's per-adapter loop computes."""

from __future__ import annotations

import torch
from peft import LoraConfig
from peft.tuners.lora import layer as lora_layer

from extractor_energy.keys import make_key
from extractor_energy.lora_batching import enable_gathered_lora
from extractor_energy.model import load_model
from extractor_energy.prompts import build_messages

from .conftest import bill_image
from .live_server import test_settings


def test_gathered_lora_matches_peft_loop_with_mixed_ranks_and_targets(tiny_model_dir, tmp_path):
    loaded = load_model(test_settings(tiny_model_dir, tmp_path))
    model = loaded.model
    targets = {
        "r4_all": (4, r".*language_model.*\.(q_proj|k_proj|v_proj|o_proj|gate_proj|up_proj|down_proj)"),
        "r8_some": (8, r".*language_model.*\.(q_proj|down_proj)"),
        "r2_mlp": (2, r".*language_model.*\.(gate_proj|up_proj)"),
    }
    for i, (name, (rank, pattern)) in enumerate(targets.items()):
        torch.manual_seed(i)
        model.add_adapter(name, LoraConfig(r=rank, lora_alpha=3 * rank, target_modules=pattern, init_lora_weights=False))
    assert enable_gathered_lora(model) > 0
    model.eval()
    processor = loaded.processor
    text = processor.apply_chat_template(build_messages(make_key("EQUATORIAL", "GO"), 1, True), add_generation_prompt=True, tokenize=False)
    pages = [bill_image(i).resize((112, 84 + 28 * (i % 2))) for i in range(6)]
    batch = processor(text=[text] * 6, images=pages, return_tensors="pt", padding=True)
    names = ["r4_all", "__base__", "r8_some", "r2_mlp", "r4_all", "r8_some"]
    single = ["r8_some", "__base__", "r8_some", "__base__", "__base__", "r8_some"]
    with torch.no_grad():
        gathered = model(**batch, adapter_names=names).logits
        gathered_single = model(**batch, adapter_names=single).logits
        patched = [m for m in model.modules() if isinstance(m, lora_layer.Linear)]
        for module in patched:  # back to PEFT's own per-adapter loop
            del module.__dict__["_mixed_batch_forward"]
        reference = model(**batch, adapter_names=names).logits
        reference_single = model(**batch, adapter_names=single).logits
        base_only = model(**batch, adapter_names=["__base__"] * 6).logits
    assert torch.allclose(gathered, reference, atol=1e-5), (gathered - reference).abs().max()
    assert torch.allclose(gathered_single, reference_single, atol=1e-5)
    assert not torch.allclose(reference[0], base_only[0], atol=1e-3)  # the adapters really change the output
    assert torch.allclose(reference[1], base_only[1], atol=1e-5)  # base rows are untouched
