"""Schema-constrained decoding (llguidance): valid JSON of the contract's shape from the untrained
tiny model, exact answers from memorising adapters in mixed batches, one compile per schema,
and a batch that never crashes."""

from __future__ import annotations

import json
import logging
import re

import pytest
import torch

try:  # not a declared dependency: where it is missing, the contract's pydantic model checks the same schema
    import jsonschema
except ImportError:  # pragma: no cover
    jsonschema = None

from extractor_energy.config import Settings
from extractor_energy.engine.constrained import SchemaConstraintFactory, schema_constraint_factory, schema_key
from extractor_energy.documents.decode import DocumentLimits, load_document
from extractor_energy.training.finetune import answer_text
from extractor_energy.engine.generate import BASE, GenerationInput, generate_batch
from extractor_energy.domain.keys import make_key
from extractor_energy.engine.model import load_model
from extractor_energy.extraction.parsing import parse_answer
from extractor_energy.extraction.prompts import build_messages
from extractor_energy.domain.schema import ALL_FIELDS, BillData, output_json_schema

from .conftest import TINY_PIXELS, bill_image, jpeg_bytes

torch.set_num_threads(1)

KEY = make_key("EQUATORIAL", "GO")
# Written in the contract's order, as answer_text(BillData) is (the grammar keeps that order).
ANSWER_A = {
    "num_instalacao": "1000123", "nome_cliente": "JOSÉ DA SILVA", "mes_referencia": "03/2024",
    "vencimento": "15/04/2024", "valor_fatura": 123.45,
    "consumo_lista": [{"mes_ano": "02/2024", "consumo": 150}, {"mes_ano": "01/2024", "consumo": 142}],
}
ANSWER_B = {
    "cod_cliente": "998877", "cidade": "Goiânia", "estado": "GO", "classificacao": "RESIDENCIAL",
    "alta_tensao": True, "mes_referencia": "11/2023", "valor_fatura": 87.1, "codigo_barras": "8" * 44,
}
FIELD_SETS = [None, ("valor_fatura",), ("consumo_lista", "codigo_barras"), ("linha_digitavel", "vencimento"), ("valores_em_aberto", "nome_cliente")]
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')


@pytest.fixture(scope="module")
def loaded(tiny_model_dir):
    return load_model(Settings(model=str(tiny_model_dir), device="cpu", model_max_pixels=TINY_PIXELS))


@pytest.fixture(scope="module")
def factory(loaded):
    return schema_constraint_factory(loaded)


def bill_pages(seed: int) -> list:
    """A bill's pages exactly as the server prepares them (and as the fixture adapters were trained)."""
    return load_document(jpeg_bytes(bill_image(seed)), DocumentLimits(model_max_pixels=TINY_PIXELS)).pages


def base_input(seed: int, fields=None) -> GenerationInput:
    return GenerationInput(pages=bill_pages(seed), messages=build_messages(KEY, 1, with_adapter=False), schema_fields=fields)


def adapter_input(seed: int, adapter: str, fields=None) -> GenerationInput:
    return GenerationInput(pages=bill_pages(seed), messages=build_messages(KEY, 1, with_adapter=True), adapter_name=adapter, schema_fields=fields)


def schema_validator(fields=None):
    """``check(text)``: the answer is JSON valid against ``output_json_schema(fields)``."""
    if jsonschema is not None:
        validator = jsonschema.Draft202012Validator(output_json_schema(fields))
        return lambda text: validator.validate(json.loads(text))

    def check(text: str) -> None:
        assert set(json.loads(text)) <= set(fields or ALL_FIELDS)
        BillData.model_validate_json(text, strict=True)

    return check


def assert_schema_valid(text: str, fields=None) -> None:
    schema_validator(fields)(text)
    assert not re.search(r"\s", _STRING.sub("", text)), f"whitespace outside strings: {text!r}"


def test_untrained_base_gives_schema_valid_json_50_bills(loaded, factory):
    validators = {k: schema_validator(k) for k in FIELD_SETS}
    lengths = set()
    for batch in range(5):
        # rows with different field sets finish at different steps
        inputs = [base_input(batch * 10 + i, FIELD_SETS[i % len(FIELD_SETS)]) for i in range(10)]
        for inp, out in zip(inputs, generate_batch(loaded, inputs, 200, factory)):
            validators[inp.schema_fields](out.text)
            assert not re.search(r"\s", _STRING.sub("", out.text))
            lengths.add(out.tokens_generated)
    assert len(lengths) > 1
    assert factory.stats.rows_failed == 0


