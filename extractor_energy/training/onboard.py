"""Onboarding a utility: corrected bills of the review page -> a trained, judged, served adapter.

``extractor-energy train --from-review DIR --key copel_pr`` runs :func:`onboard`:

1. prepare the key's corrections (``DIR/<key>/annotations.jsonl``, as the review page writes
   them) into a data set with a held-out share (``--holdout``), reading each bill's page text;
2. refuse a set that would train a worse adapter (:mod:`.onboard_checks`);
3. train from the shipped generic adapter (or ``--base-adapter``) with :func:`.run.run_training`,
   a checkpoint every step (``--resume`` continues after an interruption);
4. answer the held-out bills the way the server answers (:mod:`.onboard_eval`: the real service,
   grounded, the adapter choosing among candidates) with the adapter serving the key now (its
   own, else the fallback) and with the candidate;
5. publish atomically into ``adapters/<key>/`` only if the candidate scores higher (or ``--force``);
   a running server picks it up without a restart. Anything that fails before that leaves the
   served adapter untouched. The outcome goes into the adapter's ``extractor_metadata.json``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import shutil
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable

from extractor_energy.adapters.publish import publishing
from extractor_energy.adapters.validation import CONFIG_FILE, METADATA_FILE, WEIGHTS_FILE
from extractor_energy.config import Settings
from extractor_energy.domain.keys import BillKey, InvalidKey, parse_key
from extractor_energy.training.config import TrainConfig, TrainingError
from extractor_energy.training.dataset_rows import DatasetRow, load_split, read_summary
from extractor_energy.training.onboard_checks import MIN_BILLS, OnboardError, check_corrections

log = logging.getLogger(__name__)

WORK = ".onboard"  # under the review dir: starts with a dot, so never read as review data


@dataclass
class OnboardOptions:
    review_dir: Path
    key: str
    adapters_dir: Path
    base_adapter: Path | None = None  # None: the shipped generic adapter (embedded model), else a fresh LoRA
    work_dir: Path | None = None  # None: <review_dir>/.onboard/<key>
    holdout: float = 0.25
    min_bills: int = MIN_BILLS
    allow_single_capture: bool = False
    choice: str | None = None  # grounded choice judged on; None: the server's, "model" where it is evidence
    resume: bool = False
    force: bool = False  # publish whatever the scores (they are still recorded)
    forget_trained: bool = False
    config: TrainConfig = field(default_factory=TrainConfig)
    settings: Settings | None = None
    seed: int = 0
    show_progress: bool = True


@dataclass
class OnboardResult:
    published: bool
    reason: str
    adapter_dir: Path  # the served folder when published, else the candidate's
    before: dict[str, Any]
    after: dict[str, Any]
    metadata: dict[str, Any]
    warnings: list[str] = field(default_factory=list)
    forgotten: int = 0


def _base_adapter(opts: OnboardOptions, settings: Settings) -> Path | None:
    if opts.base_adapter is not None:
        if not (Path(opts.base_adapter) / CONFIG_FILE).is_file():
            raise OnboardError(f"--base-adapter {opts.base_adapter}: no {CONFIG_FILE}; give a LoRA adapter folder")
        return Path(opts.base_adapter)
    from extractor_energy.adapters.packaged import EMBEDDED_ADAPTERS, GENERIC
    from extractor_energy.engine.embedded import is_embedded

    generic = EMBEDDED_ADAPTERS / GENERIC
    if (settings.model == "auto" or is_embedded(settings.model)) and generic.is_dir():
        return generic
    return None


def _config_from_base(config: TrainConfig, base: Path | None) -> TrainConfig:
    """The run's settings: the base adapter's rank/alpha/targets (its weights must fit), a checkpoint every
    step (a CPU step takes minutes), and no generative before/after evaluation (the grounded one decides)."""
    update: dict[str, Any] = {"save_every": 1, "eval_before": False, "eval_after": False}
    if base is not None:
        peft = json.loads((base / CONFIG_FILE).read_text(encoding="utf-8"))
        update.update(rank=int(peft["r"]), alpha=float(peft["lora_alpha"]), target_modules=peft["target_modules"],
                      init_adapter=str(base))
    out = replace(config, **update)
    out.validate()
    return out


def planned_steps(config: TrainConfig, train_rows: int) -> int:
    per_epoch = math.ceil(train_rows / config.batch_size)
    return config.max_steps or max(1, math.ceil(per_epoch * config.epochs / config.grad_accum))


def estimate_seconds(config: TrainConfig, train_rows: int, base: Path | None, work: Path) -> tuple[float | None, str]:
    """Seconds the training should take, from the last run here or the base adapter's own record."""
    examples = planned_steps(config, train_rows) * config.batch_size * config.grad_accum
    for path, label in ((work / "timing.json", "the last run here"), (base / METADATA_FILE if base else None, "the base adapter's training")):
        if path is None or not path.is_file():
            continue
        record = json.loads(path.read_text(encoding="utf-8"))
        training = record.get("training", record)
        per_step, batch = training.get("seconds_per_step"), training.get("batch_size", 1) * training.get("grad_accum", 1)
        if per_step:
            return examples * per_step / max(1, batch), label
    return None, "no timing on record for this model yet"


