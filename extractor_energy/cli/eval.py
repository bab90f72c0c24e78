"""``extractor-energy eval``: field-level accuracy / micro F1 / exact match on a prepared data set.

Three ways to get predictions:

* local, base model + base prompt (no ``--adapter``): what the server answers for a key without adapter;
* local with ``--adapter DIR``: the base model (``EXTRACTOR_MODEL`` or ``--model``) loaded by the
  server's loader, the adapter loaded into it, batched generation with the adapter prompt;
  ``--compare-base`` adds the base model's numbers side by side;
* ``--server URL``: POST every bill to a running service's ``/extract``.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


def add_eval_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dataset", required=True, help="prepared data set folder (training/prepare_dataset.py output)")
    parser.add_argument("--split", default="val", choices=["val", "train", "all"], help="rows to evaluate (default val)")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--adapter", help="adapter folder to evaluate locally (loaded into the base model)")
    where.add_argument("--server", help="base URL of a running service, e.g. http://localhost:8000 (POST /extract)")
    parser.add_argument("--compare-base", action="store_true",
                        help="also evaluate the base model with the base prompt and show both side by side (local only)")
    parser.add_argument("--model", help="base model (default: EXTRACTOR_MODEL)")
    parser.add_argument("--device", choices=["auto", "cuda", "cpu"], help="default: EXTRACTOR_DEVICE")
    parser.add_argument("--max-pixels", type=int, help="page pixel budget (default: EXTRACTOR_MODEL_MAX_PIXELS)")
    parser.add_argument("--max-new-tokens", type=int, help="generation limit (default: EXTRACTOR_MAX_NEW_TOKENS)")
    parser.add_argument("--batch-size", type=int, default=4, help="bills generated together (local, default 4)")
    parser.add_argument("--constrained", action=argparse.BooleanOptionalAction, default=None,
                        help="schema-constrained decoding (default: EXTRACTOR_CONSTRAINED_DECODING)")
    parser.add_argument("--concessionaria", help="override the data set's utility (sent to the server / prompt)")
    parser.add_argument("--uf", help="override the data set's state")
    parser.add_argument("--limit", type=int, help="evaluate only the first N rows")
    parser.add_argument("--fields", help="comma-separated contract fields to score and generate (default: the adapter's "
                        "metadata `fields`, else the whole contract)")
    parser.add_argument("--text-max-tokens", type=int, help="text family: page-text budget (default: EXTRACTOR_TEXT_MAX_TOKENS)")
    parser.add_argument("--timeout", type=float, default=300.0, help="per-request timeout with --server (s, default 300)")
    parser.add_argument("--json-out", help="write the full results (metrics, per field, per document) to this JSON file")
    parser.add_argument("--show-errors", type=int, default=5, help="print up to N mismatching documents (default 5)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")


def _items(args: argparse.Namespace, limits: Any, loaded: Any, text_max_tokens: int) -> tuple[list, Any, dict[str, Any]]:
    from extractor_energy.training.datasets import load_split, read_summary
    from extractor_energy.domain.keys import make_key
    from extractor_energy.training.run import eval_items

    summary = read_summary(args.dataset)
    key = make_key(args.concessionaria or summary["concessionaria"], args.uf or summary["uf"])
    rows = load_split(args.dataset, args.split)
    if args.limit:
        rows = rows[: args.limit]
    return eval_items(Path(args.dataset), rows, key, limits, loaded, text_max_tokens), key, summary


def _fields(args: argparse.Namespace) -> list[str] | None:
    """``--fields``, else the adapter's metadata ``fields``, else None (the whole contract)."""
    from extractor_energy.domain.schema import ALL_FIELDS

    if args.fields:
        names = [f.strip() for f in args.fields.split(",") if f.strip()]
        unknown = [f for f in names if f not in ALL_FIELDS]
        if unknown:
            raise ValueError(f"--fields: not contract fields: {', '.join(unknown)}")
        return names
    if args.adapter:
        meta = Path(args.adapter) / "extractor_metadata.json"
        if meta.is_file():
            names = json.loads(meta.read_text(encoding="utf-8")).get("fields")
            if names and set(names) != set(ALL_FIELDS):
                return list(names)
    return None


def evaluate_server(url: str, dataset: str | Path, rows: list, key: Any, *, timeout: float = 300.0, client: Any = None,
                    progress: Any = None) -> list:
    """POST every row's first image (multipart file + concessionaria + uf) to ``url``/extract."""
    import httpx

    from extractor_energy.evaluation.scoring import Prediction
    from extractor_energy.domain.schema import coerce_bill

    own = client is None
    client = client or httpx.Client(base_url=url.rstrip("/"), timeout=timeout)
    out = []
    try:
        for row in rows:
            if len(row.images) != 1:
                out.append(Prediction(data=None, error="the server takes one file per bill; this row has several images"))
                continue
            path = Path(dataset) / row.images[0]
            try:
                resp = client.post(
                    "/extract", files={"file": (path.name, path.read_bytes())},
                    data={"concessionaria": key.concessionaria, "uf": key.uf},
                )
            except httpx.HTTPError as exc:
                out.append(Prediction(data=None, error=f"request failed: {exc}"))
            else:
                if resp.status_code != 200:
                    out.append(Prediction(data=None, error=f"HTTP {resp.status_code}: {resp.text[:200]}"))
                else:
                    body = resp.json()
                    out.append(Prediction(data=coerce_bill(body.get("data") or {})[0], adapter_version=body.get("adapter_version")))
            if progress is not None:
                progress.update(1)
    finally:
        if own:
            client.close()
    return out


