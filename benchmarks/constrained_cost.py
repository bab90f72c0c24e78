"""What schema-constrained decoding costs per request, on the offline tiny model.

    python -m benchmarks.constrained_cost                 # tiny model, CPU, ~1 min
    python -m benchmarks.constrained_cost --size bench    # the 25M-parameter benchmark model

Two kinds of rows, each run with and without the constraint (``generate_batch`` directly, no
HTTP): a LoRA adapter trained for a few seconds to write one synthetic bill's answer (it writes
the same tokens either way, so the difference is the constraint's own cost) and the untrained
base model (free text without the constraint, short valid JSON with it: lengths differ, so
compare its ms/token). For each: latency per request at batch size 1 and 8, tokens generated,
and the time spent inside the constraint's logits processor (mask computation + applying it),
per generated token and as a share of the generate time.
"""

from __future__ import annotations

import argparse
import io
import statistics
import tempfile
import time
from importlib.metadata import version
from pathlib import Path

import torch

from extractor_energy.config import Settings
from extractor_energy.engine.constrained import schema_constraint_factory
from extractor_energy.documents.decode import DocumentLimits, load_document
from extractor_energy.training.config import TrainConfig
from extractor_energy.training.finetune import TrainExample, answer_text, train_lora
from extractor_energy.engine.generate import BASE, GenerationInput, generate_batch
from extractor_energy.domain.keys import make_key
from extractor_energy.engine.model import load_model
from extractor_energy.extraction.prompts import build_messages
from extractor_energy.synth import generate_bill
from extractor_energy.engine.tiny import build_tiny_model

KEY = make_key("EQUATORIAL", "GO")
#: The adapter's answer: these fields of a synthetic bill (a tiny adapter memorises ~100-200 tokens).
ANSWER_FIELDS = (
    "num_instalacao", "nome_cliente", "cidade", "estado", "cep", "classificacao", "mes_referencia",
    "vencimento", "valor_fatura", "consumo_kwh", "codigo_barras",
)


def prepared_pages(seed: int, max_pixels: int) -> list:
    """A synthetic bill's page, JPEG-encoded and prepared exactly as the server prepares uploads."""
    buf = io.BytesIO()
    generate_bill(KEY.key, seed).image.save(buf, "JPEG", quality=85)
    return load_document(buf.getvalue(), DocumentLimits(model_max_pixels=max_pixels)).pages


def train_adapter(model_dir: Path, out: Path, answer: str, pages: list[list], steps: int, max_pixels: int) -> Path:
    from transformers import AutoModelForImageTextToText

    from extractor_energy.engine.processor import load_processor

    processor = load_processor(model_dir, min_pixels=56 * 56, max_pixels=max_pixels)
    base = AutoModelForImageTextToText.from_pretrained(model_dir)
    examples = [TrainExample(p, KEY, answer) for p in pages]
    settings = TrainConfig(rank=8, alpha=16, dropout=0.0, learning_rate=1e-2, max_steps=steps, batch_size=2, grad_accum=1)
    train_lora(base, processor, examples, settings).model.save_pretrained(out)
    return out


