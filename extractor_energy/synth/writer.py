"""Write a dataset: ``fatura_0001.jpg`` ... plus ``annotations.jsonl`` in the format training reads.

Each row is ``{"image": "fatura_0001.jpg", "json": {...47 fields...}}``. Captured bills
(``degrade`` other than ``none``) add ``"capture"`` (photo, screenshot, scan, none), ``"layout"``
(roll or a4) and, when the capture cropped or covered fields, ``"hidden"``: the contract paths
(``"valor_fatura"``, ``"consumo_lista.3"`` = index in the full list) that are null/false/dropped
in ``json`` because the image does not show them. Every row has ``"boxes"``: each drawn value the
file shows, ``{"field": "valor_fatura", "text": "R$ 123,45", "page": 0, "box": [x0, y0, x1, y1]}``
in pixels of the upright image (EXIF orientation applied) or of the PDF page as the server renders
it (:mod:`extractor_energy.synth.boxes`). Training readers ignore the extra keys.
"""

from __future__ import annotations

import io
import json
import os
from pathlib import Path
from typing import Callable

from PIL import Image

from extractor_energy.domain.keys import make_key
from extractor_energy.synth.bill import generate_bill
from extractor_energy.synth.boxes import pdf_boxes
from extractor_energy.synth.capture import MODES, Capture, capture, hide, pick_mode, pick_physical, store
from extractor_energy.synth.pdf import write_pdf

FORMATS = ("jpg", "png", "pdf", "mpo", "heic")
ANNOTATIONS = "annotations.jsonl"


def bill_seed(seed: int, index: int) -> int:
    """Seed of the ``index``-th bill (1-based) of a dataset generated with ``seed``."""
    return seed * 1_000_003 + index


def _exif(orientation: int) -> Image.Exif | None:
    if orientation == 1:
        return None
    exif = Image.Exif()
    exif[0x0112] = orientation  # Orientation
    return exif


def save_capture(cap: Capture, path: Path, fmt: str) -> None:
    """Write a capture as jpg/png/mpo/heic; jpg and mpo carry the EXIF orientation tag, if any."""
    image, exif = store(cap), _exif(cap.orientation)
    extra = {"exif": exif} if exif is not None else {}
    if fmt == "jpg":
        image.save(path, format="JPEG", quality=90, **extra)
    elif fmt == "png":
        (image.convert("RGBA") if cap.rgba else image).save(path, format="PNG", compress_level=1)
    elif fmt == "mpo":  # what phones write: a primary JPEG plus a smaller second frame
        preview = image.resize((max(1, image.width // 4), max(1, image.height // 4)))
        image.save(path, format="MPO", save_all=True, append_images=[preview], quality=90, **extra)
    elif fmt == "heic":
        try:
            import pillow_heif
        except ImportError as exc:  # pragma: no cover - pillow-heif is a declared dependency
            raise ValueError("--format heic needs the pillow-heif package") from exc
        buffer = io.BytesIO()
        pillow_heif.from_pillow(cap.image).save(buffer, quality=80)  # pixels upright: no orientation tag
        path.write_bytes(buffer.getvalue())
    else:  # pragma: no cover - checked by write_dataset
        raise ValueError(fmt)


def write_dataset(out_dir: str | Path, concessionaria: str, uf: str, n: int, seed: int = 0, fmt: str = "jpg",
                  degrade: str = "none", dpi: int = 150, progress: Callable[[int], None] | None = None) -> Path:
    """Generate ``n`` bills for ``concessionaria``/``uf`` into ``out_dir``; returns the annotations path.

    ``degrade`` (none, scan, photo, screenshot, mix) applies to image formats; ``progress(1)`` is
    called after each bill.
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}: expected one of {', '.join(FORMATS)}")
    if degrade not in MODES:
        raise ValueError(f"unknown degrade mode {degrade!r}: expected one of {', '.join(MODES)}")
    if fmt == "pdf" and degrade != "none":
        raise ValueError("--degrade applies to jpg/png/mpo/heic; a PDF keeps vector text")
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
        s = bill_seed(seed, i)
        name = f"fatura_{i:0{width}d}.{fmt}"
        mode = pick_mode(degrade, s)
        physical = pick_physical(mode, s, fmt)
        bill = generate_bill(key, s, dpi=dpi, render=fmt != "pdf", physical=physical)
        row: dict = {"image": name, "json": bill.data.model_dump()}
        if fmt == "pdf":
            write_pdf(bill.pages, out / name)
            row["boxes"] = [b.as_json() for b in pdf_boxes(bill.pages)]
        else:
            cap = capture(bill, mode, s)
            save_capture(cap, out / name, fmt)
            if degrade != "none":
                full, row["json"] = row["json"], hide(row["json"], cap.hidden)
                hidden = [h for h in cap.hidden if "." in h or row["json"][h] != full[h]]  # not implied by others
                row.update(capture=cap.mode, layout=physical)
                if hidden:
                    row["hidden"] = hidden
            row["boxes"] = [b.as_json() for b in cap.boxes]
        lines.append(json.dumps(row, ensure_ascii=False))
        if progress is not None:
            progress(1)
    path = out / ANNOTATIONS
    tmp = path.with_suffix(".jsonl.tmp")
    tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return path
