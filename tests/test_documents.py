"""Tests for extractor_energy.documents.decode / pdf_pages. Every input is built here in memory."""

from __future__ import annotations

import hashlib
import io
import random
import struct
import threading
import zlib

import pillow_heif
import pypdfium2 as pdfium
import pytest
from PIL import Image

from extractor_energy.documents import decode as documents
from extractor_energy.documents.decode import Document, DocumentError, DocumentLimits, load_document
from extractor_energy.errors import DocumentProblem
from extractor_energy.documents.pdf import render_pdf, render_scale

LIMITS = DocumentLimits()
BUDGET = LIMITS.model_max_pixels


# ---------------------------------------------------------------- builders
def encode(img: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


def two_tone(size=(200, 100), left=(200, 0, 0), right=(0, 0, 200), mode="RGB") -> Image.Image:
    """Left half one colour, right half another (so rotations are detectable)."""
    img = Image.new(mode, size, left)
    img.paste(right, (size[0] // 2, 0, size[0], size[1]))
    return img


_PAD = bytes.fromhex("28BF4E5E4E758A4164004E56FFFA01082E2E00B6D0683E802F0CA9FE6453697A")


def _rc4(key: bytes, data: bytes) -> bytes:
    s, j = list(range(256)), 0
    for i in range(256):
        j = (j + s[i] + key[i % len(key)]) % 256
        s[i], s[j] = s[j], s[i]
    out, i, j = bytearray(), 0, 0
    for byte in data:
        i = (i + 1) % 256
        j = (j + s[i]) % 256
        s[i], s[j] = s[j], s[i]
        out.append(byte ^ s[(s[i] + s[j]) % 256])
    return bytes(out)


def make_pdf(pages, user_password: str | None = None, owner_password: str = "owner") -> bytes:
    """Hand-written PDF. ``pages``: list of (width_pt, height_pt, content_stream_bytes).

    With ``user_password`` set, the file is encrypted with the Standard security
    handler (RC4 40-bit, V1/R2) and its content streams are really encrypted.
    """
    file_id = hashlib.md5(repr(pages).encode()).digest()
    key = None
    if user_password is not None:
        pad = lambda pw: (pw.encode("latin-1") + _PAD)[:32]  # noqa: E731
        o_value = _rc4(hashlib.md5(pad(owner_password)).digest()[:5], pad(user_password))
        key = hashlib.md5(pad(user_password) + o_value + struct.pack("<i", -4) + file_id).digest()[:5]
        u_value = _rc4(key, _PAD)

    objs: dict[int, bytes] = {1: b"<< /Type /Catalog /Pages 2 0 R >>"}
    kids = []
    for n, (w, h, content) in enumerate(pages):
        page_no, content_no = 3 + 2 * n, 4 + 2 * n
        kids.append(f"{page_no} 0 R")
        objs[page_no] = (f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {w} {h}] "
                         f"/Contents {content_no} 0 R /Resources << >> >>").encode()
        if key is not None:
            content = _rc4(hashlib.md5(key + content_no.to_bytes(3, "little") + b"\0\0").digest()[:10], content)
        objs[content_no] = b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream"
    objs[2] = f"<< /Type /Pages /Kids [{' '.join(kids)}] /Count {len(pages)} >>".encode()
    if key is not None:
        objs[len(objs) + 1] = (b"<< /Filter /Standard /V 1 /R 2 /O <" + o_value.hex().encode()
                               + b"> /U <" + u_value.hex().encode() + b"> /P -4 >>")

    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = {}
    for num in sorted(objs):
        offsets[num] = len(out)
        out += b"%d 0 obj\n" % num + objs[num] + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objs) + 1)
    out += b"".join(b"%010d 00000 n \n" % offsets[num] for num in sorted(objs))
    trailer = f"<< /Size {len(objs) + 1} /Root 1 0 R /ID [<{file_id.hex()}> <{file_id.hex()}>]"
    if key is not None:
        trailer += f" /Encrypt {len(objs)} 0 R"
    out += f"trailer\n{trailer} >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)


def half_black(w=595, h=842) -> tuple[int, int, bytes]:
    """A page whose left half is a black rectangle."""
    return (w, h, f"0 0 0 rg 0 0 {w // 2} {h} re f".encode())


def patch_png_size(png: bytes, width: int, height: int) -> bytes:
    """Rewrite the IHDR dimensions (and CRC) of a PNG: a tiny file claiming a huge image."""
    ihdr = bytearray(png[12:29])  # b"IHDR" + 13 data bytes
    ihdr[4:12] = struct.pack(">II", width, height)
    return png[:12] + bytes(ihdr) + struct.pack(">I", zlib.crc32(ihdr)) + png[33:]


