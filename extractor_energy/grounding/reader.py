"""The state of one grounded read: values, sources, confidence, conflicts, and the ranked alternatives."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from extractor_energy.domain.schema import BillData
from extractor_energy.grounding.candidates import Candidate
from extractor_energy.grounding.fields import SPECS
from extractor_energy.grounding.lines import Line
from extractor_energy.grounding.ranker import MIN_SCORE, Scored, rank

Source = dict[str, Any]


@dataclass
class GroundedAnswer:
    data: BillData
    sources: dict[str, Source | list[Source | None] | None]
    confidence: dict[str, float]
    conflicts: list[dict[str, Any]] = field(default_factory=list)  # answer warnings {"code", "fields", "message"}
    candidates: int = 0
    #: field -> the ranked candidates read by label (best first), for a model to choose among where evidence is thin
    alternatives: dict[str, list[Scored]] = field(default_factory=dict)


def confidence_of(ranked: list[Scored]) -> float:
    top = ranked[0]
    rival = next((s for s in ranked[1:] if s.candidate.value != top.candidate.value), None)
    margin = top.score - (rival.score if rival else 0.0)
    return round(max(0.05, min(1.0, top.score / 3.0) * min(1.0, 0.55 + margin / 2.0)), 4)


def day_of(text: str) -> date | None:
    try:
        d, m, y = (int(p) for p in text.split("/"))
        return date(y, m, d)
    except (ValueError, AttributeError):
        return None


class Reader:
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
            self.set(name, ranked[0].candidate.value, ranked[0].candidate, conf if conf is not None else confidence_of(ranked))

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
