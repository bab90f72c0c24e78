"""Regenerate the contact sheet: one bill per layout, in a grid, downscaled.

    python -m extractor_energy.synth.contact_sheet docs/synth_contact_sheet.png
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from PIL import Image, ImageDraw

from .bill import generate_bill
from .canvas import font
from .content import make_content

#: (key, flag the sample should show, or None) - one per layout family.
SAMPLES = [
    ("equatorial_go", None), ("enel_rj", "energia_ativa_injetada"), ("cemig_mg", "faturas_venc"),
    ("light_rj", None), ("cpfl_paulista_sp", "parcelamentos"), ("energisa_mt", "energia_ativa_injetada"),
    ("copel_pr", "baixa_renda"), ("neoenergia_pe", "tarifa_branca"),
]


def _seed_with(key: str, flag: str | None, limit: int = 500) -> int:
    """The first seed whose bill has ``flag`` set (0 when no flag is wanted)."""
    if flag is None:
        return 0
    return next((s for s in range(limit) if getattr(make_content(key, s).data, flag)), 0)


def build_sheet(width: int = 640, columns: int = 4, dpi: int = 110) -> Image.Image:
    """A grid of one downscaled bill per layout, each captioned with its key."""
    tiles = []
    for key, flag in SAMPLES:
        bill = generate_bill(key, _seed_with(key, flag), dpi=dpi)
        tile = bill.image.resize((width, round(bill.image.height * width / bill.image.width)), Image.LANCZOS)
        tiles.append((key, tile))
    tile_h, pad, caption = tiles[0][1].height, 16, 26
    rows = -(-len(tiles) // columns)
    sheet = Image.new("RGB", (columns * (width + pad) + pad, rows * (tile_h + pad + caption) + pad), (200, 200, 205))
    draw = ImageDraw.Draw(sheet)
    for i, (key, tile) in enumerate(tiles):
        x = pad + (i % columns) * (width + pad)
        y = pad + (i // columns) * (tile_h + pad + caption)
        draw.text((x, y + 4), key, fill=(30, 30, 30), font=font(True, 16))
        sheet.paste(tile, (x, y + caption))
    return sheet


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write a PNG grid with one synthetic bill per layout.")
    parser.add_argument("out", type=Path, help="PNG file to write, e.g. docs/synth_contact_sheet.png")
    args = parser.parse_args(argv)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    sheet = build_sheet()
    sheet.quantize(colors=256, method=Image.Quantize.MEDIANCUT).save(args.out, optimize=True)
    print(f"wrote {args.out} ({args.out.stat().st_size / 1e6:.2f} MB, {len(SAMPLES)} layouts)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
