"""Grounded extraction on hand-made page text: candidates, label evidence, cross-checks, provenance."""

from __future__ import annotations

from extractor_energy.documents.page_text import PageText, TextBox
from extractor_energy.domain.barcode import digitable_line, make_barcode
from extractor_energy.grounding import ground_bill
from extractor_energy.grounding.candidates import find_candidates
from extractor_energy.grounding.lines import page_lines

CHAR = 10.0  # px per character in these hand-made pages
ROW = 30.0


def page(rows: list[list[tuple[int, str]]]) -> PageText:
    """Rows of (column in characters, text) pieces -> a page with boxes, like OCR gives."""
    boxes = [TextBox(text, col * CHAR, i * ROW, (col + len(text)) * CHAR, i * ROW + 20)
             for i, row in enumerate(rows) for col, text in row]
    return PageText("", "ocr", boxes=boxes, width=1200, height=int(len(rows) * ROW + 40))


def test_candidates_are_typed_and_normalised():
    lines = page_lines([page([[(0, "Ref: SET/2025 | R$ 1.234,56 | 07/10/2025 | 12.345-678 | 83660000003-5")]])])
    kinds = {(c.kind, c.value) for c in find_candidates(lines)}
    assert {("month", "09/2025"), ("money", 1234.56), ("date", "07/10/2025")} <= kinds
    assert not any(k == "number" and v in (2025.0, 1234.0) for k, v in kinds)  # parts of a month or money are no numbers


def test_column_label_above_picks_the_value_below_it_not_its_neighbours():
    p = page([
        [(0, "Conta mês"), (20, "Total a pagar"), (40, "Vencimento")],
        [(0, "7/2025"), (20, "R$ 142,48"), (40, "15/08/2025")],
        [(0, "Leitura Anterior"), (20, "Leitura Atual")],
        [(0, "10/07/2025"), (20, "08/08/2025")],
    ])
    answer = ground_bill([p])
    d = answer.data
    assert (d.mes_referencia, d.valor_fatura, d.vencimento) == ("07/2025", 142.48, "15/08/2025")
    assert (d.leitura_anterior, d.leitura_atual) == ("10/07/2025", "08/08/2025")
    assert answer.sources["valor_fatura"] == {"page": 1, "box": [200.0, 30.0, 290.0, 50.0], "text": "R$ 142,48"}


def test_a_due_date_beside_reading_dates_is_told_apart_by_labels():
    p = page([[(0, "Data da leitura: 02/08/2025 | Emissão: 03/08/2025 | Vencimento: 20/08/2025")],
              [(0, "Referência: 07/2025")]])
    assert ground_bill([p]).data.vencimento == "20/08/2025"


def test_the_barcode_amount_decides_between_two_labelled_totals():
    code = make_barcode(321.09, "0069", "0" * 25)
    p = page([[(0, "TOTAL: R$ 299,99")], [(0, "Total a pagar R$ 321,09")], [(0, digitable_line(code))]])
    answer = ground_bill([p])
    assert answer.data.valor_fatura == 321.09 and answer.data.codigo_barras == code
    assert answer.confidence["valor_fatura"] >= 0.8
    assert answer.sources["codigo_barras"]["derived_from"] == "linha_digitavel"
    assert "derived_from" not in answer.sources["linha_digitavel"]


def test_a_total_that_disagrees_with_the_barcode_is_flagged():
    code = make_barcode(500.00, "0069", "0" * 25)
    p = page([[(0, "Total a pagar R$ 321,09")], [(0, digitable_line(code))]])
    answer = ground_bill([p])
    assert answer.data.valor_fatura == 321.09  # read off the page, never replaced by a computed value
    assert answer.confidence["valor_fatura"] <= 0.4
    assert any(c["fields"] == ["valor_fatura"] for c in answer.conflicts)


def test_history_row_of_the_reference_month_decides_consumption():
    p = page([
        [(0, "Conta mês"), (20, "Consumo kWh")],
        [(0, "05/2025"), (20, "999")],
        [(0, "Consumo (kWh) | 310 | 0,72 | 223,20")],
        [(0, "HISTÓRICO DE CONSUMO")],
        [(0, "05/2025 | 310 | 30")],
        [(0, "04/2025 | 280 | 31")],
        [(0, "03/2025 | 295 | 29")],
    ])
    answer = ground_bill([p])
    assert answer.data.consumo_kwh == 310
    assert [(r.mes_ano, r.consumo) for r in answer.data.consumo_lista] == [("05/2025", 310), ("04/2025", 280), ("03/2025", 295)]
    assert len(answer.sources["consumo_lista"]) == 3


def test_no_candidate_means_null_and_a_value_not_on_the_page_never_appears():
    answer = ground_bill([page([[(0, "Vencimento")], [(0, "Total a pagar")]])])
    assert answer.data.vencimento is None and answer.data.valor_fatura is None and answer.sources == {}
    assert ground_bill([]).data.model_dump() == ground_bill([page([])]).data.model_dump()


