"""One batched ``generate`` over requests that may each use a different adapter.

Only the scheduler's worker thread calls :func:`generate_batch`; adapters are chosen per row
through the LoRA slot table (``lora_slots``): row -> slot is planned once per batch, never a global
"active adapter".
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable

import torch
from PIL import Image
from transformers import LogitsProcessor, LogitsProcessorList

from extractor_energy.adapters.identity import BASE
from extractor_energy.engine.encoding import chat_prompt, encode
from extractor_energy.engine.model import LoadedModel

__all__ = ["BASE", "GenerationInput", "GenerationOutput", "ProcessorFactory", "generate_batch"]


@dataclass
class GenerationInput:
    """One bill: its pages (VLM family; ``[]`` for the text family, whose page text is in the messages),
    the chat messages, and which adapter serves it: ``adapter_name`` is the slot id of the request's
    :class:`~extractor_energy.adapters.identity.AdapterRef` (BASE: the base model)."""

    pages: list[Image.Image]
    messages: list[dict[str, Any]]
    adapter_name: str = BASE
    schema_fields: tuple[str, ...] | None = None  # restrict constrained decoding to these fields
    #: this request's own JSON schema (e.g. an ``enum`` of the page's candidates per field); when set it
    #: replaces the contract's schema (and ``schema_fields``) for this row only
    json_schema: dict[str, Any] | None = None


@dataclass
class GenerationOutput:
    text: str
    token_ids: list[int]
    token_probs: list[float]  # model probability of each generated token (before any constraint)
    preprocess_ms: float
    generate_ms: float
    batch_size: int
    prompt_tokens: int = 0
    token_texts: list[str] = field(default_factory=list)  # text of each generated token (confidence spans)
    queue_ms: float = 0.0  # set by the service: time the request waited for the worker

    @property
    def tokens_generated(self) -> int:
        return len(self.token_ids)


class TokenProbabilityRecorder(LogitsProcessor):
    """Records p(chosen token) from the raw logits, one step behind, without keeping all logits."""

    def __init__(self) -> None:
        self.previous: torch.Tensor | None = None
        self.steps: list[torch.Tensor] = []

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        self._collect(input_ids[:, -1])
        self.previous = torch.softmax(scores.float(), dim=-1)
        return scores

    def _collect(self, chosen: torch.Tensor) -> None:
        if self.previous is not None:
            chosen = chosen.to(self.previous.device)
            self.steps.append(self.previous.gather(1, chosen.unsqueeze(1)).squeeze(1))  # stays on device
            self.previous = None

    def finish(self, last_tokens: torch.Tensor) -> torch.Tensor:
        self._collect(last_tokens)
        return torch.stack(self.steps, dim=1).cpu() if self.steps else torch.zeros((last_tokens.shape[0], 0))


#: Builds extra logits processors (e.g. a JSON-schema constraint) for a batch and its token budget.
ProcessorFactory = Callable[[list[GenerationInput], int], list[LogitsProcessor]]


def generate_batch(
    loaded: LoadedModel,
    inputs: list[GenerationInput],
    max_new_tokens: int,
    extra_processors: ProcessorFactory | None = None,
) -> list[GenerationOutput]:
    """Run one ``generate`` for all ``inputs`` and decode each row."""
    started = time.perf_counter()
    processor = loaded.processor
    texts = [chat_prompt(processor, i.messages) for i in inputs]
    images = [page for i in inputs for page in i.pages]
    batch = encode(processor, texts, images, padding=True)
    batch = {k: v.to(loaded.device) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}
    if "pixel_values" in batch:
        batch["pixel_values"] = batch["pixel_values"].to(loaded.dtype)
    prompt_len = batch["input_ids"].shape[1]
    prompt_tokens = batch["attention_mask"].sum(dim=1).tolist()  # per row, without the left padding
    recorder = TokenProbabilityRecorder()
    processors = LogitsProcessorList([recorder, *(extra_processors(inputs, max_new_tokens) if extra_processors else [])])
    preprocessed = time.perf_counter()
    tokenizer = loaded.tokenizer
    with torch.inference_mode(), loaded.slots.rows([i.adapter_name for i in inputs]):
        out = loaded.model.generate(
            **batch,
            max_new_tokens=max_new_tokens,
            do_sample=False,
            logits_processor=processors,
            eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
        )
    generated = out[:, prompt_len:].cpu()
    probs = recorder.finish(generated[:, -1]) if generated.shape[1] else torch.zeros((len(inputs), 0))
    finished = time.perf_counter()
    results = []
    for row in range(len(inputs)):
        ids = generated[row].tolist()
        end = len(ids)
        for stop in (tokenizer.eos_token_id, tokenizer.pad_token_id):
            if stop in ids[:end]:
                end = ids.index(stop)
        results.append(
            GenerationOutput(
                text=tokenizer.decode(ids[:end], skip_special_tokens=True),
                token_ids=ids[:end],
                token_probs=probs[row, :end].tolist(),
                preprocess_ms=(preprocessed - started) * 1000,
                generate_ms=(finished - preprocessed) * 1000,
                batch_size=len(inputs),
                prompt_tokens=int(prompt_tokens[row]),
                token_texts=[tokenizer.decode([t], skip_special_tokens=True) for t in ids[:end]],
            )
        )
    return results
