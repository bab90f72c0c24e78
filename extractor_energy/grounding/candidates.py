"""Every span of a bill's lines that could be a field value, typed and normalised, with its place.

Kinds: ``money`` (``R$ 1.234,56``, ``*****3.038,32``, ``110,64-``), ``date`` (``dd/mm/aaaa``,
``dd/mm/aa``), ``daymonth`` (``25/09``: CEMIG's next reading), ``month`` (``7/2025``,
``SET/2025``, ``SET24``, ``Junho/2025``, ``OCT25``), ``number`` (integers and decimals: kWh, days,
rates, readings), ``ident`` (installation, client and account codes, masks kept), ``cep``,
``cpf`` (masked CPF/CNPJ), ``voltage`` and ``barcode`` (a 44-digit barcode or 47/48-digit line).
A span that fails its normaliser is no candidate: a bad page gives fewer candidates, never an error.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable, Iterator

from extractor_energy.domain import normalize as n
from extractor_energy.grounding.lines import Box, Line

_MONTHS = ("JANEIRO|FEVEREIRO|MARCO|ABRIL|MAIO|JUNHO|JULHO|AGOSTO|SETEMBRO|OUTUBRO|NOVEMBRO|DEZEMBRO|"
           "JAN|FEV|MAR|ABR|MAI|JUN|JUL|AGO|SET|OUT|NOV|DEZ|FEB|APR|MAY|AUG|SEP|OCT|DEC")


@dataclass(frozen=True)
class Candidate:
    """A typed value found on the page: normalised ``value``, ``text`` as printed, and where."""

    kind: str
    value: Any
    text: str
    line: Line
    start: int
    end: int

    @property
    def box(self) -> Box:
        return self.line.span_box(self.start, self.end)

    @property
    def page(self) -> int:
        return self.line.page

    def source(self) -> dict[str, Any]:
        """Provenance as the answer carries it: 1-based page, box in page pixels, text as printed."""
        return {"page": self.page + 1, "box": [round(v, 1) for v in self.line.page_box(self.box)], "text": self.text}


def _safe(fn: Callable[[str], Any]) -> Callable[[str], Any]:
    def wrapped(text: str) -> Any:
        try:
            return fn(text)
        except (ValueError, TypeError, ArithmeticError):
            return None
    return wrapped


def _number(text: str) -> float | None:
    t = text.replace(" ", "")
    if "," in t:
        t = t.replace(".", "").replace(",", ".")
    elif re.fullmatch(r"\d{1,3}(\.\d{3})+", t):
        t = t.replace(".", "")
    return float(t)


def _ident(text: str) -> str | None:
    digits = re.sub(r"\D", "", text)
    return text.strip() if 4 <= len(digits) <= 20 else None


def _barcode(text: str) -> str | None:
    digits = re.sub(r"\D", "", text)
    return digits if len(digits) in (44, 47, 48) and digits[0] == "8" else None


#: kind -> (pattern on the folded line, normaliser of the matched original text)
PATTERNS: list[tuple[str, re.Pattern[str], Callable[[str], Any]]] = [
    ("barcode", re.compile(r"(?<!\d)8\d{3,11}(?:[ .\-]*\d){32,48}(?!\d)"), _barcode),
    ("date", re.compile(r"(?<![\d/])\d{1,2} ?/ ?\d{1,2} ?/ ?(?:\d{4}|\d{2})(?![\d/])"),
     _safe(lambda t: n.full_date(t.replace(" ", "")))),  # Celesc prints "10 / 01 / 2025"
    ("money", re.compile(r"(?:R\$ ?\**|\*{3,}|(?<![\d.,]))-?\d{1,3}(?:\.\d{3})*, ?\d{2}-?(?![\d,.])"), _safe(n.money)),
    ("month", re.compile(rf"(?<![\w/])(?:(?:{_MONTHS})\.? ?/? ?(?:\d{{4}}|\d{{2}})|\d{{1,2}} ?/ ?\d{{4}})(?![\w/])"),
     _safe(n.month)),
    ("daymonth", re.compile(r"(?<![\d/])\d{2}/\d{2}(?![\d/])"), lambda t: t),
    ("cep", re.compile(r"(?<!\d)\d{5}-\d{3}(?!\d)"), _safe(n.cep)),
    ("cpf", re.compile(r"(?<![\w.])(?:\d{3}|X{3}|\*{3})\.[\dX*]{3}\.[\dX*]{3}-(?:\d{2}|XX|\*\*)(?![\w])|"
                       r"(?<![\w.])\d{2}\.[\dX*]{3}\.[\dX*]{3}/[\dX*]{4}-\d{2}(?!\d)"), lambda t: t.strip()),
    ("voltage", re.compile(r"(?<!\d)\d{3}(?: ?/ ?\d{3})? ?V(?![A-Z])"), lambda t: re.sub(r"\s*V$", " V", t.strip())),
    ("ident", re.compile(r"(?<![\w.,/-])\d[\d.\-/]{2,24}\d(?![\w,]|/\d)"), _ident),
    ("number", re.compile(r"(?<![\w.,/-])-?\d{1,3}(?:\.\d{3})+(?:,\d+)?(?![\d/]|[.,]\d)|"
                          r"(?<![\w.,/-])-?\d+(?:,\d+)?(?![\d/]|[.,]\d)"),
     _safe(_number)),
]


def month_index(month: str) -> int:
    """A month candidate's value (``MM/AAAA``) as a count of months: comparable, and steps of one month."""
    mm, yyyy = month.split("/")
    return int(yyyy) * 12 + int(mm) - 1


def _plausible_year(text: str) -> bool:
    """A 4-digit year as printed is 19xx/20xx (OCR turns ``2025`` into ``0025`` or ``5025``)."""
    four = re.search(r"\d{4}", text)
    return four is None or four.group(0)[:2] in ("19", "20")


def find_candidates(lines: list[Line]) -> list[Candidate]:
    """Every candidate of every kind on ``lines`` (a span may be several kinds: ``340`` is number and ident)."""
    out: list[Candidate] = []
    for line in lines:
        out.extend(_on_line(line))
    return out


#: Numbers that describe rather than measure: tier ranges ("Consumo 31 a 100 kWh"), percentages ("desc 65%").
_DESCRIPTORS = re.compile(r"(?<![\d,.])\d+ A (?:\d+|MAIOR)\b|(?<![\d,.])\d+(?:,\d+)? ?%|\b\d+_\d+\b|\bAC_\d+")


def _on_line(line: Line) -> Iterator[Candidate]:
    # spans of dates/money/months and descriptors: their parts are no numbers or idents
    taken: list[tuple[int, int]] = [m.span() for m in _DESCRIPTORS.finditer(line.folded)]
    for kind, pattern, normalise in PATTERNS:
        for match in pattern.finditer(line.folded):
            start, end = match.span()
            text = line.text[start:end].strip()
            if kind in ("number", "ident", "daymonth", "month") and any(s < end and start < e for s, e in taken):
                continue
            value = normalise(text)
            if value is None or (kind == "month" and not _plausible_year(text)):
                continue
            if kind in ("barcode", "date", "money", "month", "cep", "cpf"):
                taken.append((start, end))
            yield Candidate(kind, value, text, line, start, end)
