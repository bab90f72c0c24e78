"""Model answer text -> contract. JSON is repaired only where that is safe; never raises."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import json_repair

from extractor_energy.domain.schema import BillData, coerce_bill


@dataclass
class ParsedAnswer:
    data: BillData
    raw: dict[str, Any] | None
    warnings: list[dict[str, Any]] = field(default_factory=list)


def warning(code: str, message: str, fields: list[str] | tuple[str, ...] = ()) -> dict[str, Any]:
    """The shape of every entry in a response's ``warnings``."""
    return {"code": code, "fields": list(fields), "message": message}


def parse_answer(text: str) -> ParsedAnswer:
    """Parse the model's answer into the contract, collecting what had to be repaired or dropped."""
    warnings: list[dict[str, Any]] = []
    stripped = text.strip()
    try:
        raw: Any = json.loads(stripped)
    except json.JSONDecodeError:
        raw = json_repair.loads(stripped) if stripped else None
        if isinstance(raw, dict) and raw:
            warnings.append(warning("json_repaired", "the model's answer was not valid JSON and was repaired; check the values"))
    if not isinstance(raw, dict) or not raw:
        warnings.append(
            warning("unparseable_answer", "the model's answer held no JSON object; every field is empty (null/false/[])")
        )
        return ParsedAnswer(data=BillData(), raw=None, warnings=warnings)
    data, problems = coerce_bill(raw)
    warnings += [warning("invalid_value" if p.field in BillData.model_fields else "unknown_field", str(p), [p.field]) for p in problems]
    return ParsedAnswer(data=data, raw=raw, warnings=warnings)
