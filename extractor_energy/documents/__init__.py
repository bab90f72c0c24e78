"""Uploads to pages: decoding, limits, PDF pages and page text (PDF text layer or OCR)."""
