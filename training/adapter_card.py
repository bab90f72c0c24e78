"""Record what the shipped adapters were trained on in each one's ``extractor_metadata.json``.

    python training/adapter_card.py ADAPTERS_DIR --seeds 1000,2000,3000 --captures pdf,jpg,mix

Adds ``"generator": {"version", "seeds", "captures"}`` (the synthetic generator's
:data:`~extractor_energy.synth.GENERATOR_VERSION`) to every adapter folder under ``ADAPTERS_DIR``;
``benchmarks/adapter_heldout.py`` adds the held-out figures beside it. Writes atomically.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from extractor_energy.adapters.validation import METADATA_FILE  # noqa: E402
from extractor_energy.synth import GENERATOR_VERSION  # noqa: E402


def update_metadata(folder: Path, **sections) -> None:
    """Merge ``sections`` into ``folder``'s metadata file (write to a temp file, then rename)."""
    path = folder / METADATA_FILE
    meta = json.loads(path.read_text(encoding="utf-8"))
    meta.update(sections)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(meta, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("adapters", type=Path, help="folder holding one sub-folder per adapter")
    parser.add_argument("--seeds", required=True, help="comma-separated synth seeds of the training bills")
    parser.add_argument("--captures", required=True, help="comma-separated captures trained on (pdf, jpg, mix, ...)")
    args = parser.parse_args(argv)
    folders = sorted(p.parent for p in args.adapters.glob(f"*/{METADATA_FILE}"))
    if not folders:
        parser.error(f"no adapter with {METADATA_FILE} under {args.adapters}")
    generator = {"version": GENERATOR_VERSION, "seeds": [int(s) for s in args.seeds.split(",")],
                 "captures": args.captures.split(",")}
    for folder in folders:
        update_metadata(folder, generator=generator)
        print(f"{folder.name}: generator {generator}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
