"""Issue 6: annotated bills -> prepared data set -> LoRA training -> atomic publish -> served adapter.

Everything runs on the tiny offline model. The memorisation data set gives every bill the same
small answer (cod_cliente + valor_fatura), which LoRA learns in ~60 steps: eval goes from ~0
(random base model) to 1 on the held-out bills, and a running server serves the new adapter
without a restart.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pytest
import torch

from .conftest import bill_image, install_adapter

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "training"))

import prepare_dataset  # noqa: E402  (training/ CLIs)
import train_lora  # noqa: E402

torch.set_num_threads(1)

TINY_PIXELS = 112 * 112
ANSWER = {"cod_cliente": "7001234", "valor_fatura": "R$ 1.234,56"}  # annotators write money as printed
ANSWER_NORMALISED = {"cod_cliente": "7001234", "valor_fatura": 1234.56}
TINY_TRAIN = [
    "--rank", "8", "--alpha", "16", "--dropout", "0", "--lr", "1e-2", "--batch-size", "2", "--grad-accum", "1",
    "--max-pixels", str(TINY_PIXELS), "--eval-max-new-tokens", "64", "--no-eval-constrained", "--quiet",
]


def write_bills(folder: Path, n: int, answer: dict | None = None, seed: int = 0) -> Path:
    """``n`` bill images + ``annotations.jsonl`` in ``folder``; synthetic bills when the generator exists.

    With ``answer`` every row is annotated with it (the memorisation set); otherwise the
    generator's own ground truth is kept (PIL fallback: a small per-bill answer).
    """
    folder.mkdir(parents=True, exist_ok=True)
    try:
        from extractor_energy.synth import write_dataset
    except ImportError:
        write_dataset = None
    if write_dataset is not None:
        try:
            path = Path(write_dataset(folder, "EQUATORIAL", "GO", n, seed=seed, dpi=100))
        except TypeError:  # older signature
            path = Path(write_dataset(folder, "EQUATORIAL", "GO", n, seed))
        rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        if answer is not None:
            for row in rows:
                row["json"] = dict(answer)
        if path != folder / "annotations.jsonl":
            for row in rows:  # keep image paths valid from the new location
                row["image"] = str((path.parent / row["image"]).resolve())
        (folder / "annotations.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
        return folder / "annotations.jsonl"
    lines = []
    for i in range(n):
        name = f"bill_{seed}_{i:03d}.jpg"
        bill_image(seed * 100 + i).save(folder / name, quality=90)
        row_answer = answer if answer is not None else {"num_instalacao": str(1000 + i), "valor_fatura": f"{i + 10},45"}
        lines.append(json.dumps({"image": name, "json": row_answer}, ensure_ascii=False))
    (folder / "annotations.jsonl").write_text("\n".join(lines) + "\n")
    return folder / "annotations.jsonl"


def prepare(data: Path, out: Path, *extra: str, page_text: bool = False) -> int:
    """VLM tests skip the page-text step (OCR of every image); the text-family test asks for it."""
    return prepare_dataset.main(
        ["--data-dir", str(data), "--concessionaria", "EQUATORIAL", "--uf", "GO", "--output-dir", str(out), *extra,
         "--page-text" if page_text else "--no-page-text"]
    )


def read_rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@pytest.fixture(scope="module")
def memorise_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """8 bills, all annotated with ANSWER; 3 held out for validation."""
    root = tmp_path_factory.mktemp("memorise")
    write_bills(root / "data", 8, answer=ANSWER)
    assert prepare(root / "data", root / "dataset", "--val-fraction", "0.3", "--seed", "2") == 0
    return root / "dataset"


# ------------------------------------------------------------------------------------ preparation
def test_prepare_validates_normalises_and_reports_bad_rows(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    data = tmp_path / "data"
    good = data / "equatorial_go"
    write_bills(good, 6)
    with (good / "annotations.jsonl").open("a") as fh:
        bill_image(50).save(good / "x1.jpg")
        bill_image(51).save(good / "x2.jpg")
        bill_image(52).save(good / "x3.jpg")
        (good / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
        fh.write('{"image": "x1.jpg", "json": {"cod_cliente": "1"\n')  # invalid JSON line
        fh.write(json.dumps({"image": "nowhere.jpg", "json": {"cod_cliente": "1"}}) + "\n")  # missing image
        fh.write(json.dumps({"image": "x1.jpg", "json": {"cod_cliente": "1", "cliente_vip": True}}) + "\n")  # unknown field
        fh.write(json.dumps({"image": "x2.jpg", "json": {"valor_fatura": "muito", "consumo_lista": "12"}}) + "\n")  # wrong types
        fh.write(json.dumps({"image": "broken.jpg", "json": {"cod_cliente": "1"}}) + "\n")  # undecodable
        fh.write(json.dumps({"image": "x3.jpg", "key": "enel_rj", "json": {"cod_cliente": "1"}}) + "\n")  # other key: skipped
        fh.write("\n")  # blank lines are ignored
        fh.write(json.dumps({"image": "x3.jpg", "json": {"cod_cliente": "77", "valor_fatura": "R$ 1.234,56",
                                                          "mes_referencia": "7/2025", "classificacao": "B1 RESIDENCIAL"}}) + "\n")
    write_bills(data / "enel_rj", 2)  # a sub-folder of another key is not read at all
    out = tmp_path / "ds"
    assert prepare(data, out, "--val-fraction", "0.25", "--seed", "3") == 0
    err = capsys.readouterr().err
    summary = json.loads((out / "summary.json").read_text())
    counts = summary["counts"]
    assert counts["usable"] == 7 and counts["rejected"] == 5 and counts["other_key"] == 1
    assert counts["train"] + counts["val"] == 7 and counts["val"] >= 1
    assert summary["skipped_folders"] == ["enel_rj"]
    reasons = {r["line"]: r["reason"] for r in summary["rejected"]}
    assert all(r["source"] == "equatorial_go/annotations.jsonl" for r in summary["rejected"])
    first_bad = 7  # after the 6 good rows
    assert "invalid JSON" in reasons[first_bad]
    assert "not found" in reasons[first_bad + 1]
    assert "unknown field 'cliente_vip'" in reasons[first_bad + 2]
    assert "valor_fatura" in reasons[first_bad + 3] and "consumo_lista" in reasons[first_bad + 3]
    assert "decode" in reasons[first_bad + 4]
    assert f"annotations.jsonl:{first_bad}" in err  # reported to the user with file and line
    rows = read_rows(out / "train.jsonl") + read_rows(out / "val.jsonl")
    normalised = next(r for r in rows if r["json"]["cod_cliente"] == "77")["json"]
    assert normalised["valor_fatura"] == 1234.56 and normalised["mes_referencia"] == "07/2025"
    assert normalised["classificacao"] == "RESIDENCIAL"
    assert set(normalised) == set(summary["fields"])  # the whole contract in every row
    for row in rows:
        assert row["key"] == "equatorial_go" and all((out / img).is_file() for img in row["images"])
    assert summary["field_coverage"]["cod_cliente"]["count"] >= 1
    assert len(summary["fingerprint"]) == 64
    # deterministic: same input, same split and fingerprint
    assert prepare(data, tmp_path / "ds2", "--val-fraction", "0.25", "--seed", "3") == 0
    assert json.loads((tmp_path / "ds2" / "summary.json").read_text())["fingerprint"] == summary["fingerprint"]
    assert (tmp_path / "ds2" / "val.jsonl").read_text() == (out / "val.jsonl").read_text()
    # hash split: adding bills never moves the existing ones between train and val
    write_bills(data / "equatorial_go" / "more", 4, seed=9)
    more = read_rows(data / "equatorial_go" / "more" / "annotations.jsonl")
    with (good / "annotations.jsonl").open("a") as fh:
        for row in more:
            fh.write(json.dumps({**row, "image": str(data / "equatorial_go" / "more" / row["image"])}) + "\n")
    assert prepare(data, out, "--val-fraction", "0.25", "--seed", "3") == 0  # replaces the folder
    from extractor_energy.training.datasets import _hash_split

    def splits(folder: Path) -> dict[str, str]:
        return {r["id"]: name for name in ("train", "val") for r in read_rows(folder / f"{name}.jsonl")}

    before, after = splits(tmp_path / "ds2"), splits(out)
    assert len(after) == len(before) + 4 and set(before) <= set(after)
    moved = [i for i in before if before[i] != after[i]]
    # only a row forced into val because the small set had none by hash may move back
    assert len(moved) <= 1 and all(before[i] == "val" and _hash_split(i, 3) >= 0.25 for i in moved)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no staging leftovers


def test_prepare_fails_only_when_nothing_is_usable(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "annotations.jsonl").write_text('not json\n{"image": "gone.png", "json": {"cod_cliente": "1"}}\n')
    assert prepare(data, tmp_path / "ds") == 1
    err = capsys.readouterr().err
    assert "annotations.jsonl:1" in err and "annotations.jsonl:2" in err and "no usable rows" in err
    assert not (tmp_path / "ds").exists()
    assert prepare(tmp_path / "missing", tmp_path / "ds") == 1


def test_prepare_checks_bills_against_the_server_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The decode check takes the server's limits from EXTRACTOR_* (not copies of their defaults)."""
    data = tmp_path / "data"
    write_bills(data, 3)
    bill_image(60).save(data / "p1.jpg")
    bill_image(61).save(data / "p2.jpg")
    with (data / "annotations.jsonl").open("a") as fh:
        fh.write(json.dumps({"images": ["p1.jpg", "p2.jpg"], "json": {"cod_cliente": "9"}}) + "\n")
    monkeypatch.setenv("EXTRACTOR_MAX_PDF_PAGES", "1")
    assert prepare(data, tmp_path / "ds") == 0
    rejected = json.loads((tmp_path / "ds" / "summary.json").read_text())["rejected"]
    assert len(rejected) == 1 and "2 pages in all; the server takes at most 1" in rejected[0]["reason"]
    assert prepare(data, tmp_path / "ds2", "--max-pdf-pages", "2") == 0  # the option still wins
    assert json.loads((tmp_path / "ds2" / "summary.json").read_text())["counts"]["rejected"] == 0


