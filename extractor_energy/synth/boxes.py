"""Where each drawn contract value lands in what the user sends: boxes for provenance scoring.

A capture maps page pixels to its own pixels (``mapper(page, x, y) -> (u, v)``, ``None`` when the
point is not in the image). :func:`locate` maps every :class:`~.canvas.DrawnField` through it,
decides which values stay visible (the rule behind ``Capture.hidden``) and keeps the boxes of the
visible occurrences. Boxes are ``[x0, y0, x1, y1]`` in pixels of the upright image (as
``PIL.ImageOps.exif_transpose`` gives it); for PDFs, in pixels of each page as the server renders
it (:func:`pdf_boxes`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
from PIL import Image

from extractor_energy.synth.canvas import DrawnField, Page

#: A value is visible when one drawn occurrence keeps this share of its box in frame and uncovered.
VISIBLE_SHARE = 0.9
#: Points sampled along each edge of a value's box: a curled photo bends straight edges.
_EDGE_SAMPLES = 6

Mapper = Callable[[int, float, float], "tuple[float, float] | None"]


@dataclass(frozen=True)
class FieldBox:
    """One drawn contract value in the captured image: field path, printed text, page, box in pixels."""

    field: str
    text: str
    page: int
    box: tuple[int, int, int, int]

    def as_json(self) -> dict:
        return {"field": self.field, "text": self.text, "page": self.page, "box": list(self.box)}


def contract_path(field_name: str) -> str:
    """``consumo_lista.3.mes_ano`` -> ``consumo_lista.3``; scalar names stay."""
    parts = field_name.split(".")
    return ".".join(parts[:2]) if len(parts) > 2 else field_name


def _edge_points(box: tuple[float, float, float, float]) -> list[tuple[float, float]]:
    x0, y0, x1, y1 = box
    ts = [i / (_EDGE_SAMPLES - 1) for i in range(_EDGE_SAMPLES)]
    return ([(x0 + t * (x1 - x0), y0) for t in ts] + [(x0 + t * (x1 - x0), y1) for t in ts]
            + [(x0, y0 + t * (y1 - y0)) for t in ts[1:-1]] + [(x1, y0 + t * (y1 - y0)) for t in ts[1:-1]])


def locate(fields: list[DrawnField], mapper: Mapper, visible: np.ndarray,
           pages: tuple[int, ...] = (0,)) -> tuple[list[str], list[FieldBox]]:
    """(hidden contract paths, boxes of the visible occurrences) of ``fields`` in a capture.

    ``visible`` is the capture's mask (255 shown, 0 covered); its shape is the output size.
    Visibility uses the box of the four mapped corners (what ``hidden`` has always used);
    the returned box follows the edges (curl included) and is clipped to the image.
    """
    h, w = visible.shape
    seen: dict[str, bool] = {}
    boxes: list[FieldBox] = []
    for f in fields:
        name = contract_path(f.name)
        seen.setdefault(name, False)
        if f.page not in pages:
            continue
        x0, y0, x1, y1 = f.box
        corners = [mapper(f.page, x, y) for x, y in ((x0, y0), (x1, y0), (x1, y1), (x0, y1))]
        if any(p is None for p in corners):
            continue
        xs, ys = [p[0] for p in corners], [p[1] for p in corners]
        bx0, by0, bx1, by1 = math.floor(min(xs)), math.floor(min(ys)), math.ceil(max(xs)), math.ceil(max(ys))
        area = max(1, (bx1 - bx0) * (by1 - by0))
        cx0, cy0, cx1, cy1 = max(0, bx0), max(0, by0), min(w, bx1), min(h, by1)
        if not (cx1 > cx0 and cy1 > cy0 and visible[cy0:cy1, cx0:cx1].sum() / 255.0 >= VISIBLE_SHARE * area):
            continue
        seen[name] = True
        edge = [mapper(f.page, x, y) for x, y in _edge_points(f.box)]
        us, vs = [p[0] for p in edge if p is not None], [p[1] for p in edge if p is not None]
        box = (max(0, math.floor(min(us))), max(0, math.floor(min(vs))), min(w, math.ceil(max(us))),
               min(h, math.ceil(max(vs))))
        boxes.append(FieldBox(f.name, f.text, 0, box))
    return sorted(name for name, ok in seen.items() if not ok), boxes


def turn_boxes(boxes: list[FieldBox], size: tuple[int, int], turn: Image.Transpose | None) -> list[FieldBox]:
    """Boxes of an image of ``size`` after ``image.transpose(turn)`` (ROTATE_90 / 180 / 270, counter-clockwise)."""
    if turn is None:
        return boxes
    w, h = size
    out = []
    for b in boxes:
        x0, y0, x1, y1 = b.box
        if turn == Image.Transpose.ROTATE_90:
            box = (y0, w - x1, y1, w - x0)
        elif turn == Image.Transpose.ROTATE_180:
            box = (w - x1, h - y1, w - x0, h - y0)
        elif turn == Image.Transpose.ROTATE_270:
            box = (h - y1, x0, h - y0, x1)
        else:  # pragma: no cover - captures only turn by quarter turns
            raise ValueError(f"unsupported turn {turn!r}")
        out.append(FieldBox(b.field, b.text, b.page, box))
    return out


def pdf_page_scale(page: Page, pdf_dpi: int, max_image_pixels: int, max_pixels: int) -> float:
    """Pixels per millimetre of ``page`` as the server serves it: rendered at ``pdf_dpi`` (capped at
    ``max_image_pixels``) by ``documents/pdf.py``, then fitted to the ``max_pixels`` page budget."""
    from extractor_energy.documents.pdf import render_scale

    width_pt, height_pt = page.width * 72 / 25.4, page.height * 72 / 25.4
    scale = render_scale(width_pt, height_pt, pdf_dpi, max_image_pixels)
    w, h = math.ceil(width_pt * scale), math.ceil(height_pt * scale)
    if w * h > max_pixels:  # decode.fit_to_budget
        w = int(w * math.sqrt(max_pixels / (w * h)))
    return w / page.width


def pdf_boxes(pages: list[Page], pdf_dpi: int = 200, max_image_pixels: int = 50_000_000,
              max_pixels: int = 4_000_000) -> list[FieldBox]:
    """Every drawn value of a PDF, in pixels of its page as served (defaults: the server's text-family limits)."""
    out = []
    for index, page in enumerate(pages):
        k = pdf_page_scale(page, pdf_dpi, max_image_pixels, max_pixels)
        for name, text, (x0, y0, x1, y1) in page.fields:
            out.append(FieldBox(name, text, index, (math.floor(x0 * k), math.floor(y0 * k), math.ceil(x1 * k),
                                                    math.ceil(y1 * k))))
    return out
