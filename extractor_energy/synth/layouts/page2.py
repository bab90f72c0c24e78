"""Second page (PDF): detailed consumption history, quality indicators and notices."""

from __future__ import annotations

import random

from extractor_energy.synth.canvas import WHITE, Page
from extractor_energy.synth.content import BillContent
from extractor_energy.synth import fmt
from extractor_energy.synth.charges import FLAG_ADDITION, FLAG_WORDS
from extractor_energy.synth.layouts.blocks import Style, band, paragraph, run, table
from extractor_energy.synth.layouts.history import history_bars, history_table
from extractor_energy.synth.layouts.marks import logo

_NOTICES = [
    "Bandeiras tarifárias: a bandeira verde indica condições favoráveis de geração; as bandeiras amarela e vermelha "
    "indicam aumento do custo de geração e acrescentam um valor por kWh consumido.",
    "A falta de pagamento desta fatura sujeita a unidade consumidora à suspensão do fornecimento, após aviso prévio, "
    "conforme Resolução Normativa ANEEL nº 1.000/2021.",
    "Mantenha seus dados atualizados e receba a fatura por e-mail. Pague com Pix ou débito automático.",
    "Em caso de falta de energia, ligue para a Central de Atendimento, disponível 24 horas, ou use o aplicativo.",
]


def second_page(c: BillContent, style: Style, month_style: str, heading: str = "INFORMAÇÕES COMPLEMENTARES") -> Page:
    """A page with the history (month, kWh, days, daily mean), DIC/FIC indicators and notices."""
    page, d = Page(), c.data
    rng = random.Random(c.render_seed + 2)
    logo(page, c.profile.family, c.profile.brand, 10, 10, scale=0.8)
    page.text(200, 15, heading, size=10, bold=True, color=style.primary, align="r")
    run(page, 200 - 70, 21, [("Instalação: ", None), (d.num_instalacao, "num_instalacao")], size=7, bold=False, color=style.ink)
    run(page, 200 - 70, 25, [("Referência: ", None), (fmt.month(d.mes_referencia, month_style), "mes_referencia")],
        size=7, color=style.ink)
    y = band(page, 10, 32, 190, "HISTÓRICO DE CONSUMO", style.primary, radius=style.radius) + 2
    end = history_table(page, 10, y, 120, c, style, month_style=month_style, titles=("Mês/Ano", "Consumo (kWh)", "Dias"),
                        size=6.8, row_h=4.2)
    mean = sum(m.consumo for m in d.consumo_lista) / len(d.consumo_lista)
    page.rect(136, y, 64, 22, fill=style.light, radius=style.radius)
    page.text(140, y + 6, "Média mensal (kWh)", size=6.5, color=style.label)
    page.text(140, y + 13, fmt.kwh(round(mean)), size=13, bold=True, color=style.primary)
    page.text(140, y + 18.5, f"Média diária no mês: {fmt.number(d.consumo_kwh / d.dias_faturados, 1)} kWh",
              size=6, color=style.ink)
    y = max(end, y + 24) + 6
    y = band(page, 10, y, 190, "INDICADORES DE CONTINUIDADE (REN ANEEL 1.000/2021)", style.light, color=style.primary) + 1.5
    cols = [("Indicador", 60, "l"), ("Limite mensal", 40, "r"), ("Limite trimestral", 45, "r"), ("Apurado", 45, "r")]
    rows = [[name, fmt.number(lim, 2), fmt.number(lim * 2.1, 2), fmt.number(rng.uniform(0, lim * 0.7), 2)]
            for name, lim in (("DIC (horas)", rng.uniform(6, 14)), ("FIC (interrupções)", rng.uniform(4, 9)),
                              ("DMIC (horas)", rng.uniform(3, 7)), ("DICRI (horas)", rng.uniform(10, 22)))]
    y = table(page, 10, y, cols, rows, style, size=6.4, row_h=4, grid=True) + 6
    y = _tariffs(page, y, c, style) + 6
    y = band(page, 10, y, 190, "AVISOS IMPORTANTES", style.primary, radius=style.radius) + 5
    for notice in _NOTICES:
        y = paragraph(page, 12, y, 186, notice, size=6.6) + 2
    if y + 50 < 268:
        history_bars(page, 10, y + 3, 190, min(60.0, 265 - y), c, style, month_style="abbr2",
                     title="EVOLUÇÃO DO CONSUMO (kWh)", size=5.6)
    page.rect(10, 270, 190, 16, fill=style.light, radius=style.radius)
    page.text(14, 276, d.distribuidora, size=6.5, bold=True, color=style.primary, field="distribuidora")
    ident = c.identity
    page.text(14, 281.5, f"Central de Atendimento 24h: {ident.call_center}   Ouvidoria: {ident.ombudsman}   "
              f"WhatsApp: {ident.whatsapp}   {ident.site}", size=6, color=style.ink)
    page.text(196, 281.5, "Página 2/2", size=6, color=style.label, align="r")
    page.rect(0, 292, 210, 5, fill=style.primary)
    page.text(105, 295.5, "Agência Nacional de Energia Elétrica - ANEEL - Ligação gratuita 167", size=5, color=WHITE, align="c")
    return page


def _tariffs(page: Page, y: float, c: BillContent, style: Style) -> float:
    """Unit prices of the energy rows and the flag additions in force; returns the y below."""
    top = y
    y = band(page, 10, y, 92, "TARIFAS APLICADAS (R$/kWh)", style.light, color=style.primary) + 1.5
    share = sum(t.rate for t in c.taxes) / 100
    rows = [[item.desc, fmt.tariff(abs(item.price) * (1 - share)), fmt.tariff(abs(item.price))]
            for item in c.items if item.taxed and item.price and item.price > 0 and item.code != "bandeira"]
    end = table(page, 10, y, [("Componente", 46, "l"), ("Sem tributos", 23, "r"), ("Com tributos", 23, "r")], rows,
                style, size=6.2, row_h=3.9, zebra=(245, 245, 245))
    band(page, 108, top, 92, "BANDEIRAS TARIFÁRIAS (R$ por 100 kWh)", style.light, color=style.primary)
    flags = [[FLAG_WORDS[name], fmt.number(add * 100, 3), "vigente" if name == c.data.bandeira_tarifaria else ""]
             for name, add in FLAG_ADDITION.items()]
    end2 = table(page, 108, y, [("Bandeira", 46, "l"), ("Adicional", 23, "r"), ("", 23, "c")], flags, style,
                 size=6.2, row_h=3.9, zebra=(245, 245, 245))
    return max(end, end2)
