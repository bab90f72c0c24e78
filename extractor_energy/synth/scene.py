"""Props for captures: backgrounds, occluders, pen marks, light, phone chrome (PIL + numpy, seeded).

Everything is drawn at the capture's output resolution or at a low resolution and upscaled (the
light maps, backgrounds) so a photo costs tens of milliseconds. Functions that can hide part of
the bill also paint the ``visible`` mask (255 visible, 0 hidden) that decides the hidden fields.
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from extractor_energy.synth.canvas import font

Rng = np.random.Generator

_SKIN = [(224, 172, 140), (198, 140, 105), (160, 110, 80), (120, 80, 58), (236, 192, 160)]
_CLOTHS = [((200, 40, 40), (245, 245, 245)), ((30, 90, 160), (240, 240, 240)), ((40, 120, 60), (230, 220, 200)),
           ((220, 180, 60), (250, 250, 250)), ((120, 60, 120), (235, 200, 220))]


def _c(rng: Rng, base: tuple[int, int, int], spread: int = 18) -> tuple[int, int, int]:
    return tuple(int(np.clip(v + rng.integers(-spread, spread + 1), 0, 255)) for v in base)


def background(size: tuple[int, int], rng: Rng) -> Image.Image:
    """A table, tablecloth, sofa or pavement: checks, stripes (wood), speckles (granite) or flat, a bit blurred."""
    w, h = size
    kind = rng.choice(["checks", "wood", "granite", "flat", "flowers"], p=[0.25, 0.25, 0.2, 0.15, 0.15])
    sw, sh = max(8, w // 8), max(8, h // 8)
    if kind == "checks":
        a, b = _CLOTHS[int(rng.integers(len(_CLOTHS)))]
        cell = int(rng.integers(4, 12))
        yy, xx = np.mgrid[0:sh, 0:sw]
        on = ((xx // cell + yy // cell) % 2).astype(bool)
        arr = np.where(on[..., None], np.array(a), np.array(b)).astype(np.uint8)
        small = Image.fromarray(arr)
    elif kind == "wood":
        base = np.array(_c(rng, (150, 105, 65), 40), dtype=np.float32)
        yy, xx = np.mgrid[0:sh, 0:sw].astype(np.float32)
        grain = np.sin(yy * rng.uniform(0.3, 0.9) + np.sin(xx * 0.05) * 3) * 0.12 + rng.normal(0, 0.04, (sh, sw))
        small = Image.fromarray(np.clip(base * (1 + grain[..., None]), 0, 255).astype(np.uint8))
    elif kind == "granite":
        base = np.array(_c(rng, (90, 85, 85), 50), dtype=np.float32)
        speck = rng.normal(0, 28, (sh, sw, 1))
        small = Image.fromarray(np.clip(base + speck, 0, 255).astype(np.uint8))
    elif kind == "flowers":
        a, b = _CLOTHS[int(rng.integers(len(_CLOTHS)))]
        small = Image.new("RGB", (sw, sh), b)
        draw = ImageDraw.Draw(small)
        for _ in range(int(sw * sh / 60)):
            x, y, r = rng.integers(0, sw), rng.integers(0, sh), int(rng.integers(2, 5))
            draw.ellipse((x - r, y - r, x + r, y + r), fill=_c(rng, a, 30))
    else:
        small = Image.new("RGB", (sw, sh), _c(rng, (170, 160, 150), 70))
    return small.filter(ImageFilter.SMOOTH).resize((w, h), Image.BILINEAR)  # blur small: cheap


def light_map(size: tuple[int, int], rng: Rng, night: bool = False) -> Image.Image:
    """A multiplicative RGB light map: falloff, a hard shadow band or soft blob, a glare spot, a colour cast."""
    w, h = size
    sw, sh = 64, max(8, round(64 * h / w))
    yy, xx = np.mgrid[0:sh, 0:sw].astype(np.float32)
    xx /= sw
    yy /= sh
    angle = rng.uniform(0, 2 * np.pi)
    ramp = np.cos(angle) * xx + np.sin(angle) * yy
    light = 1.0 - rng.uniform(0.05, 0.3) * (ramp - ramp.min()) / max(float(np.ptp(ramp)), 1e-6)
    shadow = rng.random()
    if shadow < 0.35:  # hard shadow of the phone or a hand: a half-plane with a soft edge
        a2 = rng.uniform(0, 2 * np.pi)
        d = np.cos(a2) * (xx - 0.5) + np.sin(a2) * (yy - 0.5) - rng.uniform(0.1, 0.4)
        light *= 1.0 - rng.uniform(0.2, 0.45) / (1 + np.exp(-d * 60))
    elif shadow < 0.7:
        cx, cy, r = rng.uniform(0, 1), rng.uniform(0, 1), rng.uniform(0.2, 0.5)
        light *= 1.0 - rng.uniform(0.1, 0.35) * np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * r * r))
    if night:  # flash: bright centre, dark corners
        light *= 1.15 - 0.6 * ((xx - 0.5) ** 2 + (yy - 0.5) ** 2)
    cast = rng.choice(["warm", "warm", "none", "blue", "green"])
    tint = {"warm": (1.0, rng.uniform(0.95, 1.0), rng.uniform(0.85, 0.95)), "none": (1.0, 1.0, 1.0),
            "blue": (rng.uniform(0.82, 0.9), rng.uniform(0.9, 0.97), 1.0),
            "green": (rng.uniform(0.85, 0.92), 1.0, rng.uniform(0.85, 0.92))}[cast]
    rgb = np.clip(light[..., None] * np.array(tint, dtype=np.float32) * 255, 0, 255).astype(np.uint8)
    lm = Image.fromarray(rgb).resize(size, Image.BILINEAR)
    return lm


def glare(image: Image.Image, rng: Rng) -> Image.Image:
    """A specular spot (glossy paper under a lamp) - washes out what is under it, so it also hides."""
    w, h = image.size
    spot = Image.new("L", (64, max(8, round(64 * h / w))), 0)
    cx, cy = rng.uniform(0.15, 0.85) * spot.width, rng.uniform(0.15, 0.85) * spot.height
    r = rng.uniform(3, 8)
    ImageDraw.Draw(spot).ellipse((cx - r, cy - r * 0.7, cx + r, cy + r * 0.7), fill=int(rng.integers(150, 235)))
    spot = spot.filter(ImageFilter.GaussianBlur(r * 0.6)).resize(image.size, Image.BILINEAR)
    white = Image.new("RGB", image.size, (255, 255, 250))
    return Image.composite(white, image, spot)


def finger(draw: ImageDraw.ImageDraw, mask_draw: ImageDraw.ImageDraw, size: tuple[int, int], rng: Rng) -> None:
    """A thumb entering from an edge, holding the bill."""
    w, h = size
    width = int(min(w, h) * rng.uniform(0.09, 0.15))
    length = int(width * rng.uniform(1.8, 3.0))
    edge = rng.choice(["left", "right", "bottom"])
    t = rng.uniform(0.2, 0.85)
    if edge == "left":
        x0, y0, x1, y1 = -width, int(h * t), length - width, int(h * t) + width
    elif edge == "right":
        x0, y0, x1, y1 = w - length + width, int(h * t), w + width, int(h * t) + width
    else:
        x0, y0, x1, y1 = int(w * t), h - length + width, int(w * t) + width, h + width
    skin = _c(rng, _SKIN[int(rng.integers(len(_SKIN)))], 10)
    box = (x0, y0, x1, y1)
    draw.rounded_rectangle(box, radius=width // 2, fill=skin)
    nail = (x0 + width // 5, y0 + width // 5, x0 + width * 4 // 5, y0 + width * 3 // 5) if edge == "right" else None
    if nail:
        draw.rounded_rectangle(nail, radius=width // 6, fill=_c(rng, (236, 205, 200), 8))
    mask_draw.rounded_rectangle(box, radius=width // 2, fill=0)


def receipt(draw: ImageDraw.ImageDraw, mask_draw: ImageDraw.ImageDraw, size: tuple[int, int], rng: Rng) -> None:
    """A payment receipt, another bill or a phone lying over part of the bill."""
    w, h = size
    kind = rng.choice(["receipt", "phone", "paper"])
    bw = int(w * rng.uniform(0.2, 0.4))
    bh = int(bw * (rng.uniform(1.6, 2.6) if kind != "paper" else rng.uniform(0.6, 1.2)))
    cx, cy = rng.uniform(0, w), rng.uniform(0.1 * h, h)
    a = math.radians(rng.uniform(-25, 25))
    corners = [(-bw / 2, -bh / 2), (bw / 2, -bh / 2), (bw / 2, bh / 2), (-bw / 2, bh / 2)]
    poly = [(cx + x * math.cos(a) - y * math.sin(a), cy + x * math.sin(a) + y * math.cos(a)) for x, y in corners]
    fill = {"receipt": _c(rng, (246, 244, 236), 6), "phone": _c(rng, (25, 25, 30), 10),
            "paper": _c(rng, (250, 250, 250), 5)}[kind]
    draw.polygon(poly, fill=fill)
    if kind != "phone":  # a few grey text lines on it
        for i in range(int(rng.integers(4, 10))):
            f = (i + 1) / 11
            x0, y0 = cx + (-bw * 0.4) * math.cos(a) - (-bh / 2 + bh * f) * math.sin(a), \
                cy + (-bw * 0.4) * math.sin(a) + (-bh / 2 + bh * f) * math.cos(a)
            length = bw * rng.uniform(0.3, 0.8)
            draw.line((x0, y0, x0 + length * math.cos(a), y0 + length * math.sin(a)), fill=(110, 110, 110),
                      width=max(1, bw // 60))
    mask_draw.polygon(poly, fill=0)


def pen_marks(image: Image.Image, rng: Rng) -> None:
    """Ballpoint marks people add: "PAGO", a date, ticks, a circle, a signature scribble (do not hide values)."""
    draw = ImageDraw.Draw(image)
    w, h = image.size
    ink = [(20, 40, 150), (20, 20, 30), (160, 20, 30)][int(rng.integers(3))]
    for _ in range(int(rng.integers(1, 3))):
        kind = rng.choice(["pago", "tick", "circle", "scribble"])
        x, y = rng.uniform(0.1, 0.8) * w, rng.uniform(0.1, 0.9) * h
        s = min(w, h) * rng.uniform(0.04, 0.08)
        if kind == "pago":
            text = rng.choice(["PAGO", "Pago", f"Pg {int(rng.integers(1, 29)):02d}/{int(rng.integers(1, 13)):02d}", "OK"])
            draw.text((x, y), text, fill=ink, font=font(True, s * 0.9))
        elif kind == "tick":
            draw.line((x, y, x + s * 0.3, y + s * 0.4, x + s, y - s * 0.5), fill=ink, width=max(2, int(s / 12)))
        elif kind == "circle":
            draw.ellipse((x - s * 1.6, y - s * 0.6, x + s * 1.6, y + s * 0.6), outline=ink, width=max(2, int(s / 14)))
        else:
            pts = [(x + i * s / 6, y + math.sin(i * 1.3) * s / 3 + rng.uniform(-s / 8, s / 8)) for i in range(12)]
            draw.line(pts, fill=ink, width=max(2, int(s / 14)))


def crease(image: Image.Image, rng: Rng, count: int) -> None:
    """Fold lines: a thin dark line with a light side (paper folded in three or accordion-folded)."""
    draw = ImageDraw.Draw(image)
    w, h = image.size
    for _ in range(count):
        if rng.random() < 0.7:  # horizontal folds, the common one
            y = rng.uniform(0.2, 0.8) * h
            y2 = y + rng.uniform(-0.02, 0.02) * h
            draw.line((0, y, w, y2), fill=(150, 150, 150), width=2)
            draw.line((0, y + 3, w, y2 + 3), fill=(250, 250, 250), width=2)
        else:
            x = rng.uniform(0.2, 0.8) * w
            draw.line((x, 0, x + rng.uniform(-0.02, 0.02) * w, h), fill=(150, 150, 150), width=2)


def camera_stamp(draw: ImageDraw.ImageDraw, mask_draw: ImageDraw.ImageDraw, size: tuple[int, int], rng: Rng) -> None:
    """A burnt-in camera overlay ("REDMI 12" + date-time) in a corner."""
    w, h = size
    text = rng.choice(["REDMI 12", "Galaxy A15", "Moto g54 5G", "REDMI NOTE 13"])
    stamp = f"{text}  {int(rng.integers(2024, 2026))}/{int(rng.integers(1, 13)):02d}/{int(rng.integers(1, 29)):02d} " \
            f"{int(rng.integers(0, 24)):02d}:{int(rng.integers(0, 60)):02d}"
    f = font(True, max(12, h // 70))
    x, y = w * 0.04, h - h // 70 * 2.2
    box = draw.textbbox((x, y), stamp, font=f)
    draw.text((x, y), stamp, fill=(250, 250, 250), font=f)
    mask_draw.rectangle(box, fill=0)
