"""Let the model *choose* among a page's candidates where the label evidence is thin.

:func:`~extractor_energy.grounding.extract.ground_bill` keeps, per label-read field, its ranked
candidates (``GroundedAnswer.alternatives``). :func:`ask` picks the fields worth a question and
builds the JSON schema of the answer: an object with only those fields, in contract order, each
an ``enum`` of its candidates' normalised values (top-k distinct). Decoding under that schema
(:mod:`extractor_energy.engine.constrained`) can only write one of those values, or leave the
field out ("none of them"). :func:`apply_choice` puts the model's answer back into the grounded
answer: the value is that candidate's value, the source is that candidate's source.

Which fields are asked (``mode``):

* ``model``: the ambiguous ones: two or more distinct values within :data:`MARGIN` label units of
  the best, or candidates but none scored high enough for evidence to read one.
* ``model_all``: every field with at least one candidate (to measure the model against evidence).

Confidence: where model and evidence agree, both are evidence for the value (noisy-OR of the
evidence's confidence and the model's token probability). Where they disagree (the model chose
another candidate, or none where evidence read one) the field gets at most :data:`DISAGREE_CAP`
and a ``model_disagrees`` warning, so ``requires_review`` is set. A value only the model found
(evidence below its threshold) is capped at :data:`MODEL_ONLY_CAP`: one model's word is not enough
to skip review.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from typing import Any, Iterable, Literal

from extractor_energy.domain.schema import ALL_FIELDS, coerce_bill
from extractor_energy.engine.generate import GenerationOutput
from extractor_energy.extraction.confidence import field_confidence
from extractor_energy.extraction.parsing import parse_answer
from extractor_energy.grounding.reader import GroundedAnswer
from extractor_energy.grounding.ranker import MIN_SCORE, Scored

log = logging.getLogger(__name__)

Mode = Literal["model", "model_all"]
#: Distinct values scored within this many label units of the best make a field ambiguous.
MARGIN = 0.75
#: At most this many distinct values are offered per field.
TOP_K = 5
#: Highest confidence of a field where model and evidence disagree (under the review threshold).
DISAGREE_CAP = 0.4
#: Highest confidence of a value only the model chose (evidence read none).
MODEL_ONLY_CAP = 0.6


@dataclass
class Question:
    """What the model is asked: per field, the distinct candidates offered (best first) and their values."""

    options: dict[str, list[Scored]]  # field -> offered candidates, contract order
    values: dict[str, list[Any]]  # field -> the contract values of ``options`` (the schema's enums)
    schema: dict[str, Any]

    @property
    def fields(self) -> tuple[str, ...]:
        return tuple(self.options)


def _contract_value(name: str, value: Any) -> Any:
    """``value`` as the contract carries it in ``name`` (what ``parse_answer`` gives back), or None."""
    data, _ = coerce_bill({name: value})
    coerced = getattr(data, name)
    return None if coerced in (None, False, []) else coerced


def _distinct(ranked: list[Scored], name: str, k: int) -> tuple[list[Scored], list[Any]]:
    """Best-scored candidate of each distinct contract value, best first, at most ``k``."""
    offered: list[Scored] = []
    values: list[Any] = []
    for scored in ranked:
        value = _contract_value(name, scored.candidate.value)
        if value is None or value in values:
            continue
        offered.append(scored)
        values.append(value)
        if len(offered) == k:
            break
    return offered, values


def _ambiguous(offered: list[Scored], margin: float) -> bool:
    best = offered[0].score
    if best < MIN_SCORE:  # candidates, but evidence reads none of them
        return True
    return sum(1 for s in offered if best - s.score <= margin) >= 2


def ask(answer: GroundedAnswer, mode: Mode = "model", *, fields: Iterable[str] | None = None,
        margin: float = MARGIN, k: int = TOP_K) -> Question | None:
    """The question for ``answer`` (``None``: nothing worth asking, so no generation).

    ``fields`` limits the question to these fields (e.g. the ones an adapter was trained on).
    """
    allowed = set(fields) if fields is not None else None
    options: dict[str, list[Scored]] = {}
    values: dict[str, list[Any]] = {}
    for name in ALL_FIELDS:
        ranked = answer.alternatives.get(name)
        if not ranked or (allowed is not None and name not in allowed):
            continue
        offered, enum = _distinct(ranked, name, k)
        if not offered or (mode == "model" and not _ambiguous(offered, margin)):
            continue
        options[name], values[name] = offered, enum
    if not options:
        return None
    schema = {"type": "object", "properties": {name: {"enum": enum} for name, enum in values.items()},
              "additionalProperties": False}
    return Question(options, values, schema)


def apply_choice(answer: GroundedAnswer, question: Question, output: GenerationOutput) -> GroundedAnswer:
    """``answer`` with the model's choices for the asked fields (a new answer; ``answer`` is unchanged)."""
    parsed = parse_answer(output.text)
    probability = field_confidence(output, parsed)
    chosen_data = parsed.data.model_dump() if parsed.raw is not None else {}
    before = answer.data.model_dump()
    update: dict[str, Any] = {}
    sources = dict(answer.sources)
    confidence = dict(answer.confidence)
    conflicts = list(answer.conflicts)
    disagree: list[str] = []
    for name in question.fields:
        evidence_value = before.get(name)
        evidence_conf = answer.confidence.get(name, 0.0)
        chosen = chosen_data.get(name)
        if chosen is None:  # the model chose none of them
            if evidence_value is not None:
                confidence[name] = round(min(evidence_conf, DISAGREE_CAP), 4)
                disagree.append(name)
            continue
        if chosen not in question.values[name]:  # impossible under the constraint; never let it through
            log.warning("model chose %r for %s, not one of its candidates; evidence kept", chosen, name)
            continue
        picked = question.options[name][question.values[name].index(chosen)]
        assert _contract_value(name, picked.candidate.value) == chosen  # the value is that candidate's
        p = probability.get(name, 0.0)
        update[name] = chosen
        sources[name] = picked.candidate.source()
        if evidence_value is None:
            confidence[name] = round(min(p, MODEL_ONLY_CAP), 4)
        elif chosen == evidence_value:
            confidence[name] = round(1.0 - (1.0 - evidence_conf) * (1.0 - p), 4)
        else:
            confidence[name] = round(min(p, evidence_conf, DISAGREE_CAP), 4)
            disagree.append(name)
    if disagree:
        conflicts.append({"code": "model_disagrees", "fields": disagree,
                          "message": "the model chose another candidate (or none) than the label evidence for "
                                     + ", ".join(disagree)})
    data = answer.data.model_copy(update=update)
    return replace(answer, data=data, sources=sources, confidence=confidence, conflicts=conflicts)
