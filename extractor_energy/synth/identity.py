"""The fixed identity of a utility in a state: what never changes from one of its bills to the next.

Real bills of one utility always print the same company name, CNPJ, state registration, head
office address, colours and service numbers; only the customer's data changes. Everything here is
derived from the ``<concessionaria>_<uf>`` key alone (a string-seeded RNG, stable across runs), so
two bills of ``equatorial_go`` share it and ``equatorial_go`` and ``equatorial_ma`` do not.
The numbers are invented (valid check digits, plausible shapes), not the real companies' ones.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from functools import lru_cache

from extractor_energy.synth.places import STATES

Color = tuple[int, int, int]

#: Brand colours (primary, secondary) of utilities whose layout family does not fix them.
_COLOURS: dict[str, tuple[Color, Color]] = {
    "rge": ((200, 30, 45), (240, 120, 40)), "neoenergia": ((0, 140, 60), (130, 190, 40)),
    "edp": ((0, 110, 190), (230, 50, 60)), "celesc": ((0, 80, 160), (250, 200, 0)),
    "elektro": ((0, 110, 80), (120, 190, 60)), "amazonas": ((0, 100, 170), (250, 180, 0)),
    "roraima": ((0, 90, 60), (240, 140, 0)), "ceee": ((0, 60, 130), (200, 30, 45)),
}
_STREETS = ["AVENIDA", "RUA", "RODOVIA", "ALAMEDA"]
_STREET_NAMES = ["DAS NAÇÕES", "PRESIDENTE VARGAS", "ANHANGUERA", "SANTOS DUMONT", "DOS ANDRADAS", "BRASIL",
                 "GOVERNADOR JOSÉ MALCHER", "DOM PEDRO II", "JUSCELINO KUBITSCHEK", "VINTE E CINCO DE MARÇO"]


def _cnpj_check(body: str) -> str:
    """The two CNPJ check digits of a 12-digit ``body``."""
    digits = [int(c) for c in body]
    for weights in ([5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2], [6, 5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2]):
        rest = sum(d * w for d, w in zip(digits, weights)) % 11
        digits.append(0 if rest < 2 else 11 - rest)
    return "".join(str(d) for d in digits[-2:])


def format_cnpj(cnpj: str) -> str:
    """``01543032000104`` -> ``01.543.032/0001-04``."""
    return f"{cnpj[:2]}.{cnpj[2:5]}.{cnpj[5:8]}/{cnpj[8:12]}-{cnpj[12:]}"


@dataclass(frozen=True)
class Identity:
    """Company data printed on every bill of one utility/state."""

    cnpj: str  # 14 digits, valid check digits
    ie: str  # state registration as printed
    address: str  # head office, one line
    cep: str
    city: str
    call_center: str  # "0800 721 5050"
    ombudsman: str
    whatsapp: str
    site: str
    febraban_bank: str  # bank of the "Ficha de Compensação"
    colours: tuple[Color, Color] | None  # (primary, secondary) override of the family's style, if any

    @property
    def cnpj_text(self) -> str:
        return format_cnpj(self.cnpj)


def _phone(rng: random.Random) -> str:
    return f"0800 {rng.randint(100, 999)} {rng.randint(1000, 9999)}"


@lru_cache(maxsize=256)
def identity_for(slug: str, uf: str) -> Identity:
    """The identity of ``<slug>_<uf>`` (``equatorial``, ``GO``); deterministic, cached."""
    rng = random.Random(f"identity:{slug}_{uf}")
    body = f"{rng.randint(1, 99):02d}{rng.randint(100000, 999999)}0001"
    city, cep_lo, cep_hi = STATES[uf].cities[0]
    cep = rng.randint(cep_lo * 1000, cep_hi * 1000 + 999)
    street = f"{rng.choice(_STREETS)} {rng.choice(_STREET_NAMES)}, {rng.randint(10, 4999)}"
    ie_digits = f"{rng.randint(10**8, 10**9 - 1)}"
    ie = f"{ie_digits[:2]}.{ie_digits[2:5]}.{ie_digits[5:8]}-{ie_digits[8]}" if rng.random() < 0.6 else ie_digits
    ddd = {"GO": 62, "MA": 98, "PA": 91, "PI": 86, "AL": 82, "RS": 51, "RJ": 21, "SP": 11, "MG": 31, "CE": 85,
           "MT": 65, "MS": 67, "PR": 41, "SC": 48, "PE": 81, "BA": 71, "ES": 27}.get(uf, 61)
    head = slug.split("_")[0]
    brand = {"cpfl": "cpfl", "rge": "rge-rs", "energisa": "energisa", "neoenergia": "neoenergia"}.get(head, head)
    return Identity(
        cnpj=body + _cnpj_check(body), ie=ie, address=f"{street} - {city}/{uf}", cep=f"{cep // 1000:05d}-{cep % 1000:03d}",
        city=city, call_center=_phone(rng), ombudsman=_phone(rng),
        whatsapp=f"({ddd}) 9{rng.randint(1000, 9999)}-{rng.randint(1000, 9999)}", site=f"www.{brand}.com.br",
        febraban_bank=rng.choice(["Banco do Brasil 001-9", "Itaú 341-7", "Bradesco 237-2", "Citibank 745-5"]),
        colours=_COLOURS.get(head) or (_COLOURS["ceee"] if head == "equatorial" and uf == "RS" else None),
    )
