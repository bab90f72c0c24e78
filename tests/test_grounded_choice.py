"""The model chooses among a page's candidates (EXTRACTOR_GROUNDED_CHOICE=model): only ambiguous fields
are asked, the answer can only be one of their candidates (or none), and disagreement with the label
evidence is flagged."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from extractor_energy.api.app import create_app
from extractor_energy.engine.generate import GenerationOutput
from extractor_energy.grounding import ground_bill
from extractor_energy.grounding.arbiter import DISAGREE_CAP, MODEL_ONLY_CAP, ask, apply_choice

from .conftest import install_adapter
from .live_server import test_settings
from .test_grounding import page
from .test_text_family import text_pdf

TWO_TOTALS = [[(0, "TOTAL: R$ 299,99")], [(0, "Total a pagar R$ 321,09")], [(0, "Conta mês: 07/2025")]]
#: the page the service tests post: two labelled totals, the rest plain
AMBIGUOUS_TEXT = "UNIDADE CONSUMIDORA | 1005\nCONTA MÊS | 06/2025\nTOTAL: R$ 299,99\nTOTAL A PAGAR R$ 321,09"


def output(text: str, prob: float = 0.9) -> GenerationOutput:
    """A generation that wrote ``text``, one character a token, each with probability ``prob``."""
    return GenerationOutput(text=text, token_ids=list(range(len(text))), token_probs=[prob] * len(text),
                            preprocess_ms=0.0, generate_ms=0.0, batch_size=1, token_texts=list(text))


def test_only_ambiguous_fields_are_asked_each_an_enum_of_its_candidates():
    answer = ground_bill([page(TWO_TOTALS)])
    question = ask(answer, "model")
    assert question is not None and question.fields == ("valor_fatura",)  # the month is read without doubt
    assert question.schema["properties"] == {"valor_fatura": {"enum": [321.09, 299.99]}}
    assert question.schema["additionalProperties"] is False
    everything = ask(answer, "model_all")
    assert everything.fields == ("mes_referencia", "valor_fatura")  # contract order
    assert ask(answer, "model", fields=["vencimento"]) is None  # nothing the adapter knows is in doubt


def test_a_clear_page_asks_nothing():
    answer = ground_bill([page([[(0, "Total a pagar R$ 321,09")], [(0, "Conta mês: 07/2025")]])])
    assert ask(answer, "model") is None


def test_the_models_choice_takes_that_candidates_value_and_source_and_is_flagged_when_it_disagrees():
    answer = ground_bill([page(TWO_TOTALS)])
    question = ask(answer, "model")
    chosen = apply_choice(answer, question, output('{"valor_fatura":299.99}'))
    assert chosen.data.valor_fatura == 299.99
    assert chosen.sources["valor_fatura"]["text"] == "R$ 299,99"
    assert chosen.confidence["valor_fatura"] <= DISAGREE_CAP
    assert [c["fields"] for c in chosen.conflicts if c["code"] == "model_disagrees"] == [["valor_fatura"]]
    assert answer.data.valor_fatura == 321.09  # the evidence answer itself is unchanged


def test_agreement_raises_confidence():
    answer = ground_bill([page(TWO_TOTALS)])
    question = ask(answer, "model")
    agreed = apply_choice(answer, question, output('{"valor_fatura":321.09}', prob=0.9))
    assert agreed.data.valor_fatura == 321.09
    assert agreed.confidence["valor_fatura"] > max(answer.confidence["valor_fatura"], 0.9)
    assert not [c for c in agreed.conflicts if c["code"] == "model_disagrees"]


def test_none_keeps_the_evidence_but_flags_it_and_a_value_off_the_list_is_never_taken():
    answer = ground_bill([page(TWO_TOTALS)])
    question = ask(answer, "model")
    silent = apply_choice(answer, question, output("{}"))
    assert silent.data.valor_fatura == 321.09 and silent.confidence["valor_fatura"] <= DISAGREE_CAP
    invented = apply_choice(answer, question, output('{"valor_fatura":2400.0}'))  # only without the constraint
    assert invented.data.valor_fatura == 321.09 and invented.sources == answer.sources


def test_a_value_only_the_model_found_stays_under_review():
    answer = ground_bill([page(TWO_TOTALS)])
    for scored in answer.alternatives["valor_fatura"]:
        scored.score = 0.5  # labels too weak for evidence to read a total
    answer.data = answer.data.model_copy(update={"valor_fatura": None})
    answer.confidence.pop("valor_fatura")
    question = ask(answer, "model")
    assert question is not None and "valor_fatura" in question.fields
    chosen = apply_choice(answer, question, output('{"valor_fatura":299.99}', prob=0.99))
    assert chosen.data.valor_fatura == 299.99 and chosen.confidence["valor_fatura"] == MODEL_ONLY_CAP


# ---------------------------------------------------------------------------- through the service
def post(client: TestClient, text: str):
    r = client.post("/extract", files={"file": ("fatura.pdf", text_pdf(text))},
                    data={"concessionaria": "EQUATORIAL", "uf": "GO"})
    assert r.status_code == 200, r.text
    return r.json()


@pytest.fixture(scope="module")
def adapters_dir(text_adapter_factory, tmp_path_factory):
    folder = tmp_path_factory.mktemp("choice-adapters")
    install_adapter(text_adapter_factory({"valor_fatura": 299.99}), folder, "equatorial_go")
    return folder


def test_model_choice_answers_with_one_of_the_candidates_and_reports_the_adapter(tiny_text_model_dir, adapters_dir):
    settings = test_settings(tiny_text_model_dir, adapters_dir, grounded_choice="model", max_new_tokens=24)
    with TestClient(create_app(settings)) as client:
        body = post(client, AMBIGUOUS_TEXT)
        clear = post(client, AMBIGUOUS_TEXT.replace("TOTAL: R$ 299,99", "ICMS R$ 2,10"))
    assert body["extraction"] == "grounded"
    assert body["adapter"] == "equatorial_go" and body["adapter_version"] and not body["fallback"]
    assert body["tokens_generated"] > 0 and body["timings_ms"]["generate"] > 0
    assert body["data"]["valor_fatura"] in (321.09, 299.99)  # one of the page's totals, never another value
    assert body["sources"]["valor_fatura"]["text"] in ("R$ 321,09", "R$ 299,99")
    assert body["data"]["mes_referencia"] == "06/2025"  # not asked: read by evidence
    assert clear["tokens_generated"] == 0 and clear["adapter"] is None  # nothing in doubt: no generation


def test_evidence_choice_generates_nothing(tiny_text_model_dir, adapters_dir):
    settings = test_settings(tiny_text_model_dir, adapters_dir, grounded_choice="evidence")
    with TestClient(create_app(settings)) as client:
        body = post(client, AMBIGUOUS_TEXT)
    assert body["tokens_generated"] == 0 and body["adapter"] is None
    assert body["data"]["valor_fatura"] == 321.09
