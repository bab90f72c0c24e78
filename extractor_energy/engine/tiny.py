"""Build a small model of a real architecture, offline, with random weights: Qwen-VL (``vlm``
family) or Llama (``text`` family: a causal LM with a chat template, like SmolLM2).

The result is a normal ``save_pretrained`` checkpoint (config, weights, tokenizer, processor,
chat template), so the service loads it through exactly the code that loads a real one. Used by
the tests, the demo and the benchmarks; no hub access needed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast, Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration, Qwen2VLConfig, Qwen2VLForConditionalGeneration

from extractor_energy.engine.processor import ImageOnlyQwen2_5_VLProcessor, ImageOnlyQwen2VLProcessor
from extractor_energy.domain.schema import ALL_FIELDS

Family = Literal["qwen2_5_vl", "qwen2_vl", "text"]
Size = Literal["tiny", "bench"]

SPECIAL_TOKENS = [
    "<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|vision_end|>",
    "<|image_pad|>", "<|video_pad|>",
]

#: Qwen-style chat template (images as <|vision_start|><|image_pad|><|vision_end|>).
CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for part in message['content'] %}"
    "{% if part['type'] == 'image' %}<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif part['type'] == 'text' %}{{ part['text'] }}{% endif %}{% endfor %}{% endif %}"
    "<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

#: ChatML template for the text family: plain-string message contents (what causal LMs' templates take).
TEXT_CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

SIZES: dict[str, dict[str, int]] = {
    # ~0.3M parameters: tests
    "tiny": dict(vocab=1024, hidden=64, layers=2, heads=4, kv_heads=2, inter=128, v_hidden=32, v_depth=2, v_heads=2),
    # ~25M parameters: benchmarks (the model, not Python, dominates)
    "bench": dict(vocab=4096, hidden=512, layers=6, heads=8, kv_heads=4, inter=1536, v_hidden=128, v_depth=2, v_heads=4),
}


def _corpus() -> list[str]:
    """Text the tokenizer learns from: prompts, labels, field names, numbers, JSON."""
    from extractor_energy.extraction.prompts import all_prompt_texts  # local import: prompts import nothing heavy

    words = [
        "Unidade Consumidora", "Parceiro de Negócio", "Código do Cliente", "Nº do Cliente", "Conta mês",
        "Total a pagar", "Vencimento", "Próxima Leitura", "Leitura Anterior", "Leitura Atual", "RESIDENCIAL",
        "COMERCIAL", "MONOFASICO", "BIFASICO", "TRIFASICO", "EQUATORIAL", "ENEL", "CEMIG", "LIGHT", "CPFL",
        "ENERGISA", "COPEL", "Goiânia", "Rua", "Avenida", "Setor", "Bairro", "Centro", "null", "true", "false",
    ]
    digits = [f"{i:03d} {i * 7 % 1000},{i % 100:02d} {i % 12 + 1:02d}/20{20 + i % 10}" for i in range(300)]
    fields = [json.dumps({f: "111"}, ensure_ascii=False) for f in ALL_FIELDS]
    return all_prompt_texts() + words * 5 + digits + fields * 10


def build_tokenizer(vocab_size: int) -> PreTrainedTokenizerFast:
    """A byte-level BPE tokenizer (any text is encodable) trained offline on domain text."""
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=SPECIAL_TOKENS, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    tok.train_from_iterator(_corpus(), trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|endoftext|>", padding_side="left"
    )


def build_tiny_model(out_dir: str | Path, family: Family = "qwen2_5_vl", size: Size = "tiny", seed: int = 0) -> Path:
    """Write a random-weight checkpoint + processor to ``out_dir`` and return it."""
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    dims = SIZES[size]
    torch.manual_seed(seed)
    tokenizer = build_tokenizer(dims["vocab"])
    if family == "text":
        return _build_text_model(out, tokenizer, dims, size)
    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in SPECIAL_TOKENS}
    head_dim = dims["hidden"] // dims["heads"]
    half = head_dim // 2
    mrope = [half - 2 * (half // 3), half // 3, half // 3]  # sums to head_dim / 2
    text_config = dict(
        vocab_size=len(tokenizer), hidden_size=dims["hidden"], intermediate_size=dims["inter"],
        num_hidden_layers=dims["layers"], num_attention_heads=dims["heads"], num_key_value_heads=dims["kv_heads"],
        max_position_embeddings=8192, rope_scaling={"type": "mrope", "mrope_section": mrope},
        bos_token_id=None, eos_token_id=ids["<|im_end|>"], pad_token_id=ids["<|endoftext|>"], tie_word_embeddings=False,
        initializer_range=0.15 if size == "tiny" else 0.02,  # tiny: logits wide enough for LoRA to reach confident answers
    )
    token_ids = dict(
        image_token_id=ids["<|image_pad|>"], video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"], vision_end_token_id=ids["<|vision_end|>"],
    )
    if family == "qwen2_5_vl":
        vision = dict(
            depth=dims["v_depth"], hidden_size=dims["v_hidden"], intermediate_size=dims["v_hidden"] * 2,
            num_heads=dims["v_heads"], out_hidden_size=dims["hidden"], fullatt_block_indexes=[dims["v_depth"] - 1],
            window_size=112, patch_size=14, spatial_merge_size=2, temporal_patch_size=2,
        )
        config = Qwen2_5_VLConfig(text_config=text_config, vision_config=vision, **token_ids)
        model = Qwen2_5_VLForConditionalGeneration(config)
        processor_cls = ImageOnlyQwen2_5_VLProcessor
    elif family == "qwen2_vl":
        vision = dict(
            depth=dims["v_depth"], embed_dim=dims["v_hidden"], hidden_size=dims["hidden"], num_heads=dims["v_heads"],
            mlp_ratio=2, patch_size=14, spatial_merge_size=2, temporal_patch_size=2,
        )
        config = Qwen2VLConfig(text_config=text_config, vision_config=vision, **token_ids)
        model = Qwen2VLForConditionalGeneration(config)
        processor_cls = ImageOnlyQwen2VLProcessor
    else:
        raise ValueError(f"unknown family {family!r}: expected qwen2_5_vl or qwen2_vl")
    model.generation_config.eos_token_id = ids["<|im_end|>"]
    model.generation_config.pad_token_id = ids["<|endoftext|>"]
    model.generation_config.do_sample = False
    model.save_pretrained(out)
    image_processor = Qwen2VLImageProcessorPil(min_pixels=56 * 56, max_pixels=448 * 448)
    processor_cls(image_processor=image_processor, tokenizer=tokenizer, chat_template=CHAT_TEMPLATE).save_pretrained(out)
    return out


def _build_text_model(out: Path, tokenizer: PreTrainedTokenizerFast, dims: dict[str, int], size: str) -> Path:
    """A Llama-architecture causal LM (SmolLM2's family) with a ChatML template."""
    from transformers import LlamaConfig, LlamaForCausalLM

    eos, pad = tokenizer.convert_tokens_to_ids("<|im_end|>"), tokenizer.convert_tokens_to_ids("<|endoftext|>")
    config = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=dims["hidden"], intermediate_size=dims["inter"],
        num_hidden_layers=dims["layers"], num_attention_heads=dims["heads"], num_key_value_heads=dims["kv_heads"],
        max_position_embeddings=8192, bos_token_id=None, eos_token_id=eos, pad_token_id=pad, tie_word_embeddings=True,
        initializer_range=0.15 if size == "tiny" else 0.02,
    )
    model = LlamaForCausalLM(config)
    model.generation_config.eos_token_id = eos
    model.generation_config.pad_token_id = pad
    model.generation_config.do_sample = False
    model.save_pretrained(out)
    tokenizer.chat_template = TEXT_CHAT_TEMPLATE
    tokenizer.save_pretrained(out)
    return out
