"""Per-bill printing choices: label synonyms and printed formats (real_layouts.md sections 5-6).

The ground truth never depends on these choices: every printed form reads back to the same
contract value (``7/2025``, ``JUL/2025`` and ``Julho / 2025`` are all ``07/2025``;
``R$*****140,54`` is ``140.54``). A bill draws its choices from its own ``render_seed``, biased
towards what its utility family prints.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from extractor_energy.synth import fmt

#: Reference-month styles each family prints (first = most common); see fmt.month.
MONTH_STYLES: dict[str, tuple[str, ...]] = {
    "equatorial": ("short", "num", "abbr"), "enel": ("num", "abbr"), "cemig": ("abbr",),
    "light": ("num", "abbr"), "cpfl": ("abbr", "name"), "energisa": ("abbr", "title_sp", "name_sp", "abbr2"),
    "copel": ("num", "abbr"), "generic": ("num", "num_sp", "abbr", "name"),
}
#: Total styles per family; the rest of fmt.TOTAL_STYLES appear sometimes anywhere.
TOTAL_STYLES: dict[str, tuple[str, ...]] = {
    "equatorial": ("rs", "stars"), "enel": ("rs",), "cemig": ("plain",), "light": ("rs", "rs_tight"),
    "cpfl": ("rs", "plain"), "energisa": ("rs", "rs_tight"), "copel": ("rs",), "generic": ("rs", "stars_plain"),
}

#: Label synonyms seen on real bills, per key field.
LABELS: dict[str, tuple[str, ...]] = {
    "mes": ("Conta mês", "Conta Mês", "CONTA MÊS", "Conta do Mês", "Conta referente a", "REF: MÊS / ANO",
            "Ref: mês/ano", "REF.: MÊS / ANO", "MÊS/ANO", "MÊS/ANO DE REFERÊNCIA", "REFERÊNCIA", "Referente a",
            "Competência"),
    "venc": ("Vencimento", "VENCIMENTO", "Data Vencimento", "Data de Vencimento", "Vencto"),
    "total": ("Total a Pagar", "Total a pagar", "TOTAL A PAGAR", "TOTAL A PAGAR R$", "Total a Pagar (R$)",
              "Valor total a pagar", "Valor a pagar (R$)", "Valor cobrado (R$)", "TOTAL DA FATURA"),
    "inst": ("Código da Instalação", "CÓDIGO DA INSTALAÇÃO", "INSTALAÇÃO:", "INSTALACAO:", "Número da Instalação",
             "Nº da Instalação", "Nº DA INSTALAÇÃO", "INSTALAÇÃO / UNID. CONSUMIDORA", "UNIDADE CONSUMIDORA",
             "UC (Unidade Consumidora):", "Número da UC"),
    "cliente": ("Parceiro de Negócio", "Código do Cliente", "CÓDIGO DO CLIENTE", "Nº DO CLIENTE", "Cliente:", "PN",
                "SEU CÓDIGO", "COD. IDENT.", "C.C:"),
    "classe": ("Classificação:", "CLASSIFICACAO:", "Classe/Subclasse:", "CLASSE/SUBCLASSE:", "Cls/Sbc:"),
    "tipo": ("Tipo de Fornecimento:", "TIPO DE FORNECIMENTO", "Tp.fornec.:", "TP FORNECIMENTO:", "LIGAÇÃO:", "Ligacao:"),
}
#: What each family prints by default (index into LABELS lists by text).
FAMILY_LABELS: dict[str, dict[str, str]] = {
    "equatorial": {"mes": "Conta mês", "venc": "Vencimento", "total": "Total a pagar", "inst": "UNIDADE CONSUMIDORA",
                   "cliente": "Parceiro de Negócio", "classe": "CLASSIFICACAO:", "tipo": "TIPO DE FORNECIMENTO"},
    "enel": {"mes": "MÊS/ANO DE REFERÊNCIA", "venc": "VENCIMENTO", "total": "TOTAL A PAGAR",
             "inst": "INSTALAÇÃO / UNID. CONSUMIDORA", "cliente": "Nº DO CLIENTE", "classe": "CLASSIFICACAO:",
             "tipo": "TIPO DE FORNECIMENTO"},
    "cemig": {"mes": "Referente a", "venc": "Vencimento", "total": "Valor a pagar (R$)", "inst": "Nº DA INSTALAÇÃO",
              "cliente": "Nº DO CLIENTE", "classe": "Classe/Subclasse:", "tipo": "Tipo de Fornecimento:"},
    "light": {"mes": "MÊS/ANO", "venc": "Vencimento", "total": "Total a Pagar", "inst": "Código da Instalação",
              "cliente": "Código do Cliente", "classe": "Classificação:", "tipo": "Tipo de Fornecimento:"},
    "cpfl": {"mes": "Ref: mês/ano", "venc": "Vencimento", "total": "Total a pagar", "inst": "Código da Instalação",
             "cliente": "SEU CÓDIGO", "classe": "Classificação:", "tipo": "Tipo de Fornecimento:"},
    "energisa": {"mes": "REF: MÊS / ANO", "venc": "VENCIMENTO", "total": "TOTAL A PAGAR",
                 "inst": "CÓDIGO DA INSTALAÇÃO", "cliente": "CÓDIGO DO CLIENTE", "classe": "Classificação:",
                 "tipo": "Tipo de Fornecimento:"},
    "copel": {"mes": "REFERÊNCIA", "venc": "VENCIMENTO", "total": "TOTAL A PAGAR", "inst": "UNIDADE CONSUMIDORA",
              "cliente": "Cliente:", "classe": "Classificação:", "tipo": "TP FORNECIMENTO:"},
    "generic": {"mes": "REFERÊNCIA", "venc": "VENCIMENTO", "total": "TOTAL A PAGAR", "inst": "UNIDADE CONSUMIDORA",
                "cliente": "Código do Cliente", "classe": "Classificação:", "tipo": "Tipo de Fornecimento:"},
}


#: Item descriptions that vary from bill to bill (real_layouts.md section 7); ``{flag}``/``{FLAG}`` = flag words.
ITEM_NAMES: dict[str, tuple[str, ...]] = {
    "bandeira": ("Adicional Bandeira {flag}", "Adc bandeira {flag_lower}", "Acrés. Band. {FLAG}", "AD.B.{short}",
                 "Adicional de Bandeira {flag}", "ENERGIA CONS. B.{FLAG}"),
    "cip": ("Cip-Ilum Pub Pref Munic", "COSIP", "CONTRIB ILUM PÚBLICA", "Contribuição Custeio IP-CIP",
            "CONT ILUMIN PUBLICA MUNICIPIO", "Contrib. Ilum. Pública - Municipal"),
}


@dataclass(frozen=True)
class PrintStyle:
    """How one bill prints its key values and labels."""

    month_style: str
    total_style: str
    trailing_minus: bool  # credits as ``54,33-``
    short_year: bool  # reading dates as ``05/11/25`` (rolls)
    labels: dict[str, str] = field(default_factory=dict)
    item_names: dict[str, str] = field(default_factory=dict)  # item code -> printed description (flag, CIP)

    def month(self, mes_ano: str) -> str:
        return fmt.month(mes_ano, self.month_style)

    def total(self, value: float) -> str:
        return fmt.total(value, self.total_style)

    def reading(self, dmy: str) -> str:
        return fmt.short_dmy(dmy) if self.short_year else dmy

    def label(self, name: str) -> str:
        return self.labels[name]

    def item_name(self, code: str, default: str, flag: str) -> str:
        """The printed description of an item (``default`` when this bill keeps the layout's wording)."""
        template = self.item_names.get(code, default)
        short = {"Amarela": "AMAR", "Vermelha Patamar 1": "VERM1", "Vermelha Patamar 2": "VERM2"}.get(flag, flag.upper())
        return template.format(flag=flag, flag_lower=flag.lower(), FLAG=flag.upper(), short=short)


def print_style(family: str, seed: int) -> PrintStyle:
    """Draw the printing choices of one bill of ``family`` from ``seed`` (``short_year`` is used by rolls only)."""
    rng = random.Random(f"print:{family}:{seed}")
    months = MONTH_STYLES.get(family, MONTH_STYLES["generic"])
    month_style = months[0] if rng.random() < 0.5 else rng.choice(months + ("num", "abbr"))
    totals = TOTAL_STYLES.get(family, TOTAL_STYLES["generic"])
    total_style = rng.choice(totals) if rng.random() < 0.75 else rng.choice(fmt.TOTAL_STYLES)
    own = FAMILY_LABELS.get(family, FAMILY_LABELS["generic"])
    labels = {name: own[name] if rng.random() < 0.55 else rng.choice(options) for name, options in LABELS.items()}
    names = {code: rng.choice(options) for code, options in ITEM_NAMES.items() if rng.random() < 0.6}
    return PrintStyle(month_style=month_style, total_style=total_style, item_names=names,
                      trailing_minus=family == "cpfl" or rng.random() < 0.25,
                      short_year=rng.random() < 0.5, labels=labels)
