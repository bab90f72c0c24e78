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
A4_MM = (210.0, 297.0)
PT_MM = 25.4 / 72
_MEASURE_PX = 200  # metrics font size; boxes scale linearly from it

Color = tuple[int, int, int]
BLACK: Color = (0, 0, 0)
WHITE: Color = (255, 255, 255)


@lru_cache(maxsize=None)
def font(bold: bool, size_px: float) -> ImageFont.FreeTypeFont:
    """The bundled DejaVu Sans (bold or regular) at ``size_px``; never a system font."""
    return ImageFont.truetype(str(FONT_FILES[bold]), size=size_px)


@lru_cache(maxsize=8192)
def measure(text: str, bold: bool, size_pt: float) -> tuple[float, float, float]:
    """Advance width, ink top (above the baseline) and ink bottom (below it), in mm."""
    metrics = font(bold, _MEASURE_PX)
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
             color: Color = BLACK, align: str = "l", field: str | None = None) -> float:
        """Draw ``text`` with its baseline at ``y``; ``align`` l/r/c about ``x``. Returns the width (mm)."""
        text = str(text)
        width, top, bottom = measure(text, bold, size)
        left = x - width if align == "r" else x - width / 2 if align == "c" else x
        self.ops.append(Op("text", (left, y, text, size, bold), color))
        if field:
            self.fields.append((field, text, (left, y - top, left + width, y + bottom)))
        return width

    def fit_text(self, x: float, y: float, text: str, max_width: float, size: float = 7.0, **kw) -> float:
        """Like :meth:`text`, shrinking the font until the text fits ``max_width`` mm."""
        while size > 4.0 and measure(str(text), kw.get("bold", False), size)[0] > max_width:
            size -= 0.25
        return self.text(x, y, text, size=size, **kw)

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


def page_size_px(dpi: int) -> tuple[int, int]:
    """A4 in pixels at ``dpi`` (150 -> 1240 x 1754)."""
    return round(A4_MM[0] / 25.4 * dpi), round(A4_MM[1] / 25.4 * dpi)
