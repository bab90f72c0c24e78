"""Predictions for evaluation: generate with the resident model the way the server does, batch by batch."""

from __future__ import annotations

import logging
from typing import Any, Sequence

from extractor_energy.evaluation.scoring import EvalItem, Prediction

log = logging.getLogger(__name__)


def predict_local(
    loaded: Any,
    items: Sequence[EvalItem],
    *,
    adapter_name: str | None,
    max_new_tokens: int,
    batch_size: int = 4,
    constrained: bool = False,
    progress: Any = None,
    fields: Sequence[str] | None = None,
) -> list[Prediction]:
    """Generate with the resident model: ``adapter_name`` (adapter prompt) or None (base model + base prompt).

    Uses :func:`inference.generate_batch` and :func:`parsing.parse_answer`, as the server does.
    """
    from extractor_energy.extraction.confidence import field_confidence
    from extractor_energy.engine.generate import BASE, GenerationInput, generate_batch
    from extractor_energy.extraction.parsing import parse_answer
    from extractor_energy.extraction.prompts import build_messages

    factory = None
    if constrained:
        from extractor_energy.engine.constrained import schema_constraint_factory

        factory = schema_constraint_factory(loaded)
    out: list[Prediction] = []
    for start in range(0, len(items), max(1, batch_size)):
        chunk = items[start : start + max(1, batch_size)]
        try:
            pages = [item.pages() if callable(item.pages) else item.pages for item in chunk]
            texts = [item.text() if callable(item.text) else item.text for item in chunk]
            inputs = [
                GenerationInput(
                    pages=p, messages=build_messages(item.key, len(p), with_adapter=adapter_name is not None, document_text=t),
                    adapter_name=adapter_name or BASE, schema_fields=tuple(fields) if fields else None,
                )
                for item, p, t in zip(chunk, pages, texts)
            ]
            outputs = generate_batch(loaded, inputs, max_new_tokens, extra_processors=factory)
        except Exception as exc:  # one broken batch must not lose the whole evaluation
            log.warning("evaluation batch %d failed: %s", start // max(1, batch_size), exc, exc_info=True)
            out += [Prediction(data=None, error=f"generation failed: {exc}") for _ in chunk]
        else:
            for o in outputs:
                parsed = parse_answer(o.text)
                out.append(Prediction(data=parsed.data, text=o.text, confidence=field_confidence(o, parsed)))
        if progress is not None:
            progress.update(len(chunk))
    return out