# ------------------------------------------------------------------------------------ training
def test_train_memorises_publishes_and_server_hot_swaps(
    memorise_dataset: Path, tiny_model_dir: Path, adapter_factory, tmp_path: Path
) -> None:
    from fastapi.testclient import TestClient
    from peft import PeftModel
    from transformers import AutoModelForImageTextToText

    from extractor_energy.adapters.validation import METADATA_FILE, fingerprint
    from extractor_energy.api.app import create_app
    from extractor_energy.config import Settings

    adapters = tmp_path / "adapters"
    adapters.mkdir()
    old = install_adapter(adapter_factory({"cod_cliente": "OLD"}, steps=30), adapters, "equatorial_go")
    old_version = fingerprint((old / "adapter_config.json").read_bytes(), (old / "adapter_model.safetensors").read_bytes())
    settings = Settings(
        model=str(tiny_model_dir), adapters_dir=adapters, model_max_pixels=TINY_PIXELS, max_new_tokens=64,
        adapter_stable_s=0.2, constrained_decoding=False,
    )
    bill = (memorise_dataset / read_rows(memorise_dataset / "val.jsonl")[0]["images"][0]).read_bytes()
    form = {"concessionaria": "EQUATORIAL", "uf": "GO"}
    with TestClient(create_app(settings)) as client:
        first = client.post("/extract", files={"file": ("bill.jpg", bill, "image/jpeg")}, data=form).json()
        assert first["adapter"] == "equatorial_go" and first["adapter_version"] == old_version

        target = adapters / "equatorial_go"
        started = time.perf_counter()
        rc = train_lora.main([
            "--dataset", str(memorise_dataset), "--concessionaria", "EQUATORIAL", "--uf", "GO",
            "--output-dir", str(target), "--model", str(tiny_model_dir), "--max-steps", "60",
            "--checkpoint-dir", str(tmp_path / "runs"), *TINY_TRAIN,
        ])
        elapsed = time.perf_counter() - started
        assert rc == 0
        assert not [p.name for p in adapters.iterdir() if p.name.startswith(".")]  # staging renamed in, old removed

        # the files: stock PEFT format, the server's base model name, full metadata
        config = json.loads((target / "adapter_config.json").read_text())
        assert config["base_model_name_or_path"] == tiny_model_dir.name  # the public name, never the host's path
        assert not config.get("use_dora") and not config.get("modules_to_save") and config["r"] == 8
        meta = json.loads((target / METADATA_FILE).read_text())
        assert meta["key"] == "equatorial_go" and meta["base_model"] == tiny_model_dir.name
        assert meta["fields"][0] == "cod_cliente" and "consumo_lista" in meta["fields"]
        summary = json.loads((memorise_dataset / "summary.json").read_text())
        assert meta["dataset"]["fingerprint"] == summary["fingerprint"]
        assert meta["dataset"]["train"] == summary["counts"]["train"] and meta["dataset"]["val"] == summary["counts"]["val"]
        assert meta["training"]["rank"] == 8 and meta["training"]["learning_rate"] == 0.01 and meta["training"]["steps"] == 60
        assert meta["created_at"] and meta["package_version"]
        loss = meta["loss"]
        assert loss["steps"] == 60 and loss["last"] < 0.3 * loss["first"]  # the loss drops
        before, after = meta["metrics"]["before"], meta["metrics"]["after"]
        assert before["documents"] == after["documents"] == summary["counts"]["val"] >= 2
        assert before["micro_f1"] <= 0.2 and before["exact_match"] == 0.0  # random base model
        assert after["micro_f1"] >= 0.99 and after["exact_match"] == 1.0  # memorised answer on held-out bills
        assert after["per_field_accuracy"]["valor_fatura"] == 1.0
        print(f"\ntraining run {elapsed:.1f}s, {meta['training']['seconds_per_step'] * 1000:.0f} ms/step, "
              f"loss {loss['first']:.3f} -> {loss['last']:.3f}, val micro F1 {before['micro_f1']:.2f} -> {after['micro_f1']:.2f}")

        base = AutoModelForImageTextToText.from_pretrained(tiny_model_dir)
        stock = PeftModel.from_pretrained(base, target)  # loads in stock PEFT
        assert any("lora_A" in n for n, _ in stock.named_parameters())

        # the running server picks the new version up, no restart
        new_version = fingerprint((target / "adapter_config.json").read_bytes(), (target / "adapter_model.safetensors").read_bytes())
        deadline = time.monotonic() + 15
        while True:
            row = client.get("/adapters/equatorial_go").json()
            if row.get("version") == new_version and row["state"] in ("ready", "unloaded"):
                break
            assert time.monotonic() < deadline, row
            time.sleep(0.05)
        assert row["metadata"]["dataset"]["fingerprint"] == summary["fingerprint"]
        body = client.post("/extract", files={"file": ("bill.jpg", bill, "image/jpeg")}, data=form).json()
        assert body["adapter"] == "equatorial_go" and body["adapter_version"] == new_version
        assert {k: body["data"][k] for k in ANSWER_NORMALISED} == ANSWER_NORMALISED
        assert checkpoints_cleaned(tmp_path / "runs")


