"""Write pages as a vector PDF with real, selectable text (fpdf2 + the bundled DejaVu fonts)."""

from __future__ import annotations

import logging
from datetime import datetime, timezone
from pathlib import Path

from fpdf import FPDF

from extractor_energy.synth.canvas import FACE_FILES, Page

_FIXED_DATE = datetime(2025, 1, 1, tzinfo=timezone.utc)  # fixed: same pages -> same bytes
_FAMILY = {"sans": "DejaVu", "mono": "DejaVuMono"}

# fpdf2 subsets fonts with fontTools, which logs an INFO line per table and glyph set: silence it.
logging.getLogger("fontTools").setLevel(logging.WARNING)


def _new_pdf(title: str, faces: set[tuple[str, bool]]) -> FPDF:
    pdf = FPDF(unit="mm", format="A4")
    pdf.set_auto_page_break(False)
    pdf.set_margins(0, 0, 0)
    for face, bold in sorted(faces):  # parsing a font costs ~50 ms: only those the pages use
        pdf.add_font(_FAMILY[face], "B" if bold else "", str(FACE_FILES[face, bold]))
    pdf.set_creation_date(_FIXED_DATE)
    pdf.set_title(title)
    pdf.set_producer("extractor_energy.synth")
    return pdf


def _replay(pdf: FPDF, page: Page) -> None:
    pdf.add_page(format=(page.width, page.height))
    if page.paper != (255, 255, 255):
        pdf.set_fill_color(*page.paper)
        pdf.rect(0, 0, page.width, page.height, style="F")
    for op in page.ops:
        if op.kind == "text":
            x, y, text, size, bold, face, _layer = op.args
            pdf.set_font(_FAMILY[face], "B" if bold else "", size)
            pdf.set_text_color(*(page.overprint.ink if _layer == "over" and page.overprint else op.color))
            pdf.text(x, y, text)
        elif op.kind == "rtext":
            cx, cy, text, size, bold, angle = op.args
            pdf.set_font(_FAMILY["sans"], "B" if bold else "", size)
            pdf.set_text_color(*op.color)
            width = pdf.get_string_width(text)
            with pdf.rotation(angle, cx, cy):
                pdf.text(cx - width / 2, cy + size * 0.3528 * 0.35, text)
        elif op.kind == "rect":
            x, y, w, h = op.args
            filled, outline, width, radius = op.extra
            style = ("F" if filled else "") + ("D" if outline else "")
            if not style:
                continue
            pdf.set_fill_color(*op.color)
            if outline:
                pdf.set_draw_color(*outline)
                pdf.set_line_width(width)
            pdf.rect(x, y, w, h, style=style, round_corners=bool(radius), corner_radius=radius)
        elif op.kind == "line":
            pdf.set_draw_color(*op.color)
            pdf.set_line_width(op.extra[0])
            pdf.line(*op.args)
        elif op.kind == "polygon":
            pdf.set_fill_color(*op.color)
            pdf.polygon(list(op.args), style="F")
        elif op.kind == "ellipse":
            pdf.set_fill_color(*op.color)
            pdf.ellipse(*op.args, style="F")


def write_pdf(pages: list[Page], path: Path, title: str = "Fatura de energia elétrica") -> Path:
    """Write ``pages`` (one PDF page each, in each page's size) to ``path``."""
    faces = {(op.args[5], op.args[4]) for page in pages for op in page.ops if op.kind == "text"}
    faces |= {("sans", op.args[4]) for page in pages for op in page.ops if op.kind == "rtext"}
    pdf = _new_pdf(title, faces)
    for page in pages:
        _replay(pdf, page)
    pdf.output(str(path))
    return path
