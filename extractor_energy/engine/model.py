"""Load the base model and its processor once: either family, device and dtype from settings.

Two model families share one serving path:

* ``vlm``: page images -> a vision-language model (Qwen2-VL / Qwen2.5-VL), with an image processor;
* ``text``: page text (PDF text layer or OCR) -> any Hugging Face causal LM, with its tokenizer.

The family follows from the checkpoint's config (a ``vision_config`` means ``vlm``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import torch
from transformers import AutoConfig, AutoModelForCausalLM, AutoModelForImageTextToText, AutoTokenizer

from extractor_energy.config import Settings
from extractor_energy.engine.embedded import EmbeddedModelError, ModelChoice, default_cache_dir, resolve_model
from extractor_energy.lora.slots import SlotMemoryError, SlotTable
from extractor_energy.engine.processor import load_processor
from extractor_energy.adapters.validation import public_model_name

if TYPE_CHECKING:
    from extractor_energy.adapters.validation import ModelSpec

log = logging.getLogger(__name__)

#: Per family, a module-path component every LoRA target must sit under: the VLM's language model
#: (vision-tower modules are refused), a causal LM's decoder layers (``lm_head`` is refused).
LANGUAGE_MODEL_MARKERS: dict[str, str] = {"vlm": "language_model", "text": "layers"}
#: The projections LoRA trains by default, under the family's marker.
_PROJECTIONS = "(q_proj|k_proj|v_proj|o_proj|gate_proj|up_proj|down_proj)"
Family = Literal["vlm", "text"]


def default_targets(family: str) -> str:
    """The LoRA target regex for a family: every attention/MLP projection of the language model."""
    return rf".*{LANGUAGE_MODEL_MARKERS[family]}.*\.{_PROJECTIONS}"


def family_of(config: Any) -> Family:
    """``vlm`` when the checkpoint has a vision tower, else ``text`` (a causal LM)."""
    return "vlm" if getattr(config, "vision_config", None) is not None else "text"


class ModelLoadError(RuntimeError):
    """The configured model could not be loaded; the message says what to set."""


@dataclass
class LoadedModel:
    """The resident model, the slot table holding its adapters' LoRA weights, its processor (VLM) or
    tokenizer (text) and where it runs."""

    model: torch.nn.Module
    slots: SlotTable
    processor: Any
    name: str  # public name (a Hub id, or a local folder's last part): what answers show; never a path
    family: Family
    device: torch.device
    dtype: torch.dtype
    architecture: str = ""  # config.model_type, e.g. qwen2_5_vl, llama
    source: str = ""  # what was loaded (a local directory or Hub id): for logs and adapter checks, never sent
    _spec: "ModelSpec | None" = field(default=None, init=False, repr=False)

    @property
    def tokenizer(self) -> Any:
        return getattr(self.processor, "tokenizer", self.processor)

    @property
    def marker(self) -> str:
        return LANGUAGE_MODEL_MARKERS[self.family]

    def load_adapter(self, folder: str | Path, name: str, *, allow_base_mismatch: bool = False) -> None:
        """Validate an adapter folder as the server would and put it in a slot under ``name``
        (evaluation and benchmarks; the server's registry loads through the same slot table)."""
        from extractor_energy.adapters.validation import validate_adapter_dir

        adapter = validate_adapter_dir(Path(folder), Path(folder).name, model_spec(self), max_rank=self.slots.max_rank,
                                       allow_base_mismatch=allow_base_mismatch)
        self.slots.load(name, adapter)


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


def attach_slots(model: torch.nn.Module, family: Family, settings: Settings) -> SlotTable:
    """Freeze the model for serving and give it a LoRA slot table sized by the settings."""
    model.eval()
    for param in model.parameters():
        param.requires_grad_(False)
    try:
        return SlotTable(
            model, LANGUAGE_MODEL_MARKERS[family], settings.max_loaded_adapters, settings.max_adapter_rank,
            max_bytes=int(settings.lora_slots_max_mb * 2**20),
        )
    except SlotMemoryError as exc:
        raise ModelLoadError(str(exc)) from None


def serving_model(model: torch.nn.Module, like: "LoadedModel", settings: Settings) -> "LoadedModel":
    """``model`` set up for serving with ``like``'s processor and names (e.g. after training on it)."""
    return LoadedModel(
        model=model, slots=attach_slots(model, like.family, settings), processor=like.processor, name=like.name,
        family=like.family, device=like.device, dtype=like.dtype, architecture=like.architecture, source=like.source,
    )


def choose_model(settings: Settings) -> ModelChoice:
    """Resolve ``EXTRACTOR_MODEL`` (``auto`` -> VLM on CUDA, else the embedded text model) and log why."""
    cache = settings.cache_dir or default_cache_dir()
    try:
        choice = resolve_model(str(settings.model), torch.cuda.is_available() and settings.device != "cpu", cache)
    except EmbeddedModelError as exc:
        raise ModelLoadError(str(exc)) from None
    log.info("model: %s (%s)", choice.name, choice.reason)
    return choice


def load_model(settings: Settings) -> LoadedModel:
    """Load the configured model; raise :class:`ModelLoadError` with one actionable line on failure."""
    device = resolve_device(settings.device)
    dtype = resolve_dtype(settings.dtype, device)
    if settings.torch_threads:
        torch.set_num_threads(settings.torch_threads)
    choice = choose_model(settings)
    source = choice.source
    try:
        config = AutoConfig.from_pretrained(source)
        family = family_of(config)
        if family == "vlm":
            processor = load_processor(source, min_pixels=settings.model_min_pixels, max_pixels=settings.model_max_pixels)
            model = AutoModelForImageTextToText.from_pretrained(source, dtype=dtype)
        else:
            processor = load_text_tokenizer(source)
            model = AutoModelForCausalLM.from_pretrained(source, dtype=dtype)
    except (OSError, ValueError, EnvironmentError) as exc:
        if Path(source).exists():
            where = "local directory"
        else:
            where = "no such local directory" if source.startswith(("/", ".", "~")) else "hub id"
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelLoadError(
            f"could not load model {choice.name!r} ({where}): {first_line} — set EXTRACTOR_MODEL to a local checkpoint "
            "directory or a reachable hub id, or leave it at auto for the embedded model (for a quick offline try: "
            "`extractor-energy tiny-model models/tiny` then EXTRACTOR_MODEL=models/tiny)"
        ) from None
    model.to(device)
    slots = attach_slots(model, family, settings)
    log.info("loaded %s (%s, %s family) on %s as %s; LoRA slot table %.0f MiB (%d slots, rank %d)", choice.name,
             config.model_type, family, device, dtype, slots.bytes / 2**20, slots.slots, slots.max_rank)
    return LoadedModel(
        model=model, slots=slots, processor=processor, name=public_model_name(choice.name), family=family, device=device,
        dtype=dtype, architecture=config.model_type, source=choice.source,
    )



def load_text_tokenizer(source: str | Path) -> Any:
    """A causal LM's tokenizer, set up for batches: left padding, a pad token, a chat template."""
    tokenizer = AutoTokenizer.from_pretrained(source)
    tokenizer.padding_side = "left"
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    if not tokenizer.chat_template:
        raise ValueError(f"{source} has no chat template; the text family needs an instruct (chat) model")
    return tokenizer


def model_spec(loaded: LoadedModel) -> "ModelSpec":
    """For validation: names, shapes and weight norms of the Linear layers an adapter may target (those
    with a LoRA slot), and the model's other Linear layers (vision tower, lm_head). Computed once."""
    from extractor_energy.adapters.validation import ModelSpec

    if loaded._spec is None:
        layers = loaded.slots.layers
        shapes = {name: (layer.in_features, layer.out_features) for name, layer in layers.items()}
        with torch.no_grad():
            norms = {name: float(layer.base_layer.weight.float().norm()) for name, layer in layers.items()}
        others = frozenset(name for name, module in loaded.model.named_modules()
                           if isinstance(module, torch.nn.Linear) and name not in layers and not name.endswith(".base_layer"))
        aliases = tuple(s for s in (loaded.source,) if s and s != loaded.name)
        loaded._spec = ModelSpec(name=loaded.name, linear_shapes=shapes, language_model_marker=loaded.marker,
                                 aliases=aliases, weight_norms=norms, other_linear=others)
    return loaded._spec
