"""Annotated bills -> a validated, self-contained training data set for one ``<concessionaria>_<uf>`` key.

Input (``--data-dir``): ``annotations.jsonl`` files, one row per bill,
``{"image": "bills/0001.jpg", "json": {...contract...}}`` (``image`` may also be a list of
page files; photos, screenshots and PDFs all work), either directly in the folder or in
sub-folders per key (``DATA/equatorial_go/annotations.jsonl``). A row may name its key with
``"key"`` or ``"concessionaria"`` + ``"uf"``; rows naming another key are skipped (counted),
rows naming none belong to the folder's key or, in a flat layout, to the requested key.
Image paths are relative to the ``annotations.jsonl`` that names them (then to the data dir).

Every annotation goes through the contract's own normalisers (``"R$ 1.234,56"`` becomes
``1234.56``, ``"7/2025"`` becomes ``"07/2025"``) and then strict validation: unknown fields and
values that cannot be normalised reject the row. Rejected rows are reported with file, line
and reason; preparation fails only when nothing usable is left.

Reading a prepared data set back is :mod:`extractor_energy.training.dataset_rows`.

Output: see ``training/README.md`` (``images/``, ``train.jsonl``, ``val.jsonl``, ``summary.json``).
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Iterator

from extractor_energy.config import Settings
from extractor_energy.documents.decode import DocumentError, DocumentLimits, load_document, sniff
from extractor_energy.domain.keys import BillKey, InvalidKey, make_key, parse_key
from extractor_energy.domain.schema import ALL_FIELDS, BillData, ContractError, coerce_bill
from extractor_energy.training.dataset_rows import (  # the reading side, re-exported for existing importers
    ANNOTATIONS, DatasetError, DatasetRow, Rejected, load_split, page_texts_of, read_summary, row_page_texts, row_pages,
    text_limits,
)
from extractor_energy.training.dataset_write import PrepareResult, field_coverage, write_dataset

__all__ = ["ANNOTATIONS", "DatasetError", "DatasetRow", "PrepareResult", "Rejected", "decode_check_limits", "field_coverage",
           "load_split", "normalise_annotation", "prepare_dataset", "read_summary", "row_page_texts", "row_pages", "text_limits"]

log = logging.getLogger(__name__)

_EXT = {"jpeg": ".jpg", "png": ".png", "webp": ".webp", "gif": ".gif", "tiff": ".tif", "bmp": ".bmp",
        "heif": ".heic", "avif": ".avif", "pdf": ".pdf"}


# ---------------------------------------------------------------------------- reading the raw data
@dataclass
class _RawRow:
    source: str
    line: int
    base_dir: Path
    folder_key: str | None
    text: str


def _annotation_files(data_dir: Path, key: str) -> tuple[list[tuple[Path, str | None]], list[str]]:
    """``(file, folder key)`` pairs to read, and the sub-folders skipped because they hold another key."""
    files: list[tuple[Path, str | None]] = []
    skipped: list[str] = []
    if (data_dir / ANNOTATIONS).is_file():  # top level: rows without a key are for the requested key
        files.append((data_dir / ANNOTATIONS, None))
    for sub in sorted(p for p in data_dir.iterdir() if p.is_dir() and not p.name.startswith((".", "_"))):
        if not (sub / ANNOTATIONS).is_file():
            continue
        try:
            folder_key: str | None = parse_key(sub.name).key
        except InvalidKey:
            folder_key = None
        if folder_key is not None and folder_key != key:
            skipped.append(sub.name)
            continue
        files.append((sub / ANNOTATIONS, folder_key))
    return files, skipped


def _raw_rows(data_dir: Path, files: list[tuple[Path, str | None]]) -> Iterator[_RawRow]:
    for path, folder_key in files:
        source = path.relative_to(data_dir).as_posix()
        with path.open("r", encoding="utf-8", errors="replace") as fh:
            for number, text in enumerate(fh, start=1):
                if text.strip():
                    yield _RawRow(source, number, path.parent, folder_key, text)


def _row_key(row: dict[str, Any], folder_key: str | None) -> str | None:
    if row.get("key"):
        return parse_key(str(row["key"]).strip().lower()).key
    if row.get("concessionaria") and row.get("uf"):
        return make_key(str(row["concessionaria"]), str(row["uf"])).key
    return folder_key


def normalise_annotation(raw: Any) -> BillData:
    """Normalise formats (lenient coercion), then insist on a clean contract (strict).

    Raises :class:`ContractError` listing every field that is unknown or cannot be normalised.
    """
    data, problems = coerce_bill(raw)
    if problems:
        raise ContractError(problems)
    checked, _ = coerce_bill(data.model_dump(), strict=True)  # normalised values must be stable
    return checked


def _problem_text(problem: Any) -> str:
    if problem.field not in ALL_FIELDS and problem.field != "$":
        return f"unknown field {problem.field!r} (not in the output contract)"
    message = problem.message
    if message.endswith(" dropped") and "; value " in message:  # serving wording; here the row is refused
        message, _, value = message.rpartition("; value ")
        message = f"{message} (value {value[: -len(' dropped')]})"
    return f"{problem.field}: {message}"


def _image_list(row: dict[str, Any]) -> list[str]:
    value = row.get("image", row.get("images", row.get("file")))
    if isinstance(value, str) and value.strip():
        return [value]
    if isinstance(value, list) and value and all(isinstance(v, str) and v.strip() for v in value):
        return list(value)
    raise DatasetError("no image: the row needs \"image\": \"path/to/bill.jpg\" (or a list of page files)")


def _resolve(name: str, base_dir: Path, data_dir: Path) -> Path:
    candidates = [Path(name)] if Path(name).is_absolute() else [base_dir / name, data_dir / name]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise DatasetError(f"image not found: {name!r} (looked next to the annotations file and in the data dir)")


def _hash_split(row_id: str, seed: int) -> float:
    """A stable number in [0, 1) per row: adding rows never moves the others between splits."""
    digest = hashlib.sha256(f"{seed}:{row_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def prepare_dataset(
    data_dir: str | Path,
    concessionaria: str,
    uf: str,
    output_dir: str | Path,
    *,
    val_fraction: float = 0.1,
    seed: int = 0,
    limits: DocumentLimits | None = None,
    page_text: bool = True,
    show_progress: bool = False,
) -> PrepareResult:
    """Read, validate, split and write the data set; raise :class:`DatasetError` if nothing is usable.

    With ``page_text`` (the default), every row also stores its pages' text as the text family
    reads it (PDF text layer, else OCR), so training and evaluation never OCR again.
    """
    data_dir, output_dir = Path(data_dir), Path(output_dir)
    if not data_dir.is_dir():
        raise DatasetError(f"data dir {data_dir} does not exist")
    if not 0.0 <= val_fraction < 1.0:
        raise DatasetError(f"--val-fraction must be in [0, 1), got {val_fraction}")
    try:
        bill_key: BillKey = make_key(concessionaria, uf)
    except InvalidKey as exc:
        raise DatasetError(str(exc)) from None
    key = bill_key.key
    check_limits = limits or decode_check_limits()
    files, skipped_folders = _annotation_files(data_dir, key)
    if not files:
        raise DatasetError(
            f"no {ANNOTATIONS} in {data_dir} (or in a sub-folder named {key}/): write one row per bill, "
            '{"image": "bill.jpg", "json": {...}}'
        )
    rejected: list[Rejected] = []
    other_keys: dict[str, int] = {}
    rows: list[DatasetRow] = []
    texts_for: list[tuple[DatasetRow, list[str], list[bytes]]] = []
    blobs: dict[str, tuple[bytes, str]] = {}  # image file name in the data set -> (bytes, first source)
    seen: dict[str, str] = {}  # row id -> "source:line"
    rows_read = 0
    for raw in _raw_rows(data_dir, files):
        rows_read += 1
        where = f"{raw.source}:{raw.line}"

        def reject(reason: str) -> None:
            rejected.append(Rejected(raw.source, raw.line, reason))

        try:
            row = json.loads(raw.text)
        except json.JSONDecodeError as exc:
            reject(f"invalid JSON line: {exc.msg} at column {exc.colno}")
            continue
        if not isinstance(row, dict):
            reject(f"a row must be a JSON object, got {type(row).__name__}")
            continue
        try:
            row_key = _row_key(row, raw.folder_key)
        except InvalidKey as exc:
            reject(f"bad key: {exc}")
            continue
        if row_key is not None and row_key != key:
            other_keys[row_key] = other_keys.get(row_key, 0) + 1
            continue
        if "json" not in row:
            reject('no "json": the row needs the annotation as "json": {...}')
            continue
        if not isinstance(row["json"], dict):
            reject(f'"json" must be an object with the contract fields, got {type(row["json"]).__name__}')
            continue
        try:
            data = normalise_annotation(row["json"])
        except ContractError as exc:
            reject("; ".join(_problem_text(p) for p in exc.problems))
            continue
        if not any(v not in (None, False, []) for v in data.model_dump().values()):
            reject("the annotation holds no values (every field empty)")
            continue
        try:
            names = _image_list(row)
            paths = [_resolve(n, raw.base_dir, data_dir) for n in names]
            contents = [p.read_bytes() for p in paths]
        except DatasetError as exc:
            reject(str(exc))
            continue
        except OSError as exc:
            reject(f"image unreadable: {exc}")
            continue
        pages = 0
        try:
            for name, blob in zip(names, contents):
                try:
                    pages += len(load_document(blob, check_limits, filename=name).pages)
                except DocumentError as exc:
                    raise DatasetError(f"image {name!r} cannot be used: {exc.message}") from None
        except DatasetError as exc:
            reject(str(exc))
            continue
        if pages > check_limits.max_pdf_pages:
            reject(f"{pages} pages in all; the server takes at most {check_limits.max_pdf_pages} (EXTRACTOR_MAX_PDF_PAGES)")
            continue
        digests = [hashlib.sha256(b).hexdigest() for b in contents]
        row_id = hashlib.sha256("".join(digests).encode()).hexdigest()[:16]
        if row_id in seen:
            reject(f"duplicate: same image(s) as {seen[row_id]}")
            continue
        seen[row_id] = where
        stored = []
        for path, blob, digest in zip(paths, contents, digests):
            kind = sniff(blob) or ""
            name = f"images/{digest[:16]}{_EXT.get(kind, path.suffix.lower() or '.bin')}"
            blobs.setdefault(name, (blob, where))
            stored.append(name)
        rows.append(DatasetRow(id=row_id, images=stored, key=key, source=where, data=data, pages=pages))
        if page_text:
            texts_for.append((rows[-1], names, contents))
    if page_text and texts_for:
        _read_page_texts(texts_for, show_progress)
    if not rows:
        detail = f"{len(rejected)} rejected" + (f", {sum(other_keys.values())} for other keys" if other_keys else "")
        raise DatasetError(f"no usable rows for {key} in {data_dir} ({rows_read} read, {detail})", rejected)

    split = _split(rows, val_fraction, seed)
    return write_dataset(output_dir, rows, split, blobs, bill_key, data_dir, val_fraction, seed, rows_read, rejected,
                  other_keys, skipped_folders)


def decode_check_limits(settings: Settings | None = None) -> DocumentLimits:
    """For checking that bills decode within the server's limits (size, pages, pixels): with a low PDF
    resolution and a small page budget, which keep the check fast (these pages are not kept)."""
    return replace((settings or Settings()).document_limits(offline=True), pdf_dpi=72, model_max_pixels=256 * 256)


def _read_page_texts(todo: list[tuple[DatasetRow, list[str], list[bytes]]], show_progress: bool) -> None:
    """Fill ``row.page_texts`` (OCR is seconds per page on a CPU: done once, here)."""
    from tqdm.auto import tqdm

    from extractor_energy.documents.page_text import PageTextReader

    reader = PageTextReader()
    for row, names, contents in tqdm(todo, desc="page text", unit="bill", disable=not show_progress):
        row.page_texts = page_texts_of(reader, names, contents)


#: with at least MIN_VAL_FOR_ROWS usable bills, the val split holds at least MIN_VAL_ROWS of them
MIN_VAL_ROWS, MIN_VAL_FOR_ROWS = 10, 40


def _split(rows: list[DatasetRow], val_fraction: float, seed: int) -> dict[str, str]:
    position = {r.id: _hash_split(r.id, seed) for r in rows}
    split = {r.id: "val" if position[r.id] < val_fraction else "train" for r in rows}
    val = [i for i, s in split.items() if s == "val"]
    train = [i for i, s in split.items() if s == "train"]
    # a val split of 2-4 bills measures nothing: 40+ bills keep at least MIN_VAL_ROWS for validation
    wanted = MIN_VAL_ROWS if len(rows) >= MIN_VAL_FOR_ROWS else 1
    if val_fraction > 0 and len(val) < wanted and len(rows) >= 2:  # the rows nearest the cut move to val
        for row_id in sorted(train, key=position.__getitem__)[: wanted - len(val)]:
            split[row_id] = "val"
    elif not train and val:
        split[max(val, key=position.__getitem__)] = "train"
    return split
