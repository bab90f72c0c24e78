"""PDF bytes -> one PIL image per page, via pypdfium2.

PDFium is not thread-safe: every pdfium call here runs under the module-level
``PDFIUM_LOCK`` (re-entrant; other modules that call pypdfium2 should take it too).
The lock is released between pages so postprocessing (resizing) runs in parallel.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c
from PIL import Image

from extractor_energy.documents.limits import DocumentLimits
from extractor_energy.errors import DocumentError, DocumentProblem
from extractor_energy.documents.page_text import TextBox

PDFIUM_LOCK = threading.RLock()


def render_pdf(
    data: bytes,
    limits: DocumentLimits,
    postprocess: Callable[[Image.Image], Image.Image] | None = None,
    text_layers: list[list[TextBox]] | None = None,
) -> list[Image.Image]:
    """Render every page at ``limits.pdf_dpi`` (capped at ``max_image_pixels`` per page).

    ``postprocess`` runs on each page right after rendering (outside the lock), so
    only one full-resolution render is alive at a time.  When ``text_layers`` is a list,
    each page's text layer (:func:`page_text_boxes`) is appended to it.  Raises
    :class:`DocumentError` for broken, encrypted, empty or too-long PDFs.
    """
    with PDFIUM_LOCK:
        pdf = _open(data)
    try:
        with PDFIUM_LOCK:
            try:
                pdf.init_forms()  # must precede page access; lets filled-in form fields render
            except Exception:
                pass
            count = len(pdf)
            if count > limits.max_pdf_pages:
                raise DocumentError(
                    DocumentProblem.TOO_MANY_PAGES,
                    f"the PDF has {count} pages; at most {limits.max_pdf_pages} are accepted "
                    "(a bill is 1-3 pages: upload only the bill, or the operator can set "
                    "EXTRACTOR_MAX_PDF_PAGES)",
                )
        pages = []
        for index in range(count):
            with PDFIUM_LOCK:
                image = _render_page(pdf, index, limits)
                layer = page_text_boxes(pdf, index) if text_layers is not None else []
                width_pt = _page_width(pdf, index) if text_layers is not None else 0.0
            page = postprocess(image) if postprocess else image
            if text_layers is not None:  # boxes in the pixels of the page as served, like OCR boxes
                text_layers.append(_scaled(layer, page.width / width_pt if width_pt else 1.0))
            pages.append(page)
        return pages
    finally:
        with PDFIUM_LOCK:
            pdf.close()


def render_scale(width_pt: float, height_pt: float, dpi: int, max_pixels: int) -> float:
    """Scale for ``dpi``, reduced so the rendered bitmap has at most ``max_pixels`` pixels."""

    def pixels(s: float) -> int:
        return math.ceil(width_pt * s) * math.ceil(height_pt * s)

    scale = dpi / 72
    if pixels(scale) > max_pixels:
        scale = math.sqrt(max_pixels / (width_pt * height_pt))
        while pixels(scale) > max_pixels:  # ceil() rounding
            scale *= 0.995
    return scale


def _open(data: bytes) -> pdfium.PdfDocument:
    """Load via the raw API: ``PdfDocument(bytes)`` treats a zero-page PDF as a load failure
    and reports a *stale* FPDF_GetLastError (e.g. "Incorrect password" left over from an
    earlier request), and leaks that document handle."""
    raw = pdfium_c.FPDF_LoadMemDocument64(data, len(data), None)
    if not raw:
        code = pdfium_c.FPDF_GetLastError()  # reliable here: set by the failed load itself
        if code == pdfium_c.FPDF_ERR_PASSWORD:
            raise _unreadable("the PDF is password-protected; upload an unlocked copy")
        if code == pdfium_c.FPDF_ERR_SECURITY:
            raise _unreadable("the PDF uses an unsupported encryption (e.g. certificate security); upload an unlocked copy")
        raise _unreadable("could not read the PDF: it is broken or incomplete - download it again")
    if pdfium_c.FPDF_GetPageCount(raw) < 1:
        pdfium_c.FPDF_CloseDocument(raw)
        raise _unreadable("the PDF has no pages")
    return pdfium.PdfDocument(raw)  # `data` stays referenced by render_pdf until close()


def _unreadable(message: str) -> DocumentError:
    return DocumentError(DocumentProblem.UNREADABLE, message)


def _render_page(pdf: pdfium.PdfDocument, index: int, limits: DocumentLimits) -> Image.Image:
    """Render one page to an RGB image that owns its memory (caller holds the lock)."""
    try:
        page = pdf[index]
    except Exception as exc:
        raise _unreadable(f"could not read page {index + 1} of the PDF: it is broken ({exc})") from exc
    try:
        width, height = page.get_size()
        if not (math.isfinite(width) and math.isfinite(height) and width >= 1 and height >= 1):
            raise _unreadable(f"page {index + 1} of the PDF has an invalid size ({width}x{height} pt)")
        scale = render_scale(width, height, limits.pdf_dpi, limits.max_image_pixels)
        try:
            bitmap = page.render(scale=scale)
        except Exception as exc:
            raise _unreadable(f"could not render page {index + 1} of the PDF ({exc})") from exc
        try:
            image = bitmap.to_pil()
            return image.convert("RGB") if image.mode != "RGB" else image.copy()
        finally:
            bitmap.close()
    finally:
        page.close()


def _page_width(pdf: pdfium.PdfDocument, index: int) -> float:
    try:
        page = pdf[index]
    except Exception:
        return 0.0
    try:
        return float(page.get_width())
    except Exception:
        return 0.0
    finally:
        page.close()


def _scaled(boxes: list[TextBox], scale: float) -> list[TextBox]:
    """Text-layer boxes from PDF points to the rendered page's pixels (provenance boxes are in page pixels)."""
    if not math.isfinite(scale) or scale <= 0:
        return boxes
    return [TextBox(b.text, b.x0 * scale, b.y0 * scale, b.x1 * scale, b.y1 * scale) for b in boxes]


def _one_line_runs(boxes: list[TextBox]) -> list[TextBox]:
    """Drop runs many lines tall: rotated text (a diagonal "SEGUNDA VIA" watermark) has a rect whose
    bounded text is everything under it, which would put the whole page on one "line"."""
    if len(boxes) < 5:
        return boxes
    heights = sorted(b.y1 - b.y0 for b in boxes)
    typical = heights[len(heights) // 2]
    return [b for b in boxes if b.y1 - b.y0 <= 4 * max(typical, 1e-6)]


def page_text_boxes(pdf: pdfium.PdfDocument, index: int) -> list[TextBox]:
    """The page's text layer as positioned runs (top-down y, in points); ``[]`` when it has none.

    A text layer that cannot be read is treated as absent (the page is then OCR'd): never an error.
    """
    try:
        page = pdf[index]
    except Exception:
        return []
    try:
        textpage = page.get_textpage()
        try:
            height = page.get_height()
            boxes = []
            for i in range(textpage.count_rects()):
                left, bottom, right, top = textpage.get_rect(i)
                text = textpage.get_text_bounded(left, bottom, right, top)
                if text.strip():
                    boxes.append(TextBox(" ".join(text.split()), left, height - top, right, height - bottom))
            return _one_line_runs(boxes)
        finally:
            textpage.close()
    except Exception:
        return []
    finally:
        page.close()
