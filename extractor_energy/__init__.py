"""extractor-energy: structured JSON from Brazilian electricity bills."""

__version__ = "0.1.0"
