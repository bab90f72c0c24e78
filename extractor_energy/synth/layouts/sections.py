"""Bill sections drawn from :class:`~..content.BillContent`: customer, tariff class, items, taxes, extras."""

from __future__ import annotations

from extractor_energy.synth.canvas import WHITE, Page
from extractor_energy.synth.charges import FLAG_WORDS
from extractor_energy.synth.content import BillContent
from extractor_energy.synth import fmt
from extractor_energy.synth.layouts.blocks import Part, Style, band, paragraph, run, table, wrap

CLASS_WORDS = {
    "long": {"RESIDENCIAL": "RESIDENCIAL RESIDENCIAL NORMAL", "COMERCIAL": "COMERCIAL OUTROS SERVIÇOS",
             "RURAL": "RURAL AGROPECUÁRIA", "INDUSTRIAL": "INDUSTRIAL", "PODER PUBLICO": "PODER PÚBLICO MUNICIPAL",
             "SERVICO PUBLICO": "SERVIÇO PÚBLICO ÁGUA E ESGOTO"},
    "upper": {"RESIDENCIAL": "RESIDENCIAL", "COMERCIAL": "COMERCIAL", "RURAL": "RURAL", "INDUSTRIAL": "INDUSTRIAL",
              "PODER PUBLICO": "PODER PÚBLICO", "SERVICO PUBLICO": "SERVIÇO PÚBLICO"},
    "title": {"RESIDENCIAL": "Residencial", "COMERCIAL": "Comercial", "RURAL": "Rural", "INDUSTRIAL": "Industrial",
              "PODER PUBLICO": "Poder Público", "SERVICO PUBLICO": "Serviço Público"},
}
TIPO_WORDS = {
    "upper": {"MONOFASICO": "MONOFÁSICO", "BIFASICO": "BIFÁSICO", "TRIFASICO": "TRIFÁSICO"},
    "title": {"MONOFASICO": "Monofásico", "BIFASICO": "Bifásico", "TRIFASICO": "Trifásico"},
    "abbr": {"MONOFASICO": "MONO", "BIFASICO": "BIF", "TRIFASICO": "TRI"},
}
MODALIDADE_WORDS = {"convencional": "Convencional", "branca": "Branca", "verde": "Horária Verde", "azul": "Horária Azul"}


def address_lines(c: BillContent, cep_first: bool = False) -> list[list[Part]]:
    """Street line, district line and city line as runs with field names."""
    d = c.data
    street: list[Part] = [(d.rua, "rua"), (", ", None), (d.numero, "numero") if d.numero else ("S/N", None)]
    if d.complemento:
        street += [(" - ", None), (d.complemento, "complemento")]
    city: list[Part] = [(d.cidade, "cidade"), (" - ", None), (d.estado, "estado")]
    cep: list[Part] = [("CEP: ", None), (d.cep, "cep")]
    last = cep + [("  ", None)] + city if cep_first else city + [("   ", None)] + cep
    return [street, [(d.bairro, "bairro")], last]


def customer(page: Page, x: float, y: float, c: BillContent, style: Style, size: float = 7.0,
             cep_first: bool = False, doc_prefix: bool = True, orgao_below: bool = False) -> float:
    """Name, supply address and masked CPF/CNPJ; returns the y below (``orgao_below``: public-body mark on its own line)."""
    d, step = c.data, size * 0.3528 * 1.45
    page.text(x, y, d.nome_cliente, size=size + 0.8, bold=True, color=style.ink, field="nome_cliente")
    y += step * 1.1
    for parts in address_lines(c, cep_first):
        run(page, x, y, parts, size=size, color=style.ink)
        y += step
    doc = "CNPJ: " if "/" in (d.cpf_cnpj or "") else "CPF: "
    end = run(page, x, y, [(doc if doc_prefix else "", None), (d.cpf_cnpj, "cpf_cnpj")], size=size, color=style.ink)
    if d.orgao_publico:
        if orgao_below:
            y += step * 1.15
        run(page, x if orgao_below else end + 4, y, [("ÓRGÃO PÚBLICO", "orgao_publico")], size=size, bold=True,
            color=style.primary)
    return y + step