def expect_error(data: bytes, kind: DocumentProblem, *needles: str, limits=LIMITS, **kw) -> DocumentError:
    with pytest.raises(DocumentError) as info:
        load_document(data, limits, **kw)
    err = info.value
    assert err.kind == kind, err.message
    for needle in needles:
        assert needle.lower() in err.message.lower(), err.message
    return err


def check_pages(doc: Document, budget: int = BUDGET) -> None:
    for page in doc.pages:
        assert page.mode == "RGB"
        assert page.width * page.height <= budget


# ---------------------------------------------------------------- images
def test_jpeg_exif_orientation_is_applied():
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 CW to display
    data = encode(two_tone((200, 100)), "JPEG", exif=exif.tobytes(), quality=95)
    doc = load_document(data, LIMITS, filename="foto.jpg")
    assert doc.kind == "jpeg" and doc.source_pages == 1
    (page,) = doc.pages
    assert page.size == (100, 200)
    # orientation 6: the stored left edge (red) ends up at the top
    assert page.getpixel((50, 10))[0] > 150 and page.getpixel((50, 190))[2] > 150
    check_pages(doc)


def test_png_rgba_transparent_becomes_white():
    img = Image.new("RGBA", (40, 20), (0, 0, 0, 0))
    img.paste((255, 0, 0, 255), (0, 0, 10, 20))
    doc = load_document(encode(img, "PNG"), LIMITS)
    assert doc.kind == "png"
    page = doc.pages[0]
    assert page.mode == "RGB"
    assert page.getpixel((30, 10)) == (255, 255, 255)
    assert page.getpixel((5, 10)) == (255, 0, 0)


def test_palette_png_with_and_without_transparency():
    plain = two_tone((40, 20)).convert("P", palette=Image.Palette.ADAPTIVE, colors=4)
    doc = load_document(encode(plain, "PNG"), LIMITS)
    assert doc.pages[0].mode == "RGB" and doc.pages[0].getpixel((35, 10))[2] > 150

    transparent = Image.new("P", (10, 10), 0)
    transparent.putpalette([0, 0, 0, 255, 0, 0])
    transparent.info["transparency"] = 0
    doc = load_document(encode(transparent, "PNG", transparency=0), LIMITS)
    assert doc.pages[0].getpixel((5, 5)) == (255, 255, 255)


def test_grey_la_cmyk_and_16bit_become_rgb():
    la = Image.new("LA", (8, 8), (0, 0))
    assert load_document(encode(la, "PNG"), LIMITS).pages[0].getpixel((1, 1)) == (255, 255, 255)
    cmyk = load_document(encode(Image.new("CMYK", (8, 8), (0, 255, 255, 0)), "JPEG"), LIMITS)
    r, g, b = cmyk.pages[0].getpixel((4, 4))
    assert r > 200 and g < 60 and b < 60
    grey16 = Image.new("I;16", (8, 8), 32768)
    doc = load_document(encode(grey16, "PNG"), LIMITS)
    assert 120 <= doc.pages[0].getpixel((1, 1))[0] <= 135  # scaled, not clipped to 255
    tiff = load_document(encode(Image.new("L", (8, 8), 77), "TIFF"), LIMITS)
    assert tiff.kind == "tiff" and tiff.pages[0].getpixel((1, 1)) == (77, 77, 77)


def test_webp():
    doc = load_document(encode(two_tone(), "WEBP", quality=90), LIMITS, content_type="image/webp")
    assert doc.kind == "webp" and doc.pages[0].size == (200, 100)
    check_pages(doc)


def test_mpo_takes_first_frame():
    first, second = Image.new("RGB", (64, 48), (255, 0, 0)), Image.new("RGB", (32, 32), (0, 0, 255))
    data = encode(first, "MPO", save_all=True, append_images=[second])
    assert Image.open(io.BytesIO(data)).format == "MPO"
    doc = load_document(data, LIMITS)
    assert doc.kind == "mpo" and doc.source_pages == 1
    page = doc.pages[0]
    assert page.size == (64, 48) and page.getpixel((10, 10))[0] > 200


def test_animated_gif_first_frame():
    frames = [Image.new("RGB", (20, 20), c) for c in ((255, 0, 0), (0, 0, 255))]
    data = encode(frames[0], "GIF", save_all=True, append_images=frames[1:])
    doc = load_document(data, LIMITS)
    assert doc.kind == "gif" and doc.pages[0].getpixel((5, 5))[0] > 200


