"""The review page and /docs in a real browser driven by playwright.

The browser is the one a user has: a Chromium on PATH (``chromium``, ``chromium-browser``,
``google-chrome``), else playwright's own (``python -m playwright install chromium``). Without
one the tests skip and say how to get one; with ``EXTRACTOR_REQUIRE_BROWSER=1`` (``.ci/run`` sets
it) a missing browser fails them instead, so CI never skips silently. This test installs nothing.
Set ``REVIEW_SCREENSHOT=docs/review_page.png`` to refresh the README's screenshot.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import threading
from pathlib import Path
from typing import Callable

import pytest
import uvicorn
from playwright.sync_api import Page, expect, sync_playwright

from extractor_energy.api.app import create_app
from extractor_energy.api.auth import hash_key
from extractor_energy.extraction.review_queue import ReviewQueue
from extractor_energy.domain.schema import ALL_FIELDS
from extractor_energy.synth import generate_bill

from .live_server import free_port, live_server, test_settings

#: names of a system Chromium (or Chrome) on PATH, in order of preference
SYSTEM_BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
REQUIRE_ENV = "EXTRACTOR_REQUIRE_BROWSER"
HOW_TO_GET_ONE = (
    "no Chromium for the browser tests: install playwright's own with `python -m playwright install chromium`, "
    "or a system one on PATH (Debian/Ubuntu: `apt-get install chromium`)"
)
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--no-first-run"]
HOSTILE = '<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2">'


def synthetic_bill(seed: int = 3) -> tuple[bytes, dict]:
    bill = generate_bill("equatorial_go", seed=seed, dpi=100)
    buf = io.BytesIO()
    bill.image.save(buf, "JPEG", quality=85)
    return buf.getvalue(), bill.data.model_dump()


def demo_envelope(truth: dict) -> dict:
    """An answer as the service writes it: one value wrong with low confidence, a failed check, a hostile name."""
    data = {**truth, "nome_cliente": HOSTILE, "valor_fatura": 1.0}
    return {
        "key": "equatorial_go", "concessionaria": "EQUATORIAL", "uf": "GO", "adapter": "equatorial_go",
        "adapter_version": "3f2a9c1b7d0e", "fallback": False, "model": "Qwen/Qwen2.5-VL-3B-Instruct", "model_family": "vlm",
        "pages": 1, "data": data, "confidence": {"valor_fatura": 0.31, "vencimento": 0.97, "mes_referencia": 0.99},
        "requires_review": True,
        "warnings": [{"code": "barcode_amount_mismatch", "fields": ["valor_fatura", "codigo_barras"],
                      "message": "the barcode says another amount <b>bold?</b>"}],
        "timings_ms": {"decode": 1, "ocr": 0, "queue": 1, "preprocess": 1, "generate": 1, "total": 4},
        "batch_size": 1, "tokens_generated": 100,
    }


def find_chromium(playwright_path: str, which: Callable[[str], str | None] = shutil.which) -> str | None:
    """A Chromium on PATH, else playwright's own when it was installed, else None."""
    for name in SYSTEM_BROWSERS:
        if found := which(name):
            return found
    return playwright_path if playwright_path and Path(playwright_path).is_file() else None


def no_browser(env: dict[str, str] | os._Environ = os.environ) -> None:
    """Skip, saying how to get a browser; fail instead when ``EXTRACTOR_REQUIRE_BROWSER=1`` (CI)."""
    if env.get(REQUIRE_ENV, "") not in ("", "0"):
        pytest.fail(f"{HOW_TO_GET_ONE} ({REQUIRE_ENV}=1: a missing browser is a failure here)", pytrace=False)
    pytest.skip(f"{HOW_TO_GET_ONE}; set {REQUIRE_ENV}=1 to make this a failure")


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as pw:
        executable = find_chromium(pw.chromium.executable_path)
        if executable is None:
            no_browser()
        chromium = pw.chromium.launch(executable_path=executable, headless=True, args=FLAGS)
        yield chromium
        chromium.close()


def test_browser_lookup_takes_path_first_then_playwrights_own(tmp_path):
    own = tmp_path / "chrome-linux" / "chrome"
    assert find_chromium(str(own), which=lambda name: None) is None  # playwright's not installed either
    own.parent.mkdir()
    own.write_text("")
    assert find_chromium(str(own), which=lambda name: None) == str(own)
    on_path = {"chromium-browser": "/opt/bin/chromium-browser"}
    assert find_chromium(str(own), which=on_path.get) == "/opt/bin/chromium-browser"


def test_a_missing_browser_skips_with_how_to_or_fails_in_ci():
    with pytest.raises(pytest.skip.Exception, match="playwright install chromium"):
        no_browser({})
    with pytest.raises(pytest.fail.Exception, match="playwright install chromium"):
        no_browser({REQUIRE_ENV: "1"})
    ci = (Path(__file__).resolve().parents[1] / ".ci" / "run").read_text()
    assert f"export {REQUIRE_ENV}=1" in ci  # CI never skips the browser tests silently


