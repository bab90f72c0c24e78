"""Deterministic normalisers: how Brazilian bills write values -> contract values.

Each function takes what a model (or an annotator) wrote and returns the contract value, or
raises ``ValueError`` with a short reason. ``None``/empty input returns ``None``.
"""

from __future__ import annotations

import math
import re
import unicodedata
from datetime import date
from typing import Any

MONTHS_PT = ["JAN", "FEV", "MAR", "ABR", "MAI", "JUN", "JUL", "AGO", "SET", "OUT", "NOV", "DEZ"]
_MONTH_NAMES = {
    "JANEIRO": 1, "FEVEREIRO": 2, "MARCO": 3, "ABRIL": 4, "MAIO": 5, "JUNHO": 6, "JULHO": 7,
    "AGOSTO": 8, "SETEMBRO": 9, "OUTUBRO": 10, "NOVEMBRO": 11, "DEZEMBRO": 12,
    **{abbr: i + 1 for i, abbr in enumerate(MONTHS_PT)},
    # English abbreviations that OCR-ish models sometimes emit
    "FEB": 2, "APR": 4, "MAY": 5, "AUG": 8, "SEP": 9, "OCT": 10, "DEC": 12,
}

CLASSIFICACOES = (
    "RESIDENCIAL", "COMERCIAL", "INDUSTRIAL", "RURAL", "PODER PUBLICO",
    "ILUMINACAO PUBLICA", "SERVICO PUBLICO", "OUTROS",
)


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _ascii_upper(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii").upper().strip()


def money(value: Any) -> float | None:
    """``R$ 1.234,56`` -> 1234.56; ``456,49-`` and ``-456,49`` -> -456.49; numbers pass through.

    Check-protection fill as printed on bills (``R$****140,54``, ``***140,54``) is dropped.
    """
    if _blank(value):
        return None
    if isinstance(value, bool):
        raise ValueError("expected an amount, got a boolean")
    if isinstance(value, (int, float)):
        if not math.isfinite(float(value)) or abs(float(value)) >= 1e12:
            raise ValueError(f"amount out of range: {value!r}")
        return round(float(value), 2)
    text = str(value).strip().upper().replace("R$", "").replace(" ", "").replace("\u00a0", "").lstrip("*")
    negative = text.endswith("-") or text.startswith("-") or (text.startswith("(") and text.endswith(")"))
    text = text.strip("-()+")
    if not re.fullmatch(r"[\d.,]+", text or "x"):
        raise ValueError(f"not an amount: {value!r}")
    if "," in text:
        text = text.replace(".", "").replace(",", ".")
    elif text.count(".") > 1 or re.fullmatch(r"\d{1,3}(\.\d{3})+", text):
        text = text.replace(".", "")  # 1.234 or 1.234.567 written with thousands dots only
    amount = float(text)
    if not math.isfinite(amount) or amount >= 1e12:
        raise ValueError(f"amount out of range: {value!r}")
    return round(-amount if negative else amount, 2)


def number(value: Any) -> float | None:
    """A decimal such as an ICMS rate: ``19,00%`` -> 19.0."""
    if _blank(value):
        return None
    if isinstance(value, str):
        value = value.replace("%", "").strip()
    return money(value)


def integer(value: Any) -> int | None:
    """kWh and days: ``1.234 kWh`` -> 1234, ``150`` -> 150."""
    if _blank(value):
        return None
    if isinstance(value, bool):
        raise ValueError("expected a whole number, got a boolean")
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if not value.is_integer():
            raise ValueError(f"expected a whole number, got {value}")
        return int(value)
    text = re.sub(r"(?i)\s*(kwh|dias?)\s*$", "", str(value).strip())
    text = text[:-3] if text.endswith(",00") else text
    if re.fullmatch(r"-?\d{1,3}(\.\d{3})+", text):
        text = text.replace(".", "")
    if not re.fullmatch(r"-?\d+", text):
        raise ValueError(f"not a whole number: {value!r}")
    return int(text)


def boolean(value: Any) -> bool:
    """Flags: None/absent -> False; ``sim``/``true``/1 -> True."""
    if _blank(value):
        return False
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return value != 0
    text = _ascii_upper(str(value))
    if text in {"TRUE", "SIM", "S", "YES", "Y", "1", "X"}:
        return True
    if text in {"FALSE", "NAO", "N", "NO", "0", "NULL", "NONE"}:
        return False
    raise ValueError(f"not a yes/no value: {value!r}")


def _year(text: str) -> int:
    year = int(text)
    return year + 2000 if year < 100 else year


def month(value: Any) -> str | None:
    """``OUT/2025``, ``7/2025``, ``OUT/25``, ``Junho/2025``, ``ABR./2025``, ``SET24``, ``MAR 25``, ``2025-10`` -> ``MM/AAAA``."""
    if _blank(value):
        return None
    text = _ascii_upper(str(value)).replace(" ", "")
    match = re.fullmatch(r"(\d{4})[-/.](\d{1,2})", text)
    if match:
        y, m = int(match[1]), int(match[2])
    else:  # month (number or name, an abbreviation may end in '.'), optional separator, 2- or 4-digit year
        match = re.fullmatch(r"([A-Z]+)\.?[-/.]?(\d{2}|\d{4})", text) or re.fullmatch(r"(\d{1,2})[-/.](\d{2}|\d{4})", text)
        if not match:
            raise ValueError(f"not a month: {value!r}")
        head, y = match[1], _year(match[2])
        if head.isdigit():
            m = int(head)
        elif head in _MONTH_NAMES:
            m = _MONTH_NAMES[head]
        else:
            raise ValueError(f"unknown month name {head!r}")
    if not 1 <= m <= 12 or not 1990 <= y <= 2100:
        raise ValueError(f"month out of range: {value!r}")
    return f"{m:02d}/{y:04d}"


def full_date(value: Any, reference_month: str | None = None) -> str | None:
    """``DD/MM/AAAA`` (also ``DD/MM/AA``, ISO, or ``DD/MM`` completed from ``MM/AAAA`` reference)."""
    if _blank(value):
        return None
    text = str(value).strip()
    if match := re.fullmatch(r"(\d{4})-(\d{2})-(\d{2})(?:[T ].*)?", text):
        y, m, d = int(match[1]), int(match[2]), int(match[3])
    elif match := re.fullmatch(r"(\d{1,2})[/.-](\d{1,2})[/.-](\d{2}|\d{4})", text):
        d, m, y = int(match[1]), int(match[2]), _year(match[3])
    elif match := re.fullmatch(r"(\d{1,2})[/.-](\d{1,2})", text):
        if not reference_month:
            raise ValueError(f"date {value!r} has no year and there is no reference month to take it from")
        d, m = int(match[1]), int(match[2])
        ref_m, ref_y = (int(part) for part in reference_month.split("/"))
        # a DD/MM date printed on a bill lies within a few months after the reference month
        y = ref_y + 1 if m < ref_m - 6 else (ref_y - 1 if m > ref_m + 6 else ref_y)
    else:
        raise ValueError(f"not a date: {value!r}")
    try:
        parsed = date(y, m, d)
    except ValueError as exc:
        raise ValueError(f"impossible date {value!r}: {exc}") from None
    return parsed.strftime("%d/%m/%Y")


def classificacao(value: Any) -> str | None:
    """``B1 RESIDENCIAL-COM. Residencial`` -> ``RESIDENCIAL``; unknown -> ``OUTROS``."""
    if _blank(value):
        return None
    text = _ascii_upper(str(value))
    for option in CLASSIFICACOES:
        if option in text:
            return option
    if "PODER" in text or "PUBLICO" in text:
        return "PODER PUBLICO"
    if "ILUM" in text:
        return "ILUMINACAO PUBLICA"
    return "OUTROS"


def tipo_instalacao(value: Any) -> str | None:
    """``B1 / MONO``, ``BIF``, ``TRI``, ``Monofásico`` -> the three contract values."""
    if _blank(value):
        return None
    text = _ascii_upper(str(value))
    for token, result in (("MONO", "MONOFASICO"), ("BIF", "BIFASICO"), ("TRI", "TRIFASICO")):
        if token in text:
            return result
    raise ValueError(f"unknown installation type {value!r} (expected mono/bi/trifásico)")


def bandeira(value: Any) -> str | None:
    """Tariff flag: ``Vermelha Patamar 1`` -> ``VERMELHA P1``."""
    if _blank(value):
        return None
    text = _ascii_upper(str(value))
    if "VERMELHA" in text:
        return "VERMELHA P2" if re.search(r"2|II", text.replace("VERMELHA", "")) else "VERMELHA P1"
    for option in ("VERDE", "AMARELA", "ESCASSEZ"):
        if option in text:
            return option
    raise ValueError(f"unknown tariff flag {value!r}")


def cep(value: Any) -> str | None:
    """``74000000`` / ``74.000-000`` -> ``74000-000``."""
    if _blank(value):
        return None
    digits = re.sub(r"\D", "", str(value))
    if len(digits) != 8:
        raise ValueError(f"a CEP has 8 digits, got {value!r}")
    return f"{digits[:5]}-{digits[5:]}"


def uf(value: Any) -> str | None:
    """State code in upper case; must be one of the 27."""
    from extractor_energy.domain.keys import UFS

    if _blank(value):
        return None
    text = _ascii_upper(str(value))
    if text not in UFS:
        raise ValueError(f"unknown UF {value!r}")
    return text


def text(value: Any) -> str | None:
    """Strings: stripped, inner whitespace folded; numbers become their text form."""
    if _blank(value):
        return None
    if isinstance(value, bool):
        raise ValueError("expected text, got a boolean")
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, (dict, list)):
        raise ValueError("expected text, got a structure")
    return re.sub(r"\s+", " ", str(value)).strip()


def digits(value: Any) -> str | None:
    """Barcode-like fields: digits only."""
    result = text(value)
    return re.sub(r"\D", "", result) if result else result


def subgrupo(value: Any) -> str | None:
    result = text(value)
    if not result:
        return None
    upper = result.upper().replace(" ", "")
    if not re.fullmatch(r"A[1-4]|A3A|AS|B[1-4]", upper):
        raise ValueError(f"unknown subgroup {value!r}")
    return "A3a" if upper == "A3A" else upper


def modalidade(value: Any) -> str | None:
    result = text(value)
    if not result:
        return None
    lowered = _ascii_upper(result).lower()
    for option in ("convencional", "branca", "verde", "azul"):
        if option in lowered:
            return option
    raise ValueError(f"unknown tariff modality {value!r}")
