"""Graphic marks: interleaved-2-of-5 barcode, a QR-like block and logo-like wordmarks."""

from __future__ import annotations

import random

from extractor_energy.synth.canvas import WHITE, Color, Page

_I25 = ["nnwwn", "wnnnw", "nwnnw", "wwnnn", "nnwnw", "wnwnn", "nwwnn", "nnnww", "wnnwn", "nwnwn"]


def barcode(page: Page, x: float, y: float, w: float, h: float, digits: str, field: str | None = "codigo_barras") -> None:
    """Interleaved 2 of 5 bars (what FEBRABAN slips use) for an even number of ``digits``."""
    widths: list[tuple[int, bool]] = [(1, True), (1, False), (1, True), (1, False)]  # start
    for a, b in zip(digits[0::2], digits[1::2]):
        for bar, space in zip(_I25[int(a)], _I25[int(b)]):
            widths += [(3 if bar == "w" else 1, True), (3 if space == "w" else 1, False)]
    widths += [(3, True), (1, False), (1, True)]  # stop
    module = w / sum(m for m, _ in widths)
    cx = x
    for m, dark in widths:
        if dark:
            page.rect(cx, y, m * module, h, fill=(0, 0, 0))
        cx += m * module
    if field:
        page.mark(field, digits, (x, y, x + w, y + h))


def qr_block(page: Page, x: float, y: float, size: float, seed: int, modules: int = 29) -> None:
    """A QR-code-like square: three finder patterns, timing lines and seeded data modules."""
    rng = random.Random(seed)
    grid = [[rng.random() < 0.5 for _ in range(modules)] for _ in range(modules)]
    for i in range(modules):
        grid[6][i] = grid[i][6] = i % 2 == 0
    for ox, oy in ((0, 0), (modules - 7, 0), (0, modules - 7)):
        for r in range(-1, 8):
            for c in range(-1, 8):
                if 0 <= oy + r < modules and 0 <= ox + c < modules:
                    ring = max(abs(r - 3), abs(c - 3))
                    grid[oy + r][ox + c] = ring in (0, 1, 3)
    cell = size / modules
    page.rect(x - cell, y - cell, size + 2 * cell, size + 2 * cell, fill=WHITE)
    for r, row in enumerate(grid):
        c = 0
        while c < modules:
            if row[c]:
                start = c
                while c < modules and row[c]:
                    c += 1
                page.rect(x + start * cell, y + r * cell, (c - start) * cell, cell, fill=(0, 0, 0))
            c += 1


def bolt(page: Page, x: float, y: float, s: float, color: Color) -> None:
    """A lightning bolt inside an ``s`` mm square."""
    pts = [(0.55, 0.0), (0.15, 0.55), (0.45, 0.55), (0.35, 1.0), (0.85, 0.4), (0.55, 0.4), (0.7, 0.0)]
    page.polygon([(x + px * s, y + py * s) for px, py in pts], fill=color)


def logo(page: Page, family: str, brand: str, x: float, y: float, scale: float = 1.0) -> None:
    """A logo-like wordmark for ``family`` with its top-left corner at (x, y); about 45 x 12 mm at scale 1."""
    s = scale
    if family == "equatorial":
        page.ellipse(x, y + 1 * s, 10 * s, 10 * s, fill=(0, 75, 145))
        page.ellipse(x + 2.2 * s, y + 3.2 * s, 5.6 * s, 5.6 * s, fill=(250, 170, 30))
        page.rect(x, y + 5.6 * s, 10 * s, 0.9 * s, fill=(0, 75, 145))
        page.text(x + 12 * s, y + 8 * s, "equatorial", size=17 * s, bold=True, color=(0, 75, 145))
        page.text(x + 12.4 * s, y + 11.6 * s, "e n e r g i a", size=5.5 * s, color=(240, 120, 30))
    elif family == "enel":
        for i, color in enumerate([(0, 145, 215), (120, 190, 60), (250, 190, 0), (235, 90, 40), (200, 30, 110)]):
            page.ellipse(x + i * 2.3 * s, y + (3.5 - abs(i - 2) * 1.1) * s, 2.6 * s, 2.6 * s, fill=color)
        page.text(x, y + 12 * s, "enel", size=22 * s, bold=True, color=(20, 30, 70))
    elif family == "cemig":
        page.polygon([(x, y + 11 * s), (x + 5 * s, y + 1 * s), (x + 10 * s, y + 11 * s)], fill=(0, 130, 95))
        page.polygon([(x + 3 * s, y + 11 * s), (x + 5 * s, y + 6 * s), (x + 7 * s, y + 11 * s)], fill=(250, 200, 20))
        page.text(x + 12 * s, y + 10.5 * s, "CEMIG", size=19 * s, bold=True, color=(0, 120, 90))
    elif family == "light":
        page.ellipse(x, y + 1 * s, 10.5 * s, 10.5 * s, fill=(250, 180, 0))
        page.ellipse(x + 2.6 * s, y + 3.6 * s, 5.3 * s, 5.3 * s, fill=WHITE)
        page.text(x + 12.5 * s, y + 10 * s, "Light", size=20 * s, bold=True, color=(230, 100, 15))
    elif family == "cpfl":
        for i, color in enumerate([(0, 84, 166), (0, 160, 220), (130, 190, 40)]):
            page.rect(x + i * 3.2 * s, y + 1.5 * s, 2.5 * s, 9.5 * s, fill=color)
        page.text(x + 11 * s, y + 9 * s, "CPFL", size=18 * s, bold=True, color=(0, 84, 166))
        page.text(x + 11.3 * s, y + 12.4 * s, "ENERGIA", size=5.5 * s, bold=True, color=(0, 160, 220))
    elif family == "energisa":
        page.ellipse(x, y + 2 * s, 9 * s, 9 * s, fill=(250, 190, 0))
        page.ellipse(x + 3 * s, y + 0.5 * s, 7 * s, 7 * s, fill=(0, 140, 70))
        page.text(x + 12 * s, y + 10 * s, "energisa", size=17 * s, bold=True, color=(0, 120, 60))
    elif family == "copel":
        page.polygon([(x, y + 11 * s), (x + 9 * s, y + 1 * s), (x + 9 * s, y + 11 * s)], fill=(240, 120, 0))
        page.text(x + 11 * s, y + 10.5 * s, "COPEL", size=19 * s, bold=True, color=(0, 56, 130))
    else:
        page.ellipse(x, y + 0.5 * s, 11 * s, 11 * s, fill=(70, 70, 130))
        bolt(page, x + 2 * s, y + 2.5 * s, 7 * s, (250, 200, 30))
        page.fit_text(x + 13 * s, y + 9.5 * s, brand, 36 * s, size=15 * s, bold=True, color=(70, 70, 130))
