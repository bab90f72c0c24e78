"""What a training run feeds the trainer and the evaluator: examples, eval items, the evaluation pass."""

from __future__ import annotations

from functools import partial
from pathlib import Path

from extractor_energy.config import Settings
from extractor_energy.documents.decode import DocumentLimits
from extractor_energy.documents.page_text import prompt_text
from extractor_energy.domain.keys import BillKey
from extractor_energy.engine.model import LoadedModel
from extractor_energy.evaluation.predict import predict_local
from extractor_energy.evaluation.scoring import EvalItem, EvalReport, score_predictions
from extractor_energy.training.config import TrainConfig
from extractor_energy.training.dataset_rows import DatasetRow, row_page_texts, row_pages


class LazyExample:
    """A VLM ``TrainExample`` whose pages are decoded when the trainer asks for them (large data sets)."""

    def __init__(self, dataset: Path, row: DatasetRow, key: BillKey, limits: DocumentLimits, answer: str):
        self._dataset, self._row, self._limits = dataset, row, limits
        self.key, self.answer, self.text = key, answer, None

    @property
    def pages(self) -> list:
        return row_pages(self._dataset, self._row, self._limits)


def row_text(loaded: LoadedModel, dataset: Path, row: DatasetRow, max_tokens: int) -> str | None:
    """Text family: the row's page text exactly as the server builds the prompt; VLM family: None."""
    if loaded.family != "text":
        return None
    return prompt_text(row_page_texts(dataset, row), loaded.tokenizer, max_tokens)


def eval_items(dataset: Path, rows: list[DatasetRow], key: BillKey, limits: DocumentLimits,
               loaded: LoadedModel | None = None, text_max_tokens: int = 1024) -> list[EvalItem]:
    """Evaluation items; for the text family each carries its page text (and no pages)."""
    items = []
    for r in rows:
        if loaded is not None and loaded.family == "text":
            items.append(EvalItem(id=r.id, pages=[], gold=r.data, key=key,
                                  text=partial(row_text, loaded, dataset, r, text_max_tokens)))
        else:
            items.append(EvalItem(id=r.id, pages=partial(row_pages, dataset, r, limits), gold=r.data, key=key))
    return items


def evaluate(loaded: LoadedModel, items: list[EvalItem], adapter: str | None, config: TrainConfig, settings: Settings,
              label: str, show_progress: bool) -> EvalReport:
    from tqdm.auto import tqdm

    bar = tqdm(total=len(items), desc=f"eval {label}", unit="bill", disable=not show_progress, leave=False)
    try:
        predictions = predict_local(
            loaded, items, adapter_name=adapter, batch_size=config.eval_batch_size,
            max_new_tokens=config.eval_max_new_tokens or settings.max_new_tokens,
            constrained=settings.constrained_decoding if config.eval_constrained is None else config.eval_constrained,
            progress=bar, fields=config.fields,
        )
    finally:
        bar.close()
    return score_predictions(items, predictions, fields=config.fields)
