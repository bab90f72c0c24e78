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


# ---------------------------------------------------------------------------- package layout
#: flat modules allowed in extractor_energy/ (everything else lives in a sub-package)
MAX_FLAT_MODULES = 6
MAX_LINES = 350
#: modules allowed past MAX_LINES, each one concern that does not split well, capped so they do not grow:
ALLOWED_LONG = {
    "engine/constrained.py": "one JSON-schema automaton for constrained decoding; its states read best together",
    "adapters/validation.py": "every refusal rule of an adapter folder, each with its actionable message",
    "documents/page_text.py": "PDF text layer and OCR page reading with their one prompt-text budget",
    "synth/capture.py": "the photo/scan/screenshot capture simulation and which fields each capture hides",
    "cli/extract.py": "the batch extraction command: inputs, the worker pool and its report",
}
ALLOWED_LONG_CAP = 420


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in PACKAGE.rglob("*.py")}


def _import_time_edges(path: Path, modules: dict[str, Path]) -> set[str]:
    """Package modules imported when ``path`` is imported: top-level imports, not those inside functions
    or under ``if TYPE_CHECKING``."""
    found: set[str] = set()

    def visit(statements: list[ast.stmt]) -> None:
        for node in statements:
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                continue
            if isinstance(node, (ast.If, ast.Try)):
                visit(node.body + node.orelse + [s for h in getattr(node, "handlers", []) for s in h.body])
            elif isinstance(node, ast.Import):
                found.update(a.name for a in node.names if a.name in modules)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module in modules:
                subs = {f"{node.module}.{a.name}" for a in node.names} & set(modules)
                found.update(subs or {node.module})
                if len(subs) < len(node.names):
                    found.add(node.module)

    visit(ast.parse(path.read_text(encoding="utf-8")).body)
    return found


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _import_time_edges(path, modules) for name, path in modules.items()}


def test_at_most_six_flat_modules():
    flat = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert len(flat) <= MAX_FLAT_MODULES, flat


def test_no_import_circle():
    graph, state, circles = _graph(), {}, []

    def walk(node: str, stack: list[str]) -> None:
        state[node] = "open"
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                circles.append(stack[stack.index(nxt):] + [nxt])
            elif nxt not in state:
                walk(nxt, stack + [nxt])
        state[node] = "done"

    for name in sorted(graph):
        if name not in state:
            walk(name, [name])
    assert not circles, [" -> ".join(c) for c in circles]


def test_the_model_replica_imports_nothing_of_the_http_api():
    """A Ray model replica builds the service through extraction.wiring; only the ingress serves HTTP."""
    graph, seen, todo = _graph(), set(), ["extractor_energy.ray_serve.replica"]
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo += graph.get(name, ())
    assert "extractor_energy.extraction.wiring" in seen
    assert not sorted(m for m in seen if m.startswith("extractor_energy.api")), "the replica pulls in the HTTP API"
    importers = {n for n, edges in graph.items() if n.startswith("extractor_energy.ray_serve")
                 and any(e.startswith("extractor_energy.api") for e in edges)}
    assert importers <= {"extractor_energy.ray_serve.ingress"}, importers


def test_no_module_is_over_the_size_limit():
    too_long = {}
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(PACKAGE).as_posix()
        lines = len(path.read_text(encoding="utf-8").splitlines())
        limit = ALLOWED_LONG_CAP if rel in ALLOWED_LONG else MAX_LINES
        if lines > limit:
            too_long[rel] = lines
    assert not too_long, f"split these modules (at most {MAX_LINES} lines): {too_long}"


def test_the_allow_list_is_still_needed():
    stale = [rel for rel in ALLOWED_LONG
             if (PACKAGE / rel).is_file() and len((PACKAGE / rel).read_text(encoding="utf-8").splitlines()) <= MAX_LINES]
    assert not stale, f"now short enough: drop them from ALLOWED_LONG: {stale}"
