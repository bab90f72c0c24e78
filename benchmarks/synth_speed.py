"""Synthetic-bill generation speed on one core: bills/s per output kind, end to end (files on disk).

Runs ``write_dataset`` in this process (single-threaded: PIL and numpy element-wise work; BLAS
pinned to one thread) for clean JPEG renders, the A4 PDF, and each capture mode, and prints one
line per kind plus the targets of issue 12 (clean >= 5 bills/s, mix >= 2 bills/s).

    OMP_NUM_THREADS=1 python benchmarks/synth_speed.py [-n 30] [--key equatorial_go] [--dpi 150]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

try:
    from extractor_energy.synth import write_dataset
except ImportError:  # run from a checkout without `pip install -e .`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from extractor_energy.synth import write_dataset

KINDS = [("clean jpg", "jpg", "none"), ("pdf", "pdf", "none"), ("scan", "jpg", "scan"),
         ("screenshot", "jpg", "screenshot"), ("photo", "jpg", "photo"), ("mix", "jpg", "mix")]
TARGETS = {"clean jpg": 5.0, "mix": 2.0}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", type=int, default=30, help="bills per kind (default 30)")
    parser.add_argument("--key", default="equatorial_go", help="concessionaria_uf (default equatorial_go)")
    parser.add_argument("--dpi", type=int, default=150)
    args = parser.parse_args(argv)
    slug, uf = args.key.rsplit("_", 1)
    write_dataset(tempfile.mkdtemp(), slug, uf, 2, seed=99, degrade="mix")  # warm caches (fonts, Faker)
    failed = False
    with tempfile.TemporaryDirectory() as tmp:
        for label, fmt, degrade in KINDS:
            started = time.perf_counter()
            write_dataset(Path(tmp) / label.replace(" ", "_"), slug, uf, args.n, seed=1, fmt=fmt, degrade=degrade,
                          dpi=args.dpi)
            rate = args.n / (time.perf_counter() - started)
            target = TARGETS.get(label)
            verdict = "" if target is None else f"  (target >= {target:g}: {'ok' if rate >= target else 'BELOW'})"
            failed |= target is not None and rate < target
            print(f"{label:>11}: {rate:6.2f} bills/s{verdict}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
