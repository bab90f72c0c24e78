"""Replay a :class:`~.canvas.Page` onto a PIL image at a given dpi."""

from __future__ import annotations

from functools import lru_cache

from PIL import Image, ImageDraw, ImageFilter

from extractor_energy.synth.canvas import Page, font, page_size_px


@lru_cache(maxsize=8192)
def _text_mask(text: str, bold: bool, size_px: float, face: str = "sans") -> tuple[Image.Image, int, int]:
    """Anti-aliased coverage mask of ``text`` and its offset from the baseline origin (labels repeat a lot)."""
    ttf = font(bold, size_px, face)
    left, top, right, bottom = ttf.getbbox(text, anchor="ls")
    mask = Image.new("L", (max(1, right - left), max(1, bottom - top)), 0)
    ImageDraw.Draw(mask).text((-left, -top), text, fill=255, font=ttf, anchor="ls")
    return mask, left, top


def _overprint_mask(mask: Image.Image, page: Page, k: float) -> Image.Image:
    """Apply the roll printer's defects to the overprint coverage: dead dot columns, fading, a slight smear."""
    over = page.overprint
    assert over is not None
    if over.gaps:
        draw = ImageDraw.Draw(mask)
        for gx in over.gaps:
            x0 = round(gx * k)
            draw.rectangle((x0, 0, x0 + max(1, round(over.gap_width * k)) - 1, mask.height), fill=0)
    if over.fade:
        mask = mask.point(lambda v: round(v * (1.0 - over.fade)))
    return mask.filter(ImageFilter.BoxBlur(0.6)) if over.fade > 0.25 else mask


def render_page(page: Page, dpi: int = 150) -> Image.Image:
    """Rasterise ``page`` to an RGB image (A4 at 150 dpi -> 1240 x 1754; other page sizes scale alike)."""
    k = dpi / 25.4
    image = Image.new("RGB", page_size_px(dpi, (page.width, page.height)), page.paper)
    draw = ImageDraw.Draw(image)
    over_mask = Image.new("L", image.size, 0) if page.overprint is not None else None
    for op in page.ops:
        if op.kind == "text":
            x, y, text, size, bold, face, layer = op.args
            mask, left, top = _text_mask(text, bold, round(size * dpi / 72, 1), face)
            at = (round(x * k) + left, round(y * k) + top)
            if layer == "over" and over_mask is not None:
                over_mask.paste(255, at, mask)  # coverage adds up like ink
            else:
                image.paste(op.color, at, mask)
        elif op.kind == "rtext":
            cx, cy, text, size, bold, angle = op.args
            mask, _, _ = _text_mask(text, bold, round(size * dpi / 72, 1))
            turned = mask.rotate(angle, resample=Image.BILINEAR, expand=True)
            image.paste(op.color, (round(cx * k - turned.width / 2), round(cy * k - turned.height / 2)), turned)
        elif op.kind == "rect":
            x, y, w, h = op.args
            filled, outline, width, radius = op.extra
            x0, y0 = round(x * k), round(y * k)
            box = (x0, y0, max(x0, round((x + w) * k) - 1), max(y0, round((y + h) * k) - 1))  # thin bars: >= 1 px
            stroke = max(1, round(width * k)) if outline else 0
            kwargs = {"fill": op.color if filled else None, "outline": outline, "width": stroke}
            if radius:
                draw.rounded_rectangle(box, radius=round(radius * k), **kwargs)
            else:
                draw.rectangle(box, **kwargs)
        elif op.kind == "line":
            x0, y0, x1, y1 = op.args
            draw.line((x0 * k, y0 * k, x1 * k, y1 * k), fill=op.color, width=max(1, round(op.extra[0] * k)))
        elif op.kind == "polygon":
            draw.polygon([(px * k, py * k) for px, py in op.args], fill=op.color)
        elif op.kind == "ellipse":
            x, y, w, h = op.args
            draw.ellipse((x * k, y * k, (x + w) * k, (y + h) * k), fill=op.color)
        else:  # pragma: no cover - a layout bug
            raise ValueError(f"unknown drawing op {op.kind!r}")
    if over_mask is not None and page.overprint is not None:
        image.paste(page.overprint.ink, (0, 0), _overprint_mask(over_mask, page, k))
    return image
