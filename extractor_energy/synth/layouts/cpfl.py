"""CPFL (Paulista, Piratininga, Santa Cruz, RGE): blue header band with "SEU CÓDIGO" and "Nº DA INSTALAÇÃO",
reference month as ``Junho/2025``, credits with a trailing minus, two-column history table.

Two variants, as real CPFL bills show side by side: ``old`` (blue; "CONTA MÊS", totals without
R$, the "VAMOS JUNTOS EVITAR O CORTE?" stamp) and ``new`` (2025 DANF3E: teal header, LOTE/Roteiro
strip, "Ref: mês/ano" with ``DEZ/2025``, orange "Aviso importante" box)."""

from __future__ import annotations

import random
from dataclasses import replace

from extractor_energy.synth.canvas import WHITE, Page
from extractor_energy.synth.content import BillContent
from extractor_energy.synth import fmt
from extractor_energy.synth.layouts.blocks import Style, band, boxed, label_value, run, table, styled
from extractor_energy.synth.layouts.history import history_table
from extractor_energy.synth.layouts.marks import logo, qr_block
from extractor_energy.synth.layouts.page2 import second_page
from extractor_energy.synth.layouts.sections import customer, flag_line, gd_box, items_table, messages_box, nf_block, reaviso, tariff_lines, tax_table
from extractor_energy.synth.layouts.slip import slip

STYLE = Style(primary=(0, 84, 166), secondary=(0, 160, 220), light=(222, 235, 248), accent=(0, 150, 160), radius=1.5)
MONTH = "name"
RENAME = {"tusd": "Consumo Uso Sistema [kWh] - TUSD", "te": "Consumo [kWh] - TE", "cip": "Contribuição Custeio Ilum. Pública",
          "bandeira": "Adicional Band. {flag}"}


