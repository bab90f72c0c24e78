"""Page text for the text model family: a PDF page's own text layer, or OCR of the page image.

Both sources give positioned pieces of text (:class:`TextBox`); :func:`rebuild_lines` turns them
into lines in reading order, so a label and its value printed on one line stay on one text line
and columns stay apart (`` | `` where the gap is wide). :func:`compact` then drops what costs
prompt tokens and carries nothing (empty and repeated lines, runs of spaces, dot leaders).

OCR is rapidocr (PP-OCR ONNX models bundled in its wheel: nothing to download). Pages scanned
sideways or upside down are turned upright first: most text boxes taller than wide means 90°,
most lines classified as 180° by PP-OCR's direction classifier means 180°.
"""

from __future__ import annotations

import logging
import re
import statistics
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Literal

from PIL import Image

log = logging.getLogger(__name__)

#: Gap between two pieces of one line, in character widths, from which they are columns (`` | ``).
COLUMN_GAP_CHARS = 3.0
#: A PDF page with fewer non-space characters than this in its text layer is OCR'd instead.
MIN_TEXT_LAYER_CHARS = 20
PAGE_SEPARATOR = "\n--- página {n} ---\n"

Source = Literal["pdf_text", "ocr", "none"]


@dataclass(frozen=True)
class TextBox:
    """A piece of text and its box, in page coordinates with y growing downwards."""

    text: str
    x0: float
    y0: float
    x1: float
    y1: float

    @property
    def height(self) -> float:
        return max(self.y1 - self.y0, 1e-6)

    @property
    def char_width(self) -> float:
        return max(self.x1 - self.x0, 1e-6) / max(len(self.text), 1)


@dataclass
class PageText:
    """The text of one page, where it came from, and what reading it cost.

    ``boxes`` are the positioned pieces the text was built from, in pixels of the page image as
    served (upright: after the ``rotated`` turn for OCR), ``width``/``height`` that image's size:
    the grounded extractor reads values and their provenance from them.
    """

    text: str
    source: Source
    ms: float = 0.0
    rotated: int = 0  # degrees the page image was turned before OCR
    warning: str | None = None
    boxes: list[TextBox] = field(default_factory=list)
    width: int = 0
    height: int = 0
    frame: "PageFrame | None" = None  # OCR: how ``boxes`` map back to the decoded page (None: they are page pixels)


def rebuild_lines(boxes: list[TextBox]) -> list[str]:
    """Group boxes into lines (vertical overlap), order lines top-down and pieces left-right."""
    return [_join(line) for line in group_lines(boxes)]


def group_lines(boxes: list[TextBox]) -> list[list[TextBox]]:
    """The boxes of each line (vertical overlap), lines top-down, pieces left-right."""
    lines: list[list[TextBox]] = []
    for box in sorted((b for b in boxes if b.text.strip()), key=lambda b: ((b.y0 + b.y1) / 2, b.x0)):
        centre = (box.y0 + box.y1) / 2
        target = None
        for line in reversed(lines[-3:]):  # only recent lines can still overlap (sorted by centre)
            top = statistics.median(b.y0 for b in line)
            bottom = statistics.median(b.y1 for b in line)
            overlap = min(bottom, box.y1) - max(top, box.y0)
            if top <= centre <= bottom and overlap >= 0.5 * min(bottom - top, box.height):
                target = line
                break
        if target is None:
            lines.append([box])
        else:
            target.append(box)
    return [sorted(line, key=lambda b: b.x0) for line in lines]


def _join(line: list[TextBox]) -> str:
    parts = [line[0].text.strip()]
    for previous, box in zip(line, line[1:]):
        gap = box.x0 - previous.x1
        width = min(previous.char_width, box.char_width)
        parts.append(" | " if gap > COLUMN_GAP_CHARS * width else " ")
        parts.append(box.text.strip())
    return "".join(parts)


_SPACES = re.compile(r"[ \t\u00a0]+")
_LEADERS = re.compile(r"([.\-_*=·])\1{3,}")
#: Lines at least this long without a single digit are prose (notices, legal text): no field lives there.
PROSE_MIN_CHARS = 60


def compact(lines: list[str]) -> str:
    """Fewer prompt tokens, same fields: drop empty, repeated and prose lines; squeeze spaces and leaders.

    Prompt length dominates both training and serving time on a CPU (Portuguese tokenises poorly),
    and bills carry paragraphs of notices that hold no field of the contract.
    """
    out: list[str] = []
    for line in lines:
        line = _LEADERS.sub(r"\1\1", _SPACES.sub(" ", line)).strip(" |")
        if not line or (out and out[-1] == line):
            continue
        if len(line) >= PROSE_MIN_CHARS and not any(c.isdigit() for c in line):
            continue
        out.append(line)
    return "\n".join(out)


def document_text(pages: list[str]) -> str:
    """All pages' text as one text (a page marker before every page after the first)."""
    parts = []
    for n, text in enumerate(pages, start=1):
        if n > 1:
            parts.append(PAGE_SEPARATOR.format(n=n))
        parts.append(text)
    return "".join(parts).strip()