def test_every_answered_value_is_printed_where_its_source_says():
    p = page([[(0, "Nº da Instalação: 3316674520")], [(0, "Classificação: B1 RESIDENCIAL | Tipo de Fornecimento: MONOFÁSICO")],
              [(0, "TOTAL A PAGAR R$ 57,66")]])
    answer = ground_bill([p])
    assert answer.data.classificacao == "RESIDENCIAL" and answer.data.tipo_instalacao == "MONOFASICO"
    lines = page_lines([p])
    for field, source in answer.sources.items():
        assert any(source["text"] in line.text for line in lines), field


def test_page_frame_maps_boxes_of_the_upright_levelled_copy_back_to_the_decoded_page():
    from PIL import Image

    from extractor_energy.documents.page_text import PageFrame, _turn

    page = Image.new("L", (300, 200), 255)
    page.paste(0, (40, 150, 60, 160))  # a mark at x 40-60, y 150-160 of the page as decoded
    for turns in (1, 2, 3):
        upright = page.rotate(90 * turns, expand=True)
        x0, y0, x1, y1 = Image.eval(upright, lambda v: 255 - v).getbbox()
        frame = PageFrame(90 * turns, 0.0, upright.width, upright.height)
        back = frame.to_page((x0, y0, x1, y1))
        assert [round(v) for v in back] == [40, 150, 60, 160], turns
    # levelling: a piece turned level by -skew maps back around where it was printed
    centre = (150.0, 100.0)
    (lx, ly), = _turn([(50.0, 155.0)], -12.0, centre)
    bx0, by0, bx1, by1 = PageFrame(0, 12.0, 300, 200).to_page((lx - 1, ly - 1, lx + 1, ly + 1))
    assert bx0 <= 50 <= bx1 and by0 <= 155 <= by1


def test_meter_row_that_adds_up_decides_consumption_over_a_tier_label():
    p = page([
        [(0, "Leitura Anterior"), (20, "Leitura Atual"), (36, "Constante"), (48, "Consumo kWh")],
        [(0, "43339"), (20, "43432"), (36, "1"), (48, "93")],
        [(0, "TUSD - Consumo 0 a 30 kWh desc 65% | kWh | 30 | 0,18 | 5,53")],
    ])
    answer = ground_bill([p])
    assert answer.data.consumo_kwh == 93 and answer.sources["consumo_kwh"]["text"] == "93"


def test_bar_chart_history_pairs_each_month_with_the_value_above_it():
    months = ["JAN/25", "FEV/25", "MAR/25", "ABR/25", "MAI/25", "JUN/25"]
    values = ["210", "193", "305", "288", "199", "240"]
    p = page([
        [(0, "Conta mês: 06/2025")],
        [(8 * i, v) for i, v in enumerate(values) if i % 2 == 0],  # bars of different heights: labels on two rows
        [(8 * i, v) for i, v in enumerate(values) if i % 2 == 1],
        [(8 * i, m) for i, m in enumerate(months)],
    ])
    history = ground_bill([p]).data.consumo_lista
    assert [(h.mes_ano, h.consumo) for h in history] == [
        ("01/2025", 210), ("02/2025", 193), ("03/2025", 305), ("04/2025", 288), ("05/2025", 199), ("06/2025", 240)]


def test_tax_row_beside_the_items_gives_icms_rate_and_value():
    p = page([[(0, "CONSUMO TUSD | kWh | 172 | 0,692493 | 119,11 | ICMS | 184,22 | 20,00 | 36,84")]])
    d = ground_bill([p]).data
    assert (d.valor_icms, d.aliquota_icms) == (36.84, 20.0)


def test_the_utility_is_named_as_printed_when_the_request_names_it():
    p = page([[(0, "NEOENERGIA PERNAMBUCO"), (40, "9504521153")], [(0, "Total a pagar R$ 10,00")]])
    assert ground_bill([p], "neoenergia_pernambuco").data.distribuidora == "NEOENERGIA PERNAMBUCO"


def test_a_rule_that_fails_loses_its_own_fields_not_the_bill(monkeypatch):
    from extractor_energy.grounding import structures

    def broken(*args):
        raise ValueError("odd page")

    monkeypatch.setattr(structures, "_address", broken)
    answer = ground_bill([page([[(0, "Total a pagar R$ 57,66")], [(0, "Classificação: B1 RESIDENCIAL")]])])
    assert answer.data.valor_fatura == 57.66 and answer.data.classificacao == "RESIDENCIAL"


def test_readings_printed_as_one_pair_add_up_to_the_consumption():
    p = page([[(0, "Tensão Nominal: 127/220 V | Leitura (ant./atual) | 12072/12199 26/08/2024")], [(0, "Consumo kWh")],
              [(0, "127")], [(0, "Adicional Bandeira | kWh | 99 | 0,5678 | 56,21")]])
    assert ground_bill([p]).data.consumo_kwh == 127


