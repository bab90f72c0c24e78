#!/usr/bin/env python
"""Train the LoRA adapter of one utility/state key, evaluate it, and publish it atomically.

    python training/train_lora.py --dataset training/datasets/equatorial_go \
        --concessionaria EQUATORIAL --uf GO --output-dir adapters/equatorial_go --epochs 3 \
        [--config training/config.yaml] [--model ...] [--resume]

A *generic* adapter (the fallback for keys without one of their own) trains on several data sets
at once: repeat --dataset and leave out --concessionaria/--uf.

Settings: training/config.yaml, then these flags. The base model is EXTRACTOR_MODEL (or --model),
loaded the way the server loads it. A running server watching the adapters folder picks the
new adapter up by itself (no restart).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

try:
    from extractor_energy.training.run import DEFAULT_CONFIG, TrainConfig, TrainingError, run_training
except ImportError:  # run from a checkout without `pip install -e .`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from extractor_energy.training.run import DEFAULT_CONFIG, TrainConfig, TrainingError, run_training


def _bool(text: str) -> bool | str:
    lowered = text.lower()
    if lowered in ("auto",):
        return "auto"
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true, false or auto, got {text!r}")


def _field_list(text: str) -> list[str]:
    return [f.strip() for f in text.split(",") if f.strip()]


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", required=True, action="append",
                   help="prepared data set (training/prepare_dataset.py); repeat it for a generic adapter")
    p.add_argument("--concessionaria", help="utility (must match the data set's key); leave out for a generic adapter")
    p.add_argument("--uf", help="state code; leave out for a generic adapter")
    p.add_argument("--output-dir", required=True, help="adapter folder to publish, e.g. adapters/equatorial_go")
    p.add_argument("--config", help=f"YAML settings (default {DEFAULT_CONFIG} when it exists)")
    p.add_argument("--model", help="base model id or folder (default EXTRACTOR_MODEL; must be what the server runs)")
    p.add_argument("--device", choices=["auto", "cuda", "cpu"], help="default EXTRACTOR_DEVICE (auto)")
    g = p.add_argument_group("training settings (override the config file)")
    g.add_argument("--rank", type=int)
    g.add_argument("--alpha", type=float)
    g.add_argument("--dropout", type=float)
    g.add_argument("--target-modules", help="regex of the Linear modules to adapt (language model only)")
    g.add_argument("--learning-rate", "--lr", dest="learning_rate", type=float)
    g.add_argument("--batch-size", type=int)
    g.add_argument("--grad-accum", type=int)
    g.add_argument("--epochs", type=float)
    g.add_argument("--max-steps", type=int, help="stop after this many optimizer steps (overrides --epochs)")
    g.add_argument("--warmup-ratio", type=float)
    g.add_argument("--weight-decay", type=float)
    g.add_argument("--seed", type=int)
    g.add_argument("--fields", type=_field_list,
                   help="comma-separated contract fields the adapter writes (default: all); saved in its metadata")
    g.add_argument("--init-adapter", help="start from this adapter's weights (same rank/targets), e.g. the generic adapter")
    g.add_argument("--save-dtype", choices=["float32", "float16", "bfloat16"],
                   help="dtype of the published adapter weights (default float32; float16 halves the files)")
    g.add_argument("--text-max-tokens", type=int, help="text family: page-text token budget (default EXTRACTOR_TEXT_MAX_TOKENS)")
    g.add_argument("--max-pixels", type=int, help="page pixel budget (default: the server's EXTRACTOR_MODEL_MAX_PIXELS)")
    g.add_argument("--min-pixels", type=int)
    g.add_argument("--gradient-checkpointing", type=_bool, help="true, false or auto (on GPU)")
    g.add_argument("--save-every", type=int, help="checkpoint every N steps")
    g.add_argument("--eval-max-new-tokens", type=int)
    g.add_argument("--eval-batch-size", type=int)
    g.add_argument("--eval-constrained", action=argparse.BooleanOptionalAction, default=None,
                   help="schema-constrained decoding in evaluation (default: EXTRACTOR_CONSTRAINED_DECODING)")
    g.add_argument("--no-eval-before", dest="eval_before", action="store_const", const=False,
                   help="skip the base-model evaluation of the val split")
    g.add_argument("--no-eval", dest="eval_after", action="store_const", const=False,
                   help="skip evaluation after training (implies --no-eval-before)")
    r = p.add_argument_group("checkpoints")
    r.add_argument("--checkpoint-dir", help="default training/runs/<key>")
    r.add_argument("--resume", action="store_true", help="continue from the latest checkpoint in --checkpoint-dir")
    r.add_argument("--keep-checkpoints", action="store_true", help="keep the checkpoints after a successful run")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    return p


OVERRIDES = (
    "rank", "alpha", "dropout", "target_modules", "learning_rate", "batch_size", "grad_accum", "epochs", "max_steps",
    "warmup_ratio", "weight_decay", "seed", "max_pixels", "min_pixels", "gradient_checkpointing", "save_every",
    "eval_max_new_tokens", "eval_batch_size", "eval_before", "eval_after", "eval_constrained", "fields", "init_adapter",
    "text_max_tokens", "save_dtype",
)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if (args.concessionaria is None) != (args.uf is None):
        parser.error("give both --concessionaria and --uf (one key), or neither (a generic adapter)")
    if args.concessionaria is None and len(args.dataset) < 2:
        parser.error("a generic adapter trains on several data sets: repeat --dataset, or name the key")
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    overrides = {name: getattr(args, name) for name in OVERRIDES}
    if overrides["eval_after"] is False:
        overrides["eval_before"] = False
    config_path = args.config or (DEFAULT_CONFIG if DEFAULT_CONFIG.is_file() else None)
    from extractor_energy.training.datasets import DatasetError
    from extractor_energy.engine.model import ModelLoadError

    steps_seen = [0]
    try:
        config = TrainConfig.load(config_path, overrides)
        outcome = run_training(
            args.dataset if len(args.dataset) > 1 else args.dataset[0], args.concessionaria, args.uf, args.output_dir, config=config, model=args.model,
            device=args.device, checkpoint_dir=args.checkpoint_dir, resume=args.resume,
            keep_checkpoints=args.keep_checkpoints, show_progress=not args.quiet,
            on_step=lambda step, total, loss: steps_seen.__setitem__(0, step),
        )
    except KeyboardInterrupt:
        where = args.checkpoint_dir or "training/runs/<key>"
        print(f"\ninterrupted after step {steps_seen[0]}; the last checkpoint is in {where}: rerun with --resume",
              file=sys.stderr)
        return 130
    except (TrainingError, DatasetError, ModelLoadError) as exc:
        print(f"train_lora: {exc}", file=sys.stderr)
        return 2
    meta = outcome.metadata
    loss = meta["loss"]
    print(f"published {outcome.adapter_dir} ({meta['training']['steps']} steps, loss {loss.get('first')} -> {loss.get('last')})")
    metrics = meta["metrics"]
    for name in ("before", "after"):
        m = metrics.get(name)
        if m:
            print(f"  val {name:6s}: micro F1 {m['micro_f1']:.3f}  field accuracy {m['field_accuracy']:.3f}  "
                  f"exact match {m['exact_match']:.3f}  ({m['documents']} bills)")
    if not (metrics.get("before") or metrics.get("after")):
        print("  (no val rows or evaluation skipped)")
    if args.quiet:
        print(json.dumps(metrics, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
