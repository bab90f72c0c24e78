"""Who should choose among a page's candidates: label evidence alone, or the key's adapter?

    nice -n 5 python benchmarks/grounded_choice.py heldout/pages.jsonl [more.jsonl ...] --limit 60 --threads 1

Reads bills cached by ``benchmarks/heldout.py`` (page text with boxes + truth), grounds each once
(:func:`~extractor_energy.grounding.ground_bill`), then runs the real service's model choice
(:meth:`ExtractionService.choose_with_model`: the scheduler, the key's shipped adapter or the
``_generic`` fallback, decoding held to the candidates) under each ``--modes``:

* ``evidence``: label evidence and cross-checks only (no generation);
* ``model``: the model picks among the candidates of the ambiguous fields;
* ``model_all``: the model picks every label-read field.

Prints, on the same bills, per label-read field and per capture, how many bills each mode gets
right (exact value, a null where the truth is null counts as right), the fields asked and changed,
seconds per bill and tokens generated, and how many values with confidence >= 0.8 are wrong.
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
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.grounded_accuracy import pages_of  # noqa: E402

#: the fields ground_bill reads by label and keeps ranked alternatives for
LABEL_READ = ("mes_referencia", "leitura_anterior", "leitura_atual", "vencimento", "proximo_leitura", "valor_fatura",
              "consumo_kwh", "dias_faturados", "num_instalacao", "cod_cliente", "conta_contrato", "aliquota_icms",
              "contrib_iluminacao_publica", "energia_injetada_kwh", "saldo_creditos_kwh")


def load_rows(paths: list[Path], limit: int) -> list[dict]:
    """Up to ``limit`` bills, spread evenly over each file (every layout family and capture keeps a share)."""
    files = [[json.loads(line) for line in p.read_text(encoding="utf-8").splitlines() if line.strip()] for p in paths]
    share = max(1, limit // max(1, len(files)))
    rows: list[dict] = []
    for found in files:
        step = max(1, len(found) / share)
        rows += [found[int(i * step)] for i in range(min(share, len(found)))]
    return rows[:limit]


def key_of(row: dict):
    from extractor_energy.domain.keys import make_key

    concessionaria, _, uf = row["key"].rpartition("_")
    return make_key(concessionaria, uf)


async def run(args: argparse.Namespace) -> dict:
    from extractor_energy.config import Settings
    from extractor_energy.extraction.wiring import start_service
    from extractor_energy.grounding import ground_bill
    from extractor_energy.grounding.arbiter import ask

    rows = load_rows(args.pages, args.limit)
    empty = Path(tempfile.mkdtemp(prefix="choice-adapters-"))  # only the shipped adapters serve
    settings = Settings(model=args.model, device="cpu", torch_threads=args.threads, adapters_dir=empty,
                        watch_adapters=False, max_batch_wait_ms=0, request_timeout_s=600, _env_file=None)
    started = time.perf_counter()
    running = await start_service(settings)
    service = running.service
    print(f"model {service.loaded.name} loaded in {time.perf_counter() - started:.1f} s; {len(rows)} bills", flush=True)
    right: dict[str, dict[tuple[str, str], list[int]]] = {m: defaultdict(lambda: [0, 0]) for m in args.modes}
    asked = {m: [0, 0] for m in args.modes}  # fields asked, fields whose value changed
    seconds = {m: [] for m in args.modes}
    tokens = {m: [] for m in args.modes}
    unflagged = {m: [0, 0] for m in args.modes}  # wrong among confidence >= 0.8, all confidence >= 0.8
    adapters: dict[str, int] = defaultdict(int)
    try:
        for n, row in enumerate(rows, 1):
            pages, truth = pages_of(row), row["truth"]
            t0 = time.perf_counter()
            grounded = ground_bill(pages)
            ground_s = time.perf_counter() - t0
            for mode in args.modes:
                service.settings.grounded_choice = mode
                t1 = time.perf_counter()
                answer, lease, output, _ = await service.choose_with_model(key_of(row), grounded, pages)
                seconds[mode].append(ground_s + time.perf_counter() - t1)
                tokens[mode].append(output.tokens_generated if output else 0)
                if lease is not None and mode == args.modes[-1]:
                    adapters[lease.key] += 1
                pred = answer.data.model_dump()
                before = grounded.data.model_dump()
                changed = [f for f in LABEL_READ if pred.get(f) != before.get(f)]
                asked[mode][1] += len(changed)
                question = ask(grounded, mode) if mode != "evidence" else None
                asked[mode][0] += len(question.fields) if question else 0
                for f in LABEL_READ:
                    ok = int(pred.get(f) == truth.get(f))
                    for cell in ((f, row["capture"]), (f, "all"), ("all", row["capture"]), ("all", "all")):
                        right[mode][cell][0] += ok
                        right[mode][cell][1] += 1
                    if pred.get(f) is not None and answer.confidence.get(f, 0.0) >= 0.8:
                        unflagged[mode][1] += 1
                        unflagged[mode][0] += 1 - ok
            print(f"[{n}/{len(rows)}] {row['file']} " + " ".join(
                f"{m}={seconds[m][-1]:.2f}s/{tokens[m][-1]}tok" for m in args.modes), flush=True)
    finally:
        await running.stop()
    return {"right": right, "asked": asked, "seconds": seconds, "tokens": tokens, "unflagged": unflagged,
            "adapters": dict(adapters), "bills": len(rows)}


def report(result: dict, modes: list[str]) -> None:
    right = result["right"]
    cells = sorted(right[modes[0]], key=lambda c: (c[0] == "all", c[0], c[1] == "all", c[1]))
    print(f"\nbills right per field and capture ({result['bills']} bills; exact value, null = null counts)")
    print("| field | capture | " + " | ".join(modes) + " |")
    print("| --- | --- |" + " ---: |" * len(modes))
    for cell in cells:
        if cell[1] != "all" and cell[0] != "all":
            continue  # per field: all captures; per capture: all fields (the full grid is in --json)
        n = right[modes[0]][cell][1]
        print(f"| {cell[0]} | {cell[1]} | " + " | ".join(f"{right[m][cell][0]}/{n}" for m in modes) + " |")
    print("\n| mode | s/bill p50 | s/bill mean | tokens/bill mean | bills generating | fields asked | values changed | "
          "conf >= 0.8 wrong |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for m in modes:
        s, t = result["seconds"][m], result["tokens"][m]
        wrong, total = result["unflagged"][m]
        print(f"| {m} | {statistics.median(s):.2f} | {statistics.mean(s):.2f} | {statistics.mean(t):.1f} | "
              f"{sum(1 for x in t if x)} | {result['asked'][m][0]} | {result['asked'][m][1]} | {wrong}/{total} |")
    print(f"\nadapters that answered (last mode): {result['adapters']}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("pages", nargs="+", type=Path, help="pages.jsonl files written by benchmarks/heldout.py")
    parser.add_argument("--limit", type=int, default=60, help="bills in all, spread over the files")
    parser.add_argument("--modes", nargs="+", default=["evidence", "model", "model_all"],
                        choices=["evidence", "model", "model_all"])
    parser.add_argument("--model", default="auto", help="EXTRACTOR_MODEL (auto: the embedded SmolLM2 on CPU)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", type=Path, help="also write the full per field x capture grid here")
    args = parser.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    result = asyncio.run(run(args))
    report(result, args.modes)
    if args.json:
        grid = {m: {f"{f}|{c}": v for (f, c), v in cells.items()} for m, cells in result["right"].items()}
        args.json.write_text(json.dumps({**result, "right": grid}, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