def tariff_lines(page: Page, x: float, y: float, c: BillContent, style: Style, labels: tuple[str, str, str, str],
                 class_words: str = "long", tipo_words: str = "upper", size: float = 6.5) -> float:
    """Class/subgroup, supply type, voltage and tariff modality lines, plus social-tariff and group-A marks."""
    d, step = c.data, size * 0.3528 * 1.5
    lines: list[list[Part]] = [
        [(labels[0] + " ", None), (d.subgrupo, "subgrupo"), (" ", None), (CLASS_WORDS[class_words][d.classificacao], "classificacao")],
        [(labels[1] + " ", None), (TIPO_WORDS[tipo_words][d.tipo_instalacao], "tipo_instalacao")],
        [(labels[2] + " ", None), (d.tensao_nominal, "tensao_nominal")],
        [(labels[3] + " ", None), (MODALIDADE_WORDS[d.modalidade], "modalidade")],
    ]
    if d.baixa_renda:
        lines.append([("Tarifa Social de Energia Elétrica - Baixa Renda", "baixa_renda")])
    if d.alta_tensao:
        lines.append([("Grupo A - Alta Tensão", "alta_tensao")] + ([("   ", None), ("Tarifa Horária Verde", "ths_verde")] if d.ths_verde else []))
    for parts in lines:
        run(page, x, y, parts, size=size, color=style.ink, bold_fields=True)
        y += step
    return y


def items_table(page: Page, x: float, y: float, w: float, c: BillContent, style: Style,
                titles: tuple[str, str, str, str, str], total_label: str = "TOTAL", size: float = 6.2,
                rename: dict[str, str] | None = None, trailing_minus: bool = False, zebra: bool = True,
                header_fill: bool = True, row_h: float = 3.6) -> float:
    """The itemised charges, a total row carrying ``valor_fatura``; returns the y below."""
    widths = [0.44, 0.08, 0.14, 0.17, 0.17]
    cols = [(t, w * k, a) for t, k, a in zip(titles, widths, "lcrrr")]
    rows, fields = [], []
    for item in c.items:
        qty = "" if item.qty is None else fmt.kwh(int(item.qty))
        price = "" if item.price is None else fmt.tariff(item.price)
        desc = c.printing.item_name(item.code, (rename or {}).get(item.code, item.desc), FLAG_WORDS[c.data.bandeira_tarifaria])
        rows.append([desc, item.unit or "", qty, price,
                     fmt.brl(item.value, trailing_minus=trailing_minus or c.printing.trailing_minus)])
        fields.append([item.flag, None, None, None, "contrib_iluminacao_publica" if item.code == "cip" else None])
    y = table(page, x, y, cols, rows, style, fields=fields, size=size, row_h=row_h,
              header_fill=style.primary if header_fill else None, header_color=WHITE if header_fill else style.primary,
              zebra=style.light if zebra else None)
    page.line(x, y + 0.6, x + w, y + 0.6, color=style.ink, width=0.3)
    page.text(x + 1, y + 4.2, total_label, size=size + 1, bold=True, color=style.ink)
    page.text(x + w - 1, y + 4.2, fmt.brl(c.data.valor_fatura), size=size + 1, bold=True, color=style.ink,
              align="r", field="valor_fatura")
    return y + 5.5


def tax_table(page: Page, x: float, y: float, w: float, c: BillContent, style: Style,
              titles: tuple[str, str, str, str] = ("Tributo", "Base de Cálculo (R$)", "Alíquota (%)", "Valor (R$)"),
              size: float = 6.2, header_fill: bool = True, grid: bool = False) -> float:
    """ICMS, PIS/PASEP and COFINS with base, rate and value; returns the y below."""
    cols = [(t, w * k, a) for t, k, a in zip(titles, (0.26, 0.28, 0.2, 0.26), "lrrr")]
    value_fields = ["valor_icms", "valor_pis", "valor_cofins"]
    rows = [[t.name, fmt.brl(t.base), fmt.number(t.rate), fmt.brl(t.value)] for t in c.taxes]
    fields = [[None, None, "aliquota_icms" if i == 0 else None, value_fields[i]] for i in range(3)]
    return table(page, x, y, cols, rows, style, fields=fields, size=size,
                 header_fill=style.light if header_fill else None, grid=grid)


