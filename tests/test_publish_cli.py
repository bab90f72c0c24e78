"""`extractor-energy publish SRC KEY`: atomic (re)publication into adapters/<key>/ (issue 13, item 13)."""

from __future__ import annotations

from pathlib import Path

from extractor_energy.cli.main import main


def _adapter(folder: Path, marker: str) -> Path:
    folder.mkdir(parents=True)
    (folder / "adapter_config.json").write_text('{"peft_type": "LORA", "marker": "%s"}' % marker)
    (folder / "adapter_model.safetensors").write_bytes(marker.encode() * 10)
    (folder / "training_log.txt").write_text("not published")
    return folder


def test_publish_replaces_an_existing_version_atomically(tmp_path, capsys):
    adapters = tmp_path / "adapters"
    assert main(["publish", str(_adapter(tmp_path / "v1", "one")), "equatorial_go", "--adapters-dir", str(adapters)]) == 0
    # a second version over the first: a plain rename would fail with ENOTEMPTY here
    assert main(["publish", str(_adapter(tmp_path / "v2", "two")), "equatorial_go", "--adapters-dir", str(adapters)]) == 0
    target = adapters / "equatorial_go"
    assert '"two"' in (target / "adapter_config.json").read_text()
    assert sorted(p.name for p in target.iterdir()) == ["adapter_config.json", "adapter_model.safetensors"]
    assert [p.name for p in adapters.iterdir()] == ["equatorial_go"]  # no staging folder left behind
    assert "published" in capsys.readouterr().out


def test_publish_refuses_bad_keys_and_folders(tmp_path, capsys):
    adapters = tmp_path / "adapters"
    source = _adapter(tmp_path / "v1", "one")
    assert main(["publish", str(source), "../evil", "--adapters-dir", str(adapters)]) == 2
    assert main(["publish", str(tmp_path), "equatorial_go", "--adapters-dir", str(adapters)]) == 2
    err = capsys.readouterr().err
    assert "not a key" in err and "not a PEFT LoRA adapter folder" in err
    assert not adapters.exists() or not any(adapters.iterdir())
