"""One drawing module per utility family, in two physical families (real_layouts.md section 3).

``a4``: the utility's A4 "2ª via" PDF layout (its own module), crisp, sometimes one page only,
sometimes with a "SEGUNDA VIA" watermark; ``roll``: the narrow on-site roll (``roll.py``, shared by
all families with each utility's colours and printer font). Both get layout jitter so no two bills
of a utility are pixel-aligned.
"""

from __future__ import annotations

import random
from importlib import import_module
from typing import Callable

from extractor_energy.synth.canvas import Page
from extractor_energy.synth.content import BillContent

LAYOUTS = ("equatorial", "enel", "cemig", "light", "cpfl", "energisa", "copel", "generic")
PHYSICAL = ("a4", "roll")
_WATERMARKS = ("SEGUNDA VIA", "Segunda Via", "2ª VIA", "2ª Via")


def layout_for(family: str) -> Callable[[BillContent], list[Page]]:
    """The ``draw`` function of a family's module (unknown families get the generic layout)."""
    name = family if family in LAYOUTS else "generic"
    return import_module(f"{__name__}.{name}").draw


def _page1_has_everything(pages: list[Page]) -> bool:
    """Whether every field drawn on page 2 is also drawn on page 1 (then page 2 may be left out)."""
    first = {name for name, _, _ in pages[0].fields}
    return all(name in first for page in pages[1:] for name, _, _ in page.fields)


def _second_copy(pages: list[Page], c: BillContent, rng: random.Random) -> list[Page]:
    """The PDF "2ª via" as downloaded: maybe one page only, maybe watermarked, maybe a paid stamp; jittered."""
    if len(pages) > 1 and rng.random() < 0.35 and _page1_has_everything(pages):
        pages = pages[:1]
    if rng.random() < 0.45:
        text = rng.choice(_WATERMARKS)
        grey = rng.randint(200, 228)
        for page in pages:
            page.rotated_text(page.width / 2, page.height * rng.uniform(0.4, 0.6), text, rng.uniform(54, 80),
                              rng.uniform(30, 55), (grey, grey, grey + 6 if grey < 250 else grey))
    if c.profile.family == "equatorial" and rng.random() < 0.4:
        pages[0].text(105, 4.2, f"GreenSign Carimbo Digital - {c.emission:%d/%m/%Y} - documento assinado digitalmente",
                      size=4.6, color=(120, 120, 120), align="c")
    if rng.random() < 0.03:  # a paid copy downloaded again
        pages[0].rotated_text(105, 200, "FATURA ARRECADADA - NÃO RECEBER", 20, 0, (200, 40, 40))
    for page in pages:
        scale = rng.uniform(0.965, 1.0)
        page.transform(rng.uniform(0, page.width * (1 - scale)), rng.uniform(0, page.height * (1 - scale)), scale)
    return pages


def draw_pages(content: BillContent, physical: str = "a4") -> list[Page]:
    """The pages of ``content`` as an A4 2ª via (page 1 with the slip, often page 2) or a roll (one page)."""
    rng = random.Random(content.render_seed + 7)
    if physical == "roll":
        pages = import_module(f"{__name__}.roll").draw(content)
        scale = rng.uniform(0.98, 1.0)
        pages[0].transform(rng.uniform(0, 1.5), rng.uniform(0, 1.5), scale)
        return pages
    if physical != "a4":
        raise ValueError(f"unknown physical layout {physical!r}: expected one of {', '.join(PHYSICAL)}")
    return _second_copy(layout_for(content.profile.family)(content), content, rng)