def reaviso(page: Page, x: float, y: float, w: float, c: BillContent, style: Style, month_style: str = "num",
            title: str = "REAVISO DE VENCIMENTO", size: float = 6.2) -> float:
    """Earlier unpaid bills (``valores_em_aberto``) in a red-bordered box; returns the y below."""
    d = c.data
    rows = len(d.valores_em_aberto)
    h = 9.5 + rows * 3.2
    page.rect(x, y, w, h, outline=(200, 20, 30), width=0.4, radius=style.radius)
    page.text(x + 2, y + 3.6, title, size=size + 0.8, bold=True, color=(200, 20, 30), field="faturas_venc")
    page.text(x + 2, y + 6.8, "Consta(m) em aberto a(s) fatura(s) abaixo. Evite a suspensão do fornecimento.",
              size=size - 0.8, color=style.ink)
    for i, item in enumerate(d.valores_em_aberto):
        yy = y + 10 + i * 3.2
        run(page, x + 4, yy, [("Ref. ", None), (fmt.month(item.mes_ano, month_style), f"valores_em_aberto.{i}.mes_ano"),
                              ("  -  R$ ", None), (fmt.brl(item.valor), f"valores_em_aberto.{i}.valor")],
            size=size, color=style.ink, bold_fields=True)
    return y + h + 1.5


def gd_box(page: Page, x: float, y: float, w: float, c: BillContent, style: Style,
           title: str = "INFORMAÇÕES DO SCEE - GERAÇÃO DISTRIBUÍDA", size: float = 6.0) -> float:
    """Injected energy and credit balance of a distributed-generation customer; returns the y below."""
    d = c.data
    compensated = next((item.qty for item in c.items if item.code == "inj_tusd"), 0) or 0
    y = band(page, x, y, w, title, style.light, color=style.primary, size=size)
    step = size * 0.3528 * 1.5
    y += step
    for label, value, field in (("Energia injetada no mês (kWh): ", d.energia_injetada_kwh, "energia_injetada_kwh"),
                                ("Energia compensada (kWh): ", compensated, None),
                                ("Saldo de créditos acumulado (kWh): ", d.saldo_creditos_kwh, "saldo_creditos_kwh")):
        run(page, x + 2, y, [(label, None), (fmt.kwh(int(value)), field)], size=size, color=style.ink, bold_fields=True)
        y += step
    return y


def nf_block(page: Page, x: float, y: float, w: float, c: BillContent, style: Style, size: float = 5.6) -> float:
    """Electronic invoice (NF3e) number, issue date, access key and authorisation protocol."""
    step = size * 0.3528 * 1.5
    nf = c.nf_number
    page.text(x, y, f"NOTA FISCAL/CONTA DE ENERGIA ELÉTRICA ELETRÔNICA Nº {nf[:3]}.{nf[3:6]}.{nf[6:]} SÉRIE 001",
              size=size, bold=True, color=style.ink)
    page.text(x, y + step, f"Data de emissão: {fmt.dmy(c.emission)}", size=size, color=style.ink)
    page.text(x, y + 2 * step, "Chave de acesso:", size=size, color=style.label)
    page.fit_text(x, y + 3 * step, fmt.grouped(c.access_key), w, size=size, color=style.ink)
    page.text(x, y + 4 * step, f"Protocolo de autorização: {c.protocol} - {fmt.dmy(c.emission)}", size=size, color=style.ink)
    return paragraph(page, x, y + 5 * step, w, "Consulte pela chave de acesso em: https://dfe-portal.svrs.rs.gov.br/NF3e/consulta",
                     size=size - 0.4)


def flag_line(page: Page, x: float, y: float, c: BillContent, style: Style, label: str = "Bandeira Tarifária: ",
              size: float = 6.5) -> float:
    """The tariff flag of the period, as words (``Vermelha Patamar 1``)."""
    end = run(page, x, y, [(label, None), (FLAG_WORDS[c.data.bandeira_tarifaria], "bandeira_tarifaria")],
              size=size, color=style.ink, bold_fields=True)
    return end


