"""Barcode and digitable line: format, check digits, agreement with each other and with the total.

The barcode (44 digits) and the digitable line (48) are read by one rule each, driven by
:data:`CODES`; a malformed code is reported here once and skipped by the cross-checks.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable, Iterator

from extractor_energy.domain import barcode as bc
from extractor_energy.domain.checks.base import FamilyRule, Finding, as_number, brl, emits
from extractor_energy.domain.schema import BillData

AMOUNT_TOLERANCE = 0.01


def digits_of(value: Any) -> str:
    return re.sub(r"\D", "", value) if isinstance(value, str) else ""


def format_problem(digits: str, length: int) -> str | None:
    """Why ``digits`` is not a utility payment code of ``length`` digits; None when it is one."""
    if len(digits) != length:
        return f"has {len(digits)} digits, expected {length}"
    if digits[0] != "8":
        return f"starts with {digits[0]}, but utility payment codes start with 8"
    if digits[2] not in "6789":
        return f"has value-type digit {digits[2]} (third digit), expected 6, 7, 8 or 9"
    return None


@dataclass(frozen=True)
class PaymentCode:
    """One payment code field: its length, how it reads in a sentence, its check-digit test."""

    field: str
    length: int
    label: str
    format_code: str
    check_code: str
    problems: Callable[[str], list[str]]

    @property
    def codes(self) -> tuple[str, ...]:
        return (self.format_code, self.check_code)

    @property
    def __name__(self) -> str:
        return self.field

    def digits(self, d: BillData) -> str | None:
        """The field's digits when it is a well-formed code; None when absent or malformed."""
        value = getattr(d, self.field)
        digits = digits_of(value)
        return None if value is None or format_problem(digits, self.length) else digits

    def __call__(self, d: BillData) -> Iterator[Finding]:
        if getattr(d, self.field) is None:
            return
        digits = digits_of(getattr(d, self.field))
        if problem := format_problem(digits, self.length):
            yield Finding(self.format_code, (self.field,), f"The {self.label} {problem}.")
        elif problems := self.problems(digits):
            yield Finding(self.check_code, (self.field,),
                          f"The {self.label} {'; '.join(problems)}, so at least one digit was misread.")


CODES: dict[str, PaymentCode] = {code.field: code for code in (
    PaymentCode("codigo_barras", 44, "barcode", "barcode_format", "barcode_check_digit", bc.barcode_problems),
    PaymentCode("linha_digitavel", 48, "digitable line", "line_format", "line_check_digit", bc.line_problems),
)}


@emits("barcode_line_mismatch")
def barcode_vs_line(d: BillData) -> Iterator[Finding]:
    code, line = CODES["codigo_barras"].digits(d), CODES["linha_digitavel"].digits(d)
    if code is None or line is None:
        return
    inside = bc.barcode_from_line(line)
    if inside != code:
        first = next(i for i, (a, b) in enumerate(zip(inside, code)) if a != b)
        yield Finding("barcode_line_mismatch", ("codigo_barras", "linha_digitavel"),
                      f"The digitable line does not match the barcode (they first differ at barcode digit "
                      f"{first + 1}: {inside[first]} vs {code[first]}).")


@emits("barcode_amount_mismatch")
def barcode_vs_total(d: BillData) -> Iterator[Finding]:
    total = as_number(d.valor_fatura)
    if total is None:
        return
    carried: dict[str, float] = {}
    for field, code in CODES.items():
        digits = code.digits(d)
        if digits is None:
            continue
        amount = bc.barcode_amount(digits)  # None when the value field is not an amount (types 7/9)
        if amount is not None and abs(amount - total) > AMOUNT_TOLERANCE:
            carried[field] = amount
    if carried:
        amounts = " and ".join(sorted({brl(a) for a in carried.values()}))
        names = " and ".join(CODES[f].label for f in carried)
        verb = "carry" if len(carried) > 1 else "carries"
        yield Finding("barcode_amount_mismatch", (*carried, "valor_fatura"),
                      f"The {names} {verb} {amounts}, but the total to pay is {brl(total)}.")


RULES: tuple[FamilyRule, ...] = (CODES["codigo_barras"], CODES["linha_digitavel"], barcode_vs_line, barcode_vs_total)