def offline(page: Page, base: str) -> list[str]:
    """Refuse every request that leaves the test server; return what was refused."""
    refused: list[str] = []

    def route(r):
        if r.request.url.startswith(base) or r.request.url.startswith(("blob:", "data:")):
            r.continue_()
        else:
            refused.append(r.request.url)
            r.abort()

    page.route("**/*", route)
    return refused


def test_review_page_upload_correct_save_and_hostile_values(browser, tiny_model_dir, tmp_path):
    review_dir = tmp_path / "review"
    keys = f"ops:admin:{hash_key('ee_admin')}"
    settings = test_settings(tiny_model_dir, tmp_path / "adapters", review_dir=review_dir, api_keys=keys)
    content, truth = synthetic_bill()
    demo_id = ReviewQueue(review_dir).add(content, demo_envelope(truth))
    with live_server(settings) as url:
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        refused = offline(page, url)
        page.goto(url + "/ui")
        page.fill("#api-key", "ee_admin")
        page.dispatch_event("#api-key", "change")
        expect(page.locator(f"#queue li[data-id='{demo_id}']")).to_be_visible()

        # a queued answer: page image, fields, highlights; hostile values are text, never markup
        page.click(f"#queue li[data-id='{demo_id}']")
        expect(page.locator("#pages img")).to_have_count(1)
        expect(page.locator("#field-nome_cliente")).to_have_value(HOSTILE)
        assert page.evaluate("window.__pwned") is None
        assert page.locator("#editor img, #editor script, #warnings b").count() == 0
        expect(page.locator("#warnings li")).to_contain_text("<b>bold?</b>")
        assert "low" in page.locator(".field[data-field='valor_fatura']").get_attribute("class")
        assert "flagged" in page.locator(".field[data-field='codigo_barras']").get_attribute("class")
        assert page.locator("#fields .field").count() == len(ALL_FIELDS)
        if os.environ.get("REVIEW_SCREENSHOT"):
            page.screenshot(path=os.environ["REVIEW_SCREENSHOT"], full_page=False)

        # correct one value and save: the row lands in the training format
        page.fill("#field-valor_fatura", f"R$ {truth['valor_fatura']:.2f}".replace(".", ","))
        page.click("#save")
        expect(page.locator("#status")).to_have_text("saved to equatorial_go/annotations.jsonl")
        expect(page.locator(f"#queue li[data-id='{demo_id}']")).to_have_count(0)
        rows = [json.loads(x) for x in (review_dir / "equatorial_go" / "annotations.jsonl").read_text().splitlines()]
        assert rows[-1]["json"]["valor_fatura"] == truth["valor_fatura"]
        assert rows[-1]["json"]["nome_cliente"] == HOSTILE and rows[-1]["image"] == f"bills/{demo_id}.jpg"
        assert (review_dir / "equatorial_go" / rows[-1]["image"]).read_bytes() == content

        # upload a synthetic bill through the page: the tiny model answers, the fields appear
        bill = tmp_path / "fatura.jpg"
        bill.write_bytes(synthetic_bill(seed=8)[0])
        page.set_input_files("#upload-file", str(bill))
        page.fill("#upload-concessionaria", "Cemig Distribuição")
        page.fill("#upload-uf", "mg")
        page.click("#upload-button")
        expect(page.locator("#meta")).to_contain_text("cemig_mg")
        expect(page.locator("#pages img")).to_have_count(1)
        page.fill("#field-num_instalacao", "3012345678")
        page.click("#save")
        expect(page.locator("#status")).to_have_text("saved to cemig_mg/annotations.jsonl")
        saved = json.loads((review_dir / "cemig_mg" / "annotations.jsonl").read_text().splitlines()[-1])
        assert saved["json"]["num_instalacao"] == "3012345678" and saved["key"] == "cemig_mg"
        assert refused == []
        page.close()


def test_docs_render_offline(browser, tmp_path):
    """Swagger UI renders with every request refused but the server's own (no CDN); /docs needs no model."""
    settings = test_settings(tmp_path / "no-model", tmp_path / "adapters")
    server = uvicorn.Server(uvicorn.Config(create_app(settings), host="127.0.0.1", port=free_port(), log_level="warning",
                                           lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        while not server.started:
            assert thread.is_alive(), "the server did not start"
            thread.join(0.05)
        base = f"http://127.0.0.1:{server.config.port}"
        page = browser.new_page()
        refused = offline(page, base)
        page.goto(base + "/docs")
        expect(page.locator(".swagger-ui .info .title")).to_contain_text("extractor-energy")
        expect(page.locator(".opblock-summary-path[data-path='/extract']")).to_be_visible()
        assert refused == []
        page.close()
    finally:
        server.should_exit = True
        thread.join(10)
