"""Enel (RJ, CE, SP): big green "INSTALAÇÃO / UNIDADE CONSUMIDORA" box top right, light-blue box with
"MÊS/ANO" and "TOTAL A PAGAR", "Nº DO CLIENTE" in the customer block, history as a bar chart."""

from __future__ import annotations

from extractor_energy.synth.canvas import Page
from extractor_energy.synth.content import BillContent
from extractor_energy.synth import fmt
from extractor_energy.synth.layouts.blocks import Style, band, boxed, label_value, run, table, styled
from extractor_energy.synth.layouts.history import history_bars
from extractor_energy.synth.layouts.marks import logo, qr_block
from extractor_energy.synth.layouts.page2 import second_page
from extractor_energy.synth.layouts.sections import (customer, flag_line, gd_box, items_table, messages_box, nf_block, reaviso, tariff_lines,
                       tax_table, utility_lines)
from extractor_energy.synth.layouts.slip import slip

STYLE = Style(primary=(0, 133, 73), secondary=(110, 185, 230), light=(214, 236, 250), accent=(20, 30, 70), radius=2.0)
MONTH = "num"
RENAME = {"tusd": "CONSUMO USO SISTEMA [KWh]-TUSD", "te": "CONSUMO - TE", "bandeira": "ADICIONAL BANDEIRA {flag}",
          "cip": "CONTRIB. CUSTEIO IP-CIP", "inj_tusd": "ENERGIA INJETADA TUSD GD II", "inj_te": "ENERGIA INJETADA TE GD II"}


def draw(c: BillContent) -> list[Page]:
    """Both pages of an Enel bill."""
    page, d, s = Page(), c.data, styled(STYLE, c)
    logo(page, "enel", c.profile.brand, 8, 7)
    utility_lines(page, 8, 26, c, s, width=112)
    boxed(page, 126, 7, 76, 18, "INSTALAÇÃO / UNIDADE CONSUMIDORA", d.num_instalacao, "num_instalacao", s.primary,
          value_size=16, radius=s.radius)
    page.rect(126, 27, 76, 25, fill=s.light, radius=s.radius)
    label_value(page, 130, 32, c.printing.label("mes"), c.printing.month(d.mes_referencia), "mes_referencia", s, size=12,
                label_size=6, color=s.accent)
    label_value(page, 198, 32, c.printing.label("total"), c.printing.total(d.valor_fatura), "valor_fatura", s, size=12,
                label_size=6, align="r", color=s.accent)
    run(page, 130, 48.5, [("VENCIMENTO  ", None), (d.vencimento, "vencimento")], size=8, bold=True, color=s.accent)

    page.rect(8, 33, 114, 32, outline=s.rule, width=0.2, radius=s.radius)
    page.text(11, 37.2, "DADOS DO CLIENTE", size=5.6, bold=True, color=s.primary)
    y = customer(page, 11, 41.5, c, s, size=6.6)
    run(page, 11, y + 0.6, [("Nº DO CLIENTE: ", None), (d.cod_cliente, "cod_cliente")], size=7, bold_fields=True, color=s.ink)
    y = tariff_lines(page, 128, 57, c, s, ("CLASSIFICAÇÃO:", "LIGAÇÃO:", "TENSÃO:", "MODALIDADE TARIFÁRIA:"),
                     class_words="upper", tipo_words="upper", size=5.6)

    y = band(page, 8, max(70, y + 1), 194, "DADOS DE LEITURA E MEDIÇÃO", s.primary, radius=s.radius)
    cols = [("Nº MEDIDOR", 22, "l"), ("LEITURA ANTERIOR", 26, "c"), ("LEITURA ATUAL", 26, "c"), ("Nº DIAS", 16, "c"),
            ("LEIT. ANT.", 20, "r"), ("LEIT. ATUAL", 20, "r"), ("CONST.", 14, "r"), ("CONSUMO kWh", 22, "r"),
            ("PRÓXIMA LEITURA", 28, "c")]
    row = [c.meter, d.leitura_anterior, d.leitura_atual, str(d.dias_faturados), str(c.reading_prev), str(c.reading_curr),
           str(c.constant), fmt.kwh(d.consumo_kwh), d.proximo_leitura]
    fields = [[None, "leitura_anterior", "leitura_atual", "dias_faturados", None, None, None, "consumo_kwh", "proximo_leitura"]]
    y = table(page, 8, y + 0.5, cols, [row], s, fields=fields, size=6.4, row_h=4.2) + 2

    top = y
    y = band(page, 8, top, 122, "DESCRIÇÃO DA FATURA", s.accent, radius=s.radius)
    y = items_table(page, 8, y + 0.5, 122, c, s, ("ITENS DE FATURA", "UNID.", "QUANT.", "PREÇO UNIT. (R$)", "VALOR (R$)"),
                    total_label="TOTAL", rename=RENAME, header_fill=False, size=5.8)
    ry = band(page, 134, top, 68, "TRIBUTOS", s.accent, radius=s.radius)
    ry = tax_table(page, 134, ry + 0.5, 68, c, s, titles=("TRIBUTO", "BASE (R$)", "ALÍQ. (%)", "VALOR (R$)"), size=5.6)
    flag_line(page, 135, ry + 4, c, s, label="BANDEIRA VIGENTE: ", size=5.8)
    qr_block(page, 136, ry + 8, 20, c.render_seed)
    page.text(160, ry + 13, "PAGUE COM PIX", size=6.2, bold=True, color=s.primary)
    page.text(160, ry + 17, "Leia o QR Code no", size=5.2, color=s.label)
    page.text(160, ry + 20, "app do seu banco", size=5.2, color=s.label)
    y = max(y, ry + 30) + 2
    y = history_bars(page, 8, y, 194, 38, c, s, month_style="num", title="HISTÓRICO DE CONSUMO (kWh)", size=5.2) + 3
    left, right = y, y
    if d.energia_ativa_injetada:
        left = gd_box(page, 8, left, 95, c, s, title="SCEE - ENERGIA INJETADA", size=5.6) + 2
    if d.faturas_venc:
        right = reaviso(page, 107, right, 95, c, s, month_style="num", title="DÉBITOS ANTERIORES EM ABERTO", size=5.6)
    left = nf_block(page, 8, max(left, right) + 3, 194, c, s)
    messages_box(page, 8, left + 1, 194, 248, c, s, title="MENSAGENS")
    page.rect(0, 0, 210, 3, fill=s.primary)
    page.text(105, 250.2, "enel.com.br  -  Central de Relacionamento 24h", size=5, color=s.label, align="c")
    slip(page, 252, c, s, ("INSTALAÇÃO", "MÊS/ANO", "VENCIMENTO", "TOTAL A PAGAR"))
    return [page, second_page(c, s, MONTH)]
