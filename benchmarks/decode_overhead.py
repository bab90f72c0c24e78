"""Per-token cost of the serving path against the plain model, on the embedded model (SmolLM2-135M).

Three ways to generate from the same ~800-token bill prompt, interleaved, one torch thread:

* plain: the Hugging Face model's own ``generate`` (a fresh copy, no slot table);
* serving, base row: ``inference.generate_batch`` through the LoRA slot table, no adapter;
* serving, adapter row: the same with the shipped ``equatorial_go`` adapter in a slot.

Time per generated token = (time for 80 tokens - time for 16 tokens) / 64, so the prompt's
prefill cancels out. No constraint (constrained decoding is a separate cost:
``benchmarks/constrained_cost.py``). Prints the median of ``--runs`` and every run.

    python -m benchmarks.decode_overhead [--runs 3] [--threads 1]
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Callable

import torch


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()

    from transformers import AutoModelForCausalLM

    from extractor_energy.config import Settings
    from extractor_energy.engine.encoding import chat_prompt, encode
    from extractor_energy.engine.generate import BASE, GenerationInput, generate_batch
    from extractor_energy.domain.keys import make_key
    from extractor_energy.engine.model import load_model
    from extractor_energy.adapters.packaged import packaged_adapters_dir
    from extractor_energy.extraction.prompts import build_messages

    torch.set_num_threads(args.threads)
    settings = Settings(_env_file=None, torch_threads=args.threads)
    loaded = load_model(settings)
    shipped = packaged_adapters_dir(settings, loaded)
    if shipped is None:
        raise SystemExit("the shipped adapters are served with the embedded model only (leave EXTRACTOR_MODEL at auto)")
    loaded.load_adapter(shipped / "equatorial_go", "equatorial_go")
    plain = AutoModelForCausalLM.from_pretrained(loaded.model.name_or_path).eval()
    key = make_key("EQUATORIAL", "GO")
    text = "\n".join(f"Linha {i} | CONSUMO kWh {i * 7} | VALOR R$ {i},45 | VENCIMENTO 10/0{i % 9 + 1}/2025" for i in range(18))
    messages = build_messages(key, 1, with_adapter=True, document_text=text)
    batch = encode(loaded.processor, [chat_prompt(loaded.processor, messages)], [], padding=True)
    pad = loaded.tokenizer.pad_token_id

    def plain_run(tokens: int) -> None:
        with torch.inference_mode():
            plain.generate(**batch, max_new_tokens=tokens, min_new_tokens=tokens, do_sample=False, pad_token_id=pad)

    def serving_run(adapter: str) -> Callable[[int], None]:
        def run(tokens: int) -> None:
            out = generate_batch(loaded, [GenerationInput([], messages, adapter_name=adapter)], tokens)[0]
            if out.tokens_generated != tokens:  # an early end of text would understate the cost
                raise RuntimeError(f"{adapter}: {out.tokens_generated} tokens instead of {tokens}")
        return run

    ways: dict[str, Callable[[int], None]] = {
        "plain model": plain_run, "serving, base row": serving_run(BASE), "serving, adapter row": serving_run("equatorial_go"),
    }
    per_token: dict[str, list[float]] = {name: [] for name in ways}
    for way in ways.values():
        way(4)  # warm-up
    for _ in range(args.runs):
        for name, way in ways.items():
            times = {}
            for tokens in (16, 80):
                started = time.perf_counter()
                way(tokens)
                times[tokens] = time.perf_counter() - started
            per_token[name].append((times[80] - times[16]) / 64 * 1000)
    print(f"{loaded.name}, prompt {batch['input_ids'].shape[1]} tokens, torch threads {args.threads}, {args.runs} runs")
    for name, values in per_token.items():
        print(f"{name:<22} {statistics.median(values):6.1f} ms/token  (runs: {', '.join(f'{v:.1f}' for v in values)})")
    base = statistics.median(per_token["plain model"])
    print(f"serving adapter row / plain model: {statistics.median(per_token['serving, adapter row']) / base:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