def fit_to_tokens(text: str, tokenizer: Any, max_tokens: int) -> tuple[str, bool]:
    """``text`` cut at a line end to at most ``max_tokens`` tokens (the head of a bill holds its fields)."""
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    if len(ids) <= max_tokens:
        return text, False
    head = tokenizer.decode(ids[:max_tokens])
    return (head[: head.rfind("\n")] if "\n" in head else head).rstrip(), True


def prompt_text(page_texts: list[str], tokenizer: Any, max_tokens: int) -> str:
    """What the text family puts in the prompt for a bill: its pages' text, cut to ``max_tokens``.

    Serving, training and evaluation all call this, so a model is trained on exactly what it is served.
    """
    return fit_to_tokens(document_text(page_texts), tokenizer, max_tokens)[0]


def text_layer_usable(boxes: list[TextBox] | None) -> bool:
    return bool(boxes) and sum(len(b.text.replace(" ", "")) for b in boxes or []) >= MIN_TEXT_LAYER_CHARS


class OcrEngine:
    """One rapidocr pipeline (not shared between threads: :class:`PageTextReader` keeps one per thread)."""

    def __init__(self, threads: int = 1):
        try:
            from rapidocr import RapidOCR
        except ImportError as exc:  # pragma: no cover - a declared dependency
            raise RuntimeError(f"OCR needs the rapidocr and onnxruntime packages ({exc})") from None
        logging.getLogger("RapidOCR").setLevel(logging.WARNING)
        self._ocr = RapidOCR(params={
            "Global.log_level": "warning",
            "EngineConfig.onnxruntime.intra_op_num_threads": threads,
            "EngineConfig.onnxruntime.inter_op_num_threads": 1,
            # detection at most 1280 px on the long side: ~2x faster than the default on A4 pages, same lines found
            "Det.limit_type": "max",
            "Det.limit_side_len": 1280,
        })
        self._directions: list[str] = []
        self.last_skew: float = 0.0  # slant (degrees) the last read_upright levelled
        original = self._ocr.cls_and_rotate

        def capture(images: Any) -> Any:  # keep PP-OCR's per-line direction labels ("0" / "180")
            result = original(images)  # (rotated crops, TextClsOutput)
            self._directions = [str(label) for label, _ in (result[1].cls_res or [])]
            return result

        self._ocr.cls_and_rotate = capture

    def quads(self, image: Image.Image) -> tuple[list[tuple[str, list[tuple[float, float]]]], float]:
        """Text pieces of ``image`` with their 4-point outlines, and the share PP-OCR reads as upside down."""
        import numpy as np

        self._directions = []
        result = self._ocr(np.asarray(image.convert("RGB")))
        if result.boxes is None or result.txts is None:
            return [], 0.0
        out = [(str(text), [(float(x), float(y)) for x, y in points]) for points, text in zip(result.boxes, result.txts)]
        flipped = sum(1 for d in self._directions if d == "180") / len(self._directions) if self._directions else 0.0
        return out, flipped

    def boxes(self, image: Image.Image) -> tuple[list[TextBox], float]:
        """Text boxes of ``image`` and the share of them that PP-OCR reads as upside down."""
        quads, flipped = self.quads(image)
        return [_bounding(text, points) for text, points in quads], flipped

    def read_upright(self, image: Image.Image) -> tuple[list[TextBox], int]:
        """OCR ``image``, turning it first when the page lies sideways or upside down.

        A photo taken at a slant (a few degrees up to ~30) gives tilted text whose upright bounding
        boxes overlap the lines above and below, which merges lines. The pieces are therefore
        turned level about the image centre (by the median slant of their outlines, kept in
        ``last_skew``) before their boxes are taken: lines rebuilt from them are the printed lines.
        """
        quads, flipped = self.quads(image)  # one OCR pass unless the page must be turned
        boxes = [_bounding(text, points) for text, points in quads]
        rotated = 0
        worded = [b for b in boxes if len(b.text.strip()) >= 3]
        if worded and sum(1 for b in worded if b.height > 1.5 * (b.x1 - b.x0)) > 0.5 * len(worded):
            rotated = 90
            image = image.rotate(90, expand=True)
            quads, flipped = self.quads(image)
        if quads and flipped > 0.6:
            rotated = (rotated + 180) % 360
            image = image.rotate(180, expand=True)
            quads, _ = self.quads(image)
        self.last_skew = _skew(quads)
        centre = (image.width / 2, image.height / 2)
        return [_bounding(text, _turn(points, -self.last_skew, centre)) for text, points in quads], rotated


def _bounding(text: str, points: list[tuple[float, float]]) -> TextBox:
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    return TextBox(text, min(xs), min(ys), max(xs), max(ys))


#: Slants under this many degrees are left alone (print is that straight).
MIN_SKEW_DEG = 0.7


