"""Synthetic bills that look like what users send: fixed utility identity, printed formats, roll/PDF
families, captures with hidden fields (issue 12). Few bills per test to keep it fast."""

from __future__ import annotations

from extractor_energy.synth import make_content
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
