"""Image-only processors for the Qwen-VL families.

transformers 5 builds a video processor for every Qwen-VL processor, and that needs
torchvision. Bills are never videos, so these subclasses drop the video processor: the same
classes serve a real checkpoint on a GPU host and the tiny test model on a CPU-only machine.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from transformers import AutoConfig, AutoProcessor, Qwen2_5_VLProcessor, Qwen2VLProcessor


class _ImageOnlyMixin:
    @classmethod
    def get_attributes(cls) -> list[str]:
        return ["image_processor", "tokenizer"]

    def __init__(self, image_processor: Any = None, tokenizer: Any = None, chat_template: str | None = None, **kwargs: Any):
        super().__init__(  # type: ignore[call-arg]
            image_processor=image_processor, tokenizer=tokenizer, video_processor=None, chat_template=chat_template, **kwargs
        )


class ImageOnlyQwen2_5_VLProcessor(_ImageOnlyMixin, Qwen2_5_VLProcessor):
    """Qwen2.5-VL processor without the (torchvision-only) video processor."""


class ImageOnlyQwen2VLProcessor(_ImageOnlyMixin, Qwen2VLProcessor):
    """Qwen2-VL processor without the (torchvision-only) video processor."""


PROCESSORS_BY_MODEL_TYPE: dict[str, type] = {
    "qwen2_5_vl": ImageOnlyQwen2_5_VLProcessor,
    "qwen2_vl": ImageOnlyQwen2VLProcessor,
}


def load_processor(model_id: str | Path, *, min_pixels: int, max_pixels: int, **hub_kwargs: Any) -> Any:
    """Load the processor of ``model_id`` with the page pixel budget applied; left padding for batches."""
    config = AutoConfig.from_pretrained(model_id, **hub_kwargs)
    cls = PROCESSORS_BY_MODEL_TYPE.get(config.model_type)
    if cls is None:
        processor = AutoProcessor.from_pretrained(model_id, **hub_kwargs)
    else:
        processor = cls.from_pretrained(model_id, **hub_kwargs)
    image_processor = getattr(processor, "image_processor", None)
    if image_processor is not None and hasattr(image_processor, "size"):
        image_processor.size = {"shortest_edge": min_pixels, "longest_edge": max_pixels}
    processor.tokenizer.padding_side = "left"
    return processor
