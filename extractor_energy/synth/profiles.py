"""Per-utility facts that change the ground truth: printed name, which identifiers exist, masks, history.

The layout family (which drawing module is used) is picked from the key's concessionaria slug;
anything not listed falls back to ``generic``.
"""

from __future__ import annotations

from dataclasses import dataclass

FAMILIES = ("equatorial", "enel", "cemig", "light", "cpfl", "energisa", "copel", "generic")

_EQUATORIAL = {
    "GO": "EQUATORIAL GOIÁS DISTRIBUIDORA DE ENERGIA S.A.",
    "MA": "EQUATORIAL MARANHÃO DISTRIBUIDORA DE ENERGIA S.A.",
    "PA": "EQUATORIAL PARÁ DISTRIBUIDORA DE ENERGIA S.A.",
    "PI": "EQUATORIAL PIAUÍ DISTRIBUIDORA DE ENERGIA S.A.",
    "AL": "EQUATORIAL ALAGOAS DISTRIBUIDORA DE ENERGIA S.A.",
    "AP": "CEA EQUATORIAL - COMPANHIA DE ELETRICIDADE DO AMAPÁ",
    "RS": "CEEE EQUATORIAL - COMPANHIA ESTADUAL DE DISTRIBUIÇÃO DE ENERGIA ELÉTRICA",
}
_ENEL = {"RJ": "ENEL DISTRIBUIÇÃO RIO", "CE": "ENEL DISTRIBUIÇÃO CEARÁ", "SP": "ENEL DISTRIBUIÇÃO SÃO PAULO"}
_ENERGISA = {
    "MT": "MATO GROSSO", "MS": "MATO GROSSO DO SUL", "TO": "TOCANTINS", "PB": "PARAÍBA", "SE": "SERGIPE",
    "AC": "ACRE", "RO": "RONDÔNIA", "MG": "MINAS RIO", "RJ": "MINAS RIO", "SP": "SUL-SUDESTE", "PR": "SUL-SUDESTE",
}
_OTHERS = {
    ("neoenergia", "PE"): "NEOENERGIA PERNAMBUCO", ("neoenergia", "BA"): "NEOENERGIA COELBA",
    ("neoenergia", "RN"): "NEOENERGIA COSERN", ("neoenergia", "DF"): "NEOENERGIA BRASÍLIA",
    ("edp", "SP"): "EDP SÃO PAULO DISTRIBUIÇÃO DE ENERGIA S.A.", ("edp", "ES"): "EDP ESPÍRITO SANTO DISTRIBUIÇÃO DE ENERGIA S.A.",
    ("celesc", "SC"): "CELESC DISTRIBUIÇÃO S.A.", ("rge", "RS"): "RGE SUL DISTRIBUIDORA DE ENERGIA S.A.",
    ("elektro", "SP"): "ELEKTRO REDES S.A.", ("elektro", "MS"): "ELEKTRO REDES S.A.",
    ("amazonas_energia", "AM"): "AMAZONAS ENERGIA S.A.", ("roraima_energia", "RR"): "RORAIMA ENERGIA S.A.",
}


@dataclass(frozen=True)
class Profile:
    """What one utility prints: identity, identifiers, barcode agreement and history shape."""

    family: str
    distribuidora: str  # printed company name, also the annotation value
    brand: str  # word in the logo
    febraban: str  # 4-digit company/agreement code in the barcode
    value_type: str  # barcode value-type digit: 6 (modulo 10) or 8 (modulo 11)
    has_cliente: bool  # prints a customer code
    has_contrato: bool  # prints a contract account
    inst_style: str  # plain8 | plain9 | plain10 | cemig | energisa
    history_len: int  # 12 or 13 months
    history_current: bool  # the history includes the reference month itself
    newest_first: bool  # printed order of the history


def family_of(slug: str) -> str:
    """Layout family of a concessionaria slug (``cpfl_santa_cruz`` -> ``cpfl``)."""
    head = slug.split("_")[0]
    return head if head in FAMILIES else "generic"


def _name(slug: str, uf: str, family: str) -> str:
    if family == "equatorial":
        return _EQUATORIAL.get(uf, "EQUATORIAL ENERGIA DISTRIBUIÇÃO S.A.")
    if family == "enel":
        return _ENEL.get(uf, "ENEL DISTRIBUIÇÃO")
    if family == "cemig":
        return "CEMIG DISTRIBUIÇÃO S.A."
    if family == "light":
        return "LIGHT SERVIÇOS DE ELETRICIDADE S.A."
    if family == "copel":
        return "COPEL DISTRIBUIÇÃO S.A."
    if family == "cpfl":
        if slug != "cpfl":
            return slug.replace("_", " ").upper()
        return {"SP": "CPFL PAULISTA", "RS": "RGE SUL"}.get(uf, "CPFL ENERGIA")
    if family == "energisa":
        region = slug[len("energisa_"):].replace("_", " ").upper() if slug != "energisa" else _ENERGISA.get(uf, uf)
        region = "SUL-SUDESTE" if region == "SUL SUDESTE" else region
        return f"ENERGISA {region} - DISTRIBUIDORA DE ENERGIA S.A."
    return _OTHERS.get((slug, uf), slug.replace("_", " ").upper())


_SHAPES = {  # family: (febraban, value type, cliente, inst style, history len, current, newest first)
    "equatorial": ("0069", "6", True, "plain10", 13, True, True),
    "enel": ("0043", "6", True, "plain9", 13, True, False),
    "cemig": ("0138", "8", True, "cemig", 13, True, False),
    "light": ("0053", "6", True, "plain10", 12, False, True),
    "cpfl": ("0017", "6", True, "plain9", 13, True, True),
    "energisa": ("0155", "6", True, "energisa", 13, True, False),
    "copel": ("0023", "8", False, "plain8", 12, False, True),
    "generic": ("0099", "6", True, "plain10", 13, True, True),
}
_BRANDS = {"equatorial": "equatorial", "enel": "enel", "cemig": "CEMIG", "light": "Light",
           "cpfl": "CPFL", "energisa": "energisa", "copel": "COPEL"}


def profile_for(slug: str, uf: str) -> Profile:
    """The profile of ``<slug>_<uf>``; Equatorial prints a contract account except in GO."""
    family = family_of(slug)
    febraban, value_type, cliente, inst, hist, current, newest = _SHAPES[family]
    brand = _BRANDS.get(family) or slug.split("_")[0].upper()
    return Profile(
        family=family, distribuidora=_name(slug, uf, family), brand=brand, febraban=febraban,
        value_type=value_type, has_cliente=cliente, has_contrato=family == "equatorial" and uf != "GO",
        inst_style=inst, history_len=hist, history_current=current, newest_first=newest,
    )