def test_unconstrained_untrained_base_is_not_json(loaded):
    """Sanity: the constraint is what makes the answers valid."""
    outs = generate_batch(loaded, [base_input(i) for i in range(2)], 60)
    with pytest.raises(json.JSONDecodeError):
        json.loads(outs[0].text)


@pytest.mark.parametrize("budget", [16, 23, 40, 71, 120])
def test_answer_closed_before_the_token_budget(loaded, factory, budget):
    """generate_batch hands its own max_new_tokens to the factory: the rows close within it."""
    inputs = [base_input(i, FIELD_SETS[i]) for i in range(len(FIELD_SETS))]
    for inp, out in zip(inputs, generate_batch(loaded, inputs, budget, factory)):
        assert out.tokens_generated <= budget
        assert_schema_valid(out.text, inp.schema_fields)


def test_truncated_answer_without_budget_is_still_repaired(loaded, factory):
    blind = lambda batch, budget: factory(batch, None)  # noqa: E731 - the processor does not know the budget
    out = generate_batch(loaded, [base_input(0)], 12, blind)[0]
    assert out.tokens_generated == 12  # cut: the answer is not closed
    with pytest.raises(json.JSONDecodeError):
        json.loads(out.text)
    parsed = parse_answer(out.text)  # repaired or reported, never raised
    assert {w["code"] for w in parsed.warnings} & {"json_repaired", "unparseable_answer"}


def test_mixed_batch_keeps_each_adapters_answer(loaded, factory, adapter_factory):
    for name, answer in (("key_a", ANSWER_A), ("key_b", ANSWER_B)):
        if name not in loaded.slots.loaded():
            loaded.load_adapter(adapter_factory(answer), name)
    own_b = tuple(ANSWER_B)  # adapter B's metadata names its own field set
    inputs = [
        adapter_input(1, "key_a"), base_input(2), adapter_input(3, "key_b", own_b), adapter_input(4, "key_a"),
        base_input(5, ("valor_fatura",)), adapter_input(6, "key_b"),
    ]
    unconstrained = generate_batch(loaded, inputs, 200)
    constrained = generate_batch(loaded, inputs, 200, factory)
    expected = {"key_a": answer_text(ANSWER_A), "key_b": answer_text(ANSWER_B)}
    for inp, free, out in zip(inputs, unconstrained, constrained):
        if inp.adapter_name == BASE:
            assert_schema_valid(out.text, inp.schema_fields)
        else:
            assert free.text == expected[inp.adapter_name]  # the adapter memorised its answer
            assert out.text == free.text  # ...and the constraint does not change it
            assert_schema_valid(out.text, inp.schema_fields)


def test_grammar_compiled_once_per_field_set(loaded):
    factory = schema_constraint_factory(loaded)
    assert factory.compiled_schemas == [None] and factory.stats.compiles == 1  # the contract, at start-up
    full = factory.template(None)
    for _ in range(3):
        generate_batch(loaded, [base_input(0), base_input(1, ("vencimento", "valor_fatura")), base_input(2, ("valor_fatura", "vencimento"))], 8, factory)
    assert factory.stats.compiles == 2
    assert schema_key(("valor_fatura", "vencimento")) == schema_key(("vencimento", "valor_fatura")) == ("vencimento", "valor_fatura")
    assert factory.template(None) is full
    assert factory.stats.batches == 3


def _processor(factory: SchemaConstraintFactory, rows: int):
    (processor,) = factory([base_input(i) for i in range(rows)], None)
    return processor


def test_finished_rows_allow_only_eos_and_pad(loaded):
    factory = schema_constraint_factory(loaded)
    tok = loaded.tokenizer
    proc = _processor(factory, 2)
    prompt = torch.full((2, 5), tok.pad_token_id)
    scores = torch.zeros(2, factory.vocab_size)
    first = proc(prompt, scores)
    brace = tok.convert_tokens_to_ids("{")
    assert first[0, brace] == 0 and torch.isinf(first[0]).sum() > 0
    step = torch.cat([prompt, torch.tensor([[tok.eos_token_id], [brace]])], dim=1)
    second = proc(step, torch.zeros(2, factory.vocab_size))
    allowed_done = (~torch.isinf(second[0])).nonzero().flatten().tolist()
    assert sorted(allowed_done) == sorted({tok.eos_token_id, tok.pad_token_id})
    allowed_open = {tok.convert_ids_to_tokens(i) for i in (~torch.isinf(second[1])).nonzero().flatten().tolist()}
    assert {'"', "}"} <= allowed_open and "<|im_end|>" not in allowed_open  # the other row goes on inside its object


