"""A bill's page text -> the contract, every value a candidate read off the page, with its source.

Cross-checks decide ties and set confidence: the FEBRABAN barcode's amount against the total, the
history row of the reference month and the reading difference against the consumption, the
reading dates against the billed days, the due date after the reference month. A conflict lowers
the field's confidence (and so sets ``requires_review`` downstream); it never invents a value.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from extractor_energy.documents.page_text import PageText
from extractor_energy.domain.barcode import barcode_amount
from extractor_energy.domain.schema import BillData, coerce_bill
from extractor_energy.grounding.candidates import Candidate, find_candidates
from extractor_energy.grounding.fields import SPECS
from extractor_energy.grounding.lines import Line, page_lines
from extractor_energy.grounding.lists import consumption_history, open_bills
from extractor_energy.grounding.ranker import MIN_SCORE, Scored, rank
from extractor_energy.grounding.structures import read_structures

Source = dict[str, Any]
log = logging.getLogger(__name__)


@dataclass
class GroundedAnswer:
    data: BillData
    sources: dict[str, Source | list[Source | None] | None]
    confidence: dict[str, float]
    conflicts: list[dict[str, Any]] = field(default_factory=list)  # answer warnings {"code", "fields", "message"}
    candidates: int = 0
    #: field -> the ranked candidates read by label (best first), for a model to choose among where evidence is thin
    alternatives: dict[str, list[Scored]] = field(default_factory=dict)


def _confidence(ranked: list[Scored]) -> float:
    top = ranked[0]
    rival = next((s for s in ranked[1:] if s.candidate.value != top.candidate.value), None)
    margin = top.score - (rival.score if rival else 0.0)
    return round(max(0.05, min(1.0, top.score / 3.0) * min(1.0, 0.55 + margin / 2.0)), 4)


def _day(text: str) -> date | None:
    try:
        d, m, y = (int(p) for p in text.split("/"))
        return date(y, m, d)
    except (ValueError, AttributeError):
        return None


class _Reader:
    def __init__(self, lines: list[Line], candidates: list[Candidate]):
        self.lines, self.candidates = lines, candidates
        self.values: dict[str, Any] = {}
        self.sources: dict[str, Any] = {}
        self.confidence: dict[str, float] = {}
        self.conflicts: list[dict[str, Any]] = []
        self.alternatives: dict[str, list[Scored]] = {}

    def take(self, name: str, ranked: list[Scored], conf: float | None = None) -> None:
        self.alternatives[name] = ranked
        if ranked and ranked[0].score >= MIN_SCORE:
            self.set(name, ranked[0].candidate.value, ranked[0].candidate, conf if conf is not None else _confidence(ranked))

    def set(self, name: str, value: Any, where: Candidate | None, conf: float) -> None:
        self.values[name] = value
        self.sources[name] = where.source() if where is not None else None
        self.confidence[name] = round(conf, 4)

    def conflict(self, fields: list[str], message: str) -> None:
        for f in fields:
            if f in self.confidence:
                self.confidence[f] = round(min(self.confidence[f], 0.4), 4)
        self.conflicts.append({"code": "cross_check", "fields": fields, "message": message})

    def ranked(self, name: str) -> list[Scored]:
        return rank(SPECS[name], self.candidates, self.lines)


def ground_bill(pages: list[PageText], utility: str | None = None) -> GroundedAnswer:
    """Read the contract off ``pages``; a page with no candidate for a field leaves it null.

    Never raises: should a rule trip over an odd page, the answer is the empty contract with a
    warning (bad input must not become a server error).
    """
    try:
        return _ground(pages, utility)
    except Exception as exc:  # pragma: no cover - a defect in a rule, never the user's fault
        log.exception("grounded extraction failed")
        return GroundedAnswer(BillData(), {}, {}, [{"code": "grounding_failed", "fields": [],
                                                   "message": f"values could not be read off the page ({type(exc).__name__})"}])


def _ground(pages: list[PageText], utility: str | None) -> GroundedAnswer:
    lines = page_lines(pages)
    candidates = find_candidates(lines)
    r = _Reader(lines, candidates)
    r.take("mes_referencia", r.ranked("mes_referencia"))
    _latest_month(r)
    reference = r.values.get("mes_referencia")
    _dates(r, reference)
    _total(r)
    if "valor_fatura" not in r.values:
        _unlabelled_total(r)
    _consumption(r, reference)
    for name in ("num_instalacao", "cod_cliente", "conta_contrato", "aliquota_icms", "contrib_iluminacao_publica",
                 "energia_injetada_kwh", "saldo_creditos_kwh"):
        ranked = r.ranked(name)
        if name in ("cod_cliente", "conta_contrato"):
            ranked = [s for s in ranked if s.candidate.value != r.values.get("num_instalacao")]
        r.take(name, ranked)
    for name, (value, where) in read_structures(lines, candidates, utility).items():
        if name not in r.values and value is not None:
            r.set(name, value, where, 0.8 if where is not None else 0.6)
    return _finish(r, len(candidates))


def _month_key(month: str) -> int:
    mm, yyyy = month.split("/")
    return int(yyyy) * 12 + int(mm)


def _latest_month(r: _Reader) -> None:
    """The reference month is the latest month the bill prints (its history ends there, open bills come
    before it): where the label-read month is earlier, or none was read, the latest one is taken, flagged."""
    months = [c for c in r.candidates if c.kind == "month" and 2000 <= int(c.value[-4:]) <= 2100]
    if not months:
        return
    latest = max(months, key=lambda c: (_month_key(c.value), -c.line.index))
    read = r.values.get("mes_referencia")
    if read is not None and _month_key(read) >= _month_key(latest.value):
        return
    r.set("mes_referencia", latest.value, latest, 0.5)
    if read is not None:
        r.conflict(["mes_referencia"], f"the month read by its label ({read}) is earlier than the latest month "
                                       f"printed ({latest.value})")


def _unlabelled_due_date(r: _Reader, reference: str | None) -> None:
    """No labelled due date: the date printed most often after the reference month (the slip repeats it),
    not one of the reading dates, nor beside a reading/emission label; flagged for review."""
    start = _day(f"01/{reference}") if reference else None
    taken = {r.values.get(k) for k in ("leitura_anterior", "leitura_atual", "proximo_leitura")}
    anti = SPECS["vencimento"].anti_patterns
    counts: dict[str, list[Candidate]] = {}
    for c in r.candidates:
        day = _day(c.value) if c.kind == "date" else None
        if day is None or c.value in taken or (start and not 0 < (day - start).days <= 100):
            continue
        if any(p.search(c.line.folded[:c.start]) for p in anti):
            continue
        counts.setdefault(c.value, []).append(c)
    if counts:
        value, where = max(counts.items(), key=lambda kv: (len(kv[1]), -kv[1][0].line.index))
        r.set("vencimento", value, where[0], 0.45)


def _dates(r: _Reader, reference: str | None) -> None:
    start = _day(f"01/{reference}") if reference else None
    for name in ("leitura_anterior", "leitura_atual", "vencimento", "proximo_leitura"):
        ranked = r.ranked(name)
        if name == "vencimento" and start is not None:
            ranked = [s for s in ranked if (_day(s.candidate.value) or start) >= start] or ranked
        if name == "proximo_leitura":
            ranked = [s for s in ranked if s.candidate.value != r.values.get("vencimento")]
            for s in ranked:
                if s.candidate.kind == "daymonth" and reference:
                    from extractor_energy.domain.normalize import full_date
                    try:
                        s.candidate = Candidate("date", full_date(s.candidate.value, reference), s.candidate.text,
                                                s.candidate.line, s.candidate.start, s.candidate.end)
                    except ValueError:
                        s.score = -1
            ranked = [s for s in ranked if s.candidate.kind == "date" and s.candidate.value]
        r.take(name, ranked)
    if "vencimento" not in r.values:
        _unlabelled_due_date(r, reference)
    prev, cur = (_day(r.values.get(k) or "") for k in ("leitura_anterior", "leitura_atual"))
    if prev and cur and cur <= prev:
        r.conflict(["leitura_anterior", "leitura_atual"], "the current reading date is not after the previous one")


def _total(r: _Reader) -> None:
    ranked = r.ranked("valor_fatura")
    codes = [c for c in r.candidates if c.kind == "barcode"]
    amounts = {a for a in (_amount(c.value) for c in codes) if a}
    if amounts:
        agreeing = [s for s in ranked if s.candidate.value in amounts]
        if agreeing:
            best = agreeing[0]
            r.set("valor_fatura", best.candidate.value, best.candidate, min(1.0, _confidence(ranked) + 0.3))
            return
    r.take("valor_fatura", ranked)
    if "valor_fatura" not in r.values and amounts:
        printed = [c for c in r.candidates if c.kind == "money" and c.value in amounts]
        if printed:  # no label read, but the barcode's amount is printed on the page
            r.set("valor_fatura", printed[0].value, printed[0], 0.6)
            return
    if amounts and "valor_fatura" in r.values and r.values["valor_fatura"] not in amounts:
        r.conflict(["valor_fatura"], "the barcode's amount differs from the total read")


def _unlabelled_total(r: _Reader) -> None:
    """No labelled total: the amount on the header row that holds the reference month or the due date
    (``JUL/2023 | R$ 122,71``), else an amount in R$ the slip repeats; flagged for review."""
    rows = {(s["page"], s["box"][1]) for k in ("mes_referencia", "vencimento") if isinstance(s := r.sources.get(k), dict)}
    header = [c for c in r.candidates if c.kind == "money" and c.value > 0 and any(
        c.page + 1 == page and abs(c.line.page_box(c.box)[1] - top) < 0.5 * (c.box[3] - c.box[1]) for page, top in rows)]
    if header:
        best = sorted(header, key=lambda c: ("R$" not in c.text, c.line.index))[0]
        r.set("valor_fatura", best.value, best, 0.5)
        return
    counts: dict[float, list[Candidate]] = {}
    for c in r.candidates:
        if c.kind == "money" and c.value > 0:
            counts.setdefault(c.value, []).append(c)
    repeated = [cs for cs in counts.values() if len(cs) >= 2 and any("R$" in c.text for c in cs)]
    if repeated:
        best = max(repeated, key=lambda cs: (len(cs), cs[0].value))
        r.set("valor_fatura", best[0].value, best[0], 0.45)


def _amount(digits: str) -> float | None:
    from extractor_energy.domain.barcode import barcode_from_line
    try:
        code = barcode_from_line(digits) if len(digits) == 48 else digits
        return barcode_amount(code) if len(code) == 44 else None
    except (ValueError, TypeError):
        return None


def _consumption(r: _Reader, reference: str | None) -> None:
    rows = consumption_history(r.candidates, reference)
    if rows:
        r.values["consumo_lista"] = [row for row, _ in rows]
        r.sources["consumo_lista"] = [c.source() for _, c in rows]
    history = {row["mes_ano"]: row["consumo"] for row, _ in rows}
    debts = open_bills(r.lines, r.candidates, reference)
    if debts:
        r.values["valores_em_aberto"] = [row for row, _ in debts]
        r.sources["valores_em_aberto"] = [c.source() for _, c in debts]
    ranked = [s for s in r.ranked("consumo_kwh") if s.candidate.value == int(s.candidate.value)]
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
            r.set("consumo_kwh", int(expected), agreeing[0].candidate, min(1.0, _confidence(ranked) + 0.3))
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
    days = r.ranked("dias_faturados")
    prev, cur = (_day(r.values.get(k) or "") for k in ("leitura_anterior", "leitura_atual"))
    span = (cur - prev).days if prev and cur else None
    agreeing = [s for s in days if span is not None and s.candidate.value == span]
    if agreeing:
        r.set("dias_faturados", span, agreeing[0].candidate, min(1.0, _confidence(days) + 0.3))
    else:
        r.take("dias_faturados", days)
    if "dias_faturados" in r.values:
        r.values["dias_faturados"] = int(r.values["dias_faturados"])


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


def _finish(r: _Reader, count: int) -> GroundedAnswer:
    data, problems = coerce_bill(r.values)
    dumped = data.model_dump()
    sources = {k: v for k, v in r.sources.items() if dumped.get(k) not in (None, False, [])}
    confidence = {k: v for k, v in r.confidence.items() if k in sources}
    return GroundedAnswer(data, sources, confidence, r.conflicts, count, r.alternatives)


def locate_sources(data: BillData, pages: list[PageText]) -> dict[str, Source | None]:
    """For a value the model wrote (VLM family): where the page text holds it, else ``None`` (never invented)."""
    lines = page_lines(pages)
    candidates = find_candidates(lines)
    out: dict[str, Source | None] = {}
    for name, value in data.model_dump().items():
        if value in (None, False, []) or isinstance(value, (list, bool)):
            continue
        hit = next((c for c in candidates if c.value == value or (isinstance(value, str) and c.text == value)), None)
        if hit is None and isinstance(value, str):
            hit = next((_text_hit(l, value) for l in lines if value.upper() in l.text.upper()), None)
        out[name] = hit.source() if hit is not None else None
    return out


def _text_hit(line: Line, value: str) -> Candidate:
    start = line.text.upper().index(value.upper())
    return Candidate("text", value, line.text[start:start + len(value)], line, start, start + len(value))
