"""The tax box (``ICMS | base | rate | value``) read by its arithmetic where its lines are not lines.

On a photo the tax box's rows drift apart (a label lands on the line of the row below) and OCR prints
``43.41`` for ``43,41``, so the line rule of :mod:`structures` finds nothing. Here each tax label takes
the three amounts right of it, near its height, that add up as a tax row does: base x rate / 100 =
value (to the cent, or 1 %), at a rate that tax has. Amounts that do not add up are never a tax row, whatever their place.
"""

from __future__ import annotations

import re
from itertools import combinations
from typing import Any

from extractor_energy.grounding.candidates import Candidate
from extractor_energy.grounding.lines import Line

#: (label, value field, rate field, the rates the tax has on energy bills: ICMS 7-40 %, PIS/PASEP up to
#: 1.65 %, COFINS up to 7.6 %, both varying monthly in the non-cumulative regime)
TAXES = (("ICMS", "valor_icms", "aliquota_icms", (7.0, 40.0)), ("PIS(?:/PASEP)?", "valor_pis", None, (0.1, 2.0)),
         ("COFINS", "valor_cofins", None, (2.0, 8.0)))
_AMOUNT = re.compile(r"(?<![\d.,])\d{1,3}(?:\.\d{3})*[.,]\d{2}(?![\d.,])")


def _amounts(lines: list[Line]) -> list[Candidate]:
    """Every amount with two decimals, ``43,41`` or as OCR often reads it, ``43.41``."""
    out = []
    for line in lines:
        for m in _AMOUNT.finditer(line.text):
            text = m.group(0)
            whole, cents = text[:-3], text[-2:]
            value = float(whole.replace(".", "").replace(",", "") + "." + cents)
            out.append(Candidate("money", value, text, line, m.start(), m.end()))
    return out


def _adds_up(base: float, rate: float, value: float, rates: tuple[float, float]) -> bool:
    return rates[0] <= rate <= rates[1] and 0 < value < base and abs(base * rate / 100 - value) <= max(0.011, 0.01 * value)


def read_tax_rows(lines: list[Line], candidates: list[Candidate], out: dict[str, tuple[Any, Candidate | None]]) -> None:
    """Fill the tax fields :func:`structures._tax_rows` left empty, from rows whose amounts add up."""
    amounts = _amounts(lines)
    for name, field_value, field_rate, rates in TAXES:
        if field_value in out:
            continue
        for line in lines:
            match = re.search(r"(?:^|\| )" + name + r"(?: \||$)", line.folded)
            if not match:
                continue
            x0, y0, x1, y1 = line.span_box(match.start(), match.end())
            height = max(y1 - y0, 1.0)
            centre = (y0 + y1) / 2
            near = sorted((c for c in amounts if c.page == line.page and c.box[0] > x1 - 1
                           and abs((c.box[1] + c.box[3]) / 2 - centre) <= 2.5 * height), key=lambda c: c.box[0])
            rows = [(b, r, v) for b, r, v in combinations(near, 3)
                    if b.box[2] <= r.box[0] + 1 and r.box[2] <= v.box[0] + 1 and _adds_up(b.value, r.value, v.value, rates)]
            if not rows:
                continue
            b, r, v = min(rows, key=lambda row: sum(abs((c.box[1] + c.box[3]) / 2 - centre) for c in row))
            out[field_value] = (v.value, v)
            if field_rate:
                out[field_rate] = (r.value, r)
            break


_CIP = re.compile(r"[IL1H]LUM|\bCIP\b|COSIP|CUSTEIO")


def read_street_lighting(lines: list[Line], out: dict[str, tuple[Any, Candidate | None]]) -> None:
    """The public-lighting contribution where no money candidate followed its label: the first amount
    after the label on its line, also as OCR prints it (``CONTRIB ILUM PUBLICA | 39.02``)."""
    if "contrib_iluminacao_publica" in out:
        return
    for line in lines:
        match = _CIP.search(line.folded)
        after = [c for c in _amounts([line]) if match and c.start >= match.end() and c.value > 0]
        if after:
            first = min(after, key=lambda c: c.start)
            out["contrib_iluminacao_publica"] = (first.value, first)
            return
