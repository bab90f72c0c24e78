"""The consistency checks stay quiet on synthetic ground truth (which is consistent by construction)."""

from __future__ import annotations

from extractor_energy.domain.checks import check_bill
from extractor_energy.synth.content import make_content

KEYS = (
    "equatorial_go", "equatorial_ma", "equatorial_pa", "equatorial_ap", "enel_rj", "enel_ce", "enel_sp",
    "cemig_mg", "light_rj", "cpfl_paulista_sp", "cpfl_santa_cruz_sp", "energisa_mt", "energisa_ro",
    "energisa_sul_sudeste_pr", "copel_pr", "neoenergia_pe", "neoenergia_df", "edp_es", "celesc_sc", "rge_rs",
    "amazonas_energia_am", "roraima_energia_rr",
)
N_BILLS = 200


def _bills():
    return [make_content(KEYS[i % len(KEYS)], seed=i).data for i in range(N_BILLS)]


def test_check_bill_is_quiet_on_synthetic_ground_truth():
    noisy = {}
    for i, data in enumerate(_bills()):
        findings = check_bill(data)
        if findings:
            noisy[(KEYS[i % len(KEYS)], i)] = [f"{f.code}: {f.message}" for f in findings]
    assert not noisy, noisy


def test_synthetic_bills_exercise_the_checked_fields():
    """Guard against a vacuous pass: the synthetic truth fills what the rules look at."""
    bills = _bills()
    for field in ("mes_referencia", "vencimento", "proximo_leitura", "leitura_anterior", "leitura_atual",
                  "dias_faturados", "consumo_kwh", "consumo_lista", "codigo_barras", "linha_digitavel",
                  "valor_fatura", "cep", "estado", "subgrupo", "aliquota_icms"):
        filled = sum(getattr(b, field) not in (None, []) for b in bills)
        assert filled >= N_BILLS // 2, (field, filled)
    assert any(b.valores_em_aberto for b in bills)
    # and a one-cent change to the total is caught on every one of them
    for b in bills[:20]:
        codes = [f.code for f in check_bill(b.model_copy(update={"valor_fatura": round(b.valor_fatura + 0.02, 2)}))]
        assert codes == ["barcode_amount_mismatch"], codes
