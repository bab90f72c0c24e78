"""A plain label-anchored rule baseline (~40 lines): the yardstick the grounded extractor must beat.

For each field: the first line holding one of its label synonyms (real_layouts.md §5, no tuning to
any held-out seed); the first value of the field's type after the label on that line, else the
first one on the next line. No columns, no cross-checks, no anti-labels.
"""

from __future__ import annotations

import re
from typing import Any

from extractor_energy.domain import normalize as n

LABELS = {
    "mes_referencia": r"CONTA M[EÊ]S|REF[:.]? ?M[EÊ]S|M[EÊ]S ?/ ?ANO|REFER[EÊ]NCIA|REFERENTE A|COMPET[EÊ]NCIA",
    "vencimento": r"VENCIMENTO|VENCTO",
    "valor_fatura": r"TOTAL A PAGAR|VALOR A PAGAR|VALOR TOTAL|TOTAL DA FATURA|VALOR COBRADO",
    "consumo_kwh": r"CONSUMO.*KWH|CONSUMO",
    "num_instalacao": r"INSTALA[CÇ][AÃ]O|UNIDADE CONSUMIDORA|\bUC\b",
    "cod_cliente": r"CLIENTE|PARCEIRO DE NEG",
}
VALUES = {
    "mes_referencia": (r"(?:[A-Z]{3}\.?/ ?\d{2,4}|\d{1,2}/\d{4})(?!/)", n.month),
    "vencimento": (r"\d{2}/\d{2}/\d{4}", n.full_date),
    "valor_fatura": (r"\d{1,3}(?:\.\d{3})*,\d{2}", n.money),
    "consumo_kwh": (r"(?<![\d,./])\d{1,6}(?![\d,/])", n.integer),
    "num_instalacao": (r"\d[\d.\-]{4,}\d", n.text),
    "cod_cliente": (r"\d[\d.\-/]{4,}\d", n.text),
}


def baseline(text: str) -> dict[str, Any]:
    lines = text.upper().splitlines()
    out: dict[str, Any] = {}
    for field, label in LABELS.items():
        pattern, normalise = VALUES[field]
        for i, line in enumerate(lines):
            m = re.search(label, line)
            if not m:
                continue
            for candidate_line in (line[m.end():], lines[i + 1] if i + 1 < len(lines) else ""):
                v = re.search(pattern, candidate_line)
                if v:
                    try:
                        out[field] = normalise(v.group(0))
                    except ValueError:
                        continue
                    break
            if field in out:
                break
    return out
