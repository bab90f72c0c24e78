"""Synthetic bills that look like what users send: fixed utility identity, printed formats, roll/PDF
families, captures with hidden fields (issue 12). Few bills per test to keep it fast."""

from __future__ import annotations

from extractor_energy.normalize import full_date, money, month
from extractor_energy.synth import fmt, make_content
from extractor_energy.synth.identity import _cnpj_check, identity_for


def test_utility_identity_is_fixed_per_key_and_customers_vary() -> None:
    a, b = make_content("equatorial_go", 1), make_content("equatorial_go", 2)
    assert a.identity == b.identity and a.utility_cnpj == b.utility_cnpj == a.identity.cnpj
    assert a.data.nome_cliente != b.data.nome_cliente
    assert a.identity.cnpj != make_content("equatorial_ma", 1).identity.cnpj
    cnpj = a.identity.cnpj
    assert len(cnpj) == 14 and _cnpj_check(cnpj[:12]) == cnpj[12:]
    assert identity_for("rge", "RS").colours is not None and identity_for("equatorial", "GO").colours is None
    assert a.access_key[6:20] == cnpj  # the NF3e access key carries the issuer's CNPJ


def _amount(text: str) -> float:
    return money(text.replace("*", ""))


def test_printed_formats_vary_and_read_back_exactly() -> None:
    """Months as 7/2025, JUL/2025, Junho/2025...; totals with asterisk fill; trailing-minus credits."""
    months, totals, credits = set(), set(), set()
    for seed in range(40):
        c = make_content(["equatorial_go", "cpfl_paulista_sp", "energisa_mt", "neoenergia_pe"][seed % 4], seed)
        p, d = c.printing, c.data
        assert month(p.month(d.mes_referencia)) == d.mes_referencia
        assert _amount(p.total(d.valor_fatura)) == d.valor_fatura
        assert full_date(p.reading(d.leitura_atual)) == d.leitura_atual
        months.add(p.month_style)
        totals.add(p.total_style)
        credits.add(p.trailing_minus)
    assert {"short", "abbr", "num"} <= months and len(months) >= 5
    assert {"stars", "rs", "plain"} <= totals and credits == {True, False}
    assert fmt.total(140.54, "stars") == "R$********140,54" and fmt.brl(-54.33, trailing_minus=True) == "54,33-"
    assert fmt.month("06/2025", "name") == "Junho/2025" and fmt.month("07/2025", "short") == "7/2025"
