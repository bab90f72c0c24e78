"""Per-field confidence from the probabilities of the tokens that wrote each value.

``GenerationOutput.token_probs[i]`` is the raw model's probability of the i-th generated token
(recorded before any constraint masks the logits), ``token_texts[i]`` its text.

**Confidence of a field = the lowest probability among the tokens that wrote its value** (min,
not mean): a value is only as right as its least certain token. One doubtful digit makes a
``valor_fatura`` wrong however sure the other digits were, and a mean would hide it (worse for
long values such as names, where many easy tokens dilute one hard one). The min is also an upper
bound of the probability of the whole value, so a low number is always a real warning.

Which tokens count: every token that overlaps the value's text, quotes included for strings (the
closing quote is the model's decision that the value ends there). For numbers, ``true`` and
lists, nothing marks the end inside the value, so the token holding the delimiter that follows it
(``,`` / ``}``) counts too: ``12`` written where the model hesitated to go on to ``12.45`` is not
a confident ``12``. A value cut off by the end of the answer (``max_new_tokens``) gets 0.0.

Only fields that made it into the contract get a confidence (a value dropped as invalid is null
in ``data`` and reported as a warning instead). Values lie in [0, 1], rounded to 4 places.
"""

from __future__ import annotations

import difflib
import json
import re
from typing import Any, Iterable

from extractor_energy.engine.generate import GenerationOutput
from extractor_energy.extraction.parsing import ParsedAnswer
from extractor_energy.domain.schema import REQUIRED_FIELDS, BillData

_DECODER = json.JSONDecoder()
_WS = " \t\n\r"


def field_confidence(output: GenerationOutput, parsed: ParsedAnswer) -> dict[str, float]:
    """``{field: confidence}`` for every non-empty field of ``parsed.data`` the model wrote."""
    text = output.text
    if not parsed.raw or not text or not output.token_probs:
        return {}
    char_prob = char_probabilities(output)
    spans = value_spans(text)
    data = parsed.data
    result: dict[str, float] = {}
    for name in parsed.raw:
        if name not in BillData.model_fields or _empty(getattr(data, name)):
            continue
        span = spans.get(name) or _fallback_span(text, name)
        if span is None:
            continue
        start, end, complete = span
        if not complete:
            result[name] = 0.0
            continue
        probs = char_prob[start:end]
        if probs:
            result[name] = round(min(max(min(probs), 0.0), 1.0), 4)
    return result


def char_probabilities(output: GenerationOutput) -> list[float]:
    """The probability of the token that wrote each character of ``output.text``.

    Token texts are aligned with the answer text; where they differ (a character split over
    byte-level tokens decodes to U+FFFD per token, the answer's leading space was stripped...) the
    characters of a differing stretch get the lowest probability of the tokens in that stretch.
    Without token texts, the probabilities are spread evenly over the characters.
    """
    text, probs = output.text, output.token_probs
    pieces = output.token_texts
    if not pieces or len(pieces) != len(probs):
        step = len(probs) / max(len(text), 1)
        return [probs[min(int(i * step), len(probs) - 1)] for i in range(len(text))]
    joined_prob = [p for piece, p in zip(pieces, probs) for _ in piece]
    joined = "".join(pieces)
    if joined == text:
        return joined_prob
    out = [1.0] * len(text)
    matcher = difflib.SequenceMatcher(None, joined, text, autojunk=False)
    for op, a0, a1, b0, b1 in matcher.get_opcodes():
        if op == "equal":
            out[b0:b1] = joined_prob[a0:a1]
        elif b1 > b0:
            # the tokens of this stretch, or the one before/after it when the stretch is empty on their side
            near = joined_prob[a0:a1] or joined_prob[max(a0 - 1, 0) : a0 + 1]
            low = min(near) if near else min(probs)
            out[b0:b1] = [low] * (b1 - b0)
    return out


def value_spans(text: str) -> dict[str, tuple[int, int, bool]]:
    """Top-level member -> (start, end, complete) of the characters that decide its value.

    Walks the answer's top-level object the way ``json.loads`` reads it (the last duplicate wins).
    ``end`` includes the delimiter after a non-string value; ``complete`` is False for a value
    the answer was cut off in. Stops quietly at the first thing that is not JSON.
    """
    spans: dict[str, tuple[int, int, bool]] = {}
    pos = text.find("{")
    if pos < 0:
        return spans
    pos += 1
    length = len(text)
    while True:
        pos = _skip_ws(text, pos)
        if pos >= length or text[pos] != '"':
            return spans
        try:
            key, pos = _DECODER.raw_decode(text, pos)
        except json.JSONDecodeError:
            return spans
        pos = _skip_ws(text, pos)
        if pos >= length or text[pos] != ":":
            return spans
        start = _skip_ws(text, pos + 1)
        if start >= length:
            return spans
        try:
            _, end = _DECODER.raw_decode(text, start)
        except json.JSONDecodeError:
            spans[key] = (start, length, False)  # cut off (or broken) inside this value
            return spans
        after = _skip_ws(text, end)
        if text[start] == '"':
            spans[key] = (start, end, True)
        elif after < length:
            spans[key] = (start, after + 1, True)  # the delimiter that ends a number / literal / list
        else:
            spans[key] = (start, end, False)  # "12" at the very end: maybe "12.45" cut off
        if after >= length or text[after] != ",":
            return spans
        pos = after + 1


def _skip_ws(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in _WS:
        pos += 1
    return pos


def _fallback_span(text: str, name: str) -> tuple[int, int, bool] | None:
    """Where the value after ``"name":`` is, for answers the top-level walk could not read."""
    match = None
    for match in re.finditer(r'"' + re.escape(name) + r'"\s*:\s*', text):
        pass  # the last occurrence, like json.loads
    if match is None:
        return None
    start = match.end()
    try:
        _, end = _DECODER.raw_decode(text, start)
        return (start, end, True) if end > start else None
    except json.JSONDecodeError:
        stop = re.search(r'[,}\n]', text[start:])
        if stop is None:
            return (start, len(text), False) if start < len(text) else None
        end = start + stop.start()
        return (start, end, True) if end > start else None


def requires_review(data: BillData, confidence: dict[str, float], findings: Iterable[Any], threshold: float) -> bool:
    """True when a required field is missing, has no or a low (< ``threshold``) confidence, or is
    named by a failed consistency check (``Finding.fields``; warning dicts with ``"fields"`` work too)."""
    flagged = {f for finding in findings for f in _fields_of(finding)}
    for name in REQUIRED_FIELDS:
        if _empty(getattr(data, name)):
            return True
        if confidence.get(name, 0.0) < threshold or name in flagged:
            return True
    return False


def _empty(value: Any) -> bool:
    """null / false / [] / "" (not 0: a zero amount is a value)."""
    return value is None or value is False or (isinstance(value, (list, str)) and not value)


def _fields_of(finding: Any) -> Iterable[str]:
    if isinstance(finding, dict):
        return finding.get("fields") or ()
    return getattr(finding, "fields", ()) or ()
