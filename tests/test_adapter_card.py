"""training/adapter_card.py records what shipped adapters were trained on, without touching the rest."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from extractor_energy.synth import GENERATOR_VERSION

ROOT = Path(__file__).resolve().parents[1]


def test_generator_section_is_merged_into_every_adapter_metadata(tmp_path):
    for key in ("_generic", "equatorial_go"):
        (tmp_path / key).mkdir()
        (tmp_path / key / "extractor_metadata.json").write_text(json.dumps({"key": key, "fields": ["valor_fatura"]}))
    run = subprocess.run([sys.executable, str(ROOT / "training" / "adapter_card.py"), str(tmp_path),
                          "--seeds", "1000,2000,3000", "--captures", "pdf,jpg,mix"], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    for key in ("_generic", "equatorial_go"):
        meta = json.loads((tmp_path / key / "extractor_metadata.json").read_text())
        assert meta["key"] == key and meta["fields"] == ["valor_fatura"]
        assert meta["generator"] == {"version": GENERATOR_VERSION, "seeds": [1000, 2000, 3000], "captures": ["pdf", "jpg", "mix"]}


def test_a_folder_without_adapters_is_a_clear_error(tmp_path):
    run = subprocess.run([sys.executable, str(ROOT / "training" / "adapter_card.py"), str(tmp_path),
                          "--seeds", "1", "--captures", "pdf"], capture_output=True, text=True)
    assert run.returncode == 2 and "no adapter with extractor_metadata.json" in run.stderr