def test_heic():
    assert pillow_heif.libheif_info()["HEIF"], "this pillow_heif wheel cannot encode HEIF"
    data = encode(two_tone((128, 64)), "HEIF", quality=90)
    assert data[4:12] == b"ftypheic"
    doc = load_document(data, LIMITS, filename="IMG_0001.HEIC")
    assert doc.kind == "heif" and doc.pages[0].size == (128, 64)
    assert doc.pages[0].getpixel((10, 30))[0] > 150 and doc.pages[0].getpixel((120, 30))[2] > 150


def test_heic_orientation_not_applied_twice():
    # pillow_heif stores the EXIF rotation as a HEIF transform and resets the tag to 1
    exif = Image.Exif()
    exif[0x0112] = 6
    data = encode(two_tone((200, 100)), "HEIF", exif=exif.tobytes())
    page = load_document(data, LIMITS).pages[0]
    assert page.size == (100, 200)
    assert page.getpixel((50, 10))[0] > 150 and page.getpixel((50, 190))[2] > 150


def test_heic_without_pillow_heif_is_415(monkeypatch):
    data = encode(two_tone((32, 32)), "HEIF")
    monkeypatch.setattr(documents, "HEIF_AVAILABLE", False)
    expect_error(data, DocumentProblem.UNSUPPORTED_TYPE, "pillow-heif")


def test_type_comes_from_magic_not_name():
    png = encode(two_tone(), "PNG")
    assert load_document(png, LIMITS, filename="bill.pdf", content_type="application/pdf").kind == "png"
    pdf = make_pdf([half_black()])
    assert load_document(pdf, LIMITS, filename="bill.jpg", content_type="image/jpeg").kind == "pdf"


def test_large_photo_is_downscaled_to_budget():
    data = encode(two_tone((4000, 3000)), "JPEG", quality=80)
    page = load_document(data, LIMITS).pages[0]
    assert page.width * page.height <= BUDGET
    assert page.width * page.height > 0.95 * BUDGET  # not shrunk more than needed
    assert abs(page.width / page.height - 4 / 3) < 0.01
    small = DocumentLimits(model_max_pixels=10_000)
    page = load_document(encode(two_tone((400, 100)), "PNG"), small).pages[0]
    assert page.width * page.height <= 10_000 and abs(page.width / page.height - 4) < 0.05


# ---------------------------------------------------------------- image errors
def test_empty_upload():
    expect_error(b"", DocumentProblem.UNREADABLE, "the uploaded file is empty")


def test_upload_too_large():
    limits = DocumentLimits(max_upload_bytes=1024 * 1024)
    expect_error(b"\xff\xd8\xff" + bytes(1024 * 1024), DocumentProblem.TOO_LARGE, "1 MB", limits=limits)
    expect_error(bytes(30 * 1024 * 1024), DocumentProblem.TOO_LARGE, "20 MB")


def test_random_bytes_and_text_are_415():
    err = expect_error(random.Random(0).randbytes(4096), DocumentProblem.UNSUPPORTED_TYPE, "JPEG", "PNG", "WebP", "HEIC", "PDF")
    assert "unsupported" in err.message
    expect_error(b"Conta de energia\n", DocumentProblem.UNSUPPORTED_TYPE, "notes.txt", "PDF", filename="notes.txt")
    expect_error(encode(Image.new("RGB", (16, 16)), "ICO"), DocumentProblem.UNSUPPORTED_TYPE, "PDF", filename="fav.png")


