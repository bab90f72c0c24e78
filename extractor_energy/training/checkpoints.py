"""Checkpoints of a training run: ``step-N`` folders (adapter + optimizer state), kept, pruned, resumed.

A checkpoint records the run it belongs to (data set fingerprint, base model, settings); resuming
from one made with another data set or other settings is refused with what differs.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import torch

from extractor_energy.adapters.publish import publishing
from extractor_energy.training.config import RESUME_SENSITIVE, TrainingError


def checkpoints_in(folder: Path) -> list[tuple[int, Path]]:
    if not folder.is_dir():
        return []
    found = []
    for path in folder.iterdir():
        match = re.fullmatch(r"step-(\d+)", path.name)
        if match and (path / "trainer_state.pt").is_file() and (path / "adapter_model.safetensors").is_file():
            found.append((int(match[1]), path))
    return sorted(found)


def save_checkpoint(folder: Path, model: Any, step: int, state: dict[str, Any], run: dict[str, Any], keep: int) -> Path:
    target = folder / f"step-{step:06d}"
    with publishing(target) as tmp:
        model.save_pretrained(tmp)
        torch.save({**state, "run": run}, tmp / "trainer_state.pt")
    for _, old in checkpoints_in(folder)[:-keep] if keep > 0 else []:
        shutil.rmtree(old, ignore_errors=True)
    return target


def load_checkpoint(folder: Path, run: dict[str, Any]) -> dict[str, Any] | None:
    from safetensors.torch import load_file

    found = checkpoints_in(folder)
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
    changed = [k for k in RESUME_SENSITIVE if saved.get("config", {}).get(k) != run["config"].get(k)]
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
