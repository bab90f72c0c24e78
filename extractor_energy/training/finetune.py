"""LoRA training core shared by the training run (:mod:`.run`), the test fixtures and the benchmarks.

Uses the server's own prompt (``prompts.build_messages(..., with_adapter=True)``) and chat
template, and puts the loss on the answer tokens only, so what is trained is what is served.
"""

from __future__ import annotations

import json
import math
import random
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Sequence

import torch
from peft import PeftModel, get_peft_model
from PIL import Image

from extractor_energy.engine.encoding import chat_prompt, encode, tokenizer_of
from extractor_energy.domain.keys import BillKey
from extractor_energy.engine.model import family_of
from extractor_energy.extraction.prompts import build_messages
from extractor_energy.domain.schema import BillData, compact
from extractor_energy.training.config import TrainConfig

IGNORE = -100
#: encode (tokenise + image patches) every example once up front when there are at most this many;
#: larger sets are encoded batch by batch so memory stays flat (pixel values are large)
MAX_CACHED_EXAMPLES = 128


def answer_text(data: BillData | dict[str, Any], fields: Sequence[str] | None = None) -> str:
    """What the model is trained to write: the compact contract (empty fields left out) as JSON,
    limited to ``fields`` (an adapter's field set, in contract order) when given."""
    values = compact(data)
    if fields is not None:
        values = {k: v for k, v in values.items() if k in set(fields)}
    return json.dumps(values, ensure_ascii=False, separators=(",", ":"))


@dataclass
class TrainExample:
    """One bill: its pages (VLM family) or its page text (text family), key and the answer to learn."""

    pages: list[Image.Image]
    key: BillKey
    answer: str
    text: str | None = None  # text family: the bill's page text exactly as the server builds it


def encode_example(processor: Any, example: TrainExample) -> dict[str, torch.Tensor]:
    """Tokenise prompt + answer with the pages; labels cover only the answer and its end token."""
    messages = build_messages(example.key, len(example.pages), with_adapter=True, document_text=example.text)
    prompt = chat_prompt(processor, messages)
    end = tokenizer_of(processor).eos_token
    full = encode(processor, [prompt + example.answer + end], example.pages)
    prompt_only = encode(processor, [prompt], example.pages)
    labels = full["input_ids"].clone()
    labels[:, : prompt_only["input_ids"].shape[1]] = IGNORE
    full["labels"] = labels
    return dict(full)


def collate(batch: list[dict[str, torch.Tensor]], pad_id: int) -> dict[str, torch.Tensor]:
    """Right-pad token tensors; concatenate image patches (Qwen-VL packs them, no image padding)."""
    length = max(item["input_ids"].shape[1] for item in batch)

    def pad(name: str, value: int) -> torch.Tensor:
        rows = [torch.nn.functional.pad(b[name], (0, length - b[name].shape[1]), value=value) for b in batch]
        return torch.cat(rows)

    out = {"input_ids": pad("input_ids", pad_id), "attention_mask": pad("attention_mask", 0), "labels": pad("labels", IGNORE)}
    if "mm_token_type_ids" in batch[0]:
        out["mm_token_type_ids"] = pad("mm_token_type_ids", 0)
    if "pixel_values" in batch[0]:
        out["pixel_values"] = torch.cat([b["pixel_values"] for b in batch])
        out["image_grid_thw"] = torch.cat([b["image_grid_thw"] for b in batch])
    return out


@dataclass
class TrainResult:
    model: PeftModel
    losses: list[float] = field(default_factory=list)
    steps: int = 0


