"""A bill's page text -> the contract, every value a candidate read off the page, with its source.

Cross-checks decide ties and set confidence: the FEBRABAN barcode's amount against the total, the
history row of the reference month and the reading difference against the consumption, the
reading dates against the billed days, the due date after the reference month. A conflict lowers
the field's confidence (and so sets ``requires_review`` downstream); it never invents a value.
"""

from __future__ import annotations

import logging

from extractor_energy.documents.page_text import PageText
from extractor_energy.domain.barcode import barcode_amount, barcode_from_line
from extractor_energy.domain.normalize import full_date
from extractor_energy.domain.schema import BillData, coerce_bill
from extractor_energy.grounding.candidates import Candidate, find_candidates, month_index
from extractor_energy.grounding.fields import SPECS
from extractor_energy.grounding.lines import Line, page_lines
from extractor_energy.grounding.lists import by_line_index
from extractor_energy.grounding.consumption import read_consumption
from extractor_energy.grounding.reader import MIN_SCORE, GroundedAnswer, Reader, Source, confidence_of, day_of
from extractor_energy.grounding.structures import read_structures

log = logging.getLogger(__name__)


#: Fields taken from the reading by height even where the page was also traced: their rules (the label
#: on the value's line, the barcode, the meter row) lose more to traced lines that join a neighbouring
#: heading than they win (development captures, six value fields 0.915 by height, 0.908 traced).
BY_HEIGHT = frozenset({"mes_referencia", "vencimento", "valor_fatura", "consumo_kwh", "classificacao", "tipo_instalacao"})


def ground_bill(pages: list[PageText], utility: str | None = None) -> GroundedAnswer:
    """Read the contract off ``pages``; a page with no candidate for a field leaves it null.

    OCR pages are read twice: lines grouped by height, and lines traced along their slope (a photo's
    rows drift; tables, tax rows, items and the address block read better traced: development
    captures, whole contract 0.697 -> 0.728). The value fields of :data:`BY_HEIGHT` come from the first.

    Never raises: should a rule trip over an odd page, the answer is the empty contract with a
    warning (bad input must not become a server error).
    """
    try:
        answer = _ground(pages, utility)
        if any(p.source == "ocr" for p in pages):
            answer = _merge(answer, _ground(pages, utility, traced=True))
        return answer
    except Exception as exc:  # pragma: no cover - a defect in a rule, never the user's fault
        log.exception("grounded extraction failed")
        return GroundedAnswer(BillData(), {}, {}, [{"code": "grounding_failed", "fields": [],
                                                   "message": f"values could not be read off the page ({type(exc).__name__})"}])


def _merge(by_height: GroundedAnswer, traced: GroundedAnswer) -> GroundedAnswer:
    """The traced reading, with the fields of :data:`BY_HEIGHT` (values, sources, confidence, warnings)
    from the reading by height."""
    def pick(a: dict, b: dict) -> dict:
        return {**{k: v for k, v in b.items() if k not in BY_HEIGHT}, **{k: v for k, v in a.items() if k in BY_HEIGHT}}

    values = {**traced.data.model_dump(), **{k: v for k, v in by_height.data.model_dump().items() if k in BY_HEIGHT}}
    data, _ = coerce_bill(values)
    conflicts = ([c for c in traced.conflicts if not BY_HEIGHT & set(c.get("fields") or ())]
                 + [c for c in by_height.conflicts if BY_HEIGHT & set(c.get("fields") or ())])
    return GroundedAnswer(data, pick(by_height.sources, traced.sources), pick(by_height.confidence, traced.confidence),
                          conflicts, max(by_height.candidates, traced.candidates),
                          pick(by_height.alternatives, traced.alternatives))


def _ground(pages: list[PageText], utility: str | None, traced: bool = False) -> GroundedAnswer:
    lines = page_lines(pages, traced)
    candidates = find_candidates(lines)
    r = Reader(lines, candidates)
    r.take("mes_referencia", r.ranked("mes_referencia"))
    _latest_month(r)
    reference = r.values.get("mes_referencia")
    _dates(r, reference)
    _total(r)
    if "valor_fatura" not in r.values:
        _unlabelled_total(r)
    read_consumption(r, reference)
    for name in ("num_instalacao", "cod_cliente", "conta_contrato", "aliquota_icms", "contrib_iluminacao_publica",
                 "energia_injetada_kwh", "saldo_creditos_kwh"):
        ranked = r.ranked(name)
        if name in ("cod_cliente", "conta_contrato"):
            ranked = [s for s in ranked if s.candidate.value != r.values.get("num_instalacao")]
        r.take(name, ranked)
    for name, (value, where) in read_structures(lines, candidates, utility).items():
        # a tax row's rate beats a number after an "Alíquota" label: the row was read with its base and value
        if (name not in r.values or name == "aliquota_icms") and value is not None:
            ocr_text = name in _UNCHECKED and where is not None and pages[where.page].source == "ocr"
            r.set(name, value, where, 0.6 if where is None or ocr_text else 0.8)
    return _finish(r, len(candidates))


