"""Load the base VLM and its processor once: any supported family, device and dtype from settings."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from peft import LoraConfig, PeftModel, get_peft_model
from transformers import AutoConfig, AutoModelForImageTextToText

from .config import Settings
from .lora_batching import enable_gathered_lora
from .processor import load_processor

if TYPE_CHECKING:
    from .adapters.validation import ModelSpec

log = logging.getLogger(__name__)

#: Name of the never-used, zero-effect adapter that keeps the PEFT wrapper valid when no real
#: adapter is loaded (PEFT cannot run a ``PeftModel`` whose last adapter was deleted).
PLACEHOLDER_ADAPTER = "__placeholder__"
#: Modules of the language model that LoRA may target (vision-tower modules are refused).
LANGUAGE_MODEL_MARKER = "language_model"


class ModelLoadError(RuntimeError):
    """The configured model could not be loaded; the message says what to set."""


@dataclass
class LoadedModel:
    """The resident model (wrapped for PEFT), its processor and where it runs."""

    model: PeftModel
    processor: Any
    name: str
    family: str
    device: torch.device
    dtype: torch.dtype

    @property
    def tokenizer(self) -> Any:
        return self.processor.tokenizer

    @property
    def base(self) -> torch.nn.Module:
        return self.model.get_base_model()


def resolve_device(setting: str) -> torch.device:
    if setting == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if setting == "cuda" and not torch.cuda.is_available():
        raise ModelLoadError("EXTRACTOR_DEVICE=cuda but no CUDA device is visible; set EXTRACTOR_DEVICE=cpu or auto")
    return torch.device(setting)


def resolve_dtype(setting: str, device: torch.device) -> torch.dtype:
    if setting == "auto":
        return torch.bfloat16 if device.type == "cuda" else torch.float32
    return {"bfloat16": torch.bfloat16, "float16": torch.float16, "float32": torch.float32}[setting]


def wrap_for_adapters(model: torch.nn.Module) -> PeftModel:
    """Wrap the base model once so adapters can be added/deleted and chosen per row."""
    placeholder = LoraConfig(r=1, lora_alpha=1, target_modules=rf".*{LANGUAGE_MODEL_MARKER}.*\.q_proj", init_lora_weights=True)
    peft_model = get_peft_model(model, placeholder, adapter_name=PLACEHOLDER_ADAPTER)
    peft_model.eval()
    enable_gathered_lora(peft_model)
    for param in peft_model.parameters():
        param.requires_grad_(False)
    return peft_model


def load_model(settings: Settings) -> LoadedModel:
    """Load ``settings.model``; raise :class:`ModelLoadError` with one actionable line on failure."""
    device = resolve_device(settings.device)
    dtype = resolve_dtype(settings.dtype, device)
    if settings.torch_threads:
        torch.set_num_threads(settings.torch_threads)
    name = str(settings.model)
    try:
        config = AutoConfig.from_pretrained(name)
        processor = load_processor(name, min_pixels=settings.model_min_pixels, max_pixels=settings.model_max_pixels)
        model = AutoModelForImageTextToText.from_pretrained(name, dtype=dtype)
    except (OSError, ValueError, EnvironmentError) as exc:
        if Path(name).exists():
            where = "local directory"
        else:
            where = "no such local directory" if name.startswith(("/", ".", "~")) else "hub id"
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelLoadError(
            f"could not load model {name!r} ({where}): {first_line} — set EXTRACTOR_MODEL to a local checkpoint "
            "directory or a reachable hub id (for a quick offline try: `extractor-energy tiny-model models/tiny` "
            "then EXTRACTOR_MODEL=models/tiny)"
        ) from None
    model.to(device)
    log.info("loaded %s (%s) on %s as %s", name, config.model_type, device, dtype)
    return LoadedModel(
        model=wrap_for_adapters(model), processor=processor, name=name, family=config.model_type, device=device, dtype=dtype
    )


def model_spec(loaded: LoadedModel) -> "ModelSpec":
    """Names and shapes of the base model's Linear layers, for adapter validation."""
    from .adapters.validation import ModelSpec

    shapes: dict[str, tuple[int, int]] = {}
    for name, module in loaded.base.named_modules():
        layer = getattr(module, "base_layer", module)  # modules already wrapped by PEFT
        if isinstance(layer, torch.nn.Linear) and not name.endswith("base_layer") and ".lora_" not in name:
            shapes[name] = (layer.in_features, layer.out_features)
    return ModelSpec(name=loaded.name, linear_shapes=shapes, language_model_marker=LANGUAGE_MODEL_MARKER)
