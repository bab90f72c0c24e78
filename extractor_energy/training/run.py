"""A training run, from a prepared data set to a served adapter.

1. load the base model with the server's own loader (:func:`model.load_model`: same processor,
   pixel budget, device and dtype — bf16 on GPU, fp32 on CPU);
2. evaluate the val split with the base model and the base prompt (what the server answers for a
   key without an adapter);
3. train a LoRA adapter (:func:`finetune.train_lora`) on the train split with the adapter prompt,
   a tqdm bar, a checkpoint every ``save_every`` steps (``--resume`` continues from the latest);
4. save it (PEFT files, ``base_model_name_or_path`` = the model name the server is configured
   with) into a hidden staging folder next to the target, load it back into the serving wrapper
   exactly as ``eval --adapter`` does, and evaluate the val split again;
5. write ``extractor_metadata.json`` and publish the folder atomically (:mod:`publish`).
"""

from __future__ import annotations

import gc
import hashlib
import json
import logging
import math
import re
import shutil
import time
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime, timezone
from functools import partial
from pathlib import Path
from typing import Any, Callable, Sequence

import torch

from extractor_energy import __version__
from extractor_energy.config import Settings
from extractor_energy.training.datasets import DatasetError, DatasetRow, load_split, read_summary, row_page_texts, row_pages
from extractor_energy.documents.decode import DocumentLimits
from extractor_energy.evaluation.scoring import EvalItem, EvalReport, predict_local, score_predictions
from extractor_energy.training.finetune import LoraSettings, TrainExample, answer_text, train_lora
from extractor_energy.domain.keys import BillKey, InvalidKey, make_key
from extractor_energy.engine.model import LoadedModel, default_targets, load_model, serving_model
from extractor_energy.documents.page_text import prompt_text
from extractor_energy.extraction.prompts import ADAPTER_PROMPT
from extractor_energy.adapters.publish import fsync_tree, publishing, replace_dir, staging_path
from extractor_energy.domain.schema import ALL_FIELDS

log = logging.getLogger(__name__)

ADAPTER_FORMAT = "extractor-energy-adapter/1"
CANDIDATE = "candidate"
DEFAULT_CONFIG = Path("training/config.yaml")
#: config keys that change what is trained: a checkpoint made with other values cannot be resumed
_RESUME_SENSITIVE = (
    "rank", "alpha", "dropout", "target_modules", "learning_rate", "batch_size", "grad_accum", "epochs", "max_steps",
    "warmup_ratio", "weight_decay", "seed", "max_pixels", "min_pixels", "fields", "init_adapter", "text_max_tokens",
)


class TrainingError(RuntimeError):
    """The run cannot start or continue; the message says what to change."""