def _row_review_ids(review_dir: Path, key: str, rows: list[DatasetRow]) -> set[str]:
    """The review-queue ids of the prepared rows (matched by their files' content hashes)."""
    from extractor_energy.extraction.review_queue import ANNOTATIONS, read_rows, review_id

    wanted = {r.id for r in rows}
    ids: set[str] = set()
    folder = review_dir / key
    for row in read_rows(folder / ANNOTATIONS):
        path = folder / str(row.get("image", ""))
        if review_id(row) and path.is_file():
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            if hashlib.sha256(digest.encode()).hexdigest()[:16] in wanted:
                ids.add(review_id(row))
    return ids


def _prepare(opts: OnboardOptions, key: BillKey, dataset: Path) -> dict[str, Any]:
    from extractor_energy.training.datasets import DatasetError, prepare_dataset

    if opts.resume and (dataset / "summary.json").is_file():
        return read_summary(dataset)  # same corrections: the checkpoints check the fingerprint
    try:
        prepare_dataset(opts.review_dir, key.concessionaria, key.uf, dataset, val_fraction=opts.holdout, seed=opts.seed,
                        show_progress=opts.show_progress)
    except DatasetError as exc:
        rejected = "".join(f"\n  {r}" for r in exc.rejected[:20])
        raise OnboardError(f"the corrections of {key.key} in {opts.review_dir} cannot be used: {exc}{rejected}") from None
    _rebalance(dataset, opts.holdout)
    return read_summary(dataset)


def _rebalance(dataset: Path, holdout: float) -> None:
    """Hold out ``holdout`` of the bills (at least MIN_HELD_OUT), chosen by a stable hash: the data set's
    own split is per-row random, which on 5 bills can hold out 4 of them."""
    from extractor_energy.training.onboard_checks import MIN_HELD_OUT

    rows = sorted(load_split(dataset, "all"), key=lambda r: hashlib.sha256(r.id.encode()).hexdigest())
    held = max(MIN_HELD_OUT, round(holdout * len(rows))) if len(rows) > 1 else 0
    for name, part in (("val", rows[:held]), ("train", rows[held:])):
        (dataset / f"{name}.jsonl").write_text("".join(json.dumps(r.to_json(), ensure_ascii=False) + "\n" for r in part),
                                               encoding="utf-8")


def _candidate(opts: OnboardOptions, key: BillKey, dataset: Path, work: Path, config: TrainConfig,
               summary: dict[str, Any], say: Callable[[str], None]) -> Path:
    """Train (or, resuming, reuse a finished candidate of the same data and settings) into ``work/candidate/<key>``."""
    from extractor_energy.training.run import run_training

    target = work / "candidate" / key.key
    meta_path = target / METADATA_FILE
    if opts.resume and meta_path.is_file():
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        if meta.get("dataset", {}).get("fingerprint") == summary["fingerprint"] and meta.get("training", {}).get("init_adapter") == config.init_adapter:
            say(f"resume: the candidate adapter of this data set is trained already ({target}); evaluating it")
            return target
    settings = opts.settings or Settings()
    outcome = run_training(dataset, key.concessionaria, key.uf, target, config=config,
                           model=None if settings.model == "auto" else settings.model, checkpoint_dir=work / "checkpoints",
                           resume=opts.resume, show_progress=opts.show_progress)
    training = outcome.metadata["training"]
    (work / "timing.json").write_text(json.dumps({k: training.get(k) for k in ("seconds_per_step", "batch_size", "grad_accum")}),
                                      encoding="utf-8")
    return target


