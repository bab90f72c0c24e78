"""Consistent bill content (no drawing): the ground truth plus what the page needs to print it.

``make_content(key, seed)`` is deterministic. Readings, days, consumption, history, items,
taxes, total and barcode all agree; flags appear at realistic rates.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import date, timedelta

from extractor_energy.domain.barcode import digitable_line, make_barcode, mod11
from extractor_energy.domain.keys import BillKey, parse_key
from extractor_energy.domain.schema import BillData
from extractor_energy.synth import fmt
from extractor_energy.synth.charges import Item, Tax, Usage, energy_items, other_item, taxes_for
from extractor_energy.synth.identity import Identity, identity_for
from extractor_energy.synth.people import make_customer
from extractor_energy.synth.places import STATES
from extractor_energy.synth.profiles import Profile, profile_for
from extractor_energy.synth.variants import PrintStyle, print_style

_CLASSES = [("RESIDENCIAL", 0.745), ("COMERCIAL", 0.13), ("RURAL", 0.06), ("INDUSTRIAL", 0.03),
            ("PODER PUBLICO", 0.03), ("SERVICO PUBLICO", 0.005)]
_FLAGS = [("VERDE", 0.5), ("AMARELA", 0.22), ("VERMELHA P1", 0.18), ("VERMELHA P2", 0.10)]
_MEAN_KWH = {"RESIDENCIAL": 190, "COMERCIAL": 650, "RURAL": 380, "INDUSTRIAL": 2600,
             "PODER PUBLICO": 900, "SERVICO PUBLICO": 1200}
_MINIMUM = {"MONOFASICO": 30, "BIFASICO": 50, "TRIFASICO": 100}
_THIRD_PARTY = [("Cartão de Todos 0800 725 1000", 29.9, 49.9), ("COBRANÇA CREFAZ", 60, 240), ("Plano Desconto", 9.9, 19.9),
                ("LUR SEGURO BASICO", 7.9, 14.9), ("BEM SEGURO", 9.9, 24.9), ("Doutor 360 Premium", 19.9, 39.9),
                ("Assistência 24H", 6.9, 12.9), ("Lar Protegido - 0800 728 4050", 8.9, 16.9),
                ("Doacao Fundacao Pio XII", 2, 20), ("DOAÇÃO HOSPITAL DO CÂNCER", 5, 30)]
_IBGE_UF = {"AC": 12, "AL": 27, "AM": 13, "AP": 16, "BA": 29, "CE": 23, "DF": 53, "ES": 32, "GO": 52,
            "MA": 21, "MG": 31, "MS": 50, "MT": 51, "PA": 15, "PB": 25, "PE": 26, "PI": 22, "PR": 41,
            "RJ": 33, "RN": 24, "RO": 11, "RR": 14, "RS": 43, "SC": 42, "SE": 28, "SP": 35, "TO": 17}


@dataclass
class BillContent:
    """Ground truth (``data``) plus print-only details of one bill."""

    key: BillKey
    profile: Profile
    data: BillData
    items: list[Item]
    taxes: list[Tax]
    meter: str
    reading_prev: int
    reading_curr: int
    constant: int
    emission: date
    nf_number: str
    access_key: str
    protocol: str
    utility_cnpj: str
    identity: Identity
    history_days: list[int]  # parallel to data.consumo_lista
    render_seed: int
    printing: PrintStyle

    @property
    def total(self) -> float:
        return round(sum(item.value for item in self.items), 2)


def _pick(rng: random.Random, weighted: list[tuple[str, float]]) -> str:
    return rng.choices([w[0] for w in weighted], [w[1] for w in weighted])[0]


def _shift_month(year: int, month: int, delta: int) -> tuple[int, int]:
    index = year * 12 + month - 1 + delta
    return index // 12, index % 12 + 1


def _mes(year: int, month: int) -> str:
    return f"{month:02d}/{year}"


def _digits(rng: random.Random, n: int) -> str:
    return str(rng.randint(10 ** (n - 1), 10**n - 1))


def _identifiers(rng: random.Random, prof: Profile) -> tuple[str | None, str | None, str]:
    """(cod_cliente, conta_contrato, num_instalacao) in the utility's own formats."""
    style = prof.inst_style
    if style == "cemig":
        raw = _digits(rng, 13)
        inst = f"{raw[:2]}.{raw[2:5]}.{raw[5:8]}.{raw[8:11]}-{raw[11:]}"
    elif style == "energisa":
        inst = f"{rng.randint(1, 42)}/{_digits(rng, 7)}-{rng.randint(0, 9)}"
    else:
        inst = _digits(rng, {"plain8": 8, "plain9": 9, "plain10": 10}[style])
    cliente = None
    if prof.has_cliente:
        cliente = {"equatorial": "1" + _digits(rng, 9), "cemig": "70" + _digits(rng, 8)}.get(prof.family, _digits(rng, 8))
        if prof.family == "enel" and rng.random() < 0.3:
            cliente = inst  # Enel often prints the installation as the customer number
    contrato = _digits(rng, 12) if prof.has_contrato else None
    return cliente, contrato, inst


