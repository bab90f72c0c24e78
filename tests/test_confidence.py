"""Per-field confidence (min token probability over each value) and ``requires_review``."""

from __future__ import annotations

import pytest
import torch

from extractor_energy.domain.checks import Finding
from extractor_energy.extraction.confidence import char_probabilities, field_confidence, requires_review, value_spans
from extractor_energy.config import Settings
from extractor_energy.engine.constrained import schema_constraint_factory
from extractor_energy.engine.generate import GenerationInput, GenerationOutput, generate_batch
from extractor_energy.domain.keys import make_key
from extractor_energy.engine.model import load_model
from extractor_energy.extraction.parsing import parse_answer
from extractor_energy.extraction.prompts import build_messages
from extractor_energy.domain.schema import BillData

from .conftest import TINY_PIXELS
from .test_constrained import ANSWER_A, bill_pages  # same answer: the session's adapter cache trains it once

torch.set_num_threads(1)

KEY = make_key("EQUATORIAL", "GO")


def output(pieces: list[str], probs: list[float], text: str | None = None) -> GenerationOutput:
    return GenerationOutput(
        text="".join(pieces) if text is None else text, token_ids=list(range(len(pieces))), token_probs=probs,
        preprocess_ms=0.0, generate_ms=0.0, batch_size=1, token_texts=pieces,
    )


def test_value_spans_follow_json():
    text = '{"valor_fatura":12.5,"nome_cliente":"ANA","alta_tensao":true,"consumo_lista":[{"mes_ano":"01/2024","consumo":3}]}'
    spans = value_spans(text)
    assert text[slice(*spans["valor_fatura"][:2])] == "12.5,"  # the delimiter that ends the number counts
    assert text[slice(*spans["nome_cliente"][:2])] == '"ANA"'
    assert text[slice(*spans["alta_tensao"][:2])] == "true,"
    assert text[slice(*spans["consumo_lista"][:2])].startswith("[{") and all(s[2] for s in spans.values())
    assert "mes_ano" not in spans  # top level only
    spaced = '{ "a" : "x" , "a" : 7 }'  # json.loads keeps the last duplicate
    assert spaced[slice(*value_spans(spaced)["a"][:2])] == "7 }"


def test_value_spans_of_cut_answers():
    assert value_spans('{"nome_cliente":"ANA","cidade":"GOI')["cidade"][2] is False
    assert value_spans('{"nome_cliente":"ANA","valor_fatura":12')["valor_fatura"][2] is False  # maybe 12.45
    assert value_spans('{"nome_cliente":"ANA"')["nome_cliente"][2] is True
    assert value_spans("no json here") == {}


def test_confidence_is_min_over_the_value_tokens():
    pieces = ['{"', "valor_fatura", '":', "12", ".", "45", ',"', "nome_cliente", '":"', "ANA", '"}']
    probs = [0.10, 0.05, 0.20, 0.99, 0.70, 0.95, 0.90, 0.01, 0.97, 0.93, 0.96]
    out = output(pieces, probs)
    confidence = field_confidence(out, parse_answer(out.text))
    # key tokens (0.05, 0.01) do not count; the value's tokens and the delimiter after a number do
    assert confidence == {"valor_fatura": 0.70, "nome_cliente": 0.93}


def test_zero_amount_gets_a_confidence():
    out = output(['{"', "valor_fatura", '":', "0", "}"], [0.9, 0.9, 0.9, 0.8, 0.7])
    assert field_confidence(out, parse_answer(out.text)) == {"valor_fatura": 0.7}


def test_number_ended_early_is_not_confident():
    pieces = ['{"', "valor_fatura", '":', "12", "}"]
    out = output(pieces, [0.9, 0.9, 0.9, 0.99, 0.2])  # the model wanted to go on after "12"
    assert field_confidence(out, parse_answer(out.text)) == {"valor_fatura": 0.2}


def test_cut_off_value_gets_zero_and_dropped_values_none():
    out = output(['{"', "nome_cliente", '":"', "ANA", '","', "valor_fatura", '":', "12"], [0.9] * 8)
    assert field_confidence(out, parse_answer(out.text)) == {"nome_cliente": 0.9, "valor_fatura": 0.0}
    bad = output(['{"', "cep", '":"', "ABC", '"}'], [0.9] * 5)  # not a CEP: dropped, null in data
    assert field_confidence(bad, parse_answer(bad.text)) == {}