def checkpoints_cleaned(runs: Path) -> bool:
    return not list(runs.glob("step-*")) and (runs / "last_run.json").is_file()


def test_resume_from_checkpoint_matches_an_uninterrupted_run(memorise_dataset: Path, tiny_model_dir: Path, tmp_path: Path) -> None:
    from safetensors.torch import load_file

    from extractor_energy.training.run import TrainConfig, TrainingError, run_training

    config = TrainConfig(rank=8, alpha=16, dropout=0.0, learning_rate=1e-2, batch_size=2, grad_accum=1, max_steps=8,
                         save_every=3, max_pixels=TINY_PIXELS, eval_before=False, eval_after=False)
    common = dict(config=config, model=str(tiny_model_dir), show_progress=False)
    target = tmp_path / "adapters" / "equatorial_go"

    class Crash(Exception):
        pass

    seen: list[float] = []

    def crash_at_7(step: int, total: int, loss: float) -> None:
        seen.append(loss)
        if step == 7:
            raise Crash()

    runs = tmp_path / "runs"
    with pytest.raises(Crash):
        run_training(memorise_dataset, "EQUATORIAL", "GO", target, checkpoint_dir=runs, on_step=crash_at_7, **common)
    assert not target.exists() and not list((tmp_path / "adapters").glob(".*"))  # nothing half-published
    assert sorted(p.name for p in runs.glob("step-*")) == ["step-000003", "step-000006"]

    other = TrainConfig(**{**config.__dict__, "learning_rate": 5e-3})
    with pytest.raises(TrainingError, match="learning_rate"):
        run_training(memorise_dataset, "EQUATORIAL", "GO", target, checkpoint_dir=runs, resume=True,
                     **{**common, "config": other})

    resumed = run_training(memorise_dataset, "EQUATORIAL", "GO", target, checkpoint_dir=runs, resume=True, **common)
    assert resumed.metadata["training"]["resumed_from_step"] == 6 and resumed.metadata["training"]["steps"] == 8
    assert len(resumed.losses) == 8 and resumed.losses[:6] == pytest.approx(seen[:6])

    straight = run_training(memorise_dataset, "EQUATORIAL", "GO", tmp_path / "straight" / "equatorial_go",
                            checkpoint_dir=tmp_path / "runs2", **common)
    assert resumed.losses == pytest.approx(straight.losses, rel=1e-4, abs=1e-5)
    a = load_file(target / "adapter_model.safetensors")
    b = load_file(tmp_path / "straight" / "equatorial_go" / "adapter_model.safetensors")
    assert a.keys() == b.keys() and all(torch.allclose(a[k], b[k], atol=1e-5) for k in a)