def utility_lines(page: Page, x: float, y: float, c: BillContent, style: Style, size: float = 5.8,
                  width: float = 110) -> float:
    """The utility's printed name and tax id lines; returns the y below."""
    ident = c.identity
    page.fit_text(x, y, c.data.distribuidora, width, size=size + 0.6, bold=True, color=style.ink, field="distribuidora")
    step = size * 0.3528 * 1.45
    page.fit_text(x, y + step, f"CNPJ {ident.cnpj_text}   Inscrição Estadual {ident.ie}", width, size=size,
                  color=style.label)
    page.fit_text(x, y + 2 * step, f"{ident.address}  CEP {ident.cep}", width, size=size - 0.4, color=style.label)
    return y + 3 * step


def _composition(tax_share: int) -> list[tuple[str, int]]:
    """Percent split of the bill that ANEEL asks utilities to print."""
    rest = 100 - tax_share
    parts = [("energia", round(rest * 0.42)), ("distribuição", round(rest * 0.33)), ("transmissão", round(rest * 0.08))]
    return parts + [("encargos setoriais", rest - sum(p for _, p in parts)), ("tributos", tax_share)]


def notices(c: BillContent) -> list[str]:
    """Messages a bill prints, some depending on the customer's situation."""
    d = c.data
    taxes = sum(t.value for t in c.taxes)
    share = round(100 * taxes / max(d.valor_fatura, 0.01))
    share = min(max(share, 5), 40)
    texts = [
        f"Consumo médio diário no período: {fmt.number(d.consumo_kwh / d.dias_faturados, 1)} kWh. "
        f"Período de leitura: {d.leitura_anterior} a {d.leitura_atual}.",
        "Tarifas homologadas pela ANEEL. Os tributos ICMS, PIS/PASEP e COFINS estão incluídos nos preços.",
        "Composição do valor da fatura: " + ", ".join(f"{name} {pct}%" for name, pct in _composition(share)) + ".",
        "Após o vencimento serão cobrados multa de 2% e juros de mora de 1% ao mês, calculados na próxima fatura.",
    ]
    if d.baixa_renda:
        texts.append("Você é beneficiário da Tarifa Social. Mantenha seu cadastro atualizado no CadÚnico.")
    if d.energia_ativa_injetada:
        texts.append("Os créditos de energia injetada expiram em 60 meses após a data do faturamento.")
    if d.tarifa_branca:
        texts.append("Tarifa Branca: horário de ponta das 18h às 21h e intermediário das 17h às 18h e das 21h às 22h, "
                     "em dias úteis.")
    texts += [
        f"Débito automático: informe ao seu banco o código {c.meter[-6:]}{c.nf_number[-4:]}.",
        "Receba sua fatura por e-mail ou WhatsApp e pague com Pix ou débito automático.",
        "Denúncias de furto de energia e ligações clandestinas podem ser feitas de forma anônima pela Central de "
        "Atendimento. Não aceite serviços de pessoas não identificadas.",
        "Economize energia: desligue aparelhos em stand-by, aproveite a luz natural e prefira equipamentos com selo "
        "Procel A.",
    ]
    return texts


def messages_box(page: Page, x: float, y: float, w: float, bottom: float, c: BillContent, style: Style,
                 title: str = "INFORMAÇÕES IMPORTANTES", size: float = 5.8) -> None:
    """A bordered box of notices filling the space from ``y`` to ``bottom`` (skipped when too small)."""
    if bottom - y < 12:
        return
    page.rect(x, y, w, bottom - y, outline=style.rule, width=0.2, radius=style.radius)
    page.text(x + 2, y + 3.6, title, size=size + 0.5, bold=True, color=style.primary)
    yy = y + 7.2
    line_h = size * 0.3528 * 1.32
    for text in notices(c):
        lines = wrap(text, w - 4, size)
        if yy + line_h * (len(lines) - 1) > bottom - 1.5:
            break
        for line in lines:
            page.text(x + 2, yy, line, size=size, color=(60, 60, 60))
            yy += line_h
        yy += 0.8