def _skew(quads: list[tuple[str, list[tuple[float, float]]]]) -> float:
    """Median slant (degrees) of the pieces' top edges, over pieces at least 3x as long as high."""
    import math

    angles = []
    for text, pts in quads:
        (x0, y0), (x1, y1), _, (x3, y3) = pts[:4]
        length, height = math.hypot(x1 - x0, y1 - y0), math.hypot(x3 - x0, y3 - y0)
        if len(text.strip()) >= 4 and length >= 3 * max(height, 1e-6):
            angles.append(math.degrees(math.atan2(y1 - y0, x1 - x0)))
    if len(angles) < 3:
        return 0.0
    skew = statistics.median(angles)
    return skew if MIN_SKEW_DEG <= abs(skew) <= 45 else 0.0


def _turn(points: list[tuple[float, float]], degrees: float, centre: tuple[float, float]) -> list[tuple[float, float]]:
    """``points`` turned by ``degrees`` (image coordinates, y down: positive turns clockwise on screen) about ``centre``."""
    if not degrees:
        return points
    import math

    a = math.radians(degrees)
    c, s = math.cos(a), math.sin(a)
    cx, cy = centre
    return [(cx + (x - cx) * c - (y - cy) * s, cy + (x - cx) * s + (y - cy) * c) for x, y in points]


@dataclass(frozen=True)
class PageFrame:
    """How the frame the page text was read in maps back to the page as decoded.

    OCR reads an upright, levelled copy of the page (turned by ``rotated`` degrees counter-clockwise,
    then levelled by ``skew``); ``to_page`` maps a box of that frame back to pixels of the page as the
    server decoded it, where provenance boxes live.
    """

    rotated: int = 0
    skew: float = 0.0
    width: float = 0.0  # size of the upright frame
    height: float = 0.0

    def to_page(self, box: tuple[float, float, float, float]) -> tuple[float, float, float, float]:
        x0, y0, x1, y1 = box
        points = _turn([(x0, y0), (x1, y0), (x1, y1), (x0, y1)], self.skew, (self.width / 2, self.height / 2))
        w, h = self.width, self.height
        for _ in range((self.rotated // 90) % 4):  # undo one 90-degree counter-clockwise turn (expand=True)
            points = [(h - v, u) for u, v in points]
            w, h = h, w
        xs, ys = [p[0] for p in points], [p[1] for p in points]
        return min(xs), min(ys), max(xs), max(ys)


@dataclass
class PageTextReader:
    """Reads page text: the PDF text layer when usable, else OCR (one engine per thread, made on first use)."""

    ocr_threads: int = 1
    use_pdf_text_layer: bool = True
    ocr_max_pixels: int = 4_000_000
    _local: threading.local = field(default_factory=threading.local, repr=False)

    def engine(self) -> OcrEngine:
        engine = getattr(self._local, "engine", None)
        if engine is None:
            engine = self._local.engine = OcrEngine(self.ocr_threads)
        return engine

    def read_page(self, image: Image.Image | None, text_layer: list[TextBox] | None = None) -> PageText:
        """One page's text; an OCR failure becomes an empty page with a warning, never an exception."""
        started = time.perf_counter()
        width, height = (image.width, image.height) if image is not None else (0, 0)
        if self.use_pdf_text_layer and text_layer_usable(text_layer):
            layer = list(text_layer or [])
            return PageText(compact(rebuild_lines(layer)), "pdf_text", _ms(started), boxes=layer, width=width, height=height)
        if image is None:
            return PageText("", "none", _ms(started), warning="the page has no image and no text layer")
        fitted = _fit(image, self.ocr_max_pixels)
        try:
            engine = self.engine()
            engine.last_skew = 0.0
            boxes, rotated = engine.read_upright(fitted)
        except Exception as exc:  # one unreadable page must not fail the bill
            log.warning("OCR failed on a page: %s", exc, exc_info=True)
            return PageText("", "none", _ms(started), warning=f"OCR could not read this page ({type(exc).__name__})",
                            width=width, height=height)
        text = compact(rebuild_lines(boxes))
        warning = None if text else "OCR found no text on this page"
        boxes, width, height = _to_page_pixels(boxes, fitted, image, rotated)
        frame = PageFrame(rotated, float(getattr(engine, "last_skew", 0.0) or 0.0), width, height)
        return PageText(text, "ocr", _ms(started), rotated=rotated, warning=warning, boxes=boxes, width=width,
                        height=height, frame=frame)


def _fit(image: Image.Image, max_pixels: int) -> Image.Image:
    pixels = image.width * image.height
    if pixels <= max_pixels:
        return image
    scale = (max_pixels / pixels) ** 0.5
    return image.resize((max(1, int(image.width * scale)), max(1, int(image.height * scale))), Image.Resampling.LANCZOS)


def _to_page_pixels(boxes: list[TextBox], fitted: Image.Image, image: Image.Image,
                    rotated: int) -> tuple[list[TextBox], int, int]:
    """OCR boxes (found on the downscaled, upright-turned image) in pixels of the upright page at full size."""
    scale = image.width / fitted.width if fitted.width else 1.0
    width, height = (image.height, image.width) if rotated in (90, 270) else (image.width, image.height)
    if scale == 1.0:
        return boxes, width, height
    return [TextBox(b.text, b.x0 * scale, b.y0 * scale, b.x1 * scale, b.y1 * scale) for b in boxes], width, height


def _ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000
