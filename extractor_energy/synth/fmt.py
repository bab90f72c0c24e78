"""How Brazilian bills print numbers, money, dates and months (the inverse of ``normalize``)."""

from __future__ import annotations

from datetime import date

from extractor_energy.domain.normalize import MONTHS_PT

MONTH_NAMES = ["Janeiro", "Fevereiro", "Março", "Abril", "Maio", "Junho", "Julho", "Agosto",
               "Setembro", "Outubro", "Novembro", "Dezembro"]


def number(value: float, decimals: int = 2, thousands: bool = True) -> str:
    """``1234.5`` -> ``1.234,50``; negative values keep a leading minus."""
    text = f"{abs(value):,.{decimals}f}" if thousands else f"{abs(value):.{decimals}f}"
    text = text.replace(",", "_").replace(".", ",").replace("_", ".")
    return ("-" if value < 0 and round(abs(value), decimals) else "") + text


def brl(value: float, symbol: bool = False, trailing_minus: bool = False) -> str:
    """Money: ``R$ 1.234,56``; credits ``-456,49`` or ``456,49-``."""
    text = number(abs(value)) if trailing_minus else number(value)
    if trailing_minus and value < 0:
        text += "-"
    return f"R$ {text}" if symbol else text


#: How totals are printed (real_layouts.md section 6); every style reads back to the same amount once
#: asterisks and spaces are dropped.
TOTAL_STYLES = ("rs", "rs_tight", "plain", "stars", "stars_plain", "rs_gap")


def total(value: float, style: str = "rs", fill: int = 14) -> str:
    """The amount to pay: ``R$ 142,48``, ``R$142,48``, ``142,48``, ``R$*****140,54``, ``****3.038,32``, ``R$ 92, 60``.

    The asterisk styles pad to ``fill`` characters after ``R$`` like check-protection printers do.
    """
    body = number(value)
    if style == "rs":
        return f"R$ {body}"
    if style == "rs_tight":
        return f"R${body}"
    if style == "plain":
        return body
    if style == "stars":
        return "R$" + body.rjust(fill, "*")
    if style == "stars_plain":
        return body.rjust(fill - 2, "*")
    if style == "rs_gap":
        return "R$ " + body.replace(",", ", ")
    raise ValueError(f"unknown total style {style!r}")


def short_dmy(day_text: str) -> str:
    """``05/11/2025`` -> ``05/11/25`` (reading dates on Energisa rolls and Elektro)."""
    return day_text[:6] + day_text[-2:]


def kwh(value: int) -> str:
    """Whole kWh with a thousands dot: ``1234`` -> ``1.234``."""
    return number(value, 0)


def tariff(value: float) -> str:
    """Unit tariff with six decimals: ``0,978891``."""
    return number(value, 6, thousands=False)


def dmy(day: date) -> str:
    return day.strftime("%d/%m/%Y")


def dm(day: date) -> str:
    return day.strftime("%d/%m")


def month(mes_ano: str, style: str) -> str:
    """Print an ``MM/AAAA`` month as a layout does.

    Styles: ``num`` 07/2025, ``short`` 7/2025, ``abbr`` JUL/2025, ``abbr2`` JUL/25, ``name`` Julho/2025,
    ``title_sp`` Jul / 2025, ``name_sp`` Julho / 2025, ``num_sp`` 07 / 2025, ``compact`` JUL25 (history labels).
    """
    m, y = int(mes_ano[:2]), int(mes_ano[3:])
    if style == "num":
        return f"{m:02d}/{y}"
    if style == "short":
        return f"{m}/{y}"
    if style == "abbr":
        return f"{MONTHS_PT[m - 1]}/{y}"
    if style == "abbr2":
        return f"{MONTHS_PT[m - 1]}/{y % 100:02d}"
    if style == "name":
        return f"{MONTH_NAMES[m - 1]}/{y}"
    if style == "title_sp":
        return f"{MONTHS_PT[m - 1].title()} / {y}"
    if style == "name_sp":
        return f"{MONTH_NAMES[m - 1]} / {y}"
    if style == "num_sp":
        return f"{m:02d} / {y}"
    if style == "compact":
        return f"{MONTHS_PT[m - 1]}{y % 100:02d}"
    raise ValueError(f"unknown month style {style!r}")


def digitable(line: str) -> str:
    """48-digit line in the usual four groups: ``83640000001-2 34560069001-3 ...``."""
    return " ".join(f"{line[i:i + 11]}-{line[i + 11]}" for i in range(0, 48, 12))


def grouped(digits: str, size: int = 4) -> str:
    """Digits in groups separated by spaces (NF3e access keys)."""
    return " ".join(digits[i:i + size] for i in range(0, len(digits), size))


def parse_dmy(text: str) -> date:
    """``DD/MM/AAAA`` -> date."""
    day, month_, year = (int(part) for part in text.split("/"))
    return date(year, month_, day)
