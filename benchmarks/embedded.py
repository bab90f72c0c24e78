"""Where the time goes on the embedded model: one-page bills through the real server, on a CPU.

    python -m benchmarks.embedded [--bills 8] [--threads 1] [--format jpg|pdf] [--degrade photo|none|mix]
                                  [--generative] [--work-dir DIR]

Starts the real app on loopback with ``EXTRACTOR_MODEL=auto`` (the embedded SmolLM2-135M text model
on a machine without CUDA, with the adapters shipped for it), torch pinned to ``--threads``, and
posts synthetic one-page bills of several utilities (so requests use different adapters, the
fallback included), as phone photos by default (``--degrade``). The text family answers grounded
(values read off the page, no generation) unless ``--generative``. Prints, per request, OCR ms, prompt tokens, generated tokens and generate ms,
then total p50/p95 at concurrency 1 and req/s at concurrency 4.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

KEYS = [("EQUATORIAL", "GO"), ("CEMIG", "MG"), ("LIGHT", "RJ"), ("COPEL", "PR")]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def make_bills(work: Path, per_key: int, fmt: str, degrade: str = "none") -> list[tuple[str, str, Path]]:
    from extractor_energy.synth import write_dataset

    bills = []
    for concessionaria, uf in KEYS:
        folder = work / f"{concessionaria}_{uf}".lower()
        annotations = Path(write_dataset(folder, concessionaria, uf, per_key, seed=9000, fmt=fmt,
                                                degrade="none" if fmt == "pdf" else degrade))
        for line in annotations.read_text(encoding="utf-8").splitlines():
            bills.append((concessionaria, uf, annotations.parent / json.loads(line)["image"]))
    return bills


async def post_all(url: str, bills: list[tuple[str, str, Path]], concurrency: int) -> tuple[list[dict], float]:
    import httpx

    semaphore = asyncio.Semaphore(concurrency)

    async def one(client: httpx.AsyncClient, c: str, u: str, path: Path) -> dict:
        async with semaphore:
            started = time.perf_counter()
            r = await client.post(f"{url}/extract", files={"file": (path.name, path.read_bytes())},
                                  data={"concessionaria": c, "uf": u}, timeout=600)
            body = r.json()
            body["_wall_s"] = time.perf_counter() - started
            body["_status"] = r.status_code
            return body

    async with httpx.AsyncClient() as client:
        started = time.perf_counter()
        out = await asyncio.gather(*(one(client, c, u, p) for c, u, p in bills))
        return list(out), time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bills", type=int, default=2, help="bills per utility (4 utilities; default 2)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--format", default="jpg", choices=["jpg", "pdf"], help="jpg goes through OCR; pdf uses the text layer")
    parser.add_argument("--degrade", default="photo", choices=["none", "photo", "scan", "screenshot", "mix"],
                        help="capture of the jpg bills (default photo)")
    parser.add_argument("--generative", action="store_true", help="the model writes the JSON (EXTRACTOR_GROUNDED=false)")
    parser.add_argument("--work-dir", type=Path, help="where the synthetic bills go (default: a temporary folder)")
    args = parser.parse_args(argv)

    os.environ.setdefault("EXTRACTOR_TORCH_THREADS", str(args.threads))
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from extractor_energy.config import Settings
    from tests.live_server import live_server

    work = args.work_dir or Path(tempfile.mkdtemp(prefix="embedded-bench-"))
    bills = make_bills(work, args.bills, args.format, args.degrade)
    settings = Settings(adapters_dir=work / "adapters", max_batch_size=4, grounded=not args.generative, _env_file=None)
    (work / "adapters").mkdir(exist_ok=True)
    with live_server(settings) as url:
        asyncio.run(post_all(url, bills[:1], 1))  # warm-up: first OCR session and first adapter load
        single, _ = asyncio.run(post_all(url, bills, 1))
        batched, wall = asyncio.run(post_all(url, bills, 4))
    failed = [b for b in single + batched if b["_status"] != 200]
    if failed:
        print(f"{len(failed)} requests failed: {failed[0]}", file=sys.stderr)
        return 1
    print(f"model {single[0]['model']} ({single[0]['model_family']}), torch threads {args.threads}, {args.format}, "
          f"{len(bills)} one-page bills over {len(KEYS)} utilities ({args.degrade}), "
          f"extraction {single[0].get('extraction', 'generative')}\n")
    print("| adapter | ocr ms | prompt tokens | queue ms | generate ms | tokens out | total ms |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for b in single:
        t = b["timings_ms"]
        print(f"| {b['adapter'] or 'base'} | {t['ocr']:.0f} | {b['prompt_tokens']} | {t['queue']:.0f} | {t['generate']:.0f} | "
              f"{b['tokens_generated']} | {t['total']:.0f} |")
    totals = [b["timings_ms"]["total"] / 1000 for b in single]
    parts = {name: statistics.median(b["timings_ms"][name] for b in single) for name in ("decode", "ocr", "queue", "generate")}
    print(f"\nconcurrency 1: total p50 {percentile(totals, 0.5):.2f} s, p95 {percentile(totals, 0.95):.2f} s; "
          f"median parts (ms): " + ", ".join(f"{k} {v:.0f}" for k, v in parts.items()))
    print(f"median prompt tokens {statistics.median(b['prompt_tokens'] for b in single):.0f}; "
          f"median tokens generated {statistics.median(b['tokens_generated'] for b in single):.0f}; "
          f"generate ms per token {statistics.median(b['timings_ms']['generate'] / max(b['tokens_generated'], 1) for b in single):.0f}")
    print(f"concurrency 4 (mixed adapters): {len(batched) / wall:.3f} req/s vs {len(single) / sum(b['_wall_s'] for b in single):.3f} "
          f"req/s at concurrency 1; mean batch size {statistics.mean(b['batch_size'] for b in batched):.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
