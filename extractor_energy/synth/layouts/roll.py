"""The on-site roll bill ("impressão simultânea"): a narrow, long pre-printed colour form that the meter
reader's printer fills in black at reading time (real_layouts.md section 3).

The form (logo, coloured label boxes, grid lines, the utility's name and CNPJ) is drawn in colour;
every dark text becomes overprint through :class:`~..canvas.Overprint`: monospaced or proportional
as the utility prints, shifted against the form (misregistration), sometimes faded or with dead
print-head columns. One page; the payment slip is at the bottom of the roll.
"""

from __future__ import annotations

import random

from extractor_energy.synth.canvas import WHITE, Overprint, Page
from extractor_energy.synth.content import BillContent
from extractor_energy.synth import fmt
from extractor_energy.synth.layouts.blocks import Style, band, dashed, table
from extractor_energy.synth.layouts.history import history_table
from extractor_energy.synth.layouts.marks import barcode, logo, qr_block
from extractor_energy.synth.layouts.sections import customer, flag_line, gd_box, items_table, reaviso, tariff_lines, tax_table

#: Families whose roll printers use a monospaced (Courier/dot-matrix-like) font; the others print proportional.
MONO = {"equatorial", "enel", "generic"}
_FORM = {  # family: (primary, secondary, light) of the pre-printed form
    "equatorial": ((0, 75, 145), (200, 30, 45), (222, 236, 200)), "enel": ((0, 120, 190), (220, 60, 130), (250, 226, 236)),
    "cemig": ((0, 122, 90), (0, 122, 90), (226, 243, 236)), "light": ((225, 100, 15), (70, 70, 70), (253, 236, 222)),
    "cpfl": ((0, 120, 140), (0, 84, 166), (220, 240, 242)), "energisa": ((240, 120, 30), (0, 160, 200), (253, 228, 214)),
    "copel": ((0, 56, 130), (240, 120, 0), (253, 236, 214)), "generic": ((70, 70, 130), (200, 30, 45), (236, 236, 246)),
}


def _form_style(c: BillContent) -> Style:
    primary, secondary, light = _FORM.get(c.profile.family, _FORM["generic"])
    if c.identity.colours:
        primary, secondary = c.identity.colours
    # labels are pre-printed in the form's colour; ink (dark) is the printer's overprint
    return Style(primary=primary, secondary=secondary, light=light, accent=secondary, ink=(25, 25, 25),
                 label=primary, rule=tuple(min(255, v + 90) for v in primary), radius=1.2)


def _overprint(c: BillContent, rng: random.Random, width: float) -> Overprint:
    """The printer of this bill: font, misregistration, fading and dead dot columns."""
    face = "mono" if c.profile.family in MONO and c.key.uf != "RS" else "sans"
    fade = rng.choice([0.0, 0.0, 0.0, rng.uniform(0.15, 0.45)])
    gaps = tuple(rng.uniform(8, width - 8) for _ in range(rng.choice([0, 0, 0, 1, 2])))
    return Overprint(face=face, ink=(rng.randint(10, 40),) * 3, dx=rng.uniform(-1.6, 1.6), dy=rng.uniform(-1.4, 1.4),
                     fade=fade, gaps=gaps, gap_width=rng.uniform(0.15, 0.3))


def _box(page: Page, x: float, y: float, w: float, h: float, label: str, value: str, field: str, fill, s: Style,
         size: float = 8.5) -> None:
    """A pre-printed coloured label box with the value overprinted in it."""
    fill = tuple(round(v * 0.6 + 255 * 0.4) for v in fill)  # light enough for black print to read
    page.rect(x, y, w, h, fill=fill, radius=1.0)
    page.fit_text(x + 1.2, y + 2.6, label, w - 2, size=4.8, bold=True, color=WHITE if sum(fill) < 500 else s.primary)
    page.fit_text(x + w / 2, y + h - 1.6, value, w - 2, size=size, bold=True, color=s.ink, align="c", field=field)


