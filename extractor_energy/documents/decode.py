"""Uploaded bytes -> RGB page images for the vision-language model.

``load_document`` accepts phone photos (JPEG with EXIF orientation, MPO, HEIC/HEIF,
AVIF, WebP), screenshots (PNG incl. RGBA and palette), GIF/TIFF/BMP (first frame
only) and PDFs (one image per page, rendered by :mod:`extractor_energy.documents.pdf`).
The type is sniffed from the bytes; filename and content type only appear in messages.

Every page comes back RGB, upright (EXIF orientation applied), with transparency
composited on white, and - if larger than ``DocumentLimits.model_max_pixels`` -
downscaled to that pixel budget (LANCZOS, aspect kept).  The budget is *per page*:
all pages of a PDF are sent to the model together, in one prompt, so
``max_pdf_pages`` also bounds the prompt size.

Bad input raises :class:`~extractor_energy.errors.DocumentError` with the problem's kind: too
large (upload bytes, or decoded pixel count: the decompression-bomb guard), unsupported type,
unreadable (empty, truncated/corrupt image, broken, empty or password-protected PDF), too many
pages, or a page shape no bill has. ``api/errors.py`` maps each kind to an HTTP status.

Caveat: if other code sets ``PIL.ImageFile.LOAD_TRUNCATED_IMAGES = True``, Pillow
decodes truncated images (grey-filled) instead of failing; that global is left alone.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass, field

from PIL import Image, ImageOps, UnidentifiedImageError

from extractor_energy.documents.limits import DocumentLimits
from extractor_energy.errors import DocumentError, DocumentProblem
from extractor_energy.documents.page_text import TextBox

try:  # HEIC/HEIF (iPhone photos); optional so the module still imports without it
    import pillow_heif

    pillow_heif.register_heif_opener()
    HEIF_AVAILABLE = True
except Exception:  # ImportError, or a wheel whose libheif fails to load
    HEIF_AVAILABLE = False

SUPPORTED = "JPEG, PNG, WebP, HEIC/HEIF or PDF"

# sniffed kind -> Pillow format names allowed to open it (never let Pillow guess:
# e.g. its EPS plugin would shell out to Ghostscript)
_FORMATS: dict[str, tuple[str, ...]] = {
    "jpeg": ("JPEG", "MPO"),
    "png": ("PNG",),
    "webp": ("WEBP",),
    "gif": ("GIF",),
    "tiff": ("TIFF",),
    "bmp": ("BMP",),
    "heif": ("HEIF", "AVIF"),
    "avif": ("AVIF", "HEIF"),
}
_HEIF_BRANDS = {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"hevm", b"hevs"}
_GENERIC_BRANDS = {b"mif1", b"msf1", b"mif2"}
_AVIF_BRANDS = {b"avif", b"avis"}
_PDF_LEADING = b"\xef\xbb\xbf \t\r\n\f\x00"  # BOM / whitespace tolerated before %PDF
_MB = 1024 * 1024


@dataclass
class Document:
    """A decoded upload: ``pages`` are RGB, upright and within ``model_max_pixels``."""

    pages: list[Image.Image]
    kind: str  # "jpeg" | "png" | "webp" | "heif" | "avif" | "pdf" | "mpo" | "gif" | "tiff" | "bmp"
    source_pages: int  # pages in the original (PDF); 1 for images
    #: per page, the PDF's own text layer (``[]`` for images and pages without text)
    text_layers: list[list["TextBox"]] = field(default_factory=list)


def sniff(data: bytes) -> str | None:
    """Return the document kind from magic bytes ("pdf", "jpeg", "png", ...) or None."""
    head = data[:1024 + 8]
    rest = head.lstrip(_PDF_LEADING)
    if rest.startswith(b"%PDF") and len(head) - len(rest) <= 1024:
        return "pdf"
    if data.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    if data[:4] in (b"II*\x00", b"MM\x00*"):
        return "tiff"
    if data[:2] == b"BM" and int.from_bytes(data[14:18], "little") in (12, 40, 52, 56, 64, 108, 124):
        return "bmp"
    if data[4:8] == b"ftyp":  # ISO-BMFF: major brand + compatible brands
        size = min(int.from_bytes(data[:4], "big"), 256)
        brands = {data[8:12]} | {data[i:i + 4] for i in range(16, size - 3, 4)}
        if brands & _AVIF_BRANDS and not brands & _HEIF_BRANDS:
            return "avif"
        if brands & (_HEIF_BRANDS | _GENERIC_BRANDS):
            return "heif"
    return None


def load_document(
    data: bytes,
    limits: DocumentLimits,
    filename: str | None = None,
    content_type: str | None = None,
) -> Document:
    """Decode an upload into model-ready RGB pages, or raise :class:`DocumentError`."""
    what = _describe(filename, content_type)
    if not data:
        raise DocumentError(DocumentProblem.UNREADABLE, "the uploaded file is empty")
    data = bytes(data)
    if len(data) > limits.max_upload_bytes:
        raise DocumentError(
            DocumentProblem.TOO_LARGE,
            f"the uploaded file{what} is {_mb(len(data))} MB; the limit is "
            f"{_mb(limits.max_upload_bytes)} MB",
        )
    kind = sniff(data)
    if kind is None:
        raise DocumentError(
            DocumentProblem.UNSUPPORTED_TYPE,
            f"unsupported file type{what}: upload a {SUPPORTED} (GIF, TIFF, BMP and AVIF also work)",
        )
    if kind == "pdf":
        try:
            from extractor_energy.documents import pdf as pdf_pages
        except ImportError as exc:  # pypdfium2 missing
            raise DocumentError(
                DocumentProblem.UNSUPPORTED_TYPE, "PDF support needs pypdfium2 on the server; upload a photo or screenshot"
            ) from exc
        layers: list[list[TextBox]] = []
        pages = pdf_pages.render_pdf(
            data, limits, postprocess=lambda im: fit_to_budget(to_rgb(im), limits.model_max_pixels), text_layers=layers
        )
        for page in pages:
            check_page_geometry(*page.size, "a PDF page")
        return Document(pages=pages, kind="pdf", source_pages=len(pages), text_layers=layers)
    image, fmt = _decode_image(data, kind, limits, what)
    return Document(pages=[image], kind=fmt, source_pages=1)


def _decode_image(data: bytes, kind: str, limits: DocumentLimits, what: str) -> tuple[Image.Image, str]:
    """Open, bomb-check, decode, EXIF-rotate, RGB-convert and downscale one image."""
    if kind == "heif" and not HEIF_AVAILABLE:
        raise DocumentError(DocumentProblem.UNSUPPORTED_TYPE, "HEIC/HEIF photos need the pillow-heif package on the "
                            "server (pip install pillow-heif); or upload a JPEG or PNG instead")
    Image.init()
    formats = [f for f in _FORMATS[kind] if f in Image.OPEN]
    if not formats:
        raise DocumentError(
            DocumentProblem.UNSUPPORTED_TYPE, f"this server cannot decode {kind.upper()} images; upload a {SUPPORTED}"
        )
    try:
        with Image.open(io.BytesIO(data), formats=formats) as img:
            fmt = (img.format or kind).lower()
            width, height = img.size  # header only: nothing decoded yet
            if width * height > limits.max_image_pixels:
                raise DocumentError(DocumentProblem.TOO_LARGE, _too_many_pixels(width, height, limits.max_image_pixels))
            check_page_geometry(width, height)
            if img.format in ("JPEG", "MPO"):  # let libjpeg decode at 1/2..1/8 scale when possible
                img.draft(None, _budget_size(img.size, limits.model_max_pixels))
            img.load()  # MPO/GIF/TIFF: the current (first) frame only
            try:
                upright = ImageOps.exif_transpose(img)
            except Exception:  # broken EXIF must not reject an otherwise fine photo
                upright = img.copy()
            return fit_to_budget(to_rgb(upright), limits.model_max_pixels), fmt
    except DocumentError:
        raise
    except Image.DecompressionBombError as exc:  # Pillow's own global guard, if it is lower
        raise DocumentError(
            DocumentProblem.TOO_LARGE, f"the image{what} is too large to decode safely: {str(exc)[:100]}"
        ) from exc
    except Exception as exc:  # OSError, SyntaxError, ValueError, struct.error, EOFError ...
        reason = "unrecognised image data" if isinstance(exc, UnidentifiedImageError) else str(exc)[:100]
        raise DocumentError(
            DocumentProblem.UNREADABLE, f"could not decode the image: truncated or corrupt{what} ({reason})"
        ) from exc


#: Longest side / shortest side a page may have. No bill is longer or thinner than 50:1, and the
#: vision model cannot take pages beyond 200:1 at all (a 2000x8 px strip would fail there, later).
MAX_PAGE_ASPECT = 50


def check_page_geometry(width: int, height: int, what: str = "the image") -> None:
    """Refuse pages no bill can have: empty, or longer/thinner than ``MAX_PAGE_ASPECT``:1."""
    if width < 1 or height < 1:
        raise DocumentError(DocumentProblem.BAD_PAGE_SHAPE, f"{what} has no pixels ({width}x{height})")
    if max(width, height) / min(width, height) > MAX_PAGE_ASPECT:
        raise DocumentError(
            DocumentProblem.BAD_PAGE_SHAPE,
            f"{what} is {width}x{height} px, an aspect ratio of {max(width, height) / min(width, height):.0f}:1; "
            f"a bill page must be within {MAX_PAGE_ASPECT}:1 — upload the whole page, not a strip",
        )


def to_rgb(img: Image.Image) -> Image.Image:
    """Convert any Pillow mode to RGB; transparency is composited on white."""
    if img.mode == "RGB" and "transparency" not in img.info:
        return img
    if img.mode in ("I", "I;16", "I;16L", "I;16B", "I;16N"):  # 16-bit grey: scale, don't clip
        img = img.convert("I") if img.mode != "I" else img
        if img.getextrema()[1] > 255:
            img = img.point(lambda v: v * (1 / 257))
        return img.convert("L").convert("RGB")
    if img.mode == "F":
        if img.getextrema()[1] <= 1.0:
            img = img.point(lambda v: v * 255)
        return img.convert("L").convert("RGB")
    if img.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in img.info:
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    return img.convert("RGB")  # P, L, 1, CMYK, YCbCr, ...


def fit_to_budget(img: Image.Image, max_pixels: int) -> Image.Image:
    """Downscale (LANCZOS, aspect kept) so width*height <= max_pixels."""
    size = _budget_size(img.size, max_pixels)
    return img if size == img.size else img.resize(size, Image.Resampling.LANCZOS)


def _budget_size(size: tuple[int, int], max_pixels: int) -> tuple[int, int]:
    width, height = size
    if width * height <= max_pixels:
        return size
    scale = math.sqrt(max_pixels / (width * height))
    w, h = max(1, int(width * scale)), max(1, int(height * scale))
    while w * h > max_pixels and max(w, h) > 1:  # guard against float rounding
        w, h = (w - 1, h) if w >= h else (w, h - 1)
    return w, h


def _too_many_pixels(width: int, height: int, limit: int) -> str:
    return (f"the image is {width}x{height} = {width * height:,} pixels; the limit is "
            f"{limit:,} pixels (decompression-bomb guard) - resize it and upload again")


def _describe(filename: str | None, content_type: str | None) -> str:
    parts = [repr(filename[:60]) if filename else "", (content_type or "")[:60]]
    text = ", ".join(p for p in parts if p)
    return f" ({text})" if text else ""


def _mb(n: int) -> str:
    return f"{round(n / _MB, 2):g}"
