"""Copel (PR): orange-bordered "UNIDADE CONSUMIDORA" box, a blue strip with "REFERÊNCIA" / "VENCIMENTO" /
"VALOR A PAGAR", no separate customer code, 12-month history table beside the taxes."""

from __future__ import annotations

from extractor_energy.synth.canvas import WHITE, Page
from extractor_energy.synth.content import BillContent
from extractor_energy.synth import fmt
from extractor_energy.synth.layouts.blocks import Style, band, label_value, table, styled
from extractor_energy.synth.layouts.history import history_table
from extractor_energy.synth.layouts.marks import logo, qr_block
from extractor_energy.synth.layouts.page2 import second_page
from extractor_energy.synth.layouts.sections import (customer, flag_line, gd_box, items_table, messages_box, nf_block, reaviso, tariff_lines,
                       tax_table, utility_lines)
from extractor_energy.synth.layouts.slip import slip

STYLE = Style(primary=(0, 56, 130), secondary=(240, 120, 0), light=(230, 236, 246), accent=(240, 120, 0), radius=1.0)
MONTH = "num"
RENAME = {"tusd": "ENERGIA ELET USO SISTEMA", "te": "ENERGIA ELET CONSUMO", "cip": "CONT ILUMIN PUBLICA MUNICIPIO",
          "bandeira": "ENERGIA ELET BANDEIRA {flag}"}


def draw(c: BillContent) -> list[Page]:
    """Both pages of a Copel bill."""
    page, d, s = Page(), c.data, styled(STYLE, c)
    logo(page, "copel", c.profile.brand, 8, 8)
    page.text(62, 13, "FATURA DE ENERGIA ELÉTRICA", size=10, bold=True, color=s.primary)
    page.text(62, 18, "NF3e - Nota Fiscal de Energia Elétrica Eletrônica", size=6, color=s.label)
    utility_lines(page, 8, 26, c, s, width=110)
    page.rect(134, 8, 68, 20, outline=s.secondary, width=0.8, radius=s.radius)
    label_value(page, 168, 13.5, "UNIDADE CONSUMIDORA", d.num_instalacao, "num_instalacao", s, size=15, label_size=6.5,
                align="c", color=s.primary)
    page.rect(8, 33, 194, 13, fill=s.primary, radius=s.radius)
    white = (200, 215, 235)
    label_value(page, 14, 37.5, c.printing.label("mes"), c.printing.month(d.mes_referencia), "mes_referencia", s, size=11,
                label_size=5.8, color=WHITE, label_color=white)
    label_value(page, 80, 37.5, "VENCIMENTO", d.vencimento, "vencimento", s, size=11, label_size=5.8, color=WHITE,
                label_color=white)
    label_value(page, 196, 37.5, c.printing.label("total"), c.printing.total(d.valor_fatura), "valor_fatura", s, size=12,
                label_size=5.8, align="r", color=WHITE, label_color=white)

    page.text(8, 52, "DADOS DO CLIENTE", size=6, bold=True, color=s.secondary)
    y = customer(page, 8, 56.5, c, s, size=6.4)
    page.text(8, y + 2, "DADOS TÉCNICOS", size=6, bold=True, color=s.secondary)
    ty = tariff_lines(page, 8, y + 6, c, s, ("Classe:", "Ligação:", "Tensão Nominal:", "Modalidade Tarifária:"),
                      class_words="long", tipo_words="upper", size=5.8)
    ry = band(page, 124, 50, 78, "LEITURAS", s.secondary, radius=s.radius)
    rows = [["Leitura anterior", d.leitura_anterior], ["Leitura atual", d.leitura_atual], ["Dias", str(d.dias_faturados)],
            ["Próxima leitura", d.proximo_leitura], ["Medidor", c.meter], ["Consumo kWh", fmt.kwh(d.consumo_kwh)]]
    fields = [[None, f] for f in ("leitura_anterior", "leitura_atual", "dias_faturados", "proximo_leitura", None, "consumo_kwh")]
    table(page, 124, ry + 0.3, [("Data/Grandeza", 44, "l"), ("Valor", 34, "r")], rows, s, fields=fields, size=6.2,
          row_h=3.7, zebra=s.light)

    y = band(page, 8, max(88, ty - 1), 194, "DISCRIMINAÇÃO DO FATURAMENTO", s.primary, radius=s.radius)
    y = items_table(page, 8, y + 0.5, 194, c, s, ("PRODUTO", "UN", "QUANTIDADE", "TARIFA UNIT. C/ TRIB.", "VALOR R$"),
                    total_label="VALOR A PAGAR", rename=RENAME, header_fill=False, size=6.0)
    top = y + 1
    hy = band(page, 8, top, 62, "HISTÓRICO kWh", s.secondary, radius=s.radius)
    hy = history_table(page, 8, hy + 0.3, 62, c, s, month_style="abbr", titles=("MÊS", "kWh", "DIAS"), size=5.8, row_h=3.3)
    ty = band(page, 74, top, 128, "TRIBUTOS", s.secondary, radius=s.radius)
    ty = tax_table(page, 74, ty + 0.3, 128, c, s, header_fill=True) + 2
    flag_line(page, 75, ty + 2, c, s, label="Bandeira tarifária: ", size=6)
    ty += 5
    if d.energia_ativa_injetada:
        ty = gd_box(page, 74, ty, 128, c, s, title="MICRO/MINIGERAÇÃO - SISTEMA DE COMPENSAÇÃO", size=5.6) + 1.5
    if d.faturas_venc:
        ty = reaviso(page, 74, ty, 128, c, s, month_style="num", title="REAVISO - FATURAS VENCIDAS", size=5.6)
    qr_block(page, 76, ty + 2, 20, c.render_seed)
    page.text(100, ty + 8, "PIX COPEL", size=6.5, bold=True, color=s.primary)
    page.text(100, ty + 12, "Pague pelo aplicativo do seu banco", size=5.2, color=s.label)
    y = nf_block(page, 8, max(hy, ty + 24) + 3, 194, c, s)
    messages_box(page, 8, y + 1, 194, 248, c, s, title="MENSAGENS AO CONSUMIDOR")
    slip(page, 252, c, s, ("Unidade Consumidora", "Referência", "Vencimento", "Valor a Pagar"))
    return [page, second_page(c, s, MONTH)]
