"""``extractor-energy extract``: many bills to one JSONL or CSV file, on the local model or against a server.

    extractor-energy extract bills/equatorial_go/ scans/ --concessionaria CEMIG --uf MG -o out.jsonl
    extractor-energy extract bills/ --server http://host:8000 --api-key "$KEY" -o out.csv

* Paths are files or folders (searched recursively for JPEG/PNG/WebP/MPO/HEIC/PDF). Without
  ``--concessionaria``/``--uf`` a file's key comes from the nearest folder named
  ``<concessionaria>_<uf>`` (``equatorial_go``) at or below the path given.
* Local mode runs the real app in this process (model, adapters, scheduler, checks: the same
  code as ``serve``) through httpx's ASGI transport; ``--server`` sends to a running service
  with :class:`extractor_energy.client.AsyncClient`. Both send ``--concurrency`` bills at once
  and retry 503/429 honouring ``Retry-After``.
* Each answer is appended as soon as it arrives, so an interrupted run resumes: files already in
  the output are skipped. Failed files are not written (a rerun retries them); they are listed
  in the summary and make the exit status 1.
* ``--sources`` also writes where each value was read (the envelope's ``sources`` and
  ``page_sizes``): a ``sources`` key per JSON line; in CSV a ``<field>__source`` column per contract
  field holding ``page:x0,y0,x1,y1`` (pixels of the page as the server decoded it; for the list
  fields a JSON list of those, null where a row was not located), plus ``sources`` (with the text
  as printed) and ``page_sizes`` as JSON columns. Without it the output has no sources.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import json
import logging
import math
import sys
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, AsyncIterator, Iterable

from extractor_energy.client import AsyncClient, ExtractorError, Extraction, RetryPolicy
from extractor_energy.domain.keys import InvalidKey, make_key, parse_key
from extractor_energy.domain.schema import ALL_FIELDS

BILL_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".mpo", ".heic", ".heif", ".pdf"})
#: CSV columns before and after the contract's fields
CSV_HEAD = ("file", "key", "concessionaria", "uf", "requires_review", "warnings")
CSV_TAIL = ("adapter", "adapter_version", "fallback", "model", "model_family", "pages", "confidence", "total_ms")
CSV_COLUMNS = (*CSV_HEAD, *ALL_FIELDS, *CSV_TAIL)
#: with --sources: where each field was read (page:x0,y0,x1,y1), then the sources with their text and the page sizes as JSON
SOURCE_COLUMNS = (*(f"{name}__source" for name in ALL_FIELDS), "sources", "page_sizes")
#: envelope keys written only with --sources
SOURCE_KEYS = ("sources", "page_sizes")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


class UsageError(ValueError):
    """The command line cannot be run as given (exit 2)."""


@dataclass(frozen=True)
class Job:
    path: Path
    concessionaria: str
    uf: str

    @property
    def key(self) -> str:
        """The normalised key the server will answer with (for the summary), or the raw pair when it has none."""
        try:
            return make_key(self.concessionaria, self.uf).key
        except InvalidKey:
            return f"{self.concessionaria}_{self.uf}"[:100]


# ---------------------------------------------------------------------------- finding the bills
def _folder_key(folder: Path) -> tuple[str, str] | None:
    try:
        key = parse_key(folder.name.lower())
    except InvalidKey:
        return None
    return key.concessionaria, key.uf


def _key_for(path: Path, root: Path) -> tuple[str, str] | None:
    """The nearest folder named like a key, from the file's folder up to ``root`` (the path given)."""
    for folder in [path.parent, *path.parent.parents]:
        found = _folder_key(folder)
        if found:
            return found
        if folder == root or folder == folder.parent:
            return None
    return None


