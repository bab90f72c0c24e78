"""ASGI entry point: ``uvicorn main:app`` (settings from EXTRACTOR_* variables / .env)."""

from extractor_energy.api.app import create_app

app = create_app()
