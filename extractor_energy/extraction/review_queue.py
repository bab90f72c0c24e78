"""The review queue behind ``/ui``: answers a person should check, and their corrections as training data.

Layout under ``EXTRACTOR_REVIEW_DIR``::

    .queue/<id>/bill.<ext>          the uploaded file, byte for byte (photo, screenshot or PDF)
    .queue/<id>/envelope.json       the answer the service gave (the POST /extract body)
    .queue/<id>/page-<n>.png        pages rendered for the browser (made on first view)
    <key>/bills/<id>.<ext>          the file of a reviewed bill
    <key>/annotations.jsonl         one corrected row per reviewed bill
    <key>/trained.jsonl             rows whose bill file was deleted after training (``--forget-trained``)

``<key>/annotations.jsonl`` rows are exactly what ``training/prepare_dataset.py`` reads
(``{"image": "bills/<id>.jpg", "key": "equatorial_go", "json": {...contract...}}``; the extra
``review`` object is ignored by it), so ``--data-dir $EXTRACTOR_REVIEW_DIR`` trains on them; the
``.queue`` folder starts with a dot and is never read as data. Bills are kept nowhere else and
never logged.

Personal data (LGPD): a queued bill not reviewed within ``retention_days`` is deleted (checked
when the queue is listed or added to); a reviewer can delete a queued bill (:meth:`discard`) or a
reviewed one (:meth:`delete_reviewed`); :meth:`forget_trained` deletes the files of bills a
training run used, keeping only their corrected values (moved to ``trained.jsonl``).
"""

from __future__ import annotations

import io
import json
import logging
import os
import re
import shutil
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from extractor_energy.training.datasets import ANNOTATIONS
from extractor_energy.documents.decode import DocumentError, DocumentLimits, load_document, sniff
from extractor_energy.domain.keys import InvalidKey, parse_key
from extractor_energy.domain.schema import BillData

log = logging.getLogger(__name__)

QUEUE = ".queue"
DAY_S = 86400.0
TRAINED = "trained.jsonl"
MAX_ITEMS = 5000  # beyond this many waiting bills new ones are not queued (disk guard), with a warning
_ID = re.compile(r"^[0-9a-f]{32}$")
_EXT = {"jpeg": ".jpg", "png": ".png", "webp": ".webp", "gif": ".gif", "tiff": ".tif", "bmp": ".bmp",
        "heif": ".heic", "avif": ".avif", "pdf": ".pdf", "mpo": ".jpg"}
#: pages shown in the browser: readable, but far below the decode limits
DISPLAY_LIMITS = DocumentLimits(max_upload_bytes=64 * 1024 * 1024, max_pdf_pages=64, pdf_dpi=110, model_max_pixels=1400 * 1000)


class ReviewError(Exception):
    """A request the queue cannot serve (an item that cannot be shown or saved)."""

    def __init__(self, message: str) -> None:
        self.message = message
        super().__init__(message)


class ReviewNotFound(ReviewError):
    """No such item, page or file in the queue."""


@dataclass(frozen=True)
class Saved:
    key: str
    annotations: Path
    image: Path