def collect_jobs(paths: Iterable[str], concessionaria: str | None, uf: str | None) -> list[Job]:
    """Every bill under ``paths`` with the key it is sent with; UsageError for a missing path or key."""
    if bool(concessionaria) != bool(uf):
        raise UsageError("give --concessionaria and --uf together (or neither, to take the key from folder names)")
    jobs: dict[Path, Job] = {}
    unkeyed: list[Path] = []
    for given in paths:
        root = Path(given)
        if root.is_dir():
            files = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in BILL_SUFFIXES
                           and not any(part.startswith(".") for part in p.relative_to(root).parts))
            top = root
        elif root.is_file():
            files, top = [root], root.parent
        else:
            raise UsageError(f"{given}: no such file or folder")
        for file in files:
            key = (concessionaria, uf) if concessionaria and uf else _key_for(file.resolve(), top.resolve())
            if key is None:
                unkeyed.append(file)
            else:
                jobs.setdefault(file.resolve(), Job(file, key[0], key[1]))
    if unkeyed:
        shown = ", ".join(str(p) for p in unkeyed[:3]) + (f" and {len(unkeyed) - 3} more" if len(unkeyed) > 3 else "")
        raise UsageError(f"no key for {shown}: pass --concessionaria and --uf, or put the files in a folder named "
                         "<concessionaria>_<uf> (e.g. equatorial_go)")
    return list(jobs.values())


# ---------------------------------------------------------------------------- output
def output_format(path: Path, requested: str | None) -> str:
    if requested:
        return requested
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson", ".json"):
        return "jsonl"
    if suffix == ".csv":
        return "csv"
    raise UsageError(f"{path}: cannot tell the format from the name; end it in .jsonl or .csv, or pass --format")


def done_files(path: Path, fmt: str) -> set[Path]:
    """Files already answered in an existing output (resolved paths), for resuming."""
    if not path.is_file():
        return set()
    names: list[str] = []
    with path.open("r", encoding="utf-8", newline="") as fh:
        if fmt == "csv":
            names = [row.get("file") or "" for row in csv.DictReader(fh)]
        else:
            for line in fh:
                try:
                    names.append(json.loads(line).get("file") or "")
                except (ValueError, AttributeError):
                    continue  # a line cut by an interruption: that file runs again
    return {Path(n).resolve() for n in names if n}


