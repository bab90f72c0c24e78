"""Consistency checks: quiet on a correct bill, one precise finding per crafted fault."""

from __future__ import annotations

import json

import pytest

from extractor_energy.domain import checks
from extractor_energy.domain.barcode import digitable_line, make_barcode
from extractor_energy.domain.checks import ALL_RULE_CODES, Finding, check_bill, findings_to_warnings
from extractor_energy.domain.schema import ALL_FIELDS, BillData, ConsumoMes, ValorEmAberto

TOTAL = 287.45
BARCODE = make_barcode(TOTAL, "0123", "2025070000123456789000001")
LINE = digitable_line(BARCODE)
HISTORY_MONTHS = [f"{m:02d}/2024" for m in range(7, 13)] + [f"{m:02d}/2025" for m in range(1, 8)]  # 13 months


def history(months=HISTORY_MONTHS, last=312):
    return [ConsumoMes(mes_ano=m, consumo=last if m == "07/2025" else 250 + i) for i, m in enumerate(months)]


GOOD = BillData(
    cod_cliente="1234567", num_instalacao="10001234", nome_cliente="MARIA DA SILVA",
    rua="RUA 10", numero="120", bairro="SETOR OESTE", cidade="GOIANIA", estado="GO", cep="74120-020",
    distribuidora="EQUATORIAL GOIAS", classificacao="RESIDENCIAL", tipo_instalacao="BIFASICO",
    tensao_nominal="127/220 V", alta_tensao=False,
    mes_referencia="07/2025", vencimento="25/07/2025", proximo_leitura="13/08/2025",
    valor_fatura=TOTAL, aliquota_icms=19.0,
    faturas_venc=True, valores_em_aberto=[ValorEmAberto(mes_ano="05/2025", valor=150.10)],
    consumo_lista=history(),
    leitura_anterior="13/06/2025", leitura_atual="14/07/2025", dias_faturados=31, consumo_kwh=312,
    bandeira_tarifaria="VERDE", valor_icms=54.62, codigo_barras=BARCODE, linha_digitavel=LINE,
    subgrupo="B1", modalidade="convencional",
)


def with_digit(text: str, pos: int, new: str | None = None) -> str:
    """Change one digit (to ``new`` or the next digit mod 10)."""
    new = new if new is not None else str((int(text[pos]) + 1) % 10)
    return text[:pos] + new + text[pos + 1:]


def codes_and_fields(findings):
    return sorted((f.code, f.fields) for f in findings)


def test_correct_bill_is_quiet():
    assert check_bill(GOOD) == []


def test_empty_bill_is_quiet():
    assert check_bill(BillData()) == []


def test_all_null_except_flags_and_lists_is_quiet():
    # flags without their related values are never a contradiction on their own
    data = BillData(faturas_venc=True, alta_tensao=True, tarifa_branca=True, ths_verde=True, energia_ativa_injetada=True)
    assert check_bill(data) == []


OPEN_DUP = [ValorEmAberto(mes_ano="05/2025", valor=150.10), ValorEmAberto(mes_ano="05/2025", valor=150.10)]
OTHER_BARCODE = make_barcode(TOTAL, "0123", "2025070000123456789000002")
BAD_DV_BARCODE = with_digit(BARCODE, 3)

