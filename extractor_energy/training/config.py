"""The settings of a training run: one :class:`TrainConfig`, loaded from YAML and flags, validated."""

from __future__ import annotations

import re
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import torch
from peft import LoraConfig

from extractor_energy.domain.schema import ALL_FIELDS
from extractor_energy.engine.model import default_targets

DEFAULT_CONFIG = Path("training/config.yaml")
#: config keys that change what is trained: a checkpoint made with other values cannot be resumed
RESUME_SENSITIVE = (
    "rank", "alpha", "dropout", "target_modules", "learning_rate", "batch_size", "grad_accum", "epochs", "max_steps",
    "warmup_ratio", "weight_decay", "seed", "max_pixels", "min_pixels", "fields", "init_adapter", "text_max_tokens",
)


class TrainingError(RuntimeError):
    """The run cannot start or continue; the message says what to change."""


@dataclass
class TrainConfig:
    """Everything ``training/config.yaml`` may set (every key is also a ``train_lora.py`` flag).

    The only home of the LoRA hyper-parameters: the trainer (:func:`finetune.train_lora`), the run,
    the test fixtures and the benchmarks all take this. Defaults are those of
    ``training/config.yaml`` (``grad_accum`` 8; ``target_modules`` None = every projection of the
    model family's language model, as the shipped adapters' metadata records).
    """

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

    def targets(self, family: str) -> str | list[str]:
        """The modules to adapt: ``target_modules``, or every projection of the family's language model."""
        return self.target_modules or default_targets(family)

    def checkpointing(self, device: torch.device) -> bool:
        """Gradient checkpointing for a run on ``device`` (``auto``: on GPU)."""
        if self.gradient_checkpointing == "auto":
            return device.type == "cuda"
        return bool(self.gradient_checkpointing)

    def lora_config(self, family: str) -> LoraConfig:
        """Plain LoRA (no DoRA, no bias, no modules_to_save): what the server and vLLM accept."""
        return LoraConfig(
            r=self.rank, lora_alpha=self.alpha, lora_dropout=self.dropout, target_modules=self.targets(family),
            bias="none", use_dora=False, task_type=None,
        )
