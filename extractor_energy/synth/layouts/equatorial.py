"""Equatorial (GO, MA, PA, PI, AL, AP, RS): red "Unidade Consumidora" box, orange "Parceiro de Negócio",
three boxes "Conta mês" (``7/2025``) / "Total a pagar" / "Vencimento", "Datas das Leituras" table."""

from __future__ import annotations

from extractor_energy.synth.canvas import WHITE, Page
from extractor_energy.synth.content import BillContent
from extractor_energy.synth import fmt
from extractor_energy.synth.layouts.blocks import Style, band, boxed, table, styled
from extractor_energy.synth.layouts.history import history_table
from extractor_energy.synth.layouts.marks import logo, qr_block
from extractor_energy.synth.layouts.page2 import second_page
from extractor_energy.synth.layouts.sections import (customer, flag_line, gd_box, items_table, messages_box, nf_block, reaviso, tariff_lines,
                       tax_table, utility_lines)
from extractor_energy.synth.layouts.slip import slip

STYLE = Style(primary=(0, 75, 145), secondary=(200, 30, 45), light=(228, 236, 246), accent=(245, 130, 32))
MONTH = "short"
RENAME = {"tusd": "Consumo (kWh) - TUSD", "te": "Consumo (kWh) - TE", "bandeira": "Adc Bandeira {flag}",
          "cip": "Contrib. Ilum. Pública Municipal"}


def draw(c: BillContent) -> list[Page]:
    """Both pages of an Equatorial bill."""
    page, d, s = Page(), c.data, styled(STYLE, c)
    logo(page, "equatorial", c.profile.brand, 8, 8)
    utility_lines(page, 8, 27, c, s, width=128)
    boxed(page, 142, 8, 60, 13, c.printing.label("inst"), d.num_instalacao, "num_instalacao", s.secondary, value_size=12)
    boxed(page, 142, 22.5, 60, 11, c.printing.label("cliente"), d.cod_cliente, "cod_cliente", s.accent, value_size=10)
    if d.conta_contrato:
        boxed(page, 142, 35, 60, 11, "CONTA CONTRATO", d.conta_contrato, "conta_contrato", (110, 110, 110), value_size=10)
    page.rect(8, 34, 130, 28, fill=(246, 246, 246), radius=s.radius)
    page.text(11, 38.5, "DADOS DO CLIENTE", size=5.5, bold=True, color=s.primary)
    customer(page, 11, 43, c, s, size=6.8)
    page.text(172, 52, "Apresente esta fatura ao", size=5.2, color=s.label, align="c")
    page.text(172, 55, "efetuar o pagamento", size=5.2, color=s.label, align="c")

    boxed(page, 8, 66, 62, 15, c.printing.label("mes"), c.printing.month(d.mes_referencia), "mes_referencia", s.light,
          text_color=s.primary, value_size=13)
    boxed(page, 72, 66, 66, 15, c.printing.label("total"), c.printing.total(d.valor_fatura), "valor_fatura", s.secondary,
          value_size=14)
    boxed(page, 140, 66, 62, 15, c.printing.label("venc"), d.vencimento, "vencimento", s.light, text_color=s.primary, value_size=13)

    y = band(page, 8, 84, 128, "DATAS DAS LEITURAS", s.primary, radius=s.radius)
    cols = [("Leitura Anterior", 26, "c"), ("Leitura Atual", 26, "c"), ("Nº de Dias", 20, "c"),
            ("Próxima Leitura", 28, "c"), ("Alíquota ICMS(%)", 28, "c")]
    row = [d.leitura_anterior, d.leitura_atual, str(d.dias_faturados), d.proximo_leitura, fmt.number(d.aliquota_icms)]
    y = table(page, 8, y + 0.5, cols, [row], s, size=6.6, row_h=4,
              fields=[["leitura_anterior", "leitura_atual", "dias_faturados", "proximo_leitura", "aliquota_icms"]])
    y = band(page, 8, y + 1.5, 128, "MEDIÇÃO", s.primary, radius=s.radius)
    cols = [("Medidor", 24, "l"), ("Grandeza", 22, "l"), ("Leitura Anterior", 22, "r"), ("Leitura Atual", 22, "r"),
            ("Constante", 16, "r"), ("Consumo kWh", 22, "r")]
    row = [c.meter, "Energia Ativa", str(c.reading_prev), str(c.reading_curr), str(c.constant), fmt.kwh(d.consumo_kwh)]
    y = table(page, 8, y + 0.5, cols, [row], s, size=6.4, row_h=4, fields=[[None] * 5 + ["consumo_kwh"]])
    y = band(page, 8, y + 1.5, 128, "ITENS DA FATURA", s.primary, radius=s.radius)
    y = items_table(page, 8, y + 0.5, 128, c, s, ("Descrição", "Unid.", "Quant.", "Preço Unit. c/ Trib.", "Valor (R$)"),
                    total_label="TOTAL A PAGAR", rename=RENAME, header_fill=False)
    y = band(page, 8, y + 1, 128, "TRIBUTOS", s.light, color=s.primary, radius=s.radius)
    y = tax_table(page, 8, y + 0.5, 128, c, s, header_fill=False) + 2
    if d.energia_ativa_injetada:
        y = gd_box(page, 8, y, 128, c, s) + 1.5
    if d.faturas_venc:
        y = reaviso(page, 8, y, 128, c, s, month_style="num")
    y = nf_block(page, 8, y + 3, 128, c, s)
    messages_box(page, 8, y + 1, 128, 248, c, s)

    y = band(page, 140, 84, 62, "INFORMAÇÕES TÉCNICAS", s.primary, radius=s.radius) + 4
    y = tariff_lines(page, 141, y, c, s, ("Classificação:", "Tipo de Fornecimento:", "Tensão Nominal:", "Modalidade:"),
                     class_words="long", tipo_words="upper", size=5.4)
    flag_line(page, 141, y + 0.5, c, s, label="Bandeira: ", size=5.6)
    y = band(page, 140, y + 4, 62, "HISTÓRICO DE CONSUMO", s.primary, radius=s.radius)
    y = history_table(page, 140, y + 0.5, 62, c, s, month_style="num", titles=("MÊS/ANO", "CONSUMO kWh", "DIAS"))
    qr_block(page, 146, y + 5, 24, c.render_seed)
    page.text(174, y + 10, "Pague com Pix", size=6.5, bold=True, color=s.primary)
    page.text(174, y + 14, "Aponte a câmera do", size=5.2, color=s.label)
    page.text(174, y + 17, "celular para o QR Code", size=5.2, color=s.label)
    if 240 - (y + 33) >= 12:
        page.rect(140, y + 33, 62, 240 - (y + 33), outline=s.rule, width=0.2, radius=s.radius)
        page.text(171, y + 37, "RESERVADO AO FISCO", size=5.4, bold=True, color=s.label, align="c")
        page.text(171, y + 41, fmt.grouped(c.access_key[-32:], 4)[:39], size=4.8, color=s.label, align="c")
    page.rect(140, 242, 62, 6, fill=s.accent, radius=s.radius)
    page.text(171, 246, "Central de Atendimento 24h e agência virtual", size=4.8, bold=True, color=WHITE, align="c")
    slip(page, 252, c, s, ("Unidade Consumidora", "Conta Mês", "Vencimento", "Total a Pagar"))
    return [page, second_page(c, s, MONTH)]
