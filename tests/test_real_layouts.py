"""Grounded extraction on pages worded as real bills are (labels, formats and arrangements counted over
145 real bills of 34 utility/state pairs; no personal data, values made up). A check of the rules
against real wording that the synthetic generator does not print, e.g. a total without ``R$``, a month
written out, the due date and total below the items, an unlabelled payment stub."""

from __future__ import annotations

import pytest

from extractor_energy.documents.page_text import PageText, TextBox
from extractor_energy.grounding import ground_bill

CHAR, ROW = 10.0, 30.0


def page(rows: list[list[tuple[int, str]]]) -> PageText:
    """Rows of (column in characters, text) pieces -> a page with boxes, like OCR gives."""
    boxes = [TextBox(text, col * CHAR, i * ROW, (col + len(text)) * CHAR, i * ROW + 20)
             for i, row in enumerate(rows) for col, text in row]
    return PageText("", "ocr", boxes=boxes, width=1400, height=int(len(rows) * ROW + 40))


BILLS = {
    "equatorial_go_roll": ([
        [(0, "Grupo e Subgrupo de Tensão: B1 / MONO")],
        [(0, "Classificacao: RESIDENCIAL RESIDENCIAL NORMAL")],
        [(0, "Conta mês"), (20, "Total a pagar"), (40, "Vencimento")],
        [(0, "7/2025"), (20, "R$ 142,48"), (40, "21/07/2025")],
        [(0, "Itens de Fatura"), (30, "Quant."), (40, "Valor (R$)")],
        [(0, "Consumo (kWh)"), (30, "104"), (40, "98,11")],
        [(0, "Cip-Ilum Pub Pref Munic"), (40, "12,30")],
    ], "equatorial", {"mes_referencia": "07/2025", "vencimento": "21/07/2025", "valor_fatura": 142.48, "consumo_kwh": 104,
                      "classificacao": "RESIDENCIAL", "tipo_instalacao": "MONOFASICO"}),
    "coelba_roll_total_without_rs": ([
        [(0, "CLASSIFICAÇÃO: B1 RESIDENCIAL"), (40, "TIPO DE FORNECIMENTO: Conv. Monômia - Bifásico")],
        [(0, "REF: MÊS / ANO"), (20, "TOTAL A PAGAR"), (40, "VENCIMENTO")],
        [(0, "SET/2025"), (20, "231,07"), (40, "10/10/2025")],
        [(0, "ITENS DE FATURA"), (30, "UNID."), (38, "QUANT."), (50, "VALOR (R$)")],
        [(0, "Consumo-TUSD"), (30, "kWh"), (38, "187"), (50, "120,10")],
        [(0, "Consumo-TE"), (30, "kWh"), (38, "187"), (50, "92,40")],
        [(0, "Ilum. Púb. Municipal"), (50, "18,57")],
        [(0, "TOTAL DA FATURA"), (50, "231,07")],
    ], "neoenergia", {"mes_referencia": "09/2025", "vencimento": "10/10/2025", "valor_fatura": 231.07, "consumo_kwh": 187,
                      "classificacao": "RESIDENCIAL", "tipo_instalacao": "BIFASICO"}),
    "elektro_a4_month_written_out": ([
        [(0, "TIPO DE FORNECIMENTO CONVENCIONAL / TRIFASICO"), (50, "CLASSIFICAÇÃO: B3 COMERCIAL")],
        [(0, "Conta do Mês"), (20, "Vencimento"), (40, "Total a Pagar")],
        [(0, "Novembro/2025"), (20, "05/12/2025"), (40, "R$643,19")],
        [(0, "Consumo kWh"), (20, "612")],
        [(0, "OCT25"), (8, "SEP25"), (16, "AUG25"), (24, "NOV25")],
    ], "neoenergia", {"mes_referencia": "11/2025", "vencimento": "05/12/2025", "valor_fatura": 643.19, "consumo_kwh": 612,
                      "classificacao": "COMERCIAL", "tipo_instalacao": "TRIFASICO"}),
    "cpfl_old_layout_amount_without_rs": ([
        [(0, "CLASSIFICAÇÃO: Convencional B1 Residencial -Bifásico 220 / 127 V")],
        [(0, "ATENDIMENTO"), (14, "PN"), (24, "SEU CÓDIGO (INSTALAÇÃO)"), (50, "CONTA MÊS"), (62, "VENCIMENTO"),
         (76, "TOTAL A PAGAR")],
        [(0, "0800 010 1010"), (14, "12345678"), (24, "4001234567"), (50, "FEV/2025"), (62, "10/03/2025"), (76, "549,70")],
        [(0, "DISCRIMINAÇÃO DA OPERAÇÃO - RESERVADO AO FISCO")],
        [(0, "Cód."), (6, "Descrição"), (40, "Mês Ref."), (50, "Quant."), (60, "Valor")],
        [(0, "0601"), (6, "Consumo Uso Sistema [KWh]-TUSD"), (40, "FEV/25"), (50, "402"), (60, "298,40")],
        [(0, "HISTÓRICO DE CONSUMO"), (22, "kWh"), (28, "Dias")],
        [(0, "FEV/25"), (8, "402"), (14, "30")],
        [(0, "JAN/25"), (8, "388"), (14, "31")],
        [(0, "DEZ/24"), (8, "415"), (14, "29")],
    ], "cpfl", {"mes_referencia": "02/2025", "vencimento": "10/03/2025", "valor_fatura": 549.7, "consumo_kwh": 402,
                "classificacao": "RESIDENCIAL", "tipo_instalacao": "BIFASICO"}),
    "energisa_roll_due_date_and_total_below_items": ([
        [(0, "Grupo: MTC - CONVENCIONAL BAIXA TENSAO / Subgrupo: B1")],
        [(0, "Cls/Sbc: RESIDENCIAL / RESIDENCIAL"), (40, "Ligacao: MONOFÁSICO")],
        [(0, "Conta referente a"), (20, "Apresentação"), (36, "Data prevista da próxima leitura")],
        [(0, "Jul / 2025"), (20, "08/07/25"), (36, "06/08/25")],
        [(0, "Consumo em kWh"), (30, "163"), (40, "134,55")],
        [(0, "CONTRIB ILUM PÚBLICA"), (40, "15,20")],
        [(0, "VENCIMENTO"), (20, "TOTAL A PAGAR")],
        [(0, "22/07/2025"), (20, "R$ 149,75")],
    ], "energisa", {"mes_referencia": "07/2025", "vencimento": "22/07/2025", "valor_fatura": 149.75, "consumo_kwh": 163,
                    "classificacao": "RESIDENCIAL", "tipo_instalacao": "MONOFASICO"}),
    "light_roll_stub_stars": ([
        [(0, "Classificação: Grupo B / Subgrupo B1 Residencial / Residencial")],
        [(0, "Tipo de Fornecimento: Bifásico")],
        [(0, "REF: MÊS / ANO"), (20, "TOTAL A PAGAR"), (40, "VENCIMENTO")],
        [(0, "ABR./2025"), (20, "R$ 3.038,32"), (40, "12/05/2025")],
        [(0, "Energia Elétrica kWh"), (30, "3.912"), (40, "2.950,11")],
        [(0, "CÓDIGO DO CLIENTE"), (20, "VENCIMENTO"), (36, "TOTAL A PAGAR"), (52, "ABR/2025")],
        [(0, "410012345"), (20, "12/05/2025"), (36, "*****3.038,32")],
    ], "light", {"mes_referencia": "04/2025", "vencimento": "12/05/2025", "valor_fatura": 3038.32, "consumo_kwh": 3912,
                 "classificacao": "RESIDENCIAL", "tipo_instalacao": "BIFASICO"}),
    "celesc_spaced_dates": ([
        [(0, "Classificação / Modalidade Tarifária / Tipo de Fornecimento:")],
        [(0, "RESIDENCIAL - RESIDENCIAL - B1 Residencial - MONOFÁSICO")],
        [(0, "REFERÊNCIA"), (16, "VENCIMENTO"), (34, "TOTAL A PAGAR")],
        [(0, "12 / 2024"), (16, "10 / 01 / 2025"), (34, "R$ 201,36")],
        [(0, "(0D) Consumo TE"), (24, "kWh"), (30, "240"), (40, "70,12")],
    ], "celesc", {"mes_referencia": "12/2024", "vencimento": "10/01/2025", "valor_fatura": 201.36, "consumo_kwh": 240,
                  "classificacao": "RESIDENCIAL", "tipo_instalacao": "MONOFASICO"}),
    "cemig_roll_boxes": ([
        [(0, "Classe"), (30, "Subclasse")],
        [(0, "Residencial Bifásico"), (30, "Residencial")],
        [(0, "Referente a"), (16, "Vencimento"), (32, "Valor a pagar (R$)")],
        [(0, "OUT/2025"), (16, "17/11/2025"), (32, "188,40")],
        [(0, "Mês/Ano"), (10, "Consumo kWh"), (24, "Média kWh/Dia"), (40, "Dias de Faturam.")],
        [(0, "OUT/25"), (10, "190"), (24, "6,33"), (40, "30")],
        [(0, "SET/25"), (10, "176"), (24, "5,87"), (40, "30")],
    ], "cemig", {"mes_referencia": "10/2025", "vencimento": "17/11/2025", "valor_fatura": 188.4, "consumo_kwh": 190,
                 "classificacao": "RESIDENCIAL", "tipo_instalacao": "BIFASICO"}),
}


@pytest.mark.parametrize("name", sorted(BILLS))
def test_the_six_value_fields_are_read_off_real_wording(name):
    rows, utility, expected = BILLS[name]
    data = ground_bill([page(rows)], utility).data.model_dump()
    assert {field: data[field] for field in expected} == expected
