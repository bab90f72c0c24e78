"""Build a held-out evaluation set and cache its page text with boxes, so scoring is pure Python.

    python benchmarks/heldout.py --out build/heldout [--n-mix 40 --n-photo 10 --n-pdf 10]
        [--families equatorial,cemig] [--seed 910000] [--workers 1]

Per layout family (one utility each, :data:`FAMILY_KEYS`; ``generic`` is a utility without its own
layout) it writes ``<out>/<family>/{mix,photo,pdf}/`` with :func:`extractor_energy.synth.write_dataset`
(``--degrade mix``, ``--degrade photo``, clean PDFs), then reads every file as the server does
(``load_document`` with the text family's limits, ``PageTextReader.read_page`` per page) and appends
one JSON line per bill to ``<out>/pages.jsonl``::

    {"file": "cemig/mix/fatura_0001.jpg", "family", "key", "capture", "layout", "truth": {...},
     "hidden": [...], "boxes": [{"field", "text", "page", "box"}],  # drawn values the file shows
     "pages": [{"source", "rotated", "width", "height", "ms", "text",
                "boxes": [[text, x0, y0, x1, y1], ...],        # OCR / text-layer boxes
                "truth_boxes": [{"field", "text", "box"}]}]}   # ``boxes`` of this page, in its frame

Page boxes and ``truth_boxes`` are in pixels of the page as served: upright, after the turn OCR
applied (``rotated``), scaled to ``width`` x ``height``. Bill-level ``boxes`` are the annotation's
(pixels of the upright file). Resumable: files already in ``pages.jsonl`` are skipped; one run at a
time per ``--out`` (a lock file). Bill ``i`` is the same whatever ``--n-*`` is, so a run with larger
counts extends a smaller set.

Seeds: training uses 1000/2000 (``training/embedded_adapters.sh``) and the accuracy benchmark
5000-8000; the held-out base is :data:`HELDOUT_SEED`, far from both. Family ``i`` and part ``j``
use ``seed + 10 * i + j``. Pass another ``--seed`` (e.g. :data:`DEV_SEED`) for a development set.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

#: one utility per layout family of ``extractor_energy.synth.layouts.LAYOUTS`` (concessionaria, UF)
FAMILY_KEYS: dict[str, tuple[str, str]] = {
    "equatorial": ("EQUATORIAL", "GO"), "enel": ("ENEL", "RJ"), "cemig": ("CEMIG", "MG"),
    "light": ("LIGHT", "RJ"), "cpfl": ("CPFL", "SP"), "energisa": ("ENERGISA", "MT"),
    "copel": ("COPEL", "PR"), "generic": ("NEOENERGIA", "PE"),
}
HELDOUT_SEED = 910_000
DEV_SEED = 920_000
PARTS = ("mix", "photo", "pdf")  # part j of a family uses seed + 10 * family index + j
PAGES = "pages.jsonl"


def _done(path: Path) -> set[str]:
    """Files already cached; a torn last line (a run killed mid-write) is cut off so appends stay valid."""
    done: set[str] = set()
    if path.exists():
        data = path.read_bytes()
        if data and not data.endswith(b"\n"):
            with path.open("r+b") as f:
                f.truncate(data.rfind(b"\n") + 1)
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                done.add(json.loads(line)["file"])
            except (ValueError, KeyError):
                continue
    return done


def _generate(out: Path, family: str, part: str, n: int, seed: int) -> Path:
    """Write (once) the bills of one family and part; returns their annotations path."""
    from extractor_energy.synth import write_dataset

    folder = out / family / part
    annotations = folder / "annotations.jsonl"
    if annotations.exists() and sum(1 for _ in annotations.open(encoding="utf-8")) == n:
        return annotations
    conc, uf = FAMILY_KEYS[family]
    fmt, degrade = ("pdf", "none") if part == "pdf" else ("jpg", part)
    return write_dataset(folder, conc, uf, n, seed=seed, fmt=fmt, degrade=degrade)


def _turn(box: list[int], size: tuple[int, int], rotated: int) -> list[float]:
    """A box of an image of ``size`` after ``image.rotate(rotated, expand=True)`` (counter-clockwise)."""
    x0, y0, x1, y1 = box
    w, h = size
    for _ in range((rotated // 90) % 4):
        x0, y0, x1, y1, w, h = y0, w - x1, y1, w - x0, h, w
    return [x0, y0, x1, y1]


_READER: Any = None


def read_bill(task: tuple[str, str, dict, str]) -> dict:
    """One cached row: decode the file as the server does and read each page's text with boxes."""
    global _READER
    from PIL import Image, ImageOps

    from extractor_energy.config import Settings
    from extractor_energy.documents.decode import load_document
    from extractor_energy.documents.page_text import PageTextReader
    from extractor_energy.domain.keys import make_key

    root, rel, row, family = task
    if _READER is None:
        _READER = PageTextReader(ocr_threads=1)
    path = Path(root) / rel
    data = path.read_bytes()
    doc = load_document(data, Settings().document_limits("text"), filename=path.name)
    if doc.kind != "pdf":  # the annotation's boxes are in pixels of the upright file at full size
        with Image.open(path) as img:
            upright = ImageOps.exif_transpose(img).size
    pages = []
    layers = doc.text_layers + [None] * (len(doc.pages) - len(doc.text_layers))
    for index, (image, layer) in enumerate(zip(doc.pages, layers)):
        text = _READER.read_page(image, layer)
        size = image.size if doc.kind == "pdf" else upright
        k = image.width / size[0] if size[0] else 1.0  # the decoder's downscale, if any (none at default limits)
        truth = [{"field": b["field"], "text": b["text"],
                  "box": [round(v, 1) for v in _turn([v * k for v in b["box"]], image.size, text.rotated)]}
                 for b in row.get("boxes", []) if b["page"] == index]
        pages.append({"source": text.source, "rotated": text.rotated, "width": text.width, "height": text.height,
                      "ms": round(text.ms), "text": text.text, "warning": text.warning,
                      "boxes": [[b.text, round(b.x0, 1), round(b.y0, 1), round(b.x1, 1), round(b.y1, 1)]
                                for b in text.boxes],
                      "truth_boxes": truth,
                      # how the OCR frame maps back to the decoded page (sources are in decoded-page pixels)
                      "frame": [text.frame.rotated, text.frame.skew, text.frame.width, text.frame.height]
                      if text.frame else None})
    pdf = doc.kind == "pdf"
    return {"file": rel, "family": family, "key": str(make_key(*FAMILY_KEYS[family])),
            "capture": "pdf" if pdf else row.get("capture", "none"), "layout": row.get("layout", "a4"),
            "truth": row["json"], "hidden": row.get("hidden", []), "boxes": row.get("boxes", []), "pages": pages}


