"""Synthetic Brazilian electricity bills with exact ground truth.

``make_content`` builds consistent content (no drawing), ``generate_bill`` renders it with the
utility's layout (A4 2ª via or on-site roll), ``capture`` turns it into what a user sends (photo,
screenshot, scan) with the fields that capture hides, ``write_dataset`` writes images/PDFs plus
``annotations.jsonl``.
"""

from __future__ import annotations

from .bill import SyntheticBill, generate_bill
from .canvas import DrawnField
from .capture import Capture, capture
from .content import BillContent, make_content
from .layouts import LAYOUTS
from .writer import write_dataset

__all__ = ["BillContent", "Capture", "DrawnField", "capture", "LAYOUTS", "SyntheticBill", "generate_bill", "make_content", "write_dataset"]
