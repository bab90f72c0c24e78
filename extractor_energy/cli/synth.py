"""Command-line front end: ``add_synth_arguments`` fills a parser, ``run_synth`` runs it."""

from __future__ import annotations

import argparse
import sys
import time

from tqdm import tqdm

from extractor_energy.domain.keys import InvalidKey, make_key
from extractor_energy.synth.capture import MODES
from extractor_energy.synth.profiles import family_of
from extractor_energy.synth.writer import FORMATS, write_dataset


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def add_synth_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the synthetic-bill options to ``parser``."""
    parser.add_argument("out_dir", metavar="OUT_DIR",
                        help="folder to write fatura_0001.<format> ... and annotations.jsonl into (created if missing)")
    parser.add_argument("--concessionaria", default="EQUATORIAL",
                        help="utility as people write it (EQUATORIAL, CEMIG, 'ENEL RJ', cpfl_santa_cruz); picks the "
                             "layout: Equatorial, Enel, CEMIG, Light, CPFL, Energisa, Copel, else a generic one "
                             "(default: %(default)s)")
    parser.add_argument("--uf", default="GO", help="two-letter state code of the bills (default: %(default)s)")
    parser.add_argument("-n", "--count", type=_positive, default=20, help="number of bills to generate (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0,
                        help="random seed; the same seed gives the same bills and annotations (default: %(default)s)")
    parser.add_argument("--format", choices=FORMATS, default="jpg",
                        help="jpg/png/mpo/heic: one image per bill; pdf: the A4 2ª via (1-2 pages) with selectable "
                             "text (default: %(default)s)")
    parser.add_argument("--degrade", choices=MODES, default="none",
                        help="none: clean A4 render; scan: flatbed or scanner-app output; photo: phone photo of the "
                             "printed bill (roll or A4; background, perspective, curl, fingers, objects, pen marks, "
                             "light, partial framing, recompression, EXIF rotation); screenshot: phone screen with "
                             "viewer chrome; mix: each bill drawn from the shares of real captures. Hidden fields are "
                             "null in the annotation and listed under \"hidden\" (images only; default: %(default)s)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    parser.add_argument("--dpi", type=int, default=150,
                        help="render resolution, 100-600; 150 gives 1240x1754 pixels (default: %(default)s)")


def run_synth(args: argparse.Namespace) -> int:
    """Generate the dataset described by ``args``; print a one-line summary; return the exit code."""
    started = time.perf_counter()
    try:
        key = make_key(args.concessionaria, args.uf)
        bar = None if args.no_progress else tqdm(total=args.count, unit="bill", file=sys.stderr, leave=False,
                                                 desc=f"synth {key}")
        try:
            path = write_dataset(args.out_dir, args.concessionaria, args.uf, args.count, seed=args.seed,
                                 fmt=args.format, degrade=args.degrade, dpi=args.dpi,
                                 progress=bar.update if bar is not None else None)
        finally:
            if bar is not None:
                bar.close()
    except (InvalidKey, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    elapsed = time.perf_counter() - started
    print(f"wrote {args.count} {args.format} bills for {key} (layout {family_of(key.concessionaria)}, "
          f"degrade {args.degrade}, {args.dpi} dpi) and {path} in {elapsed:.1f}s "
          f"({args.count / max(elapsed, 1e-9):.1f} bills/s)")
    return 0
