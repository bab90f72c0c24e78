"""Scoring is pure: importing it loads no model stack, and running a model lives in evaluation.predict."""

from __future__ import annotations

import subprocess
import sys


def test_scoring_loads_no_model_stack_and_does_not_predict():
    code = ("import sys, extractor_energy.evaluation.scoring as s; "
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'torch', 'transformers', 'peft'}), hasattr(s, 'predict_local'))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[] False"


def test_predict_runs_on_the_scoring_items():
    from extractor_energy.evaluation import predict, scoring

    assert predict.EvalItem is scoring.EvalItem and predict.Prediction is scoring.Prediction
    assert callable(predict.predict_local)
