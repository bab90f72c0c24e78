"""The review page draws where a value was read (issue 20, provenance): the field in focus, or under
the mouse, gets its source box over the bill's page, scaled from ``page_sizes`` to the page as shown;
blur clears it. Same browser and helpers as ``test_review_browser``."""

from __future__ import annotations

import io

from playwright.sync_api import Page, expect

from extractor_energy.api.auth import hash_key
from extractor_energy.extraction.review_queue import ReviewQueue

from .conftest import bill_image
from .live_server import live_server, test_settings
from .test_review_browser import HOSTILE, browser, demo_envelope, offline, synthetic_bill  # noqa: F401 (browser: fixture)

#: the server decoded the page at twice the size the review page shows it: boxes must be scaled by page_sizes
SCALE = 2


def two_page_pdf() -> bytes:
    buf = io.BytesIO()
    bill_image(1, size=(400, 560)).save(buf, "PDF", save_all=True, append_images=[bill_image(2, size=(400, 560))],
                                        resolution=72)
    return buf.getvalue()


def geometry(page: Page, n: int) -> dict:
    """The content box of page ``n``'s image and the rectangles of the source boxes drawn over it."""
    return page.evaluate("""(n) => {
        const img = document.querySelector(`#pages .page[data-page="${n}"] img`);
        const r = img.getBoundingClientRect();
        const boxes = [...document.querySelectorAll(`#pages .page[data-page="${n}"] .source-box`)].map((b) => {
            const q = b.getBoundingClientRect();
            return {x: q.left, y: q.top, w: q.width, h: q.height, field: b.dataset.field, title: b.title};
        });
        return {x: r.left + img.clientLeft, y: r.top + img.clientTop, w: img.clientWidth, h: img.clientHeight, boxes};
    }""", n)


def assert_drawn_at(got: dict, box: list[float], frame: tuple[int, int]) -> None:
    """A drawn rectangle sits where ``box`` (in a page of ``frame`` pixels) falls on the image as shown."""
    sx, sy = got["img"]["w"] / frame[0], got["img"]["h"] / frame[1]
    want = (got["img"]["x"] + box[0] * sx, got["img"]["y"] + box[1] * sy, (box[2] - box[0]) * sx, (box[3] - box[1]) * sy)
    drawn = (got["box"]["x"], got["box"]["y"], got["box"]["w"], got["box"]["h"])
    assert all(abs(a - b) <= 1.5 for a, b in zip(drawn, want)), (drawn, want)


def open_item(page: Page, item_id: str) -> None:
    page.click(f"#queue li[data-id='{item_id}']")
    expect(page.locator("#editor")).to_be_visible()
    page.wait_for_function("[...document.querySelectorAll('#pages img')].every((i) => i.complete && i.naturalWidth)")


def test_focused_field_shows_its_source_box_scaled_to_the_page(browser, tiny_model_dir, tmp_path):
    review_dir = tmp_path / "review"
    settings = test_settings(tiny_model_dir, tmp_path / "adapters", review_dir=review_dir,
                             api_keys=f"ops:admin:{hash_key('ee_admin')}")
    content, truth = synthetic_bill()
    from PIL import Image

    width, height = Image.open(io.BytesIO(content)).size
    frame = (width * SCALE, height * SCALE)
    total = [0.55 * frame[0], 0.40 * frame[1], 0.85 * frame[0], 0.43 * frame[1]]
    rows = [[0.05 * frame[0], 0.70 * frame[1] + 30 * i, 0.40 * frame[0], 0.70 * frame[1] + 30 * i + 24] for i in range(3)]
    envelope = {**demo_envelope(truth), "page_sizes": [list(frame)], "sources": {
        "valor_fatura": {"page": 1, "box": total, "text": HOSTILE},
        "vencimento": None,  # answered, not located: nothing is drawn
        "consumo_lista": [{"page": 1, "box": rows[0], "text": "04/2025 | 340"}, None,
                          {"page": 1, "box": rows[2], "text": "02/2025 | 298"}],
    }}
    queue = ReviewQueue(review_dir)
    item = queue.add(content, envelope)
    pdf = queue.add(two_page_pdf(), {**demo_envelope(truth), "pages": 2, "page_sizes": [[1000, 1400], [1000, 1400]],
                                     "sources": {"num_instalacao": {"page": 2, "box": [100, 200, 500, 400],
                                                                    "text": "3012345678"}}})
    with live_server(settings) as url:
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        refused = offline(page, url)
        page.goto(url + "/ui")
        page.fill("#api-key", "ee_admin")
        page.dispatch_event("#api-key", "change")
        open_item(page, item)
        overlays = page.locator("#pages .source-box")
        expect(overlays).to_have_count(0)

        # focus: one box, where the total was read, scaled from the server's page size to the page as shown
        page.focus("#field-valor_fatura")
        expect(overlays).to_have_count(1)
        got = geometry(page, 1)
        assert got["w"] < frame[0] / SCALE  # shown smaller than the image itself: the scaling is exercised
        assert_drawn_at({"img": got, "box": got["boxes"][0]}, total, frame)
        assert got["boxes"][0]["field"] == "valor_fatura" and got["boxes"][0]["title"] == HOSTILE  # text, not markup
        assert page.evaluate("window.__pwned") is None

        # blur (focus a field with a null source): cleared, nothing drawn
        page.focus("#field-vencimento")
        expect(overlays).to_have_count(0)
        page.focus("#field-valor_fatura")
        expect(overlays).to_have_count(1)
        page.evaluate("document.activeElement.blur()")
        expect(overlays).to_have_count(0)

        # hover: a list field shows one box per located row
        page.hover(".field[data-field='consumo_lista'] label")
        expect(overlays).to_have_count(2)
        got = geometry(page, 1)
        for drawn, box in zip(got["boxes"], (rows[0], rows[2])):
            assert_drawn_at({"img": got, "box": drawn}, box, frame)
        page.hover("header h1")
        expect(overlays).to_have_count(0)

        # a PDF: the box is drawn on the page it was read on
        open_item(page, pdf)
        expect(page.locator("#pages img")).to_have_count(2)
        page.focus("#field-num_instalacao")
        expect(page.locator("#pages .page[data-page='2'] .source-box")).to_have_count(1)
        expect(page.locator("#pages .page[data-page='1'] .source-box")).to_have_count(0)
        got = geometry(page, 2)
        assert_drawn_at({"img": got, "box": got["boxes"][0]}, [100, 200, 500, 400], (1000, 1400))
        assert refused == []
        page.close()
