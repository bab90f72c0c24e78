"""Schema-constrained decoding: every answer is compact JSON of the output contract's shape.

Engine: `llguidance <https://github.com/guidance-ai/llguidance>`_ (Rust, one ~3 MB abi3 wheel, no
dependencies). Its JSON-schema compiler turns :func:`~extractor_energy.domain.schema.output_json_schema`
into a grammar and an :class:`llguidance.LLMatcher` computes, at each step, the bitmask of the
tokens that keep the answer valid, straight from the model's (byte-level BPE) HF fast tokenizer.

How it is used:

* :func:`schema_constraint_factory` is called once when the app is built. It wraps the tokenizer
  for llguidance once, and compiles the grammar of each field set once (the full contract eagerly,
  an adapter's own ``schema_fields`` on first use), keeping a *template* matcher per schema.
* For every batch the factory returns one :class:`SchemaConstraint` logits processor holding one
  matcher per row (a cheap ``deep_copy`` of its schema's template), so rows served by different
  adapters, with different schemas, decode together in one ``generate`` call. It must come after
  the :class:`~extractor_energy.engine.generate.TokenProbabilityRecorder` (which records the raw model's
  probabilities); it returns new scores and never changes the ones it is given.
* The JSON is compact (``,`` and ``:`` separators, no free whitespace) and keys come in the
  contract's order, exactly what adapters are trained to write (``finetune.answer_text``).
* Left padding does not matter: the processor only reads the tokens generated after the prompt
  (``input_ids[:, prompt_len:]``). A row that produced EOS is finished: from then on only EOS/pad
  are allowed for it (``generate`` overwrites its tokens with pad anyway).
* A row may bring its own schema (``GenerationInput.json_schema``: e.g. an ``enum`` of the page's
  candidates per field, to *choose* rather than write). It replaces the contract's schema for that
  row only; its grammar is compiled on first use and kept in a bounded LRU cache keyed by the
  schema's canonical JSON (:data:`REQUEST_SCHEMA_CACHE` entries), so a batch can mix rows of the
  contract, of an adapter's field set and of any number of per-request schemas.
* Token budget: ``generate_batch`` hands the factory the ``max_new_tokens`` it runs ``generate``
  with (one owner: the caller of ``generate_batch``), and each row compares, at every step, the tokens it has left with a generous
  estimate of what closing its JSON from where it is takes (open containers, a date or barcode
  being written, a list item, a key; see :meth:`JsonState.closing_cost`). While they are about
  equal the row is *steered*: among the tokens the grammar allows it keeps those that end the
  answer soonest (close the string, ``null`` rather than a new value, ``}``/``]``, EOS). So an
  answer that would not fit still ends as valid JSON, with its last members dropped; one that fits
  is untouched (a memorising adapter's answer is unchanged from about 8 tokens of slack on). Without
  a budget a cut answer is repaired by :mod:`extractor_energy.extraction.parsing` as before.
* Never crashes a batch: an error in a row's matcher (or a token it refuses) is logged and that
  row is left unconstrained; an unexpected error in the processor itself is logged and the rest of
  the batch runs unconstrained.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Sequence

import torch
from transformers import LogitsProcessor

from extractor_energy.engine.generate import GenerationInput
from extractor_energy.engine.model import LoadedModel
from extractor_energy.engine.json_budget import Budget, ClosingTiers, JsonState, pack_bitmask, unpack_bitmask
from extractor_energy.domain.schema import ALL_FIELDS, output_json_schema

log = logging.getLogger(__name__)

#: Compact JSON: no whitespace anywhere, the separators ``finetune.answer_text`` writes.
JSON_OPTIONS: dict[str, Any] = {
    "whitespace_flexible": False,
    "item_separator": ",",
    "key_separator": ":",
    "lenient": True,  # a keyword llguidance does not implement is ignored (logged), never fatal
}
#: Vocabulary size from which rows' masks are computed in parallel threads (when there are >= 4 cores).
PARALLEL_MIN_VOCAB = 32_768
#: Spare tokens on top of the estimate of what closing the JSON takes.
CLOSING_MARGIN = 4
#: Per-request schemas kept compiled (least recently used dropped beyond).
REQUEST_SCHEMA_CACHE = 256

#: A row's schema: a field set of the contract (``None`` = all of it), or a per-request schema's canonical JSON.
RowKey = tuple[str, ...] | str | None


def schema_key(fields: Sequence[str] | None) -> tuple[str, ...] | None:
    """Cache key of a field set: ``None`` for the whole contract, else the known fields in contract order."""
    if fields is None:
        return None
    wanted = set(fields)
    return tuple(f for f in ALL_FIELDS if f in wanted)


def request_schema_key(schema: dict[str, Any]) -> str:
    """Cache key of a per-request schema: its canonical JSON (sorted keys, compact)."""
    return json.dumps(schema, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _contract_fields_of(schema: dict[str, Any]) -> tuple[str, ...] | None:
    """The contract field set a per-request schema's members belong to (its closing budget), else
    ``None`` (the whole contract's budget: the most generous)."""
    names = list(schema.get("properties", {}))
    return schema_key(names) if names and set(names) <= set(ALL_FIELDS) else None


def schema_constraint_factory(loaded: LoadedModel) -> "SchemaConstraintFactory | None":
    """The per-batch processor factory for ``generate_batch``; ``None`` when llguidance is unavailable."""
    try:
        return SchemaConstraintFactory(loaded.tokenizer, _logits_size(loaded))
    except ImportError as exc:
        log.error("constrained decoding disabled: %s (pip install llguidance)", exc)
    except Exception:  # never keep the service from starting: answers are still parsed and repaired
        log.exception("constrained decoding disabled: could not build the schema constraint")
    return None


def _logits_size(loaded: LoadedModel) -> int | None:
    """Width of the model's logits (can exceed the tokenizer's vocabulary, e.g. Qwen's padded head)."""
    try:
        head = loaded.model.get_output_embeddings()
        return int(head.weight.shape[0]) if head is not None else None
    except Exception:  # pragma: no cover - exotic heads: fall back to the tokenizer's size
        return None


@dataclass
class ConstraintStats:
    """Cumulative cost of the constraint (read by the benchmark and for logging)."""

    compiles: int = 0  # grammars compiled (one per distinct field set)
    compile_s: float = 0.0
    batches: int = 0
    steps: int = 0  # processor calls (one per generated token position of a batch)
    row_steps: int = 0  # masks computed (one per constrained row per step)
    mask_s: float = 0.0  # time inside the processor, all rows of a step together
    rows_failed: int = 0  # rows that fell back to unconstrained decoding
    rows_closed: int = 0  # rows steered to close their JSON near the token budget (at least once)


class SchemaConstraintFactory:
    """``factory(inputs, max_new_tokens) -> [SchemaConstraint]``; owns the llguidance tokenizer and compiled grammars."""

    def __init__(self, tokenizer: Any, logits_size: int | None = None, *, threads: int | None = None):
        import llguidance
        import llguidance.hf

        self._llg = llguidance
        self.hf_tokenizer = tokenizer
        size = max(len(tokenizer), logits_size or 0)
        self.eos_id: int = tokenizer.eos_token_id
        self.pad_id: int | None = tokenizer.pad_token_id
        self.ll_tokenizer = llguidance.hf.from_tokenizer(tokenizer, n_vocab=size, eos_token=self.eos_id)
        self.vocab_size: int = self.ll_tokenizer.vocab_size
        # Rows' masks in parallel threads only where that pays: a large vocabulary and cores to spare
        # (with a small one, or 2 cores shared with torch, one thread is faster: measured).
        cores = os.cpu_count() or 1
        parallel = threads is not None and threads > 1 or threads is None and cores >= 4 and self.vocab_size >= PARALLEL_MIN_VOCAB
        self.executor = llguidance.LLExecutor(num_threads=threads or min(8, cores // 2)) if parallel else None
        self.stats = ConstraintStats()
        self._lock = threading.Lock()
        self._templates: dict[tuple[str, ...] | None, Any] = {}  # schema key -> fresh matcher (None: failed)
        self._request_templates: OrderedDict[str, Any] = OrderedDict()  # canonical JSON -> matcher (LRU)
        self.request_cache_size = REQUEST_SCHEMA_CACHE
        self.words = (self.vocab_size + 31) // 32
        self.tiers = ClosingTiers.build(self.ll_tokenizer, self.vocab_size, self.eos_id)
        self.stop_words = pack_bitmask(torch.tensor([t in (self.eos_id, self.pad_id) for t in range(self.vocab_size)]))
        self._token_bytes: dict[int, bytes] = {}
        self._budgets: dict[tuple[str, ...] | None, Budget] = {}
        self.template(None)  # compile the contract's grammar now, not on the first request

    # -- grammars ---------------------------------------------------------------------------

    def template(self, key: tuple[str, ...] | None) -> Any:
        """The compiled (template) matcher of a field set, compiling it once; ``None`` if it failed."""
        with self._lock:
            if key in self._templates:
                return self._templates[key]
            matcher = self._compile(output_json_schema(key), f"fields {key or 'all'}")
            self._templates[key] = matcher
            return matcher

    def request_template(self, schema: dict[str, Any]) -> tuple[str, Any]:
        """``(cache key, template matcher)`` of a per-request schema, compiled once while it stays in the LRU."""
        key = request_schema_key(schema)
        with self._lock:
            if key in self._request_templates:
                self._request_templates.move_to_end(key)
                return key, self._request_templates[key]
            matcher = self._compile(schema, "a request's schema")
            self._request_templates[key] = matcher
            while len(self._request_templates) > self.request_cache_size:
                self._request_templates.popitem(last=False)
            return key, matcher

    def _compile(self, schema: dict[str, Any], what: str) -> Any:
        """A fresh matcher of ``schema`` (the caller holds the lock), or ``None`` if it does not compile."""
        started = time.perf_counter()
        matcher = None
        try:
            grammar = self._llg.LLMatcher.grammar_from_json_schema(schema, defaults=JSON_OPTIONS)
            matcher = self._llg.LLMatcher(self.ll_tokenizer, grammar, log_level=0)
            if matcher.is_error():
                log.error("schema grammar for %s failed to compile: %s", what, matcher.get_error())
                matcher = None
            else:
                for warning in matcher.get_grammar_warnings():
                    log.warning("schema grammar for %s: %s", what, warning)
        except Exception:
            log.exception("schema grammar for %s failed to compile", what)
            matcher = None
        self.stats.compiles += 1
        self.stats.compile_s += time.perf_counter() - started
        return matcher

    @property
    def compiled_schemas(self) -> list[tuple[str, ...] | None]:
        """Field sets compiled so far (``None`` = the whole contract)."""
        return list(self._templates)

    @property
    def compiled_request_schemas(self) -> int:
        """Per-request schemas held compiled now (at most ``request_cache_size``)."""
        return len(self._request_templates)

    def budget(self, key: tuple[str, ...] | None) -> "Budget":
        """What closing an answer of this schema can take, in this tokenizer's tokens."""
        with self._lock:
            if key not in self._budgets:
                self._budgets[key] = Budget.for_schema(key, self._count_tokens)
            return self._budgets[key]

    def _count_tokens(self, text: str) -> int:
        return len(self.hf_tokenizer.encode(text, add_special_tokens=False))

    def token_bytes(self, token: int) -> bytes:
        cached = self._token_bytes.get(token)
        if cached is None:
            cached = b"" if self.ll_tokenizer.is_special_token(token) else self.ll_tokenizer.decode_bytes([token])
            self._token_bytes[token] = cached
        return cached

    # -- per batch ----------------------------------------------------------------------------

    def __call__(self, inputs: list[GenerationInput], max_new_tokens: int | None) -> list[LogitsProcessor]:
        """One processor for the batch; ``max_new_tokens`` is the budget ``generate`` runs with (None: no
        steering towards an early close; a cut answer is then repaired by the parser)."""
        rows = []
        for gen_input in inputs:
            key: RowKey
            if gen_input.json_schema is not None:
                key, template = self.request_template(gen_input.json_schema)
                budget = self.budget(_contract_fields_of(gen_input.json_schema))
            else:
                key = schema_key(gen_input.schema_fields)
                template, budget = self.template(key), self.budget(key)
            rows.append(_Row(matcher=template.deep_copy() if template is not None else None, key=key,
                             failed=template is None, budget=budget))
        self.stats.batches += 1
        return [SchemaConstraint(self, rows, max_new_tokens)]


@dataclass
class _Row:
    matcher: Any  # llguidance.LLMatcher, or None when the row is unconstrained
    key: RowKey
    failed: bool = False  # unconstrained from now on
    done: bool = False  # produced EOS
    closing: bool = False  # has been steered to close its JSON (near the token budget) at least once
    consumed: int = 0  # generated tokens fed to the matcher
    budget: "Budget" = field(default=None, repr=False)  # type: ignore[assignment]
    json: "JsonState" = field(default_factory=lambda: JsonState(), repr=False)


class SchemaConstraint(LogitsProcessor):
    """One batch: masks each row's scores with its own matcher (see the module docstring)."""

    def __init__(self, factory: SchemaConstraintFactory, rows: list[_Row], max_new_tokens: int | None):
        self.factory = factory
        self.rows = rows
        self.max_new_tokens = max_new_tokens
        self.prompt_len: int | None = None
        self.seen = 0  # generated columns already fed to the matchers
        self.disabled = False

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        if self.disabled:
            return scores
        started = time.perf_counter()
        try:
            return self._constrain(input_ids, scores)
        except Exception:
            log.exception("constrained decoding failed; the rest of this batch runs unconstrained")
            self.disabled = True
            return scores
        finally:
            stats = self.factory.stats
            stats.steps += 1
            stats.mask_s += time.perf_counter() - started

    def _constrain(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        f = self.factory
        if input_ids.shape[0] != len(self.rows):
            raise RuntimeError(f"batch has {input_ids.shape[0]} rows, the constraint was built for {len(self.rows)}")
        if self.prompt_len is None:
            self.prompt_len = input_ids.shape[1]
        step = input_ids.shape[1] - self.prompt_len  # tokens generated so far (left padding is before prompt_len)
        if step > self.seen:
            new = input_ids[:, self.prompt_len + self.seen :].tolist()
            self.seen = step
            for index, row in enumerate(self.rows):
                self._advance(index, row, new[index])

        batch, width = scores.shape
        words = f.words  # llguidance writes exactly this many 32-bit words per row
        # Everything per row happens on this small CPU bitmask (bit j of word k = token 32k+j);
        # the scores are touched once, on their device, at the end.
        bitmask = torch.full((batch, words), -1, dtype=torch.int32)  # all allowed unless a matcher says otherwise
        active = [(row.matcher, i) for i, row in enumerate(self.rows) if not row.done and not row.failed]
        if f.executor is not None and len(active) > 1:
            # = llguidance.torch.fill_next_token_bitmask_par, without importing llguidance.torch (its
            # import runs torch.compile for a kernel not used here: seconds of start-up)
            f.executor.unsafe_compute_mask_ptr(active, bitmask.data_ptr(), words * 4, batch)
        else:
            for matcher, i in active:
                matcher.unsafe_compute_mask_ptr(bitmask[i].data_ptr(), words * 4)
        f.stats.row_steps += len(active)
        remaining = None if self.max_new_tokens is None else self.max_new_tokens - step
        for i, row in enumerate(self.rows):
            if row.done:
                bitmask[i] = f.stop_words  # EOS / pad
                continue
            if row.failed:
                continue
            if row.matcher.is_error():
                self._fail(i, row, row.matcher.get_error())
                bitmask[i] = -1
                continue
            if not bool(bitmask[i].any()):
                self._fail(i, row, "the grammar allows no token")
                bitmask[i] = -1
                continue
            # re-decided every step: steer only while the budget is about what closing takes from here
            if (
                remaining is not None and remaining <= row.budget.ceiling + CLOSING_MARGIN
                and remaining <= row.json.closing_cost(row.budget) + CLOSING_MARGIN
            ):
                if not row.closing:
                    row.closing = True
                    f.stats.rows_closed += 1
                bitmask[i] = f.tiers.prefer(bitmask[i], row.json)
        disallowed = unpack_bitmask(~bitmask.to(scores.device), min(width, f.vocab_size))
        if f.vocab_size < width:  # the model's padded head (e.g. Qwen's): columns that are no tokens at all
            disallowed = torch.cat([disallowed, disallowed.new_ones(batch, width - f.vocab_size)], dim=1)
        return scores.masked_fill(disallowed, float("-inf"))

    def _advance(self, index: int, row: _Row, generated: list[int]) -> None:
        """Feed the row's newly generated tokens to its matcher (one per step, normally)."""
        f = self.factory
        for token in generated:
            if row.done:
                return
            row.consumed += 1
            if token == f.eos_id or (f.pad_id is not None and token == f.pad_id):
                row.done = True  # generate stops (or pads) this row from here on
                return
            if row.failed:
                continue
            try:
                if not row.matcher.consume_token(token):
                    self._fail(index, row, row.matcher.get_error() or f"token {token} refused")
                    continue
                row.json.feed(f.token_bytes(token))
            except Exception as exc:  # pragma: no cover - llguidance API misuse
                self._fail(index, row, repr(exc))

    def _fail(self, index: int, row: _Row, why: str) -> None:
        schema = "a request's own" if isinstance(row.key, str) else row.key or "all"
        log.warning("constrained decoding stopped for batch row %d (schema %s): %s", index, schema, why)
        row.failed = True
        self.factory.stats.rows_failed += 1


