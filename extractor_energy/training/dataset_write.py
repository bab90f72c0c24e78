"""Writing a prepared data set: images, ``train.jsonl``/``val.jsonl`` and ``summary.json``, published atomically."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from extractor_energy.adapters.publish import publishing
from extractor_energy.domain.keys import BillKey
from extractor_energy.domain.schema import ALL_FIELDS
from extractor_energy.training.dataset_rows import FORMAT, SPLITS, DatasetRow, Rejected


@dataclass
class PrepareResult:
    output_dir: Path
    summary: dict[str, Any]
    rejected: list[Rejected] = field(default_factory=list)

    @property
    def usable(self) -> int:
        return int(self.summary["counts"]["usable"])


def field_coverage(rows: list[DatasetRow]) -> dict[str, dict[str, float]]:
    """Per contract field: in how many rows it has a value (not null/false/[])."""
    out = {}
    for name in ALL_FIELDS:
        count = sum(1 for r in rows if getattr(r.data, name) not in (None, False, []))
        out[name] = {"count": count, "fraction": round(count / len(rows), 4) if rows else 0.0}
    return out


def write_dataset(
    output_dir: Path, rows: list[DatasetRow], split: dict[str, str], blobs: dict[str, tuple[bytes, str]],
    key: BillKey, data_dir: Path, val_fraction: float, seed: int, rows_read: int, rejected: list[Rejected],
    other_keys: dict[str, int], skipped_folders: list[str],
) -> PrepareResult:
    from extractor_energy import __version__

    digest = hashlib.sha256()
    with publishing(output_dir) as tmp:
        (tmp / "images").mkdir()
        for name in sorted(blobs):
            (tmp / name).write_bytes(blobs[name][0])
        for name in SPLITS:
            lines = [json.dumps(r.to_json(), ensure_ascii=False) for r in rows if split[r.id] == name]
            text = "".join(line + "\n" for line in lines)
            (tmp / f"{name}.jsonl").write_text(text, encoding="utf-8")
            digest.update(f"{name}.jsonl\0{len(text.encode())}\0".encode())
            digest.update(text.encode("utf-8"))
        for name in sorted(blobs):
            digest.update(f"{name}\0{len(blobs[name][0])}\0".encode())
            digest.update(blobs[name][0])
        train = [r for r in rows if split[r.id] == "train"]
        val = [r for r in rows if split[r.id] == "val"]
        summary = {
            "format": FORMAT,
            "key": key.key,
            "concessionaria": key.concessionaria,
            "uf": key.uf,
            "fingerprint": digest.hexdigest(),
            "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "package_version": __version__,
            "source": str(data_dir.resolve()),
            "seed": seed,
            "val_fraction": val_fraction,
            "counts": {
                "rows_read": rows_read, "usable": len(rows), "train": len(train), "val": len(val),
                "rejected": len(rejected), "other_key": sum(other_keys.values()), "images": len(blobs),
                "pages": sum(r.pages for r in rows),
            },
            "rejected": [{"source": r.source, "line": r.line, "reason": r.reason} for r in rejected],
            "other_keys": other_keys,
            "skipped_folders": skipped_folders,
            "field_coverage": field_coverage(rows),
            "field_coverage_val": {f: v["count"] for f, v in field_coverage(val).items()},
            "fields": list(ALL_FIELDS),
        }
        (tmp / "summary.json").write_text(json.dumps(summary, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return PrepareResult(output_dir=output_dir, summary=summary, rejected=rejected)
