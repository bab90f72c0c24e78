"""Write a dataset: ``fatura_0001.jpg`` ... plus ``annotations.jsonl`` in the format training reads."""

from __future__ import annotations

import json
import os
from pathlib import Path

from ..keys import make_key
from .bill import generate_bill
from .degrade import MODES, degrade as degrade_image
from .pdf import write_pdf

FORMATS = ("jpg", "png", "pdf")
ANNOTATIONS = "annotations.jsonl"


def bill_seed(seed: int, index: int) -> int:
    """Seed of the ``index``-th bill (1-based) of a dataset generated with ``seed``."""
    return seed * 1_000_003 + index


def write_dataset(out_dir: str | Path, concessionaria: str, uf: str, n: int, seed: int = 0, fmt: str = "jpg",
                  degrade: str = "none", dpi: int = 150) -> Path:
    """Generate ``n`` bills for ``concessionaria``/``uf`` into ``out_dir``; returns the annotations path.

    Each line of ``annotations.jsonl`` is ``{"image": "fatura_0001.jpg", "json": {...47 fields...}}``
    with the image path relative to the file. ``degrade`` applies to jpg/png only.
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}: expected one of {', '.join(FORMATS)}")
    if degrade not in MODES:
        raise ValueError(f"unknown degrade mode {degrade!r}: expected one of {', '.join(MODES)}")
    if fmt == "pdf" and degrade != "none":
        raise ValueError("--degrade scan/photo applies to jpg and png; a PDF keeps vector text")
    if n < 1:
        raise ValueError("the number of bills must be at least 1")
    if not 100 <= dpi <= 600:  # below 100 dpi the smallest print no longer fits its boxes
        raise ValueError("dpi must be between 100 and 600")
    key = make_key(concessionaria, uf)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    width = max(4, len(str(n)))
    lines = []
    for i in range(1, n + 1):
        name = f"fatura_{i:0{width}d}.{fmt}"
        bill = generate_bill(key, bill_seed(seed, i), dpi=dpi, render=fmt != "pdf")
        if fmt == "pdf":
            write_pdf(bill.pages, out / name)
        else:
            image = degrade_image(bill.image, degrade, bill_seed(seed, i))
            if fmt == "jpg":
                image.save(out / name, format="JPEG", quality=90)
            else:
                image.save(out / name, format="PNG", compress_level=1)
        lines.append(json.dumps({"image": name, "json": bill.data.model_dump()}, ensure_ascii=False))
    path = out / ANNOTATIONS
    tmp = path.with_suffix(".jsonl.tmp")
    tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return path