def _print_errors(name: str, report: Any, limit: int) -> None:
    bad = [d for d in report.per_document if not d.exact][:limit]
    if not bad or limit <= 0:
        return
    print(f"\n{name}: first {len(bad)} mismatching document(s)")
    for doc in bad:
        if doc.failed:
            print(f"  {doc.id}: {doc.failed}")
            continue
        shown = list(doc.mismatches.items())[:6]
        parts = [f"{f}: gold={v['gold']!r} pred={v['pred']!r}" for f, v in shown]
        more = f" (+{len(doc.mismatches) - len(shown)} more)" if len(doc.mismatches) > len(shown) else ""
        print(f"  {doc.id}: " + "; ".join(parts) + more)


def run_eval(args: argparse.Namespace) -> int:
    from tqdm.auto import tqdm

    from extractor_energy.config import Settings
    from extractor_energy.training.datasets import DatasetError, load_split, read_summary
    from extractor_energy.evaluation.predict import predict_local
    from extractor_energy.evaluation.scoring import format_table, score_predictions

    if args.server and args.compare_base:
        print("extractor-energy eval: --compare-base needs a local model; the server picks its adapter itself",
              file=sys.stderr)
        return 2
    overrides: dict[str, Any] = {}
    for arg, name in (("model", "model"), ("device", "device"), ("max_pixels", "model_max_pixels")):
        if getattr(args, arg, None):
            overrides[name] = getattr(args, arg)
    settings = Settings().model_copy(update=overrides)
    limits = settings.document_limits(offline=True)
    reports: dict[str, Any] = {}
    details: dict[str, Any] = {}
    started = time.perf_counter()
    try:
        if args.server:
            from extractor_energy.domain.keys import make_key

            summary = read_summary(args.dataset)
            key = make_key(args.concessionaria or summary["concessionaria"], args.uf or summary["uf"])
            rows = load_split(args.dataset, args.split)[: args.limit or None]
            from extractor_energy.evaluation.scoring import EvalItem

            items = [EvalItem(id=r.id, pages=[], gold=r.data, key=key) for r in rows]
            with tqdm(total=len(rows), desc="server", unit="bill", disable=args.quiet) as bar:
                preds = evaluate_server(args.server, args.dataset, rows, key, timeout=args.timeout, progress=bar)
            reports["server"] = score_predictions(items, preds)
            details["server"] = {"adapter_versions": sorted({p.adapter_version for p in preds if p.adapter_version})}
        else:
            from extractor_energy.engine.model import ModelLoadError, load_model

            try:
                fields = _fields(args)
                loaded = load_model(settings)
            except (ModelLoadError, ValueError) as exc:
                print(f"extractor-energy eval: {exc}", file=sys.stderr)
                return 2
            items, key, summary = _items(args, limits, loaded, args.text_max_tokens or settings.text_max_tokens)
            constrained = settings.constrained_decoding if args.constrained is None else args.constrained
            runs: list[tuple[str, str | None]] = []
            if args.adapter:
                from extractor_energy.adapters.validation import AdapterInvalid, validate_adapter_dir
                from extractor_energy.engine.model import model_spec

                try:  # the server's own checks: evaluate only what it would serve
                    validate_adapter_dir(Path(args.adapter), Path(args.adapter).name, model_spec(loaded),
                                         max_rank=settings.max_adapter_rank,
                                         allow_base_mismatch=settings.allow_base_model_mismatch)
                except AdapterInvalid as exc:
                    print(f"extractor-energy eval: the server would refuse {args.adapter}: {exc}", file=sys.stderr)
                    return 2
                loaded.load_adapter(args.adapter, "eval_adapter", allow_base_mismatch=settings.allow_base_model_mismatch)
                if args.compare_base:
                    runs.append(("base", None))
                runs.append(("adapter", "eval_adapter"))
            else:
                runs.append(("base", None))
            for name, adapter in runs:
                with tqdm(total=len(items), desc=name, unit="bill", disable=args.quiet) as bar:
                    preds = predict_local(
                        loaded, items, adapter_name=adapter, max_new_tokens=args.max_new_tokens or settings.max_new_tokens,
                        batch_size=args.batch_size, constrained=constrained, progress=bar, fields=fields,
                    )
                reports[name] = score_predictions(items, preds, fields)
    except DatasetError as exc:
        print(f"extractor-energy eval: {exc}", file=sys.stderr)
        return 2
    print(format_table(reports))
    for name, report in reports.items():
        _print_errors(name, report, args.show_errors)
    if args.json_out:
        payload = {
            "dataset": str(args.dataset), "split": args.split, "key": summary.get("key"),
            "dataset_fingerprint": summary.get("fingerprint"), "model": settings.model, "adapter": args.adapter,
            "server": args.server, "seconds": round(time.perf_counter() - started, 2),
            "results": {name: {**r.to_dict(), **details.get(name, {})} for name, r in reports.items()},
        }
        Path(args.json_out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json_out).write_text(json.dumps(payload, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        print(f"\nwrote {args.json_out}")
    return 0
