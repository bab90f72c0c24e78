"""FEBRABAN utility ("arrecadação") barcodes: 44-digit code and 48-digit digitable line."""

from __future__ import annotations

import re

_MOD10_TYPES = {"6", "7"}
_MOD11_TYPES = {"8", "9"}
_AMOUNT_TYPES = {"6", "8"}  # the value field carries the amount in cents


def mod10(digits: str) -> str:
    """Check digit: weights 2,1,2,1... from the right, digits of products summed."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        product = int(ch) * (2 if i % 2 == 0 else 1)
        total += product // 10 + product % 10
    return str((10 - total % 10) % 10)


def mod11(digits: str) -> str:
    """Check digit: weights 2..9 cycling from the right; results 10 and 11 become 0."""
    total = sum(int(ch) * (2 + i % 8) for i, ch in enumerate(reversed(digits)))
    dv = 11 - total % 11
    return "0" if dv >= 10 else str(dv)


def _check_fn(value_type: str):
    if value_type in _MOD10_TYPES:
        return mod10
    if value_type in _MOD11_TYPES:
        return mod11
    raise ValueError(f"value-type digit must be 6, 7, 8 or 9, got {value_type!r}")


def make_barcode(amount: float, company_id: str, free_field: str, *, segment: str = "3", value_type: str = "6") -> str:
    """Build a 44-digit barcode (segment 3 = energy and gas) carrying ``amount`` in cents."""
    cents = round(amount * 100)
    if not 0 <= cents < 10**11:
        raise ValueError("amount out of range for an 11-digit value field")
    if not re.fullmatch(r"\d{4}", company_id) or not re.fullmatch(r"\d{25}", free_field):
        raise ValueError("company_id needs 4 digits and free_field 25 digits")
    body = "8" + segment + value_type + f"{cents:011d}" + company_id + free_field
    dv = _check_fn(value_type)(body)
    return body[:3] + dv + body[3:]


def digitable_line(barcode: str) -> str:
    """Turn a 44-digit barcode into the 48-digit line: four blocks of 11 digits + a check digit each."""
    if not re.fullmatch(r"\d{44}", barcode):
        raise ValueError("a utility barcode has exactly 44 digits")
    check = _check_fn(barcode[2])
    blocks = [barcode[i : i + 11] for i in range(0, 44, 11)]
    return "".join(block + check(block) for block in blocks)


def barcode_from_line(line: str) -> str:
    """Drop the four block check digits of a 48-digit line."""
    digits = re.sub(r"\D", "", line)
    if len(digits) != 48:
        raise ValueError("a digitable line has exactly 48 digits")
    return "".join(digits[i : i + 11] for i in range(0, 48, 12))


def barcode_problems(barcode: str) -> list[str]:
    """Human-readable problems with a 44-digit barcode; empty when it is valid."""
    digits = re.sub(r"\D", "", barcode or "")
    if len(digits) != 44:
        return [f"has {len(digits)} digits, expected 44"]
    if digits[0] != "8":
        return ["does not start with 8 (utility/collection barcode)"]
    if digits[2] not in _MOD10_TYPES | _MOD11_TYPES:
        return [f"value-type digit is {digits[2]}, expected 6, 7, 8 or 9"]
    expected = _check_fn(digits[2])(digits[:3] + digits[4:])
    return [] if expected == digits[3] else [f"general check digit is {digits[3]}, expected {expected}"]


def line_problems(line: str) -> list[str]:
    """Problems with a 48-digit digitable line (block check digits, then the barcode inside)."""
    digits = re.sub(r"\D", "", line or "")
    if len(digits) != 48:
        return [f"has {len(digits)} digits, expected 48"]
    if digits[2] not in _MOD10_TYPES | _MOD11_TYPES:
        return [f"value-type digit is {digits[2]}, expected 6, 7, 8 or 9"]
    check = _check_fn(digits[2])
    problems = [
        f"block {n + 1} check digit is {digits[12 * n + 11]}, expected {check(digits[12 * n : 12 * n + 11])}"
        for n in range(4)
        if check(digits[12 * n : 12 * n + 11]) != digits[12 * n + 11]
    ]
    return problems + barcode_problems(barcode_from_line(digits))


def barcode_amount(barcode: str) -> float | None:
    """The amount a valid-looking barcode carries, or None when its value field is not an amount."""
    digits = re.sub(r"\D", "", barcode or "")
    if len(digits) == 48:
        digits = barcode_from_line(digits)
    if len(digits) != 44 or digits[2] not in _AMOUNT_TYPES:
        return None
    return int(digits[4:15]) / 100
