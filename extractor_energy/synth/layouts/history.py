"""Consumption history as a table or a bar chart; each month and value is a recorded field."""

from __future__ import annotations

from extractor_energy.synth.canvas import Page
from extractor_energy.synth.content import BillContent
from extractor_energy.synth import fmt
from extractor_energy.synth.layouts.blocks import Style, table


def history_table(page: Page, x: float, y: float, w: float, c: BillContent, style: Style, month_style: str = "num",
                  columns: int = 1, with_days: bool = True, titles: tuple[str, str, str] = ("MÊS/ANO", "kWh", "DIAS"),
                  size: float = 6.0, row_h: float = 3.3, zebra: bool = True) -> float:
    """Months in printed order, split into ``columns`` side-by-side tables; returns the lowest y."""
    hist = c.data.consumo_lista
    per_col = -(-len(hist) // columns)
    col_w = (w - (columns - 1) * 2) / columns
    shares = (0.42, 0.33, 0.25) if with_days else (0.55, 0.45)
    cols = [(t, col_w * k, a) for t, k, a in zip(titles, shares, "lrr")]
    bottom = y
    for k in range(columns):
        idx = range(k * per_col, min(len(hist), (k + 1) * per_col))
        rows = [[fmt.month(hist[i].mes_ano, month_style), fmt.kwh(hist[i].consumo), str(c.history_days[i])][: len(cols)] for i in idx]
        fields = [[f"consumo_lista.{i}.mes_ano", f"consumo_lista.{i}.consumo", None][: len(cols)] for i in idx]
        end = table(page, x + k * (col_w + 2), y, cols, rows, style, fields=fields, size=size, row_h=row_h,
                    header_fill=style.light, zebra=(245, 245, 245) if zebra else None)
        bottom = max(bottom, end)
    return bottom


def history_bars(page: Page, x: float, y: float, w: float, h: float, c: BillContent, style: Style,
                 month_style: str = "abbr2", title: str = "HISTÓRICO DE CONSUMO (kWh)", size: float = 5.0) -> float:
    """A bar chart, oldest month first: value above each bar, month under it, current month highlighted."""
    hist = c.data.consumo_lista
    page.rect(x, y, w, h, outline=style.rule, width=0.2, radius=style.radius)
    page.text(x + 2, y + 3.4, title, size=size + 1.2, bold=True, color=style.primary)
    top, base = y + 9.0, y + h - 4.5
    slot = (w - 4) / len(hist)
    peak = max(max(m.consumo for m in hist), 1)
    page.line(x + 2, base, x + w - 2, base, color=style.rule, width=0.2)
    chronological = sorted(range(len(hist)), key=lambda i: (hist[i].mes_ano[3:], hist[i].mes_ano[:2]))
    for pos, i in enumerate(chronological):
        month = hist[i]
        cx = x + 2 + slot * pos + slot / 2
        bar_h = max(0.4, (base - top - 3) * month.consumo / peak)
        color = style.primary if month.mes_ano == c.data.mes_referencia else style.secondary
        page.rect(cx - slot * 0.3, base - bar_h, slot * 0.6, bar_h, fill=color)
        page.fit_text(cx, base - bar_h - 0.8, fmt.kwh(month.consumo), slot - 0.8, size=size, color=style.ink,
                      align="c", field=f"consumo_lista.{i}.consumo")
        page.fit_text(cx, base + 2.6, fmt.month(month.mes_ano, month_style), slot - 0.8, size=size,
                      color=style.ink, align="c", field=f"consumo_lista.{i}.mes_ano")
    return y + h
