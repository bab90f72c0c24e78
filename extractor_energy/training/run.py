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

The settings are :mod:`.config`, checkpoints :mod:`.checkpoints`, examples and evaluation
:mod:`.items`, the metadata :mod:`.metadata`.
"""

from __future__ import annotations

import gc
import json
import logging
import math
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import torch

from extractor_energy.adapters.publish import fsync_tree, replace_dir, staging_path
from extractor_energy.config import Settings
from extractor_energy.documents.decode import DocumentLimits
from extractor_energy.domain.keys import BillKey, InvalidKey, make_key, parse_key
from extractor_energy.engine.model import LoadedModel, load_model, serving_model
from extractor_energy.evaluation.scoring import EvalReport
from extractor_energy.training.checkpoints import checkpoints_in, load_checkpoint, save_checkpoint
from extractor_energy.training.config import DEFAULT_CONFIG, TrainConfig, TrainingError
from extractor_energy.training.dataset_rows import DatasetError, DatasetRow, load_split, read_summary
from extractor_energy.training.finetune import MAX_CACHED_EXAMPLES, TrainExample, TrainResult, answer_text, train_lora
from extractor_energy.training.items import LazyExample, eval_items, evaluate, row_text
from extractor_energy.training.metadata import ADAPTER_FORMAT, RunData, adapter_metadata, generic_summary, loss_summary

log = logging.getLogger(__name__)

CANDIDATE = "candidate"


@dataclass
class TrainingOutcome:
    adapter_dir: Path
    metadata: dict[str, Any]
    losses: list[float] = field(default_factory=list)
    before: EvalReport | None = None
    after: EvalReport | None = None


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


def _is_key(name: str) -> bool:
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


def read_run_data(dirs: list[Path], concessionaria: str | None, uf: str | None, output_dir: Path) -> RunData:
    """Read and check the data sets: each prepared for the run's key (or, generic, for its own)."""
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
        data = RunData(dirs, None, output_dir.name, generic_summary(summaries), train_rows, val_rows)
    else:
        data = RunData(dirs, key, key.key, summary, train_rows, val_rows)
        if output_dir.name != key.key:
            log.warning("the server serves folder names as keys: %s/ will be served as %r, not %r",
                        output_dir.name, output_dir.name, key.key)
    if not train_rows:
        raise TrainingError(f"{', '.join(map(str, dirs))}: train.jsonl is empty")
    return data


def _examples(data: RunData, loaded: LoadedModel, config: TrainConfig, limits: DocumentLimits, text_tokens: int) -> list[Any]:
    rows = data.train_rows
    if loaded.family == "text":  # page text is small and stored in the data set: no lazy loading needed
        return [TrainExample([], k, answer_text(r.data, config.fields), row_text(loaded, folder, r, text_tokens))
                for folder, k, r in rows]
    if len(rows) <= MAX_CACHED_EXAMPLES:
        from extractor_energy.training.dataset_rows import row_pages

        return [TrainExample(row_pages(folder, r, limits), k, answer_text(r.data, config.fields)) for folder, k, r in rows]
    return [LazyExample(folder, r, k, limits, answer_text(r.data, config.fields)) for folder, k, r in rows]


