"""Closing a constrained JSON answer before the token budget runs out.

Used by :mod:`extractor_energy.engine.constrained`: a per-row :class:`JsonState` tracks where the
answer is (inside a string, a list item, after a key...), :class:`Budget` knows what a schema
can still demand, and :class:`ClosingTiers` ranks the tokens the grammar allows by how fast
they end the answer, so a row near ``max_new_tokens`` still produces valid JSON.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import torch

from extractor_energy.domain.schema import output_json_schema


@dataclass
class Budget:
    """What a schema can still demand once a row starts closing, in tokens (canonical tokenization)."""

    key_ahead: list[int]  # [r]: most tokens of ',"member":' for a top-level member after position r-1
    short_value: int  # tokens of the shortest values: null / false / []
    item: int  # tokens of the longest minimal list item ({"mes_ano":"0000000","consumo":0}); 0: no lists
    pattern_len: dict[str, int]  # member -> longest value its pattern allows, in characters (>= tokens)
    rank: dict[str, int]  # top-level member -> position (members come in this order)
    last_list_rank: int  # position of the last list-of-objects member (-1: none)
    list_keys: frozenset[str]
    item_members: dict[str, dict[str, int]]  # list member -> its items' members -> tokens of ',"m":value'
    ceiling: int = 0  # no state costs more: with more tokens left than this, closing_cost is not needed

    @classmethod
    def for_schema(cls, key: tuple[str, ...] | None, count: Callable[[str], int]) -> "Budget":
        schema = output_json_schema(key)
        top = schema.get("properties", {})
        defs = {f"#/$defs/{name}": d for name, d in schema.get("$defs", {}).items()}
        lengths: dict[str, int] = {}
        for props in [top, *(d.get("properties", {}) for d in defs.values())]:
            for name, spec in props.items():
                for pattern in _patterns(spec):
                    longest = _pattern_max_len(pattern)
                    if longest is not None:
                        lengths[name] = max(lengths.get(name, 0), longest)
        items: dict[str, int] = {}
        item_members: dict[str, dict[str, int]] = {}
        for name, spec in top.items():
            ref = spec.get("items", {}).get("$ref") if spec.get("type") == "array" else None
            if ref in defs:
                members = {m: f'"{m}":"{"0" * lengths[m]}"' if m in lengths else f'"{m}":0' for m in defs[ref].get("properties", {})}
                items[name] = count("[{" + ",".join(members.values()) + "}]") + 1
                item_members[name] = {m: count("," + text) for m, text in members.items()}
        names = list(top)
        key_costs = [count(f',"{name}":') for name in names]
        key_ahead = [max(key_costs[r:], default=0) for r in range(len(names) + 1)]
        rank = {name: i for i, name in enumerate(names)}
        budget = cls(
            key_ahead=key_ahead, short_value=max(count(v) for v in ("null", "false", "[]")),
            item=max(items.values(), default=0), pattern_len=lengths, rank=rank,
            last_list_rank=max((rank[k] for k in items), default=-1), list_keys=frozenset(items),
            item_members=item_members,
        )
        deepest = 8  # open containers + EOS (the contract nests 3 deep: {, [, {)
        budget.ceiling = (
            deepest + 1 + key_ahead[0] + max(lengths.values(), default=0) + 3 + budget.short_value + 2 * budget.item
            + max((sum(m.values()) for m in item_members.values()), default=0)
        )
        return budget

    def after(self, top_key: str) -> tuple[int, int]:
        """(most tokens a member's key takes, most a short value takes) for a member after ``top_key``."""
        position = self.rank.get(top_key, -1)
        value = self.short_value + (self.item if self.last_list_rank > position else 0)
        return self.key_ahead[position + 1], value

    def value(self, name: str) -> int:
        """Tokens of the value of ``name`` once opened: a whole pattern (barcode...), a list item, or null."""
        if name in self.pattern_len:
            return self.pattern_len[name] + 2
        return self.item if name in self.list_keys else self.short_value

    def key_candidates(self, top_key: str, prefix: str) -> list[str]:
        """Members after ``top_key`` whose name starts with ``prefix`` (the key being written)."""
        position = self.rank.get(top_key, -1)
        return [name for name, r in self.rank.items() if r > position and name.startswith(prefix)]


def _patterns(spec: Any) -> list[str]:
    if isinstance(spec, dict):
        found = [spec["pattern"]] if isinstance(spec.get("pattern"), str) else []
        for sub in spec.get("anyOf", []) + spec.get("oneOf", []):
            found += _patterns(sub)
        return found
    return []


def _pattern_max_len(pattern: str) -> int | None:
    try:
        import re._parser as sre_parse  # Python >= 3.11
    except ImportError:  # pragma: no cover
        import sre_parse  # type: ignore[no-redef]
    try:
        _, longest = sre_parse.parse(pattern).getwidth()
    except Exception:  # pragma: no cover
        return None
    return longest if longest < 1000 else None


_LBRACE, _RBRACE, _LBRACKET, _RBRACKET, _QUOTE, _COLON, _COMMA, _BACKSLASH = b"{}[]\":,\\"


class JsonState:
    """Where a row is inside the (valid, compact) JSON it writes: enough to estimate what closing costs."""

    __slots__ = ("stack", "in_string", "escape", "is_key", "key", "last_key", "top_key", "value_len", "expect", "item_seen")

    def __init__(self) -> None:
        self.stack = bytearray()  # open containers, b"{" / b"["
        self.in_string = False
        self.escape = False
        self.is_key = False
        self.key = bytearray()
        self.last_key = ""  # member whose value comes (or came) last
        self.top_key = ""  # last top-level member
        self.value_len = 0  # characters in the string value being written
        self.expect = "value"  # value | key | colon | after
        self.item_seen: set[str] = set()  # members written in the list item being written

    def feed(self, data: bytes) -> None:
        for byte in data:
            if self.in_string:
                if self.escape:
                    self.escape = False
                elif byte == _BACKSLASH:
                    self.escape = True
                elif byte == _QUOTE:
                    self.in_string = False
                    if self.is_key:
                        self.last_key = self.key.decode("utf-8", "replace")
                        if len(self.stack) == 1:
                            self.top_key = self.last_key
                        else:
                            self.item_seen.add(self.last_key)
                        self.expect = "colon"
                    else:
                        self.expect = "after"
                    continue
                if self.is_key:
                    self.key.append(byte)
                else:
                    self.value_len += 1
            elif byte == _QUOTE:
                self.in_string = True
                self.is_key = self.expect == "key"
                self.key = bytearray()
                self.value_len = 0
            elif byte in (_LBRACE, _LBRACKET):
                self.stack.append(byte)
                self.expect = "key" if byte == _LBRACE else "value"
                if byte == _LBRACE and len(self.stack) >= 2:
                    self.item_seen = set()
            elif byte in (_RBRACE, _RBRACKET):
                if self.stack:
                    self.stack.pop()
                self.expect = "after"
            elif byte == _COLON:
                self.expect = "value"
            elif byte == _COMMA:
                self.expect = "key" if self.stack and self.stack[-1] == _LBRACE else "value"
            else:  # number / literal characters
                self.expect = "after"

    def closing_cost(self, budget: Budget) -> int:
        """Estimate (generous) of the tokens that closing the answer from here takes in closing mode.

        It also covers what the *next* token could open before closing starts (a member and its
        list's first item can come in a few tokens), so a row switches to closing mode in time.
        """
        depth = len(self.stack)
        cost = depth + 1  # one closer per open container, then EOS
        if self.in_string and not self.is_key:  # a pattern (date, barcode) may have to be finished
            cost += max(budget.pattern_len.get(self.last_key, 0) - self.value_len, 0) + 1 + self.escape
        if depth >= 2:
            if self.stack[-1] == _LBRACKET:  # between items: '{' or ',{' may open the next one
                return cost + budget.item
            members = budget.item_members.get(self.top_key, {})  # inside an item: what it still lacks
            cost += sum(c for m, c in members.items() if m not in self.item_seen)
            if not self.in_string and self.expect in ("colon", "value"):
                cost += budget.value(self.last_key)
            return cost
        key, value = budget.after(self.top_key)
        if depth == 0:  # the start: '{' and maybe a first member
            cost += 1 + key + value
        elif self.in_string and self.is_key:  # the value may open with the token that ends the key ('":"')
            names = budget.key_candidates(self.top_key, self.key.decode("utf-8", "replace"))
            cost += key + max([budget.value(n) for n in names], default=value)
        elif self.expect in ("key", "after"):  # after a member, ',"key":' may come next
            cost += key + value
        elif self.expect in ("colon", "value"):  # before a barcode's opening quote: room for all of it?
            cost += budget.value(self.last_key)
        return cost


@dataclass
class ClosingTiers:
    """Token sets preferred, in order, in closing mode (each intersected with what the grammar allows)."""

    in_string: list[torch.Tensor]
    in_key: list[torch.Tensor]
    outside: list[torch.Tensor]

    @classmethod
    def build(cls, ll_tokenizer: Any, vocab_size: int, eos_id: int) -> "ClosingTiers":
        quote_close = torch.zeros(vocab_size, dtype=torch.bool)
        closers = torch.zeros(vocab_size, dtype=torch.bool)
        null_prefix = torch.zeros(vocab_size, dtype=torch.bool)
        digits = torch.zeros(vocab_size, dtype=torch.bool)
        quote = torch.zeros(vocab_size, dtype=torch.bool)
        open_list = torch.zeros(vocab_size, dtype=torch.bool)
        open_object = torch.zeros(vocab_size, dtype=torch.bool)
        key_only = torch.zeros(vocab_size, dtype=torch.bool)  # ends a key at most at its ':', opens no value
        closer_re, quote_close_re, digits_re = re.compile(rb"[}\]]+"), re.compile(rb'"[}\]]*'), re.compile(rb"[0-9]+")
        for token in range(vocab_size):
            if ll_tokenizer.is_special_token(token):
                continue
            text = ll_tokenizer.decode_bytes([token])
            if not text:
                continue
            if closer_re.fullmatch(text):
                closers[token] = True
            if quote_close_re.fullmatch(text):
                quote_close[token] = True
            if text == b'"':
                quote[token] = True
            if text in (b"[", b"[]"):
                open_list[token] = True
            if text == b"{":
                open_object[token] = True
            colon = text.find(b":")
            if colon < 0 or colon == len(text) - 1:
                key_only[token] = True
            if b"null".startswith(text):
                null_prefix[token] = True
            if digits_re.fullmatch(text):
                digits[token] = True
        if 0 <= eos_id < vocab_size:
            closers[eos_id] = True
        return cls(
            in_string=[pack_bitmask(quote_close), pack_bitmask(digits)], in_key=[pack_bitmask(key_only)],
            outside=[pack_bitmask(t) for t in (closers, null_prefix, open_list, digits, quote, open_object)],
        )

    def prefer(self, allowed: torch.Tensor, state: JsonState) -> torch.Tensor:
        """The allowed tokens (a row's int32 bitmask) of the first tier that has any, else all of them."""
        if state.in_string:
            tiers = self.in_key if state.is_key else self.in_string
        else:
            tiers = self.outside
        for tier in tiers:
            pick = allowed & tier
            if bool(pick.any()):
                return pick
        return allowed


_SHIFTS: dict[torch.device, torch.Tensor] = {}


def unpack_bitmask(bitmask: torch.Tensor, width: int) -> torch.Tensor:
    """(batch, words) int32 bitmask -> (batch, width) bool; bit j of word k is token 32k+j."""
    if bitmask.device.type == "cpu":  # numpy's unpackbits: ~3x faster than the shifts below on CPU
        bits = np.unpackbits(bitmask.numpy().view(np.uint8), axis=1, count=width, bitorder="little")
        return torch.from_numpy(bits).view(torch.bool)
    shifts = _SHIFTS.get(bitmask.device)
    if shifts is None:
        shifts = _SHIFTS[bitmask.device] = torch.arange(32, dtype=torch.int32, device=bitmask.device)
    bits = (bitmask.unsqueeze(-1) >> shifts) & 1
    return bits.reshape(bitmask.shape[0], -1)[:, :width].bool()


def pack_bitmask(flags: torch.Tensor) -> torch.Tensor:
    """(vocab,) bool -> (words,) int32 bitmask, the layout llguidance writes."""
    packed = np.packbits(flags.numpy().astype(np.uint8), bitorder="little")
    packed = np.concatenate([packed, np.zeros((-len(packed)) % 4, dtype=np.uint8)])
    return torch.from_numpy(packed.view(np.int32).copy())
