"""Score each candidate of a field by label evidence and layout; the best one, if good enough, is read.

Evidence, strongest first: the field's label before the value on the same line (nearer is
better, other values of the same kind in between count against it); the label in a line just
above whose column covers the value (box tables: ``Conta mês | Total a pagar | Vencimento`` over
``7/2025 | R$ 142,48 | 15/08/2025``); the label on the line above without column overlap. An
``anti`` label nearer than the label (``Leitura Anterior`` beside a date) counts against it.
The same value printed several times (the payment slip repeats the total and the due date) adds
a little. Scores are in label units: >= ``MIN_SCORE`` reads the value, below it the field stays null.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from extractor_energy.grounding.candidates import Candidate
from extractor_energy.grounding.fields import FieldSpec
from extractor_energy.grounding.lines import Line

MIN_SCORE = 1.0
ABOVE_LINES = 3


@dataclass
class Scored:
    candidate: Candidate
    score: float
    evidence: list[str] = field(default_factory=list)


def _overlap(a0: float, a1: float, b0: float, b1: float) -> float:
    return max(0.0, min(a1, b1) - max(a0, b0))


def _labels(line: Line, patterns: tuple[re.Pattern[str], ...]) -> list[tuple[int, int]]:
    found = []
    for pattern in patterns:
        found.extend(m.span() for m in pattern.finditer(line.folded))
    return found


def _same_line(c: Candidate, spec: FieldSpec, same_kind: list[Candidate]) -> tuple[float, str] | None:
    best = None
    labels = _labels(c.line, spec.patterns)
    antis = _labels(c.line, spec.anti_patterns)
    for start, end in labels:
        if end > c.start:
            continue
        between = sum(1 for o in same_kind if o.line is c.line and end <= o.start < c.start)
        gap = c.line.text[end:c.start]
        score = 3.0 - 0.004 * len(gap) - 0.8 * between - (0.6 if gap.count("|") > 1 else 0.0)
        if any(end <= a0 and a1 <= c.start for a0, a1 in antis):
            score -= 2.0
        if best is None or score > best[0]:
            best = (score, f"label '{c.line.text[start:end]}' before it on its line")
    return best


def _above(c: Candidate, spec: FieldSpec, lines: list[Line], same_kind: list[Candidate]) -> tuple[float, str] | None:
    best = None
    cx0, _, cx1, _ = c.box
    row = [o for o in same_kind if o.line is c.line]
    for k in range(1, ABOVE_LINES + 1):
        i = c.line.index - k
        if i < 0 or lines[i].page != c.page:
            break
        above = lines[i]
        antis = _labels(above, spec.anti_patterns)
        for start, end in _labels(above, spec.patterns):
            lx0, _, lx1, _ = above.span_box(start, end)
            pad = 0.25 * (lx1 - lx0)
            mine = _overlap(lx0 - pad, lx1 + pad, cx0, cx1)
            if mine > 0 and all(_overlap(lx0 - pad, lx1 + pad, *o.box[0::2]) <= mine for o in row):
                score = 2.6 - 0.25 * (k - 1)
                why = f"label '{above.text[start:end]}' above it, same column"
            elif k == 1 and c is row[0] and len(above.pieces) == 1:
                score, why = 1.5, f"label '{above.text[start:end]}' on the line above"
            else:
                continue
            if any(_overlap(*above.span_box(a0, a1)[0::2], cx0, cx1) > mine for a0, a1 in antis):
                score -= 2.0
            if best is None or score > best[0]:
                best = (score, why)
    return best


def rank(spec: FieldSpec, candidates: list[Candidate], lines: list[Line]) -> list[Scored]:
    """The field's candidates, best first, each with its score and the evidence behind it."""
    pool = [c for c in candidates if c.kind in spec.kinds and _plausible(spec, c.value)]
    counts: dict[object, int] = {}
    for c in pool:
        counts[c.value] = counts.get(c.value, 0) + 1
    scored = []
    for c in pool:
        options = [o for o in (_same_line(c, spec, pool), _above(c, spec, lines, pool)) if o]
        if not options:
            continue
        score, why = max(options)
        evidence = [why]
        if counts[c.value] > 1 and c.kind != "number":  # a slip repeats totals and dates; small numbers repeat by chance
            score += min(0.6, 0.2 * (counts[c.value] - 1))
            evidence.append(f"printed {counts[c.value]} times")
        scored.append(Scored(c, score, evidence))
    scored.sort(key=lambda s: (-s.score, s.candidate.line.index, s.candidate.start))
    return scored


def _plausible(spec: FieldSpec, value: object) -> bool:
    if isinstance(value, (int, float)):
        if spec.minimum is not None and value < spec.minimum:
            return False
        if spec.maximum is not None and value > spec.maximum:
            return False
    return True