def _fsync_write(path: Path, data: bytes) -> None:
    with path.open("wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


class ReviewQueue:
    """Thread-safe file-backed queue; every path it touches is built from a checked id or key."""

    def __init__(self, root: Path, retention_days: float = 0.0) -> None:
        self.root = Path(root)
        self.queue_dir = self.root / QUEUE
        self.queue_dir.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self.retention_days = retention_days  # 0: queued bills wait until reviewed or discarded
        self._purged_at = 0.0

    # ------------------------------------------------------------------ retention
    def purge_expired(self, now: float | None = None, force: bool = False) -> list[str]:
        """Delete queued bills older than ``retention_days``; returns their ids (checked at most once a minute)."""
        now = time.time() if now is None else now
        if self.retention_days <= 0 or (not force and now - self._purged_at < 60):
            return []
        self._purged_at = now
        cutoff = now - self.retention_days * DAY_S
        removed = []
        with self._lock:
            for folder in self.queue_dir.iterdir():
                if not _ID.match(folder.name):
                    continue
                try:
                    queued = float(json.loads((folder / "envelope.json").read_text(encoding="utf-8")).get("queued_at") or 0)
                except (OSError, ValueError):
                    queued = folder.stat().st_mtime
                if queued < cutoff:
                    shutil.rmtree(folder, ignore_errors=True)
                    removed.append(folder.name)
        if removed:
            log.info("review queue: deleted %d bill(s) not reviewed within %g days (EXTRACTOR_REVIEW_RETENTION_DAYS)",
                     len(removed), self.retention_days)
        return removed

    # ------------------------------------------------------------------ adding
    def add(self, content: bytes, envelope: dict[str, Any]) -> str | None:
        """Queue one answered bill; returns its id, or None when the queue is full."""
        self.purge_expired()
        if sum(1 for _ in self.queue_dir.glob("[0-9a-f]*")) >= MAX_ITEMS:
            log.warning("review queue holds %d bills (the most it keeps); this one was not queued", MAX_ITEMS)
            return None
        item_id = uuid.uuid4().hex
        staging = self.queue_dir / f".tmp-{item_id}"
        staging.mkdir()
        ext = _EXT.get(sniff(content) or "", ".bin")
        _fsync_write(staging / f"bill{ext}", content)
        meta = {"queued_at": time.time(), **envelope}
        _fsync_write(staging / "envelope.json", json.dumps(meta, ensure_ascii=False).encode("utf-8"))
        staging.rename(self.queue_dir / item_id)  # appears whole or not at all
        return item_id

    # ------------------------------------------------------------------ reading
    def _item_dir(self, item_id: str) -> Path:
        if not _ID.match(item_id or ""):
            raise ReviewNotFound("no such review item")
        folder = self.queue_dir / item_id
        if not (folder / "envelope.json").is_file():
            raise ReviewNotFound("no such review item (already saved or discarded?)")
        return folder

    def _bill_file(self, folder: Path) -> Path:
        files = sorted(folder.glob("bill.*"))
        if not files:
            raise ReviewNotFound("the bill's file is missing from the review queue")
        return files[0]

    def items(self) -> list[dict[str, Any]]:
        """Waiting bills, oldest first: id, key, when, pages, warning codes."""
        self.purge_expired()
        out = []
        for folder in self.queue_dir.iterdir():
            if not _ID.match(folder.name):
                continue
            try:
                env = json.loads((folder / "envelope.json").read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            out.append({"id": folder.name, "key": env.get("key"), "queued_at": env.get("queued_at"),
                        "pages": env.get("pages"), "requires_review": env.get("requires_review"),
                        "warnings": [w.get("code") for w in env.get("warnings", [])]})
        return sorted(out, key=lambda item: item["queued_at"] or 0)

    def envelope(self, item_id: str) -> dict[str, Any]:
        return json.loads((self._item_dir(item_id) / "envelope.json").read_text(encoding="utf-8"))

    def page_png(self, item_id: str, page: int) -> bytes:
        """Page ``page`` (1-based) as PNG, rendered once and kept beside the bill."""
        folder = self._item_dir(item_id)
        cached = folder / f"page-{page}.png"
        if cached.is_file():
            return cached.read_bytes()
        try:
            pages = load_document(self._bill_file(folder).read_bytes(), DISPLAY_LIMITS).pages
        except DocumentError as exc:  # the service read it, so only limits could differ: say so, never a 500
            raise ReviewError(f"the page cannot be shown: {exc.message}") from None
        if not 1 <= page <= len(pages):
            raise ReviewNotFound(f"the bill has {len(pages)} page(s)")
        buf = io.BytesIO()
        pages[page - 1].save(buf, "PNG", optimize=False)
        with self._lock:
            if folder.is_dir():
                _fsync_write(cached, buf.getvalue())
        return buf.getvalue()

    # ------------------------------------------------------------------ resolving
    def save(self, item_id: str, data: BillData, reviewer: str | None = None) -> Saved:
        """Write the corrected row to ``<key>/annotations.jsonl`` (+ the file) and take the bill off the queue."""
        with self._lock:
            folder = self._item_dir(item_id)
            envelope = json.loads((folder / "envelope.json").read_text(encoding="utf-8"))
            try:
                key = parse_key(str(envelope.get("key", ""))).key
            except InvalidKey:
                raise ReviewError("the queued answer has no usable key") from None
            target = self.root / key
            (target / "bills").mkdir(parents=True, exist_ok=True)
            bill = self._bill_file(folder)
            image = target / "bills" / f"{item_id}{bill.suffix}"
            shutil.copyfile(bill, image)
            row = {
                "image": f"bills/{image.name}", "key": key, "json": data.model_dump(),
                "review": {"id": item_id, "reviewed_at": time.time(), "reviewer": reviewer,
                           "model": envelope.get("model"), "adapter": envelope.get("adapter"),
                           "adapter_version": envelope.get("adapter_version"), "answer": envelope.get("data")},
            }
            annotations = target / ANNOTATIONS
            with annotations.open("a", encoding="utf-8") as fh:
                fh.write(json.dumps(row, ensure_ascii=False) + "\n")
                fh.flush()
                os.fsync(fh.fileno())
            shutil.rmtree(folder)
            return Saved(key=key, annotations=annotations, image=image)

    def discard(self, item_id: str) -> None:
        with self._lock:
            shutil.rmtree(self._item_dir(item_id))

    # ------------------------------------------------------------------ reviewed bills
    def key_dir(self, key: str) -> Path:
        try:
            return self.root / parse_key(key).key
        except InvalidKey:
            raise ReviewNotFound("no such key") from None

    def delete_reviewed(self, key: str, item_id: str) -> None:
        """Delete a reviewed bill: its corrected row and its file."""
        if not _ID.match(item_id or ""):
            raise ReviewNotFound("no such reviewed bill")
        with self._lock:
            folder = self.key_dir(key)
            kept, found = _split_rows(folder / ANNOTATIONS, {item_id})
            if not found:
                raise ReviewNotFound(f"no reviewed bill {item_id} for {key}")
            _rewrite(folder / ANNOTATIONS, kept)
            for row in found:
                _unlink_bill(folder, row)

    def forget_trained(self, key: str, item_ids: set[str]) -> int:
        """Delete the files of the reviewed bills ``item_ids`` (trained on); their rows move to ``trained.jsonl``
        without the file, so they are not trained on again. Returns how many files were deleted."""
        with self._lock:
            folder = self.key_dir(key)
            kept, found = _split_rows(folder / ANNOTATIONS, item_ids)
            if not found:
                return 0
            with (folder / TRAINED).open("a", encoding="utf-8") as fh:
                for row in found:
                    fh.write(json.dumps({**{k: v for k, v in row.items() if k != "image"}, "forgotten_at": time.time()},
                                        ensure_ascii=False) + "\n")
            _rewrite(folder / ANNOTATIONS, kept)
            return sum(_unlink_bill(folder, row) for row in found)


def review_id(row: dict[str, Any]) -> str | None:
    """The queue id of a reviewed row (``review.id``), if it came from the queue."""
    review = row.get("review")
    return review.get("id") if isinstance(review, dict) and isinstance(review.get("id"), str) else None


def read_rows(path: Path) -> list[dict[str, Any]]:
    """The JSON object rows of a JSONL file (unreadable lines skipped); [] when there is none."""
    if not path.is_file():
        return []
    rows = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            row = json.loads(line)
        except ValueError:
            continue
        if isinstance(row, dict):
            rows.append(row)
    return rows


def _split_rows(path: Path, ids: set[str]) -> tuple[list[str], list[dict[str, Any]]]:
    """The lines of ``path`` to keep (as written) and the rows whose review id is in ``ids``."""
    kept: list[str] = []
    found: list[dict[str, Any]] = []
    if not path.is_file():
        return kept, found
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            row = json.loads(line)
        except ValueError:
            row = None
        if isinstance(row, dict) and review_id(row) in ids:
            found.append(row)
        elif line.strip():
            kept.append(line)
    return kept, found


def _rewrite(path: Path, lines: list[str]) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    _fsync_write(tmp, "".join(line + "\n" for line in lines).encode("utf-8"))
    os.replace(tmp, path)


def _unlink_bill(folder: Path, row: dict[str, Any]) -> bool:
    """Delete the row's bill file when it lies in ``folder/bills`` (never a path outside it)."""
    name = row.get("image")
    if not isinstance(name, str):
        return False
    path = (folder / name).resolve()
    bills = (folder / "bills").resolve()
    if path.parent != bills or not path.is_file():
        return False
    path.unlink()
    return True
