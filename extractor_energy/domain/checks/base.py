"""Consistency checks on an extracted bill, returned as warnings that name the fields involved.

Each rule is a small function registered with :func:`rule`; it reads a :class:`BillData` and yields
:class:`Finding` objects. Every rule is quiet when the fields it needs are null (or unreadable:
a malformed value is reported once, by the rule that owns its format, never by the others).
Adding a rule is one decorated function; its codes join :data:`ALL_RULE_CODES`.

The checks never change the data: they only say what looks wrong, so a billing clerk (or the
confidence logic) can look at those fields again.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import date
from typing import Any, Callable, Iterable, Iterator

from extractor_energy.domain import barcode as bc
from extractor_energy.domain.keys import UFS
from extractor_energy.domain.schema import BillData

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Finding:
    """One inconsistency: a stable code, the contract fields involved, a sentence for a clerk."""

    code: str
    fields: tuple[str, ...]
    message: str


Rule = Callable[[BillData], Iterable[Finding]]

#: The registered rules, run in this order by :func:`check_bill`.
RULES: list[Rule] = []
#: rule function -> the codes it may emit.
RULE_CODES: dict[Rule, tuple[str, ...]] = {}


def rule(*codes: str) -> Callable[[Rule], Rule]:
    """Register a rule function together with the finding codes it may emit."""

    def register(fn: Rule) -> Rule:
        taken = {c for cs in RULE_CODES.values() for c in cs}
        clash = taken.intersection(codes)
        if clash:
            raise ValueError(f"rule codes already registered: {sorted(clash)}")
        RULES.append(fn)
        RULE_CODES[fn] = tuple(codes)
        return fn

    return register


# ---------------------------------------------------------------- helpers

DATE_FIELDS = ("leitura_anterior", "leitura_atual", "proximo_leitura", "vencimento")
_DATE_LABELS = {
    "leitura_anterior": "previous reading date", "leitura_atual": "current reading date",
    "proximo_leitura": "next reading date", "vencimento": "due date",
}

MIN_BILLED_DAYS, MAX_BILLED_DAYS = 15, 45
MAX_DUE_MONTHS_AFTER_REFERENCE = 3
MAX_NEXT_READING_MONTHS_AFTER_REFERENCE = 3
MAX_HISTORY_MONTHS = 13
MAX_ICMS_RATE = 35.0
AMOUNT_TOLERANCE = 0.01

#: CEP ranges (first five digits, inclusive) per UF, as published by Correios.
#: RO also keeps its pre-1990s range 78900-78999 (not assigned to any other state).
CEP_RANGES: dict[str, tuple[tuple[int, int], ...]] = {
    "SP": ((1000, 19999),),
    "RJ": ((20000, 28999),),
    "ES": ((29000, 29999),),
    "MG": ((30000, 39999),),
    "BA": ((40000, 48999),),
    "SE": ((49000, 49999),),
    "PE": ((50000, 56999),),
    "AL": ((57000, 57999),),
    "PB": ((58000, 58999),),
    "RN": ((59000, 59999),),
    "CE": ((60000, 63999),),
    "PI": ((64000, 64999),),
    "MA": ((65000, 65999),),
    "PA": ((66000, 68899),),
    "AP": ((68900, 68999),),
    "AM": ((69000, 69299), (69400, 69899)),
    "RR": ((69300, 69399),),
    "AC": ((69900, 69999),),
    "DF": ((70000, 72799), (73000, 73699)),
    "GO": ((72800, 72999), (73700, 76799)),
    "RO": ((76800, 76999), (78900, 78999)),
    "TO": ((77000, 77999),),
    "MT": ((78000, 78899),),
    "MS": ((79000, 79999),),
    "PR": ((80000, 87999),),
    "SC": ((88000, 89999),),
    "RS": ((90000, 99999),),
}
assert set(CEP_RANGES) == set(UFS)

_DATE_RE = re.compile(r"(\d{2})/(\d{2})/(\d{4})")
_MONTH_RE = re.compile(r"(0[1-9]|1[0-2])/(\d{4})")
_CEP_RE = re.compile(r"\d{5}-\d{3}")


def _date(value: Any) -> date | None:
    """``DD/MM/AAAA`` -> date; None when absent or not a real date."""
    if not isinstance(value, str) or not (m := _DATE_RE.fullmatch(value)):
        return None
    try:
        return date(int(m[3]), int(m[2]), int(m[1]))
    except ValueError:
        return None


def _month(value: Any) -> int | None:
    """``MM/AAAA`` -> a month index (year*12 + month-1); None when absent or malformed."""
    if not isinstance(value, str) or not (m := _MONTH_RE.fullmatch(value)):
        return None
    return int(m[2]) * 12 + int(m[1]) - 1


def _month_of(day: date) -> int:
    return day.year * 12 + day.month - 1


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _brl(value: float) -> str:
    """1234.5 -> ``R$ 1.234,50`` (as the bill prints it)."""
    text = f"{abs(value):,.2f}".replace(",", "_").replace(".", ",").replace("_", ".")
    return ("-" if value < 0 else "") + "R$ " + text


def _items(values: Any, key: str) -> Iterator[tuple[Any, Any]]:
    """(mes_ano, value) pairs of a month list whose items are models or plain dicts."""
    for item in values or ():
        if isinstance(item, dict):
            yield item.get("mes_ano"), item.get(key)
        else:
            yield getattr(item, "mes_ano", None), getattr(item, key, None)


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


# ---------------------------------------------------------------- dates

@rule("invalid_date")
def _invalid_dates(d: BillData) -> Iterator[Finding]:
    for field in DATE_FIELDS:
        value = getattr(d, field)
        if value is not None and _date(value) is None:
            yield Finding("invalid_date", (field,), f"The {_DATE_LABELS[field]} {value!r} is not a real date (DD/MM/AAAA).")
    if d.mes_referencia is not None and _month(d.mes_referencia) is None:
        yield Finding("invalid_date", ("mes_referencia",),
                      f"The reference month {d.mes_referencia!r} is not a month (MM/AAAA).")


@rule("due_before_reference_month", "due_long_after_reference_month")
def _due_vs_reference(d: BillData) -> Iterator[Finding]:
    due, ref = _date(d.vencimento), _month(d.mes_referencia)
    if due is None or ref is None:
        return
    gap = _month_of(due) - ref
    fields = ("vencimento", "mes_referencia")
    if gap < 0:
        yield Finding("due_before_reference_month", fields,
                      f"Due date {d.vencimento} falls before the reference month {d.mes_referencia}.")
    elif gap > MAX_DUE_MONTHS_AFTER_REFERENCE:
        yield Finding("due_long_after_reference_month", fields,
                      f"Due date {d.vencimento} is {gap} months after the reference month {d.mes_referencia} "
                      f"(expected at most {MAX_DUE_MONTHS_AFTER_REFERENCE}).")


@rule("due_before_reading")
def _due_vs_reading(d: BillData) -> Iterator[Finding]:
    due, read = _date(d.vencimento), _date(d.leitura_atual)
    if due is not None and read is not None and due <= read:
        yield Finding("due_before_reading", ("vencimento", "leitura_atual"),
                      f"Due date {d.vencimento} is not after the meter reading date {d.leitura_atual}.")


@rule("readings_out_of_order")
def _reading_order(d: BillData) -> Iterator[Finding]:
    prev, cur = _date(d.leitura_anterior), _date(d.leitura_atual)
    if prev is not None and cur is not None and prev >= cur:
        yield Finding("readings_out_of_order", ("leitura_anterior", "leitura_atual"),
                      f"Previous reading date {d.leitura_anterior} is not before the current reading date "
                      f"{d.leitura_atual}.")


@rule("next_reading_before_current")
def _next_vs_current(d: BillData) -> Iterator[Finding]:
    nxt, cur = _date(d.proximo_leitura), _date(d.leitura_atual)
    if nxt is not None and cur is not None and nxt <= cur:
        yield Finding("next_reading_before_current", ("proximo_leitura", "leitura_atual"),
                      f"Next reading date {d.proximo_leitura} is not after the current reading date {d.leitura_atual}.")


@rule("next_reading_outside_reference_window")
def _next_vs_reference(d: BillData) -> Iterator[Finding]:
    nxt, ref = _date(d.proximo_leitura), _month(d.mes_referencia)
    if nxt is None or ref is None:
        return
    gap = _month_of(nxt) - ref
    if not 0 <= gap <= MAX_NEXT_READING_MONTHS_AFTER_REFERENCE:
        where = "before" if gap < 0 else f"{gap} months after"
        yield Finding("next_reading_outside_reference_window", ("proximo_leitura", "mes_referencia"),
                      f"Next reading date {d.proximo_leitura} is {where} the reference month {d.mes_referencia} "
                      f"(expected within {MAX_NEXT_READING_MONTHS_AFTER_REFERENCE} months after it).")


@rule("next_reading_equals_due")
def _next_vs_due(d: BillData) -> Iterator[Finding]:
    nxt, due = _date(d.proximo_leitura), _date(d.vencimento)
    if nxt is not None and nxt == due:
        yield Finding("next_reading_equals_due", ("proximo_leitura", "vencimento"),
                      f"Next reading date and due date are both {d.vencimento}; one of them was probably "
                      f"copied from the other.")


# ---------------------------------------------------------------- billed days and consumption

@rule("billed_days_mismatch")
def _days_vs_readings(d: BillData) -> Iterator[Finding]:
    prev, cur = _date(d.leitura_anterior), _date(d.leitura_atual)
    if _int(d.dias_faturados) is None or prev is None or cur is None or prev >= cur:
        return
    span = (cur - prev).days
    if d.dias_faturados != span:
        yield Finding("billed_days_mismatch", ("dias_faturados", "leitura_anterior", "leitura_atual"),
                      f"Billed days is {d.dias_faturados}, but {d.leitura_anterior} to {d.leitura_atual} "
                      f"is {_plural(span, 'day')}.")


@rule("billed_days_implausible")
def _days_plausible(d: BillData) -> Iterator[Finding]:
    if _int(d.dias_faturados) is not None:
        days, fields, what = d.dias_faturados, ("dias_faturados",), f"Billed days is {d.dias_faturados}"
    else:
        prev, cur = _date(d.leitura_anterior), _date(d.leitura_atual)
        if prev is None or cur is None or prev >= cur:
            return  # out-of-order readings are readings_out_of_order's business
        days = (cur - prev).days
        fields = ("leitura_anterior", "leitura_atual")
        what = f"The reading period {d.leitura_anterior} to {d.leitura_atual} is {_plural(days, 'day')}"
    if not MIN_BILLED_DAYS <= days <= MAX_BILLED_DAYS:
        yield Finding("billed_days_implausible", fields,
                      f"{what}, outside the usual {MIN_BILLED_DAYS} to {MAX_BILLED_DAYS} days.")


@rule("negative_consumption")
def _consumption_sign(d: BillData) -> Iterator[Finding]:
    if _int(d.consumo_kwh) is not None and d.consumo_kwh < 0:
        yield Finding("negative_consumption", ("consumo_kwh",),
                      f"Billed consumption is negative ({d.consumo_kwh} kWh).")
    negative = [f"{mes} ({kwh} kWh)" for mes, kwh in _items(d.consumo_lista, "consumo")
                if _number(kwh) is not None and kwh < 0]
    if negative:
        yield Finding("negative_consumption", ("consumo_lista",),
                      f"The consumption history has negative values: {', '.join(negative)}.")


@rule("consumption_history_mismatch")
def _history_vs_consumption(d: BillData) -> Iterator[Finding]:
    if _int(d.consumo_kwh) is None or _month(d.mes_referencia) is None:
        return
    values = {kwh for mes, kwh in _items(d.consumo_lista, "consumo") if mes == d.mes_referencia and kwh is not None}
    if values and d.consumo_kwh not in values:
        shown = ", ".join(f"{v} kWh" for v in sorted(values))
        yield Finding("consumption_history_mismatch", ("consumo_lista", "consumo_kwh", "mes_referencia"),
                      f"The consumption history shows {shown} for {d.mes_referencia}, "
                      f"but the billed consumption is {d.consumo_kwh} kWh.")


@rule("consumption_history_duplicate_month", "consumption_history_too_long", "consumption_history_future_month")
def _history_shape(d: BillData) -> Iterator[Finding]:
    months = [mes for mes, _ in _items(d.consumo_lista, "consumo")]
    dupes = sorted({m for m in months if m is not None and months.count(m) > 1}, key=lambda m: _month(m) or 0)
    if dupes:
        yield Finding("consumption_history_duplicate_month", ("consumo_lista",),
                      f"The consumption history lists {', '.join(dupes)} more than once.")
    if len(months) > MAX_HISTORY_MONTHS:
        yield Finding("consumption_history_too_long", ("consumo_lista",),
                      f"The consumption history has {len(months)} months; bills print at most {MAX_HISTORY_MONTHS}.")
    ref = _month(d.mes_referencia)
    if ref is not None:
        later = sorted({m for m in months if (_month(m) or -1) > ref}, key=lambda m: _month(m) or 0)
        if later:
            yield Finding("consumption_history_future_month", ("consumo_lista", "mes_referencia"),
                          f"The consumption history has {', '.join(later)}, after the reference month "
                          f"{d.mes_referencia}.")


# ---------------------------------------------------------------- earlier unpaid bills

@rule("open_value_current_month", "open_value_future_month")
def _open_vs_reference(d: BillData) -> Iterator[Finding]:
    ref = _month(d.mes_referencia)
    if ref is None:
        return
    months = [mes for mes, _ in _items(d.valores_em_aberto, "valor")]
    fields = ("valores_em_aberto", "mes_referencia")
    if d.mes_referencia in months:
        yield Finding("open_value_current_month", fields,
                      f"The earlier unpaid bills include the current reference month {d.mes_referencia}; "
                      f"this bill's own amount must not be listed there.")
    later = sorted({m for m in months if (_month(m) or -1) > ref}, key=lambda m: _month(m) or 0)
    if later:
        yield Finding("open_value_future_month", fields,
                      f"The earlier unpaid bills include {', '.join(later)}, after the reference month "
                      f"{d.mes_referencia}.")


@rule("open_value_duplicate_month")
def _open_duplicates(d: BillData) -> Iterator[Finding]:
    months = [mes for mes, _ in _items(d.valores_em_aberto, "valor")]
    dupes = sorted({m for m in months if m is not None and months.count(m) > 1}, key=lambda m: _month(m) or 0)
    if dupes:
        yield Finding("open_value_duplicate_month", ("valores_em_aberto",),
                      f"The earlier unpaid bills list {', '.join(dupes)} more than once.")


@rule("open_values_without_flag")
def _open_vs_flag(d: BillData) -> Iterator[Finding]:
    # The reverse (flag set, no list) is allowed: bills often say "débitos anteriores" without a list.
    if d.valores_em_aberto and not d.faturas_venc:
        yield Finding("open_values_without_flag", ("faturas_venc", "valores_em_aberto"),
                      f"{_plural(len(d.valores_em_aberto), 'earlier unpaid bill')} listed, "
                      f"but the overdue-bills flag is false.")


# ---------------------------------------------------------------- barcode and digitable line

def _digits(value: Any) -> str:
    return re.sub(r"\D", "", value) if isinstance(value, str) else ""


def _format_problem(digits: str, length: int) -> str | None:
    if len(digits) != length:
        return f"has {len(digits)} digits, expected {length}"
    if digits[0] != "8":
        return f"starts with {digits[0]}, but utility payment codes start with 8"
    if digits[2] not in "6789":
        return f"has value-type digit {digits[2]} (third digit), expected 6, 7, 8 or 9"
    return None


@rule("barcode_format", "barcode_check_digit")
def _barcode(d: BillData) -> Iterator[Finding]:
    if d.codigo_barras is None:
        return
    digits = _digits(d.codigo_barras)
    problem = _format_problem(digits, 44)
    if problem:
        yield Finding("barcode_format", ("codigo_barras",), f"The barcode {problem}.")
    elif problems := bc.barcode_problems(digits):
        yield Finding("barcode_check_digit", ("codigo_barras",),
                      f"The barcode {'; '.join(problems)}, so at least one digit was misread.")


@rule("line_format", "line_check_digit")
def _line(d: BillData) -> Iterator[Finding]:
    if d.linha_digitavel is None:
        return
    digits = _digits(d.linha_digitavel)
    problem = _format_problem(digits, 48)
    if problem:
        yield Finding("line_format", ("linha_digitavel",), f"The digitable line {problem}.")
    elif problems := bc.line_problems(digits):
        yield Finding("line_check_digit", ("linha_digitavel",),
                      f"The digitable line {'; '.join(problems)}, so at least one digit was misread.")


@rule("barcode_line_mismatch")
def _barcode_vs_line(d: BillData) -> Iterator[Finding]:
    code, line = _digits(d.codigo_barras), _digits(d.linha_digitavel)
    if d.codigo_barras is None or d.linha_digitavel is None:
        return
    if _format_problem(code, 44) or _format_problem(line, 48):
        return
    inside = bc.barcode_from_line(line)
    if inside != code:
        first = next(i for i, (a, b) in enumerate(zip(inside, code)) if a != b)
        yield Finding("barcode_line_mismatch", ("codigo_barras", "linha_digitavel"),
                      f"The digitable line does not match the barcode (they first differ at barcode digit "
                      f"{first + 1}: {inside[first]} vs {code[first]}).")


@rule("barcode_amount_mismatch")
def _barcode_vs_total(d: BillData) -> Iterator[Finding]:
    total = _number(d.valor_fatura)
    if total is None:
        return
    carried: dict[str, float] = {}
    for field, length in (("codigo_barras", 44), ("linha_digitavel", 48)):
        digits = _digits(getattr(d, field))
        if getattr(d, field) is None or _format_problem(digits, length):
            continue
        amount = bc.barcode_amount(digits)  # None when the value field is not an amount (types 7/9)
        if amount is not None and abs(amount - total) > AMOUNT_TOLERANCE:
            carried[field] = amount
    if carried:
        amounts = " and ".join(sorted({_brl(a) for a in carried.values()}))
        names = " and ".join("barcode" if f == "codigo_barras" else "digitable line" for f in carried)
        verb = "carry" if len(carried) > 1 else "carries"
        yield Finding("barcode_amount_mismatch", (*carried, "valor_fatura"),
                      f"The {names} {verb} {amounts}, but the total to pay is {_brl(total)}.")


# ---------------------------------------------------------------- address

@rule("unknown_uf")
def _uf(d: BillData) -> Iterator[Finding]:
    if d.estado is not None and d.estado not in UFS:
        yield Finding("unknown_uf", ("estado",), f"State {d.estado!r} is not one of the 27 Brazilian UFs.")


@rule("cep_format")
def _cep_format(d: BillData) -> Iterator[Finding]:
    if d.cep is not None and not (isinstance(d.cep, str) and _CEP_RE.fullmatch(d.cep)):
        yield Finding("cep_format", ("cep",), f"CEP {d.cep!r} is not written as NNNNN-NNN.")


@rule("cep_state_mismatch")
def _cep_vs_state(d: BillData) -> Iterator[Finding]:
    if d.estado not in CEP_RANGES or not (isinstance(d.cep, str) and _CEP_RE.fullmatch(d.cep)):
        return
    prefix = int(d.cep[:5])
    if any(lo <= prefix <= hi for lo, hi in CEP_RANGES[d.estado]):
        return
    owner = next((uf for uf, ranges in CEP_RANGES.items() if any(lo <= prefix <= hi for lo, hi in ranges)), None)
    belongs = f"belongs to {owner}" if owner else "is in no state's range"
    yield Finding("cep_state_mismatch", ("cep", "estado"),
                  f"CEP {d.cep} {belongs}, but the state is {d.estado}.")


# ---------------------------------------------------------------- money

def _has_credits(d: BillData) -> bool:
    return bool(d.energia_ativa_injetada or (d.saldo_creditos_kwh or 0) > 0 or (d.energia_injetada_kwh or 0) > 0)


@rule("total_not_positive")
def _total(d: BillData) -> Iterator[Finding]:
    total = _number(d.valor_fatura)
    if total is None:
        return
    if total < 0:
        yield Finding("total_not_positive", ("valor_fatura",), f"The total to pay is negative ({_brl(total)}).")
    elif total == 0 and not _has_credits(d):
        yield Finding("total_not_positive", ("valor_fatura",),
                      "The total to pay is R$ 0,00, but the bill shows no injected energy or credits.")


@rule("icms_rate_out_of_range")
def _icms_rate(d: BillData) -> Iterator[Finding]:
    rate = _number(d.aliquota_icms)
    if rate is not None and not 0 <= rate <= MAX_ICMS_RATE:
        yield Finding("icms_rate_out_of_range", ("aliquota_icms",),
                      f"ICMS rate {rate:g}% is outside 0% to {MAX_ICMS_RATE:g}%.")


# ---------------------------------------------------------------- tariff group and modality

def _group(subgrupo: Any) -> str | None:
    if not isinstance(subgrupo, str) or not subgrupo.strip():
        return None
    head = subgrupo.strip()[0].upper()
    return head if head in "AB" else None


@rule("high_voltage_subgroup_mismatch")
def _group_vs_flag(d: BillData) -> Iterator[Finding]:
    group = _group(d.subgrupo)
    if group is None or (group == "A") == bool(d.alta_tensao):
        return
    expected = "true" if group == "A" else "false"
    yield Finding("high_voltage_subgroup_mismatch", ("alta_tensao", "subgrupo"),
                  f"Subgroup {d.subgrupo} is group {group}, so the high-voltage flag should be {expected}.")


@rule("modality_flag_mismatch")
def _modality_vs_flags(d: BillData) -> Iterator[Finding]:
    if not isinstance(d.modalidade, str):
        return
    modality = d.modalidade.strip().lower()
    for flag, name, label in (("tarifa_branca", "branca", "white tariff"), ("ths_verde", "verde", "green tariff")):
        if (modality == name) != bool(getattr(d, flag)):
            yield Finding("modality_flag_mismatch", ("modalidade", flag),
                          f"Tariff modality is {d.modalidade!r}, but the {label} flag is "
                          f"{str(bool(getattr(d, flag))).lower()}.")


@rule("modality_group_mismatch")
def _modality_vs_group(d: BillData) -> Iterator[Finding]:
    group = _group(d.subgrupo)
    if group is None or not isinstance(d.modalidade, str):
        return
    modality = d.modalidade.strip().lower()
    need = {"branca": "B", "verde": "A", "azul": "A"}.get(modality)
    if need is not None and need != group:
        yield Finding("modality_group_mismatch", ("modalidade", "subgrupo"),
                      f"Tariff modality {d.modalidade!r} exists only in group {need}, but the subgroup is "
                      f"{d.subgrupo}.")


# ---------------------------------------------------------------- entry points

#: Every code a rule may emit, in rule order.
ALL_RULE_CODES: tuple[str, ...] = tuple(code for fn in RULES for code in RULE_CODES[fn])


def check_bill(data: BillData) -> list[Finding]:
    """Run every registered rule; a rule that crashes is logged and skipped, never fatal."""
    findings: list[Finding] = []
    for fn in RULES:
        try:
            findings.extend(fn(data))
        except Exception:  # a check must never take down an extraction
            log.exception("consistency rule %s failed", getattr(fn, "__name__", fn))
    return findings


def findings_to_warnings(findings: Iterable[Finding]) -> list[dict[str, Any]]:
    """The API form: ``[{"code", "fields", "message"}]`` with plain lists, JSON-ready."""
    return [{"code": f.code, "fields": list(f.fields), "message": f.message} for f in findings]
