"""``extractor-energy train --from-review``: corrected bills -> judged adapter -> served without a restart."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import pytest

from extractor_energy.cli.main import main
from extractor_energy.domain.schema import BillData
from extractor_energy.extraction.review_queue import ReviewQueue
from extractor_energy.synth.writer import write_dataset
from extractor_energy.training.dataset_rows import DatasetRow
from extractor_energy.training.onboard_checks import OnboardError, check_corrections

from .live_server import live_server, test_settings

KEY = "copel_pr"


def review_folder(root: Path, n: int, seed: int = 5) -> Path:
    """``n`` synthetic COPEL bills (PDFs with a text layer: no OCR) queued and corrected as the review page does."""
    raw = root / "raw"
    write_dataset(raw, "COPEL", "PR", n, seed=seed, fmt="pdf")
    queue = ReviewQueue(root / "review")
    for line in (raw / "annotations.jsonl").read_text().splitlines():
        row = json.loads(line)
        item = queue.add((raw / row["image"]).read_bytes(), {"key": KEY, "adapter": None, "data": {}})
        queue.save(item, BillData(**row["json"]))
    return root / "review"


@pytest.fixture()
def tiny_env(monkeypatch, tiny_text_model_dir):
    from extractor_energy.config import get_settings

    monkeypatch.setenv("EXTRACTOR_MODEL", str(tiny_text_model_dir))
    monkeypatch.setenv("EXTRACTOR_MAX_NEW_TOKENS", "96")
    monkeypatch.setenv("EXTRACTOR_FALLBACK_ADAPTER", "none")
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def _args(review: Path, adapters: Path, base: Path, *extra: str) -> list[str]:
    return ["train", "--from-review", str(review), "--key", KEY, "--adapters-dir", str(adapters), "--base-adapter", str(base),
            "--max-steps", "2", "--grad-accum", "1", "--allow-single-capture", "--choice", "model_all", "--no-progress", *extra]


def test_review_files_to_a_published_adapter_picked_up_by_a_running_server(tmp_path, tiny_env, tiny_text_model_dir,
                                                                            text_adapter_factory, capsys):
    review = review_folder(tmp_path, 6)
    adapters = tmp_path / "adapters"
    base = text_adapter_factory({"valor_fatura": 1.0})
    settings = test_settings(tiny_text_model_dir, adapters, grounded_choice="model_all", fallback_adapter="none",
                             max_new_tokens=96)
    with live_server(settings) as url:
        assert KEY not in [a["key"] for a in httpx.get(url + "/adapters").json()]
        # --force: a random tiny model cannot be relied on to win; the decision itself is tested below
        assert main(_args(review, adapters, base, "--force", "--forget-trained")) == 0
        out = capsys.readouterr().out
        assert "held out" in out and "published" in out and "before (serving now)" in out
        meta = json.loads((adapters / KEY / "extractor_metadata.json").read_text())
        onboarding = meta["onboarding"]
        assert onboarding["published"] is True and onboarding["held_out"] >= 1 and onboarding["choice"] == "model_all"
        assert {"micro_f1", "exact_match"} <= set(onboarding["before"]) and meta["training"]["steps"] == 2
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:  # the watcher picks the new folder up, no restart
            listed = {a["key"]: a for a in httpx.get(url + "/adapters").json()}
            if listed.get(KEY, {}).get("state") in ("ready", "unloaded"):
                break
            time.sleep(0.2)
        assert listed[KEY]["metadata"]["onboarding"]["published"] is True
        pdf = next((tmp_path / "raw").glob("*.pdf")).read_bytes()
        answer = httpx.post(url + "/extract", files={"file": ("b.pdf", pdf, "application/pdf")},
                            data={"concessionaria": "COPEL", "uf": "PR"}, timeout=120).json()
        assert answer["extraction"] == "grounded" and answer["adapter"] == KEY
    # --forget-trained: the bills' files are gone, their corrections kept apart
    assert not list((review / KEY / "bills").iterdir())
    assert len((review / KEY / "trained.jsonl").read_text().splitlines()) == 6
    assert not (review / ".onboard" / KEY / "dataset").exists()


def test_a_candidate_that_does_not_win_or_a_failed_run_leaves_the_served_adapter_untouched(
        tmp_path, tiny_env, text_adapter_factory, monkeypatch, capsys):
    import extractor_energy.training.onboard_eval as onboard_eval
    import extractor_energy.training.run as run

    review = review_folder(tmp_path, 5, seed=9)
    adapters = tmp_path / "adapters"
    served = text_adapter_factory({"valor_fatura": 2.0})
    (adapters / KEY).mkdir(parents=True)
    for f in served.iterdir():
        (adapters / KEY / f.name).write_bytes(f.read_bytes())
    before = {f.name: f.read_bytes() for f in (adapters / KEY).iterdir()}
    scores = {"micro_f1": 0.5, "exact_match": 0.0}
    monkeypatch.setattr(onboard_eval, "held_out_scores",
                        lambda *a, **k: (scores, {**scores, "micro_f1": 0.4}, "model", {"adapter": KEY, "version": "x"}))
    assert main(_args(review, adapters, served)) == 0
    assert "not published" in capsys.readouterr().out
    assert {f.name: f.read_bytes() for f in (adapters / KEY).iterdir()} == before
    meta = json.loads((review / ".onboard" / KEY / "candidate" / KEY / "extractor_metadata.json").read_text())
    assert meta["onboarding"]["published"] is False and meta["onboarding"]["after"]["micro_f1"] == 0.4

    def broken(*args, **kwargs):
        raise MemoryError("out of memory in step 1")

    monkeypatch.setattr(run, "run_training", broken)
    assert main(_args(review, adapters, served, "--force")) == 1
    assert "the run failed (MemoryError: out of memory in step 1); the served adapter is untouched" in capsys.readouterr().err
    assert {f.name: f.read_bytes() for f in (adapters / KEY).iterdir()} == before


def _row(n: int, pdf: bool = True, **values) -> DatasetRow:
    data = BillData(**{"valor_fatura": 285.6, "mes_referencia": "12/2024", **values})
    return DatasetRow(id=f"r{n}", images=[f"images/{n}.{'pdf' if pdf else 'jpg'}"], key=KEY, source=f"a.jsonl:{n}", data=data,
                      page_texts=["REFERÊNCIA | VENCIMENTO | TOTAL A PAGAR\n12/2024 | 18/12/2024 | 285,60"])


def test_guard_rails_say_what_is_wrong():
    with pytest.raises(OnboardError, match=r"3 usable corrected bill\(s\) for copel_pr; at least 5 are needed: .*held out"):
        check_corrections([_row(i) for i in range(3)], KEY)
    with pytest.raises(OnboardError, match="all 6 corrected bills of copel_pr are PDFs.*--allow-single-capture"):
        check_corrections([_row(i) for i in range(6)], KEY)
    mixed = [_row(i, pdf=i % 2 == 0) for i in range(10)]
    assert check_corrections(mixed, KEY) == []
    one_wrong = mixed[:9] + [_row(9, valor_fatura=2400.0)]
    [warning] = check_corrections(one_wrong, KEY)  # a few are tolerated, and listed
    assert "a.jsonl:9" in warning and "valor_fatura=2400.0" in warning
    many_wrong = mixed[:6] + [_row(i, pdf=False, valor_fatura=2400.0 + i) for i in range(6, 10)]
    with pytest.raises(OnboardError, match=r"4 of 10 corrected bills .* printed nowhere on their page") as exc:
        check_corrections(many_wrong, KEY)
    assert "a.jsonl:7" in str(exc.value)


def test_the_command_refuses_bad_input_with_exit_2(tmp_path, tiny_env, capsys):
    review = review_folder(tmp_path, 3)
    assert main(["train", "--from-review", str(review), "--key", KEY, "--no-progress"]) == 2
    assert "at least 5 are needed" in capsys.readouterr().err
    assert main(["train", "--from-review", str(review), "--key", "not a key", "--no-progress"]) == 2
    assert main(["train", "--from-review", str(review), "--key", "light_rj", "--no-progress"]) == 2
    assert "no corrected bills of light_rj" in capsys.readouterr().err
