"""Regenerate the contact sheet: A4 2ª via layouts, on-site rolls and captures, in a grid, downscaled.

    python -m extractor_energy.synth.contact_sheet docs/synth_contact_sheet.png
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from PIL import Image, ImageDraw, ImageOps

from extractor_energy.synth.bill import generate_bill
from extractor_energy.synth.canvas import font
from extractor_energy.synth.capture import capture
from extractor_energy.synth.content import make_content

#: (key, physical, capture mode, capture seed, flag the bill should show or None).
SAMPLES = [
    ("equatorial_go", "a4", "none", 0, None), ("enel_rj", "a4", "none", 0, "energia_ativa_injetada"),
    ("cemig_mg", "a4", "none", 0, "faturas_venc"), ("cpfl_paulista_sp", "a4", "none", 0, "parcelamentos"),
    ("energisa_mt", "a4", "none", 0, None), ("copel_pr", "a4", "none", 0, "baixa_renda"),
    ("equatorial_go", "roll", "none", 0, "energia_ativa_injetada"), ("energisa_mt", "roll", "none", 0, None),
    ("enel_ce", "roll", "none", 0, "baixa_renda"), ("light_rj", "roll", "none", 0, None),
    ("equatorial_go", "roll", "photo", 3, None), ("energisa_ms", "roll", "photo", 5, None),
    ("neoenergia_pe", "a4", "photo", 2, None), ("cpfl_paulista_sp", "a4", "photo", 5, None),
    ("enel_rj", "a4", "screenshot", 1, None), ("celesc_sc", "a4", "scan", 1, None),
]


def _seed_with(key: str, flag: str | None, limit: int = 500) -> int:
    """The first seed whose bill has ``flag`` set (0 when no flag is wanted)."""
    if flag is None:
        return 0
    return next((s for s in range(limit) if getattr(make_content(key, s).data, flag)), 0)


def build_sheet(tile: tuple[int, int] = (330, 470), columns: int = 4, dpi: int = 110) -> Image.Image:
    """A grid of downscaled samples, each captioned with its key, layout and capture."""
    tiles = []
    for key, physical, mode, cap_seed, flag in SAMPLES:
        bill = generate_bill(key, _seed_with(key, flag), dpi=dpi if mode == "none" else 150, physical=physical)
        image = bill.image if mode == "none" else capture(bill, mode, cap_seed).image
        fitted = ImageOps.contain(image, tile, Image.LANCZOS)
        tiles.append((f"{key} · {physical} · {mode}", fitted))
    pad, caption = 14, 22
    rows = -(-len(tiles) // columns)
    sheet = Image.new("RGB", (columns * (tile[0] + pad) + pad, rows * (tile[1] + pad + caption) + pad), (200, 200, 205))
    draw = ImageDraw.Draw(sheet)
    for i, (label, image) in enumerate(tiles):
        x = pad + (i % columns) * (tile[0] + pad)
        y = pad + (i // columns) * (tile[1] + pad + caption)
        draw.text((x, y + 3), label, fill=(30, 30, 30), font=font(True, 13))
        sheet.paste(image, (x + (tile[0] - image.width) // 2, y + caption))
    return sheet


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write a PNG grid of synthetic bills: layouts, rolls, captures.")
    parser.add_argument("out", type=Path, help="PNG file to write, e.g. docs/synth_contact_sheet.png")
    args = parser.parse_args(argv)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    sheet = build_sheet()
    sheet.quantize(colors=256, method=Image.Quantize.MEDIANCUT).save(args.out, optimize=True)
    print(f"wrote {args.out} ({args.out.stat().st_size / 1e6:.2f} MB, {len(SAMPLES)} samples)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
