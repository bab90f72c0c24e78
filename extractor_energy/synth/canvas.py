"""A resolution-free page: a display list in millimetres that both the raster and PDF writers replay.

Layouts draw on a :class:`Page`; every text that carries a contract value is drawn with
``field=...`` so its text and box are recorded (:class:`DrawnField`), which is how tests check
what each layout prints without OCR.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from PIL import ImageFont

FONT_DIR = Path(__file__).parent / "fonts"
FONT_FILES = {False: FONT_DIR / "DejaVuSans.ttf", True: FONT_DIR / "DejaVuSans-Bold.ttf"}
#: ``(face, bold)`` -> font file; ``mono`` is the Courier-like overprint of on-site roll printers.
FACE_FILES = {("sans", False): FONT_FILES[False], ("sans", True): FONT_FILES[True],
              ("mono", False): FONT_DIR / "DejaVuSansMono.ttf", ("mono", True): FONT_DIR / "DejaVuSansMono-Bold.ttf"}
A4_MM = (210.0, 297.0)
PT_MM = 25.4 / 72
_MEASURE_PX = 200  # metrics font size; boxes scale linearly from it

Color = tuple[int, int, int]
BLACK: Color = (0, 0, 0)
WHITE: Color = (255, 255, 255)


@lru_cache(maxsize=None)
def font(bold: bool, size_px: float, face: str = "sans") -> ImageFont.FreeTypeFont:
    """The bundled DejaVu Sans or Sans Mono (bold or regular) at ``size_px``; never a system font."""
    return ImageFont.truetype(str(FACE_FILES[face, bold]), size=size_px)


@lru_cache(maxsize=8192)
def measure(text: str, bold: bool, size_pt: float, face: str = "sans") -> tuple[float, float, float]:
    """Advance width, ink top (above the baseline) and ink bottom (below it), in mm."""
    metrics = font(bold, _MEASURE_PX, face)
    scale = size_pt * PT_MM / _MEASURE_PX
    left, top, right, bottom = metrics.getbbox(text or " ", anchor="ls")
    return metrics.getlength(text) * scale, -top * scale, bottom * scale


@dataclass(frozen=True)
class DrawnField:
    """A contract value as drawn: field name, exact text, box (x0, y0, x1, y1) in page pixels, page."""

    name: str
    text: str
    box: tuple[int, int, int, int]
    page: int


@dataclass
class Overprint:
    """A roll bill's black print over its pre-printed colour form, and the printer's defects.

    Dark texts (any channel below 90) drawn on a page that has one become overprint: ``face``,
    ``ink``, shifted by (``dx``, ``dy``) mm (misregistration: values run across the form's labels
    and lines). ``fade`` (0-1) lightens the print, ``gaps`` are x positions (mm) of dead print-head
    dots: thin vertical columns where the overprint is missing.
    """

    face: str = "mono"
    ink: Color = (20, 20, 25)
    dx: float = 0.0
    dy: float = 0.0
    fade: float = 0.0
    gaps: tuple[float, ...] = ()
    gap_width: float = 0.25


@dataclass(frozen=True)
class Op:
    """One drawing operation in millimetres (see :class:`Page` for the kinds)."""

    kind: str
    args: tuple
    color: Color
    extra: tuple = ()


@dataclass
class Page:
    """An A4 page built from rectangles, lines, polygons, ellipses and text."""

    width: float = A4_MM[0]
    height: float = A4_MM[1]
    ops: list[Op] = field(default_factory=list)
    fields: list[tuple[str, str, tuple[float, float, float, float]]] = field(default_factory=list)
    overprint: Overprint | None = None
    paper: Color = WHITE

    def _resolve(self, color: Color, face: str) -> tuple[str, str, Color, float, float]:
        """(face, layer, colour, dx, dy) of a text: dark texts on a roll page become misregistered overprint."""
        over = self.overprint
        if over is not None and max(color) < 90:
            return over.face, "over", over.ink, over.dx, over.dy
        return face, "form", color, 0.0, 0.0

    def rect(self, x: float, y: float, w: float, h: float, fill: Color | None = None,
             outline: Color | None = None, width: float = 0.25, radius: float = 0.0) -> None:
        """Rectangle (optionally rounded) with fill and/or outline; ``width`` is the stroke in mm."""
        self.ops.append(Op("rect", (x, y, w, h), fill or WHITE, (fill is not None, outline, width, radius)))

    def line(self, x0: float, y0: float, x1: float, y1: float, color: Color = BLACK, width: float = 0.25) -> None:
        self.ops.append(Op("line", (x0, y0, x1, y1), color, (width,)))

    def polygon(self, points: list[tuple[float, float]], fill: Color) -> None:
        self.ops.append(Op("polygon", tuple(points), fill))

    def ellipse(self, x: float, y: float, w: float, h: float, fill: Color) -> None:
        self.ops.append(Op("ellipse", (x, y, w, h), fill))

    def text(self, x: float, y: float, text: str, size: float = 7.0, bold: bool = False,
             color: Color = BLACK, align: str = "l", field: str | None = None, face: str = "sans") -> float:
        """Draw ``text`` with its baseline at ``y``; ``align`` l/r/c about ``x``. Returns the width (mm).

        Op args are ``(left, baseline, text, size_pt, bold, face, layer)``.
        """
        text = str(text)
        face, layer, color, dx, dy = self._resolve(color, face)
        width, top, bottom = measure(text, bold, size, face)
        left = (x - width if align == "r" else x - width / 2 if align == "c" else x) + dx
        y += dy
        self.ops.append(Op("text", (left, y, text, size, bold, face, layer), color))
        if field:
            self.fields.append((field, text, (left, y - top, left + width, y + bottom)))
        return width

    def fit_text(self, x: float, y: float, text: str, max_width: float, size: float = 7.0, **kw) -> float:
        """Like :meth:`text`, shrinking the font until the text fits ``max_width`` mm."""
        face = self._resolve(kw.get("color", BLACK), kw.get("face", "sans"))[0]
        while size > 4.0 and measure(str(text), kw.get("bold", False), size, face)[0] > max_width:
            size -= 0.25
        return self.text(x, y, text, size=size, **kw)

    def rotated_text(self, cx: float, cy: float, text: str, size: float, angle: float, color: Color,
                     bold: bool = True) -> None:
        """Text centred on (cx, cy), turned ``angle`` degrees counter-clockwise (the "SEGUNDA VIA" watermark)."""
        self.ops.append(Op("rtext", (cx, cy, text, size, bold, angle), color))

    def transform(self, dx: float, dy: float, scale: float) -> None:
        """Move and scale everything drawn so far (layout jitter): ``p -> p * scale + (dx, dy)``."""
        def pt(x: float, y: float) -> tuple[float, float]:
            return x * scale + dx, y * scale + dy

        ops = []
        for op in self.ops:
            a = op.args
            if op.kind == "text":
                args = (*pt(a[0], a[1]), a[2], a[3] * scale, *a[4:])
                ops.append(Op(op.kind, args, op.color, op.extra))
            elif op.kind == "rtext":
                ops.append(Op(op.kind, (*pt(a[0], a[1]), a[2], a[3] * scale, *a[4:]), op.color, op.extra))
            elif op.kind in ("rect", "ellipse"):
                extra = op.extra
                if op.kind == "rect":
                    extra = (extra[0], extra[1], extra[2] * scale, extra[3] * scale)
                ops.append(Op(op.kind, (*pt(a[0], a[1]), a[2] * scale, a[3] * scale), op.color, extra))
            elif op.kind == "line":
                ops.append(Op(op.kind, (*pt(a[0], a[1]), *pt(a[2], a[3])), op.color, (op.extra[0] * scale,)))
            elif op.kind == "polygon":
                ops.append(Op(op.kind, tuple(pt(x, y) for x, y in a), op.color, op.extra))
            else:  # pragma: no cover - a new op kind must be added here
                raise ValueError(op.kind)
        self.ops = ops
        self.fields = [(n, t, (*pt(b[0], b[1]), *pt(b[2], b[3]))) for n, t, b in self.fields]
        if self.overprint is not None:
            self.overprint.gaps = tuple(g * scale + dx for g in self.overprint.gaps)

    def mark(self, field: str, text: str, box: tuple[float, float, float, float]) -> None:
        """Record a field drawn by shapes (the barcode bars) with the text it encodes and its box in mm."""
        self.fields.append((field, text, box))

    def drawn_fields(self, dpi: int, page_index: int) -> list[DrawnField]:
        """Recorded fields with boxes converted to pixels at ``dpi``."""
        k = dpi / 25.4
        return [
            DrawnField(name, text, (int(x0 * k), int(y0 * k), int(x1 * k + 0.999), int(y1 * k + 0.999)), page_index)
            for name, text, (x0, y0, x1, y1) in self.fields
        ]


def page_size_px(dpi: int, size_mm: tuple[float, float] = A4_MM) -> tuple[int, int]:
    """A page in pixels at ``dpi`` (A4 at 150 -> 1240 x 1754)."""
    return round(size_mm[0] / 25.4 * dpi), round(size_mm[1] / 25.4 * dpi)
