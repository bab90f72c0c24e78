"""Per-field confidence from the probabilities of the tokens that wrote each value."""

from __future__ import annotations

import json
import re
from typing import Any

from .inference import GenerationOutput
from .parsing import ParsedAnswer
from .schema import REQUIRED_FIELDS, BillData




def field_confidence(output: GenerationOutput, parsed: ParsedAnswer) -> dict[str, float]:
    """Confidence of every field the model wrote: the lowest token probability inside the value.

    Token texts are rebuilt from ``output.extra['token_texts']`` when the scheduler provides them;
    otherwise the probabilities are spread evenly over the answer's characters.
    """
    text = output.text
    if not parsed.raw or not text or not output.token_probs:
        return {}
    char_prob = _spread(output, text)
    result: dict[str, float] = {}
    for field in parsed.raw:
        if field not in BillData.model_fields:
            continue
        span = _value_span(text, field)
        if span is None:
            continue
        probs = char_prob[span[0] : span[1]]
        if probs:
            result[field] = round(min(probs), 4)
    return result


def _spread(output: GenerationOutput, text: str) -> list[float]:
    pieces: list[str] | None = output.extra.get("token_texts")
    if pieces and "".join(pieces) == text:
        out: list[float] = []
        for piece, prob in zip(pieces, output.token_probs):
            out.extend([prob] * len(piece))
        return out
    per_char = len(output.token_probs) / max(len(text), 1)
    return [output.token_probs[min(int(i * per_char), len(output.token_probs) - 1)] for i in range(len(text))]


def _value_span(text: str, field: str) -> tuple[int, int] | None:
    """Character span of the value that follows ``"field":`` in the answer text."""
    match = re.search(r'"' + re.escape(field) + r'"\s*:\s*', text)
    if not match:
        return None
    start = match.end()
    try:
        _, end = json.JSONDecoder().raw_decode(text, start)
    except json.JSONDecodeError:
        stop = re.search(r'[,}\n]', text[start:])
        end = start + (stop.start() if stop else len(text) - start)
    return (start, end) if end > start else None


def requires_review(data: BillData, confidence: dict[str, float], findings: list[Any], threshold: float) -> bool:
    """True when a required field is missing, below the confidence threshold, or named by a failed check."""
    flagged = {f for finding in findings for f in getattr(finding, "fields", ())}
    for field in REQUIRED_FIELDS:
        if getattr(data, field) in (None, ""):
            return True
        if confidence.get(field, 1.0) < threshold or field in flagged:
            return True
    return False
