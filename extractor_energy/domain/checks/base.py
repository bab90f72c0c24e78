"""What every family of consistency rules shares: the finding, the rule shape, and value readers.

The readers return None for an absent or malformed value, so a rule stays quiet on it (a malformed
value is reported once, by the rule that owns its format).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Any, Callable, Iterable, Iterator, Protocol

from extractor_energy.domain.schema import BillData


@dataclass(frozen=True)
class Finding:
    """One inconsistency: a stable code, the contract fields involved, a sentence for a clerk."""

    code: str
    fields: tuple[str, ...]
    message: str


Rule = Callable[[BillData], Iterable[Finding]]


class FamilyRule(Protocol):
    """A rule of a family table: callable on a bill, and naming the codes it may emit."""

    codes: tuple[str, ...]

    def __call__(self, d: BillData, /) -> Iterable[Finding]: ...


def emits(*codes: str) -> Callable[[Callable[[BillData], Iterator[Finding]]], FamilyRule]:
    """Mark a rule function with the finding codes it may emit (the package registers it)."""

    def mark(fn: Callable[[BillData], Iterator[Finding]]) -> FamilyRule:
        fn.codes = codes  # type: ignore[attr-defined]
        return fn  # type: ignore[return-value]

    return mark


_DATE_RE = re.compile(r"(\d{2})/(\d{2})/(\d{4})")
_MONTH_RE = re.compile(r"(0[1-9]|1[0-2])/(\d{4})")


def as_date(value: Any) -> date | None:
    """``DD/MM/AAAA`` -> date; None when absent or not a real date."""
    if not isinstance(value, str) or not (m := _DATE_RE.fullmatch(value)):
        return None
    try:
        return date(int(m[3]), int(m[2]), int(m[1]))
    except ValueError:
        return None


def as_month(value: Any) -> int | None:
    """``MM/AAAA`` -> a month index (year*12 + month-1); None when absent or malformed."""
    if not isinstance(value, str) or not (m := _MONTH_RE.fullmatch(value)):
        return None
    return int(m[2]) * 12 + int(m[1]) - 1


def month_of(day: date) -> int:
    return day.year * 12 + day.month - 1


def as_number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def as_int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def brl(value: float) -> str:
    """1234.5 -> ``R$ 1.234,50`` (as the bill prints it)."""
    text = f"{abs(value):,.2f}".replace(",", "_").replace(".", ",").replace("_", ".")
    return ("-" if value < 0 else "") + "R$ " + text


def month_items(values: Any, key: str) -> Iterator[tuple[Any, Any]]:
    """(mes_ano, value) pairs of a month list whose items are models or plain dicts."""
    for item in values or ():
        if isinstance(item, dict):
            yield item.get("mes_ano"), item.get(key)
        else:
            yield getattr(item, "mes_ano", None), getattr(item, key, None)


def repeated_months(months: list[Any]) -> list[str]:
    """Months listed more than once, in calendar order."""
    return sorted({m for m in months if m is not None and months.count(m) > 1}, key=lambda m: as_month(m) or 0)


def months_after(months: list[Any], ref: int) -> list[str]:
    """Months later than the month index ``ref``, in calendar order."""
    return sorted({m for m in months if (as_month(m) or -1) > ref}, key=lambda m: as_month(m) or 0)


def plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"