#: Fields a block rule copies with nothing to check them against: OCR misspells names (``ARISSA`` for
#: ``LARISSA``, ``GOIÁNIA``) and drifts rows (the public-lighting amount of the next item), so read by
#: OCR they stay under the review threshold.
_UNCHECKED = frozenset({"nome_cliente", "rua", "numero", "complemento", "bairro", "cidade", "distribuidora",
                        "contrib_iluminacao_publica"})


def _latest_month(r: Reader) -> None:
    """The reference month is the latest month the bill prints (its history ends there, open bills come
    before it): where the label-read month is earlier, or none was read, the latest one is taken, flagged."""
    months = [c for c in r.candidates if c.kind == "month" and 2000 <= int(c.value[-4:]) <= 2100]
    if not months:
        return
    latest = max(months, key=lambda c: (month_index(c.value), -c.line.index))
    read = r.values.get("mes_referencia")
    if read is not None and month_index(read) >= month_index(latest.value):
        return
    r.set("mes_referencia", latest.value, latest, 0.5)
    if read is not None:
        r.conflict(["mes_referencia"], f"the month read by its label ({read}) is earlier than the latest month "
                                       f"printed ({latest.value})")


def _unlabelled_due_date(r: Reader, reference: str | None) -> None:
    """No labelled due date: the date printed most often after the reference month (the slip repeats it)
    or printed as a stub prints it (after the month, before the total), not one of the reading dates,
    nor beside a reading/emission label; flagged for review."""
    start = day_of(f"01/{reference}") if reference else None
    taken = {r.values.get(k) for k in ("leitura_anterior", "leitura_atual", "proximo_leitura")}
    anti = SPECS["vencimento"].anti_patterns
    counts: dict[str, list[Candidate]] = {}
    for c in r.candidates:
        day = day_of(c.value) if c.kind == "date" else None
        if day is None or c.value in taken or (start and not 0 < (day - start).days <= 100):
            continue
        if any(p.search(c.line.folded[:c.start]) for p in anti):
            continue
        counts.setdefault(c.value, []).append(c)
    if not counts:
        return
    by_line = by_line_index(r.candidates)

    def on_a_stub(c: Candidate) -> int:
        """A payment stub prints ``<month> | <due date> | <total>``: the reference month before the date, an
        amount after it, on its line."""
        row = by_line.get(c.line.index, [])
        month_before = any(o.kind == "month" and o.value == reference and o.end <= c.start for o in row)
        amount_after = any(o.kind == "money" and o.start >= c.end for o in row)
        return 2 * month_before + amount_after

    value, where = max(counts.items(), key=lambda kv: (len(kv[1]) + max(on_a_stub(c) for c in kv[1]), -kv[1][0].line.index))
    r.set("vencimento", value, max(where, key=on_a_stub), 0.45)


def _dates(r: Reader, reference: str | None) -> None:
    start = day_of(f"01/{reference}") if reference else None
    for name in ("leitura_anterior", "leitura_atual", "vencimento", "proximo_leitura"):
        ranked = r.ranked(name)
        if name == "vencimento" and start is not None:
            ranked = [s for s in ranked if (day_of(s.candidate.value) or start) >= start] or ranked
        if name == "proximo_leitura":
            ranked = [s for s in ranked if s.candidate.value != r.values.get("vencimento")]
            for s in ranked:
                if s.candidate.kind == "daymonth" and reference:
                    try:
                        s.candidate = Candidate("date", full_date(s.candidate.value, reference), s.candidate.text,
                                                s.candidate.line, s.candidate.start, s.candidate.end)
                    except ValueError:
                        s.score = -1
            ranked = [s for s in ranked if s.candidate.kind == "date" and s.candidate.value]
        r.take(name, ranked)
    if "vencimento" not in r.values:
        _unlabelled_due_date(r, reference)
    _reading_period(r)
    prev, cur = (day_of(r.values.get(k) or "") for k in ("leitura_anterior", "leitura_atual"))
    if prev and cur and cur <= prev:
        r.conflict(["leitura_anterior", "leitura_atual"], "the current reading date is not after the previous one")


