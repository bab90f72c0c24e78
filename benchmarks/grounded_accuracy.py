"""Accuracy of the grounded extractor against a plain rule baseline, per layout family and capture,
and provenance accuracy, on a held-out set cached by ``benchmarks/heldout.py``.

    python benchmarks/heldout.py --out heldout            # generate + OCR once (slow: OCR)
    python benchmarks/grounded_accuracy.py heldout/pages.jsonl

Scores are micro-F1 over contract paths (lists indexed), on the six value fields of issue 20
(``--fields six``, default) and on the whole contract (``all``). Provenance accuracy: the share of
answered fields whose source box holds the value's true box (half of the smaller box in both; the
generator records where it drew each value, mapped through the capture). Values derived in code
(``codigo_barras`` from the linha digitável) carry their origin's source and are not counted.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.rule_baseline import baseline  # noqa: E402
from extractor_energy.documents.page_text import PageFrame, PageText, TextBox  # noqa: E402
from extractor_energy.evaluation.scoring import flatten  # noqa: E402
from extractor_energy.grounding import ground_bill  # noqa: E402

SIX = ("mes_referencia", "vencimento", "valor_fatura", "consumo_kwh", "classificacao", "tipo_instalacao")


def pages_of(row: dict) -> list[PageText]:
    return [PageText(p["text"], p["source"], rotated=p.get("rotated", 0), width=p["width"], height=p["height"],
                     boxes=[TextBox(t, x0, y0, x1, y1) for t, x0, y0, x1, y1 in p["boxes"]],
                     frame=PageFrame(*p["frame"]) if p.get("frame") else None) for p in row["pages"]]


def counts(gold: dict, pred: dict, fields) -> tuple[int, int, int]:
    g = {k: v for k, v in flatten(gold, fields)}
    p = {k: v for k, v in flatten(pred, fields)}
    tp = sum(1 for k, v in p.items() if g.get(k) == v)
    return tp, len(p) - tp, len(g) - tp


def f1(c: list[int]) -> float:
    tp, fp, fn = c
    return 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 1.0


def inside(box: list[float], truth: list[float]) -> bool:
    """The source box holds the value: at least half of the smaller of the two boxes lies in both
    (a source that is the value's word inside a longer drawn run, or a drawn value inside a source line)."""
    w = min(box[2], truth[2]) - max(box[0], truth[0])
    h = min(box[3], truth[3]) - max(box[1], truth[1])
    if w <= 0 or h <= 0:
        return False
    smaller = min((box[2] - box[0]) * (box[3] - box[1]), (truth[2] - truth[0]) * (truth[3] - truth[1]))
    return w * h >= 0.5 * max(smaller, 1e-6)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("pages", nargs="+", type=Path, help="pages.jsonl files written by benchmarks/heldout.py")
    parser.add_argument("--fields", choices=("six", "all"), default="six")
    parser.add_argument("--part", choices=("mix", "photo", "pdf"), help="only the bills of this part of the set")
    args = parser.parse_args()
    from extractor_energy.domain.schema import ALL_FIELDS
    fields = SIX if args.fields == "six" else ALL_FIELDS
    table: dict[tuple[str, str], dict[str, list[int]]] = defaultdict(lambda: {"rule": [0, 0, 0], "grounded": [0, 0, 0]})
    prov = [0, 0]
    seen: set[tuple[Path, str]] = set()
    unflagged_wrong = [0, 0]
    for path in args.pages:
        for line in path.read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            if args.part and row["file"].split("/")[1] != args.part or (path, row["file"]) in seen:
                continue  # a bill cached twice (two runs appending at once) counts once
            seen.add((path, row["file"]))
            pages = pages_of(row)
            truth = row["truth"]
            answer = ground_bill(pages, row.get("key", "").rsplit("_", 1)[0] or None)
            pred = answer.data.model_dump()
            rule = baseline("\n".join(p.text for p in pages))
            for cell in ((row["family"], row["capture"]), (row["family"], "all"), ("all", row["capture"]), ("all", "all")):
                for name, guess in (("rule", rule), ("grounded", pred)):
                    for i, v in enumerate(counts(truth, guess, fields)):
                        table[cell][name][i] += v
            true_boxes: dict[str, list] = defaultdict(list)  # a value drawn twice (box + slip) has two boxes
            for b in row.get("boxes", []):
                true_boxes[b["field"]].append((b.get("page", 0) + 1, b["box"]))
            for field, source in answer.sources.items():
                if isinstance(source, dict) and field in true_boxes and not source.get("derived_from"):
                    prov[0] += any(page == source["page"] and inside(source["box"], box) for page, box in true_boxes[field])
                    prov[1] += 1
            for field in fields:
                if pred.get(field) not in (None, False, []) and answer.confidence.get(field, 0) >= 0.8:
                    unflagged_wrong[1] += 1
                    unflagged_wrong[0] += pred[field] != truth.get(field)
    print(f"fields: {args.fields}  (micro-F1; rule = benchmarks/rule_baseline.py)")
    print(f"{'family':<12} {'capture':<11} {'rule':>6} {'grounded':>9} {'margin':>7}")
    for (family, capture), cell in sorted(table.items(), key=lambda kv: (kv[0][0] == "all", kv[0])):
        r, g = f1(cell["rule"]), f1(cell["grounded"])
        print(f"{family:<12} {capture:<11} {r:>6.3f} {g:>9.3f} {g - r:>+7.3f}")
    if prov[1]:
        print(f"provenance: {prov[0]}/{prov[1]} answered fields with a true box have it inside their source box "
              f"({prov[0] / prov[1]:.3f})")
    if unflagged_wrong[1]:
        print(f"confidence >= 0.8: {unflagged_wrong[0]}/{unflagged_wrong[1]} of those values are wrong")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
