"""Line items and taxes of a bill: tariffs include ICMS/PIS/COFINS ("por dentro"), items add up to the total."""

from __future__ import annotations

import random
from dataclasses import dataclass

#: R$/kWh added by each tariff flag, before taxes (ANEEL 2025 values).
FLAG_ADDITION = {"VERDE": 0.0, "AMARELA": 0.01885, "VERMELHA P1": 0.04463, "VERMELHA P2": 0.07877}
FLAG_WORDS = {"VERDE": "Verde", "AMARELA": "Amarela", "VERMELHA P1": "Vermelha Patamar 1",
              "VERMELHA P2": "Vermelha Patamar 2"}


@dataclass(frozen=True)
class Item:
    """One row of the items table; ``flag`` names the contract flag the row is evidence for."""

    code: str
    desc: str
    unit: str | None
    qty: float | None
    price: float | None
    value: float
    taxed: bool
    flag: str | None = None


@dataclass(frozen=True)
class Tax:
    """One row of the tax block."""

    name: str
    base: float
    rate: float
    value: float


@dataclass(frozen=True)
class Usage:
    """What was measured and which tariff options apply."""

    consumo: int
    billed: int  # kWh charged after compensation (never below the minimum)
    compensated: int
    bandeira: str
    baixa_renda: bool
    branca: bool
    group_a: bool
    reactive: bool


def _line(code: str, desc: str, unit: str | None, qty: float, price: float, taxed: bool = True,
          flag: str | None = None) -> Item:
    return Item(code, desc, unit, qty, round(price, 6), round(qty * round(price, 6), 2), taxed, flag)


def energy_items(rng: random.Random, use: Usage, tax_share: float) -> list[Item]:
    """Consumption, flag, compensation (GD), demand and reactive rows, all in the ICMS base."""
    grossup = 1 / (1 - tax_share)
    social = 0.62 if use.baixa_renda else 1.0
    tusd = rng.uniform(0.38, 0.55) * grossup * social
    te = rng.uniform(0.26, 0.36) * grossup * social
    items: list[Item] = []
    if use.group_a:
        peak = round(use.consumo * rng.uniform(0.08, 0.14))
        items.append(_line("ponta", "Consumo Ativo Ponta", "kWh", peak, (tusd + te) * 2.6))
        items.append(_line("fora_ponta", "Consumo Ativo Fora Ponta", "kWh", use.consumo - peak, (tusd + te) * 0.62))
        demand = max(30, round(use.consumo / rng.uniform(250, 420)))
        items.append(_line("demanda", "Demanda Ativa", "kW", demand, rng.uniform(18, 42) * grossup))
        if use.reactive:
            items.append(_line("reativa", "Energia Reativa Excedente", "kvarh", round(use.consumo * rng.uniform(0.02, 0.09)),
                               rng.uniform(0.25, 0.36) * grossup, flag="energia_reativa"))
    elif use.branca:
        peak = round(use.consumo * rng.uniform(0.06, 0.11))
        mid = round(use.consumo * rng.uniform(0.05, 0.09))
        items.append(_line("ponta", "Consumo Ponta", "kWh", peak, (tusd + te) * 1.95, flag="tarifa_branca"))
        items.append(_line("intermediario", "Consumo Intermediário", "kWh", mid, (tusd + te) * 1.28))
        items.append(_line("fora_ponta", "Consumo Fora Ponta", "kWh", use.consumo - peak - mid, (tusd + te) * 0.81))
    elif use.baixa_renda:
        items += social_tiers(use.consumo, tusd / social, te / social)
    else:
        items.append(_line("tusd", "Consumo Uso Sistema (TUSD)", "kWh", use.consumo, tusd))
        items.append(_line("te", "Consumo Energia (TE)", "kWh", use.consumo, te))
    if use.compensated:
        items.append(_line("inj_tusd", "Energia Injetada TUSD GD II", "kWh", use.compensated, -tusd, flag="energia_ativa_injetada"))
        items.append(_line("inj_te", "Energia Injetada TE GD II", "kWh", use.compensated, -te))
    if FLAG_ADDITION[use.bandeira]:
        label = f"Adicional Bandeira {FLAG_WORDS[use.bandeira]}"
        items.append(_line("bandeira", label, "kWh", use.billed, FLAG_ADDITION[use.bandeira] * grossup))
    return items


#: Social tariff (Tarifa Social) discount tiers: (first kWh, last kWh, discount).
SOCIAL_TIERS = ((0, 30, 0.65), (31, 100, 0.40), (101, 220, 0.10), (221, 10**9, 0.0))


def social_tiers(consumo: int, tusd: float, te: float) -> list[Item]:
    """Tier lines of a social-tariff bill ("Consumo 0 a 30 kWh - desconto 65%"...), TUSD and TE in each."""
    items = []
    for lo, hi, discount in SOCIAL_TIERS:
        qty = min(consumo, hi) - max(lo, 1) + 1
        if qty <= 0:
            break
        span = f"acima de {lo - 1} kWh" if hi >= 10**9 else f"{lo} a {hi} kWh"
        tag = f"desc {round(discount * 100)}%" if discount else "sem desconto"
        items.append(_line(f"social_tusd_{lo}", f"TUSD - Consumo {span} {tag}", "kWh", qty, tusd * (1 - discount),
                           flag="baixa_renda" if lo == 0 else None))
        items.append(_line(f"social_te_{lo}", f"TE - Consumo {span} {tag}", "kWh", qty, te * (1 - discount)))
    return items


def taxes_for(items: list[Item], icms: float, pis: float, cofins: float) -> list[Tax]:
    """ICMS, PIS/PASEP and COFINS on the taxed rows (values already inside the tariffs)."""
    base = round(sum(item.value for item in items if item.taxed), 2)
    return [Tax(name, base, rate, round(base * rate / 100, 2))
            for name, rate in (("ICMS", icms), ("PIS/PASEP", pis), ("COFINS", cofins))]


def other_item(code: str, desc: str, value: float, flag: str | None = None) -> Item:
    """A row outside the ICMS base: public lighting, instalments, fines and interest."""
    return Item(code, desc, None, None, None, round(value, 2), False, flag)