def test_train_refuses_a_data_set_of_another_key(memorise_dataset: Path, tmp_path: Path, capsys) -> None:
    rc = train_lora.main(["--dataset", str(memorise_dataset), "--concessionaria", "ENEL", "--uf", "RJ",
                          "--output-dir", str(tmp_path / "enel_rj"), "--quiet"])
    assert rc == 2 and "equatorial_go" in capsys.readouterr().err
    rc = train_lora.main(["--dataset", str(tmp_path / "nothing"), "--concessionaria", "EQUATORIAL", "--uf", "GO",
                          "--output-dir", str(tmp_path / "equatorial_go"), "--quiet"])
    assert rc == 2 and "prepare_dataset" in capsys.readouterr().err


def test_publish_replaces_atomically_and_cleans_up(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from extractor_energy.adapters import publish

    target = tmp_path / "equatorial_go"
    for version, exchange in (("v1", True), ("v2", True), ("v3", False)):
        if not exchange:  # file systems without renameat2(RENAME_EXCHANGE): rename aside, rename in
            monkeypatch.setattr(publish, "_exchange", lambda a, b: False)
        with publish.publishing(target) as tmp:
            assert tmp.parent == tmp_path and tmp.name.startswith(".")  # ignored by the server's registry
            (tmp / "weights").write_text(version)
        assert (target / "weights").read_text() == version
        assert [p.name for p in tmp_path.iterdir()] == ["equatorial_go"]
    with pytest.raises(RuntimeError):
        with publish.publishing(target) as tmp:
            (tmp / "weights").write_text("half")
            raise RuntimeError("crash while writing")
    assert (target / "weights").read_text() == "v3" and [p.name for p in tmp_path.iterdir()] == ["equatorial_go"]


def test_text_family_trains_on_stored_page_text_and_publishes_a_servable_adapter(
    tiny_text_model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PDF bills: page text comes from the text layer at preparation, is stored, and training never OCRs."""
    from extractor_energy.synth import write_dataset
    from extractor_energy.documents import page_text

    write_dataset(tmp_path / "data", "EQUATORIAL", "GO", 6, seed=4, fmt="pdf")
    assert prepare(tmp_path / "data", tmp_path / "ds", "--val-fraction", "0.3", page_text=True) == 0
    rows = read_rows(tmp_path / "ds" / "train.jsonl") + read_rows(tmp_path / "ds" / "val.jsonl")
    assert all(r["page_texts"] and r["json"]["num_instalacao"] in "\n".join(r["page_texts"]) for r in rows)

    def no_ocr(*args, **kwargs):
        raise AssertionError("training must use the stored page text, not OCR again")

    monkeypatch.setattr(page_text.OcrEngine, "read_upright", no_ocr)
    fields = "num_instalacao,vencimento,valor_fatura"
    out = tmp_path / "adapters" / "equatorial_go"
    code = train_lora.main([
        "--dataset", str(tmp_path / "ds"), "--concessionaria", "EQUATORIAL", "--uf", "GO", "--output-dir", str(out),
        "--model", str(tiny_text_model_dir), "--max-steps", "6", "--fields", fields, "--text-max-tokens", "256",
        "--checkpoint-dir", str(tmp_path / "runs"), *TINY_TRAIN,
    ])
    assert code == 0
    meta = json.loads((out / "extractor_metadata.json").read_text())
    assert meta["model_family"] == "text" and meta["fields"] == fields.split(",")
    assert meta["loss"]["steps"] == 6 and meta["metrics"]["after"]["documents"] >= 1
    assert 0.0 <= meta["metrics"]["after"]["micro_f1"] <= 1.0


def test_forty_bills_keep_at_least_ten_for_validation() -> None:
    from extractor_energy.training.datasets import DatasetRow, _split
    from extractor_energy.domain.schema import BillData

    rows = [DatasetRow(id=f"{i:016x}", images=[], key="equatorial_go", source="", data=BillData()) for i in range(40)]
    split = _split(rows, 0.1, seed=0)
    assert list(split.values()).count("val") == 10
    assert _split(rows, 0.1, seed=0) == split  # stable
    small = _split(rows[:20], 0.1, seed=0)
    assert 1 <= list(small.values()).count("val") < 10
    assert list(_split(rows, 0.0, seed=0).values()).count("val") == 0  # --val-fraction 0: everything trains