def _train(loaded: LoadedModel, examples: list[Any], config: TrainConfig, label: str, checkpoints: Path,
           run_info: dict[str, Any], start_state: dict[str, Any] | None, show_progress: bool,
           on_step: Callable[[int, int, float], None] | None) -> tuple[TrainResult, float]:
    """Train with a progress bar and a checkpoint every ``save_every`` steps; return the result and its seconds."""
    from tqdm.auto import tqdm

    loaded.slots.detach()  # the model's own Linear layers back: a fresh PEFT LoRA goes on for training
    planned = config.max_steps or max(1, math.ceil(math.ceil(len(examples) / config.batch_size) * config.epochs / config.grad_accum))
    bar = tqdm(desc=f"train {label}", unit="step", disable=not show_progress, total=planned,
               initial=int(start_state["step"]) if start_state else 0)

    def report(step: int, total: int, loss: float) -> None:
        bar.total = total
        bar.update(1)
        bar.set_postfix(loss=f"{loss:.4f}")
        if on_step:
            on_step(step, total, loss)

    def checkpoint(model: Any, step: int, state: dict[str, Any]) -> None:
        path = save_checkpoint(checkpoints, model, step, state, run_info, config.keep_checkpoints)
        if show_progress:
            bar.write(f"checkpoint: {path}")
        else:
            log.info("checkpoint: %s", path)

    started = time.perf_counter()
    try:
        result = train_lora(loaded.model, loaded.processor, examples, config, on_step=report, start_state=start_state,
                            save_every=config.save_every, on_checkpoint=checkpoint)
    finally:
        bar.close()
    return result, time.perf_counter() - started


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
    data = read_run_data(dirs, concessionaria, uf, output_dir)
    settings = _settings_for(model, config, device)
    limits = settings.document_limits(offline=True)
    checkpoints = Path(checkpoint_dir) if checkpoint_dir else Path("training/runs") / data.label
    run_info = {
        "dataset_fingerprint": data.summary["fingerprint"], "base_model": str(settings.model), "key": data.label,
        "config": {**asdict(config), "max_pixels": settings.model_max_pixels, "min_pixels": settings.model_min_pixels},
    }
    start_state = load_checkpoint(checkpoints, run_info) if resume else None
    if resume and start_state is None:
        log.warning("--resume: no checkpoint in %s; starting from step 0", checkpoints)
    if not resume and checkpoints_in(checkpoints):
        log.info("starting over: removing the checkpoints in %s (use --resume to continue them)", checkpoints)
        for _, old in checkpoints_in(checkpoints):
            shutil.rmtree(old, ignore_errors=True)

    started = time.perf_counter()
    loaded = load_model(settings)  # the serving loader: processor, pixel budget, device, dtype
    text_tokens = config.text_max_tokens or settings.text_max_tokens
    val_items = ([item for folder, k, r in data.val_rows for item in eval_items(folder, [r], k, limits, loaded, text_tokens)]
                 if data.val_rows and (config.eval_before or config.eval_after) else [])
    before = None
    if config.eval_before and val_items:
        before = evaluate(loaded, val_items, None, config, settings, "base model", show_progress)
        log.info("base model on val: micro F1 %.3f, exact match %.3f", before.micro_f1, before.exact_match)

    examples = _examples(data, loaded, config, limits, text_tokens)
    result, train_s = _train(loaded, examples, config, data.label, checkpoints, run_info, start_state, show_progress, on_step)
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
        if config.checkpointing(loaded.device):
            base.gradient_checkpointing_disable()
            if hasattr(base, "disable_input_require_grads"):
                base.disable_input_require_grads()
        del peft_model, result.model
        gc.collect()
        serving = serving_model(base, loaded, settings)
        _check_servable(staging, output_dir.name if _is_key(output_dir.name) else data.label, serving, settings)
        after = None
        if config.eval_after and val_items:
            serving.load_adapter(staging, CANDIDATE, allow_base_mismatch=True)  # metadata names the served model
            after = evaluate(serving, val_items, CANDIDATE, config, settings, "adapter", show_progress)
            log.info("adapter on val: micro F1 %.3f, exact match %.3f", after.micro_f1, after.exact_match)
        metadata = adapter_metadata(
            data, loaded, config, run_info["config"], steps=result.steps,
            resumed_from=int(start_state["step"]) if start_state else 0, losses=result.losses, train_s=train_s,
            total_s=time.perf_counter() - started, val_documents=len(val_items),
            max_new_tokens=config.eval_max_new_tokens or settings.max_new_tokens, before=before, after=after,
        )
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
            for _, old in checkpoints_in(checkpoints):
                shutil.rmtree(old, ignore_errors=True)
    log.info("published %s (%d steps, loss %.4f -> %.4f)", output_dir, result.steps,
             result.losses[0] if result.losses else float("nan"), result.losses[-1] if result.losses else float("nan"))
    return TrainingOutcome(adapter_dir=output_dir, metadata=metadata, losses=result.losses, before=before, after=after)


__all__ = ["ADAPTER_FORMAT", "DEFAULT_CONFIG", "DatasetError", "TrainConfig", "TrainingError", "TrainingOutcome",
           "eval_items", "loss_summary", "run_training"]