#: A billing period runs 20-45 days (ANEEL: 27-33 as a rule, up to 45 on a first or moved reading).
PERIOD_DAYS = (20, 45)


def _reading_period(r: Reader) -> None:
    """Where the two reading dates read by label do not make a billing period, the best-scored pair of
    their candidates that does (two dates of one period printed side by side are easily swapped)."""
    prev, cur = (day_of(r.values.get(k) or "") for k in ("leitura_anterior", "leitura_atual"))
    if prev and cur and PERIOD_DAYS[0] <= (cur - prev).days <= PERIOD_DAYS[1]:
        return
    before = [s for s in r.alternatives.get("leitura_anterior", [])[:5] if s.score >= MIN_SCORE]
    after = [s for s in r.alternatives.get("leitura_atual", [])[:5] if s.score >= MIN_SCORE]
    pairs = [(a, b) for a in before for b in after
             if (da := day_of(a.candidate.value)) and (db := day_of(b.candidate.value))
             and PERIOD_DAYS[0] <= (db - da).days <= PERIOD_DAYS[1]]
    if pairs:
        a, b = max(pairs, key=lambda ab: ab[0].score + ab[1].score)
        r.set("leitura_anterior", a.candidate.value, a.candidate, min(confidence_of(before), 0.7))
        r.set("leitura_atual", b.candidate.value, b.candidate, min(confidence_of(after), 0.7))


def _total(r: Reader) -> None:
    ranked = r.ranked("valor_fatura")
    codes = [c for c in r.candidates if c.kind == "barcode"]
    amounts = {a for a in (_amount(c.value) for c in codes) if a}
    if amounts:
        agreeing = [s for s in ranked if s.candidate.value in amounts]
        if agreeing:
            best = agreeing[0]
            r.set("valor_fatura", best.candidate.value, best.candidate, min(1.0, confidence_of(ranked) + 0.3))
            return
    r.take("valor_fatura", ranked)
    if "valor_fatura" not in r.values and amounts:
        printed = [c for c in r.candidates if c.kind == "money" and c.value in amounts]
        if printed:  # no label read, but the barcode's amount is printed on the page
            r.set("valor_fatura", printed[0].value, printed[0], 0.6)
            return
    if amounts and "valor_fatura" in r.values and r.values["valor_fatura"] not in amounts:
        r.conflict(["valor_fatura"], "the barcode's amount differs from the total read")


def _unlabelled_total(r: Reader) -> None:
    """No labelled total: the amount on the header row that holds the reference month or the due date
    (``JUL/2023 | R$ 122,71``), else on a stub line with the reference month or the due date, else an
    amount in R$ the slip repeats; flagged for review."""
    rows = {(s["page"], s["box"][1]) for k in ("mes_referencia", "vencimento") if isinstance(s := r.sources.get(k), dict)}
    header = [c for c in r.candidates if c.kind == "money" and c.value > 0 and any(
        c.page + 1 == page and abs(c.line.page_box(c.box)[1] - top) < 0.5 * (c.box[3] - c.box[1]) for page, top in rows)]
    if header:
        best = sorted(header, key=lambda c: ("R$" not in c.text, c.line.index))[0]
        r.set("valor_fatura", best.value, best, 0.5)
        return
    by_line = by_line_index(r.candidates)
    month, due = r.values.get("mes_referencia"), r.values.get("vencimento")

    def on_a_stub(c: Candidate) -> int:  # a stub line: <month> | <total> | <due date> (any order)
        row = by_line.get(c.line.index, [])
        return (any(o.kind == "month" and o.value == month for o in row)
                + any(o.kind == "date" and o.value == due for o in row))

    stub = [c for c in r.candidates if c.kind == "money" and c.value > 0 and on_a_stub(c)]
    if stub:
        best = max(stub, key=lambda c: (on_a_stub(c), "R$" in c.text, -c.line.index))
        r.set("valor_fatura", best.value, best, 0.45)
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
    try:
        code = barcode_from_line(digits) if len(digits) == 48 else digits
        return barcode_amount(code) if len(code) == 44 else None
    except (ValueError, TypeError):
        return None


def _finish(r: Reader, count: int) -> GroundedAnswer:
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
