"""Positioned lines of a bill's pages: text, the pieces it was built from, and boxes of any span."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from extractor_energy.documents.page_text import PageFrame, PageText, TextBox, group_lines

Box = tuple[float, float, float, float]


def fold(text: str) -> str:
    """Upper case without accents, one character for one (offsets stay valid for the original)."""
    out = []
    for ch in text:
        base = unicodedata.normalize("NFKD", ch)[:1] or ch
        up = base.upper()
        out.append(up if len(up) == 1 else base)
    return "".join(out)


@dataclass
class Line:
    """One printed line: ``page`` (0-based), its index among all lines of the bill, text and pieces."""

    page: int
    index: int
    text: str
    folded: str
    pieces: list[TextBox]
    starts: list[int]  # offset of each piece in ``text``
    frame: PageFrame | None = None  # how boxes of the frame OCR read map back to the decoded page

    def page_box(self, box: Box) -> Box:
        """``box`` (of the frame the text was read in) in pixels of the page as decoded."""
        return self.frame.to_page(box) if self.frame is not None else box

    @property
    def box(self) -> Box:
        return (min(p.x0 for p in self.pieces), min(p.y0 for p in self.pieces),
                max(p.x1 for p in self.pieces), max(p.y1 for p in self.pieces))

    def span_box(self, start: int, end: int) -> Box:
        """Box of ``text[start:end]``: the pieces it touches, cut in proportion to characters."""
        boxes = []
        for piece, offset in zip(self.pieces, self.starts):
            length = len(piece.text)
            lo, hi = max(start, offset), min(end, offset + length)
            if lo >= hi:
                continue
            width = piece.x1 - piece.x0
            x0 = piece.x0 + width * (lo - offset) / max(length, 1)
            x1 = piece.x0 + width * (hi - offset) / max(length, 1)
            boxes.append((x0, piece.y0, x1, piece.y1))
        if not boxes:
            return self.box
        return (min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes), max(b[3] for b in boxes))


def _line(page: int, index: int, pieces: list[TextBox], frame: PageFrame | None = None) -> Line:
    parts: list[str] = []
    starts: list[int] = []
    pos = 0
    for n, piece in enumerate(pieces):
        if n:
            gap = piece.x0 - pieces[n - 1].x1
            sep = " | " if gap > 3.0 * min(pieces[n - 1].char_width, piece.char_width) else " "
            parts.append(sep)
            pos += len(sep)
        starts.append(pos)
        parts.append(piece.text)
        pos += len(piece.text)
    text = "".join(parts)
    return Line(page, index, text, fold(text), pieces, starts, frame)


def page_lines(pages: list[PageText]) -> list[Line]:
    """Every line of every page, top-down, pieces with their text exactly as read (not compacted)."""
    lines: list[Line] = []
    for page_no, page in enumerate(pages):
        for pieces in group_lines([b for b in page.boxes if b.text.strip()]):
            cleaned = [TextBox(" ".join(p.text.split()), p.x0, p.y0, p.x1, p.y1) for p in pieces]
            lines.append(_line(page_no, len(lines), cleaned, page.frame))
    return lines
