"""Drawing blocks shared by the layouts: labelled boxes, tables, runs of text, dashed rules.

Every block takes positions in millimetres and a :class:`Style`; texts that carry a contract
value are drawn with their field name so the page records them.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from extractor_energy.synth.canvas import BLACK, WHITE, Color, Page, measure

if TYPE_CHECKING:
    from extractor_energy.synth.content import BillContent


@dataclass(frozen=True)
class Style:
    """Colours of one utility's bill."""

    primary: Color
    secondary: Color
    light: Color
    accent: Color = (90, 90, 90)
    ink: Color = (25, 25, 25)
    label: Color = (85, 85, 85)
    rule: Color = (150, 150, 150)
    radius: float = 1.2


def styled(style: Style, c: "BillContent") -> Style:
    """The family's ``style`` with the utility's own colours (RGE red, Neoenergia green...) where it has them."""
    colours = c.identity.colours
    if not colours:
        return style
    primary, secondary = colours
    light = tuple(min(255, round(v * 0.12 + 255 * 0.88)) for v in primary)
    return replace(style, primary=primary, secondary=secondary, light=light)


Part = tuple[str, "str | None"]


def run(page: Page, x: float, y: float, parts: list[Part], size: float = 7.0, bold: bool = False,
        color: Color = BLACK, bold_fields: bool = False) -> float:
    """Draw texts one after another on a line; ``(text, field)`` parts. Returns the end x."""
    for text, field in parts:
        if text:
            x += page.text(x, y, text, size=size, bold=bold or (bold_fields and field is not None),
                           color=color, field=field)
    return x


def label_value(page: Page, x: float, y: float, label: str, value: str, field: str | None,
                style: Style, size: float = 8.0, label_size: float = 5.5, align: str = "l",
                color: Color | None = None, bold: bool = True, label_color: Color | None = None) -> None:
    """A small label with its value on the line below (``y`` is the label baseline)."""
    page.text(x, y, label, size=label_size, color=label_color or style.label, align=align)
    page.text(x, y + label_size * 0.35 + size * 0.42, value, size=size, bold=bold,
              color=color or style.ink, align=align, field=field)


def boxed(page: Page, x: float, y: float, w: float, h: float, label: str, value: str, field: str | None,
          fill: Color, text_color: Color = WHITE, label_size: float = 6.0, value_size: float = 11.0,
          radius: float = 1.2, align: str = "c", outline: Color | None = None) -> None:
    """A filled box with a label on top and a big value below it."""
    page.rect(x, y, w, h, fill=fill, radius=radius, outline=outline)
    cx = x + w / 2 if align == "c" else x + 2.5
    page.fit_text(cx, y + label_size * 0.35 + 1.6, label, w - 3, size=label_size, bold=True, color=text_color, align=align)
    page.fit_text(cx, y + h - (h - label_size * 0.35 - 1.6) / 2 + value_size * 0.12, value, w - 4, size=value_size,
                  bold=True, color=text_color, align=align, field=field)


def band(page: Page, x: float, y: float, w: float, title: str, fill: Color, color: Color = WHITE,
         h: float = 4.6, size: float = 6.5, radius: float = 0.0) -> float:
    """A coloured title band; returns the y just below it."""
    page.rect(x, y, w, h, fill=fill, radius=radius)
    page.text(x + 2, y + h / 2 + size * 0.125, title, size=size, bold=True, color=color)
    return y + h


def table(page: Page, x: float, y: float, cols: list[tuple[str, float, str]], rows: list[list[str]],
          style: Style, fields: list[list[str | None]] | None = None, size: float = 6.2, row_h: float = 3.5,
          header_fill: Color | None = None, header_color: Color | None = None, zebra: Color | None = None,
          grid: bool = False, bold_cols: tuple[int, ...] = (), header: bool = True) -> float:
    """A table with a header row; ``cols`` are (title, width mm, align l/r/c). Returns the y below it."""
    width = sum(c[1] for c in cols)
    head_h = row_h + 0.6 if header else 0.0
    if header_fill and header:
        page.rect(x, y, width, head_h, fill=header_fill)
    cx = x
    for title, w, align in cols if header else []:
        tx = cx + 1 if align == "l" else cx + w - 1 if align == "r" else cx + w / 2
        page.fit_text(tx, y + head_h - 1.1, title, w - 1.6, size=size - 0.6, bold=True,
                      color=header_color or style.ink, align=align)
        cx += w
    y += head_h
    if not header_fill:
        page.line(x, y, x + width, y, color=style.rule, width=0.2)
    for r, row in enumerate(rows):
        if zebra and r % 2 == 1:
            page.rect(x, y, width, row_h, fill=zebra)
        cx = x
        for c, ((_, w, align), text) in enumerate(zip(cols, row)):
            field = fields[r][c] if fields else None
            tx = cx + 1 if align == "l" else cx + w - 1 if align == "r" else cx + w / 2
            page.fit_text(tx, y + row_h - 0.95, text, w - 1.6, size=size, bold=c in bold_cols,
                          color=style.ink, align=align, field=field)
            cx += w
        y += row_h
        if grid:
            page.line(x, y, x + width, y, color=style.rule, width=0.15)
    if grid:
        cx = x
        for _, w, _ in cols[:-1]:
            cx += w
            page.line(cx, y - row_h * len(rows) - head_h, cx, y, color=style.rule, width=0.15)
        page.rect(x, y - row_h * len(rows) - head_h, width, row_h * len(rows) + head_h, outline=style.rule, width=0.2)
    return y


def dashed(page: Page, x0: float, x1: float, y: float, color: Color = (120, 120, 120), dash: float = 1.6) -> None:
    """A horizontal dashed cut line."""
    x = x0
    while x < x1:
        page.line(x, y, min(x + dash, x1), y, color=color, width=0.2)
        x += dash * 2


def wrap(text: str, w: float, size: float, bold: bool = False) -> list[str]:
    """Greedy word wrap of ``text`` into lines no wider than ``w`` mm."""
    lines, line = [], ""
    for word in text.split():
        trial = f"{line} {word}".strip()
        if measure(trial, bold, size)[0] > w and line:
            lines.append(line)
            line = word
        else:
            line = trial
    return lines + ([line] if line else [])


def paragraph(page: Page, x: float, y: float, w: float, text: str, size: float = 5.6,
              color: Color = (60, 60, 60), leading: float = 1.32, bold: bool = False) -> float:
    """Word-wrapped text within ``w`` mm; returns the y after the last line."""
    for line in wrap(text, w, size, bold):
        page.text(x, y, line, size=size, color=color, bold=bold)
        y += size * 0.3528 * leading
    return y