def _nf(page: Page, x: float, y: float, w: float, c: BillContent, s: Style) -> float:
    """The NF3e lines as a roll prints them (number, date, access key in two lines, protocol)."""
    nf, key = c.nf_number, fmt.grouped(c.access_key)
    lines = [f"NF3e Nº {nf[:3]}.{nf[3:6]}.{nf[6:]} SÉRIE 001", f"Emissão: {fmt.dmy(c.emission)}", "Chave de acesso:",
             key[:29], key[30:], f"Protocolo: {c.protocol}"]
    for line in lines:
        page.fit_text(x, y, line, w, size=4.6, color=s.ink)
        y += 2.2
    return y


def _feed_slip(page: Page, rng: random.Random, base: float) -> None:
    """Paper-feed slip between blocks: the overprint's vertical misregistration drifts a little."""
    assert page.overprint is not None
    page.overprint.dy = base + rng.uniform(-0.6, 0.6)


def draw(c: BillContent) -> list[Page]:
    """One long, narrow page of an on-site roll bill."""
    rng = random.Random(c.render_seed + 11)
    d, p, s = c.data, c.printing, _form_style(c)
    w = round(rng.uniform(92, 104), 1)
    page = Page(width=w, height=600.0, paper=(rng.randint(244, 252),) * 2 + (rng.randint(236, 248),))
    page.overprint = _overprint(c, rng, w)
    base_dy = page.overprint.dy
    x0, inner = 4.0, w - 8.0
    # pre-printed header: colour band, logo, company identity
    page.rect(0, 0, w, 17, fill=s.light)
    logo(page, c.profile.family, c.profile.brand, 3, 2.5, scale=0.75)
    page.text(w - 3, 6, "DANF3E", size=7, bold=True, color=s.primary, align="r")
    page.text(w - 3, 9.5, "Documento Auxiliar da", size=4.2, color=s.primary, align="r")
    page.text(w - 3, 12, "NF de Energia Elétrica", size=4.2, color=s.primary, align="r")
    page.fit_text(x0, 21, d.distribuidora, inner, size=6, bold=True, color=s.primary, field="distribuidora")
    page.fit_text(x0, 24, f"CNPJ {c.identity.cnpj_text}  IE {c.identity.ie}", inner, size=4.8, color=s.primary)
    page.fit_text(x0, 26.6, f"{c.identity.address} CEP {c.identity.cep}", inner, size=4.4, color=s.primary)
    y = 29.5
    # identifiers in coloured boxes (Equatorial: red "Conta Contrato"/"Unidade Consumidora", grey "Parceiro")
    half = (inner - 2) / 2
    _box(page, x0, y, half, 9, p.label("inst"), d.num_instalacao, "num_instalacao", s.secondary, s)
    if d.cod_cliente:
        _box(page, x0 + half + 2, y, half, 9, p.label("cliente"), d.cod_cliente, "cod_cliente", (200, 200, 200), s)
    y += 10.5
    if d.conta_contrato:
        _box(page, x0, y, half, 9, "Conta Contrato", d.conta_contrato, "conta_contrato", s.light, s)
        y += 10.5
    # reading-time header lines (class, supply, voltage) and the customer
    labels = (p.label("classe"), p.label("tipo"), "TENSAO NOMINAL:", "TIPO DE TARIFA:")
    y = tariff_lines(page, x0, y + 2.5, c, s, labels, class_words=rng.choice(["long", "upper"]),
                     tipo_words=rng.choice(["upper", "abbr", "title"]), size=5.6)
    page.text(x0, y + 0.5, "DADOS DO CLIENTE", size=4.8, bold=True, color=s.primary)
    y = customer(page, x0, y + 3.8, c, s, size=6.2, orgao_below=True) + 1
    # month / total / due boxes
    third = (inner - 3) / 3
    _box(page, x0, y, third, 10, p.label("mes"), p.month(d.mes_referencia), "mes_referencia", s.light, s)
    _box(page, x0 + third + 1.5, y, third, 10, p.label("total"), p.total(d.valor_fatura), "valor_fatura",
         s.secondary, s, size=8)
    _box(page, x0 + 2 * third + 3, y, third, 10, p.label("venc"), d.vencimento, "vencimento", s.light, s)
    y += 12
    # reading dates and meter
    _feed_slip(page, rng, base_dy)
    y = band(page, x0, y, inner, "DATAS DAS LEITURAS", s.primary, h=3.8, size=5.2)
    cols = [("Anterior", inner * 0.22, "c"), ("Atual", inner * 0.22, "c"), ("Dias", inner * 0.12, "c"),
            ("Próxima", inner * 0.22, "c"), ("ICMS %", inner * 0.22, "c")]
    row = [p.reading(d.leitura_anterior), p.reading(d.leitura_atual), str(d.dias_faturados),
           fmt.dm(fmt.parse_dmy(d.proximo_leitura)) if c.profile.family == "cemig" else p.reading(d.proximo_leitura),
           fmt.number(d.aliquota_icms)]
    y = table(page, x0, y + 0.3, cols, [row], s, size=5.8, row_h=3.8, header_color=s.primary,
              fields=[["leitura_anterior", "leitura_atual", "dias_faturados", "proximo_leitura", "aliquota_icms"]])
    cols = [("Medidor", inner * 0.25, "l"), ("Leit. Ant.", inner * 0.2, "r"), ("Leit. Atual", inner * 0.2, "r"),
            ("Const.", inner * 0.12, "r"), ("Consumo kWh", inner * 0.23, "r")]
    row = [c.meter, str(c.reading_prev), str(c.reading_curr), str(c.constant), fmt.kwh(d.consumo_kwh)]
    y = table(page, x0, y + 1, cols, [row], s, size=5.8, row_h=3.8, header_color=s.primary,
              fields=[[None] * 4 + ["consumo_kwh"]]) + 1.5
    # items, taxes, flag
    _feed_slip(page, rng, base_dy)
    y = band(page, x0, y, inner, "ITENS DE FATURA", s.primary, h=3.8, size=5.2)
    y = items_table(page, x0, y + 0.3, inner, c, s, ("Descrição", "Unid.", "Quant.", "Tarifa", "Valor (R$)"),
                    total_label="TOTAL", size=5.4, header_fill=False, zebra=False, row_h=3.3,
                    trailing_minus=p.trailing_minus)
    y = tax_table(page, x0, y, inner, c, s, size=5.4, header_fill=False) + 3
    flag_line(page, x0, y, c, s, label="Bandeira: ", size=5.6)
    y += 3
    if d.energia_ativa_injetada:
        y = gd_box(page, x0, y, inner, c, s, title="GERAÇÃO DISTRIBUÍDA - SCEE", size=5.2) + 1
    if d.faturas_venc:
        y = reaviso(page, x0, y + 1, inner, c, s, month_style=rng.choice(["num", "abbr"]), size=5.4)
    # history (two columns, as the roll prints it) and the NF3e block with the PIX QR
    _feed_slip(page, rng, base_dy)
    y = band(page, x0, y + 1, inner, "HISTÓRICO DE CONSUMO", s.primary, h=3.8, size=5.2)
    y = history_table(page, x0, y + 0.3, inner, c, s, month_style=rng.choice(["num", "abbr2", "abbr"]), columns=2,
                      titles=("Mês/Ano", "kWh", "Dias"), size=5.2, row_h=3.0, zebra=False) + 2
    qr_block(page, x0, y, 20, c.render_seed)
    page.text(x0 + 23, y + 4, "PAGUE COM PIX", size=6, bold=True, color=s.secondary)
    page.text(x0 + 23, y + 7.5, "Aponte a câmera para o QR Code", size=4.6, color=s.primary)
    y = max(_nf(page, x0 + 23, y + 11, inner - 23, c, s), y + 21) + 4
    # payment slip at the foot of the roll
    dashed(page, x0, w - x0, y)
    y += 3
    page.fit_text(x0, y + 2, fmt.digitable(d.linha_digitavel), inner, size=7, bold=True, color=s.ink,
                  field="linha_digitavel")
    barcode(page, x0, y + 4, inner, 11, d.codigo_barras)
    page.height = round(y + 20, 1)
    return [page]
