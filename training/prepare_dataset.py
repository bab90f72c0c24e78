#!/usr/bin/env python
"""Prepare a training data set for one utility/state key from annotated bills.

    python training/prepare_dataset.py --data-dir DATA --concessionaria EQUATORIAL --uf GO \
        --output-dir training/datasets/equatorial_go [--val-fraction 0.1] [--seed 0]

Reads ``DATA/annotations.jsonl`` (or ``DATA/<key>/annotations.jsonl``), validates every row against
the output contract, reports rejected rows, splits train/val by a hash of each bill, and writes
a self-contained folder (format: training/README.md). Exit status 1 only if nothing is usable.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

try:
    from extractor_energy.training.datasets import DatasetError, prepare_dataset
except ImportError:  # run from a checkout without `pip install -e .`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from extractor_energy.training.datasets import DatasetError, prepare_dataset


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", required=True, help="folder with annotations.jsonl (or <key>/annotations.jsonl sub-folders)")
    parser.add_argument("--concessionaria", required=True, help="utility, as people write it (EQUATORIAL, cemig-d, Enel RJ...)")
    parser.add_argument("--uf", required=True, help="state code (GO, SP, MG...)")
    parser.add_argument("--output-dir", required=True, help="where to write the data set (replaced atomically if it exists)")
    parser.add_argument("--val-fraction", type=float, default=0.1, help="share of bills held out for validation (default 0.1)")
    parser.add_argument("--seed", type=int, default=0, help="split seed (default 0); the split is a hash of seed and bill")
    parser.add_argument("--max-pdf-pages", type=int, default=None,
                        help="reject bills with more pages (default: the server's EXTRACTOR_MAX_PDF_PAGES, 4)")
    parser.add_argument("--page-text", action=argparse.BooleanOptionalAction, default=True,
                        help="store each bill's page text (PDF text layer, else OCR) for the text model family, so "
                             "training never re-runs OCR (default on; --no-page-text for VLM-only data sets)")
    parser.add_argument("--json", action="store_true", help="print summary.json instead of the short report")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from extractor_energy.config import Settings
    from extractor_energy.training.datasets import decode_check_limits

    overrides = {} if args.max_pdf_pages is None else {"max_pdf_pages": args.max_pdf_pages}
    limits = decode_check_limits(Settings(**overrides))
    try:
        result = prepare_dataset(
            args.data_dir, args.concessionaria, args.uf, args.output_dir,
            val_fraction=args.val_fraction, seed=args.seed, limits=limits, page_text=args.page_text,
            show_progress=not args.json,
        )
    except DatasetError as exc:
        for row in exc.rejected:
            print(f"rejected {row}", file=sys.stderr)
        print(f"prepare_dataset: {exc}", file=sys.stderr)
        return 1
    summary = result.summary
    if args.json:
        print(json.dumps(summary, ensure_ascii=False, indent=2))
        return 0
    for row in result.rejected:
        print(f"rejected {row}", file=sys.stderr)
    counts = summary["counts"]
    print(
        f"{summary['key']}: {counts['usable']} usable of {counts['rows_read']} rows "
        f"({counts['train']} train, {counts['val']} val), {counts['rejected']} rejected"
        + (f", {counts['other_key']} for other keys" if counts["other_key"] else "")
    )
    if summary["skipped_folders"]:
        print("not read (sub-folders of other keys): " + ", ".join(summary["skipped_folders"]))
    covered = {f: v["count"] for f, v in summary["field_coverage"].items() if v["count"]}
    print("fields with values: " + ", ".join(f"{f} {n}" for f, n in covered.items()))
    print(f"fingerprint {summary['fingerprint'][:16]}; wrote {result.output_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
