"""Chat prompt -> model inputs, the same way for serving, training and evaluation, for both families.

A VLM's processor tokenises the text and turns pages into image patches; a causal LM's tokenizer
only tokenises (the page text is already in the prompt). The chat template already writes every
special token, so the text family tokenises with ``add_special_tokens=False`` (no second BOS).
"""

from __future__ import annotations

from typing import Any

from PIL import Image


def is_vision_processor(processor: Any) -> bool:
    return hasattr(processor, "image_processor")


def chat_prompt(processor: Any, messages: list[dict[str, Any]]) -> str:
    """The chat-templated prompt, ending where the assistant's answer starts."""
    return processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)


def encode(processor: Any, texts: list[str], images: list[Image.Image] | None = None, *, padding: bool = False) -> dict[str, Any]:
    """Tensors for ``texts`` (and, for a VLM, their pages in order)."""
    if is_vision_processor(processor):
        return dict(processor(text=texts, images=images or None, padding=padding, return_tensors="pt"))
    if images:
        raise ValueError("a text-family model reads page text, not page images")
    return dict(processor(texts, padding=padding, return_tensors="pt", add_special_tokens=False))


def tokenizer_of(processor: Any) -> Any:
    return getattr(processor, "tokenizer", processor)
