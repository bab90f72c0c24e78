"""Real utility names fit, and requests and adapter folders share one length limit (issue 13, item 11)."""

from __future__ import annotations

import pytest

from extractor_energy.domain.keys import SLUG_MAX, InvalidKey, make_key, parse_key


def test_legal_names_printed_on_bills_are_accepted_and_aliased():
    assert make_key("Companhia Estadual de Distribuição de Energia Elétrica", "RS").key == "equatorial_rs"
    assert make_key("Companhia Energética de Minas Gerais", "MG").key == "cemig_mg"
    long_coop = "Cooperativa de Eletrificação e Desenvolvimento Econômico da Região"  # no alias: a key of its own
    key = make_key(long_coop, "SC").key
    assert parse_key(key).key == key  # an adapter folder of that name is reachable


@pytest.mark.parametrize("length", [SLUG_MAX - 1, SLUG_MAX, SLUG_MAX + 1])
def test_requests_and_folders_share_one_limit(length):
    slug = ("ab" * SLUG_MAX)[:length]
    request_ok = folder_ok = True
    try:
        make_key(slug, "SP")
    except InvalidKey:
        request_ok = False
    try:
        parse_key(f"{slug}_sp")
    except InvalidKey:
        folder_ok = False
    assert request_ok == folder_ok == (length <= SLUG_MAX)
    assert SLUG_MAX >= 60  # long enough for legal names
