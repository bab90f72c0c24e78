"""Captures of synthetic bills (issue 12): photo, screenshot, scan, mix; hidden fields; formats; seeds."""

from __future__ import annotations

import io
import json
from collections import Counter

import numpy as np
import pytest
from PIL import Image, ImageOps

from extractor_energy.training.datasets import prepare_dataset
from extractor_energy.documents.decode import DocumentLimits, load_document, sniff
from extractor_energy.domain.schema import coerce_bill
from extractor_energy.synth import generate_bill, write_dataset
from extractor_energy.synth.canvas import DrawnField
from extractor_energy.synth.capture import MIX_SHARES, _hidden, capture, hide, pick_mode, pick_physical
from extractor_energy.synth.writer import save_capture


def _first(pred, seeds=range(60)):
    """The first seed whose capture satisfies ``pred`` (captures are deterministic, so tests are too)."""
    for seed in seeds:
        if pred(seed):
            return seed
    raise AssertionError("no seed found")


def test_hidden_marks_fields_outside_or_under_something() -> None:
    visible = np.full((100, 200), 255, np.uint8)
    visible[:, :100] = 0  # left half covered
    fields = [DrawnField("valor_fatura", "R$ 1,00", (10, 10, 50, 20), 0),  # covered here...
              DrawnField("valor_fatura", "1,00", (150, 10, 190, 20), 0),  # ...but visible here: not hidden
              DrawnField("cep", "01000-000", (20, 40, 60, 50), 0),
              DrawnField("consumo_lista.2.consumo", "120", (120, 40, 190, 50), 0),
              DrawnField("consumo_lista.3.consumo", "130", (90, 60, 150, 70), 0),  # half covered: hidden
              DrawnField("nome_cliente", "ANA", (150, 90, 190, 130), 0)]  # half out of frame: hidden
    hidden = _hidden(fields, lambda _p, x, y: (x, y), visible)
    assert hidden == ["cep", "consumo_lista.3", "nome_cliente"]
    data = {"cep": "01000-000", "baixa_renda": True, "nome_cliente": "ANA", "valor_fatura": 1.0,
            "consumo_lista": [{"mes_ano": f"0{m}/2025", "consumo": m} for m in range(1, 6)]}
    out = hide(data, hidden + ["baixa_renda"])
    assert out["cep"] is None and out["nome_cliente"] is None and out["baixa_renda"] is False
    assert [m["consumo"] for m in out["consumo_lista"]] == [1, 2, 3, 5] and out["valor_fatura"] == 1.0
    assert data["cep"] == "01000-000"  # the input is not modified


def test_photo_is_a_phone_photo_and_hides_what_it_crops() -> None:
    bill = generate_bill("equatorial_go", 3, physical="roll")
    shots = {seed: capture(bill, "photo", seed) for seed in range(14)}
    for cap in shots.values():
        assert cap.mode == "photo" and max(cap.image.size) in (1280, 1600, 1920) and cap.image.mode == "RGB"
    # partial framing or objects hide something in some photos, never everything
    assert any(cap.hidden for cap in shots.values()) and any(not cap.hidden for cap in shots.values())
    assert all(len(cap.hidden) < 40 for cap in shots.values())
    # a whole-page photo shows the background around the paper: its corner is not paper-white
    clean = next(cap for cap in shots.values() if not cap.hidden)
    corner = np.asarray(clean.image.convert("L"))[:20, :20]
    assert corner.std() > 0.5 or corner.mean() < 235


def test_screenshot_has_phone_chrome_and_hides_what_is_scrolled_away() -> None:
    bill = generate_bill("enel_rj", 5)
    caps = [capture(bill, "screenshot", seed) for seed in range(8)]
    for cap in caps:
        assert cap.image.size in {(1080, 2400), (1080, 2340), (720, 1600)} and cap.orientation == 1
        bar = np.asarray(cap.image.convert("L"))[:40]
        assert bar.std() > 5  # status bar text over a plain bar
    assert {cap.rgba for cap in caps} == {True, False}  # saved as RGBA PNGs sometimes, like phones do
    scrolled = [cap for cap in caps if "nome_cliente" in cap.hidden]
    assert scrolled, "a scrolled screenshot hides the customer block"
    assert all("codigo_barras" not in cap.hidden for cap in caps)  # the slip stays on screen


def test_scan_keeps_the_page_size_and_changes_the_pixels() -> None:
    bill = generate_bill("copel_pr", 2)
    cap = capture(bill, "scan", 4)
    assert cap.image.size == bill.image.size and cap.mode == "scan"
    diff = np.abs(np.asarray(cap.image, np.int16) - np.asarray(bill.image, np.int16))
    assert diff.mean() > 2