def train_lora(
    base_model: torch.nn.Module,
    processor: Any,
    examples: list[TrainExample],
    settings: TrainConfig,
    *,
    max_cached_examples: int = MAX_CACHED_EXAMPLES,
    on_step: Callable[[int, int, float], None] | None = None,
    start_state: dict[str, Any] | None = None,
    save_every: int | None = None,
    on_checkpoint: Callable[[PeftModel, int, dict[str, Any]], None] | None = None,
) -> TrainResult:
    """Train a fresh LoRA adapter on ``examples``; ``on_step(step, total, loss)`` reports progress.

    The hyper-parameters are ``settings``'s; its ``target_modules`` None adapts every projection of the
    base model's language model (the family is read from the model's config).

    ``start_state`` (from a checkpoint: ``{"step", "optimizer", "adapter"}``, optionally ``"losses"``) resumes a
    run; ``on_checkpoint(model, step, state)`` gets ``{"step", "optimizer", "losses"}`` every ``save_every`` steps.
    """
    if not examples:
        raise ValueError("no training examples")
    random.seed(settings.seed)
    torch.manual_seed(settings.seed)
    device = next(base_model.parameters()).device
    dtype = next(base_model.parameters()).dtype
    if settings.checkpointing(device):
        base_model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        base_model.enable_input_require_grads()
    model = get_peft_model(base_model, settings.lora_config(family_of(base_model.config)))
    if settings.init_adapter and not start_state:
        _load_initial_adapter(model, settings.init_adapter)
    if len(examples) <= max_cached_examples:
        cache = [encode_example(processor, ex) for ex in examples]
        encode: Callable[[int], dict[str, torch.Tensor]] = cache.__getitem__
    else:
        encode = lambda i: encode_example(processor, examples[i])  # noqa: E731
    per_epoch = math.ceil(len(examples) / settings.batch_size)
    total_steps = settings.max_steps or max(1, math.ceil(per_epoch * settings.epochs / settings.grad_accum))
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=settings.learning_rate, weight_decay=settings.weight_decay)
    warmup = max(1, int(total_steps * settings.warmup_ratio))
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min(1.0, (s + 1) / warmup) * max(0.0, 0.5 * (1 + math.cos(math.pi * s / total_steps)))
    )
    step = 0
    if start_state:
        from peft import set_peft_model_state_dict

        set_peft_model_state_dict(model, start_state["adapter"])
        optimizer.load_state_dict(start_state["optimizer"])
        step = int(start_state["step"])
        with warnings.catch_warnings():  # fast-forwarding the schedule, not skipping an optimizer step
            warnings.simplefilter("ignore", UserWarning)
            for _ in range(step):
                schedule.step()
    pad_id = tokenizer_of(processor).pad_token_id
    order = _batches(len(examples), settings.batch_size, settings.seed)
    result = TrainResult(model=model)
    if start_state:
        result.losses = [float(x) for x in start_state.get("losses", [])][:step]  # the curve before the resume
    model.train()
    # skip the micro-batches a resumed run has already consumed
    for _ in range(step * settings.grad_accum):
        next(order)
    while step < total_steps:
        loss_sum = 0.0
        for _ in range(settings.grad_accum):
            batch = collate([encode(i) for i in next(order)], pad_id)
            batch = {k: v.to(device) for k, v in batch.items()}
            if "pixel_values" in batch:
                batch["pixel_values"] = batch["pixel_values"].to(dtype)
            loss = model(**batch).loss / settings.grad_accum
            loss.backward()
            loss_sum += loss.item()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        schedule.step()
        optimizer.zero_grad(set_to_none=True)
        step += 1
        result.losses.append(loss_sum)
        if on_step:
            on_step(step, total_steps, loss_sum)
        if on_checkpoint and save_every and step % save_every == 0 and step < total_steps:
            on_checkpoint(model, step, {"step": step, "optimizer": optimizer.state_dict(), "losses": list(result.losses)})
    model.eval()
    result.steps = step
    return result


def _batches(n: int, size: int, seed: int) -> Iterable[list[int]]:
    """Endless shuffled batches of indices, epoch after epoch, reproducible from the seed."""
    rng = random.Random(seed)
    while True:
        order = list(range(n))
        rng.shuffle(order)
        for i in range(0, n, size):
            yield order[i : i + size]


def _load_initial_adapter(model: PeftModel, folder: str) -> None:
    """Copy a trained adapter's LoRA weights into the fresh one (ranks and targets must match)."""
    from pathlib import Path

    from peft import set_peft_model_state_dict
    from safetensors.torch import load_file

    weights = load_file(Path(folder) / "adapter_model.safetensors")
    result = set_peft_model_state_dict(model, weights)
    missing = [k for k in result.missing_keys if ".lora_" in k]
    if missing or result.unexpected_keys:
        raise ValueError(
            f"--init-adapter {folder}: its rank or target modules differ from this run's "
            f"({len(missing)} LoRA weights missing, {len(result.unexpected_keys)} unexpected); train with the same rank and targets"
        )