@dataclass
class TrainConfig:
    """Everything ``training/config.yaml`` may set (every key is also a ``train_lora.py`` flag)."""

    rank: int = 16
    alpha: float = 32
    dropout: float = 0.05
    target_modules: str | list[str] | None = None  # None: every projection of the model family's language model
    learning_rate: float = 2e-4
    batch_size: int = 1
    grad_accum: int = 8
    epochs: float = 3
    max_steps: int | None = None
    warmup_ratio: float = 0.03
    weight_decay: float = 0.0
    seed: int = 0
    max_pixels: int | None = None  # None: the server's EXTRACTOR_MODEL_MAX_PIXELS
    min_pixels: int | None = None  # None: the server's EXTRACTOR_MODEL_MIN_PIXELS
    gradient_checkpointing: bool | str = "auto"  # auto: on GPU
    save_every: int = 50
    keep_checkpoints: int = 2
    eval_before: bool = True
    eval_after: bool = True
    eval_max_new_tokens: int | None = None  # None: the server's EXTRACTOR_MAX_NEW_TOKENS
    eval_batch_size: int = 4
    eval_constrained: bool | None = None  # None: the server's EXTRACTOR_CONSTRAINED_DECODING
    #: the fields the adapter writes (its metadata ``fields``: serving constrains decoding to them); None: all
    fields: list[str] | None = None
    #: start from this adapter's weights (e.g. the generic adapter, for a specialised one)
    init_adapter: str | None = None
    #: text family: page text is cut to this many tokens (None: the server's EXTRACTOR_TEXT_MAX_TOKENS)
    text_max_tokens: int | None = None
    #: dtype of the published weights: float16 halves the files (what ships in the package); the
    #: after-training evaluation runs on exactly these weights
    save_dtype: str = "float32"

    @classmethod
    def load(cls, path: str | Path | None, overrides: dict[str, Any] | None = None) -> "TrainConfig":
        """Defaults <- YAML file (if any) <- ``overrides`` (None values ignored)."""
        values: dict[str, Any] = {}
        if path is not None:
            import yaml

            path = Path(path)
            if not path.is_file():
                raise TrainingError(f"config file {path} not found")
            loaded = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
            if not isinstance(loaded, dict):
                raise TrainingError(f"{path}: expected a mapping of settings")
            values.update(loaded)
        values.update({k: v for k, v in (overrides or {}).items() if v is not None})
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise TrainingError(f"unknown training settings: {', '.join(unknown)} (known: {', '.join(sorted(known))})")
        config = cls(**values)
        config.validate()
        return config

    def validate(self) -> None:
        positive = ("rank", "alpha", "learning_rate", "batch_size", "grad_accum", "epochs", "save_every", "eval_batch_size")
        for name in positive:
            if not isinstance(getattr(self, name), (int, float)) or getattr(self, name) <= 0:
                raise TrainingError(f"{name} must be a positive number, got {getattr(self, name)!r}")
        if not 0 <= self.dropout < 1:
            raise TrainingError(f"dropout must be in [0, 1), got {self.dropout}")
        if self.max_steps is not None and self.max_steps <= 0:
            raise TrainingError(f"max_steps must be positive, got {self.max_steps}")
        targets = self.target_modules
        if self.save_dtype not in ("float32", "float16", "bfloat16"):
            raise TrainingError(f"save_dtype must be float32, float16 or bfloat16, got {self.save_dtype!r}")
        if self.fields is not None:
            unknown = [f for f in self.fields if f not in ALL_FIELDS]
            if unknown or not self.fields:
                raise TrainingError(f"fields must be contract fields; unknown: {', '.join(unknown) or '(empty list)'}")
        if isinstance(targets, str) and targets != "all-linear":
            try:
                re.compile(targets)
            except re.error as exc:
                raise TrainingError(f"target_modules is not a valid regex: {exc}") from None
        if targets == "all-linear":
            raise TrainingError(
                "target_modules=all-linear would adapt the vision tower too, which the server refuses; "
                "keep the default (language model projections)"
            )

    def lora_settings(self, device: torch.device, family: str = "vlm") -> LoraSettings:
        checkpointing = self.gradient_checkpointing
        if checkpointing == "auto":
            checkpointing = device.type == "cuda"
        shared = {f.name: getattr(self, f.name) for f in fields(LoraSettings) if f.name in self.__dataclass_fields__}
        shared["gradient_checkpointing"] = bool(checkpointing)
        shared["target_modules"] = self.target_modules or default_targets(family)
        return LoraSettings(**shared)


@dataclass
class TrainingOutcome:
    adapter_dir: Path
    metadata: dict[str, Any]
    losses: list[float] = field(default_factory=list)
    before: EvalReport | None = None
    after: EvalReport | None = None


