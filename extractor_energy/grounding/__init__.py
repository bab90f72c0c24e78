"""Grounded extraction: every value is read off the page, never written.

``lines`` rebuilds positioned lines from page text boxes; ``candidates`` finds every span that
could be a value (typed, with its box); ``fields`` says, per contract field, which candidate kinds
and which printed labels count; ``ranker`` scores candidates by label evidence, layout and
cross-checks and picks one per field (or none); ``structures`` reads lists, addresses, enums and
flags; ``extract`` puts it together into a contract with a source per value.
"""

from extractor_energy.grounding.extract import GroundedAnswer, ground_bill, locate_sources

__all__ = ["GroundedAnswer", "ground_bill", "locate_sources"]
