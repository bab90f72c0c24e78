"""Accuracy table: base prompt vs generic vs specialised adapters, per layout and capture, on held-out bills.

    python -m benchmarks.accuracy --eval-root EVAL --adapters DIR [--generic DIR] [--limit 12] [--json-out F]

``EVAL/<capture>/<key>/`` are data sets made by ``training/prepare_dataset.py --val-fraction 0`` from
bills whose seeds were never used in training (``training/embedded_adapters.sh`` writes them).
For every layout and capture it evaluates, with the served model (``EXTRACTOR_MODEL``, default the
embedded one), on the adapters' field set:

* ``base``: the base model with the utility prompt (what a key without adapter got before);
* ``generic``: the generic adapter (``--generic``; the fallback adapter) — marked *unseen* on a key
  that was not in its training data;
* ``specialised``: ``ADAPTERS/<key>/`` when it exists.

It prints micro F1 and required-fields exact match per cell, and a reliability table (confidence
bucket -> share of correct fields) over the ``--calibrate`` capture, with the review threshold that
keeps the fields not flagged at least ``--target`` correct and the share of bills it flags.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

BUCKETS = (0.0, 0.3, 0.5, 0.7, 0.8, 0.9, 0.95, 0.98, 0.99, 1.0001)


def _metadata(folder: Path) -> dict[str, Any]:
    path = folder / "extractor_metadata.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def _cells(eval_root: Path, captures: list[str], layouts: list[str] | None) -> list[tuple[str, str, Path]]:
    cells = []
    for capture in captures:
        for folder in sorted((eval_root / capture).glob("*")):
            if (folder / "summary.json").is_file() and (layouts is None or folder.name in layouts):
                cells.append((folder.name, capture, folder))
    return cells


def reliability(records: list[tuple[float, bool]]) -> list[dict[str, Any]]:
    """Confidence buckets -> count and share correct."""
    rows = []
    for low, high in zip(BUCKETS, BUCKETS[1:]):
        inside = [ok for conf, ok in records if low <= conf < high]
        rows.append({"bucket": f"[{low:.2f}, {min(high, 1.0):.2f}{')' if high < 1 else ']'}", "fields": len(inside),
                     "accuracy": round(sum(inside) / len(inside), 4) if inside else None})
    return rows


def choose_threshold(records: list[tuple[float, bool]], target: float) -> float:
    """The lowest threshold t such that fields with confidence >= t are at least ``target`` correct."""
    for t in sorted({round(c, 3) for c, _ in records} | {0.0}):
        kept = [ok for conf, ok in records if conf >= t]
        if kept and sum(kept) / len(kept) >= target:
            return t
    return 1.0


def review_flag(confidence: dict[str, float], data: Any) -> dict[str, Any]:
    """What ``requires_review`` needs to be recomputed at any threshold: required-field confidences and check findings."""
    from extractor_energy.domain.checks import check_bill
    from extractor_energy.domain.schema import REQUIRED_FIELDS

    flagged = {f for finding in check_bill(data) for f in getattr(finding, "fields", [])}
    return {"required": {f: (None if getattr(data, f) in (None, "", False, []) else confidence.get(f, 0.0))
                         for f in REQUIRED_FIELDS}, "check_flags": sorted(flagged & set(REQUIRED_FIELDS))}


def _required_ok(item: Any, data: Any) -> bool:
    from extractor_energy.evaluation.scoring import normalised_fields
    from extractor_energy.domain.schema import REQUIRED_FIELDS

    gold, got = normalised_fields(item.gold), normalised_fields(data)
    return all(gold[f] == got[f] for f in REQUIRED_FIELDS)


def flagged_at(bill: dict[str, Any], threshold: float) -> bool:
    """``confidence.requires_review`` for a bill recorded by :func:`review_flag`."""
    return bool(bill["check_flags"]) or any(c is None or c < threshold for c in bill["required"].values())


def report(results: list[dict[str, Any]], fields: list[str] | None, limit: int, minutes: float,
           calibration: list[tuple[float, bool]], bills: list[tuple[dict[str, Any], bool]], target: float,
           capture: str) -> dict[str, Any]:
    """Print the accuracy table and the reliability table; return the calibration summary."""
    print(f"\n### micro F1 / required-fields exact match ({limit} held-out bills per cell, fields: "
          f"{', '.join(fields) if fields else 'all'}; {minutes:.1f} min)\n")
    names = ["base", "generic", "generic (unseen)", "specialised"]
    print("| layout | capture | " + " | ".join(names) + " |")
    print("| --- | --- | " + " | ".join("---:" for _ in names) + " |")
    cells = list(dict.fromkeys((r["layout"], r["capture"]) for r in results))
    for key, cap in cells:
        shown = []
        for n in names:
            hit = next((r for r in results if (r["layout"], r["capture"], r["system"]) == (key, cap, n)), None)
            shown.append(f"{hit['micro_f1']:.3f} / {hit['required_exact']:.2f}" if hit else "–")
        print(f"| {key} | {cap} | " + " | ".join(shown) + " |")
    if not calibration:
        return {"reliability": [], "threshold": None, "share_flagged": None}
    threshold = choose_threshold(calibration, target)
    table = reliability(calibration)
    flags = [flagged_at(bill, threshold) for bill, _ in bills]
    share = round(sum(flags) / len(flags), 4) if flags else None
    wrong_unflagged = sum(1 for (bill, ok), flag in zip(bills, flags) if not flag and not ok)
    print(f"\n### reliability on {capture} bills (adapters): confidence -> share of fields correct\n")
    print("| confidence | fields | correct |\n| --- | ---: | ---: |")
    for r in table:
        shown = "–" if r["accuracy"] is None else f"{r['accuracy']:.3f}"
        print(f"| {r['bucket']} | {r['fields']} | {shown} |")
    print(f"\nthreshold for >= {target:.0%} correct among unflagged fields: {threshold}; bills flagged at it: "
          f"{share} of {len(flags)}; unflagged bills with a wrong required field: {wrong_unflagged}")
    return {"reliability": table, "threshold": threshold, "share_flagged": share, "target": target}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--eval-root", required=True, type=Path, help="EVAL/<capture>/<key>/ prepared data sets")
    parser.add_argument("--adapters", required=True, type=Path, help="folder of specialised adapters, <key>/")
    parser.add_argument("--generic", type=Path, help="the generic adapter folder")
    parser.add_argument("--captures", default="pdf,jpg,photo,scan", help="captures to evaluate, in table order")
    parser.add_argument("--layouts", help="comma-separated keys (default: every key found)")
    parser.add_argument("--systems", default="base,generic,specialised", help="which systems to run")
    parser.add_argument("--limit", type=int, default=12, help="bills per cell (default 12)")
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--max-new-tokens", type=int, default=200)
    parser.add_argument("--calibrate", default="photo", help="capture whose fields give the reliability table")
    parser.add_argument("--target", type=float, default=0.98, help="accuracy the fields not flagged must reach")
    parser.add_argument("--json-out", type=Path)
    parser.add_argument("--merge", nargs="+", type=Path, help="print the tables of earlier --json-out files together "
                        "(runs split over processes) instead of evaluating")
    args = parser.parse_args(argv)
    if args.merge:
        runs = [json.loads(p.read_text(encoding="utf-8")) for p in args.merge]
        records = [(c, ok) for run in runs for c, ok in run["calibration"]]
        bills = [tuple(b) for run in runs for b in run["bills"]]
        report([r for run in runs for r in run["results"]], runs[0]["fields"], runs[0]["limit"],
               sum(run["minutes"] for run in runs), records, bills, args.target, args.calibrate)
        return 0

    import torch

    from extractor_energy.config import Settings
    from extractor_energy.training.datasets import load_split, read_summary
    from extractor_energy.evaluation.predict import predict_local
    from extractor_energy.evaluation.scoring import normalised_fields, score_predictions
    from extractor_energy.domain.keys import make_key
    from extractor_energy.engine.model import load_model
    from extractor_energy.training.run import eval_items

    torch.set_num_threads(1)
    settings = Settings()
    loaded = load_model(settings)
    systems = [s.strip() for s in args.systems.split(",")]
    generic_meta = _metadata(args.generic) if args.generic else {}
    generic_keys = set((generic_meta.get("dataset") or {}).get("keys") or [])
    fields = generic_meta.get("fields")
    if args.generic and "generic" in systems:
        loaded.load_adapter(args.generic, "generic", allow_base_mismatch=True)
    loaded_specialised: set[str] = set()
    layouts = args.layouts.split(",") if args.layouts else None
    cells = _cells(args.eval_root, args.captures.split(","), layouts)
    if not cells:
        print(f"no prepared data sets under {args.eval_root}/<capture>/<key>/", file=sys.stderr)
        return 2
    limits = settings.document_limits(offline=True)
    results: list[dict[str, Any]] = []
    calibration: list[tuple[float, bool]] = []
    flagged_bills: list[tuple[dict[str, float], Any, Any]] = []
    started = time.perf_counter()
    for key, capture, folder in cells:
        summary = read_summary(folder)
        bill_key = make_key(summary["concessionaria"], summary["uf"])
        rows = load_split(folder, "all")[: args.limit]
        items = eval_items(folder, rows, bill_key, limits, loaded, settings.text_max_tokens)
        runs: list[tuple[str, str | None]] = []
        if "base" in systems:
            runs.append(("base", None))
        if "generic" in systems and args.generic:
            runs.append(("generic" if key in generic_keys else "generic (unseen)", "generic"))
        special = args.adapters / key
        if "specialised" in systems and (special / "adapter_config.json").is_file():
            if key not in loaded_specialised:
                for other in loaded_specialised:  # one specialised adapter at a time: the slots are few
                    loaded.slots.unload(f"s_{other}")
                loaded_specialised = {key}
                loaded.load_adapter(special, f"s_{key}", allow_base_mismatch=True)
            runs.append(("specialised", f"s_{key}"))
        for system, adapter in runs:
            t0 = time.perf_counter()
            preds = predict_local(loaded, items, adapter_name=adapter, max_new_tokens=args.max_new_tokens,
                                  batch_size=args.batch_size, constrained=True, fields=fields)
            scored = score_predictions(items, preds, fields)
            seconds = time.perf_counter() - t0
            row = {"layout": key, "capture": capture, "system": system, "bills": len(items),
                   "micro_f1": round(scored.micro_f1, 4), "required_exact": round(scored.required_exact, 4),
                   "micro_precision": round(scored.micro_precision, 4), "micro_recall": round(scored.micro_recall, 4),
                   "s_per_bill": round(seconds / max(len(items), 1), 2),
                   "field_accuracy": {f: round(sc.accuracy, 3) for f, sc in scored.fields.items()}}
            results.append(row)
            print(json.dumps(row), flush=True)
            if capture == args.calibrate and adapter is not None:
                for item, pred in zip(items, preds):
                    gold, got = normalised_fields(item.gold), normalised_fields(pred.data)
                    for name, conf in pred.confidence.items():
                        calibration.append((conf, got.get(name) == gold.get(name)))
                    if pred.data is not None:
                        flagged_bills.append((pred.confidence, pred.data, item))
    elapsed = time.perf_counter() - started

    bills = [(review_flag(conf, data), _required_ok(item, data)) for conf, data, item in flagged_bills]
    summary = report(results, fields, args.limit, elapsed / 60, calibration, bills, args.target, args.calibrate)
    if args.json_out:
        args.json_out.parent.mkdir(parents=True, exist_ok=True)
        args.json_out.write_text(json.dumps({
            "model": loaded.name, "fields": fields, "limit": args.limit, "results": results,
            "minutes": round(elapsed / 60, 1), "calibration": calibration, **summary,
            "bills": bills,
        }, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
