"""Replay a :class:`~.canvas.Page` onto a PIL image at a given dpi."""

from __future__ import annotations

from functools import lru_cache

from PIL import Image, ImageDraw

from .canvas import Page, font, page_size_px


@lru_cache(maxsize=8192)
def _text_mask(text: str, bold: bool, size_px: float) -> tuple[Image.Image, int, int]:
    """Anti-aliased coverage mask of ``text`` and its offset from the baseline origin (labels repeat a lot)."""
    face = font(bold, size_px)
    left, top, right, bottom = face.getbbox(text, anchor="ls")
    mask = Image.new("L", (max(1, right - left), max(1, bottom - top)), 0)
    ImageDraw.Draw(mask).text((-left, -top), text, fill=255, font=face, anchor="ls")
    return mask, left, top


def render_page(page: Page, dpi: int = 150) -> Image.Image:
    """Rasterise ``page`` to an RGB A4 image (150 dpi -> 1240 x 1754)."""
    k = dpi / 25.4
    image = Image.new("RGB", page_size_px(dpi), (255, 255, 255))
    draw = ImageDraw.Draw(image)
    for op in page.ops:
        if op.kind == "text":
            x, y, text, size, bold = op.args
            mask, left, top = _text_mask(text, bold, round(size * dpi / 72, 1))
            image.paste(op.color, (round(x * k) + left, round(y * k) + top), mask)
        elif op.kind == "rect":
            x, y, w, h = op.args
            filled, outline, width, radius = op.extra
            box = (round(x * k), round(y * k), round((x + w) * k) - 1, round((y + h) * k) - 1)
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
    return image