def _lock(out: Path) -> Path:
    """Claim ``out`` for this process: two runs on one folder would rewrite each other's bills mid-read
    and append the same rows twice. A lock left by a dead process is taken over."""
    lock = out / ".heldout.lock"
    try:
        other = int(lock.read_text().strip() or 0)
        os.kill(other, 0)
        if other != os.getpid():
            raise SystemExit(f"{out} is being built by process {other}; wait for it or pick another --out")
    except (FileNotFoundError, ValueError, ProcessLookupError):
        pass
    except PermissionError:  # alive, but another user's
        raise SystemExit(f"{out} is being built by another process; wait for it or pick another --out") from None
    lock.write_text(str(os.getpid()))
    return lock


def build(out: Path, families: list[str], counts: dict[str, int], seed: int, workers: int) -> None:
    """Generate what is missing, then read and cache every bill not yet in ``pages.jsonl``."""
    out.mkdir(parents=True, exist_ok=True)
    lock = _lock(out)
    try:
        _build(out, families, counts, seed, workers)
    finally:
        lock.unlink(missing_ok=True)


def _build(out: Path, families: list[str], counts: dict[str, int], seed: int, workers: int) -> None:
    cache = out / PAGES
    done = _done(cache)
    pool = None
    if workers > 1:
        from multiprocessing import get_context

        pool = get_context("spawn").Pool(workers)
    started = time.perf_counter()
    try:
        with cache.open("a", encoding="utf-8") as sink:
            for family in families:
                t0 = time.perf_counter()
                index = list(FAMILY_KEYS).index(family)
                tasks = []
                for j, part in enumerate(PARTS):
                    if counts[part] < 1:
                        continue
                    annotations = _generate(out, family, part, counts[part], seed + 10 * index + j)
                    for line in annotations.read_text(encoding="utf-8").splitlines():
                        row = json.loads(line)
                        rel = f"{family}/{part}/{row['image']}"
                        if rel not in done:
                            tasks.append((str(out), rel, row, family))
                generated = time.perf_counter() - t0
                results = pool.imap(read_bill, tasks) if pool is not None else map(read_bill, tasks)
                for result in results:
                    sink.write(json.dumps(result, ensure_ascii=False) + "\n")
                    sink.flush()
                    done.add(result["file"])
                print(f"{family}: {len(tasks)} bills read in {time.perf_counter() - t0:.0f} s "
                      f"(generation {generated:.0f} s); {time.perf_counter() - started:.0f} s in all", flush=True)
    finally:
        if pool is not None:
            pool.close()
            pool.join()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="folder for the bills and pages.jsonl")
    parser.add_argument("--n-mix", type=int, default=40, help="--degrade mix JPEGs per family (default 40)")
    parser.add_argument("--n-photo", type=int, default=10, help="--degrade photo JPEGs per family (default 10)")
    parser.add_argument("--n-pdf", type=int, default=10, help="clean PDFs per family (default 10)")
    parser.add_argument("--families", default=",".join(FAMILY_KEYS), help="comma-separated layout families")
    parser.add_argument("--seed", type=int, default=HELDOUT_SEED,
                        help=f"seed base (default {HELDOUT_SEED}; {DEV_SEED} for the development set)")
    parser.add_argument("--workers", type=int, default=1, help="processes reading bills (default 1)")
    args = parser.parse_args(argv)
    families = [f.strip() for f in args.families.split(",") if f.strip()]
    unknown = [f for f in families if f not in FAMILY_KEYS]
    if unknown:
        parser.error(f"unknown families {unknown}: expected some of {', '.join(FAMILY_KEYS)}")
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    build(args.out, families, {"mix": args.n_mix, "photo": args.n_photo, "pdf": args.n_pdf}, args.seed,
          max(1, args.workers))
    return 0


if __name__ == "__main__":
    sys.exit(main())
