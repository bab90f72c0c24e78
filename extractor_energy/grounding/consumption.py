"""Consumption, read with the strongest evidence first: the meter row that adds up, the history row of
the reference month, then the label; and billed days against the reading dates."""

from __future__ import annotations

import re

from extractor_energy.grounding.candidates import Candidate
from extractor_energy.grounding.lists import consumption_history, open_bills
from extractor_energy.grounding.reader import Reader, confidence_of, day_of


def read_consumption(r: Reader, reference: str | None) -> None:
    rows = consumption_history(r.candidates, reference)
    if rows:
        r.values["consumo_lista"] = [row for row, _ in rows]
        r.sources["consumo_lista"] = [c.source() for _, c in rows]
    history = {row["mes_ano"]: row["consumo"] for row, _ in rows}
    debts = open_bills(r.lines, r.candidates, reference)
    if debts:
        r.values["valores_em_aberto"] = [row for row, _ in debts]
        r.sources["valores_em_aberto"] = [c.source() for _, c in debts]
    ranked = [s for s in r.ranked("consumo_kwh") if s.candidate.value == int(s.candidate.value)
              and not _PART_OF_CONSUMPTION.search(s.candidate.line.folded[:s.candidate.start])]
    expected = history.get(reference) if reference else None
    measured = _reading_difference(r.candidates)
    if measured is not None and (expected is None or measured.value == expected):
        # the meter row (previous | current | constant | consumption) adds up: the strongest evidence there is
        r.alternatives["consumo_kwh"] = ranked
        r.set("consumo_kwh", int(measured.value), measured, 0.95 if expected is not None else 0.85)
        expected = None
        ranked = []
    if expected is not None:
        agreeing = [s for s in ranked if s.candidate.value == expected]
        if agreeing and agreeing[0].score >= ranked[0].score - 0.6:
            r.set("consumo_kwh", int(expected), agreeing[0].candidate, min(1.0, confidence_of(ranked) + 0.3))
        elif agreeing:  # a much better label read disagrees with the history row: read it, flag both
            r.take("consumo_kwh", ranked)
            r.conflict(["consumo_kwh"], f"the history row of {reference} says {expected} kWh")
        else:
            r.take("consumo_kwh", ranked)
            history_cells = {id(c) for _, c in rows}
            history_lines = {c.line.index for _, c in rows}
            elsewhere = [c for c in r.candidates if c.kind == "number" and c.value == expected
                         and id(c) not in history_cells and c.line.index not in history_lines]
            if "consumo_kwh" in r.values and not elsewhere:
                r.conflict(["consumo_kwh"], f"the history row of {reference} says {expected} kWh")
            elif elsewhere:  # the history's value is printed on a kWh line too: it wins over a thin label read
                r.set("consumo_kwh", int(expected), elsewhere[0], 0.6)
    elif ranked:
        r.take("consumo_kwh", ranked)
    if "consumo_kwh" in r.values:
        r.values["consumo_kwh"] = int(r.values["consumo_kwh"])
        _against_history(r, history, expected)
    days = r.ranked("dias_faturados")
    prev, cur = (day_of(r.values.get(k) or "") for k in ("leitura_anterior", "leitura_atual"))
    span = (cur - prev).days if prev and cur else None
    agreeing = [s for s in days if span is not None and s.candidate.value == span]
    if agreeing:
        r.set("dias_faturados", span, agreeing[0].candidate, min(1.0, confidence_of(days) + 0.3))
    else:
        r.take("dias_faturados", days)
    if "dias_faturados" in r.values:
        r.values["dias_faturados"] = int(r.values["dias_faturados"])


def _against_history(r: Reader, history: dict[str, int], expected: int | None) -> None:
    """A consumption a fifth or less, or five times or more, of the history's median month (six or more
    months read) is another number of the page (days, a tier, a reading misread): the history row of
    the reference month where there is one, else no answer and a warning."""
    months = sorted(history.values())
    if len(months) < 6 or r.confidence.get("consumo_kwh", 0.0) >= 0.95:
        return
    middle = months[len(months) // 2]
    value = r.values["consumo_kwh"]
    if middle <= 0 or 0.2 * middle < value < 5 * middle:
        return
    message = f"{value} kWh is far from the {middle} kWh of a typical month in the history"
    if expected is not None and 0.2 * middle < expected < 5 * middle:
        cell = next((c for c in r.candidates if c.kind == "number" and c.value == expected), None)
        r.set("consumo_kwh", int(expected), cell, 0.5)
    else:
        for store in (r.values, r.sources, r.confidence):
            store.pop("consumo_kwh", None)
    r.conflict(["consumo_kwh"], message)


#: A line billing part of the consumption: a tier (``Consumo 31 a 100 kWh``, OCR ``X1 a 100``) or a
#: time-of-use post (``Consumo Intermediario``, ``Ponta``): its quantity is never the month's total.
_PART_OF_CONSUMPTION = re.compile(r"\w?\d+ A \d+ ?K|INTERMEDIARI|\bPONTA\b")


def _reading_difference(candidates: list[Candidate]) -> Candidate | None:
    """On a meter row ``previous | current [| constant] | consumption``: the consumption that equals
    (current - previous) x constant, both readings and the result printed on one line."""
    by_line: dict[int, list[Candidate]] = {}
    dated = {c.line.index for c in candidates if c.kind in ("month", "money")}  # history rows, item rows
    for c in candidates:
        if c.kind == "number" and c.value == int(c.value) and c.value >= 0 and c.line.index not in dated:
            by_line.setdefault(c.line.index, []).append(c)
    pairs = _slash_readings(candidates, dated)
    for index in sorted(set(by_line) | set(pairs)):
        row = sorted(by_line.get(index, []), key=lambda c: c.start)
        below = [c for k in (index + 1, index + 2) for c in sorted(by_line.get(k, []), key=lambda c: c.start)]
        for previous, current, at in pairs.get(index, []):
            for c in [o for o in row if o.start > at] + below:
                if c.value == current - previous > 0:
                    return c
        for i in range(len(row) - 1):
            previous, current = row[i].value, row[i + 1].value
            if not 0 < current - previous <= 1_000_000 or previous < 10:
                continue
            rest = row[i + 2:] + below  # consumption beside the readings, or on the line(s) under a wrapped row
            constants = [1] + [c.value for c in rest[:1] if 0 < c.value <= 1000]
            for c in rest:
                if c.value > 0 and any(c.value == (current - previous) * k for k in constants):
                    return c
    return None


def _slash_readings(candidates: list[Candidate], dated: set[int]) -> dict[int, list[tuple[int, int, int]]]:
    """Readings printed as one ``previous/current`` pair (``12072/12199``): line -> [(previous, current, end)]."""
    out: dict[int, list[tuple[int, int, int]]] = {}
    lines = {c.line.index: c.line for c in candidates}
    for index, line in lines.items():
        if index in dated:
            continue
        for m in re.finditer(r"(?<![\d/.,])(\d{3,7}) ?/ ?(\d{3,7})(?![\d/.,]| ?V\b)", line.folded):
            if int(m.group(2)) > int(m.group(1)):  # 127/220 V is a voltage, not two readings
                out.setdefault(index, []).append((int(m.group(1)), int(m.group(2)), m.end()))
    return out
