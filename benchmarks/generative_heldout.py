"""Three readings of the same held-out bills: the rule baseline, the generative path, the grounded path.

    nice -n 5 python benchmarks/generative_heldout.py heldout/pages.jsonl --per-cell 3 --threads 1

Reads bills cached by ``benchmarks/heldout.py`` (page text + truth; no OCR here), takes ``--per-cell``
bills of each layout family and capture, and answers each three ways on the same page text:
``benchmarks/rule_baseline.py``; the generative path (``EXTRACTOR_GROUNDED=false``: the key's shipped
adapter, else the fallback, writes the JSON: :meth:`ExtractionService.generate`, as the server does);
and :func:`~extractor_energy.grounding.ground_bill`. Prints micro-F1 on the six value fields and on
the whole contract per capture and per family, and seconds per bill of each path.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.grounded_accuracy import SIX, counts, f1, pages_of  # noqa: E402
from benchmarks.rule_baseline import baseline  # noqa: E402

PATHS = ("rule", "generative", "grounded")


def pick(paths: list[Path], per_cell: int) -> list[dict]:
    """The first ``per_cell`` bills of each (family, capture) cell, in file order (a bill cached twice once)."""
    seen: dict[tuple[str, str], int] = defaultdict(int)
    files: set[tuple[Path, str]] = set()
    rows = []
    for path in paths:
        for line in path.read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            cell = (row["family"], row["capture"])
            if seen[cell] < per_cell and (path, row["file"]) not in files:
                files.add((path, row["file"]))
                seen[cell] += 1
                rows.append(row)
    return rows


async def run(args: argparse.Namespace) -> dict:
    from extractor_energy.adapters.identity import AdapterRef
    from extractor_energy.config import Settings
    from extractor_energy.domain.schema import ALL_FIELDS
    from extractor_energy.documents.page_text import prompt_text
    from extractor_energy.extraction.parsing import parse_answer
    from extractor_energy.extraction.wiring import start_service
    from extractor_energy.grounding import ground_bill

    rows = pick(args.pages, args.per_cell)
    empty = Path(tempfile.mkdtemp(prefix="generative-adapters-"))  # only the shipped adapters serve
    settings = Settings(model=args.model, device="cpu", torch_threads=args.threads, adapters_dir=empty,
                        watch_adapters=False, max_batch_wait_ms=0, request_timeout_s=900, _env_file=None)
    running = await start_service(settings)
    service = running.service
    table: dict[tuple[str, str, str], dict[str, list[int]]] = defaultdict(lambda: {p: [0, 0, 0] for p in PATHS})
    seconds: dict[str, list[float]] = {p: [] for p in PATHS}
    try:
        for n, row in enumerate(rows, 1):
            pages, truth = pages_of(row), row["truth"]
            conc, _, uf = row["key"].rpartition("_")
            answers = {}
            t0 = time.perf_counter()
            answers["rule"] = baseline("\n".join(p.text for p in pages))
            t1 = time.perf_counter()
            text = prompt_text([p.text for p in pages], service.loaded.tokenizer, service.settings.text_max_tokens)
            output, served, _ = await service.generate(AdapterRef.of(conc, uf), [None] * len(pages), text)
            answers["generative"] = parse_answer(output.text).data.model_dump()
            t2 = time.perf_counter()
            answers["grounded"] = ground_bill(pages, conc).data.model_dump()
            t3 = time.perf_counter()
            for path, dt in zip(PATHS, (t1 - t0, t2 - t1, t3 - t2)):
                seconds[path].append(dt)
            for fields_name, fields in (("six", SIX), ("all", ALL_FIELDS)):
                for cell in ((fields_name, "capture", row["capture"]), (fields_name, "family", row["family"]),
                             (fields_name, "all", "all")):
                    for path in PATHS:
                        for i, v in enumerate(counts(truth, answers[path], fields)):
                            table[cell][path][i] += v
            print(f"[{n}/{len(rows)}] {row['file']} ({row['capture']}) generative {t2 - t1:.1f} s by {served.adapter}",
                  flush=True)
    finally:
        await running.stop()
    return {"table": table, "seconds": seconds, "bills": len(rows)}


def report(result: dict) -> None:
    table = result["table"]
    for fields_name, title in (("six", "six value fields"), ("all", "whole contract")):
        print(f"\n{title}, micro-F1 ({result['bills']} bills)")
        print("| by | cell | rule | generative | grounded |")
        print("| --- | --- | ---: | ---: | ---: |")
        for (name, by, cell), scores in sorted(table.items(), key=lambda kv: (kv[0][1] == "all", kv[0][1], kv[0][2])):
            if name == fields_name:
                print(f"| {by} | {cell} | " + " | ".join(f"{f1(scores[p]):.3f}" for p in PATHS) + " |")
    print("\n| path | s/bill mean |")
    print("| --- | ---: |")
    for path in PATHS:
        s = result["seconds"][path]
        print(f"| {path} | {sum(s) / max(len(s), 1):.2f} |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("pages", nargs="+", type=Path, help="pages.jsonl files written by benchmarks/heldout.py")
    parser.add_argument("--per-cell", type=int, default=3, help="bills per layout family and capture")
    parser.add_argument("--model", default="auto", help="EXTRACTOR_MODEL (auto: the embedded SmolLM2 on CPU)")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    report(asyncio.run(run(args)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
