"""Keys, normalisers, the contract's coercion and answer parsing: pure code, no model."""

from __future__ import annotations

import pytest

from extractor_energy.domain import normalize as n
from extractor_energy.domain.keys import InvalidKey, make_key, parse_key
from extractor_energy.extraction.parsing import parse_answer
from extractor_energy.domain.schema import ALL_FIELDS, ContractError, coerce_bill, compact


@pytest.mark.parametrize(
    ("conc", "uf", "key"),
    [
        ("EQUATORIAL", "GO", "equatorial_go"),
        ("cemig-d", "MG", "cemig_mg"),
        ("Cemig Distribuição", "mg", "cemig_mg"),
        ("ENEL RJ", "RJ", "enel_rj"),
        ("Neoenergia Pernambuco", "PE", "neoenergia_pe"),
        ("CELPE", "PE", "neoenergia_pe"),
        ("CPFL Santa Cruz", "SP", "cpfl_santa_cruz_sp"),
        ("  Energisa   Sul-Sudeste ", " mg ", "energisa_sul_sudeste_mg"),
    ],
)
def test_keys_fold_aliases_accents_and_spaces(conc, uf, key):
    assert make_key(conc, uf).key == key


@pytest.mark.parametrize(("conc", "uf"), [("EQUATORIAL", "XX"), ("", "GO"), ("../..", "GO"), ("a/b", "GO"), ("a\x00", "GO"), ("EQUATORIAL", "")])
def test_bad_keys_raise_user_facing_errors(conc, uf):
    with pytest.raises(InvalidKey):
        make_key(conc, uf)


def test_parse_key_splits_on_last_underscore():
    key = parse_key("cpfl_santa_cruz_sp")
    assert (key.concessionaria, key.uf) == ("cpfl_santa_cruz", "SP")
    with pytest.raises(InvalidKey):
        parse_key("../etc_go")


@pytest.mark.parametrize(
    ("fn", "raw", "expected"),
    [
        (n.money, "R$ 1.234,56", 1234.56),
        (n.money, "456,49-", -456.49),
        (n.money, "-456,49", -456.49),
        (n.money, "1.234", 1234.0),
        (n.money, 12.345, 12.35),
        (n.number, "19,00%", 19.0),
        (n.integer, "1.234 kWh", 1234),
        (n.integer, "1.234,00", 1234),
        (n.month, "OUT/2025", "10/2025"),
        (n.month, "7/2025", "07/2025"),
        (n.month, "OUT/25", "10/2025"),
        (n.month, "Junho/2025", "06/2025"),
        (n.month, "Março/2024", "03/2024"),
        (n.month, "2025-10", "10/2025"),
        (n.tipo_instalacao, "B1 / MONO", "MONOFASICO"),
        (n.tipo_instalacao, "BIF", "BIFASICO"),
        (n.tipo_instalacao, "Trifásico", "TRIFASICO"),
        (n.classificacao, "B1 RESIDENCIAL-COM. Residencial", "RESIDENCIAL"),
        (n.classificacao, "Poder Público Municipal", "PODER PUBLICO"),
        (n.bandeira, "Vermelha Patamar 2", "VERMELHA P2"),
        (n.cep, "74.000000", "74000-000"),
        (n.boolean, "Sim", True),
        (n.boolean, None, False),
        (n.full_date, "2025-11-05", "05/11/2025"),
        (n.full_date, "5/11/25", "05/11/2025"),
    ],
)
def test_normalisers(fn, raw, expected):
    assert fn(raw) == expected


@pytest.mark.parametrize(
    ("raw", "ref", "expected"),
    [("05/11", "10/2025", "05/11/2025"), ("05/01", "12/2025", "05/01/2026"), ("20/12", "01/2025", "20/12/2024")],
)
def test_day_month_dates_take_the_year_from_the_reference_month(raw, ref, expected):
    assert n.full_date(raw, ref) == expected


@pytest.mark.parametrize(("fn", "raw"), [(n.money, "abc"), (n.money, float("inf")), (n.month, "13/2025"), (n.full_date, "31/02/2025"), (n.cep, "123"), (n.subgrupo, "A2A")])
def test_normalisers_reject_impossible_values(fn, raw):
    with pytest.raises(ValueError):
        fn(raw)


def test_coerce_fills_every_field_and_reports_dropped_values():
    data, problems = coerce_bill({"valor_fatura": "R$ 10,00", "cep": "12", "mystery": 1, "proximo_leitura": "05/11", "mes_referencia": "OUT/2025"})
    dumped = data.model_dump()
    assert set(dumped) == set(ALL_FIELDS)
    assert dumped["valor_fatura"] == 10.0 and dumped["cep"] is None and dumped["proximo_leitura"] == "05/11/2025"
    assert dumped["baixa_renda"] is False and dumped["consumo_lista"] == []
    assert sorted(p.field for p in problems) == ["cep", "mystery"]
    assert compact(data) == {"mes_referencia": "10/2025", "proximo_leitura": "05/11/2025", "valor_fatura": 10.0}


def test_strict_coercion_raises_with_every_problem():
    with pytest.raises(ContractError) as err:
        coerce_bill({"cep": "1", "valor_fatura": "x", "nope": 1}, strict=True)
    assert {p.field for p in err.value.problems} == {"cep", "valor_fatura", "nope"}


@pytest.mark.parametrize(
    ("text", "codes", "valor"),
    [
        ('{"valor_fatura":12.5}', [], 12.5),
        ('```json\n{"valor_fatura": "R$ 12,50", "cep": "7400', ["json_repaired", "invalid_value"], 12.5),
        ("sorry, I cannot read this bill", ["unparseable_answer"], None),
        ("", ["unparseable_answer"], None),
        ('{"valor_fatura":' + "1" * 400 + "}", ["invalid_value"], None),
        ("[1, 2, 3]", ["unparseable_answer"], None),
    ],
)
def test_parse_answer_never_raises(text, codes, valor):
    parsed = parse_answer(text)
    assert [w["code"] for w in parsed.warnings] == codes
    assert parsed.data.valor_fatura == valor
    assert all(len(w["message"]) < 300 for w in parsed.warnings)


@pytest.mark.parametrize(("raw", "expected"), [
    ("R$****140,54", 140.54), ("****140,54", 140.54), ("R$ 92, 60", 92.6), ("456,49-", -456.49),
])
def test_money_as_bills_print_it(raw, expected):
    assert n.money(raw) == expected


@pytest.mark.parametrize(("raw", "expected"), [
    ("ABR./2025", "04/2025"), ("SET24", "09/2024"), ("MAR 25", "03/2025"), ("Jul / 2025", "07/2025"), ("12 / 2024", "12/2024"),
])
def test_months_as_bills_print_them(raw, expected):
    assert n.month(raw) == expected
