"""The two lists, read as rows of candidates: the consumption history (month, kWh) and the open
bills (month, amount) of a debts block."""

from __future__ import annotations

import re
from typing import Any

from extractor_energy.grounding.candidates import Candidate, month_index
from extractor_energy.grounding.history_table import history_tables
from extractor_energy.grounding.lines import Line

HISTORY_MAX = 13
_DEBTS = re.compile(r"DEBITOS ANTERIORES|FATURAS? EM ATRASO|CONTAS VENCIDAS|FATURAS VENCIDAS|REAVISO|EM ABERTO")


def by_line_index(candidates: list[Candidate]) -> dict[int, list[Candidate]]:
    """Candidates grouped by the index of their line."""
    by_line: dict[int, list[Candidate]] = {}
    for c in candidates:
        by_line.setdefault(c.line.index, []).append(c)
    return by_line


def _next_on_line(c: Candidate, by_line: dict[int, list[Candidate]], kinds: tuple[str, ...]) -> Candidate | None:
    """The first candidate after ``c`` on its line, if it is of ``kinds`` and nothing else comes between."""
    after = [o for o in by_line.get(c.line.index, []) if o.start >= c.end and o.kind not in ("ident",)]
    if not after:
        return None
    first = min(after, key=lambda o: o.start)
    same_start = [o for o in after if o.start == first.start and o.kind in kinds]
    return same_start[0] if same_start else None


def consumption_history(candidates: list[Candidate], reference: str | None) -> list[tuple[dict[str, Any], Candidate]]:
    """The longest run of (month, kWh) rows on nearby lines: the history table, not stray pairs elsewhere."""
    by_line = by_line_index(candidates)
    rows: list[tuple[dict[str, Any], Candidate]] = []
    for c in candidates:
        if c.kind != "month":
            continue
        if reference and not 0 <= month_index(reference) - month_index(c.value) < HISTORY_MAX:
            continue
        value = _next_on_line(c, by_line, ("number",))
        if value is None or value.value != int(value.value) or not 0 <= value.value <= 1_000_000:
            continue
        if _DEBTS.search(c.line.folded):
            continue
        rows.append(({"mes_ano": c.value, "consumo": int(value.value)}, c))
    runs: list[list[tuple[dict[str, Any], Candidate]]] = []
    for row in rows:
        last = runs[-1][-1][1] if runs else None
        if last is not None and last.page == row[1].page and 0 <= row[1].line.index - last.line.index <= 2:
            runs[-1].append(row)
        else:
            runs.append([row])
    runs = [_column_major(run) for run in runs]
    runs.extend(_bar_charts(candidates, reference))

    def in_window(c: Candidate) -> bool:
        return not _DEBTS.search(c.line.folded) and (
            reference is None or 0 <= month_index(reference) - month_index(c.value) < HISTORY_MAX)
    tables = history_tables(candidates, in_window)
    # the most distinct months wins (a run of lines may repeat a month); a table read by columns wins a tie
    return max((_distinct(rows) for rows in tables + runs), key=len, default=[])


def _distinct(rows: list[tuple[dict[str, Any], Candidate]]) -> list[tuple[dict[str, Any], Candidate]]:
    """The rows, each month once (its first row), at most :data:`HISTORY_MAX`."""
    out, seen = [], set()
    for row in rows:
        if row[0]["mes_ano"] not in seen:
            seen.add(row[0]["mes_ano"])
            out.append(row)
    return out[:HISTORY_MAX]


def _column_major(run: list[tuple[dict[str, Any], Candidate]]) -> list[tuple[dict[str, Any], Candidate]]:
    """A table printed in side-by-side column pairs (``JUN/25 103 | DEZ/24 173``) is read down its first
    column, then the next, as it is printed: row order on the line would interleave the two halves."""
    column: dict[int, int] = {}
    per_line: dict[tuple[int, int], int] = {}
    for i, (_, month) in enumerate(run):
        key = (month.page, month.line.index)
        column[i] = per_line.get(key, 0)
        per_line[key] = column[i] + 1
    return [row for _, row in sorted(enumerate(run), key=lambda ir: (column[ir[0]], ir[0]))]


def open_bills(lines: list[Line], candidates: list[Candidate], reference: str | None) -> list[tuple[dict[str, Any], Candidate]]:
    """Rows (month, amount) in the lines after a debts heading, months before the reference month."""
    by_line = by_line_index(candidates)
    rows: list[tuple[dict[str, Any], Candidate]] = []
    seen: set[str] = set()
    for line in lines:
        if not _DEBTS.search(line.folded):
            continue
        for i in range(line.index, min(line.index + 8, len(lines))):
            for c in sorted(by_line.get(i, []), key=lambda o: o.start):
                if c.kind != "month" or c.value in seen:
                    continue
                if reference and month_index(c.value) >= month_index(reference):
                    continue
                later = [o for o in by_line.get(i, []) if o.kind == "money" and o.start > c.end]
                if later:
                    amount = min(later, key=lambda o: o.start)
                    seen.add(c.value)
                    rows.append(({"mes_ano": c.value, "valor": amount.value}, c))
    return rows


def _bar_charts(candidates: list[Candidate], reference: str | None) -> list[list[tuple[dict[str, Any], Candidate]]]:
    """Bar-chart histories: a row of >= 6 month labels, each bar's kWh printed above it in its column."""
    by_line = by_line_index(candidates)
    charts = []
    for index, row in by_line.items():
        months = sorted((c for c in row if c.kind == "month"), key=lambda c: c.start)
        if len(months) < 6:
            continue
        tall = 2 * max(m.box[3] - m.box[1] for m in months)  # a flattened text-layer block is no bar label
        above = [c for c in candidates if c.kind == "number" and c.page == months[0].page and c.box[3] - c.box[1] <= tall
                 and 0 < index - c.line.index <= 14 and c.value == int(c.value) and 0 <= c.value <= 1_000_000]
        chart = []
        for month in months:
            if reference and not 0 <= month_index(reference) - month_index(month.value) < HISTORY_MAX:
                continue
            mx0, _, mx1, _ = month.box
            centre, half = (mx0 + mx1) / 2, max((mx1 - mx0) / 2, 1.0)
            column = [c for c in above if abs((c.box[0] + c.box[2]) / 2 - centre) <= half]
            if column:
                value = max(column, key=lambda c: c.line.index)  # the label right above the bar's foot
                chart.append(({"mes_ano": month.value, "consumo": int(value.value)}, month))
        if len(chart) >= 6:
            charts.append(chart)
    return charts
