"""Synthetic bills that look like what users send: fixed utility identity, printed formats, roll/PDF
families, captures with hidden fields (issue 12). Few bills per test to keep it fast."""

from __future__ import annotations

from extractor_energy.domain.normalize import full_date, money, month
from extractor_energy.synth import fmt, generate_bill, make_content
from extractor_energy.synth.identity import _cnpj_check, identity_for


def test_utility_identity_is_fixed_per_key_and_customers_vary() -> None:
    a, b = make_content("equatorial_go", 1), make_content("equatorial_go", 2)
    assert a.identity == b.identity and a.utility_cnpj == b.utility_cnpj == a.identity.cnpj
    assert a.data.nome_cliente != b.data.nome_cliente
    assert a.identity.cnpj != make_content("equatorial_ma", 1).identity.cnpj
    cnpj = a.identity.cnpj
    assert len(cnpj) == 14 and _cnpj_check(cnpj[:12]) == cnpj[12:]
    assert identity_for("rge", "RS").colours is not None and identity_for("equatorial", "GO").colours is None
    assert a.access_key[6:20] == cnpj  # the NF3e access key carries the issuer's CNPJ


def _amount(text: str) -> float:
    return money(text.replace("*", ""))


def test_printed_formats_vary_and_read_back_exactly() -> None:
    """Months as 7/2025, JUL/2025, Junho/2025...; totals with asterisk fill; trailing-minus credits."""
    months, totals, credits = set(), set(), set()
    for seed in range(40):
        c = make_content(["equatorial_go", "cpfl_paulista_sp", "energisa_mt", "neoenergia_pe"][seed % 4], seed)
        p, d = c.printing, c.data
        assert month(p.month(d.mes_referencia)) == d.mes_referencia
        assert _amount(p.total(d.valor_fatura)) == d.valor_fatura
        assert full_date(p.reading(d.leitura_atual)) == d.leitura_atual
        months.add(p.month_style)
        totals.add(p.total_style)
        credits.add(p.trailing_minus)
    assert {"short", "abbr", "num"} <= months and len(months) >= 5
    assert {"stars", "rs", "plain"} <= totals and credits == {True, False}
    assert fmt.total(140.54, "stars") == "R$********140,54" and fmt.brl(-54.33, trailing_minus=True) == "54,33-"
    assert fmt.month("06/2025", "name") == "Junho/2025" and fmt.month("07/2025", "short") == "7/2025"


def test_roll_is_a_narrow_form_with_misregistered_overprint() -> None:
    bill = generate_bill("equatorial_go", 4, physical="roll")
    page = bill.pages[0]
    assert len(bill.pages) == 1 and page.width < 110 and page.height > 2 * page.width
    assert bill.image.width < bill.image.height / 2
    over = [op for op in page.ops if op.kind == "text" and op.args[6] == "over"]
    form = [op for op in page.ops if op.kind == "text" and op.args[6] == "form"]
    assert over and form and {op.args[5] for op in over} == {"mono"}  # Equatorial prints Courier-like
    assert {op.args[5] for op in [o for o in generate_bill("energisa_mt", 4, physical="roll").pages[0].ops
                                  if o.kind == "text" and o.args[6] == "over"]} == {"sans"}
    shifts = {(round(make_overprint.dx, 2), round(make_overprint.dy, 2))
              for make_overprint in (generate_bill("equatorial_go", s, physical="roll", render=False).pages[0].overprint
                                     for s in range(4))}
    assert len(shifts) == 4  # misregistration differs from bill to bill


def test_pdf_second_copy_varies_watermark_pages_and_position() -> None:
    watermarks, page_counts, positions = set(), set(), set()
    for seed in range(12):
        bill = generate_bill("copel_pr", seed, render=False)
        watermarks.add(any(op.kind == "rtext" for op in bill.pages[0].ops))
        page_counts.add(len(bill.pages))
        positions.add(next(f.box for f in bill.fields if f.name == "num_instalacao")[:2])
    assert watermarks == {True, False} and page_counts == {1, 2}
    assert len(positions) == 12  # layout jitter: no two bills pixel-aligned


def test_content_variety_items_add_up() -> None:
    seen = set()
    for seed in range(240):
        c = make_content(["equatorial_go", "energisa_mt", "cpfl_paulista_sp"][seed % 3], seed)
        codes = {i.code.split("_")[0] for i in c.items}
        seen |= codes
        assert round(sum(i.value for i in c.items), 2) == c.data.valor_fatura > 0
        if c.data.baixa_renda and not c.data.tarifa_branca:
            tiers = [i for i in c.items if i.code.startswith("social_tusd")]
            assert sum(i.qty for i in tiers) == c.data.consumo_kwh  # the tiers split the whole consumption
            assert [i.price for i in tiers] == sorted(i.price for i in tiers)  # deeper discount first
    assert {"social", "terceiros", "credito", "parcelamento", "inj", "bandeira", "cip", "ponta"} <= seen


def test_pdf_text_layer_holds_the_printed_values_exactly(tmp_path) -> None:
    """The quirks (asterisk totals, month styles, trailing-minus credits) are printed exactly as annotated."""
    import pypdfium2 as pdfium

    from extractor_energy.synth.pdf import write_pdf

    def has_credit_and_stars(s: int) -> bool:
        p = make_content("equatorial_go", s).printing
        c = make_content("equatorial_go", s)
        return p.total_style == "stars" and p.trailing_minus and any(i.value < 0 for i in c.items)

    seed = next(s for s in range(400) if has_credit_and_stars(s))
    bill = generate_bill("equatorial_go", seed, render=False)
    write_pdf(bill.pages, tmp_path / "a.pdf")
    pdf = pdfium.PdfDocument(str(tmp_path / "a.pdf"))
    try:
        text = "\n".join(pdf[i].get_textpage().get_text_range() for i in range(len(pdf)))
    finally:
        pdf.close()
    c, d = bill.content, bill.data
    assert c.printing.total(d.valor_fatura) in text and "*" in c.printing.total(d.valor_fatura)
    assert money(c.printing.total(d.valor_fatura).replace("*", "")) == d.valor_fatura
    assert c.printing.month(d.mes_referencia) in text
    credit = next(i for i in c.items if i.value < 0)
    assert fmt.brl(credit.value, trailing_minus=True) in text
    drawn = {f.name: f.text for f in bill.fields if f.page == 0}
    assert drawn["vencimento"] in text and drawn["num_instalacao"] in text


def test_known_layout_variants() -> None:
    """CPFL old/new side by side; Energisa standard/Sul-Sudeste (plus the roll)."""
    cpfl = set()
    for seed in range(8):
        bill = generate_bill("cpfl_paulista_sp", seed, render=False)
        texts = {op.args[2] for op in bill.pages[0].ops if op.kind in ("text", "rtext")}
        cpfl.add("new" if "Aviso importante" in texts or any(t.startswith("LOTE ") for t in texts) else "old")
        month = next(f.text for f in bill.fields if f.name == "mes_referencia" and f.page == 0)
        assert month == bill.content.printing.month(bill.data.mes_referencia)
    assert cpfl == {"old", "new"}
    sul = generate_bill("energisa_sul_sudeste_sp", 1, render=False)
    assert sul.content.printing.month_style == "name_sp"
    assert any(op.kind == "text" and op.args[2].startswith("ROTEIRO") for op in sul.pages[0].ops)
