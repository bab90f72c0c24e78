"""Consistency checks on an extracted bill, returned as warnings that name the fields involved.

One module per family of rules (``dates``, ``consumption``, ``open_bills``, ``payment_codes``,
``address``, ``money``, ``tariff``); each lists its rules in a ``RULES`` table, and this package
registers them in that order. A rule reads a :class:`BillData` and yields :class:`Finding` objects;
it is quiet when the fields it needs are null (or unreadable: a malformed value is reported once,
by the rule that owns its format, never by the others). Adding a rule elsewhere is one function
decorated with :func:`rule`; its codes join :data:`ALL_RULE_CODES`.

The checks never change the data: they only say what looks wrong, so a billing clerk (or the
confidence logic) can look at those fields again.
"""

from __future__ import annotations

import logging
from typing import Any, Callable, Iterable

from extractor_energy.domain.checks import address, consumption, dates, money, open_bills, payment_codes, tariff
from extractor_energy.domain.checks.base import Finding, Rule
from extractor_energy.domain.schema import BillData

__all__ = ["ALL_RULE_CODES", "FAMILIES", "Finding", "RULES", "RULE_CODES", "Rule", "check_bill", "findings_to_warnings", "rule"]

log = logging.getLogger(__name__)

#: The registered rules, run in this order by :func:`check_bill`.
RULES: list[Rule] = []
#: rule -> the codes it may emit.
RULE_CODES: dict[Rule, tuple[str, ...]] = {}

#: The families, in the order their rules run (findings come out in this order).
FAMILIES = (dates, consumption, open_bills, payment_codes, address, money, tariff)


def rule(*codes: str) -> Callable[[Rule], Rule]:
    """Register a rule function together with the finding codes it may emit (a code is taken once)."""

    def register(fn: Rule) -> Rule:
        taken = {c for cs in RULE_CODES.values() for c in cs}
        clash = taken.intersection(codes)
        if clash:
            raise ValueError(f"rule codes already registered: {sorted(clash)}")
        RULES.append(fn)
        RULE_CODES[fn] = tuple(codes)
        return fn

    return register


for _family in FAMILIES:
    for _rule in _family.RULES:
        rule(*_rule.codes)(_rule)

#: Every code a rule may emit, in rule order.
ALL_RULE_CODES: tuple[str, ...] = tuple(code for fn in RULES for code in RULE_CODES[fn])


def check_bill(data: BillData) -> list[Finding]:
    """Run every registered rule; a rule that crashes is logged and skipped, never fatal."""
    findings: list[Finding] = []
    for fn in RULES:
        try:
            findings.extend(fn(data))
        except Exception:  # a check must never take down an extraction
            log.exception("consistency rule %s failed", getattr(fn, "__name__", fn))
    return findings


def findings_to_warnings(findings: Iterable[Finding]) -> list[dict[str, Any]]:
    """The API form: ``[{"code", "fields", "message"}]`` with plain lists, JSON-ready."""
    return [{"code": f.code, "fields": list(f.fields), "message": f.message} for f in findings]
