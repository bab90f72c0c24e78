"""Synthetic bills: determinism, contract validity, content consistency, drawn fields, CLI, PDF."""

from __future__ import annotations

import io
import json
import re
from datetime import date, datetime

import pytest
from PIL import Image

from extractor_energy.domain.barcode import barcode_amount, barcode_problems, digitable_line, line_problems
from extractor_energy.domain.schema import ALL_FIELDS, NORMALISERS, BillData, coerce_bill
from extractor_energy.synth import LAYOUTS, generate_bill, make_content, write_dataset
from extractor_energy.synth.__main__ import main as synth_main
from extractor_energy.synth.canvas import FONT_DIR, page_size_px
from extractor_energy.cli.synth import add_synth_arguments
from extractor_energy.synth.fmt import brl
from extractor_energy.domain.normalize import month as month_norm
from extractor_energy.synth import fmt
from extractor_energy.synth.profiles import family_of
from extractor_energy.synth.variants import MONTH_STYLES

#: One key per layout (the last one exercises the generic layout), plus Equatorial outside GO.
KEYS = ["equatorial_go", "enel_rj", "cemig_mg", "light_rj", "cpfl_santa_cruz_sp", "energisa_mt", "copel_pr",
        "neoenergia_pe", "equatorial_ma"]
FLAGS = ("baixa_renda", "energia_ativa_injetada", "energia_reativa", "orgao_publico", "parcelamentos",
         "tarifa_branca", "ths_verde", "faturas_venc", "alta_tensao")


def _d(text: str) -> date:
    return datetime.strptime(text, "%d/%m/%Y").date()


def _month_index(mes_ano: str) -> int:
    return int(mes_ano[3:]) * 12 + int(mes_ano[:2]) - 1


def test_layouts_cover_the_required_utilities() -> None:
    assert {"equatorial", "enel", "cemig", "light", "cpfl", "energisa", "copel", "generic"} <= set(LAYOUTS)
    assert {family_of(k.rsplit("_", 1)[0]) for k in KEYS} == set(LAYOUTS)
    assert (FONT_DIR / "DejaVuSans.ttf").is_file() and (FONT_DIR / "DejaVuSans-Bold.ttf").is_file()
    assert "Bitstream" in (FONT_DIR / "LICENSE_DEJAVU.txt").read_text()