def test_truncated_jpeg_is_422():
    data = encode(Image.effect_noise((256, 256), 64).convert("RGB"), "JPEG")
    expect_error(data[: len(data) // 2], DocumentProblem.UNREADABLE, "could not decode the image: truncated or corrupt")
    expect_error(b"\x89PNG\r\n\x1a\n" + bytes(40), DocumentProblem.UNREADABLE, "truncated or corrupt")


def test_decompression_bomb_rejected_from_header():
    tiny = encode(Image.new("L", (1, 1)), "PNG")
    # 64 Mpx: below Pillow's own guard, so our per-call check must catch it
    err = expect_error(patch_png_size(tiny, 8000, 8000), DocumentProblem.TOO_LARGE, "64,000,000", "50,000,000")
    assert "8000x8000" in err.message
    # 400 Mpx: Pillow's global guard fires first inside Image.open -> still 413
    expect_error(patch_png_size(tiny, 20000, 20000), DocumentProblem.TOO_LARGE, "too large")
    # a custom per-call limit
    small = DocumentLimits(max_image_pixels=10_000)
    expect_error(encode(Image.new("RGB", (200, 100)), "PNG"), DocumentProblem.TOO_LARGE, "20,000", "10,000", limits=small)


# ---------------------------------------------------------------- PDFs
def test_two_page_pdf_rendered_together():
    data = make_pdf([half_black(595, 842), half_black(842, 595)])
    doc = load_document(data, LIMITS, filename="fatura.pdf")
    assert doc.kind == "pdf" and doc.source_pages == 2 and len(doc.pages) == 2
    check_pages(doc)
    portrait, landscape = doc.pages
    assert portrait.height > portrait.width and landscape.width > landscape.height
    assert portrait.width * portrait.height > 0.95 * BUDGET  # 200 dpi A4 is bigger than the budget
    assert portrait.getpixel((10, 10)) == (0, 0, 0)
    assert portrait.getpixel((portrait.width - 10, 10)) == (255, 255, 255)


def test_pdf_from_pypdfium2_and_leading_whitespace():
    pdf = pdfium.PdfDocument.new()
    pdf.new_page(300, 200)
    buf = io.BytesIO()
    pdf.save(buf)
    pdf.close()
    doc = load_document(b"\xef\xbb\xbf \r\n" + buf.getvalue(), LIMITS)
    assert doc.kind == "pdf" and doc.pages[0].size == (834, 556)  # 200 dpi, rounded up
    assert doc.pages[0].getpixel((5, 5)) == (255, 255, 255)


def test_encrypted_pdf_needs_password():
    data = make_pdf([half_black()], user_password="segredo")
    assert b"/Encrypt" in data
    with pytest.raises(pdfium.PdfiumError):  # pdfium itself refuses it without a password...
        pdfium.PdfDocument(data)
    ok = pdfium.PdfDocument(data, password="segredo")  # ...and the file is valid with it
    assert len(ok) == 1
    ok.close()
    expect_error(data, DocumentProblem.UNREADABLE, "the PDF is password-protected; upload an unlocked copy")


def test_owner_password_only_pdf_opens():
    data = make_pdf([half_black()], user_password="")  # encrypted, empty user password
    page = load_document(data, LIMITS).pages[0]
    assert page.getpixel((10, 10)) == (0, 0, 0)  # content stream really decrypted


def test_pdf_too_many_pages():
    data = make_pdf([half_black(100, 100)] * 5)
    expect_error(data, DocumentProblem.TOO_MANY_PAGES, "5 pages", "at most 4", "EXTRACTOR_MAX_PDF_PAGES")
    assert load_document(data, DocumentLimits(max_pdf_pages=5)).source_pages == 5


def test_broken_and_empty_pdfs():
    expect_error(b"%PDF-1.7\n" + random.Random(1).randbytes(500), DocumentProblem.UNREADABLE, "PDF", "broken")
    good = make_pdf([half_black()])
    expect_error(good[: len(good) // 3], DocumentProblem.UNREADABLE, "PDF")
    expect_error(make_pdf([]), DocumentProblem.UNREADABLE, "no pages")
    # pypdfium2's PdfDocument() would report a stale "Incorrect password" error here
    expect_error(make_pdf([half_black()], user_password="x"), DocumentProblem.UNREADABLE, "password")
    expect_error(make_pdf([]), DocumentProblem.UNREADABLE, "no pages")


def test_huge_pdf_page_render_is_capped():
    assert render_scale(14400, 14400, 200, 50_000_000) < 200 / 72
    scale = render_scale(14400, 14400, 200, 50_000_000)
    assert (int(14400 * scale) + 1) ** 2 <= 50_000_000
    data = make_pdf([(14400, 14400, b"0 0 0 rg 0 0 7200 14400 re f")])
    limits = DocumentLimits(max_image_pixels=2_000_000)
    (raw,) = render_pdf(data, limits)  # 200 dpi would be 40000x40000 = 1.6 Gpx
    assert raw.width * raw.height <= 2_000_000 and raw.width > 1300
    doc = load_document(data, limits)
    check_pages(doc)


def test_concurrent_pdf_loads():
    data = make_pdf([half_black(), half_black()])
    results, errors = [], []

    def work():
        try:
            results.append(load_document(data, LIMITS))
        except Exception as exc:  # pragma: no cover - failure path
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(results) == 4
    assert all(r.pages[0].getpixel((10, 10)) == (0, 0, 0) for r in results)


def test_limits_validation_and_error_fields():
    with pytest.raises(ValueError):
        DocumentLimits(max_pdf_pages=0)
    err = DocumentError(DocumentProblem.UNSUPPORTED_TYPE, "nope")
    assert err.kind == "unsupported_type" and err.message == "nope" and str(err) == "nope"
