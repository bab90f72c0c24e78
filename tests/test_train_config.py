"""One TrainConfig holds the LoRA hyper-parameters: its defaults are training/config.yaml's, and the trainer reads it."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import pytest
import torch

from extractor_energy.engine.model import default_targets
from extractor_energy.training.config import TrainConfig, TrainingError

CONFIG_YAML = Path(__file__).resolve().parents[1] / "training" / "config.yaml"


def test_the_defaults_are_the_shipped_config_file():
    assert asdict(TrainConfig.load(CONFIG_YAML)) == asdict(TrainConfig())
    assert TrainConfig().grad_accum == 8 and TrainConfig().target_modules is None


@pytest.mark.parametrize("family", ["vlm", "text"])
def test_target_modules_default_to_the_family_projections(family):
    config = TrainConfig(rank=4, alpha=8, dropout=0.1)
    lora = config.lora_config(family)
    assert lora.target_modules == default_targets(family)
    assert (lora.r, lora.lora_alpha, lora.lora_dropout, lora.use_dora, lora.bias) == (4, 8, 0.1, False, "none")
    assert TrainConfig(target_modules=r".*q_proj").lora_config(family).target_modules == r".*q_proj"


def test_gradient_checkpointing_auto_means_on_gpu_only():
    assert TrainConfig().checkpointing(torch.device("cpu")) is False
    assert TrainConfig().checkpointing(torch.device("cuda")) is True
    assert TrainConfig(gradient_checkpointing=True).checkpointing(torch.device("cpu")) is True


def test_unknown_and_invalid_settings_are_refused(tmp_path):
    with pytest.raises(TrainingError, match="unknown training settings: max_cached"):
        TrainConfig.load(None, {"max_cached": 3})
    with pytest.raises(TrainingError, match="grad_accum must be a positive number"):
        TrainConfig.load(None, {"grad_accum": 0})
