"""Boxes of drawn values through captures (issue 20, provenance accuracy): they cover the value's ink."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pypdfium2 as pdfium
import pytest
from PIL import Image, ImageDraw, ImageOps

from extractor_energy.documents.decode import DocumentLimits, load_document
from extractor_energy.documents.pdf import page_text_boxes
from extractor_energy.synth import generate_bill, write_dataset
from extractor_energy.synth.boxes import locate
from extractor_energy.synth.canvas import DrawnField
from extractor_energy.synth.capture import capture
from extractor_energy.synth.writer import bill_seed

#: the server's text-family limits (config.Settings().document_limits("text") with default settings)
TEXT_LIMITS = DocumentLimits(model_max_pixels=4_000_000)
PROBES = ("valor_fatura", "vencimento", "num_instalacao")


def test_locate_keeps_the_boxes_of_visible_occurrences_only() -> None:
    visible = np.full((100, 200), 255, np.uint8)
    visible[:, :100] = 0  # left half covered
    fields = [DrawnField("valor_fatura", "R$ 1,00", (10, 10, 50, 20), 0),  # covered
              DrawnField("valor_fatura", "1,00", (150, 10, 190, 20), 0),  # shown
              DrawnField("consumo_lista.3.consumo", "130", (90, 60, 150, 70), 0),  # half covered
              DrawnField("nome_cliente", "ANA", (150, 90, 190, 130), 0),  # half out of frame
              DrawnField("cep", "01000-000", (120, 40, 160, 50), 1)]  # on a page the capture does not show
    hidden, boxes = locate(fields, lambda _p, x, y: (x + 0.5, y), visible)
    assert hidden == ["cep", "consumo_lista.3", "nome_cliente"]
    assert [(b.field, b.text, b.page, b.box) for b in boxes] == [("valor_fatura", "1,00", 0, (150, 10, 191, 20))]


def _ink_bbox(a: Image.Image, b: Image.Image) -> tuple[int, int, int, int] | None:
    """Bounding box of where two captures of one scene differ strongly (the painted mark)."""
    diff = np.abs(np.asarray(a.convert("L"), np.int16) - np.asarray(b.convert("L"), np.int16))
    ys, xs = np.nonzero(diff > 60)
    return (int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1) if len(xs) else None


def _fits(ink: tuple[int, ...], box: tuple[int, ...]) -> bool:
    """The mark lies inside the box (give a few pixels of blur / JPEG ringing) and fills it, but for what
    an occluder may cover (a value stays shown with up to 10 % of it hidden)."""
    inside = ink[0] >= box[0] - 4 and ink[1] >= box[1] - 4 and ink[2] <= box[2] + 4 and ink[3] <= box[3] + 4
    return inside and all(ink[a + 2] - ink[a] >= 0.88 * (box[a + 2] - box[a]) - 4 for a in (0, 1))


def _mark_lands_in_its_box(key: str, mode: str, seed: int, physical: str = "a4") -> tuple[int, int]:
    """Paint each drawn occurrence of the probe fields black on a blank page 1, capture it and the blank page
    alike (same seed: same warp, light, noise), and check every box the capture gives is where a mark landed."""
    bill = generate_bill(key, seed, physical=physical)
    first = [f for f in bill.fields if f.page == 0]  # page 2 (screenshots) is left as drawn
    blank = replace(bill, image=Image.new("RGB", bill.image.size, (255, 255, 255)), fields=first)
    base = capture(blank, mode, seed)
    checked = 0
    for probe in PROBES:
        inks = []
        for drawn in (f for f in first if f.name == probe):
            marked = blank.image.copy()
            x0, y0, x1, y1 = drawn.box
            ImageDraw.Draw(marked).rectangle((x0, y0, x1 - 1, y1 - 1), fill=(0, 0, 0))
            cap = capture(replace(blank, image=marked), mode, seed)
            assert [b.box for b in cap.boxes] == [b.box for b in base.boxes]  # boxes depend on geometry only
            inks.append(_ink_bbox(cap.image, base.image))
        for box in (b.box for b in base.boxes if b.field == probe):
            assert any(ink is not None and _fits(ink, box) for ink in inks), (mode, seed, probe, box, inks)
            checked += 1
    assert checked, (mode, seed, "no probe field shown")
    return base.image.size


@pytest.mark.parametrize("seed", range(6))
def test_photo_boxes_follow_warp_curl_and_pixel_turns(seed: int) -> None:
    _mark_lands_in_its_box("cemig_mg", "photo", seed, physical="roll" if seed % 2 else "a4")


@pytest.mark.parametrize("seed", [3, 20])
def test_photo_boxes_follow_a_photo_turned_in_the_pixels(seed: int) -> None:
    width, height = _mark_lands_in_its_box("light_rj", "photo", seed)
    assert width > height  # photos are taken portrait: these were turned in the pixels (no EXIF tag fixes it)


@pytest.mark.parametrize("mode,seed", [("scan", 1), ("scan", 4), ("screenshot", 0), ("screenshot", 3)])
def test_scan_and_screenshot_boxes_land_on_the_value(mode: str, seed: int) -> None:
    _mark_lands_in_its_box("equatorial_go", mode, seed)


def test_written_boxes_are_in_the_upright_file_and_cover_ink(tmp_path) -> None:
    rows = {}
    for degrade in ("none", "photo"):
        ann = write_dataset(tmp_path / degrade, "ENEL", "RJ", 3, seed=7, degrade=degrade)
        rows[degrade] = [json.loads(line) for line in ann.read_text(encoding="utf-8").splitlines()]
    for degrade, table in rows.items():
        for i, row in enumerate(table, 1):
            path = tmp_path / degrade / row["image"]
            with Image.open(path) as stored:
                upright = ImageOps.exif_transpose(stored).convert("L")
            assert load_document(path.read_bytes(), TEXT_LIMITS).pages[0].size == upright.size
            bill = generate_bill("enel_rj", bill_seed(7, i), physical=row.get("layout", "a4"))
            assert [b["box"] for b in row["boxes"]] == [list(b.box) for b in capture(bill, degrade, bill_seed(7, i)).boxes]
            assert row["boxes"] and {b["page"] for b in row["boxes"]} == {0}
            shown = {b["field"].split(".")[0] for b in row["boxes"]}
            assert not shown & {h for h in row.get("hidden", []) if "." not in h}  # hidden values have no box
            pixels = np.asarray(upright)
            for b in row["boxes"]:
                x0, y0, x1, y1 = b["box"]
                assert 0 <= x0 < x1 <= upright.width and 0 <= y0 < y1 <= upright.height
                assert pixels[y0:y1, x0:x1].std() > 12, (degrade, row["image"], b)  # ink, not blank paper


def test_pdf_boxes_are_in_rendered_page_pixels_where_the_text_layer_has_the_value(tmp_path) -> None:
    ann = write_dataset(tmp_path, "COPEL", "PR", 2, seed=5, fmt="pdf")
    for line in ann.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        data = (tmp_path / row["image"]).read_bytes()
        served = load_document(data, TEXT_LIMITS).pages
        pdf = pdfium.PdfDocument(data)
        try:
            layers = [(page_text_boxes(pdf, i), served[i].width / pdf[i].get_width()) for i in range(len(pdf))]
        finally:
            pdf.close()
        assert {b["page"] for b in row["boxes"]} == set(range(len(served)))
        for b in row["boxes"]:
            x0, y0, x1, y1 = b["box"]
            runs, k = layers[b["page"]]
            want = b["text"].replace(" ", "")
            overlaps = [max(0.0, min(x1, r.x1 * k) - max(x0, r.x0 * k)) * max(0.0, min(y1, r.y1 * k) - max(y0, r.y0 * k))
                        / ((x1 - x0) * (y1 - y0)) for r in runs if want in r.text.replace(" ", "")]
            if want.isdigit() and len(want) > 30:  # the barcode is drawn as bars, not text
                continue
            assert overlaps and max(overlaps) > 0.6, (b, overlaps)
            crop = np.asarray(served[b["page"]].convert("L"))[y0:y1, x0:x1]
            assert crop.std() > 12, b
