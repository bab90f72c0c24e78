"""``python -m extractor_energy.synth OUT_DIR ...``: write synthetic bills and their annotations."""

from __future__ import annotations

import argparse
import sys

from extractor_energy.cli.synth import add_synth_arguments, run_synth


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m extractor_energy.synth",
        description="Generate synthetic Brazilian electricity bills with exact ground-truth annotations.",
    )
    add_synth_arguments(parser)
    return run_synth(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
