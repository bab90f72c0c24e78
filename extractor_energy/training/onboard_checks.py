"""Guard rails of ``train --from-review``: a correction set that would train a worse adapter is refused.

* too few bills: part is held out to decide whether to publish, the rest must teach the layout;
* one capture type only (all PDFs, or all photos): the adapter would learn how one kind of page
  text reads and be judged on that kind alone;
* corrections that contradict the page: a corrected value printed nowhere on the bill's page text
  (the text the server reads: PDF text layer or OCR) teaches the model to want a value it can
  never choose. A few are tolerated (OCR misses, hand-typed fixes) and listed; many refuse the run.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from extractor_energy.documents.page_text import TextBox
from extractor_energy.domain.schema import coerce_bill
from extractor_energy.training.config import TrainingError
from extractor_energy.training.dataset_rows import DatasetRow

#: fewest corrected bills: MIN_HELD_OUT decide whether to publish, the rest train
MIN_BILLS = 5
MIN_HELD_OUT = 1
#: fields whose corrected value must be printed on the page (values a reviewer reads, not derives)
PRINTED_FIELDS = ("num_instalacao", "mes_referencia", "vencimento", "valor_fatura", "consumo_kwh")
#: above this share of bills with a contradicting correction, the run is refused
MAX_CONTRADICTING_SHARE = 0.2


class OnboardError(TrainingError):
    """The corrections cannot train an adapter as they are; the message says what to do."""


@dataclass
class Contradiction:
    row: DatasetRow
    fields: dict[str, Any] = field(default_factory=dict)  # field -> corrected value not on the page

    def __str__(self) -> str:
        values = ", ".join(f"{k}={v!r}" for k, v in self.fields.items())
        return f"{self.row.source} (bill {self.row.id}): {values} printed nowhere on its page text"


def capture_of(row: DatasetRow) -> str:
    """``pdf`` (a PDF: text layer, or scanned) or ``image`` (photo, screenshot, scan)."""
    return "pdf" if all(name.lower().endswith(".pdf") for name in row.images) else "image"


def _text_pages(texts: list[str]) -> list[Any]:
    """Page texts as positioned lines (one line per text line, ``|`` gaps kept) for the candidate finder."""
    from extractor_energy.documents.page_text import PageText

    pages = []
    for text in texts:
        boxes = []
        for y, line in enumerate(text.splitlines()):
            x = 0.0
            for piece in line.split(" | "):
                if piece.strip():
                    boxes.append(TextBox(piece, x, y * 20.0, x + 8.0 * len(piece), y * 20.0 + 12.0))
                x += 8.0 * len(piece) + 60.0
        pages.append(PageText(text, "pdf_text", boxes=boxes, width=2000, height=20 * (text.count("\n") + 2)))
    return pages


def _printed_values(texts: list[str]) -> tuple[list[Any], str, str]:
    """Every candidate value on the pages, the folded text and its digits only."""
    from extractor_energy.grounding.candidates import find_candidates
    from extractor_energy.grounding.lines import page_lines

    values = [c.value for c in find_candidates(page_lines(_text_pages(texts)))]
    text = "\n".join(texts)
    return values, text, re.sub(r"\D", "", text)


def _on_page(name: str, value: Any, printed: tuple[list[Any], str, str]) -> bool:
    candidates, text, digits = printed
    if name == "num_instalacao":
        wanted = re.sub(r"\D", "", str(value))
        return bool(wanted) and wanted in digits
    for candidate in candidates:
        coerced, _ = coerce_bill({name: candidate})
        if getattr(coerced, name) == value:
            return True
    if isinstance(value, float):  # money as printed: 1.234,56 or 1234,56
        plain = f"{value:.2f}".replace(".", ",")
        grouped = f"{value:,.2f}".replace(",", "_").replace(".", ",").replace("_", ".")
        return plain in text or grouped in text
    return str(value) in text


def contradictions(rows: list[DatasetRow]) -> list[Contradiction]:
    """Bills whose corrected :data:`PRINTED_FIELDS` hold a value printed nowhere on their page text."""
    found = []
    for row in rows:
        if not row.page_texts or not any(t.strip() for t in row.page_texts):
            continue  # no text read: nothing to contradict (the page_unreadable warning says so at serving)
        printed = _printed_values(row.page_texts)
        data = row.data.model_dump()
        bad = {name: data[name] for name in PRINTED_FIELDS if data.get(name) not in (None, "", [])
               and not _on_page(name, data[name], printed)}
        if bad:
            found.append(Contradiction(row, bad))
    return found


def check_corrections(rows: list[DatasetRow], key: str, *, min_bills: int = MIN_BILLS,
                      allow_single_capture: bool = False) -> list[str]:
    """Refuse (:class:`OnboardError`) a set that would train a worse adapter; return warnings to print."""
    if len(rows) < min_bills:
        raise OnboardError(
            f"{len(rows)} usable corrected bill(s) for {key}; at least {min_bills} are needed: {MIN_HELD_OUT} or more are "
            f"held out to decide whether the new adapter beats the one serving now, and fewer than {min_bills - MIN_HELD_OUT} "
            "training bills teach the layout no better than the generic adapter. Correct more bills of this key on the "
            "review page (/ui shows the count per key)"
        )
    captures = sorted({capture_of(r) for r in rows})
    if len(captures) == 1 and not allow_single_capture:
        other = "photos or screenshots" if captures == ["pdf"] else "PDFs (as the utility sends them)"
        raise OnboardError(
            f"all {len(rows)} corrected bills of {key} are {'PDFs' if captures == ['pdf'] else 'images'}: the adapter would "
            f"learn how that one capture reads and be judged on it alone. Add corrected {other} of this utility, or pass "
            "--allow-single-capture if your users only ever send this kind"
        )
    found = contradictions(rows)
    listing = "\n  ".join(str(c) for c in found[:20]) + (f"\n  ... and {len(found) - 20} more" if len(found) > 20 else "")
    if found and len(found) > MAX_CONTRADICTING_SHARE * len(rows):
        raise OnboardError(
            f"{len(found)} of {len(rows)} corrected bills of {key} hold values printed nowhere on their page (more than "
            f"{MAX_CONTRADICTING_SHARE:.0%}): fix them on the review page or delete them, then run again:\n  {listing}"
        )
    return [f"{len(found)} bill(s) hold a corrected value not found on the page text (tolerated, check them):\n  {listing}"
            ] if found else []
