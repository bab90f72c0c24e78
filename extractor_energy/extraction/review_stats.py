"""Per key: how many corrected bills the review queue holds, and how the serving adapter did on them.

Every reviewed row keeps the answer the service gave (``review.answer``) and which adapter version
gave it, so the score of an adapter version on the corrected bills is a plain comparison of its
answers with the corrections: no model runs here. A person reads it to decide when to retrain
(``extractor-energy train --from-review``): many corrected bills and a low score say "now".
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from extractor_energy.domain.keys import InvalidKey, parse_key
from extractor_energy.evaluation.scoring import score
from extractor_energy.extraction.review_queue import ANNOTATIONS, TRAINED, read_rows, review_id

#: ``serving(key) -> {"adapter", "version"} | None``: what answers that key now
Serving = Callable[[str], dict[str, Any] | None]


def _version_scores(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Micro F1 of each adapter version's answers against the corrections, most bills first."""
    groups: dict[tuple[Any, Any], list[dict[str, Any]]] = {}
    for row in rows:
        review = row.get("review") if isinstance(row.get("review"), dict) else {}
        if isinstance(review.get("answer"), dict) and isinstance(row.get("json"), dict):
            groups.setdefault((review.get("adapter"), review.get("adapter_version")), []).append(row)
    out = []
    for (adapter, version), group in groups.items():
        report = score([r["review"]["answer"] for r in group], [r["json"] for r in group])
        out.append({"adapter": adapter, "version": version, "bills": len(group), "micro_f1": round(report.micro_f1, 4)})
    return sorted(out, key=lambda g: -g["bills"])


def key_stats(root: Path, serving: Serving | None = None) -> list[dict[str, Any]]:
    """One entry per key folder under ``root``: corrected bills, bills already trained on (files deleted),
    the answers' score per adapter version, and the serving adapter's score where it answered some of them."""
    out = []
    if not root.is_dir():
        return out
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith((".", "_"))):
        try:
            key = parse_key(folder.name).key
        except InvalidKey:
            continue
        rows = read_rows(folder / ANNOTATIONS)
        trained = read_rows(folder / TRAINED)
        if not rows and not trained:
            continue
        versions = _version_scores(rows)
        now = serving(key) if serving else None
        mine = [v for v in versions if now and v["adapter"] == now.get("adapter") and v["version"] == now.get("version")]
        out.append({
            "key": key, "corrected": len(rows), "trained_forgotten": len(trained),
            "bills": [{"id": review_id(r), "reviewed_at": (r.get("review") or {}).get("reviewed_at")} for r in rows
                      if review_id(r)],
            "serving": now, "serving_score": mine[0]["micro_f1"] if mine else None,
            "serving_scored_on": mine[0]["bills"] if mine else 0, "by_version": versions,
        })
    return out
