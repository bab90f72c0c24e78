"""Scoring answers against ground truth."""
