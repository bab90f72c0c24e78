"""Billed days and consumption: the billed period matches the readings, the history is well formed."""

from __future__ import annotations

from typing import Iterator

from extractor_energy.domain.checks.base import (
    FamilyRule, Finding, as_date, as_int, as_month, as_number, emits, month_items, months_after, plural, repeated_months,
)
from extractor_energy.domain.schema import BillData

MIN_BILLED_DAYS, MAX_BILLED_DAYS = 15, 45
MAX_HISTORY_MONTHS = 13


@emits("billed_days_mismatch")
def days_vs_readings(d: BillData) -> Iterator[Finding]:
    prev, cur = as_date(d.leitura_anterior), as_date(d.leitura_atual)
    if as_int(d.dias_faturados) is None or prev is None or cur is None or prev >= cur:
        return
    span = (cur - prev).days
    if d.dias_faturados != span:
        yield Finding("billed_days_mismatch", ("dias_faturados", "leitura_anterior", "leitura_atual"),
                      f"Billed days is {d.dias_faturados}, but {d.leitura_anterior} to {d.leitura_atual} "
                      f"is {plural(span, 'day')}.")


@emits("billed_days_implausible")
def days_plausible(d: BillData) -> Iterator[Finding]:
    if as_int(d.dias_faturados) is not None:
        days, fields, what = d.dias_faturados, ("dias_faturados",), f"Billed days is {d.dias_faturados}"
    else:
        prev, cur = as_date(d.leitura_anterior), as_date(d.leitura_atual)
        if prev is None or cur is None or prev >= cur:
            return  # out-of-order readings are readings_out_of_order's business
        days = (cur - prev).days
        fields = ("leitura_anterior", "leitura_atual")
        what = f"The reading period {d.leitura_anterior} to {d.leitura_atual} is {plural(days, 'day')}"
    if not MIN_BILLED_DAYS <= days <= MAX_BILLED_DAYS:
        yield Finding("billed_days_implausible", fields,
                      f"{what}, outside the usual {MIN_BILLED_DAYS} to {MAX_BILLED_DAYS} days.")


@emits("negative_consumption")
def consumption_sign(d: BillData) -> Iterator[Finding]:
    if as_int(d.consumo_kwh) is not None and d.consumo_kwh < 0:
        yield Finding("negative_consumption", ("consumo_kwh",),
                      f"Billed consumption is negative ({d.consumo_kwh} kWh).")
    negative = [f"{mes} ({kwh} kWh)" for mes, kwh in month_items(d.consumo_lista, "consumo")
                if as_number(kwh) is not None and kwh < 0]
    if negative:
        yield Finding("negative_consumption", ("consumo_lista",),
                      f"The consumption history has negative values: {', '.join(negative)}.")


@emits("consumption_history_mismatch")
def history_vs_consumption(d: BillData) -> Iterator[Finding]:
    if as_int(d.consumo_kwh) is None or as_month(d.mes_referencia) is None:
        return
    values = {kwh for mes, kwh in month_items(d.consumo_lista, "consumo") if mes == d.mes_referencia and kwh is not None}
    if values and d.consumo_kwh not in values:
        shown = ", ".join(f"{v} kWh" for v in sorted(values))
        yield Finding("consumption_history_mismatch", ("consumo_lista", "consumo_kwh", "mes_referencia"),
                      f"The consumption history shows {shown} for {d.mes_referencia}, "
                      f"but the billed consumption is {d.consumo_kwh} kWh.")


@emits("consumption_history_duplicate_month", "consumption_history_too_long", "consumption_history_future_month")
def history_shape(d: BillData) -> Iterator[Finding]:
    months = [mes for mes, _ in month_items(d.consumo_lista, "consumo")]
    if dupes := repeated_months(months):
        yield Finding("consumption_history_duplicate_month", ("consumo_lista",),
                      f"The consumption history lists {', '.join(dupes)} more than once.")
    if len(months) > MAX_HISTORY_MONTHS:
        yield Finding("consumption_history_too_long", ("consumo_lista",),
                      f"The consumption history has {len(months)} months; bills print at most {MAX_HISTORY_MONTHS}.")
    ref = as_month(d.mes_referencia)
    if ref is not None and (later := months_after(months, ref)):
        yield Finding("consumption_history_future_month", ("consumo_lista", "mes_referencia"),
                      f"The consumption history has {', '.join(later)}, after the reference month "
                      f"{d.mes_referencia}.")


RULES: tuple[FamilyRule, ...] = (days_vs_readings, days_plausible, consumption_sign, history_vs_consumption, history_shape)