def test_refused_token_unconstrains_only_that_row(loaded, caplog):
    factory = schema_constraint_factory(loaded)
    tok = loaded.tokenizer
    proc = _processor(factory, 2)
    prompt = torch.full((2, 3), tok.pad_token_id)
    proc(prompt, torch.zeros(2, factory.vocab_size))
    bad = tok.convert_tokens_to_ids("a")  # an answer cannot start with "a"
    brace = tok.convert_tokens_to_ids("{")
    with caplog.at_level(logging.WARNING, logger="extractor_energy.engine.constrained"):
        out = proc(torch.cat([prompt, torch.tensor([[bad], [brace]])], dim=1), torch.zeros(2, factory.vocab_size))
    assert "constrained decoding stopped for batch row 0" in caplog.text
    assert not torch.isinf(out[0]).any()  # row 0 is free now
    assert torch.isinf(out[1]).any()  # row 1 still constrained
    assert factory.stats.rows_failed == 1


def test_internal_error_leaves_batch_unconstrained(loaded, caplog):
    factory = schema_constraint_factory(loaded)
    proc = _processor(factory, 2)
    scores = torch.randn(3, factory.vocab_size)  # wrong batch size: an internal error, not a crash
    with caplog.at_level(logging.ERROR, logger="extractor_energy.engine.constrained"):
        out = proc(torch.zeros(3, 4, dtype=torch.long), scores)
    assert out is scores and proc.disabled
    assert "runs unconstrained" in caplog.text
    assert proc(torch.zeros(2, 5, dtype=torch.long), scores[:2]) is not None


def test_wider_logits_than_tokenizer_are_masked(loaded):
    factory = SchemaConstraintFactory(loaded.tokenizer, logits_size=None)
    proc = _processor(factory, 1)
    scores = torch.zeros(1, factory.vocab_size + 64)  # e.g. Qwen's padded lm_head
    out = proc(torch.zeros(1, 2, dtype=torch.long), scores)
    assert torch.isinf(out[0, factory.vocab_size :]).all()


def enum_schema(values: dict) -> dict:
    """A per-request schema: each member an ``enum`` of the page's candidates (what the grounded arbiter asks)."""
    return {"type": "object", "properties": {k: {"enum": v} for k, v in values.items()}, "additionalProperties": False}


def test_a_row_with_an_enum_schema_only_writes_one_of_its_values(loaded, factory):
    choices = {"mes_referencia": ["06/2025", "07/2025"], "valor_fatura": [142.48, 15.45, 9.9]}
    schema = enum_schema(choices)
    for seed in range(6):  # the untrained base writes whatever it likes; the grammar keeps it to the enums
        inp = GenerationInput(pages=bill_pages(seed), messages=build_messages(KEY, 1, with_adapter=False), json_schema=schema)
        out = generate_batch(loaded, [inp], 60, factory)[0]
        answer = json.loads(out.text)
        assert set(answer) <= set(choices)
        for name, value in answer.items():
            assert value in choices[name], (name, value, out.text)
    assert factory.stats.rows_failed == 0


def test_rows_with_different_request_schemas_share_a_batch(loaded, factory):
    schemas = [enum_schema({"vencimento": ["10/06/2025", "15/06/2025"]}),
               enum_schema({"consumo_kwh": [150, 151], "num_instalacao": ["1005"]}),
               None]  # a row of the contract's schema beside them
    inputs = [GenerationInput(pages=bill_pages(i), messages=build_messages(KEY, 1, with_adapter=False), json_schema=s)
              for i, s in enumerate(schemas)]
    outs = generate_batch(loaded, inputs, 120, factory)
    for schema, out in zip(schemas[:2], outs):
        allowed = {k: v["enum"] for k, v in schema["properties"].items()}
        for name, value in json.loads(out.text).items():
            assert value in allowed[name], out.text
    assert_schema_valid(outs[2].text)
    assert factory.stats.rows_failed == 0


def test_request_schemas_compile_once_and_the_cache_is_bounded(loaded):
    factory = schema_constraint_factory(loaded)
    factory.request_cache_size = 2
    a, b, c = (enum_schema({"valor_fatura": [float(i), 1.5]}) for i in range(3))
    reordered = {"additionalProperties": False, "properties": a["properties"], "type": "object"}
    key_a, template_a = factory.request_template(a)
    assert factory.request_template(reordered) == (key_a, template_a)  # the same schema, keys in another order
    assert factory.stats.compiles == 2  # the contract at start-up + a
    factory.request_template(b)
    factory.request_template(a)  # a is now the most recently used
    factory.request_template(c)  # evicts b, not a
    assert factory.compiled_request_schemas == 2
    assert factory.request_template(a)[1] is template_a
    compiles = factory.stats.compiles
    factory.request_template(b)
    assert factory.stats.compiles == compiles + 1
