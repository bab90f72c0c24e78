"""Earlier unpaid bills: only earlier months, each once, and the overdue flag set when any is listed."""

from __future__ import annotations

from typing import Iterator

from extractor_energy.domain.checks.base import FamilyRule, Finding, as_month, emits, month_items, months_after, plural, repeated_months
from extractor_energy.domain.schema import BillData


@emits("open_value_current_month", "open_value_future_month")
def open_vs_reference(d: BillData) -> Iterator[Finding]:
    ref = as_month(d.mes_referencia)
    if ref is None:
        return
    months = [mes for mes, _ in month_items(d.valores_em_aberto, "valor")]
    fields = ("valores_em_aberto", "mes_referencia")
    if d.mes_referencia in months:
        yield Finding("open_value_current_month", fields,
                      f"The earlier unpaid bills include the current reference month {d.mes_referencia}; "
                      f"this bill's own amount must not be listed there.")
    if later := months_after(months, ref):
        yield Finding("open_value_future_month", fields,
                      f"The earlier unpaid bills include {', '.join(later)}, after the reference month "
                      f"{d.mes_referencia}.")


@emits("open_value_duplicate_month")
def open_duplicates(d: BillData) -> Iterator[Finding]:
    if dupes := repeated_months([mes for mes, _ in month_items(d.valores_em_aberto, "valor")]):
        yield Finding("open_value_duplicate_month", ("valores_em_aberto",),
                      f"The earlier unpaid bills list {', '.join(dupes)} more than once.")


@emits("open_values_without_flag")
def open_vs_flag(d: BillData) -> Iterator[Finding]:
    # The reverse (flag set, no list) is allowed: bills often say "débitos anteriores" without a list.
    if d.valores_em_aberto and not d.faturas_venc:
        yield Finding("open_values_without_flag", ("faturas_venc", "valores_em_aberto"),
                      f"{plural(len(d.valores_em_aberto), 'earlier unpaid bill')} listed, "
                      f"but the overdue-bills flag is false.")


RULES: tuple[FamilyRule, ...] = (open_vs_reference, open_duplicates, open_vs_flag)