def _cell(value: Any) -> str:
    """One CSV cell: lists and objects as JSON, booleans as true/false, text guarded against spreadsheet formulas."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, dict)):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value  # values come from bills: never let a spreadsheet run one as a formula
    return str(value)


def csv_columns(sources: bool = False) -> tuple[str, ...]:
    return (*CSV_COLUMNS, *SOURCE_COLUMNS) if sources else CSV_COLUMNS


def _place(source: Any) -> str | None:
    """One source as ``page:x0,y0,x1,y1`` (whole pixels, rounded outwards so the box still holds the value)."""
    if not isinstance(source, dict):
        return None
    try:
        x0, y0, x1, y1 = (float(v) for v in source["box"])
        return f"{int(source['page'])}:{math.floor(x0)},{math.floor(y0)},{math.ceil(x1)},{math.ceil(y1)}"
    except (KeyError, TypeError, ValueError, OverflowError):
        return None  # a malformed source is left out, never a failed row


def source_cell(source: Any) -> Any:
    """A ``<field>__source`` value: ``page:x0,y0,x1,y1``; for a list field, one per row (null where not located)."""
    if isinstance(source, list):
        return [_place(s) for s in source]
    return _place(source)


def csv_row(file: str, answer: dict[str, Any], sources: bool = False) -> dict[str, str]:
    row = {"file": file, "warnings": ";".join(w["code"] for w in answer.get("warnings", []))}
    for name in ("key", "concessionaria", "uf", "requires_review", *CSV_TAIL):
        row[name] = answer.get(name)
    row["total_ms"] = (answer.get("timings_ms") or {}).get("total")
    row.update({name: answer["data"].get(name) for name in ALL_FIELDS})
    if sources:
        found = answer.get("sources") or {}
        row.update({f"{name}__source": source_cell(found.get(name)) for name in ALL_FIELDS})
        row["sources"], row["page_sizes"] = found, answer.get("page_sizes") or []
    return {name: (_cell(row[name]) if name != "file" else file) for name in csv_columns(sources)}


class Writer:
    """Appends one answer per line (JSONL) or row (CSV), flushed at once so an interruption loses nothing."""

    def __init__(self, path: Path, fmt: str, sources: bool = False) -> None:
        """``sources``: also write where each value was read. UsageError when resuming a CSV whose columns differ."""
        fresh = not path.exists() or path.stat().st_size == 0
        columns = csv_columns(sources)
        if fmt == "csv" and not fresh:
            with path.open("r", encoding="utf-8", newline="") as fh:
                header = tuple(next(csv.reader(fh), ()))
            if header != columns:
                if header == csv_columns(not sources):
                    said = f"was written {'with' if not sources else 'without'} --sources; resume it the same way"
                else:
                    said = "has other columns than this version writes"
                raise UsageError(f"{path} {said}, or write to a new file")
        path.parent.mkdir(parents=True, exist_ok=True)
        self.fmt, self.sources = fmt, sources
        self.fh: IO[str] = path.open("a", encoding="utf-8", newline="")
        self.csv = csv.DictWriter(self.fh, fieldnames=columns) if fmt == "csv" else None
        if self.csv is not None and fresh:
            self.csv.writeheader()

    def write(self, file: str, answer: dict[str, Any]) -> None:
        if self.csv is not None:
            self.csv.writerow(csv_row(file, answer, self.sources))
        else:
            if self.sources:
                answer = {**answer, "sources": answer.get("sources") or {}, "page_sizes": answer.get("page_sizes") or []}
            else:
                answer = {k: v for k, v in answer.items() if k not in SOURCE_KEYS}
            self.fh.write(json.dumps({"file": file, **answer}, ensure_ascii=False) + "\n")
        self.fh.flush()

    def close(self) -> None:
        self.fh.close()


# ---------------------------------------------------------------------------- running
@dataclass
class Summary:
    done: Counter = field(default_factory=Counter)
    review: Counter = field(default_factory=Counter)
    failed: dict[str, list[tuple[str, str]]] = field(default_factory=lambda: defaultdict(list))
    skipped: int = 0
    seconds: float = 0.0

    @property
    def failures(self) -> int:
        return sum(len(v) for v in self.failed.values())

    def lines(self) -> list[str]:
        keys = sorted(set(self.done) | set(self.failed))
        width = max([len(k) for k in keys] + [5])
        out = [f"{'key':<{width}}  {'done':>6}  {'review':>6}  {'failed':>6}"]
        for key in keys:
            out.append(f"{key:<{width}}  {self.done[key]:>6}  {self.review[key]:>6}  {len(self.failed.get(key, [])):>6}")
        total = sum(self.done.values())
        out.append(f"{'total':<{width}}  {total:>6}  {sum(self.review.values()):>6}  {self.failures:>6}")
        rate = f" ({(total + self.failures) / self.seconds:.2f} bills/s)" if self.seconds > 0 and total + self.failures else ""
        out.append(f"{total + self.failures} bills in {self.seconds:.1f} s{rate}"
                   + (f"; {self.skipped} already in the output, skipped" if self.skipped else ""))
        for key in sorted(self.failed):
            for file, reason in self.failed[key]:
                out.append(f"failed {file}: {reason}")
        return out


@contextlib.asynccontextmanager
async def local_client(concurrency: int, retry: RetryPolicy) -> AsyncIterator[AsyncClient]:
    """The real app in this process (the same build as ``serve``), reached through httpx's ASGI transport."""
    import httpx

    from extractor_energy.api.app import create_app
    from extractor_energy.config import get_settings
    from extractor_energy.engine.model import load_model

    # in-process calls never cross the network: API keys (if configured for serving) do not apply
    settings = get_settings().model_copy(update={"api_keys": "", "api_keys_file": None})
    loaded = await asyncio.to_thread(load_model, settings)  # ModelLoadError: one clear line, before anything starts
    app = create_app(settings, loaded)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with AsyncClient("http://in-process", transport=transport, retry=retry, max_connections=concurrency) as client:
            yield client


async def run_jobs(client: AsyncClient, jobs: list[Job], writer: Writer, concurrency: int, progress: bool) -> Summary:
    """Send ``jobs`` with at most ``concurrency`` in flight; write each answer as it arrives."""
    from tqdm import tqdm

    summary = Summary()
    bar = tqdm(total=len(jobs), unit="bill", disable=not progress, dynamic_ncols=True, file=sys.stderr)
    gate = asyncio.Semaphore(concurrency)
    started = time.perf_counter()

    async def one(job: Job) -> None:
        try:
            result: Extraction = await client.extract(job.path, job.concessionaria, job.uf)
        except ExtractorError as exc:
            summary.failed[job.key].append((str(job.path), str(exc)))
        except OSError as exc:
            summary.failed[job.key].append((str(job.path), f"cannot read the file: {exc.strerror or exc}"))
        else:
            answer = result.model_dump(mode="json")
            writer.write(str(job.path), answer)
            summary.done[result.key] += 1
            summary.review[result.key] += bool(result.requires_review)
        finally:
            gate.release()
            bar.update(1)
            bar.set_postfix(review=sum(summary.review.values()), failed=summary.failures, refresh=False)

    tasks = []
    for job in jobs:
        await gate.acquire()
        tasks.append(asyncio.create_task(one(job)))
    await asyncio.gather(*tasks)
    bar.close()
    summary.seconds = time.perf_counter() - started
    return summary


