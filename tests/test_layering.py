"""The service layer knows nothing of HTTP, and the module graph keeps its direction."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "extractor_energy"
#: modules that serve an extraction without knowing how it arrived (HTTP, a batch job, another framework)
SERVICE_LAYER = ["extraction/service.py", "errors.py", "documents/decode.py", "documents/limits.py", "documents/pdf.py",
                 "documents/decode_pool.py", "extraction/review_queue.py"]
HTTP_PACKAGES = {"fastapi", "starlette", "http"}


def _imports(tree: ast.AST) -> set[str]:
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return names


@pytest.mark.parametrize("module", SERVICE_LAYER)
def test_the_service_layer_neither_imports_http_nor_carries_status_codes(module):
    tree = ast.parse((PACKAGE / module).read_text(encoding="utf-8"))
    assert not {name.split(".")[0] for name in _imports(tree)} & HTTP_PACKAGES
    for node in ast.walk(tree):
        assert not (isinstance(node, ast.Attribute) and node.attr in ("status", "status_code")), f"{module}:{node.lineno}"
        if isinstance(node, ast.Raise):  # e.g. raise SomeError(413, ...)
            codes = [c.value for c in ast.walk(node) if isinstance(c, ast.Constant) and type(c.value) is int
                     and 400 <= c.value <= 599]
            assert not codes, f"{module}:{node.lineno} raises with HTTP status {codes}"


def test_importing_the_service_loads_no_web_framework():
    code = ("import sys, extractor_energy.extraction.service, extractor_energy.extraction.review_queue; "
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'fastapi', 'starlette'}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_pdf_pages_does_not_import_documents():
    """``documents.decode`` calls ``documents.pdf``; what both need lives below them (documents.limits, errors)."""
    tree = ast.parse((PACKAGE / "documents/pdf.py").read_text(encoding="utf-8"))
    imported = _imports(tree)
    assert "extractor_energy.documents.decode" not in imported
    assert {"extractor_energy.documents.limits", "extractor_energy.errors"} <= imported
