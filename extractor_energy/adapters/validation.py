"""Validate an adapter folder before anything touches the model.

Checks: PEFT LoRA config (no DoRA, no ``modules_to_save``: vLLM's rules, so adapters stay
portable), readable safetensors, every tensor on a Linear module of the base model's language
model with shapes matching that module and the configured rank, rank within the limit, every
configured target present in the base model, and the base model it was trained on.
and the size of each module's update against its base weight (:mod:`.magnitude`).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load as load_safetensors

from extractor_energy.adapters.magnitude import oversized_update

CONFIG_FILE = "adapter_config.json"
WEIGHTS_FILE = "adapter_model.safetensors"
METADATA_FILE = "extractor_metadata.json"
#: adapter_config.json and extractor_metadata.json are small; the weights have EXTRACTOR_MAX_ADAPTER_MB.
SMALL_FILE_BYTES = 1024 * 1024
DEFAULT_MAX_ADAPTER_BYTES = 1024 * 1024 * 1024
#: module-path components of a vision-language model's vision tower (Qwen2-VL, Qwen2.5-VL, LLaVA-style, SigLIP)
VISION_TOWER_PARTS = frozenset({"visual", "vision_tower", "vision_model", "vision_encoder", "multi_modal_projector"})
_KEY = re.compile(r"^base_model\.model\.(?P<module>.+)\.(?P<part>lora_A|lora_B)(?:\.[^.]+)?\.weight$")


class AdapterInvalid(ValueError):
    """The folder is not a servable adapter; the message is shown in ``GET /adapters``."""


@dataclass(frozen=True)
class ModelSpec:
    """What validation needs to know about the served model."""

    name: str
    linear_shapes: dict[str, tuple[int, int]]  # module name -> (in_features, out_features)
    language_model_marker: str = "language_model"
    #: other names of the same checkpoint, e.g. the local directory it was loaded from
    aliases: tuple[str, ...] = ()
    #: module name -> ‖W‖_F of its base weight (the magnitude bound is skipped for modules not listed)
    weight_norms: dict[str, float] = field(default_factory=dict)
    #: Linear modules of the model that adapters may not target (vision tower, lm_head), for precise refusals
    other_linear: frozenset[str] = frozenset()


@dataclass
class ValidatedAdapter:
    """A checked adapter, its weights already in host memory (loading never re-reads the folder)."""

    key: str
    path: Path
    version: str
    config: dict[str, Any]
    state_dict: dict[str, torch.Tensor]
    modules: list[str]
    rank: int
    alpha: float
    size_bytes: int
    base_model: str | None
    metadata: dict[str, Any] | None = field(default=None)


def fingerprint(*blobs: bytes) -> str:
    """Version id of an adapter: a hash of the exact bytes that were validated and loaded."""
    digest = hashlib.sha256()
    for blob in blobs:
        digest.update(len(blob).to_bytes(8, "little"))
        digest.update(blob)
    return digest.hexdigest()[:12]


def with_source(spec: ModelSpec, *sources: str | None) -> ModelSpec:
    """``spec`` that also answers to ``sources`` (e.g. the cache directory a Hub id was loaded from)."""
    extra = tuple(str(s) for s in sources if s and str(s) not in (spec.name, *spec.aliases))
    return replace(spec, aliases=spec.aliases + extra)


def _norm_id(name: str) -> str:
    return name.strip().rstrip("/").casefold()


def _hub_id_in_cache_path(name: str) -> str | None:
    """``…/models--Org--Name/snapshots/<rev>`` (the Hugging Face cache layout) -> ``org/name``."""
    for part in reversed(Path(name).parts):
        if part.startswith("models--") and len(part) > len("models--"):
            return _norm_id(part[len("models--"):].replace("--", "/"))
    return None


def _local_dir(name: str) -> Path | None:
    try:
        path = Path(name).expanduser()
        return path.resolve() if path.is_dir() else None
    except (OSError, ValueError):
        return None


def public_model_name(name: str) -> str:
    """The name answers may show: a Hub id (``org/name``) as is; a local path by its last part
    (a Hugging Face cache folder ``…/models--Org--Name/snapshots/<rev>`` by its Hub id)."""
    text = str(name).strip().rstrip("/")
    path = Path(text).expanduser()
    for part in reversed(path.parts):
        if part.startswith("models--") and len(part) > len("models--"):
            return part[len("models--"):].replace("--", "/")
    looks_local = text.startswith(("/", ".", "~", "\\")) or text.count("/") > 1 or "\\" in text
    try:
        looks_local = looks_local or path.exists()
    except OSError:
        pass
    return (path.name or text) if looks_local else text


def same_model(base: str, spec: ModelSpec) -> bool:
    """``base`` (an adapter's ``base_model_name_or_path``) names the served checkpoint: the same
    full Hub id (case-insensitive), the same resolved local directory, or a Hugging Face cache
    directory of that Hub id. A different organisation or another directory with the same last
    path component (``evil-org/tiny`` vs ``/models/tiny``) does not match."""
    names = (spec.name, *spec.aliases)
    wanted = _norm_id(base)
    ids = {_norm_id(n) for n in names} | {h for n in names if (h := _hub_id_in_cache_path(n))}
    if wanted in ids or _hub_id_in_cache_path(base) in ids:
        return True
    base_dir = _local_dir(base)
    return base_dir is not None and any(_local_dir(n) == base_dir for n in names)


#: adapter_config.json keys that describe the adapter or are checked elsewhere: any value is fine.
_PLAIN_LORA_KEYS = frozenset({
    "task_type", "peft_type", "auto_mapping", "peft_version", "base_model_name_or_path", "revision", "inference_mode",
    "r", "target_modules", "exclude_modules", "lora_alpha", "lora_dropout", "use_rslora", "rank_pattern", "alpha_pattern",
    "layers_to_transform", "layers_pattern", "runtime_config", "megatron_core", "qalora_group_size",
    "ensure_weight_tying", "modules_to_save", "use_dora", "init_lora_weights",
})
#: init_lora_weights values that rewrite the *base* weights (the adapter is only right on a changed base model).
_BASE_CHANGING_INITS = ("pissa", "olora", "corda", "loftq", "eva", "lora_ga", "orthogonal")


def _neutral(value: Any) -> bool:
    """An option left at "off": null, false, empty, or bias "none"."""
    return value is None or value is False or value == "none" or (isinstance(value, (list, dict, str)) and not value)


def _check_options(config: dict[str, Any]) -> None:
    """Refuse every option that makes an adapter more than LoRA A/B on Linear layers.

    trainable_token_indices (embedding rows), layer_replication (duplicated layers), lora_bias
    (bias vectors), alora_invocation_tokens (activated LoRA), target_parameters, quantisation-aware
    or other LoRA variants change the model's structure beyond the adapter; options this server
    does not know are refused too (unless left off), so a newer PEFT feature is never half-applied.
    """
    for name, value in config.items():
        if name in _PLAIN_LORA_KEYS or _neutral(value):
            continue
        if name == "bias":
            raise AdapterInvalid(f"bias={value!r} trains the base model's biases; only bias=\"none\" adapters are served")
        raise AdapterInvalid(
            f"option {name}={_short(value)} changes more than LoRA A/B weights on Linear layers and is not served; "
            "retrain without it"
        )
    init = config.get("init_lora_weights")
    if isinstance(init, str) and init.lower().startswith(_BASE_CHANGING_INITS):
        raise AdapterInvalid(
            f"init_lora_weights={init!r} changes the base weights; convert the adapter to plain LoRA before publishing"
        )


def _short(value: Any, limit: int = 60) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _check_config(config: dict[str, Any], max_rank: int) -> tuple[int, float]:
    if config.get("peft_type") != "LORA":
        raise AdapterInvalid(f"peft_type is {config.get('peft_type')!r}; only LORA adapters are served")
    if config.get("use_dora"):
        raise AdapterInvalid("DoRA adapters are not served (use_dora=true); train plain LoRA")
    if config.get("modules_to_save"):
        raise AdapterInvalid(f"modules_to_save={config['modules_to_save']} is not supported; train LoRA weights only")
    _check_options(config)
    rank = config.get("r")
    if not isinstance(rank, int) or isinstance(rank, bool) or rank < 1:
        raise AdapterInvalid(f"LoRA rank r={rank!r} is not a positive integer")
    for name in ("rank_pattern", "alpha_pattern"):
        pattern = config.get(name) or {}
        if not isinstance(pattern, dict) or not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0 for v in pattern.values()
        ):
            raise AdapterInvalid(f"{name} must map module names to positive numbers")
    alpha = config.get("lora_alpha")
    if alpha is not None and (not isinstance(alpha, (int, float)) or isinstance(alpha, bool) or not 0 < alpha < 1e6):
        raise AdapterInvalid(f"lora_alpha={_short(alpha)} is not a positive number")
    if rank > max_rank:
        raise AdapterInvalid(f"LoRA rank r={rank} exceeds EXTRACTOR_MAX_ADAPTER_RANK={max_rank}")
    for module, value in (config.get("rank_pattern") or {}).items():
        if value > max_rank:
            raise AdapterInvalid(
                f"LoRA rank {value} for module {_short(module)} (rank_pattern) exceeds EXTRACTOR_MAX_ADAPTER_RANK={max_rank}"
            )
    return rank, float(config.get("lora_alpha") or rank)


def in_vision_tower(module: str) -> bool:
    return not VISION_TOWER_PARTS.isdisjoint(module.split("."))


def _outside(module: str) -> AdapterInvalid:
    """The refusal for a module that exists but lies outside the language model."""
    if in_vision_tower(module):
        return AdapterInvalid(
            f"adapters on the vision tower are not supported ({_short(module)}): only the language model's "
            "projections take LoRA here; retrain with targets limited to the language model"
        )
    return AdapterInvalid(
        f"adapter targets {_short(module)}, outside the language model (e.g. lm_head); such adapters break "
        "per-request adapter batches and are refused — retrain with targets limited to the language model"
    )


def _named(target: str, names: Any) -> list[str]:
    return [n for n in names if n == target or n.endswith("." + target)]


def _check_targets(config: dict[str, Any], spec: ModelSpec) -> None:
    targets = config.get("target_modules")
    names = list(spec.linear_shapes)
    if isinstance(targets, str):
        try:
            pattern = re.compile(targets)
        except re.error as exc:
            raise AdapterInvalid(f"target_modules pattern {_short(targets)} is not a valid regular expression: {exc}") from None
        if not any(pattern.fullmatch(n) for n in names):
            outside = sorted(n for n in spec.other_linear if pattern.fullmatch(n))
            if outside:
                raise _outside(outside[0])
            raise AdapterInvalid(f"target_modules pattern {_short(targets)} matches no module of the base model")
    elif isinstance(targets, list) and targets:
        for target in map(str, targets):  # a target that exists only outside the language model: say so
            outside = _named(target, spec.other_linear)
            if outside and not _named(target, names):
                raise _outside(outside[0])
        unknown = [t for t in targets if not _named(str(t), names)]
        if unknown:
            raise AdapterInvalid(f"target modules not in the base model: {', '.join(map(str, unknown))}")
    elif targets != "all-linear":
        raise AdapterInvalid("adapter_config.json has no target_modules")


def _check_weights(state: dict[str, torch.Tensor], rank: int, config: dict, spec: ModelSpec) -> list[str]:
    modules: dict[str, dict[str, torch.Size]] = {}
    for key, tensor in state.items():
        match = _KEY.match(key)
        if not match:
            raise AdapterInvalid(f"unexpected tensor {key!r}: only lora_A/lora_B weights of Linear layers are served")
        if not tensor.is_floating_point():
            raise AdapterInvalid(f"tensor {key!r} has dtype {tensor.dtype}; LoRA weights must be floating point")
        if not bool(torch.isfinite(tensor).all()):
            raise AdapterInvalid(f"tensor {key!r} holds NaN or infinite values; the adapter would poison every answer")
        modules.setdefault(match["module"], {})[match["part"]] = tensor.shape
    if not modules:
        raise AdapterInvalid("the safetensors file holds no LoRA weights")
    ranks = config.get("rank_pattern") or {}
    for module, parts in sorted(modules.items()):
        if spec.language_model_marker not in module.split(".") or module in spec.other_linear:
            raise _outside(module)
        if module not in spec.linear_shapes:
            raise AdapterInvalid(f"adapter weights for {module}, which is not a Linear module of the base model")
        if set(parts) != {"lora_A", "lora_B"}:
            raise AdapterInvalid(f"{module} has {sorted(parts)} but needs both lora_A and lora_B")
        in_f, out_f = spec.linear_shapes[module]
        r = next((v for k, v in ranks.items() if module.endswith(k)), rank)
        if tuple(parts["lora_A"]) != (r, in_f) or tuple(parts["lora_B"]) != (out_f, r):
            raise AdapterInvalid(
                f"{module}: shapes lora_A {tuple(parts['lora_A'])}, lora_B {tuple(parts['lora_B'])} do not match "
                f"rank {r} and the base layer ({in_f} -> {out_f}); was it trained on another model?"
            )
    return sorted(modules)


def read_capped(path: Path, limit: int, root: Path | None = None, setting: str = "") -> bytes:
    """Read one adapter file: it must resolve inside ``root`` (when given) and be a regular file
    of at most ``limit`` bytes — checked on the open file before anything is read."""
    real = path.resolve()
    if root is not None and not real.is_relative_to(root.resolve()):
        raise AdapterInvalid(f"{path.name} is a link to a place outside the adapters directory; copy the file in instead")
    try:
        fd = os.open(real, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
    except OSError as exc:
        raise AdapterInvalid(f"could not open {path.name}: {exc.strerror or type(exc).__name__}") from None
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise AdapterInvalid(f"{path.name} is not a regular file")
        too_big = f"{path.name} is larger than {limit / 1024 / 1024:g} MB{f' ({setting})' if setting else ''}"
        if info.st_size > limit:
            raise AdapterInvalid(f"{too_big}: {info.st_size / 1024 / 1024:.1f} MB")
        data = handle.read(limit + 1)  # the file may grow while we read it
        if len(data) > limit:
            raise AdapterInvalid(too_big)
        return data


def validate_adapter_dir(
    path: Path,
    key: str,
    spec: ModelSpec,
    *,
    max_rank: int,
    allow_base_mismatch: bool,
    max_bytes: int = DEFAULT_MAX_ADAPTER_BYTES,
    root: Path | None = None,
) -> ValidatedAdapter:
    """Check ``path`` completely; raise :class:`AdapterInvalid` with the first reason found.

    ``root``: files must resolve inside it (the adapters directory); ``max_bytes``: cap on the weights file.
    """
    config_path, weights_path = path / CONFIG_FILE, path / WEIGHTS_FILE
    if not config_path.is_file():
        raise AdapterInvalid(f"{CONFIG_FILE} is missing")
    if not weights_path.is_file():
        extra = " (adapter_model.bin is not served: save with safetensors)" if (path / "adapter_model.bin").exists() else ""
        raise AdapterInvalid(f"{WEIGHTS_FILE} is missing{extra}")
    try:  # read each file once: what is hashed is exactly what is validated and loaded
        config_bytes = read_capped(config_path, SMALL_FILE_BYTES, root)
        weights_bytes = read_capped(weights_path, max_bytes, root, "EXTRACTOR_MAX_ADAPTER_MB")
    except OSError as exc:
        raise AdapterInvalid(f"could not read the adapter files: {exc.strerror or type(exc).__name__}") from None
    try:
        config = json.loads(config_bytes.decode("utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise AdapterInvalid(f"{CONFIG_FILE} is not valid JSON: {exc}") from None
    if not isinstance(config, dict):
        raise AdapterInvalid(f"{CONFIG_FILE} must hold a JSON object")
    rank, alpha = _check_config(config, max_rank)
    base = config.get("base_model_name_or_path")
    if base is not None and not isinstance(base, str):
        raise AdapterInvalid("base_model_name_or_path must be a string")
    if base and not same_model(base, spec) and not allow_base_mismatch:
        other = " (another folder of that name)" if public_model_name(base) == public_model_name(spec.name) else ""
        raise AdapterInvalid(
            f"trained on base model {_short(public_model_name(base))}{other} but the server runs "
            f"{_short(public_model_name(spec.name))}; set "
            "EXTRACTOR_ALLOW_BASE_MODEL_MISMATCH=true to serve it anyway when the shapes match"
        )
    _check_targets(config, spec)
    try:
        state = load_safetensors(weights_bytes)
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise AdapterInvalid(f"{WEIGHTS_FILE} is unreadable (truncated or corrupt?): {exc}") from None
    modules = _check_weights(state, rank, config, spec)
    if too_large := oversized_update(state, config, spec.weight_norms, _KEY):
        raise AdapterInvalid(too_large)
    metadata = None
    if (path / METADATA_FILE).is_file():
        try:
            metadata = json.loads(read_capped(path / METADATA_FILE, SMALL_FILE_BYTES, root).decode("utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError):
            metadata = {"error": f"{METADATA_FILE} is not valid JSON"}
        except OSError as exc:
            raise AdapterInvalid(f"could not read {METADATA_FILE}: {exc.strerror or type(exc).__name__}") from None
        if not isinstance(metadata, dict):
            metadata = {"error": f"{METADATA_FILE} must hold a JSON object"}
        elif isinstance(metadata.get("base_model"), str):  # shown in GET /adapters: a name, never a path
            metadata["base_model"] = public_model_name(metadata["base_model"])
    return ValidatedAdapter(
        key=key, path=path, version=fingerprint(config_bytes, weights_bytes), config=config, state_dict=state, modules=modules,
        rank=rank, alpha=alpha, size_bytes=len(config_bytes) + len(weights_bytes),
        base_model=public_model_name(base) if base else base, metadata=metadata,
    )