async def _run(args: argparse.Namespace, jobs: list[Job], writer: Writer, retry: RetryPolicy) -> Summary:
    if args.server:
        client_cm: Any = AsyncClient(args.server, api_key=args.api_key, retry=retry, max_connections=args.concurrency)
    else:
        client_cm = local_client(args.concurrency, retry)
    async with client_cm as client:
        return await run_jobs(client, jobs, writer, args.concurrency, progress=not args.no_progress)


def add_extract_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("paths", nargs="+", metavar="PATH", help="bill files or folders (searched recursively)")
    parser.add_argument("-o", "--output", required=True, help="answers file: .jsonl (one envelope per line) or .csv; "
                        "appended to, and files already in it are skipped")
    parser.add_argument("--concessionaria", help="utility for every file (else from <concessionaria>_<uf> folder names)")
    parser.add_argument("--uf", help="state code for every file (with --concessionaria)")
    parser.add_argument("--server", help="URL of a running service (default: run the model in this process)")
    parser.add_argument("--api-key", help="API key for --server (default $EXTRACTOR_API_KEY)")
    parser.add_argument("--concurrency", type=int, default=None,
                        help="bills in flight at once (default 8 with --server, else EXTRACTOR_MAX_BATCH_SIZE)")
    parser.add_argument("--retries", type=int, default=8, help="attempts after a 503/429 or lost connection (default 8)")
    parser.add_argument("--format", choices=["jsonl", "csv"], help="output format (default: from the file name)")
    parser.add_argument("--sources", action="store_true",
                        help="also write where each value was read on the bill: JSONL gets each envelope's 'sources' "
                        "(per field: page 1-based, box [x0,y0,x1,y1] in pixels of the page as the server decoded "
                        "it, text as printed; null where not located) and 'page_sizes' ([width,height] per page); "
                        "CSV gets a <field>__source column per contract field holding page:x0,y0,x1,y1 (list fields: a "
                        "JSON list, one per row), plus 'sources' (with the printed text) and 'page_sizes' as JSON "
                        "columns. "
                        "Resume a file with the same choice")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--verbose", action="store_true", help="keep the service's INFO logs (local mode)")


def run_extract(args: argparse.Namespace) -> int:
    from extractor_energy.engine.model import ModelLoadError

    output = Path(args.output)
    try:
        fmt = output_format(output, args.format)
        jobs = collect_jobs(args.paths, args.concessionaria, args.uf)
    except UsageError as exc:
        print(f"extractor-energy extract: {exc}", file=sys.stderr)
        return 2
    if args.concurrency is None:
        if args.server:
            args.concurrency = 8
        else:
            from extractor_energy.config import get_settings

            args.concurrency = get_settings().max_batch_size
    args.concurrency = max(1, args.concurrency)
    answered = done_files(output, fmt)
    todo = [job for job in jobs if job.path.resolve() not in answered]
    if not args.verbose:
        logging.getLogger().setLevel(logging.WARNING)
    try:
        writer = Writer(output, fmt, sources=getattr(args, "sources", False))
    except UsageError as exc:
        print(f"extractor-energy extract: {exc}", file=sys.stderr)
        return 2
    try:
        summary = asyncio.run(_run(args, todo, writer, RetryPolicy(retries=max(0, args.retries))))
    except ModelLoadError as exc:
        print(f"extractor-energy extract: {exc}", file=sys.stderr)
        return 2
    finally:
        writer.close()
    summary.skipped = len(jobs) - len(todo)
    for line in summary.lines():
        print(line, file=sys.stderr)
    return 1 if summary.failures else 0
