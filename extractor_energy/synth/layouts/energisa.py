"""Energisa (MT, MS, TO, PB, SE, AC, RO, Minas-Rio, Sul-Sudeste): green side strip, a stack of boxes on the
right ("UNIDADE CONSUMIDORA" ``10/1234567-8``, "CÓD. CLIENTE", "MÊS REF." ``OUT/25``, due date, yellow total).

Variants (Energisa prints three layouts): ``standard`` here, ``sul_sudeste`` (orange header band,
"ROTEIRO / MATRÍCULA / DOM. BANC." strip, ``Dezembro / 2025``; always for Energisa Sul-Sudeste) and
the roll (``roll.py``)."""

from __future__ import annotations

import random
from dataclasses import replace

from extractor_energy.synth.canvas import Page
from extractor_energy.synth.content import BillContent
from extractor_energy.synth import fmt
from extractor_energy.synth.layouts.blocks import Style, band, boxed, table, styled
from extractor_energy.synth.layouts.history import history_bars
from extractor_energy.synth.layouts.marks import logo, qr_block
from extractor_energy.synth.layouts.page2 import second_page
from extractor_energy.synth.layouts.sections import (customer, flag_line, gd_box, items_table, messages_box, nf_block, reaviso, tariff_lines,
                       tax_table, utility_lines)
from extractor_energy.synth.layouts.slip import slip

STYLE = Style(primary=(0, 133, 62), secondary=(120, 195, 120), light=(232, 245, 232), accent=(250, 190, 0), radius=2.5)
MONTH = "abbr2"
RENAME = {"tusd": "Consumo em kWh - TUSD", "te": "Consumo em kWh - TE", "cip": "Contrib de Ilum Pub",
          "bandeira": "Adic. Bandeira {flag}", "inj_tusd": "Energia Atv Injetada GDII TUSD", "inj_te": "Energia Atv Injetada GDII TE"}


def draw(c: BillContent) -> list[Page]:
    """Both pages of an Energisa bill."""
    sul = "SUL-SUDESTE" in c.data.distribuidora or random.Random(c.render_seed + 23).random() < 0.25
    base = replace(STYLE, primary=(235, 110, 20), secondary=(0, 160, 200), light=(253, 232, 214)) if sul else STYLE
    if sul:
        c.printing = replace(c.printing, month_style="name_sp")
    page, d, s = Page(), c.data, styled(base, c)
    page.rect(0, 0, 5, 297, fill=s.primary)
    page.rect(5, 0, 1.5, 297, fill=s.accent)
    if sul:
        page.rect(6.5, 0, 203.5, 5, fill=s.primary)
        page.fit_text(12, 78.5, f"ROTEIRO {c.meter[:3]}.{c.meter[3:6]}   MATRÍCULA {c.nf_number[:6]}   DOM. BANC. NÃO   "
                      f"DOM. ENT. SIM", 122, size=5.4, color=s.label)
    logo(page, "energisa", c.profile.brand, 12, 8)
    utility_lines(page, 12, 27, c, s, width=122, size=5.6)
    boxed(page, 140, 7, 62, 12, "UNIDADE CONSUMIDORA", d.num_instalacao, "num_instalacao", s.primary, value_size=12,
          radius=s.radius)
    boxed(page, 140, 20.5, 62, 11, "CÓD. CLIENTE", d.cod_cliente, "cod_cliente", s.light, text_color=s.primary,
          value_size=10, radius=s.radius)
    boxed(page, 140, 33, 30, 11, c.printing.label("mes"), c.printing.month(d.mes_referencia), "mes_referencia", s.light,
          text_color=s.primary, value_size=10, radius=s.radius)
    boxed(page, 172, 33, 30, 11, c.printing.label("venc"), d.vencimento, "vencimento", s.light, text_color=s.primary,
          value_size=9, radius=s.radius)
    boxed(page, 140, 45.5, 62, 14, c.printing.label("total"), c.printing.total(d.valor_fatura), "valor_fatura", s.accent,
          text_color=(40, 40, 40), value_size=14, radius=s.radius)

    y = band(page, 12, 34, 122, "TITULAR DA UNIDADE CONSUMIDORA", s.light, color=s.primary, radius=s.radius)
    y = customer(page, 14, y + 4, c, s, size=6.5, cep_first=True)
    tariff_lines(page, 14, y + 1, c, s, ("Classificação:", "Tipo de Ligação:", "Tensão:", "Modalidade:"),
                 class_words="upper", tipo_words="upper", size=5.8)
    y = band(page, 12, 82, 190, "LEITURAS", s.primary, radius=s.radius)
    cols = [("Medidor", 24, "l"), ("Data Leitura Anterior", 30, "c"), ("Data Leitura Atual", 30, "c"),
            ("Dias", 12, "c"), ("Leitura Ant.", 20, "r"), ("Leitura Atual", 20, "r"), ("Fator", 12, "r"),
            ("Consumo kWh", 18, "r"), ("Próx. Leitura", 24, "c")]
    row = [c.meter, d.leitura_anterior, d.leitura_atual, str(d.dias_faturados), str(c.reading_prev),
           str(c.reading_curr), str(c.constant), fmt.kwh(d.consumo_kwh), d.proximo_leitura]
    fields = [[None, "leitura_anterior", "leitura_atual", "dias_faturados", None, None, None, "consumo_kwh", "proximo_leitura"]]
    y = table(page, 12, y + 0.5, cols, [row], s, fields=fields, size=6.2, row_h=4.2) + 2
    y = band(page, 12, y, 190, "DESCRIÇÃO DOS PRODUTOS E SERVIÇOS", s.primary, radius=s.radius)
    y = items_table(page, 12, y + 0.5, 190, c, s, ("Produto / Serviço", "Unid.", "Quant.", "Preço Unit. c/ Tributos", "Valor (R$)"),
                    total_label="TOTAL", rename=RENAME, header_fill=False, size=6.0)
    top = y + 1
    y = tax_table(page, 12, top, 100, c, s, titles=("Tributo", "Base Cálculo", "Alíquota %", "Valor R$")) + 2
    flag_line(page, 13, y + 2, c, s, label="Bandeira Tarifária: ", size=6)
    y += 5
    ry = top
    if d.energia_ativa_injetada:
        ry = gd_box(page, 116, ry, 86, c, s, title="GERAÇÃO DISTRIBUÍDA (SCEE)", size=5.6) + 2
    if d.faturas_venc:
        ry = reaviso(page, 116, ry, 86, c, s, month_style="num", title="DÉBITOS ANTERIORES", size=5.6)
    y = max(y, ry) + 1
    y = history_bars(page, 12, y, 150, 36, c, s, month_style=MONTH, title="CONSUMO DOS ÚLTIMOS MESES (kWh)", size=4.8)
    qr_block(page, 170, y - 33, 26, c.render_seed)
    y = nf_block(page, 12, y + 4, 190, c, s)
    messages_box(page, 12, y + 1, 190, 248, c, s, title="INFORMAÇÕES AO CONSUMIDOR")
    slip(page, 252, c, s, ("Unidade Consumidora", "Mês Ref.", "Vencimento", "Total a Pagar"))
    return [page, second_page(c, s, MONTH)]