def test_mix_follows_the_real_shares_and_rolls_appear_only_in_photos() -> None:
    modes = Counter(pick_mode("mix", s) for s in range(2000))
    for mode, share in MIX_SHARES.items():
        assert abs(modes[mode] / 2000 - share) < 0.04, (mode, modes)
    physical = Counter((pick_mode("mix", s), pick_physical(pick_mode("mix", s), s)) for s in range(600))
    assert physical[("photo", "roll")] > physical[("photo", "a4")] > 0
    assert not {k for k in physical if k[1] == "roll" and k[0] != "photo"}
    assert pick_physical("photo", 1, "pdf") == "a4"


def test_exif_orientation_tag_stores_the_photo_sideways(tmp_path) -> None:
    bill = generate_bill("energisa_mt", 1, physical="roll")
    seed = _first(lambda s: capture(bill, "photo", s).orientation in (6, 8))
    cap = capture(bill, "photo", seed)
    assert cap.image.height > cap.image.width  # the capture itself is upright (a portrait photo)
    save_capture(cap, tmp_path / "a.jpg", "jpg")
    with Image.open(tmp_path / "a.jpg") as image:
        assert image.getexif().get(0x0112) == cap.orientation
        assert image.width > image.height  # stored sideways...
        assert ImageOps.exif_transpose(image).size == cap.image.size  # ...upright for a reader honouring EXIF


def test_mix_dataset_is_reproducible_and_prepare_dataset_accepts_it(tmp_path) -> None:
    a = write_dataset(tmp_path / "a", "EQUATORIAL", "GO", 6, seed=3, degrade="mix")
    b = write_dataset(tmp_path / "b", "EQUATORIAL", "GO", 6, seed=3, degrade="mix")
    assert a.read_bytes() == b.read_bytes()
    for i in range(1, 7):
        assert (a.parent / f"fatura_{i:04d}.jpg").read_bytes() == (b.parent / f"fatura_{i:04d}.jpg").read_bytes()
    rows = [json.loads(line) for line in a.read_text(encoding="utf-8").splitlines()]
    for row in rows:
        assert row["capture"] in MIX_SHARES and row["layout"] in ("a4", "roll")
        assert coerce_bill(row["json"], strict=True)[0].model_dump() == row["json"]
        full = generate_bill("equatorial_go", 3 * 1_000_003 + rows.index(row) + 1, render=False,
                             physical=row["layout"]).data.model_dump()
        assert hide(full, row.get("hidden", [])) == row["json"]  # nothing but the hidden fields changed
        for path in row.get("hidden", []):
            name = path.split(".")[0]
            assert "." in path or row["json"][name] in (None, False, [])
    result = prepare_dataset(a.parent, "EQUATORIAL", "GO", tmp_path / "prepared", val_fraction=0.0, page_text=False)
    assert result.usable == 6


@pytest.mark.parametrize("fmt,kind", [("mpo", "mpo"), ("heic", "heif"), ("png", "png")])
def test_phone_formats_load_like_uploads(tmp_path, fmt: str, kind: str) -> None:
    out = tmp_path / fmt
    write_dataset(out, "CEMIG", "MG", 1, seed=2, fmt=fmt, degrade="photo")
    blob = (out / f"fatura_0001.{fmt}").read_bytes()
    assert sniff(blob) in (kind, "jpeg" if kind == "mpo" else kind)
    doc = load_document(blob, DocumentLimits())
    assert doc.pages and doc.pages[0].mode == "RGB"
    if fmt == "mpo":
        with Image.open(io.BytesIO(blob)) as image:
            assert image.format == "MPO" and getattr(image, "n_frames", 1) == 2


def test_hidden_annotations_stay_consistent_for_the_checks() -> None:
    """Hiding fields never makes an annotation contradict itself (the consistency checks stay quiet)."""
    from extractor_energy.domain.checks import check_bill
    from extractor_energy.domain.schema import BillData

    noisy = []
    for seed in range(80):
        bill = generate_bill("equatorial_go", seed, render=False)
        full = bill.data.model_dump()
        names = sorted({f.name.split(".")[0] if f.name.count(".") < 2 else ".".join(f.name.split(".")[:2])
                        for f in bill.fields})
        rng = np.random.default_rng(seed)
        hidden = [n for n in names if rng.random() < 0.3]
        data = BillData.model_validate(hide(full, hidden))
        findings = check_bill(data)
        if findings:
            noisy.append((seed, hidden, [f.code for f in findings]))
    assert not noisy, noisy[:3]
