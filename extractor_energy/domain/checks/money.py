"""Money: a positive total (unless credits explain a zero) and a plausible ICMS rate."""

from __future__ import annotations

from typing import Iterator

from extractor_energy.domain.checks.base import FamilyRule, Finding, as_number, brl, emits
from extractor_energy.domain.schema import BillData

MAX_ICMS_RATE = 35.0


def has_credits(d: BillData) -> bool:
    return bool(d.energia_ativa_injetada or (d.saldo_creditos_kwh or 0) > 0 or (d.energia_injetada_kwh or 0) > 0)


@emits("total_not_positive")
def total(d: BillData) -> Iterator[Finding]:
    value = as_number(d.valor_fatura)
    if value is None:
        return
    if value < 0:
        yield Finding("total_not_positive", ("valor_fatura",), f"The total to pay is negative ({brl(value)}).")
    elif value == 0 and not has_credits(d):
        yield Finding("total_not_positive", ("valor_fatura",),
                      "The total to pay is R$ 0,00, but the bill shows no injected energy or credits.")


@emits("icms_rate_out_of_range")
def icms_rate(d: BillData) -> Iterator[Finding]:
    rate = as_number(d.aliquota_icms)
    if rate is not None and not 0 <= rate <= MAX_ICMS_RATE:
        yield Finding("icms_rate_out_of_range", ("aliquota_icms",),
                      f"ICMS rate {rate:g}% is outside 0% to {MAX_ICMS_RATE:g}%.")


RULES: tuple[FamilyRule, ...] = (total, icms_rate)