def test_content_is_consistent_on_500_bills() -> None:
    counts = dict.fromkeys(FLAGS, 0)
    for seed in range(500):
        key = KEYS[seed % len(KEYS)]
        c = make_content(key, seed)
        d = c.data
        dump = d.model_dump()
        assert coerce_bill(dump, strict=True)[0].model_dump() == dump
        assert d.estado == key[-2:].upper() and d.distribuidora == c.profile.distribuidora
        # readings and dates
        prev, curr, due, nxt = _d(d.leitura_anterior), _d(d.leitura_atual), _d(d.vencimento), _d(d.proximo_leitura)
        assert d.dias_faturados == (curr - prev).days and 27 <= d.dias_faturados <= 34
        assert d.consumo_kwh == (c.reading_curr - c.reading_prev) * c.constant > 0
        assert f"{curr.month:02d}/{curr.year}" == d.mes_referencia
        assert due > curr and nxt != due and 25 <= (nxt - curr).days <= 35
        # history: 12-13 consecutive months ending at (or just before) the reference month
        ref = _month_index(d.mes_referencia)
        months = sorted(_month_index(m.mes_ano) for m in d.consumo_lista)
        assert len(months) == c.profile.history_len in (12, 13)
        assert months == list(range(months[0], months[0] + len(months)))
        assert months[-1] == (ref if c.profile.history_current else ref - 1)
        current = [m.consumo for m in d.consumo_lista if m.mes_ano == d.mes_referencia]
        assert current == ([d.consumo_kwh] if c.profile.history_current else [])
        assert d.faturas_venc == bool(d.valores_em_aberto)
        assert all(_month_index(v.mes_ano) < ref and v.valor > 0 for v in d.valores_em_aberto)
        # items, taxes, total
        assert round(sum(i.value for i in c.items), 2) == d.valor_fatura > 0
        base = round(sum(i.value for i in c.items if i.taxed), 2)
        icms, pis, cofins = c.taxes
        assert icms.rate == d.aliquota_icms and all(t.base == base for t in c.taxes)
        assert [d.valor_icms, d.valor_pis, d.valor_cofins] == [round(t.base * t.rate / 100, 2) for t in c.taxes]
        cip = [i.value for i in c.items if i.code == "cip"]
        assert cip == ([d.contrib_iluminacao_publica] if d.contrib_iluminacao_publica is not None else [])
        codes = {i.code for i in c.items}
        assert d.energia_ativa_injetada == ("inj_tusd" in codes) == (d.energia_injetada_kwh is not None)
        assert d.energia_ativa_injetada == (d.saldo_creditos_kwh is not None)
        assert d.saldo_creditos_kwh is None or d.saldo_creditos_kwh >= 0
        assert d.parcelamentos == ("parcelamento" in codes)
        assert d.tarifa_branca == ("intermediario" in codes) == (d.modalidade == "branca")
        assert d.energia_reativa == ("reativa" in codes) and (not d.energia_reativa or d.alta_tensao)
        assert d.ths_verde == (d.alta_tensao and d.modalidade == "verde")
        assert d.alta_tensao == (d.subgrupo == "A4")
        assert not d.baixa_renda or d.classificacao == "RESIDENCIAL"
        assert d.orgao_publico == (d.classificacao == "PODER PUBLICO")
        # FEBRABAN barcode carries the total
        assert barcode_problems(d.codigo_barras) == [] and line_problems(d.linha_digitavel) == []
        assert d.codigo_barras.startswith("83") and digitable_line(d.codigo_barras) == d.linha_digitavel
        assert barcode_amount(d.codigo_barras) == d.valor_fatura
        # identifiers as each utility prints them
        family = c.profile.family
        assert (d.conta_contrato is not None) == (family == "equatorial" and key != "equatorial_go")
        assert (d.cod_cliente is None) == (family == "copel")
        if family == "cemig":
            assert re.fullmatch(r"\d{2}\.\d{3}\.\d{3}\.\d{3}-\d{2}", d.num_instalacao)
        assert re.fullmatch(r"\d{3}\.XXX\.XXX-\d{2}|\*\*\*\.\d{3}\.\d{3}-\*\*|\d{2}\.XXX\.XXX/\d{4}-\d{2}", d.cpf_cnpj)
        for flag in FLAGS:
            counts[flag] += getattr(d, flag)
    for flag in ("baixa_renda", "energia_ativa_injetada", "parcelamentos", "faturas_venc", "tarifa_branca"):
        assert 5 <= counts[flag] <= 100, (flag, counts[flag])  # roughly 1-20 % of 500
    assert counts["alta_tensao"] < 40


def _covering_seeds(key: str, limit: int = 400) -> list[int]:
    """A few seeds of ``key`` that together show every flag that can occur there."""
    chosen, seen = [0, 1], set()
    for seed in range(limit):
        d = make_content(key, seed).data
        new = {f for f in FLAGS if getattr(d, f)} - seen
        if new or (d.numero is None and "sn" not in seen) or (d.complemento and "compl" not in seen):
            chosen.append(seed)
            seen |= new | ({"sn"} if d.numero is None else set()) | ({"compl"} if d.complemento else set())
    return sorted(set(chosen))


def _overlap(a: tuple[int, ...], b: tuple[int, ...]) -> bool:
    return min(a[2], b[2]) - max(a[0], b[0]) > 1 and min(a[3], b[3]) - max(a[1], b[1]) > 1


def _printed(text: str, name: str = "valor_fatura") -> str:
    """A printed amount as a reader takes it: check-protection asterisks (``R$****140,54``) are not part of it."""
    return text.replace("*", "") if name == "valor_fatura" else text


def _month_ok(family: str, text: str) -> bool:
    """The reference month is printed in one of the styles the family uses (variants.MONTH_STYLES) or num/abbr."""
    styles = set(MONTH_STYLES.get(family, MONTH_STYLES["generic"])) | {"num", "abbr"}
    return any(fmt.month(month_norm(text), s) == text for s in styles)