def test_split_characters_align_with_the_answer_text():
    # byte-level BPE: "â" split over two tokens decodes to U+FFFD twice
    pieces = ['{"', "cidade", '":"', "Goi", "\ufffd", "\ufffd", "nia", '"}']
    probs = [0.9, 0.9, 0.9, 0.9, 0.4, 0.8, 0.9, 0.9]
    out = output(pieces, probs, text='{"cidade":"Goiânia"}')
    per_char = char_probabilities(out)
    assert len(per_char) == len(out.text) and per_char[out.text.index("â")] == 0.4
    assert field_confidence(out, parse_answer(out.text)) == {"cidade": 0.4}


def test_without_token_texts_probabilities_are_spread():
    out = output(['{"cidade":"X"}'], [0.5])
    out.token_texts = []
    assert field_confidence(out, parse_answer(out.text)) == {"cidade": 0.5}


REQUIRED_OK = BillData(num_instalacao="123", mes_referencia="03/2024", vencimento="10/04/2024", valor_fatura=10.0)
HIGH = {"num_instalacao": 0.9, "mes_referencia": 0.9, "vencimento": 0.9, "valor_fatura": 0.9}


@pytest.mark.parametrize(
    "data, confidence, findings, expected",
    [
        (REQUIRED_OK, HIGH, [], False),
        (REQUIRED_OK, {**HIGH, "valor_fatura": 0.3}, [], True),  # below the threshold
        (REQUIRED_OK, {**HIGH, "nome_cliente": 0.01}, [], False),  # not a required field
        (REQUIRED_OK, {k: v for k, v in HIGH.items() if k != "vencimento"}, [], True),  # no confidence: unknown
        (REQUIRED_OK.model_copy(update={"vencimento": None}), HIGH, [], True),  # missing
        (REQUIRED_OK, HIGH, [Finding("due_before_reference", ("vencimento", "mes_referencia"), "...")], True),
        (REQUIRED_OK, HIGH, [Finding("cep_uf", ("cep", "estado"), "...")], False),  # check on other fields
        (REQUIRED_OK, HIGH, [{"code": "invalid_value", "fields": ["valor_fatura"], "message": "..."}], True),
    ],
)
def test_requires_review(data, confidence, findings, expected):
    assert requires_review(data, confidence, findings, threshold=0.5) is expected


@pytest.fixture(scope="module")
def loaded(tiny_model_dir):
    return load_model(Settings(model=str(tiny_model_dir), device="cpu", model_max_pixels=TINY_PIXELS))


def test_memorising_adapter_is_more_confident_than_untrained_base(loaded, adapter_factory):
    if "conf_a" not in loaded.slots.loaded():
        loaded.load_adapter(adapter_factory(ANSWER_A), "conf_a")
    factory = schema_constraint_factory(loaded)
    text_fields = ("cod_cliente", "num_instalacao", "nome_cliente", "rua", "bairro", "cidade", "distribuidora")
    inputs = [
        GenerationInput(pages=bill_pages(i), messages=build_messages(KEY, 1, with_adapter=True), adapter_name="conf_a")
        for i in range(3)
    ] + [
        # string fields only: the untrained model's numbers can be hundreds of digits long
        GenerationInput(pages=bill_pages(i), messages=build_messages(KEY, 1, with_adapter=False), schema_fields=text_fields)
        for i in range(6)
    ]
    outs = generate_batch(loaded, inputs, 160, factory)
    adapter_conf, base_conf = [], []
    for inp, out in zip(inputs, outs):
        parsed = parse_answer(out.text)
        confidence = field_confidence(out, parsed)
        assert all(0.0 <= c <= 1.0 for c in confidence.values())
        if inp.adapter_name == "conf_a":
            assert set(confidence) == set(ANSWER_A)
            # the tiny adapter memorises its answer with per-token probabilities of ~0.4-0.9
            assert not requires_review(parsed.data, confidence, [], threshold=0.3)
            adapter_conf += confidence.values()
        else:
            assert requires_review(parsed.data, confidence, [], threshold=0.3)
            base_conf += confidence.values()
    assert base_conf, "the untrained base wrote no usable field"
    assert max(base_conf) < 0.1 < 0.3 < min(adapter_conf)
