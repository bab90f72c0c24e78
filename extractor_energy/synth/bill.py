"""The library entry point: one synthetic bill (ground truth, rendered page, drawn fields)."""

from __future__ import annotations

from dataclasses import dataclass, field

from PIL import Image

from extractor_energy.domain.keys import BillKey
from extractor_energy.domain.schema import BillData
from extractor_energy.synth.canvas import DrawnField, Page
from extractor_energy.synth.content import BillContent, make_content
from extractor_energy.synth.layouts import draw_pages
from extractor_energy.synth.raster import render_page


@dataclass
class SyntheticBill:
    """A generated bill: ``data`` is the annotation, ``image`` page 1 at ``dpi``, ``fields`` what was drawn.

    ``pages`` keeps the vector pages (page 2 holds the history and notices) for PDF output;
    boxes in ``fields`` are in pixels of the undegraded page at ``dpi``.
    """

    data: BillData
    image: Image.Image
    fields: list[DrawnField]
    pages: list[Page] = field(repr=False, default_factory=list)
    content: BillContent | None = field(repr=False, default=None)
    dpi: int = 150
    physical: str = "a4"


def generate_bill(key: str | BillKey, seed: int, dpi: int = 150, render: bool = True,
                  physical: str = "a4") -> SyntheticBill:
    """Generate the bill for ``key`` (``equatorial_go``) and ``seed``; deterministic.

    ``physical`` is ``a4`` (the PDF 2ª via layout) or ``roll`` (the narrow on-site print, one page).
    ``render=False`` skips rasterising page 1 (``image`` is then a 1x1 placeholder), for PDF output.
    """
    content = make_content(key, seed)
    pages = draw_pages(content, physical)
    fields = [f for i, page in enumerate(pages) for f in page.drawn_fields(dpi, i)]
    image = render_page(pages[0], dpi) if render else Image.new("RGB", (1, 1), (255, 255, 255))
    return SyntheticBill(data=content.data, image=image, fields=fields, pages=pages, content=content, dpi=dpi,
                         physical=physical)
