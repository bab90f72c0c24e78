"""The payment slip at the foot of the bill: cut line, key values, digitable line and barcode."""

from __future__ import annotations

from extractor_energy.synth.canvas import WHITE, Page
from extractor_energy.synth.content import BillContent
from extractor_energy.synth import fmt
from extractor_energy.synth.layouts.blocks import Style, dashed
from extractor_energy.synth.layouts.marks import barcode, logo


def slip(page: Page, y: float, c: BillContent, style: Style, labels: tuple[str, str, str, str],
         month_style: str | None = None, fill_total: bool = True, title: str = "AUTENTICAÇÃO MECÂNICA") -> None:
    """Draw the slip from ``y`` (about 42 mm tall); ``labels`` name installation, month, due date, total."""
    d = c.data
    dashed(page, 8, 202, y)
    page.text(8, y - 0.8, "✂", size=8, color=(110, 110, 110))
    page.text(202, y - 1.0, "Corte aqui", size=4.8, color=(110, 110, 110), align="r")
    logo(page, c.profile.family, c.profile.brand, 8, y + 2.5, scale=0.55)
    month = c.printing.month(d.mes_referencia) if month_style is None else fmt.month(d.mes_referencia, month_style)
    values = [d.num_instalacao, month, d.vencimento, c.printing.total(d.valor_fatura)]
    fields = ["num_instalacao", "mes_referencia", "vencimento", "valor_fatura"]
    widths = [40, 28, 30, 38]
    x = 202 - sum(widths) - 3 * 1.5
    for label, value, field, w in zip(labels, values, fields, widths):
        total = field == "valor_fatura" and fill_total
        page.rect(x, y + 2.5, w, 9.5, fill=style.primary if total else WHITE, outline=style.rule, width=0.2,
                  radius=style.radius)
        color = WHITE if total else style.ink
        page.text(x + 1.5, y + 5.0, label, size=4.8, color=WHITE if total else style.label)
        page.fit_text(x + w / 2, y + 10.3, value, w - 3, size=8.5, bold=True, color=color, align="c", field=field)
        x += w + 1.5
    page.text(105, y + 17.5, fmt.digitable(d.linha_digitavel), size=9.5, bold=True, color=(0, 0, 0), align="c",
              field="linha_digitavel")
    barcode(page, 10, y + 20.5, 103, 13, d.codigo_barras)
    page.rect(122, y + 20.5, 80, 13, outline=style.rule, width=0.2)
    page.text(124, y + 23.5, title, size=4.8, color=style.label)
    page.text(124, y + 31.5, "Pagável em bancos, lotéricas, apps e Pix (QR Code na fatura).", size=4.6, color=style.label)