@pytest.mark.parametrize("physical", ["a4", "roll"])
@pytest.mark.parametrize("key", KEYS)
def test_layout_draws_every_annotated_field(key: str, physical: str) -> None:
    for seed in _covering_seeds(key):
        bill = generate_bill(key, seed, render=False, physical=physical)
        width, height = page_size_px(150, (bill.pages[0].width, bill.pages[0].height))
        d, family = bill.data.model_dump(), bill.content.profile.family
        ctx = {"mes_referencia": d["mes_referencia"]}
        drawn: dict[str, list] = {}
        for f in bill.fields:
            assert 0 <= f.box[0] < f.box[2] <= width and 0 <= f.box[1] < f.box[3] <= height, f
            drawn.setdefault(f.name, []).append(f)
        for page in {f.page for f in bill.fields}:
            boxes = [f for f in bill.fields if f.page == page]
            clashes = [(a.name, b.name) for i, a in enumerate(boxes) for b in boxes[i + 1:] if _overlap(a.box, b.box)]
            assert not clashes, (key, seed, clashes)
        page0 = {f.name for f in bill.fields if f.page == 0}
        for name in ALL_FIELDS:
            value = d[name]
            if isinstance(value, bool):
                assert (name in page0) == value, (key, seed, name)
            elif isinstance(value, list):
                for i, item in enumerate(value):
                    for sub, norm in (("mes_ano", NORMALISERS["mes_referencia"]),
                                      ("consumo" if name == "consumo_lista" else "valor",
                                       NORMALISERS["dias_faturados" if name == "consumo_lista" else "valor_fatura"])):
                        texts = drawn.get(f"{name}.{i}.{sub}", [])
                        assert texts and all(norm(_printed(t.text), ctx) == item[sub] for t in texts), (key, seed, name, i, sub)
            elif value is None:
                assert name not in drawn, (key, seed, name, drawn.get(name))
            else:
                assert name in page0, (key, seed, name)
                for f in drawn[name]:
                    assert NORMALISERS[name](_printed(f.text, name), ctx) == value, (key, seed, name, f.text, value)
        month_texts = [f.text for f in drawn["mes_referencia"] if f.page == 0]
        assert all(_month_ok(family, t) for t in month_texts), (family, month_texts)
        if family == "cemig":
            assert any(re.fullmatch(r"\d{2}/\d{2}", f.text) for f in drawn["proximo_leitura"])
        assert any(f.text == d["num_instalacao"] for f in drawn["num_instalacao"])


def test_layouts_differ_in_wording_and_render_inside_the_boxes() -> None:
    wording = {"equatorial_go": "DATAS DAS LEITURAS", "enel_rj": "INSTALAÇÃO / UNIDADE CONSUMIDORA",
               "cemig_mg": "Nº DA INSTALAÇÃO", "light_rj": "Código da Instalação", "cpfl_paulista_sp": "SEU CÓDIGO",
               "energisa_mt": "CÓD. CLIENTE", "copel_pr": "FATURA DE ENERGIA ELÉTRICA", "neoenergia_pe": "Código do Cliente"}
    for key, label in wording.items():
        bill = generate_bill(key, 3)
        texts = {op.args[2] for op in bill.pages[0].ops if op.kind == "text"}
        assert label in texts, key
        assert bill.image.size == (1240, 1754) and bill.image.mode == "RGB"
        gray = bill.image.convert("L")
        for f in bill.fields:
            if f.page == 0 and f.name in ("valor_fatura", "mes_referencia", "num_instalacao"):
                lo, hi = gray.crop(f.box).getextrema()
                assert hi - lo > 80, (key, f)  # glyphs really drawn where the box says


def test_generation_is_deterministic() -> None:
    def png(seed: int) -> tuple[bytes, dict]:
        bill = generate_bill("cemig_mg", seed)
        buffer = io.BytesIO()
        bill.image.save(buffer, format="PNG")
        return buffer.getvalue(), bill.data.model_dump()

    assert png(11) == png(11)
    assert png(11)[1] != png(12)[1]
    assert make_content("enel_rj", 5).data != make_content("enel_ce", 5).data


