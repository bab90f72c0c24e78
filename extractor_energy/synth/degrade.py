"""Make a clean page look scanned or photographed (PIL + numpy only, seeded).

The original image-only effects, kept for callers of :func:`degrade`; the CLI and the dataset
writer use :mod:`.capture`, which also knows which fields a capture hides.

``scan``: slight skew, greyish paper, grey noise, a touch of blur.
``photo``: page on a table, perspective and rotation, uneven light and shadow, blur, noise, JPEG artefacts.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageFilter

MODES = ("none", "scan", "photo")


def _noise(image: Image.Image, rng: np.random.Generator, sigma: float) -> Image.Image:
    arr = np.asarray(image, dtype=np.float32)
    grain = rng.normal(0.0, sigma, arr.shape[:2])[..., None]  # grey (luminance) noise
    return Image.fromarray(np.clip(arr + grain, 0, 255).astype(np.uint8))


def _perspective_coeffs(src: list[tuple[float, float]], dst: list[tuple[float, float]]) -> list[float]:
    """Coefficients for ``Image.transform(PERSPECTIVE)`` mapping output points ``dst`` to input points ``src``."""
    rows = []
    for (x, y), (u, v) in zip(dst, src):
        rows.append([x, y, 1, 0, 0, 0, -u * x, -u * y])
        rows.append([0, 0, 0, x, y, 1, -v * x, -v * y])
    solution = np.linalg.solve(np.array(rows, dtype=np.float64), np.array([c for p in src for c in p], dtype=np.float64))
    return solution.tolist()


def scan(image: Image.Image, rng: np.random.Generator) -> Image.Image:
    """A flatbed scan: up to 1.2 degrees of skew, slightly grey paper, grey noise."""
    angle = float(rng.uniform(-1.2, 1.2))
    paper = int(rng.integers(236, 248))
    out = image.rotate(angle, resample=Image.BILINEAR, expand=False, fillcolor=(paper, paper, paper))
    arr = np.asarray(out, dtype=np.float32) * (paper / 255.0) + float(rng.uniform(0, 6))
    out = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8)).filter(ImageFilter.GaussianBlur(float(rng.uniform(0.3, 0.7))))
    return _noise(out, rng, float(rng.uniform(3, 7)))


def photo(image: Image.Image, rng: np.random.Generator) -> Image.Image:
    """A phone photo of the page lying on a table."""
    w, h = image.size
    margin_x, margin_y = int(w * rng.uniform(0.05, 0.12)), int(h * rng.uniform(0.04, 0.1))
    table = tuple(int(c) for c in rng.choice([(120, 90, 60), (80, 80, 85), (180, 170, 150), (60, 45, 35)]))
    canvas = Image.new("RGB", (w + 2 * margin_x, h + 2 * margin_y), table)
    canvas.paste(image, (margin_x, margin_y))
    cw, ch = canvas.size
    jitter = lambda scale: (float(rng.uniform(-scale, scale)) * cw, float(rng.uniform(-scale, scale)) * ch)  # noqa: E731
    corners = [(0.0, 0.0), (cw, 0.0), (cw, ch), (0.0, ch)]
    src = [(x + jx, y + jy) for (x, y), (jx, jy) in zip(corners, (jitter(0.04) for _ in range(4)))]
    turn = np.deg2rad(rng.uniform(-4, 4))  # rotation folded into the same single resampling
    cos, sin = float(np.cos(turn)), float(np.sin(turn))
    dst = [(cw / 2 + (x - cw / 2) * cos - (y - ch / 2) * sin, ch / 2 + (x - cw / 2) * sin + (y - ch / 2) * cos)
           for x, y in corners]
    canvas = canvas.transform(canvas.size, Image.PERSPECTIVE, _perspective_coeffs(src, dst), Image.BILINEAR,
                              fillcolor=table)
    # uneven light: a linear falloff plus a soft shadow blob (a hand or the phone)
    yy, xx = np.mgrid[0:ch, 0:cw].astype(np.float32)
    angle = rng.uniform(0, 2 * np.pi)
    ramp = (np.cos(angle) * xx / cw + np.sin(angle) * yy / ch)
    light = 1.0 - rng.uniform(0.1, 0.3) * (ramp - ramp.min()) / max(float(np.ptp(ramp)), 1e-6)
    cx, cy, r = rng.uniform(0, cw), rng.uniform(0, ch), rng.uniform(0.25, 0.5) * max(cw, ch)
    light *= 1.0 - rng.uniform(0.15, 0.4) * np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * r * r))
    tint = np.array([1.0, rng.uniform(0.96, 1.0), rng.uniform(0.88, 0.97)], dtype=np.float32)  # warm indoor light
    arr = np.asarray(canvas, dtype=np.float32) * light[..., None] * tint
    out = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8)).filter(ImageFilter.GaussianBlur(float(rng.uniform(0.6, 1.4))))
    out = _noise(out, rng, float(rng.uniform(4, 9)))
    buffer = io.BytesIO()
    out.save(buffer, format="JPEG", quality=int(rng.integers(30, 60)))
    buffer.seek(0)
    return Image.open(buffer).convert("RGB")


def degrade(image: Image.Image, mode: str, seed: int) -> Image.Image:
    """Apply ``mode`` (none, scan or photo) deterministically for ``seed``."""
    if mode == "none":
        return image
    rng = np.random.default_rng(seed)
    if mode == "scan":
        return scan(image, rng)
    if mode == "photo":
        return photo(image, rng)
    raise ValueError(f"unknown degrade mode {mode!r}: expected one of {', '.join(MODES)}")
