"""What a published adapter says about itself: ``extractor_metadata.json`` and its loss summary."""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch

from extractor_energy import __version__
from extractor_energy.domain.keys import BillKey
from extractor_energy.domain.schema import ALL_FIELDS
from extractor_energy.engine.model import LoadedModel
from extractor_energy.evaluation.scoring import EvalReport
from extractor_energy.extraction.prompts import ADAPTER_PROMPT
from extractor_energy.training.config import TrainConfig
from extractor_energy.training.dataset_rows import DatasetRow

ADAPTER_FORMAT = "extractor-energy-adapter/1"


@dataclass
class RunData:
    """The data sets of a run, read and checked: one key's, or several for a generic adapter."""

    dirs: list[Path]
    key: BillKey | None  # None: a generic adapter
    label: str  # the key, or the output folder's name for a generic adapter
    summary: dict[str, Any]
    train_rows: list[tuple[Path, BillKey, DatasetRow]]
    val_rows: list[tuple[Path, BillKey, DatasetRow]]

    @property
    def generic(self) -> bool:
        return self.key is None


def generic_summary(summaries: list[dict[str, Any]]) -> dict[str, Any]:
    """One summary for several data sets: their keys, a fingerprint over theirs, their counts."""
    return {"key": "generic", "keys": [s["key"] for s in summaries],
            "fingerprint": hashlib.sha256("".join(s["fingerprint"] for s in summaries).encode()).hexdigest(),
            "counts": {s["key"]: s.get("counts", {}) for s in summaries}}


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


def adapter_metadata(
    data: RunData, loaded: LoadedModel, config: TrainConfig, run_config: dict[str, Any], *, steps: int, resumed_from: int,
    losses: list[float], train_s: float, total_s: float, val_documents: int, max_new_tokens: int,
    before: EvalReport | None, after: EvalReport | None,
) -> dict[str, Any]:
    """The metadata file's content: key, base model, prompt, fields, training, data set, metrics, loss."""
    key, trained = data.key, steps - resumed_from
    return {
        "format": ADAPTER_FORMAT,
        "key": key.key if key else "generic",
        "concessionaria": key.concessionaria if key else None,
        "uf": key.uf if key else None,
        "base_model": loaded.name,
        "model_family": loaded.family,
        "prompt": ADAPTER_PROMPT,
        "fields": list(config.fields or ALL_FIELDS),
        "training": {
            **run_config, "lora": {"r": config.rank, "alpha": config.alpha, "dropout": config.dropout},
            "steps": steps, "resumed_from_step": resumed_from, "device": str(loaded.device),
            "dtype": str(loaded.dtype).replace("torch.", ""), "gradient_checkpointing": config.checkpointing(loaded.device),
            "train_seconds": round(train_s, 2),
            "seconds_per_step": round(train_s / trained, 4) if trained else None,
            "total_seconds": round(total_s, 2),
        },
        "dataset": {
            "path": [str(d) for d in data.dirs] if data.generic else str(data.dirs[0]), "key": data.summary["key"],
            "fingerprint": data.summary["fingerprint"], "keys": data.summary.get("keys"),
            "train": len(data.train_rows), "val": len(data.val_rows), "counts": data.summary.get("counts", {}),
        },
        "metrics": {
            "split": "val", "documents": val_documents, "max_new_tokens": max_new_tokens,
            "before": before.summary() if before else None,
            "after": after.summary() if after else None,
        },
        "loss": loss_summary(losses),
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "package_version": __version__,
        "torch_version": torch.__version__,
    }
