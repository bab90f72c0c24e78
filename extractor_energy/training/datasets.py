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

Output: see ``training/README.md`` (``images/``, ``train.jsonl``, ``val.jsonl``, ``summary.json``).
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

from extractor_energy.config import Settings
from extractor_energy.documents.decode import DocumentError, DocumentLimits, load_document, sniff
from extractor_energy.domain.keys import BillKey, InvalidKey, make_key, parse_key
from extractor_energy.adapters.publish import publishing
from extractor_energy.domain.schema import ALL_FIELDS, BillData, ContractError, coerce_bill

log = logging.getLogger(__name__)

FORMAT = "extractor-energy-dataset/1"
ANNOTATIONS = "annotations.jsonl"
SPLITS = ("train", "val")
_EXT = {"jpeg": ".jpg", "png": ".png", "webp": ".webp", "gif": ".gif", "tiff": ".tif", "bmp": ".bmp",
        "heif": ".heic", "avif": ".avif", "pdf": ".pdf"}


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


@dataclass
class PrepareResult:
    output_dir: Path
    summary: dict[str, Any]
    rejected: list[Rejected] = field(default_factory=list)

    @property
    def usable(self) -> int:
        return int(self.summary["counts"]["usable"])


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


def field_coverage(rows: list[DatasetRow]) -> dict[str, dict[str, float]]:
    """Per contract field: in how many rows it has a value (not null/false/[])."""
    out = {}
    for name in ALL_FIELDS:
        count = sum(1 for r in rows if getattr(r.data, name) not in (None, False, []))
        out[name] = {"count": count, "fraction": round(count / len(rows), 4) if rows else 0.0}
    return out


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
    return _write(output_dir, rows, split, blobs, bill_key, data_dir, val_fraction, seed, rows_read, rejected,
                  other_keys, skipped_folders)


def decode_check_limits(settings: Settings | None = None) -> DocumentLimits:
    """For checking that bills decode within the server's limits (size, pages, pixels): with a low PDF
    resolution and a small page budget, which keep the check fast (these pages are not kept)."""
    return replace((settings or Settings()).document_limits(offline=True), pdf_dpi=72, model_max_pixels=256 * 256)


def text_limits(settings: Settings | None = None) -> DocumentLimits:
    """How pages are decoded for reading their text: as the server decodes them for the text family."""
    return (settings or Settings()).document_limits("text", offline=True)


def _read_page_texts(todo: list[tuple[DatasetRow, list[str], list[bytes]]], show_progress: bool) -> None:
    """Fill ``row.page_texts`` (OCR is seconds per page on a CPU: done once, here)."""
    from tqdm.auto import tqdm

    from extractor_energy.documents.page_text import PageTextReader

    reader = PageTextReader()
    for row, names, contents in tqdm(todo, desc="page text", unit="bill", disable=not show_progress):
        row.page_texts = _texts_of(reader, names, contents)


def _texts_of(reader: Any, names: list[str], contents: list[bytes]) -> list[str]:
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
        row.page_texts = _texts_of(PageTextReader(), [p.name for p in paths], [p.read_bytes() for p in paths])
    return row.page_texts


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


def _write(
    output_dir: Path, rows: list[DatasetRow], split: dict[str, str], blobs: dict[str, tuple[bytes, str]],
    key: BillKey, data_dir: Path, val_fraction: float, seed: int, rows_read: int, rejected: list[Rejected],
    other_keys: dict[str, int], skipped_folders: list[str],
) -> PrepareResult:
    from extractor_energy import __version__

    digest = hashlib.sha256()
    with publishing(output_dir) as tmp:
        (tmp / "images").mkdir()
        for name in sorted(blobs):
            (tmp / name).write_bytes(blobs[name][0])
        for name in SPLITS:
            lines = [json.dumps(r.to_json(), ensure_ascii=False) for r in rows if split[r.id] == name]
            text = "".join(line + "\n" for line in lines)
            (tmp / f"{name}.jsonl").write_text(text, encoding="utf-8")
            digest.update(f"{name}.jsonl\0{len(text.encode())}\0".encode())
            digest.update(text.encode("utf-8"))
        for name in sorted(blobs):
            digest.update(f"{name}\0{len(blobs[name][0])}\0".encode())
            digest.update(blobs[name][0])
        train = [r for r in rows if split[r.id] == "train"]
        val = [r for r in rows if split[r.id] == "val"]
        summary = {
            "format": FORMAT,
            "key": key.key,
            "concessionaria": key.concessionaria,
            "uf": key.uf,
            "fingerprint": digest.hexdigest(),
            "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "package_version": __version__,
            "source": str(data_dir.resolve()),
            "seed": seed,
            "val_fraction": val_fraction,
            "counts": {
                "rows_read": rows_read, "usable": len(rows), "train": len(train), "val": len(val),
                "rejected": len(rejected), "other_key": sum(other_keys.values()), "images": len(blobs),
                "pages": sum(r.pages for r in rows),
            },
            "rejected": [{"source": r.source, "line": r.line, "reason": r.reason} for r in rejected],
            "other_keys": other_keys,
            "skipped_folders": skipped_folders,
            "field_coverage": field_coverage(rows),
            "field_coverage_val": {f: v["count"] for f, v in field_coverage(val).items()},
            "fields": list(ALL_FIELDS),
        }
        (tmp / "summary.json").write_text(json.dumps(summary, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return PrepareResult(output_dir=output_dir, summary=summary, rejected=rejected)


# ---------------------------------------------------------------------------- reading a prepared data set
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
