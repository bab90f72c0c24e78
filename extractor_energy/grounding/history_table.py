"""The consumption history read as a table by its columns, not by its lines.

On a phone photo the page is levelled as a whole, but curl and perspective leave each column a few
pixels higher or lower than its neighbour: a row's kWh can sit closer to the next row's month than to
its own, and reading line by line pairs every month with its neighbour's value. Here the months
stacked in a column are found first, then the column of whole numbers right of them, and the two are
paired by their vertical order after the one shift that lines up most of them. A table printed as two
or three column pairs side by side is read down each month column in turn, as it is printed.
"""

from __future__ import annotations

from statistics import median
from typing import Any

from extractor_energy.grounding.candidates import Candidate, month_index

Row = tuple[dict[str, Any], Candidate]


def _cx(c: Candidate) -> float:
    return (c.box[0] + c.box[2]) / 2


def _cy(c: Candidate) -> float:
    return (c.box[1] + c.box[3]) / 2


def _columns(items: list[Candidate], tolerance: float) -> list[list[Candidate]]:
    """Items grouped by horizontal position (left edges within ``tolerance``), each sorted top-down."""
    columns: list[list[Candidate]] = []
    for c in sorted(items, key=lambda o: o.box[0]):
        if columns and abs(c.box[0] - median(o.box[0] for o in columns[-1])) <= tolerance:
            columns[-1].append(c)
        else:
            columns.append([c])
    return [sorted(col, key=_cy) for col in columns]


def _stacked(column: list[Candidate], pitch: float) -> list[Candidate]:
    """The longest vertically contiguous stretch of a column (no gap above three row pitches)."""
    best: list[Candidate] = []
    run: list[Candidate] = []
    for c in column:
        if run and _cy(c) - _cy(run[-1]) > 3 * pitch:
            run = []
        run.append(c)
        if len(run) > len(best):
            best = list(run)
    return best


def _pair(months: list[Candidate], values: list[Candidate], pitch: float) -> list[tuple[Candidate, Candidate]]:
    """Months and values paired after the vertical shift that lines up the most of them (then the one
    that keeps the most pairs on one text line, then the smallest). A slanted word's box is taller than
    its line, so the shift may reach a few row pitches."""
    shifts = {round(_cy(v) - _cy(m), 1) for m in months for v in values if abs(_cy(v) - _cy(m)) < 3 * pitch}
    best: list[tuple[Candidate, Candidate]] = []
    best_key: tuple[int, int, float] = (0, 0, 0.0)
    for shift in shifts:
        pairs, used = [], set()
        for m in months:
            near = [v for v in values if id(v) not in used and abs(_cy(v) - _cy(m) - shift) < pitch / 2]
            if near:
                v = min(near, key=lambda o: abs(_cy(o) - _cy(m) - shift))
                used.add(id(v))
                pairs.append((m, v))
        key = (len(pairs), sum(m.line.index == v.line.index for m, v in pairs), -abs(shift))
        if key > best_key:
            best, best_key = pairs, key
    return best


def _unreadable_months(pairs: list[tuple[Candidate, Candidate]], values: list[Candidate],
                       in_window) -> list[tuple[dict[str, Any], Candidate, Candidate]]:
    """Rows whose kWh was read but whose month label was not (OCR garbled ``JUL/25`` into ``JL/25``):
    the month is the one the printed sequence puts there, counted in rows from the nearest read row.
    Only where the read rows are one month apart per row pitch, in one direction; the source is the kWh."""
    steps = [(month_index(b[0].value) - month_index(a[0].value), _cy(b[1]) - _cy(a[1])) for a, b in zip(pairs, pairs[1:])]
    unit = [(dm, dy) for dm, dy in steps if abs(dm) == 1 and dy > 0]
    if len(unit) < 3 or len({dm for dm, _ in unit}) != 1 or len(unit) < 0.7 * len(steps):
        return []
    direction, pitch = unit[0][0], median(dy for _, dy in unit)
    used = {id(v) for _, v in pairs}
    taken = {m.value for m, _ in pairs}
    out = []
    for v in values:
        if id(v) in used:
            continue
        month, value = min(pairs, key=lambda mv: abs(_cy(mv[1]) - _cy(v)))
        rows = (_cy(v) - _cy(value)) / pitch
        k = round(rows)
        if k == 0 or abs(rows - k) > 0.3:
            continue
        index = month_index(month.value) + direction * k
        guess = f"{index % 12 + 1:02d}/{index // 12}"
        if guess in taken:
            continue
        synthetic = Candidate("month", guess, v.text, v.line, v.start, v.end)
        if not in_window(synthetic):
            continue
        taken.add(guess)
        out.append(({"mes_ano": guess, "consumo": int(v.value)}, v, v))
    return out


def history_tables(candidates: list[Candidate], in_window) -> list[list[Row]]:
    """Every history table of the bill as rows (month, kWh), one list per table, column after column.

    ``in_window(candidate)`` says whether a month may belong to the history (before the reference
    month, within thirteen months of it)."""
    tables: list[list[Row]] = []
    for page in sorted({c.page for c in candidates}):
        months = [c for c in candidates if c.page == page and c.kind == "month" and in_window(c)]
        if len(months) < 4:
            continue
        height = median(c.box[3] - c.box[1] for c in months)
        months = [c for c in months if c.box[3] - c.box[1] <= 2 * height]  # not a flattened text-layer block
        if len(months) < 4:
            continue
        width = median(c.box[2] - c.box[0] for c in months)
        columns = [col for col in (_stacked(col, 1.6 * height) for col in _columns(months, width / 2)) if len(col) >= 4]
        numbers = [c for c in candidates if c.page == page and c.kind == "number" and c.box[3] - c.box[1] <= 2 * height
                   and c.value == int(c.value) and 0 <= c.value <= 1_000_000]
        rows: list[Row] = []
        for i, col in enumerate(columns):
            pitch = median(_cy(b) - _cy(a) for a, b in zip(col, col[1:])) or height
            right = max(c.box[2] for c in col)
            limit = min((min(c.box[0] for c in other) for other in columns[i + 1:]
                         if min(c.box[0] for c in other) > right), default=float("inf"))
            top, bottom = _cy(col[0]) - 3 * pitch, _cy(col[-1]) + 3 * pitch
            beside = [c for c in numbers if c.box[0] > right - 1 and c.box[2] <= limit + 1 and top <= _cy(c) <= bottom]
            value_columns = [v for v in _columns(beside, width / 2) if len(v) >= len(col) // 2]
            if not value_columns:
                continue
            values = value_columns[0]  # the column nearest the months: kWh comes before days and amounts
            pairs = sorted(_pair(col, values, pitch), key=lambda mv: _cy(mv[0]))
            found = [({"mes_ano": m.value, "consumo": int(v.value)}, m, v) for m, v in pairs]
            found += _unreadable_months(pairs, values, in_window)
            found.sort(key=lambda row: _cy(row[2]))
            rows.extend((row, month) for row, month, _ in found)
        if rows:
            tables.append(rows)
    return tables