# (id, update, expected [(code, fields)])
CASES = [
    ("invalid due date", {"vencimento": "31/02/2025"}, [("invalid_date", ("vencimento",))]),
    ("invalid reference month", {"mes_referencia": "13/2025"}, [("invalid_date", ("mes_referencia",))]),
    ("due before reference month", {"vencimento": "30/06/2025", "leitura_atual": None},
     [("due_before_reference_month", ("vencimento", "mes_referencia"))]),
    ("due long after reference month", {"vencimento": "05/11/2025"},
     [("due_long_after_reference_month", ("vencimento", "mes_referencia"))]),
    ("due before reading", {"vencimento": "10/07/2025"}, [("due_before_reading", ("vencimento", "leitura_atual"))]),
    ("due on reading day", {"vencimento": "14/07/2025"}, [("due_before_reading", ("vencimento", "leitura_atual"))]),
    ("readings out of order", {"leitura_anterior": "20/07/2025", "dias_faturados": None},
     [("readings_out_of_order", ("leitura_anterior", "leitura_atual"))]),
    ("next reading before current", {"proximo_leitura": "10/07/2025"},
     [("next_reading_before_current", ("proximo_leitura", "leitura_atual"))]),
    ("next reading before reference month", {"proximo_leitura": "20/06/2025", "leitura_atual": None},
     [("next_reading_outside_reference_window", ("proximo_leitura", "mes_referencia"))]),
    ("next reading far after reference month", {"proximo_leitura": "13/12/2025"},
     [("next_reading_outside_reference_window", ("proximo_leitura", "mes_referencia"))]),
    ("next reading equals due", {"proximo_leitura": "25/07/2025"},
     [("next_reading_equals_due", ("proximo_leitura", "vencimento"))]),
    ("billed days mismatch", {"dias_faturados": 30},
     [("billed_days_mismatch", ("dias_faturados", "leitura_anterior", "leitura_atual"))]),
    ("billed days implausible", {"dias_faturados": 60, "leitura_anterior": None},
     [("billed_days_implausible", ("dias_faturados",))]),
    ("billed days too few", {"dias_faturados": 7, "leitura_anterior": None},
     [("billed_days_implausible", ("dias_faturados",))]),
    ("reading period implausible", {"leitura_anterior": "01/04/2025", "dias_faturados": None},
     [("billed_days_implausible", ("leitura_anterior", "leitura_atual"))]),
    ("negative consumption", {"consumo_kwh": -5, "consumo_lista": []}, [("negative_consumption", ("consumo_kwh",))]),
    ("negative history value", {"consumo_lista": [ConsumoMes(mes_ano="06/2025", consumo=-3)]},
     [("negative_consumption", ("consumo_lista",))]),
    ("history vs consumption", {"consumo_kwh": 300},
     [("consumption_history_mismatch", ("consumo_lista", "consumo_kwh", "mes_referencia"))]),
    ("history duplicate month", {"consumo_lista": history(["08/2024", *HISTORY_MONTHS[1:]])},
     [("consumption_history_duplicate_month", ("consumo_lista",))]),
    ("history too long", {"consumo_lista": history(["06/2024", *HISTORY_MONTHS])},
     [("consumption_history_too_long", ("consumo_lista",))]),
    ("history future month", {"consumo_lista": history([*HISTORY_MONTHS[1:], "08/2025"])},
     [("consumption_history_future_month", ("consumo_lista", "mes_referencia"))]),
    ("open value current month", {"valores_em_aberto": [ValorEmAberto(mes_ano="07/2025", valor=287.45)]},
     [("open_value_current_month", ("valores_em_aberto", "mes_referencia"))]),
    ("open value future month", {"valores_em_aberto": [ValorEmAberto(mes_ano="09/2025", valor=10.0)]},
     [("open_value_future_month", ("valores_em_aberto", "mes_referencia"))]),
    ("open value duplicate month", {"valores_em_aberto": OPEN_DUP},
     [("open_value_duplicate_month", ("valores_em_aberto",))]),
    ("open values without flag", {"faturas_venc": False},
     [("open_values_without_flag", ("faturas_venc", "valores_em_aberto"))]),
    ("barcode not starting with 8", {"codigo_barras": with_digit(BARCODE, 0, "1")},
     [("barcode_format", ("codigo_barras",))]),
    ("barcode too short", {"codigo_barras": BARCODE[:43]}, [("barcode_format", ("codigo_barras",))]),
    ("barcode check digit", {"codigo_barras": BAD_DV_BARCODE, "linha_digitavel": None},
     [("barcode_check_digit", ("codigo_barras",))]),
    ("line too short", {"linha_digitavel": LINE[:47]}, [("line_format", ("linha_digitavel",))]),
    ("line block check digit", {"linha_digitavel": with_digit(LINE, 11)},
     [("line_check_digit", ("linha_digitavel",))]),
    ("line general check digit", {"linha_digitavel": digitable_line(BAD_DV_BARCODE), "codigo_barras": None},
     [("line_check_digit", ("linha_digitavel",))]),
    ("barcode vs line", {"linha_digitavel": digitable_line(OTHER_BARCODE)},
     [("barcode_line_mismatch", ("codigo_barras", "linha_digitavel"))]),
    ("barcode amount", {"valor_fatura": 287.40},
     [("barcode_amount_mismatch", ("codigo_barras", "linha_digitavel", "valor_fatura"))]),
    ("barcode amount, barcode only", {"valor_fatura": 300.0, "linha_digitavel": None},
     [("barcode_amount_mismatch", ("codigo_barras", "valor_fatura"))]),
    ("unknown uf", {"estado": "XX"}, [("unknown_uf", ("estado",))]),
    ("cep format", {"cep": "74120020"}, [("cep_format", ("cep",))]),
    ("cep of another state", {"cep": "01310-100"}, [("cep_state_mismatch", ("cep", "estado"))]),
    ("cep in no state", {"cep": "00500-000"}, [("cep_state_mismatch", ("cep", "estado"))]),
    ("zero total without credits", {"valor_fatura": 0.0, "codigo_barras": None, "linha_digitavel": None},
     [("total_not_positive", ("valor_fatura",))]),
    ("negative total", {"valor_fatura": -12.5, "codigo_barras": None, "linha_digitavel": None,
                        "energia_ativa_injetada": True},
     [("total_not_positive", ("valor_fatura",))]),
    ("icms rate too high", {"aliquota_icms": 40.0}, [("icms_rate_out_of_range", ("aliquota_icms",))]),
    ("icms rate negative", {"aliquota_icms": -1.0}, [("icms_rate_out_of_range", ("aliquota_icms",))]),
    ("group A without high voltage", {"subgrupo": "A4"},
     [("high_voltage_subgroup_mismatch", ("alta_tensao", "subgrupo"))]),
    ("group B with high voltage", {"alta_tensao": True},
     [("high_voltage_subgroup_mismatch", ("alta_tensao", "subgrupo"))]),
    ("white modality without flag", {"modalidade": "branca"},
     [("modality_flag_mismatch", ("modalidade", "tarifa_branca"))]),
    ("green flag with conventional modality", {"ths_verde": True, "subgrupo": "A4", "alta_tensao": True},
     [("modality_flag_mismatch", ("modalidade", "ths_verde"))]),
    ("green modality in group B", {"modalidade": "verde", "ths_verde": True},
     [("modality_group_mismatch", ("modalidade", "subgrupo"))]),
]