def measure(loaded, inputs, max_new_tokens, factory, repeats) -> dict:
    """Median over ``repeats`` runs (after one warm-up) of one generate_batch call."""
    generate_batch(loaded, inputs, max_new_tokens, factory)
    walls, procs, tokens, steps, outs = [], [], [], [], None
    for _ in range(repeats):
        before = (factory.stats.mask_s, factory.stats.row_steps) if factory else (0.0, 0)
        started = time.perf_counter()
        outs = generate_batch(loaded, inputs, max_new_tokens, factory)
        walls.append(time.perf_counter() - started)
        if factory:
            procs.append(factory.stats.mask_s - before[0])
            steps.append(factory.stats.row_steps - before[1])
        tokens.append(sum(o.tokens_generated for o in outs))
    wall = statistics.median(walls)
    n = len(inputs)
    result = {
        "ms_per_request": wall * 1000 / n,
        "tokens_per_request": statistics.median(tokens) / n,
        "ms_per_token": wall * 1000 / max(statistics.median(tokens), 1),
        "texts": [o.text for o in outs],
    }
    if factory:
        proc = statistics.median(procs)
        result["constraint_ms_per_request"] = proc * 1000 / n
        result["constraint_share"] = proc / wall
        result["mask_us_per_row_token"] = proc * 1e6 / max(statistics.median(steps), 1)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", choices=["tiny", "bench"], default="tiny")
    parser.add_argument("--model", help="an existing checkpoint directory instead of building one")
    parser.add_argument("--max-new-tokens", type=int, default=256)
    parser.add_argument("--max-pixels", type=int, default=112 * 112)
    parser.add_argument("--train-steps", type=int, default=80)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)

    with tempfile.TemporaryDirectory() as tmp:
        model_dir = Path(args.model) if args.model else build_tiny_model(Path(tmp) / "model", size=args.size)
        loaded = load_model(Settings(model=str(model_dir), device="auto", model_max_pixels=args.max_pixels))
        pages = [prepared_pages(seed, args.max_pixels) for seed in range(8)]
        bill = generate_bill(KEY.key, 0, render=False).data
        answer = answer_text({k: v for k, v in bill.model_dump().items() if k in ANSWER_FIELDS})
        t = time.perf_counter()
        adapter = train_adapter(model_dir, Path(tmp) / "adapter", answer, pages[:4], args.train_steps, args.max_pixels)
        train_s = time.perf_counter() - t
        loaded.load_adapter(adapter, "bench_adapter", allow_base_mismatch=True)

        t = time.perf_counter()
        factory = schema_constraint_factory(loaded)
        build_ms = (time.perf_counter() - t) * 1000
        assert factory is not None, "llguidance is not installed"
        print(f"device {loaded.device}, model {args.model or args.size} (vocab {factory.vocab_size}), torch threads {args.threads}, "
              f"llguidance {version('llguidance')}")
        print(f"factory build (tokenizer wrap + contract grammar) {build_ms:.1f} ms; grammar compile {factory.stats.compile_s * 1000:.1f} ms; "
              f"adapter trained in {train_s:.1f} s; answer {len(loaded.tokenizer.encode(answer))} tokens; max_new_tokens {args.max_new_tokens}")
        print()
        header = f"{'rows':<8}{'batch':>6}{'constraint':>11}{'ms/request':>12}{'tokens/req':>11}{'ms/token':>10}{'constraint ms/req':>19}{'% of generate':>15}{'mask µs/row-token':>19}"
        print(header)
        print("-" * len(header))
        for label, adapter_name, messages in (
            ("adapter", "bench_adapter", build_messages(KEY, 1, with_adapter=True)),
            ("base", BASE, build_messages(KEY, 1, with_adapter=False)),
        ):
            for batch in (1, 8):
                inputs = [GenerationInput(pages=pages[i % len(pages)], messages=messages, adapter_name=adapter_name) for i in range(batch)]
                off = measure(loaded, inputs, args.max_new_tokens, None, args.repeats)
                on = measure(loaded, inputs, args.max_new_tokens, factory, args.repeats)
                for name, r in (("off", off), ("on", on)):
                    extra = (
                        f"{r['constraint_ms_per_request']:>19.2f}{r['constraint_share'] * 100:>14.1f}%{r['mask_us_per_row_token']:>19.1f}"
                        if name == "on" else ""
                    )
                    print(f"{label:<8}{batch:>6}{name:>11}{r['ms_per_request']:>12.1f}{r['tokens_per_request']:>11.0f}{r['ms_per_token']:>10.2f}{extra}")
                if label == "adapter":
                    same = sum(a == b for a, b in zip(off["texts"], on["texts"]))
                    exact = sum(t == answer for t in on["texts"])
                    print(f"{'':8}{'':>6}  same answer with and without: {same}/{batch}; exactly the trained answer: {exact}/{batch}; "
                          f"latency {(on['ms_per_request'] / off['ms_per_request'] - 1) * 100:+.1f}%")
        s = factory.stats
        print()
        print(f"totals: {s.row_steps} row-tokens masked, {s.mask_s * 1000:.0f} ms in the processor, rows steered to close: {s.rows_closed}, "
              f"rows that fell back to unconstrained: {s.rows_failed}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