def onboard(opts: OnboardOptions, say: Callable[[str], None] = print) -> OnboardResult:
    """Prepare, check, train, judge and (if better) publish the adapter of ``opts.key``; see the module doc."""
    from extractor_energy.training.onboard_eval import held_out_scores

    try:
        key = parse_key(opts.key)
    except InvalidKey as exc:
        raise OnboardError(str(exc)) from None
    if not (opts.review_dir / key.key).is_dir():
        raise OnboardError(f"no corrected bills of {key.key} in {opts.review_dir} (expected {key.key}/annotations.jsonl, "
                           "as the review page saves them)")
    settings = opts.settings or Settings()
    work = opts.work_dir or opts.review_dir / WORK / key.key
    work.mkdir(parents=True, exist_ok=True)
    dataset = work / "dataset"
    summary = _prepare(opts, key, dataset)
    train_rows, held_rows = load_split(dataset, "train"), load_split(dataset, "val")
    warnings = check_corrections(train_rows + held_rows, key.key, min_bills=opts.min_bills,
                                 allow_single_capture=opts.allow_single_capture)
    for warning in warnings:
        say(f"warning: {warning}")
    rejected = summary.get("counts", {}).get("rejected", 0)
    if rejected:
        say(f"warning: {rejected} correction row(s) could not be used (see {dataset / 'summary.json'})")
    base = _base_adapter(opts, settings)
    config = _config_from_base(opts.config, base)
    seconds, source = estimate_seconds(config, len(train_rows), base, work)
    steps = planned_steps(config, len(train_rows))
    say(f"{key.key}: {len(train_rows)} bills to train on, {len(held_rows)} held out; "
        f"from {'the adapter in ' + str(base) if base else 'a fresh LoRA (no generic adapter fits this model)'}; "
        f"{steps} steps of {config.batch_size * config.grad_accum} bills; "
        + (f"training about {seconds / 60:.1f} min ({source})" if seconds else f"training time: {source}")
        + f", then {len(held_rows)} held-out bills answered twice")
    candidate = _candidate(opts, key, dataset, work, config, summary, say)
    before, after, choice, current = held_out_scores(settings, opts.adapters_dir, candidate, key, dataset, held_rows,
                                                     opts.choice, opts.show_progress)
    better = after["micro_f1"] > before["micro_f1"]
    published = better or opts.force
    reason = ("beats" if better else "does not beat") + f" the serving adapter on {len(held_rows)} held-out bills " \
        f"(micro F1 {after['micro_f1']:.3f} vs {before['micro_f1']:.3f})" + ("; published by --force" if opts.force and not better else "")
    meta_path = candidate / METADATA_FILE
    metadata = json.loads(meta_path.read_text(encoding="utf-8"))
    metadata["onboarding"] = {
        "published": published, "reason": reason, "forced": opts.force and not better, "choice": choice,
        "held_out": len(held_rows), "trained_on": len(train_rows), "compared_with": current,
        "base_adapter": base.name if base else None, "before": before, "after": after, "warnings": warnings,
    }
    meta_path.write_text(json.dumps(metadata, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    target = candidate
    if published:
        target = opts.adapters_dir / key.key
        with publishing(target) as staging:  # atomic: the server sees the old adapter or the new one
            for name in (CONFIG_FILE, WEIGHTS_FILE, METADATA_FILE):
                shutil.copyfile(candidate / name, staging / name)
    say(("published " + str(target) if published else f"not published (kept in {candidate})") + f": the candidate {reason}")
    forgotten = 0
    if opts.forget_trained:
        forgotten = _forget(opts, key, dataset, train_rows + held_rows)
        say(f"--forget-trained: deleted {forgotten} bill file(s) of {key.key} and the prepared copy; corrections kept "
            f"in {opts.review_dir / key.key / 'trained.jsonl'}")
    return OnboardResult(published, reason, target, before, after, metadata, warnings, forgotten)


def _forget(opts: OnboardOptions, key: BillKey, dataset: Path, rows: list[DatasetRow]) -> int:
    from extractor_energy.extraction.review_queue import ReviewQueue

    ids = _row_review_ids(opts.review_dir, key.key, rows)
    count = ReviewQueue(opts.review_dir).forget_trained(key.key, ids)
    shutil.rmtree(dataset, ignore_errors=True)  # its images/ and page texts are copies of the bills
    return count


__all__ = ["OnboardError", "OnboardOptions", "OnboardResult", "TrainingError", "onboard"]
