"""Synthetic Brazilian electricity bills with exact ground truth.

``make_content`` builds consistent content (no drawing), ``generate_bill`` renders it with the
utility's layout (A4 2ª via or on-site roll), ``capture`` turns it into what a user sends (photo,
screenshot, scan) with the fields that capture hides, ``write_dataset`` writes images/PDFs plus
``annotations.jsonl`` (with the box of every value the file shows, for provenance scoring).
"""

from __future__ import annotations

from extractor_energy.synth.bill import SyntheticBill, generate_bill
from extractor_energy.synth.boxes import FieldBox
from extractor_energy.synth.canvas import DrawnField
from extractor_energy.synth.capture import Capture, capture
from extractor_energy.synth.content import BillContent, make_content
from extractor_energy.synth.layouts import LAYOUTS
from extractor_energy.synth.writer import write_dataset

#: Bumped whenever a change to the generator changes the bills a seed gives (layouts, captures, content):
#: recorded in the metadata of adapters trained on its bills, so figures name the bills they were made on.
GENERATOR_VERSION = "3"

__all__ = ["GENERATOR_VERSION", "BillContent", "Capture", "DrawnField", "FieldBox", "capture", "LAYOUTS", "SyntheticBill", "generate_bill", "make_content", "write_dataset"]
