"""CEMIG (MG): "Nº do Cliente" / "Nº da Instalação" (masked) top right, "Referente a" ``OUT/2025``,
"Valor a pagar", "Próxima leitura" as ``DD/MM``, history as a bar chart labelled ``OUT/24``."""

from __future__ import annotations

from extractor_energy.synth.canvas import WHITE, Page
from extractor_energy.synth.content import BillContent
from extractor_energy.synth import fmt
from extractor_energy.synth.layouts.blocks import Style, band, boxed, label_value, table, styled
from extractor_energy.synth.layouts.history import history_bars
from extractor_energy.synth.layouts.marks import logo, qr_block
from extractor_energy.synth.layouts.page2 import second_page
from extractor_energy.synth.layouts.sections import (customer, flag_line, gd_box, items_table, messages_box, nf_block, reaviso, tariff_lines,
                       tax_table, utility_lines)
from extractor_energy.synth.layouts.slip import slip

STYLE = Style(primary=(0, 122, 90), secondary=(140, 200, 170), light=(226, 243, 236), accent=(250, 200, 20), radius=0.8)
MONTH = "abbr"
RENAME = {"tusd": "Energia Elétrica TUSD kWh", "te": "Energia Elétrica TE kWh", "bandeira": "Adicional Bandeira {flag}",
          "cip": "Contrib Ilum Publica Municipal", "inj_tusd": "Energia SCEE Injetada TUSD", "inj_te": "Energia SCEE Injetada TE"}


def draw(c: BillContent) -> list[Page]:
    """Both pages of a CEMIG bill."""
    page, d, s = Page(), c.data, styled(STYLE, c)
    page.rect(0, 0, 210, 4, fill=s.primary)
    logo(page, "cemig", c.profile.brand, 8, 8)
    utility_lines(page, 8, 27, c, s, width=98)
    page.rect(110, 8, 92, 20, outline=s.primary, width=0.4, radius=s.radius)
    label_value(page, 113, 13, "Nº DO CLIENTE", d.cod_cliente, "cod_cliente", s, size=11, label_size=6)
    label_value(page, 199, 13, "Nº DA INSTALAÇÃO", d.num_instalacao, "num_instalacao", s, size=11, label_size=6, align="r")
    page.text(156, 25.5, "Consulte sua conta em cemig.com.br ou no app Cemig Atende", size=4.8, color=s.label, align="c")

    boxed(page, 8, 34, 62, 14, c.printing.label("mes"), c.printing.month(d.mes_referencia), "mes_referencia", s.light,
          text_color=s.primary, value_size=13, radius=s.radius)
    boxed(page, 72, 34, 62, 14, "Vencimento", d.vencimento, "vencimento", s.light, text_color=s.primary,
          value_size=13, radius=s.radius)
    boxed(page, 136, 34, 66, 14, c.printing.label("total"), c.printing.total(d.valor_fatura), "valor_fatura", s.primary,
          value_size=14, radius=s.radius)

    page.text(8, 54, "Dados do cliente", size=6, bold=True, color=s.primary)
    customer(page, 8, 58.5, c, s, size=6.6, cep_first=True)
    tariff_lines(page, 124, 54, c, s, ("Classe:", "Tipo de fornecimento:", "Tensão nominal:", "Modalidade tarifária:"),
                 class_words="title", tipo_words="title", size=5.8)

    y = band(page, 8, 82, 194, "Datas de leitura e medição", s.primary)
    cols = [("Leitura anterior", 26, "c"), ("Leitura atual", 26, "c"), ("Nº de dias", 18, "c"),
            ("Próxima leitura", 26, "c"), ("Medidor", 22, "c"), ("Leitura anterior", 20, "r"),
            ("Leitura atual", 20, "r"), ("Constante", 16, "r"), ("Consumo kWh", 20, "r")]
    row = [d.leitura_anterior, d.leitura_atual, str(d.dias_faturados), fmt.dm(fmt.parse_dmy(d.proximo_leitura)), c.meter,
           str(c.reading_prev), str(c.reading_curr), str(c.constant), fmt.kwh(d.consumo_kwh)]
    fields = [["leitura_anterior", "leitura_atual", "dias_faturados", "proximo_leitura"] + [None] * 4 + ["consumo_kwh"]]
    y = table(page, 8, y + 0.5, cols, [row], s, fields=fields, size=6.4, row_h=4.2, grid=True) + 2.5
    y = items_table(page, 8, y, 194, c, s, ("Valores Faturados", "Unid.", "Quant.", "Preço unit. (R$) com tributos",
                                            "Valor (R$)"), total_label="Total", rename=RENAME, size=6.0)
    top = y + 1
    y = band(page, 8, top, 100, "Informações de Tributos", s.light, color=s.primary)
    y = tax_table(page, 8, y + 0.5, 100, c, s, titles=("Tributo", "Base (R$)", "Alíquota (%)", "Valor (R$)"),
                  header_fill=False, grid=True)
    flag_line(page, 9, y + 4, c, s, label="Bandeira tarifária vigente: ", size=6)
    ry = top
    if d.energia_ativa_injetada:
        ry = gd_box(page, 112, ry, 90, c, s, title="Informações SCEE (geração distribuída)", size=5.6) + 2
    if d.faturas_venc:
        ry = reaviso(page, 112, ry, 90, c, s, month_style=MONTH, title="AVISO DE DÉBITOS", size=5.6)
    y = max(y + 6, ry) + 1
    y = history_bars(page, 8, y, 150, 38, c, s, month_style="abbr2", title="Histórico de Consumo (kWh)", size=4.8) + 2
    qr_block(page, 166, y - 36, 28, c.render_seed)
    page.text(180, y - 3, "Pix", size=6.5, bold=True, color=s.primary, align="c")
    y = nf_block(page, 8, y + 2, 194, c, s)
    messages_box(page, 8, y + 1, 194, 248, c, s, title="Mensagens importantes")
    slip(page, 252, c, s, ("Nº da Instalação", "Referente a", "Vencimento", "Valor a pagar"), month_style=MONTH)
    page.rect(0, 293, 210, 4, fill=s.primary)
    page.text(105, 295.9, "Atendimento 24 horas pelo aplicativo e pelo site", size=4.6, color=WHITE, align="c")
    return [page, second_page(c, s, MONTH)]

