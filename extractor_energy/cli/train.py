"""``extractor-energy train --from-review DIR --key copel_pr``: corrected bills -> a served adapter.

The work is :func:`extractor_energy.training.onboard.onboard`; this module reads the flags, and
turns refusals into one clear line and exit status 2 (never a traceback).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from extractor_energy.training.onboard_checks import MIN_BILLS


def add_train_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--from-review", required=True, type=Path, metavar="DIR",
                        help="the review folder (EXTRACTOR_REVIEW_DIR): DIR/<key>/annotations.jsonl + bills/")
    parser.add_argument("--key", required=True, help="<concessionaria>_<uf>, e.g. copel_pr")
    parser.add_argument("--adapters-dir", type=Path, default=None, help="where the server reads adapters "
                        "(default EXTRACTOR_ADAPTERS_DIR); the adapter is published there as <key>/ if it wins")
    parser.add_argument("--base-adapter", type=Path, default=None,
                        help="start from this adapter (default: the shipped generic adapter on the embedded model)")
    parser.add_argument("--work-dir", type=Path, default=None,
                        help="data set, checkpoints and candidate (default DIR/.onboard/<key>)")
    parser.add_argument("--holdout", type=float, default=0.25, help="share of the bills held out to judge (default 0.25)")
    parser.add_argument("--min-bills", type=int, default=MIN_BILLS, help=f"refuse fewer bills (default {MIN_BILLS})")
    parser.add_argument("--allow-single-capture", action="store_true",
                        help="train even when every bill is a PDF (or every bill an image)")
    parser.add_argument("--choice", choices=["model", "model_all"], default=None,
                        help="grounded choice to judge with (default: EXTRACTOR_GROUNDED_CHOICE, model where it is evidence)")
    parser.add_argument("--resume", action="store_true", help="continue an interrupted run from its last checkpoint")
    parser.add_argument("--force", action="store_true", help="publish even if it does not beat the serving adapter")
    parser.add_argument("--forget-trained", action="store_true", default=None,
                        help="afterwards delete the trained bills' files (default EXTRACTOR_REVIEW_FORGET_TRAINED)")
    parser.add_argument("--config", type=Path, default=None, help="training settings YAML (default training/config.yaml if present)")
    for flag, kind in (("--max-steps", int), ("--epochs", float), ("--learning-rate", float), ("--grad-accum", int)):
        parser.add_argument(flag, type=kind, default=None, help="overrides the training setting of that name")
    parser.add_argument("--seed", type=int, default=0, help="hold-out split and training seed")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def run_train(args: argparse.Namespace) -> int:
    from extractor_energy.config import get_settings
    from extractor_energy.training.config import DEFAULT_CONFIG, TrainConfig, TrainingError
    from extractor_energy.training.datasets import DatasetError
    from extractor_energy.training.onboard import OnboardOptions, onboard

    def fail(message: str) -> int:
        print(f"extractor-energy train: {message}", file=sys.stderr)
        return 2

    if not args.from_review.is_dir():
        return fail(f"--from-review {args.from_review} is not a folder")
    if not 0 < args.holdout < 1:
        return fail(f"--holdout must be between 0 and 1, got {args.holdout}")
    settings = get_settings()
    try:
        path = args.config or (DEFAULT_CONFIG if DEFAULT_CONFIG.is_file() else None)
        config = TrainConfig.load(path, {"max_steps": args.max_steps, "epochs": args.epochs, "seed": args.seed,
                                         "learning_rate": args.learning_rate, "grad_accum": args.grad_accum})
        options = OnboardOptions(
            review_dir=args.from_review, key=args.key, adapters_dir=args.adapters_dir or settings.adapters_dir,
            base_adapter=args.base_adapter, work_dir=args.work_dir, holdout=args.holdout, min_bills=args.min_bills,
            allow_single_capture=args.allow_single_capture, choice=args.choice, resume=args.resume, force=args.force,
            forget_trained=settings.review_forget_trained if args.forget_trained is None else args.forget_trained,
            config=config, settings=settings, seed=args.seed, show_progress=not args.no_progress,
        )
        result = onboard(options)
    except (TrainingError, DatasetError) as exc:
        return fail(str(exc))
    except (OSError, RuntimeError, MemoryError) as exc:  # a failed run: say so, the served adapter is as it was
        print(f"extractor-energy train: the run failed ({type(exc).__name__}: {exc}); the served adapter is untouched",
              file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return fail("interrupted; the served adapter is untouched. Run again with --resume to continue from the last checkpoint")
    print(f"before (serving now): micro F1 {result.before['micro_f1']:.3f}, exact {result.before['exact_match']:.3f}; "
          f"after (candidate): micro F1 {result.after['micro_f1']:.3f}, exact {result.after['exact_match']:.3f}")
    return 0
