"""Date rules: every date is a real date, and the bill's dates come in the order bills print them.

The ordering rules are rows of two tables, not one function each: :data:`ORDER` (two dates that
must relate one way) and :data:`WINDOWS` (a date that must fall within some months after the
reference month). Messages are templates filled with the fields' values by name.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass
from datetime import date
from typing import Callable, Iterator

from extractor_energy.domain.checks.base import FamilyRule, Finding, as_date, as_month, emits, month_of
from extractor_energy.domain.schema import BillData

DATE_FIELDS = ("leitura_anterior", "leitura_atual", "proximo_leitura", "vencimento")
_DATE_LABELS = {
    "leitura_anterior": "previous reading date", "leitura_atual": "current reading date",
    "proximo_leitura": "next reading date", "vencimento": "due date",
}

MAX_DUE_MONTHS_AFTER_REFERENCE = 3
MAX_NEXT_READING_MONTHS_AFTER_REFERENCE = 3


@emits("invalid_date")
def invalid_dates(d: BillData) -> Iterator[Finding]:
    for field in DATE_FIELDS:
        value = getattr(d, field)
        if value is not None and as_date(value) is None:
            yield Finding("invalid_date", (field,), f"The {_DATE_LABELS[field]} {value!r} is not a real date (DD/MM/AAAA).")
    if d.mes_referencia is not None and as_month(d.mes_referencia) is None:
        yield Finding("invalid_date", ("mes_referencia",),
                      f"The reference month {d.mes_referencia!r} is not a month (MM/AAAA).")


@dataclass(frozen=True)
class DateOrder:
    """Two dates of the bill: a finding when ``wrong(first, second)`` holds for the values of ``fields``."""

    code: str
    fields: tuple[str, str]
    wrong: Callable[[date, date], bool]
    message: str  # a template over the field names

    @property
    def codes(self) -> tuple[str, ...]:
        return (self.code,)

    @property
    def __name__(self) -> str:
        return self.code

    def __call__(self, d: BillData) -> Iterator[Finding]:
        first, second = (as_date(getattr(d, f)) for f in self.fields)
        if first is not None and second is not None and self.wrong(first, second):
            yield Finding(self.code, self.fields, self.message.format(**{f: getattr(d, f) for f in self.fields}))


@dataclass(frozen=True)
class MonthWindow:
    """A date that must fall 0 to ``most`` months after the reference month (``mes_referencia``)."""

    field: str
    most: int
    before: tuple[str, str]  # (code, message template) when it falls before the reference month
    after: tuple[str, str]  # (code, message template) when it falls more than ``most`` months after

    @property
    def codes(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys((self.before[0], self.after[0])))

    @property
    def __name__(self) -> str:
        return f"{self.field}_vs_reference_month"

    def __call__(self, d: BillData) -> Iterator[Finding]:
        day, ref = as_date(getattr(d, self.field)), as_month(d.mes_referencia)
        if day is None or ref is None:
            return
        gap = month_of(day) - ref
        if 0 <= gap <= self.most:
            return
        code, message = self.before if gap < 0 else self.after
        values = {self.field: getattr(d, self.field), "mes_referencia": d.mes_referencia, "gap": gap, "most": self.most}
        yield Finding(code, (self.field, "mes_referencia"), message.format(**values))


ORDER: dict[str, DateOrder] = {rule.code: rule for rule in (
    DateOrder("due_before_reading", ("vencimento", "leitura_atual"), operator.le,
              "Due date {vencimento} is not after the meter reading date {leitura_atual}."),
    DateOrder("readings_out_of_order", ("leitura_anterior", "leitura_atual"), operator.ge,
              "Previous reading date {leitura_anterior} is not before the current reading date {leitura_atual}."),
    DateOrder("next_reading_before_current", ("proximo_leitura", "leitura_atual"), operator.le,
              "Next reading date {proximo_leitura} is not after the current reading date {leitura_atual}."),
    DateOrder("next_reading_equals_due", ("proximo_leitura", "vencimento"), operator.eq,
              "Next reading date and due date are both {vencimento}; one of them was probably copied from the other."),
)}

_NEXT_EXPECTED = "(expected within {most} months after it)."
WINDOWS: dict[str, MonthWindow] = {
    "vencimento": MonthWindow(
        "vencimento", MAX_DUE_MONTHS_AFTER_REFERENCE,
        before=("due_before_reference_month", "Due date {vencimento} falls before the reference month {mes_referencia}."),
        after=("due_long_after_reference_month", "Due date {vencimento} is {gap} months after the reference month "
               "{mes_referencia} (expected at most {most})."),
    ),
    "proximo_leitura": MonthWindow(
        "proximo_leitura", MAX_NEXT_READING_MONTHS_AFTER_REFERENCE,
        before=("next_reading_outside_reference_window", "Next reading date {proximo_leitura} is before the reference month "
                "{mes_referencia} " + _NEXT_EXPECTED),
        after=("next_reading_outside_reference_window", "Next reading date {proximo_leitura} is {gap} months after the "
               "reference month {mes_referencia} " + _NEXT_EXPECTED),
    ),
}

#: In the order :func:`check_bill` runs them (findings come out in this order).
RULES: tuple[FamilyRule, ...] = (
    invalid_dates, WINDOWS["vencimento"], ORDER["due_before_reading"], ORDER["readings_out_of_order"],
    ORDER["next_reading_before_current"], WINDOWS["proximo_leitura"], ORDER["next_reading_equals_due"],
)
