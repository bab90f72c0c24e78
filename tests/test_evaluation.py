"""Field-level metrics (accuracy, Donut-style micro F1, exact match) and ``extractor-energy eval``."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pytest
import torch

from extractor_energy.evaluation.scoring import flatten, format_table, score
from extractor_energy.domain.schema import BillData

from .conftest import bill_image, install_adapter

torch.set_num_threads(1)
REPO = Path(__file__).resolve().parents[1]
TINY_PIXELS = 112 * 112

GOLD = {
    "cod_cliente": "7001234", "valor_fatura": 287.45, "mes_referencia": "07/2025", "baixa_renda": True,
    "consumo_lista": [{"mes_ano": "06/2025", "consumo": 250}, {"mes_ano": "05/2025", "consumo": 240}],
}


# ------------------------------------------------------------------------------------ metrics
def test_flatten_gives_paths_of_non_empty_values_after_normalisation() -> None:
    pairs = dict(flatten({**GOLD, "valor_fatura": "R$ 287,45", "mes_referencia": "7/2025", "nome_cliente": "  MARIA   SILVA "}))
    assert pairs["valor_fatura"] == 287.45 and pairs["mes_referencia"] == "07/2025"
    assert pairs["nome_cliente"] == "MARIA SILVA"
    assert pairs["consumo_lista[1].consumo"] == 240 and pairs["consumo_lista[0].mes_ano"] == "06/2025"
    assert pairs["baixa_renda"] is True
    assert "alta_tensao" not in pairs and "cep" not in pairs and "valores_em_aberto" not in pairs  # false/null/[]
    assert flatten(BillData()) == [] and flatten(None) == []


def test_scores_perfect_empty_invented_and_partial_predictions() -> None:
    perfect = score([GOLD], [GOLD])
    assert perfect.micro_f1 == perfect.exact_match == perfect.field_accuracy == 1.0

    empty = score([None], [GOLD], failures=["HTTP 503"])
    assert empty.micro_f1 == 0.0 and empty.micro_recall == 0.0 and empty.exact_match == 0.0 and empty.failures == 1
    assert empty.fields["cod_cliente"].accuracy == 0.0 and empty.fields["cep"].accuracy == 1.0  # empty == empty

    wrong = {**GOLD, "cep": "74000-000",  # invented: a false positive
             "consumo_lista": [{"mes_ano": "06/2025", "consumo": 251}, {"mes_ano": "05/2025", "consumo": 240}]}
    report = score([wrong, GOLD], [GOLD, GOLD], ids=["a", "b"])
    pairs = len(flatten(GOLD))  # 8 pairs per document
    assert (report.fields["consumo_lista"].tp, report.fields["consumo_lista"].fp, report.fields["consumo_lista"].fn) == (7, 1, 1)
    assert report.fields["cep"].fp == 1 and report.fields["cep"].support == 0 and report.fields["cep"].accuracy == 0.5
    tp, fp, fn = 2 * pairs - 1, 2, 1
    assert report.micro_precision == pytest.approx(tp / (tp + fp)) and report.micro_recall == pytest.approx(tp / (tp + fn))
    assert report.exact_match == 0.5 and report.fields["consumo_lista"].accuracy == 0.5
    assert [d.exact for d in report.per_document] == [False, True]
    assert set(report.per_document[0].mismatches) == {"cep", "consumo_lista"}
    assert set(report.active_fields()) == {*GOLD, "cep"}
    summary = report.summary()
    assert summary["per_field_accuracy"]["cod_cliente"] == 1.0 and "alta_tensao" not in summary["per_field_accuracy"]
    json.dumps(report.to_dict())  # serialisable

    table = format_table({"base": empty, "adapter": report})
    assert "base acc" in table and "adapter F1" in table and "exact match" in table and "consumo_lista" in table
    with pytest.raises(ValueError):
        score([GOLD], [GOLD, GOLD])


# ------------------------------------------------------------------------------------ the CLI
@pytest.fixture(scope="module")
def eval_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    sys.path.insert(0, str(REPO / "training"))
    import prepare_dataset

    root = tmp_path_factory.mktemp("evalset")
    data = root / "data"
    data.mkdir()
    rows = []
    for i in range(4):
        bill_image(200 + i).save(data / f"b{i}.png")
        rows.append(json.dumps({"image": f"b{i}.png", "json": {"cod_cliente": "555", "valor_fatura": "99,90"}}))
    (data / "annotations.jsonl").write_text("\n".join(rows) + "\n")
    assert prepare_dataset.main(["--data-dir", str(data), "--concessionaria", "EQUATORIAL", "--uf", "GO",
                                 "--output-dir", str(root / "ds"), "--val-fraction", "0.5"]) == 0
    return root / "ds"


def test_eval_local_adapter_against_base_and_server(
    eval_dataset: Path, tiny_model_dir: Path, tmp_path: Path, capsys, monkeypatch
) -> None:
    import httpx
    from fastapi.testclient import TestClient

    from extractor_energy.api.app import create_app
    from extractor_energy.cli.main import main
    from extractor_energy.config import Settings

    from extractor_energy.training.run import TrainConfig, run_training

    # trained on pages decoded as the server decodes them (adapter_factory trains on raw images, and the
    # tiny model is sensitive to the page grid), evaluation off: measured by the CLI below
    config = TrainConfig(rank=8, alpha=16, dropout=0.0, learning_rate=1e-2, batch_size=2, grad_accum=1, max_steps=60,
                         max_pixels=TINY_PIXELS, eval_before=False, eval_after=False)
    adapter = tmp_path / "trained" / "equatorial_go"
    run_training(eval_dataset, "EQUATORIAL", "GO", adapter, config=config, model=str(tiny_model_dir),
                 checkpoint_dir=tmp_path / "runs", show_progress=False)
    out = tmp_path / "eval.json"
    common = ["--dataset", str(eval_dataset), "--model", str(tiny_model_dir), "--max-pixels", str(TINY_PIXELS),
              "--max-new-tokens", "64", "--no-constrained", "--quiet"]
    assert main(["eval", *common, "--split", "all", "--adapter", str(adapter), "--compare-base", "--json-out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "base acc" in printed and "adapter acc" in printed and "valor_fatura" in printed
    results = json.loads(out.read_text())["results"]
    assert results["adapter"]["documents"] == 4 and results["adapter"]["exact_match"] == 1.0
    assert results["adapter"]["micro_f1"] == 1.0 and results["base"]["micro_f1"] <= 0.2
    assert len(results["adapter"]["documents_detail"]) == 4

    adapters = tmp_path / "adapters"
    adapters.mkdir()
    install_adapter(adapter, adapters, "equatorial_go")
    settings = Settings(model=str(tiny_model_dir), adapters_dir=adapters, model_max_pixels=TINY_PIXELS, max_new_tokens=64,
                        adapter_stable_s=0.2, constrained_decoding=False)
    with TestClient(create_app(settings)) as client:
        class Borrowed:  # eval --server opens and closes its own httpx client: lend it the in-process app
            def __init__(self, **_kwargs):
                pass

            def post(self, *args, **kwargs):
                return client.post(*args, **kwargs)

            def close(self) -> None:
                pass

        monkeypatch.setattr(httpx, "Client", Borrowed)
        started = time.perf_counter()
        assert main(["eval", "--dataset", str(eval_dataset), "--server", "http://testserver", "--json-out", str(out), "--quiet"]) == 0
        assert time.perf_counter() - started < 30
    server = json.loads(out.read_text())["results"]["server"]
    assert server["exact_match"] == 1.0 and server["documents"] >= 1 and len(server["adapter_versions"]) == 1
    assert main(["eval", "--dataset", str(eval_dataset), "--server", "http://x", "--compare-base"]) == 2


def test_an_empty_answer_scores_zero_and_empty_agreement_is_reported_apart() -> None:
    from extractor_energy.evaluation.scoring import score

    gold = {"num_instalacao": "123", "mes_referencia": "07/2025", "vencimento": "15/08/2025", "valor_fatura": 10.5}
    empty = score([None, {}], [gold, gold])
    assert empty.micro_f1 == 0.0 and empty.micro_recall == 0.0 and empty.required_exact == 0.0
    assert empty.field_accuracy_filled == 0.0
    assert empty.empty_agreement > 0.9  # 43 of 47 fields are empty in both: counted here, not in the headline
    perfect = score([gold], [gold])
    assert (perfect.micro_f1, perfect.required_exact, perfect.field_accuracy_filled) == (1.0, 1.0, 1.0)
    one_wrong = score([{**gold, "valor_fatura": 10.6}], [gold])
    assert one_wrong.required_exact == 0.0 and one_wrong.micro_f1 == 0.75
    subset = score([{"valor_fatura": 10.5}], [gold], fields=["valor_fatura"])
    assert subset.micro_f1 == 1.0 and subset.required_exact == 1.0