# ---------------------------------------------------------------------------- helpers
def loss_summary(losses: list[float], points: int = 50) -> dict[str, Any]:
    """First/last/min and a down-sampled curve ``[[step, loss], ...]`` of at most ``points`` points."""
    if not losses:
        return {"steps": 0}
    tenth = max(1, len(losses) // 10)
    stride = max(1, math.ceil(len(losses) / points))
    curve = [[i + 1, round(losses[i], 5)] for i in range(0, len(losses), stride)]
    if curve[-1][0] != len(losses):
        curve.append([len(losses), round(losses[-1], 5)])
    return {
        "steps": len(losses), "first": round(losses[0], 5), "last": round(losses[-1], 5), "min": round(min(losses), 5),
        "mean_first_10pct": round(sum(losses[:tenth]) / tenth, 5), "mean_last_10pct": round(sum(losses[-tenth:]) / tenth, 5),
        "curve": curve,
    }


def _settings_for(model: str | None, config: TrainConfig, device: str | None) -> Settings:
    base = Settings()
    overrides: dict[str, Any] = {}
    if model:
        overrides["model"] = model
    if config.max_pixels:
        overrides["model_max_pixels"] = config.max_pixels
    if config.min_pixels:
        overrides["model_min_pixels"] = config.min_pixels
    if device:
        overrides["device"] = device
    return base.model_copy(update=overrides) if overrides else base


def _limits(settings: Settings) -> DocumentLimits:
    return settings.document_limits(offline=True)


class _LazyExample:
    """A VLM ``TrainExample`` whose pages are decoded when the trainer asks for them (large data sets)."""

    def __init__(self, dataset: Path, row: DatasetRow, key: BillKey, limits: DocumentLimits, answer: str):
        self._dataset, self._row, self._limits = dataset, row, limits
        self.key, self.answer, self.text = key, answer, None

    @property
    def pages(self) -> list:
        return row_pages(self._dataset, self._row, self._limits)


def row_text(loaded: LoadedModel, dataset: Path, row: DatasetRow, max_tokens: int) -> str | None:
    """Text family: the row's page text exactly as the server builds the prompt; VLM family: None."""
    if loaded.family != "text":
        return None
    return prompt_text(row_page_texts(dataset, row), loaded.tokenizer, max_tokens)


def eval_items(dataset: Path, rows: list[DatasetRow], key: BillKey, limits: DocumentLimits,
               loaded: LoadedModel | None = None, text_max_tokens: int = 1024) -> list[EvalItem]:
    """Evaluation items; for the text family each carries its page text (and no pages)."""
    items = []
    for r in rows:
        if loaded is not None and loaded.family == "text":
            items.append(EvalItem(id=r.id, pages=[], gold=r.data, key=key,
                                  text=partial(row_text, loaded, dataset, r, text_max_tokens)))
        else:
            items.append(EvalItem(id=r.id, pages=partial(row_pages, dataset, r, limits), gold=r.data, key=key))
    return items


def _evaluate(loaded: LoadedModel, items: list[EvalItem], adapter: str | None, config: TrainConfig, settings: Settings,
              label: str, show_progress: bool) -> EvalReport:
    from tqdm.auto import tqdm

    bar = tqdm(total=len(items), desc=f"eval {label}", unit="bill", disable=not show_progress, leave=False)
    try:
        predictions = predict_local(
            loaded, items, adapter_name=adapter, batch_size=config.eval_batch_size,
            max_new_tokens=config.eval_max_new_tokens or settings.max_new_tokens,
            constrained=settings.constrained_decoding if config.eval_constrained is None else config.eval_constrained,
            progress=bar, fields=config.fields,
        )
    finally:
        bar.close()
    return score_predictions(items, predictions, fields=config.fields)


def _is_key(name: str) -> bool:
    from extractor_energy.domain.keys import parse_key

    try:
        parse_key(name)
    except InvalidKey:
        return False
    return True


def _check_servable(folder: Path, key: str, loaded: LoadedModel, settings: Settings) -> None:
    """Refuse to publish what the server would refuse (same validation as the adapter registry)."""
    from extractor_energy.adapters.validation import AdapterInvalid, validate_adapter_dir
    from extractor_energy.engine.model import model_spec

    try:
        validate_adapter_dir(folder, key, model_spec(loaded), max_rank=settings.max_adapter_rank,
                             allow_base_mismatch=settings.allow_base_model_mismatch)
    except AdapterInvalid as exc:
        raise TrainingError(f"the trained adapter would be refused by the server: {exc}") from None


def _cast_weights(path: Path, dtype: torch.dtype) -> None:
    """Rewrite an adapter's safetensors in ``dtype`` (PEFT saves float32 from a float32 model)."""
    from safetensors.torch import load_file, save_file

    save_file({k: v.to(dtype).contiguous() for k, v in load_file(path).items()}, path, metadata={"format": "pt"})


# ---------------------------------------------------------------------------- checkpoints
def _checkpoints(folder: Path) -> list[tuple[int, Path]]:
    if not folder.is_dir():
        return []
    found = []
    for path in folder.iterdir():
        match = re.fullmatch(r"step-(\d+)", path.name)
        if match and (path / "trainer_state.pt").is_file() and (path / "adapter_model.safetensors").is_file():
            found.append((int(match[1]), path))
    return sorted(found)


def _save_checkpoint(folder: Path, model: Any, step: int, state: dict[str, Any], run: dict[str, Any], keep: int) -> Path:
    target = folder / f"step-{step:06d}"
    with publishing(target) as tmp:
        model.save_pretrained(tmp)
        torch.save({**state, "run": run}, tmp / "trainer_state.pt")
    for _, old in _checkpoints(folder)[:-keep] if keep > 0 else []:
        shutil.rmtree(old, ignore_errors=True)
    return target


def _load_checkpoint(folder: Path, run: dict[str, Any]) -> dict[str, Any] | None:
    from safetensors.torch import load_file

    found = _checkpoints(folder)
    if not found:
        return None
    step, path = found[-1]
    state = torch.load(path / "trainer_state.pt", map_location="cpu", weights_only=True)
    saved = state.get("run", {})
    if saved.get("dataset_fingerprint") != run["dataset_fingerprint"]:
        raise TrainingError(
            f"checkpoint {path} was made on another data set (fingerprint {saved.get('dataset_fingerprint', '?')[:12]}, "
            f"now {run['dataset_fingerprint'][:12]}); drop --resume to start over, or pass another --checkpoint-dir"
        )
    changed = [k for k in _RESUME_SENSITIVE if saved.get("config", {}).get(k) != run["config"].get(k)]
    if saved.get("base_model") != run["base_model"]:
        changed.append("model")
    if changed:
        raise TrainingError(
            f"checkpoint {path} was made with other settings ({', '.join(changed)}); resume with the same settings "
            "or drop --resume to start over"
        )
    state["adapter"] = load_file(path / "adapter_model.safetensors")
    state["path"] = str(path)
    return state


# ---------------------------------------------------------------------------- the run
def run_training(
    dataset_dir: str | Path | Sequence[str | Path],
    concessionaria: str | None,
    uf: str | None,
    output_dir: str | Path,
    *,
    config: TrainConfig | None = None,
    model: str | None = None,
    device: str | None = None,
    checkpoint_dir: str | Path | None = None,
    resume: bool = False,
    keep_checkpoints: bool = False,
    show_progress: bool = True,
    on_step: Callable[[int, int, float], None] | None = None,
) -> TrainingOutcome:
    """Train, evaluate and publish the adapter for ``concessionaria``/``uf`` into ``output_dir``.

    Several data sets (each prepared for its own key) with ``concessionaria``/``uf`` None train one
    *generic* adapter on all of them: the layout-independent fallback for keys without an adapter.
    """
    config = config or TrainConfig()
    dirs = [Path(dataset_dir)] if isinstance(dataset_dir, (str, Path)) else [Path(d) for d in dataset_dir]
    output_dir = Path(output_dir)
    generic = concessionaria is None and uf is None
    if not dirs:
        raise TrainingError("no data set given")
    if not generic and len(dirs) > 1:
        raise TrainingError("several data sets train a generic adapter: leave out --concessionaria/--uf")
    train_rows: list[tuple[Path, BillKey, DatasetRow]] = []
    val_rows: list[tuple[Path, BillKey, DatasetRow]] = []
    summaries = []
    for folder in dirs:
        summary = read_summary(folder)
        try:
            key = make_key(concessionaria, uf) if not generic else make_key(summary["concessionaria"], summary["uf"])
        except InvalidKey as exc:
            raise TrainingError(str(exc)) from None
        if summary.get("key") != key.key:
            raise TrainingError(
                f"{folder} was prepared for {summary.get('key')!r}, not {key.key!r}; prepare a data set for this key"
            )
        summaries.append(summary)
        train_rows += [(folder, key, r) for r in load_split(folder, "train")]
        val_rows += [(folder, key, r) for r in load_split(folder, "val")]
    if generic:
        label = output_dir.name
        summary = {"key": "generic", "keys": [s["key"] for s in summaries],
                   "fingerprint": hashlib.sha256("".join(s["fingerprint"] for s in summaries).encode()).hexdigest(),
                   "counts": {s["key"]: s.get("counts", {}) for s in summaries}}
    else:
        label = key.key
        if output_dir.name != key.key:
            log.warning("the server serves folder names as keys: %s/ will be served as %r, not %r",
                        output_dir.name, output_dir.name, key.key)
    if not train_rows:
        raise TrainingError(f"{', '.join(map(str, dirs))}: train.jsonl is empty")
    settings = _settings_for(model, config, device)
    limits = _limits(settings)
    checkpoints = Path(checkpoint_dir) if checkpoint_dir else Path("training/runs") / label
    run_info = {
        "dataset_fingerprint": summary["fingerprint"], "base_model": str(settings.model), "key": label,
        "config": {**asdict(config), "max_pixels": settings.model_max_pixels, "min_pixels": settings.model_min_pixels},
    }
    start_state = _load_checkpoint(checkpoints, run_info) if resume else None
    if resume and start_state is None:
        log.warning("--resume: no checkpoint in %s; starting from step 0", checkpoints)
    if not resume and _checkpoints(checkpoints):
        log.info("starting over: removing the checkpoints in %s (use --resume to continue them)", checkpoints)
        for _, old in _checkpoints(checkpoints):
            shutil.rmtree(old, ignore_errors=True)

    started = time.perf_counter()
    loaded = load_model(settings)  # the serving loader: processor, pixel budget, device, dtype
    lora = config.lora_settings(loaded.device, loaded.family)
    text_tokens = config.text_max_tokens or settings.text_max_tokens
    val_items = ([item for folder, k, r in val_rows for item in eval_items(folder, [r], k, limits, loaded, text_tokens)]
                 if val_rows and (config.eval_before or config.eval_after) else [])
    before = None
    if config.eval_before and val_items:
        before = _evaluate(loaded, val_items, None, config, settings, "base model", show_progress)
        log.info("base model on val: micro F1 %.3f, exact match %.3f", before.micro_f1, before.exact_match)

    examples: list[Any]
    if loaded.family == "text":  # page text is small and stored in the data set: no lazy loading needed
        examples = [TrainExample([], k, answer_text(r.data, config.fields), row_text(loaded, folder, r, text_tokens))
                    for folder, k, r in train_rows]
    elif len(train_rows) <= lora.max_cached_examples:
        examples = [TrainExample(row_pages(folder, r, limits), k, answer_text(r.data, config.fields))
                    for folder, k, r in train_rows]
    else:
        examples = [_LazyExample(folder, r, k, limits, answer_text(r.data, config.fields)) for folder, k, r in train_rows]
    loaded.slots.detach()  # the model's own forwards back: a fresh PEFT LoRA goes on for training
    base = loaded.model
    from tqdm.auto import tqdm

    planned = lora.max_steps or max(1, math.ceil(math.ceil(len(examples) / lora.batch_size) * lora.epochs / lora.grad_accum))
    bar = tqdm(desc=f"train {label}", unit="step", disable=not show_progress, total=planned,
               initial=int(start_state["step"]) if start_state else 0)
    step_times: list[float] = []
    last = [time.perf_counter()]

    def report(step: int, total: int, loss: float) -> None:
        now = time.perf_counter()
        step_times.append(now - last[0])
        last[0] = now
        bar.total = total
        bar.update(1)
        bar.set_postfix(loss=f"{loss:.4f}")
        if on_step:
            on_step(step, total, loss)

    def checkpoint(model: Any, step: int, state: dict[str, Any]) -> None:
        path = _save_checkpoint(checkpoints, model, step, state, run_info, config.keep_checkpoints)
        if show_progress:
            bar.write(f"checkpoint: {path}")
        else:
            log.info("checkpoint: %s", path)

    train_started = time.perf_counter()
    try:
        result = train_lora(
            base, loaded.processor, examples, lora, on_step=report, start_state=start_state,
            save_every=config.save_every, on_checkpoint=checkpoint,
        )
    finally:
        bar.close()
    train_s = time.perf_counter() - train_started
    peft_model = result.model
    peft_model.peft_config["default"].base_model_name_or_path = loaded.name  # what the server compares to

    output_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = staging_path(output_dir, "staging")
    try:
        peft_model.save_pretrained(staging)
        (staging / "README.md").unlink(missing_ok=True)  # PEFT's empty model card names the local model folder
        if config.save_dtype != "float32":
            _cast_weights(staging / "adapter_model.safetensors", getattr(torch, config.save_dtype))
        # back to the serving form: unwrap, wrap like load_model, load the saved files like `eval --adapter`
        base = peft_model.unload()
        if lora.gradient_checkpointing:
            base.gradient_checkpointing_disable()
            if hasattr(base, "disable_input_require_grads"):
                base.disable_input_require_grads()
        del peft_model, result.model
        gc.collect()
        serving = serving_model(base, loaded, settings)
        _check_servable(staging, output_dir.name if _is_key(output_dir.name) else label, serving, settings)
        after = None
        if config.eval_after and val_items:
            serving.load_adapter(staging, CANDIDATE, allow_base_mismatch=True)  # metadata names the served model
            after = _evaluate(serving, val_items, CANDIDATE, config, settings, "adapter", show_progress)
            log.info("adapter on val: micro F1 %.3f, exact match %.3f", after.micro_f1, after.exact_match)
        resumed_from = int(start_state["step"]) if start_state else 0
        trained_steps = result.steps - resumed_from
        metadata = {
            "format": ADAPTER_FORMAT,
            "key": "generic" if generic else key.key,
            "concessionaria": None if generic else key.concessionaria,
            "uf": None if generic else key.uf,
            "base_model": loaded.name,
            "model_family": loaded.family,
            "prompt": ADAPTER_PROMPT,
            "fields": list(config.fields or ALL_FIELDS),
            "training": {
                **run_info["config"], "lora": {"r": lora.rank, "alpha": lora.alpha, "dropout": lora.dropout},
                "steps": result.steps, "resumed_from_step": resumed_from, "device": str(loaded.device),
                "dtype": str(loaded.dtype).replace("torch.", ""), "gradient_checkpointing": lora.gradient_checkpointing,
                "train_seconds": round(train_s, 2),
                "seconds_per_step": round(train_s / trained_steps, 4) if trained_steps else None,
                "total_seconds": round(time.perf_counter() - started, 2),
            },
            "dataset": {
                "path": [str(d) for d in dirs] if generic else str(dirs[0]), "key": summary["key"],
                "fingerprint": summary["fingerprint"], "keys": summary.get("keys"),
                "train": len(train_rows), "val": len(val_rows), "counts": summary.get("counts", {}),
            },
            "metrics": {
                "split": "val", "documents": len(val_items),
                "max_new_tokens": config.eval_max_new_tokens or settings.max_new_tokens,
                "before": before.summary() if before else None,
                "after": after.summary() if after else None,
            },
            "loss": loss_summary(result.losses),
            "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "package_version": __version__,
            "torch_version": torch.__version__,
        }
        from extractor_energy.adapters.validation import METADATA_FILE

        (staging / METADATA_FILE).write_text(json.dumps(metadata, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        fsync_tree(staging)
        replace_dir(staging, output_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    if checkpoints.is_dir():
        (checkpoints / "last_run.json").write_text(json.dumps(metadata, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        if not keep_checkpoints:
            for _, old in _checkpoints(checkpoints):
                shutil.rmtree(old, ignore_errors=True)
    log.info("published %s (%d steps, loss %.4f -> %.4f)", output_dir, result.steps,
             result.losses[0] if result.losses else float("nan"), result.losses[-1] if result.losses else float("nan"))
    return TrainingOutcome(adapter_dir=output_dir, metadata=metadata, losses=result.losses, before=before, after=after)


__all__ = ["TrainConfig", "TrainingError", "TrainingOutcome", "run_training", "loss_summary", "DatasetError"]
