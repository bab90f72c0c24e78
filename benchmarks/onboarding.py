"""How many corrected bills does a new layout need? The onboarding loop, simulated end to end.

    nice -n 5 python benchmarks/onboarding.py --ns 0 5 10 20 40 --heldout 40 --threads 2

For a layout family the shipped generic adapter never saw (COPEL/PR by default), per N:

1. N synthetic bills (half clean PDFs, half ``--degrade mix`` images) go through the real service
   (``extract``, as ``POST /extract`` does) and are queued, then corrected from the generator's
   truth through the review queue's own ``save`` (the files the review page writes);
2. ``train --from-review`` runs on them (:func:`~extractor_energy.training.onboard.onboard`):
   prepare, guard rails, training from the generic adapter, judging on its held-out share;
3. the resulting adapter (published or not) and, for N = 0, the fallback answer ``--heldout``
   further bills of other seeds (half clean, half mix) through the real service.

Prints micro F1 on clean and mix captures, whether the command published, and the training's
wall-clock minutes (with ``--threads`` threads).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def bills(folder: Path, key: str, n: int, seed: int) -> list[tuple[bytes, str, dict, str]]:
    """``n`` bills: ``(bytes, name, truth, capture)``, half PDFs, half mixed image captures."""
    from extractor_energy.synth.writer import write_dataset

    concessionaria, _, uf = key.rpartition("_")
    out = []
    for fmt, degrade, count, capture in (("pdf", "none", n - n // 2, "clean"), ("jpg", "mix", n // 2, "mix")):
        if not count:
            continue
        sub = folder / f"{fmt}-{seed}"
        write_dataset(sub, concessionaria.upper(), uf.upper(), count, seed=seed, fmt=fmt, degrade=degrade)
        for line in (sub / "annotations.jsonl").read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            out.append(((sub / row["image"]).read_bytes(), row["image"], row["json"], capture))
    return out


async def answers(settings, key: str, items) -> list[dict]:
    from extractor_energy.extraction.wiring import start_service

    concessionaria, _, uf = key.rpartition("_")
    running = await start_service(settings)
    try:
        return [await running.service.extract(b, name, None, concessionaria, uf) for b, name, _, _ in items]
    finally:
        await running.stop()


def scores(envelopes: list[dict], items) -> dict[str, float]:
    from extractor_energy.evaluation.scoring import score

    out = {}
    for capture in ("clean", "mix"):
        pairs = [(e["data"], truth) for e, (_, _, truth, c) in zip(envelopes, items) if c == capture]
        if pairs:
            out[capture] = round(score([p for p, _ in pairs], [t for _, t in pairs]).micro_f1, 4)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ns", type=int, nargs="+", default=[0, 5, 10, 20, 40])
    parser.add_argument("--heldout", type=int, default=40)
    parser.add_argument("--key", default="copel_pr", help="a layout family the generic adapter never saw")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--choice", default="model", choices=["model", "model_all"])
    parser.add_argument("--max-steps", type=int, default=None, help="cap the training steps (default: the config's epochs)")
    parser.add_argument("--json", type=Path, help="also write the rows here")
    args = parser.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    from extractor_energy.config import Settings
    from extractor_energy.domain.schema import BillData
    from extractor_energy.extraction.review_queue import ReviewQueue
    from extractor_energy.training.config import DEFAULT_CONFIG, TrainConfig
    from extractor_energy.training.onboard import OnboardOptions, onboard

    root = Path(tempfile.mkdtemp(prefix="onboarding-bench-"))
    base = Settings(device="cpu", torch_threads=args.threads, watch_adapters=False, max_batch_wait_ms=0,
                    request_timeout_s=3600, grounded_choice=args.choice, adapters_dir=root / "empty", _env_file=None)
    held = bills(root / "held", args.key, args.heldout, seed=9000)
    rows = []
    for n in args.ns:
        started = time.perf_counter()
        row: dict = {"n": n}
        adapters = root / f"adapters-{n}"
        adapters.mkdir()
        if n:
            review = root / f"review-{n}"
            queue = ReviewQueue(review)
            items = bills(root / f"train-{n}", args.key, n, seed=100 + n)
            for envelope, (content, _, truth, _) in zip(asyncio.run(answers(base, args.key, items)), items):
                queue.save(queue.add(content, envelope), BillData(**truth))
            config = TrainConfig.load(DEFAULT_CONFIG if DEFAULT_CONFIG.is_file() else None, {"max_steps": args.max_steps})
            result = onboard(OnboardOptions(review_dir=review, key=args.key, adapters_dir=adapters, config=config,
                                            settings=base, choice=args.choice, show_progress=False))
            training = result.metadata["training"]
            row.update(published=result.published, judged_before=result.before["micro_f1"],
                       judged_after=result.after["micro_f1"], train_minutes=round(training["train_seconds"] / 60, 2),
                       steps=training["steps"])
            if not result.published:  # measure the candidate anyway
                shutil.copytree(result.adapter_dir, adapters / args.key)
        served = asyncio.run(answers(base.model_copy(update={"adapters_dir": adapters}), args.key, held))
        row.update(scores(served, held), adapter=served[0].get("adapter"), wall_minutes=round((time.perf_counter() - started) / 60, 2))
        rows.append(row)
        print(json.dumps(row), flush=True)
    print("\n| N | published | held-out clean | held-out mix | train min | steps |\n| ---: | --- | ---: | ---: | ---: | ---: |")
    for r in rows:
        print(f"| {r['n']} | {r.get('published', '-')} | {r.get('clean', '-')} | {r.get('mix', '-')} | "
              f"{r.get('train_minutes', '-')} | {r.get('steps', '-')} |")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
