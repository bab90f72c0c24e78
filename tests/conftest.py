"""Shared fixtures: a tiny real-architecture VLM built offline once per session, and tiny
LoRA adapters trained in about a second to answer a constant JSON (so a response shows
exactly which adapter produced it)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Callable

import pytest
import torch
from PIL import Image, ImageDraw

torch.set_num_threads(1)  # 2 cores: more threads contend and run far slower
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

TINY_PIXELS = 112 * 112


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from extractor_energy.engine.tiny import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("models") / "tiny-qwen2_5_vl")


def bill_image(seed: int = 0, size: tuple[int, int] = (300, 420)) -> Image.Image:
    """A small bill-like picture (text and boxes drawn with PIL)."""
    img = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(img)
    draw.rectangle((10, 10, size[0] - 10, 60), outline=(200, 30, 30), width=3)
    draw.text((20, 25), f"Unidade Consumidora {1000 + seed}", fill="black")
    draw.text((20, 90), f"Total a pagar R$ {seed + 10},45", fill="black")
    draw.rectangle((10, 120 + seed % 50, 120, 200), fill=((seed * 37) % 255, 120, 200))
    return img


def jpeg_bytes(img: Image.Image) -> bytes:
    import io

    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=90)
    return buf.getvalue()


@pytest.fixture(scope="session")
def adapter_factory(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Path]:
    """``adapter_factory(answer_dict, steps=60) -> folder``: a LoRA adapter that always writes ``answer_dict``.

    Trained once per distinct answer and cached; copy the folder where a test needs it.
    """
    from transformers import AutoModelForImageTextToText

    from extractor_energy.documents.decode import DocumentLimits, load_document
    from extractor_energy.training.config import TrainConfig
    from extractor_energy.training.finetune import TrainExample, answer_text, train_lora
    from extractor_energy.domain.keys import make_key
    from extractor_energy.engine.processor import load_processor

    cache: dict[str, Path] = {}
    root = tmp_path_factory.mktemp("trained-adapters")
    processor = load_processor(tiny_model_dir, min_pixels=56 * 56, max_pixels=TINY_PIXELS)

    def make(answer: dict, steps: int = 60, rank: int = 8) -> Path:
        text = answer_text(answer)
        tag = f"{text}|{steps}|{rank}"
        if tag not in cache:
            base = AutoModelForImageTextToText.from_pretrained(tiny_model_dir)
            key = make_key("EQUATORIAL", "GO")  # the adapter prompt does not name the key
            limits = DocumentLimits(model_max_pixels=TINY_PIXELS)  # pages exactly as the server prepares them
            examples = [TrainExample(load_document(jpeg_bytes(bill_image(i)), limits).pages, key, text) for i in range(4)]
            settings = TrainConfig(rank=rank, alpha=2 * rank, dropout=0.0, learning_rate=1e-2, max_steps=steps, batch_size=2, grad_accum=1)
            result = train_lora(base, processor, examples, settings)
            out = root / f"adapter-{len(cache)}"
            result.model.save_pretrained(out)
            cache[tag] = out
        return cache[tag]

    return make


def install_adapter(source: Path, adapters_dir: Path, key: str) -> Path:
    """Publish an adapter the safe way: copy beside the target, then rename into place."""
    target = adapters_dir / key
    staging = adapters_dir / f".{key}.staging"
    shutil.rmtree(staging, ignore_errors=True)
    shutil.copytree(source, staging)
    if target.exists():
        old = adapters_dir / f".{key}.old"
        shutil.rmtree(old, ignore_errors=True)
        target.rename(old)
        staging.rename(target)
        shutil.rmtree(old, ignore_errors=True)
    else:
        staging.rename(target)
    return target


def read_json(path: Path) -> dict:
    return json.loads(path.read_text())


# ---------------------------------------------------------------------------- text family
@pytest.fixture(scope="session")
def tiny_text_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random-weight Llama-architecture causal LM (the text family), built offline."""
    from extractor_energy.engine.tiny import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("models") / "tiny-text", family="text")


def bill_text(seed: int = 0) -> str:
    """Page text like the OCR/text-layer output the text family reads."""
    return (f"UNIDADE CONSUMIDORA | {1000 + seed}\nCONTA MÊS | TOTAL A PAGAR | VENCIMENTO\n"
            f"0{seed % 9 + 1}/2025 | R$ {seed + 10},45 | 10/0{seed % 9 + 1}/2025")


@pytest.fixture(scope="session")
def text_adapter_factory(tiny_text_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Path]:
    """``text_adapter_factory(answer_dict, steps=60) -> folder``: a text-family LoRA adapter that always writes ``answer_dict``."""
    from extractor_energy.training.config import TrainConfig
    from extractor_energy.training.finetune import TrainExample, answer_text, train_lora
    from extractor_energy.domain.keys import make_key
    from extractor_energy.engine.model import default_targets, load_text_tokenizer
    from transformers import AutoModelForCausalLM

    cache: dict[str, Path] = {}
    root = tmp_path_factory.mktemp("trained-text-adapters")
    tokenizer = load_text_tokenizer(tiny_text_model_dir)

    def make(answer: dict, steps: int = 60, rank: int = 8) -> Path:
        text = answer_text(answer)
        tag = f"{text}|{steps}|{rank}"
        if tag not in cache:
            base = AutoModelForCausalLM.from_pretrained(tiny_text_model_dir)
            key = make_key("EQUATORIAL", "GO")
            examples = [TrainExample([], key, text, text=bill_text(i)) for i in range(4)]
            settings = TrainConfig(rank=rank, alpha=2 * rank, dropout=0.0, learning_rate=1e-2, max_steps=steps,
                                   batch_size=2, grad_accum=1, target_modules=default_targets("text"))
            result = train_lora(base, tokenizer, examples, settings)
            result.model.peft_config["default"].base_model_name_or_path = str(tiny_text_model_dir)
            out = root / f"adapter-{len(cache)}"
            result.model.save_pretrained(out)
            cache[tag] = out
        return cache[tag]

    return make
