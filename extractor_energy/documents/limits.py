"""``DocumentLimits``: what one upload may cost to decode.

Its own module so both :mod:`extractor_energy.documents.decode` and :mod:`extractor_energy.documents.pdf`
(which ``documents`` calls) depend on it, and not on each other. Build it from the settings with
:meth:`extractor_energy.config.Settings.document_limits`; the defaults here are the settings'.
"""

from __future__ import annotations

from dataclasses import dataclass, fields


@dataclass(frozen=True)
class DocumentLimits:
    """Per-request limits (all must be positive)."""

    max_upload_bytes: int = 20 * 1024 * 1024
    max_image_pixels: int = 50_000_000  # decompression-bomb guard on the decoded image
    max_pdf_pages: int = 4
    pdf_dpi: int = 200  # render resolution; keeps small print readable
    model_max_pixels: int = 1280 * 28 * 28  # per-page pixel budget sent to the model

    def __post_init__(self) -> None:
        for f in fields(self):
            if getattr(self, f.name) <= 0:
                raise ValueError(f"DocumentLimits.{f.name} must be positive")
