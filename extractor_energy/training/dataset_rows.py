"""Reading a prepared data set: its summary, its train/val rows, and each row's pages or page text.

What :mod:`extractor_energy.training.datasets` writes (``summary.json``, ``train.jsonl``,
``val.jsonl``, ``images/``) is read here, by training, evaluation and the review queue alike.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from extractor_energy.config import Settings
from extractor_energy.documents.decode import DocumentLimits, load_document
from extractor_energy.domain.schema import BillData, ContractError, coerce_bill

FORMAT = "extractor-energy-dataset/1"
ANNOTATIONS = "annotations.jsonl"
SPLITS = ("train", "val")

class DatasetError(ValueError):
    """The data set cannot be prepared or read; the message says why (``rejected``: the rows refused)."""

    def __init__(self, message: str, rejected: list["Rejected"] | None = None):
        super().__init__(message)
        self.rejected = rejected or []


@dataclass
class Rejected:
    source: str  # annotations file, relative to the data dir
    line: int
    reason: str

    def __str__(self) -> str:
        return f"{self.source}:{self.line}: {self.reason}"


@dataclass
class DatasetRow:
    """One usable bill of a prepared data set."""

    id: str
    images: list[str]  # paths relative to the data set folder
    key: str
    source: str
    data: BillData
    pages: int = 1
    #: per page, the text the text family reads (PDF text layer or OCR), stored so training never re-runs OCR
    page_texts: list[str] | None = None

    def to_json(self) -> dict[str, Any]:
        out = {"id": self.id, "images": self.images, "key": self.key, "source": self.source, "pages": self.pages,
               "json": self.data.model_dump()}
        if self.page_texts is not None:
            out["page_texts"] = self.page_texts
        return out

    @classmethod
    def from_json(cls, row: dict[str, Any]) -> "DatasetRow":
        data, _ = coerce_bill(row["json"], strict=True)
        texts = row.get("page_texts")
        return cls(id=row["id"], images=list(row["images"]), key=row["key"], source=row.get("source", ""),
                   data=data, pages=int(row.get("pages", 1)), page_texts=list(texts) if texts is not None else None)


def text_limits(settings: Settings | None = None) -> DocumentLimits:
    """How pages are decoded for reading their text: as the server decodes them for the text family."""
    return (settings or Settings()).document_limits("text", offline=True)


def page_texts_of(reader: Any, names: list[str], contents: list[bytes]) -> list[str]:
    texts: list[str] = []
    limits = text_limits()
    for name, blob in zip(names, contents):
        document = load_document(blob, limits, filename=name)
        layers = document.text_layers or [None] * len(document.pages)
        texts += [reader.read_page(page, layer).text for page, layer in zip(document.pages, layers)]
    return texts


def row_page_texts(dataset_dir: str | Path, row: DatasetRow) -> list[str]:
    """The row's stored page texts, or (data sets prepared without them) read now from its images."""
    if row.page_texts is None:
        from extractor_energy.documents.page_text import PageTextReader

        paths = [Path(dataset_dir) / name for name in row.images]
        row.page_texts = page_texts_of(PageTextReader(), [p.name for p in paths], [p.read_bytes() for p in paths])
    return row.page_texts


def read_summary(dataset_dir: str | Path) -> dict[str, Any]:
    path = Path(dataset_dir) / "summary.json"
    if not path.is_file():
        raise DatasetError(
            f"{dataset_dir} is not a prepared data set (no summary.json); run training/prepare_dataset.py first"
        )
    summary = json.loads(path.read_text(encoding="utf-8"))
    if summary.get("format") != FORMAT:
        raise DatasetError(f"{path}: format {summary.get('format')!r}, expected {FORMAT!r}")
    return summary


def load_split(dataset_dir: str | Path, split: str = "train") -> list[DatasetRow]:
    """Rows of ``train``, ``val`` or ``all`` (train then val)."""
    dataset_dir = Path(dataset_dir)
    read_summary(dataset_dir)
    names = SPLITS if split == "all" else (split,)
    rows: list[DatasetRow] = []
    for name in names:
        if name not in SPLITS:
            raise DatasetError(f"unknown split {split!r}: train, val or all")
        path = dataset_dir / f"{name}.jsonl"
        if not path.is_file():
            raise DatasetError(f"{path} is missing")
        for number, text in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if text.strip():
                try:
                    rows.append(DatasetRow.from_json(json.loads(text)))
                except (json.JSONDecodeError, KeyError, ContractError) as exc:
                    raise DatasetError(f"{path}:{number}: {exc}") from None
    return rows


def row_pages(dataset_dir: str | Path, row: DatasetRow, limits: DocumentLimits) -> list:
    """The model-ready pages of a row, decoded exactly as the server decodes an upload."""
    pages = []
    for name in row.images:
        path = Path(dataset_dir) / name
        pages += load_document(path.read_bytes(), limits, filename=path.name).pages
    return pages