def draw(c: BillContent) -> list[Page]:
    """Both pages of a CPFL bill."""
    variant = random.Random(c.render_seed + 21).choice(["old", "new"])
    if variant == "new":
        c.printing = replace(c.printing, month_style="abbr", labels={**c.printing.labels, "mes": "Ref: mês/ano"})
        base = replace(STYLE, primary=(0, 120, 140), secondary=(40, 160, 80), light=(220, 240, 242), accent=(40, 160, 80))
    else:
        c.printing = replace(c.printing, total_style="plain", labels={**c.printing.labels, "mes": "CONTA MÊS"})
        base = STYLE
    page, d, s = Page(), c.data, styled(base, c)
    page.rect(0, 0, 210, 32, fill=s.primary)
    page.rect(6, 5, 50, 20, fill=WHITE, radius=2)
    logo(page, "cpfl", c.profile.brand, 9, 8)
    page.fit_text(62, 12, d.distribuidora, 70, size=9, bold=True, color=WHITE, field="distribuidora")
    page.text(62, 17, f"CNPJ {c.identity.cnpj_text}  IE {c.identity.ie}", size=5.8, color=WHITE)
    page.text(62, 22, "DANF3E - Documento Auxiliar da Nota Fiscal de Energia Elétrica Eletrônica", size=5.2, color=WHITE)
    page.rect(138, 5, 66, 23, fill=(0, 62, 128), radius=2)
    label_value(page, 142, 10, "SEU CÓDIGO", d.cod_cliente, "cod_cliente", s, size=10, label_size=5.5, color=WHITE,
                label_color=(190, 215, 240))
    label_value(page, 142, 20, "Nº DA INSTALAÇÃO", d.num_instalacao, "num_instalacao", s, size=10, label_size=5.5, color=WHITE,
                label_color=(190, 215, 240))

    boxed(page, 8, 36, 62, 14, c.printing.label("mes"), c.printing.month(d.mes_referencia), "mes_referencia", s.light,
          text_color=s.primary, value_size=12, radius=s.radius)
    boxed(page, 72, 36, 62, 14, c.printing.label("venc"), d.vencimento, "vencimento", s.light, text_color=s.primary,
          value_size=12, radius=s.radius)
    boxed(page, 136, 36, 66, 14, c.printing.label("total"), c.printing.total(d.valor_fatura), "valor_fatura", s.accent,
          value_size=13, radius=s.radius)

    if variant == "new":
        page.fit_text(8, 53.5, f"LOTE {c.meter[:2]}   Roteiro de Leitura {c.meter[2:6]}-{c.nf_number[:4]}   Nº Medidor "
                      f"{c.meter}   Páginas 1/2   Data de Apresentação {fmt.dmy(c.emission)}", 194, size=5.4,
                      color=s.label)
    y = customer(page, 8, 57, c, s, size=6.6)
    y = tariff_lines(page, 8, y + 1.5, c, s, ("Classificação:", "Fornecimento:", "Tensão Nominal:", "Modalidade Tarifária:"),
                 class_words="long", tipo_words="title", size=5.8)
    ry = band(page, 112, 54, 90, "DATAS E LEITURAS", s.secondary, radius=s.radius)
    cols = [("Anterior", 24, "c"), ("Atual", 24, "c"), ("Dias", 14, "c"), ("Próxima", 28, "c")]
    ry = table(page, 112, ry + 0.5, cols, [[d.leitura_anterior, d.leitura_atual, str(d.dias_faturados), d.proximo_leitura]],
               s, fields=[["leitura_anterior", "leitura_atual", "dias_faturados", "proximo_leitura"]], size=6.3, row_h=4)
    run(page, 113, ry + 4, [("Medidor ", None), (c.meter, None), ("   Leituras ", None),
                            (f"{c.reading_prev} - {c.reading_curr}", None)], size=5.8, color=s.ink)
    run(page, 113, ry + 8, [("Consumo faturado (kWh): ", None), (fmt.kwh(d.consumo_kwh), "consumo_kwh")], size=6.5,
        color=s.ink, bold_fields=True)
    flag_line(page, 113, ry + 12, c, s, label="Bandeira: ", size=6.2)

    y = band(page, 8, max(y, ry + 15) + 1, 194, "DEMONSTRATIVO DE FATURAMENTO", s.primary, radius=s.radius)
    y = items_table(page, 8, y + 0.5, 194, c, s, ("Descrição", "Unid.", "Quantidade", "Tarifa c/ Impostos", "Valor (R$)"),
                    total_label="TOTAL A PAGAR", rename=RENAME, trailing_minus=True, header_fill=False, size=6.0)
    top = y + 1
    y = band(page, 8, top, 100, "TRIBUTOS", s.secondary, radius=s.radius)
    y = tax_table(page, 8, y + 0.5, 100, c, s, header_fill=True) + 2
    if d.energia_ativa_injetada:
        y = gd_box(page, 8, y, 100, c, s, title="SCEE - MICRO E MINIGERAÇÃO DISTRIBUÍDA", size=5.6) + 1.5
    if d.faturas_venc:
        y = reaviso(page, 8, y, 100, c, s, month_style="num", title="FATURAS EM ABERTO", size=5.6)
    ry = band(page, 112, top, 90, "HISTÓRICO DE CONSUMO", s.secondary, radius=s.radius)
    ry = history_table(page, 112, ry + 0.5, 90, c, s, month_style="abbr2", columns=2, titles=("Mês", "kWh", "Dias"),
                       size=5.8, row_h=3.4)
    qr_block(page, 114, ry + 4, 20, c.render_seed)
    page.text(138, ry + 10, "Pix: pague pelo QR Code", size=6, bold=True, color=s.primary)
    page.text(138, ry + 14, "Fatura digital: cpfl.com.br", size=5.2, color=s.label)
    y = nf_block(page, 8, max(y, ry + 26) + 3, 194, c, s)
    if variant == "new" and 248 - y > 26:
        page.rect(8, y + 1, 194, 9, fill=(253, 226, 200), outline=(240, 120, 30), width=0.3, radius=1.5)
        page.text(11, y + 4.6, "Aviso importante", size=6.2, bold=True, color=(200, 80, 10))
        page.text(11, y + 8.2, "CDE Escassez Hídrica: valores já incluídos na tarifa. IBS (0,10%) e CBS (0,90%) "
                  "simulados, sem cobrança.", size=5.2, color=s.ink)
        y += 10
    elif variant == "old" and 248 - y > 20:
        page.rotated_text(105, y - 30, "VAMOS JUNTOS EVITAR O CORTE?", 13, 8, (235, 190, 190))
    messages_box(page, 8, y + 1, 194, 248, c, s, title="AVISOS")
    slip(page, 252, c, s, ("Nº da Instalação", "Referência", "Vencimento", "Total a Pagar"))
    return [page, second_page(c, s, MONTH)]
