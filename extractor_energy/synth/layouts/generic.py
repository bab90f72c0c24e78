"""Any other utility (Neoenergia, EDP, Celesc, ...): a neutral bill with "Código do Cliente",
"Unidade Consumidora", "Referência" ``10/2025`` and a stacked summary box top right."""

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

STYLE = Style(primary=(70, 70, 130), secondary=(150, 150, 200), light=(236, 236, 246), accent=(250, 200, 30), radius=1.5)
MONTH = "num"


def draw(c: BillContent) -> list[Page]:
    """Both pages of a generic bill."""
    page, d, s = Page(), c.data, styled(STYLE, c)
    page.rect(0, 0, 210, 2.5, fill=s.primary)
    logo(page, "generic", c.profile.brand, 8, 8)
    utility_lines(page, 8, 27, c, s, width=118)
    page.rect(132, 7, 70, 52, fill=s.light, radius=s.radius)
    label_value(page, 136, 12, "Código do Cliente", d.cod_cliente, "cod_cliente", s, size=10, label_size=5.8)
    label_value(page, 136, 22, "Unidade Consumidora", d.num_instalacao, "num_instalacao", s, size=10, label_size=5.8)
    label_value(page, 136, 32, c.printing.label("mes"), c.printing.month(d.mes_referencia), "mes_referencia", s, size=10, label_size=5.8)
    label_value(page, 176, 32, c.printing.label("venc"), d.vencimento, "vencimento", s, size=10, label_size=5.8)
    page.rect(134, 41, 66, 16, fill=s.primary, radius=s.radius)
    label_value(page, 167, 46, c.printing.label("total"), c.printing.total(d.valor_fatura), "valor_fatura", s, size=14,
                label_size=6, align="c", color=WHITE, label_color=(215, 215, 240))

    y = band(page, 8, 34, 120, "DADOS DO CLIENTE", s.primary, radius=s.radius)
    y = customer(page, 10, y + 4, c, s, size=6.5)
    tariff_lines(page, 10, y + 1, c, s, ("Classificação:", "Tipo de Fornecimento:", "Tensão Nominal:", "Modalidade:"),
                 class_words="long", tipo_words="upper", size=5.8)
    y = band(page, 8, 84, 194, "LEITURAS", s.primary, radius=s.radius)
    cols = [("Medidor", 26, "l"), ("Leitura Anterior", 28, "c"), ("Leitura Atual", 28, "c"), ("Nº de Dias", 20, "c"),
            ("Próxima Leitura", 28, "c"), ("Leituras (Ant./Atual)", 40, "c"), ("Consumo (kWh)", 24, "r")]
    row = [c.meter, d.leitura_anterior, d.leitura_atual, str(d.dias_faturados), d.proximo_leitura,
           f"{c.reading_prev} / {c.reading_curr}", fmt.kwh(d.consumo_kwh)]
    fields = [[None, "leitura_anterior", "leitura_atual", "dias_faturados", "proximo_leitura", None, "consumo_kwh"]]
    y = table(page, 8, y + 0.5, cols, [row], s, fields=fields, size=6.4, row_h=4.2) + 2
    top = y
    y = band(page, 8, top, 126, "DESCRIÇÃO DO FATURAMENTO", s.primary, radius=s.radius)
    y = items_table(page, 8, y + 0.5, 126, c, s, ("Descrição", "Unid.", "Quant.", "Tarifa c/ Trib.", "Valor (R$)"),
                    total_label="TOTAL", header_fill=False, size=5.8)
    y = band(page, 8, y + 1, 126, "TRIBUTOS", s.light, color=s.primary, radius=s.radius)
    y = tax_table(page, 8, y + 0.5, 126, c, s, header_fill=False) + 2
    flag_line(page, 9, y + 2, c, s, size=6)
    y += 5
    if d.energia_ativa_injetada:
        y = gd_box(page, 8, y, 126, c, s) + 1.5
    if d.faturas_venc:
        y = reaviso(page, 8, y, 126, c, s, month_style=MONTH)
    ry = band(page, 138, top, 64, "HISTÓRICO DE CONSUMO", s.primary, radius=s.radius)
    ry = history_table(page, 138, ry + 0.5, 64, c, s, month_style=MONTH, titles=("Mês/Ano", "kWh", "Dias"))
    qr_block(page, 142, ry + 4, 22, c.render_seed)
    page.text(168, ry + 10, "Pague com Pix", size=6.2, bold=True, color=s.primary)
    y = nf_block(page, 8, max(y, ry + 28) + 3, 194, c, s)
    messages_box(page, 8, y + 1, 194, 248, c, s)
    slip(page, 252, c, s, ("Unidade Consumidora", "Referência", "Vencimento", "Total a Pagar"))
    return [page, second_page(c, s, MONTH)]
