"""The consumption history read as a table by its columns: slanted photos, two column pairs, garbled months."""

from __future__ import annotations

from extractor_energy.documents.page_text import PageText, TextBox
from extractor_energy.grounding import ground_bill

MONTHS = ["06/2025", "05/2025", "04/2025", "03/2025", "02/2025", "01/2025", "12/2024", "11/2024"]
KWH = [103, 131, 193, 210, 235, 154, 173, 204]


def _page(boxes: list[TextBox]) -> PageText:
    head = [TextBox("REF: MES/ANO", 20, 10, 140, 28), TextBox("06/2025", 20, 40, 100, 58),
            TextBox("HISTORICO DE CONSUMO", 400, 120, 620, 138)]
    return PageText("", "ocr", boxes=head + boxes, width=1000, height=800)


def _rows(answer) -> list[tuple[str, int]]:
    return [(h.mes_ano, h.consumo) for h in answer.data.consumo_lista]


def test_a_column_printed_lower_than_its_months_is_paired_row_for_row():
    # a curled photo: each kWh sits 11 px below its month, closer to the next month's line (pitch 16 px)
    boxes = []
    for i, (m, v) in enumerate(zip(MONTHS, KWH)):
        y = 160 + 16 * i
        boxes += [TextBox(m, 400, y, 470, y + 12), TextBox(str(v), 600, y + 11, 630, y + 23)]
    assert _rows(ground_bill([_page(boxes)])) == list(zip(MONTHS, KWH))


def test_two_column_pairs_are_read_down_the_first_then_the_second():
    boxes = []
    for i in range(4):
        y = 160 + 20 * i
        boxes += [TextBox(MONTHS[i], 400, y, 470, y + 14), TextBox(str(KWH[i]), 520, y, 550, y + 14),
                  TextBox(MONTHS[i + 4], 700, y, 770, y + 14), TextBox(str(KWH[i + 4]), 820, y, 850, y + 14)]
    assert _rows(ground_bill([_page(boxes)])) == list(zip(MONTHS, KWH))


def test_a_month_ocr_garbled_takes_its_place_in_the_printed_sequence_and_the_kwh_is_kept():
    boxes = []
    for i, (m, v) in enumerate(zip(MONTHS, KWH)):
        y = 160 + 20 * i
        label = "AB/2O25" if m == "04/2025" else m  # unreadable as a month
        boxes += [TextBox(label, 400, y, 470, y + 14), TextBox(str(v), 600, y, 630, y + 14)]
    answer = ground_bill([_page(boxes)])
    assert _rows(answer) == list(zip(MONTHS, KWH))
    assert answer.sources["consumo_lista"][2]["text"] == "193"  # the row's source is the kWh it read


def test_no_month_is_made_up_where_the_sequence_is_not_regular():
    boxes = []
    for i, (m, v) in enumerate(zip(["06/2025", "02/2025", "11/2024", "03/2024", "01/2024"], KWH)):
        y = 160 + 20 * i
        boxes += [TextBox(m, 400, y, 470, y + 14), TextBox(str(v), 600, y, 630, y + 14)]
    boxes += [TextBox("XX/20", 400, 260, 470, 274), TextBox("999", 600, 260, 630, 274)]
    assert all(h.consumo != 999 for h in ground_bill([_page(boxes)]).data.consumo_lista)


def test_a_drifted_tax_box_with_dot_decimals_is_read_by_its_arithmetic():
    # each row's amounts sit 12 px below its label (the next label's height), OCR reads 43,41 as 43.41
    rows = [("ICMS", "43.41", "19.00", "8.25"), ("PIS/PASEP", "43.41", "1.10", "0.48"), ("COFINS", "43.41", "4.34", "1.88")]
    boxes = []
    for i, (label, base, rate, value) in enumerate(rows):
        y = 400 + 16 * i
        boxes += [TextBox(label, 40, y, 110, y + 14), TextBox(base, 330, y + 12, 370, y + 26),
                  TextBox(rate, 450, y + 12, 490, y + 26), TextBox(value, 610, y + 12, 640, y + 26)]
    boxes.append(TextBox("Aliquota 31", 40, 300, 160, 314))  # a stray number after an "Alíquota" label
    data = ground_bill([_page(boxes)]).data
    assert (data.valor_icms, data.aliquota_icms, data.valor_pis, data.valor_cofins) == (8.25, 19.0, 0.48, 1.88)


def test_a_drifting_row_is_traced_to_its_value_not_joined_to_the_row_below():
    from extractor_energy.grounding.lines import page_lines

    # two rows 20 px apart; the photo's curl lowers the first row by 12 px across 600 px
    boxes = [TextBox("Contrib. Ilum. Publica", 40, 300, 240, 314), TextBox("kWh", 300, 302, 330, 316),
             TextBox("0,223389", 450, 305, 520, 319), TextBox("12,02", 620, 312, 660, 326),
             TextBox("TOTAL A PAGAR", 40, 320, 170, 334), TextBox("R$ 99,28", 330, 323, 410, 337)]
    by_height = [line.text for line in page_lines([_page(boxes)])]
    traced = [line.text for line in page_lines([_page(boxes)], traced=True)]
    assert "Contrib. Ilum. Publica | kWh | 0,223389 | 12,02" in traced
    assert not any("12,02" in text and "Ilum" in text for text in by_height)  # what the traced reading mends
    assert ground_bill([_page(boxes)]).data.contrib_iluminacao_publica == 12.02


def test_a_line_run_that_repeats_a_month_does_not_outvote_the_table():
    # page 1: the table (8 months); page 2: ten lines that repeat two months (a run longer than the table)
    boxes = []
    for i, (m, v) in enumerate(zip(MONTHS, KWH)):
        y = 160 + 20 * i
        boxes += [TextBox(m, 400, y, 470, y + 14), TextBox(str(v), 600, y, 630, y + 14)]
    stray = [TextBox(("06/2025", "05/2025")[i % 2], 40, 100 + 20 * i, 110, 114 + 20 * i) for i in range(10)]
    stray += [TextBox(str(900 + i), 130, 100 + 20 * i, 160, 114 + 20 * i) for i in range(10)]
    second = PageText("", "ocr", boxes=stray, width=1000, height=800)
    assert _rows(ground_bill([_page(boxes), second])) == list(zip(MONTHS, KWH))


def test_a_consumption_far_from_every_month_of_the_history_gives_way_to_the_reference_row():
    boxes = []
    for i, (m, v) in enumerate(zip(MONTHS, KWH)):
        y = 160 + 20 * i
        boxes += [TextBox(m, 400, y, 470, y + 14), TextBox(str(v), 600, y, 630, y + 14)]
    boxes += [TextBox("REF: MES/ANO", 20, 10, 140, 28), TextBox("06/2025", 20, 40, 100, 58),  # no history heading
              TextBox("Consumo kWh", 40, 340, 150, 354), TextBox("31", 170, 340, 190, 354)]  # the days, misread
    answer = ground_bill([PageText("", "ocr", boxes=boxes, width=1000, height=800)])
    assert answer.data.consumo_kwh == 103  # June's row: 06/2025 is the reference month
    assert answer.confidence["consumo_kwh"] < 0.8 and any("consumo_kwh" in w["fields"] for w in answer.conflicts)
