"""Light (RJ): "Código da Instalação" and "Código do Cliente" in a grey box, an orange strip with
"Mês/Ano" / "Vencimento" / "Total a Pagar", readings as a vertical grid, 12-month history table."""

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

STYLE = Style(primary=(225, 100, 15), secondary=(70, 70, 70), light=(253, 236, 222), accent=(250, 180, 0), radius=0.0)
MONTH = "num"
RENAME = {"tusd": "Uso do Sistema de Distribuição - TUSD", "te": "Energia Elétrica - TE", "cip": "Contribuição Iluminação Pública",
          "bandeira": "Acréscimo Bandeira {flag}"}


def draw(c: BillContent) -> list[Page]:
    """Both pages of a Light bill."""
    page, d, s = Page(), c.data, styled(STYLE, c)
    logo(page, "light", c.profile.brand, 8, 8)
    page.text(56, 14, "CONTA DE ENERGIA ELÉTRICA", size=11, bold=True, color=s.secondary)
    page.text(56, 19, "Nota Fiscal / Conta de Energia Elétrica Eletrônica", size=6, color=s.label)
    utility_lines(page, 8, 27, c, s, width=110)
    page.rect(130, 6, 72, 26, fill=(235, 235, 235))
    label_value(page, 134, 11, "Código da Instalação", d.num_instalacao, "num_instalacao", s, size=12, label_size=6)
    label_value(page, 134, 22.5, "Código do Cliente", d.cod_cliente, "cod_cliente", s, size=12, label_size=6)

    page.rect(8, 36, 194, 15, outline=s.primary, width=0.6)
    page.rect(8, 36, 3, 15, fill=s.primary)
    label_value(page, 16, 41, c.printing.label("mes"), c.printing.month(d.mes_referencia), "mes_referencia", s, size=13, label_size=6.5)
    label_value(page, 82, 41, "Vencimento", d.vencimento, "vencimento", s, size=13, label_size=6.5)
    label_value(page, 198, 41, c.printing.label("total"), c.printing.total(d.valor_fatura), "valor_fatura", s, size=14,
                label_size=6.5, align="r", color=s.primary)

    y = band(page, 8, 55, 118, "Dados do Cliente", s.secondary)
    y = customer(page, 10, y + 4, c, s, size=6.5)
    tariff_lines(page, 10, y + 1.5, c, s, ("Classe/Subclasse:", "Tipo de Ligação:", "Tensão Nominal:", "Modalidade:"),
                 class_words="upper", tipo_words="abbr", size=5.8)
    ry = band(page, 130, 55, 72, "Leituras", s.secondary)
    rows = [["Medidor", c.meter], ["Leitura anterior", d.leitura_anterior], ["Leitura atual", d.leitura_atual],
            ["Nº de dias", str(d.dias_faturados)], ["Próxima leitura", d.proximo_leitura],
            ["Leitura (ant./atual)", f"{c.reading_prev} / {c.reading_curr}"], ["Consumo (kWh)", fmt.kwh(d.consumo_kwh)]]
    fields = [[None, f] for f in (None, "leitura_anterior", "leitura_atual", "dias_faturados", "proximo_leitura", None, "consumo_kwh")]
    ry = table(page, 130, ry, [("", 40, "l"), ("", 32, "r")], rows, s, fields=fields, size=6.2, row_h=3.7, grid=True,
               header=False)

    y = band(page, 8, max(ry, 96) + 3, 194, "Descrição do Faturamento", s.primary)
    y = items_table(page, 8, y + 0.5, 194, c, s, ("Item", "Unid.", "Quant.", "Tarifa c/ Tributos (R$)", "Valor (R$)"),
                    total_label="Total a Pagar", rename=RENAME, header_fill=False, zebra=False, size=6.0)
    top = y + 1
    y = band(page, 8, top, 96, "Tributos", s.secondary)
    y = tax_table(page, 8, y + 0.5, 96, c, s, grid=True, header_fill=False)
    flag_line(page, 9, y + 4, c, s, label="Bandeira do período: ", size=6)
    y += 7
    if d.energia_ativa_injetada:
        y = gd_box(page, 8, y, 96, c, s, title="Geração Distribuída - Compensação", size=5.6) + 1
    if d.faturas_venc:
        y = reaviso(page, 8, y + 1, 96, c, s, month_style="abbr", title="Faturas em Aberto", size=5.6)
    ry = band(page, 108, top, 94, "Histórico de Consumo (kWh)", s.secondary)
    ry = history_table(page, 108, ry + 0.5, 94, c, s, month_style="abbr", columns=2, titles=("Mês", "kWh", "Dias"),
                       size=5.8, row_h=3.4)
    qr_block(page, 110, ry + 4, 20, c.render_seed)
    page.text(134, ry + 10, "Pague com Pix pelo QR Code", size=5.8, bold=True, color=s.primary)
    page.text(134, ry + 14, "Débito automático e fatura digital", size=5.2, color=s.label)
    y = nf_block(page, 8, max(y, ry + 26) + 3, 194, c, s)
    messages_box(page, 8, y + 1, 194, 248, c, s, title="Mensagens")
    slip(page, 252, c, s, ("Código da Instalação", "Mês/Ano", "Vencimento", "Total a Pagar"), month_style=MONTH)
    page.rect(0, 293, 210, 4, fill=s.secondary)
    page.text(105, 295.9, "light.com.br  -  Agência virtual", size=4.6, color=WHITE, align="c")
    return [page, second_page(c, s, MONTH)]
