"""Judging a candidate adapter the way the server answers: the real service on the held-out bills.

Each held-out bill goes through :meth:`ExtractionService.extract` (decode, page text, grounded
reading, the key's adapter choosing among candidates) twice: once with the adapters as served now
(the key's own, else the fallback, else the base model) and once with the candidate in the key's
place. Both answers are scored against the corrections (field-level micro F1).

With ``EXTRACTOR_GROUNDED_CHOICE=evidence`` (the default) no adapter takes part in a text-family
answer, so both would tie: the comparison is then made with ``model`` (the mode in which the
adapter chooses), and the outcome says so.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from pathlib import Path
from typing import Any

from extractor_energy.config import Settings
from extractor_energy.domain.keys import BillKey
from extractor_energy.evaluation.scoring import score
from extractor_energy.training.dataset_rows import DatasetRow


def judged_choice(settings: Settings, choice: str | None) -> str:
    if choice:
        return choice
    return settings.grounded_choice if settings.grounded_choice != "evidence" else "model"


async def _answer_all(settings: Settings, key: BillKey, bills: list[tuple[bytes, str]], label: str,
                      show_progress: bool) -> tuple[list[dict[str, Any] | None], dict[str, Any] | None]:
    """The service's answers (None where it refused the bill) and which adapter answered."""
    from tqdm.auto import tqdm

    from extractor_energy import errors
    from extractor_energy.extraction.wiring import start_service

    running = await start_service(settings)
    answers: list[dict[str, Any] | None] = []
    served = None
    try:
        for content, name in tqdm(bills, desc=f"held-out, {label}", unit="bill", disable=not show_progress):
            try:
                envelope = await running.service.extract(content, name, None, key.concessionaria, key.uf)
            except errors.ExtractionError:
                answers.append(None)
                continue
            answers.append(envelope["data"])
            served = served or {"adapter": envelope.get("adapter"), "version": envelope.get("adapter_version")}
    finally:
        await running.stop()
    return answers, served


def held_out_scores(settings: Settings, adapters_dir: Path, candidate: Path, key: BillKey, dataset: Path,
                    rows: list[DatasetRow], choice: str | None, show_progress: bool
                    ) -> tuple[dict[str, Any], dict[str, Any], str, dict[str, Any] | None]:
    """``(serving now, candidate, choice mode, which adapter serves now)``; scores are ``EvalReport.summary()``."""
    mode = judged_choice(settings, choice)
    bills = [((dataset / r.images[0]).read_bytes(), Path(r.images[0]).name) for r in rows]
    golds = [r.data for r in rows]
    common = dict(grounded_choice=mode, watch_adapters=False, max_batch_wait_ms=0, request_timeout_s=3600.0)
    now = settings.model_copy(update={**common, "adapters_dir": Path(adapters_dir)})
    before_answers, current = asyncio.run(_answer_all(now, key, bills, "serving now", show_progress))
    staged = Path(tempfile.mkdtemp(prefix="onboard-candidate-"))
    try:
        shutil.copytree(candidate, staged / key.key)
        cand = settings.model_copy(update={**common, "adapters_dir": staged})
        after_answers, _ = asyncio.run(_answer_all(cand, key, bills, "candidate", show_progress))
    finally:
        shutil.rmtree(staged, ignore_errors=True)
    ids = [r.id for r in rows]
    before = score(before_answers, golds, ids=ids, failures=[None if a is not None else "refused" for a in before_answers])
    after = score(after_answers, golds, ids=ids, failures=[None if a is not None else "refused" for a in after_answers])
    return before.summary(), after.summary(), mode, current or {"adapter": None, "version": None}