def _history(rng: random.Random, prof: Profile, ref: tuple[int, int], consumo: int, mean: float,
             dias: int) -> tuple[list[dict], list[int]]:
    start = 0 if prof.history_current else 1
    rows, days = [], []
    for back in range(start, start + prof.history_len):
        y, m = _shift_month(*ref, -back)
        season = 1 + 0.18 * math.cos((m - 2) / 12 * 2 * math.pi)
        value = consumo if back == 0 else max(0, round(mean * season * rng.lognormvariate(0, 0.15)))
        rows.append({"mes_ano": _mes(y, m), "consumo": value})
        days.append(dias if back == 0 else rng.randint(28, 33))
    if not prof.newest_first:
        rows.reverse()
        days.reverse()
    return rows, days


def make_content(key: str | BillKey, seed: int) -> BillContent:
    """Generate one bill's consistent content for ``key`` (e.g. ``equatorial_go``) and ``seed``."""
    bk = key if isinstance(key, BillKey) else parse_key(key)
    rng = random.Random(f"{bk.key}:{seed}")
    prof, state = profile_for(bk.concessionaria, bk.uf), STATES[bk.uf]

    group_a = rng.random() < 0.03
    classe = _pick(rng, _CLASSES[1:] if group_a else _CLASSES)
    if group_a and classe == "RURAL":
        classe = "INDUSTRIAL"
    subgrupo = "A4" if group_a else {"RESIDENCIAL": "B1", "RURAL": "B2"}.get(classe, "B3")
    baixa_renda = classe == "RESIDENCIAL" and rng.random() < 0.12
    branca = not group_a and not baixa_renda and subgrupo != "B2" and rng.random() < 0.06
    gd = not group_a and not branca and rng.random() < 0.14
    if group_a or classe == "INDUSTRIAL":
        tipo = "TRIFASICO"
    elif baixa_renda:
        tipo = "MONOFASICO" if rng.random() < 0.75 else "BIFASICO"
    else:
        tipo = _pick(rng, [("MONOFASICO", 0.45), ("BIFASICO", 0.33), ("TRIFASICO", 0.22)])
    phase, line = state.low_voltage.split("/")
    tensao = "13,8 kV" if group_a else (f"{phase} V" if tipo == "MONOFASICO" else f"{phase}/{line} V")
    modalidade = ("verde" if rng.random() < 0.7 else "azul") if group_a else "branca" if branca else "convencional"
    kind = {"RESIDENCIAL": "person", "RURAL": "person", "INDUSTRIAL": "industry",
            "PODER PUBLICO": "public", "SERVICO PUBLICO": "public"}.get(classe, "business")
    if classe == "COMERCIAL" and rng.random() < 0.2:
        kind = "person"
    customer = make_customer(rng, bk.uf, kind)
    cliente, contrato, inst = _identifiers(rng, prof)

    # dates: the reading closes the reference month; the bill is issued and due after it
    ref = (rng.randint(2023, 2025), rng.randint(1, 12))
    atual = date(ref[0], ref[1], rng.randint(2, 27))
    dias = rng.randint(28, 33)
    anterior = atual - timedelta(days=dias)
    emission = atual + timedelta(days=rng.randint(1, 3))
    vencimento = emission + timedelta(days=rng.randint(7, 15))
    proximo = atual + timedelta(days=rng.randint(29, 32))
    if proximo == vencimento:  # pragma: no cover - the ranges above never meet; kept as the rule
        proximo += timedelta(days=1)

    # consumption, meter and distributed generation
    mean = (rng.uniform(15000, 90000) if group_a else _MEAN_KWH[classe] * (0.55 if baixa_renda else 1.0)
            ) * rng.lognormvariate(0, 0.35)
    constant = rng.choice([40, 60, 80, 120]) if group_a else 1
    target = max(12, round(mean * (1 + 0.18 * math.cos((ref[1] - 2) / 12 * 2 * math.pi)) * rng.lognormvariate(0, 0.12)))
    diff = max(1, round(target / constant))
    consumo = diff * constant
    reading_prev = rng.randint(1000, 95000)
    injected = saldo = compensated = None
    if gd:
        injected = max(20, round(consumo * rng.uniform(0.4, 1.7)))
        available = injected + (rng.randint(0, 1800) if rng.random() < 0.7 else 0)
        compensated = min(available, max(0, consumo - _MINIMUM[tipo]))
        saldo = available - compensated
    bandeira = _pick(rng, _FLAGS)
    icms, pis, cofins = state.icms, round(rng.uniform(0.55, 1.35), 2), round(rng.uniform(2.5, 6.2), 2)
    use = Usage(consumo, consumo - (compensated or 0), compensated or 0, bandeira, baixa_renda, branca, group_a,
                group_a and rng.random() < 0.5)
    items = energy_items(rng, use, (icms + pis + cofins) / 100)
    taxes = taxes_for(items, icms, pis, cofins)

    # charges outside the ICMS base
    cip = None
    if consumo > 30 and rng.random() < (0.3 if classe == "PODER PUBLICO" else 0.92):
        cip = round(rng.uniform(150, 650) if group_a else 3 + min(consumo, 1500) * rng.uniform(0.03, 0.08), 2)
        items.append(other_item("cip", "Contrib. Ilum. Pública - Municipal", cip))
    energy_value = sum(item.value for item in items if item.taxed)
    parcel = rng.random() < 0.08
    if parcel:
        total_parc = rng.randint(3, 24)
        nth = rng.randint(1, total_parc)
        desc = rng.choice([f"Parcelamento de Débito {nth:02d}/{total_parc:02d}", f"Parcela ({nth}/{total_parc})",
                           f"Financ. Padrão ODS {nth} de {total_parc}", f"Parc. debito-prc {nth:02d}/{total_parc:02d}"])
        items.append(other_item("parcelamento", desc, min(900.0, max(15.0, energy_value * rng.uniform(0.1, 0.5))),
                                flag="parcelamentos"))
    if rng.random() < 0.12:  # third-party charges people did not always ask for
        desc, low, high = rng.choice(_THIRD_PARTY)
        items.append(other_item("terceiros", desc, rng.uniform(low, high)))
    if classe == "RESIDENCIAL" and not group_a and rng.random() < 0.05:
        items.append(other_item("credito", rng.choice(["BÔNUS ITAIPU LEI 10.438/02", "Crédito Subvenção"]),
                                -min(energy_value * 0.3, rng.uniform(3, 25))))
    if rng.random() < 0.03:
        items.append(other_item("credito_dmic", rng.choice(["Comp.DMIC", "Ressarcimento DMIC"]), -rng.uniform(0.2, 4)))
    if rng.random() < 0.06:
        late = _mes(*_shift_month(*ref, -rng.randint(1, 2)))
        items.append(other_item("multa", f"Multa por Atraso Ref. {late}", energy_value * 0.02))
        items.append(other_item("juros", f"Juros de Mora Ref. {late}", energy_value * rng.uniform(0.002, 0.01)))
    valor = round(sum(item.value for item in items), 2)

    abertos = []
    if rng.random() < 0.09:
        backs = sorted(rng.sample(range(1, 6), rng.randint(1, 3)), reverse=True)
        abertos = [{"mes_ano": _mes(*_shift_month(*ref, -b)), "valor": round(valor * rng.uniform(0.7, 1.3), 2)} for b in backs]
    historico, history_days = _history(rng, prof, ref, consumo, mean, dias)

    free = "".join(c for c in inst if c.isdigit())[-12:].zfill(12) + vencimento.strftime("%Y%m%d") + _digits(rng, 5)
    barcode = make_barcode(valor, prof.febraban, free, value_type=prof.value_type)
    ident = identity_for(bk.concessionaria, bk.uf)
    cnpj = ident.cnpj
    nf_number = _digits(rng, 9)
    key_body = f"{_IBGE_UF[bk.uf]}{emission:%y%m}{cnpj}66001{nf_number}1{rng.randint(0, 9)}{_digits(rng, 7)}"
    data = BillData(
        cod_cliente=cliente, conta_contrato=contrato, num_instalacao=inst, nome_cliente=customer.nome,
        rua=customer.rua, numero=customer.numero, complemento=customer.complemento, bairro=customer.bairro,
        cidade=customer.cidade, estado=bk.uf, cep=customer.cep, distribuidora=prof.distribuidora,
        classificacao=classe, tipo_instalacao=tipo, tensao_nominal=tensao, alta_tensao=group_a,
        mes_referencia=_mes(*ref), vencimento=fmt.dmy(vencimento), proximo_leitura=fmt.dmy(proximo),
        valor_fatura=valor, aliquota_icms=icms, baixa_renda=baixa_renda, energia_ativa_injetada=gd,
        energia_reativa=use.reactive, orgao_publico=classe == "PODER PUBLICO", parcelamentos=parcel,
        tarifa_branca=branca, ths_verde=modalidade == "verde", faturas_venc=bool(abertos),
        valores_em_aberto=abertos, consumo_lista=historico, leitura_anterior=fmt.dmy(anterior),
        leitura_atual=fmt.dmy(atual), dias_faturados=dias, consumo_kwh=consumo, bandeira_tarifaria=bandeira,
        energia_injetada_kwh=injected, saldo_creditos_kwh=saldo, valor_icms=taxes[0].value,
        valor_pis=taxes[1].value, valor_cofins=taxes[2].value, contrib_iluminacao_publica=cip,
        codigo_barras=barcode, linha_digitavel=digitable_line(barcode), cpf_cnpj=customer.cpf_cnpj,
        subgrupo=subgrupo, modalidade=modalidade,
    )
    return BillContent(
        key=bk, profile=prof, data=data, items=items, taxes=taxes, meter=_digits(rng, 8),
        reading_prev=reading_prev, reading_curr=reading_prev + diff, constant=constant, emission=emission,
        nf_number=nf_number, access_key=key_body + mod11(key_body),
        protocol=f"{_IBGE_UF[bk.uf]}{emission:%y}{_digits(rng, 11)}", utility_cnpj=cnpj, identity=ident,
        history_days=history_days, render_seed=(render_seed := rng.getrandbits(32)),
        printing=print_style(prof.family, render_seed),
    )