@pytest.mark.parametrize("update, expected", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_each_fault_fires_exactly_its_code(update, expected):
    findings = check_bill(GOOD.model_copy(update=update))
    assert codes_and_fields(findings) == sorted(expected), [f.message for f in findings]
    for finding in findings:
        assert finding.message and finding.message.endswith("."), finding
        assert set(finding.fields) <= set(ALL_FIELDS)


def test_every_code_is_exercised():
    fired = {code for _, _, expected in CASES for code, _ in expected}
    assert fired == set(ALL_RULE_CODES)


@pytest.mark.parametrize("update", [
    {"valor_fatura": 0.0, "codigo_barras": None, "linha_digitavel": None, "energia_ativa_injetada": True},
    {"valor_fatura": 0.0, "codigo_barras": None, "linha_digitavel": None, "saldo_creditos_kwh": 120},
    {"faturas_venc": True, "valores_em_aberto": []},  # "débitos anteriores" without the list is allowed
    {"valor_fatura": 287.455},  # within the 0.01 tolerance
    {"consumo_lista": history(HISTORY_MONTHS[-6:])},  # a shorter history is fine
    {"consumo_lista": history(HISTORY_MONTHS[:-1])},  # history without the current month: nothing to compare
    {"subgrupo": "A4", "alta_tensao": True, "modalidade": "verde", "ths_verde": True},
    {"subgrupo": "B1", "modalidade": "branca", "tarifa_branca": True},
    {"cep": "76801-000", "estado": "RO"},
    {"cep": "69400-000", "estado": "AM"},
    {"cep": "73000-000", "estado": "DF"},
    {"vencimento": "20/10/2025", "proximo_leitura": "13/08/2025"},  # 3 months after the reference: allowed
    {"mes_referencia": "12/2025", "vencimento": "10/01/2026", "proximo_leitura": "13/01/2026",
     "leitura_anterior": "13/11/2025", "leitura_atual": "14/12/2025", "consumo_lista": [],
     "valores_em_aberto": [ValorEmAberto(mes_ano="10/2025", valor=99.0)]},  # year boundary
])
def test_consistent_variants_are_quiet(update):
    assert check_bill(GOOD.model_copy(update=update)) == []


def test_amount_not_checked_when_value_field_is_not_an_amount():
    code = make_barcode(TOTAL, "0123", "2025070000123456789000001", value_type="7")
    data = GOOD.model_copy(update={"codigo_barras": code, "linha_digitavel": digitable_line(code), "valor_fatura": 99.9})
    assert check_bill(data) == []


def test_mod11_barcode_is_checked():
    code = make_barcode(TOTAL, "0123", "2025070000123456789000001", value_type="8")
    good = GOOD.model_copy(update={"codigo_barras": code, "linha_digitavel": digitable_line(code)})
    assert check_bill(good) == []
    bad = good.model_copy(update={"codigo_barras": with_digit(code, 20), "linha_digitavel": None})
    assert [f.code for f in check_bill(bad)] == ["barcode_check_digit"]  # digit 21 is in the free field


def test_message_names_the_values():
    [finding] = check_bill(GOOD.model_copy(update={"dias_faturados": 30}))
    assert "30" in finding.message and "13/06/2025" in finding.message and "31 days" in finding.message
    [finding] = check_bill(GOOD.model_copy(update={"valor_fatura": 1287.40}))
    assert "R$ 287,45" in finding.message and "R$ 1.287,40" in finding.message
    [finding] = check_bill(GOOD.model_copy(update={"cep": "01310-100"}))
    assert "01310-100" in finding.message and "SP" in finding.message and "GO" in finding.message


def test_malformed_values_never_raise(caplog):
    # model_construct skips validation: what a buggy caller could hand over
    data = BillData.model_construct(**{
        **GOOD.model_dump(),
        "vencimento": "2025-07-25", "mes_referencia": 7, "cep": 74120020, "codigo_barras": "abc",
        "linha_digitavel": "", "valor_fatura": "287,45", "subgrupo": 3, "modalidade": None,
        "dias_faturados": "31", "consumo_kwh": 312.5, "aliquota_icms": "19%", "estado": None,
        "consumo_lista": [{"mes_ano": None, "consumo": "x"}, {"mes_ano": "07/2025", "consumo": 312}],
        "valores_em_aberto": [{"mes_ano": "05/2025", "valor": 1.0}],
    })
    findings = check_bill(data)
    assert {f.code for f in findings} <= set(ALL_RULE_CODES)
    assert {"invalid_date", "cep_format", "barcode_format", "line_format"} <= {f.code for f in findings}
    assert not [r for r in caplog.records if r.levelname == "ERROR"], "a rule crashed on malformed input"


def test_a_crashing_rule_is_skipped(monkeypatch):
    def boom(_data):
        raise RuntimeError("bug in a rule")
        yield  # pragma: no cover

    monkeypatch.setattr(checks, "RULES", [boom, *checks.RULES])
    assert check_bill(GOOD) == []
    assert [f.code for f in check_bill(GOOD.model_copy(update={"aliquota_icms": 50.0}))] == ["icms_rate_out_of_range"]


def test_codes_are_unique_and_snake_case():
    assert len(ALL_RULE_CODES) == len(set(ALL_RULE_CODES))
    assert all(code.replace("_", "").isalnum() and code == code.lower() for code in ALL_RULE_CODES)
    assert len(checks.RULES) == len(checks.RULE_CODES)


def test_registering_a_rule_is_one_function(monkeypatch):
    monkeypatch.setattr(checks, "RULES", list(checks.RULES))
    monkeypatch.setattr(checks, "RULE_CODES", dict(checks.RULE_CODES))

    @checks.rule("name_missing")
    def _name(d):
        if d.nome_cliente is None:
            yield Finding("name_missing", ("nome_cliente",), "The customer name is missing.")

    assert [f.code for f in check_bill(GOOD.model_copy(update={"nome_cliente": None}))] == ["name_missing"]
    with pytest.raises(ValueError):
        checks.rule("name_missing")(lambda d: [])


def test_findings_to_warnings_is_json_ready():
    findings = check_bill(GOOD.model_copy(update={"dias_faturados": 30, "aliquota_icms": 99.0}))
    warnings = findings_to_warnings(findings)
    assert [w["code"] for w in warnings] == ["billed_days_mismatch", "icms_rate_out_of_range"]
    assert warnings[0] == {"code": "billed_days_mismatch", "fields": ["dias_faturados", "leitura_anterior", "leitura_atual"],
                           "message": findings[0].message}
    assert json.loads(json.dumps(warnings)) == warnings
    assert findings_to_warnings([]) == []


def test_finding_is_frozen():
    finding = Finding("x", ("a",), "m.")
    with pytest.raises(Exception):
        finding.code = "y"  # type: ignore[misc]