def _rows(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def _check_dataset(out, n: int, ext: str) -> list[dict]:
    rows = _rows(out / "annotations.jsonl")
    assert [r["image"] for r in rows] == [f"fatura_{i:04d}.{ext}" for i in range(1, n + 1)]
    assert sorted(p.name for p in out.iterdir()) == sorted([r["image"] for r in rows] + ["annotations.jsonl"])
    for row in rows:
        assert {"image", "json", "boxes"} <= set(row) <= {"image", "json", "capture", "layout", "hidden", "boxes"}
        assert row["boxes"] and all(set(b) == {"field", "text", "page", "box"} for b in row["boxes"])
        assert {b["field"].split(".")[0] for b in row["boxes"]} <= set(ALL_FIELDS)  # boxes name contract fields
        assert len(row["json"]) == len(ALL_FIELDS) == 47
        assert coerce_bill(row["json"], strict=True)[0].model_dump() == row["json"]
        BillData.model_validate(row["json"])
    return rows


@pytest.mark.parametrize("fmt,degrade", [("jpg", "none"), ("png", "none"), ("jpg", "scan"), ("png", "photo")])
def test_cli_writes_images_and_annotations(tmp_path, capsys, fmt: str, degrade: str) -> None:
    out = tmp_path / "ds"
    code = synth_main([str(out), "--concessionaria", "Cemig Distribuição", "--uf", "mg", "-n", "2", "--seed", "4",
                       "--format", fmt, "--degrade", degrade])
    assert code == 0
    summary = capsys.readouterr().out.strip().splitlines()
    assert len(summary) == 1 and summary[0].startswith(f"wrote 2 {fmt} bills for cemig_mg")
    rows = _check_dataset(out, 2, fmt)
    assert all(r["json"]["estado"] == "MG" for r in rows)
    with Image.open(out / rows[0]["image"]) as image:
        assert image.format == {"jpg": "JPEG", "png": "PNG"}[fmt]
        if degrade == "photo":
            assert image.size != (1240, 1754) and max(image.size) in (1280, 1600, 1920)  # a phone photo
        else:
            assert image.size == (1240, 1754)


def test_png_dataset_is_byte_identical_for_a_seed(tmp_path) -> None:
    a = write_dataset(tmp_path / "a", "EQUATORIAL", "GO", 2, seed=9, fmt="png")
    b = write_dataset(tmp_path / "b", "equatorial", "go", 2, seed=9, fmt="png")
    assert a.read_bytes() == b.read_bytes()
    for name in ("fatura_0001.png", "fatura_0002.png"):
        assert (a.parent / name).read_bytes() == (b.parent / name).read_bytes()
    assert all(r["json"]["conta_contrato"] is None for r in _rows(a))  # Equatorial GO prints none


def test_pdf_has_two_pages_with_real_text(tmp_path, capsys) -> None:
    import pypdfium2 as pdfium

    out = tmp_path / "pdf"
    assert synth_main([str(out), "--concessionaria", "LIGHT", "--uf", "RJ", "-n", "2", "--format", "pdf"]) == 0
    for row in _check_dataset(out, 2, "pdf"):
        pdf = pdfium.PdfDocument(str(out / row["image"]))
        try:
            assert 1 <= len(pdf) <= 2  # the 2ª via is sometimes page 1 only
            text = pdf[0].get_textpage().get_text_range()
            assert brl(row["json"]["valor_fatura"]) in text
            assert row["json"]["num_instalacao"] in text and row["json"]["nome_cliente"] in text
            assert "HISTÓRICO" in "".join(pdf[i].get_textpage().get_text_range() for i in range(len(pdf))).upper()
        finally:
            pdf.close()


def test_cli_rejects_bad_input(tmp_path, capsys) -> None:
    assert synth_main([str(tmp_path / "x"), "--format", "pdf", "--degrade", "scan"]) == 2
    assert synth_main([str(tmp_path / "x"), "--uf", "XX"]) == 2
    assert "unknown uf" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        synth_main([str(tmp_path / "x"), "-n", "0"])


def test_cli_defaults() -> None:
    import argparse

    parser = argparse.ArgumentParser()
    add_synth_arguments(parser)
    args = parser.parse_args(["out"])
    assert (args.out_dir, args.concessionaria, args.uf, args.count, args.seed, args.format, args.degrade, args.dpi) == (
        "out", "EQUATORIAL", "GO", 20, 0, "jpg", "none", 150)


def test_dpi_outside_supported_range_is_refused(tmp_path):
    from extractor_energy.synth.writer import write_dataset

    with pytest.raises(ValueError, match="between 100 and 600"):
        write_dataset(tmp_path, "EQUATORIAL", "GO", 1, 0, "jpg", "none", 80)