def test_tier_lines_are_no_consumption_label():
    p = page([[(0, "TUSD - Consumo 0 a 30 kWh desc 65% | kWh | 30 | 0,238403 | 7,15")],
              [(0, "Leitura (ant./atual) | 67464 /67703 | 239")]])
    assert ground_bill([p]).data.consumo_kwh == 239


def test_a_tier_or_time_of_use_quantity_is_never_the_total_even_misread():
    p = page([[(0, "TE - Consumo X1 a 100 kit desc 40% | kwh | 70 | 0,315829 | 19,90")],
              [(0, "Consumo Intermediario | kWh | 46 | 1,449906 | 66,70")],
              [(0, "Consumo kWh | 186")]])
    assert ground_bill([p]).data.consumo_kwh == 186


def test_names_read_by_ocr_stay_under_the_review_threshold_but_not_from_a_text_layer():
    rows = [[(0, "MARIA JULIA PASTOR DA LUZ")], [(0, "AVENIDA JADE SAMPAIO, 2645")], [(0, "SERRANO")],
            [(0, "NITEROI - RJ CEP: 24110-210")]]
    ocr = ground_bill([page(rows)])
    assert ocr.data.nome_cliente == "MARIA JULIA PASTOR DA LUZ" and ocr.confidence["nome_cliente"] < 0.8
    layer = page(rows)
    layer.source = "pdf_text"
    assert ground_bill([layer]).confidence["nome_cliente"] >= 0.8


def test_public_lighting_printed_with_a_decimal_point_is_read_but_left_for_review():
    answer = ground_bill([page([[(0, "CONTRIB ILUM PUBLICA | 39.02")], [(0, "Consumo kWh | 186")]])])
    assert answer.data.contrib_iluminacao_publica == 39.02
    assert answer.confidence["contrib_iluminacao_publica"] < 0.8


def test_a_masked_cpf_or_cnpj_garbled_by_ocr_is_read_in_the_scheme_it_was_printed_in():
    def cpf_of(text: str) -> str | None:
        return ground_bill([page([[(0, "NITEROI - RJ CEP: 24110-210 " + text)]])]).data.cpf_cnpj

    assert cpf_of("CPF:***.635.464.**") == "***.635.464-**"
    assert cpf_of("CPF: 410,XXXXX-60") == "410.XXX.XXX-60"
    assert cpf_of("CNPJ:46.XXX.XX/0001-00") == "46.XXX.XXX/0001-00"
    assert cpf_of("CPF-XX2-36") is None  # too little left to read: no guess


def test_enum_words_and_the_city_line_as_ocr_misreads_them():
    data = ground_bill([page([[(0, "CLASSIFICACAO: BI RESIDENCIAL RESIDENCIAL NORMAL")],
                              [(0, "TIPO DE TARIFA: Cunvencional")],
                              [(0, "MARIA JULIA PASTOR DA LUZ")], [(0, "AVENIDA JADE SAMPAIO, 2645")], [(0, "SETOR OESTE")],
                              [(0, "GOIANIA· GO CEP: 74725-990")]])]).data
    assert (data.subgrupo, data.modalidade, data.cidade, data.estado) == ("B1", "convencional", "GOIANIA", "GO")


def test_reading_dates_that_make_no_billing_period_give_way_to_the_pair_that_does():
    p = page([[(0, "Leitura Anterior | Leitura Atual | Nº de Dias")],
              [(0, "Leitura Atual 26/05/2024")],  # a stray date under a second label: 103 days after the first
              [(0, "13/02/2024 | 14/03/2024 | 30")]])
    data = ground_bill([p]).data
    assert (data.leitura_anterior, data.leitura_atual) == ("13/02/2024", "14/03/2024")


def test_class_and_phases_under_ocr_typos():
    data = ground_bill([page([[(0, "Clatucacão: B3 PODER POBLICO MUNICIPAL")],
                              [(0, "Tipo de Forneomento: MONO TENSAO NOMINAL 127V")]])]).data
    assert (data.classificacao, data.tipo_instalacao) == ("PODER PUBLICO", "MONOFASICO")


def test_an_unlabelled_due_date_is_the_one_a_payment_stub_prints_after_the_month():
    p = page([[(0, "Conta mes | 03/2024")],
              [(0, "Emitida em 12/03/2024")],
              [(0, "Aviso: 28/03/2024 ultimo dia para religacao")],
              [(0, "797422552 | 03/2024 | 23/03/2024 | R$441,96")]])
    answer = ground_bill([p])
    assert answer.data.vencimento == "23/03/2024" and answer.confidence["vencimento"] < 0.8


def test_an_unlabelled_total_is_the_amount_a_stub_prints_beside_the_month_and_due_date():
    p = page([[(0, "Referente a | 07/2024")], [(0, "Vencimento 18/07/2024")],
              [(0, "Energia | 99,10")],
              [(0, "07/2024 | 112,75 | 18/07/2024")]])
    answer = ground_bill([p])
    assert answer.data.valor_fatura == 112.75 and answer.confidence["valor_fatura"] < 0.8
