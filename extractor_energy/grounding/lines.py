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


#: The most a traced line may climb or fall per pixel (~5 degrees): what is left after the page was levelled.
MAX_SLOPE = 0.09


def _centre(box: TextBox) -> tuple[float, float]:
    return (box.x0 + box.x1) / 2, (box.y0 + box.y1) / 2


def _slope(line: list[TextBox]) -> float:
    """The line's climb per pixel from its first to its last piece (0 for one piece or a short span)."""
    (xa, ya), (xb, yb) = _centre(line[0]), _centre(line[-1])
    if xb - xa < 4 * max(line[0].height, line[-1].height):
        return 0.0
    return max(-MAX_SLOPE, min(MAX_SLOPE, (yb - ya) / (xb - xa)))


def traced_lines(boxes: list[TextBox]) -> list[list[TextBox]]:
    """Printed lines followed left to right: each piece joins the line whose course (its last piece, and
    the slope its pieces so far describe) passes through the piece's middle. On a curled or slanted
    photo a row drifts by more than half a line across the page; grouping by height alone then splits
    it and joins its right half to the row below (a label and its value on different lines)."""
    lines: list[list[TextBox]] = []
    for box in sorted(boxes, key=lambda b: (b.x0, b.y0)):
        cx, cy = _centre(box)
        best, best_key = None, None
        for line in lines:
            last = line[-1]
            if last.x1 - box.x0 > 0.5 * min(last.x1 - last.x0, box.x1 - box.x0):
                continue  # overlapping pieces are not neighbours on one line
            lx, ly = _centre(last)
            drift = abs(cy - (ly + _slope(line) * (cx - lx)))
            if drift <= 0.5 * min(last.height, box.height):
                key = (drift / min(last.height, box.height) + 0.01 * max(box.x0 - last.x1, 0) / box.height)
                if best_key is None or key < best_key:
                    best, best_key = line, key
        if best is None:
            lines.append([box])
        else:
            best.append(box)
    return sorted(lines, key=lambda line: (_centre(line[0])[1], line[0].x0))


def page_lines(pages: list[PageText], traced: bool = False) -> list[Line]:
    """Every line of every page, top-down, pieces with their text exactly as read (not compacted).

    ``traced``: OCR pages' lines are followed along their slope (:func:`traced_lines`) instead of
    grouped by height; a PDF text layer is straight and is always grouped by height."""
    lines: list[Line] = []
    for page_no, page in enumerate(pages):
        group = traced_lines if traced and page.source == "ocr" else group_lines
        for pieces in group([b for b in page.boxes if b.text.strip()]):
            cleaned = [TextBox(" ".join(p.text.split()), p.x0, p.y0, p.x1, p.y1) for p in pieces]
            lines.append(_line(page_no, len(lines), cleaned, page.frame))
    return lines
