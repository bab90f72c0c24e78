"""Address: a Brazilian UF, a CEP written NNNNN-NNN, and a CEP inside the state's ranges."""

from __future__ import annotations

import re
from typing import Iterator

from extractor_energy.domain.checks.base import FamilyRule, Finding, emits
from extractor_energy.domain.keys import UFS
from extractor_energy.domain.schema import BillData

#: CEP ranges (first five digits, inclusive) per UF, as published by Correios.
#: RO also keeps its pre-1990s range 78900-78999 (not assigned to any other state).
CEP_RANGES: dict[str, tuple[tuple[int, int], ...]] = {
    "SP": ((1000, 19999),),
    "RJ": ((20000, 28999),),
    "ES": ((29000, 29999),),
    "MG": ((30000, 39999),),
    "BA": ((40000, 48999),),
    "SE": ((49000, 49999),),
    "PE": ((50000, 56999),),
    "AL": ((57000, 57999),),
    "PB": ((58000, 58999),),
    "RN": ((59000, 59999),),
    "CE": ((60000, 63999),),
    "PI": ((64000, 64999),),
    "MA": ((65000, 65999),),
    "PA": ((66000, 68899),),
    "AP": ((68900, 68999),),
    "AM": ((69000, 69299), (69400, 69899)),
    "RR": ((69300, 69399),),
    "AC": ((69900, 69999),),
    "DF": ((70000, 72799), (73000, 73699)),
    "GO": ((72800, 72999), (73700, 76799)),
    "RO": ((76800, 76999), (78900, 78999)),
    "TO": ((77000, 77999),),
    "MT": ((78000, 78899),),
    "MS": ((79000, 79999),),
    "PR": ((80000, 87999),),
    "SC": ((88000, 89999),),
    "RS": ((90000, 99999),),
}
assert set(CEP_RANGES) == set(UFS)

_CEP_RE = re.compile(r"\d{5}-\d{3}")


@emits("unknown_uf")
def uf(d: BillData) -> Iterator[Finding]:
    if d.estado is not None and d.estado not in UFS:
        yield Finding("unknown_uf", ("estado",), f"State {d.estado!r} is not one of the 27 Brazilian UFs.")


@emits("cep_format")
def cep_format(d: BillData) -> Iterator[Finding]:
    if d.cep is not None and not (isinstance(d.cep, str) and _CEP_RE.fullmatch(d.cep)):
        yield Finding("cep_format", ("cep",), f"CEP {d.cep!r} is not written as NNNNN-NNN.")


@emits("cep_state_mismatch")
def cep_vs_state(d: BillData) -> Iterator[Finding]:
    if d.estado not in CEP_RANGES or not (isinstance(d.cep, str) and _CEP_RE.fullmatch(d.cep)):
        return
    prefix = int(d.cep[:5])
    if any(lo <= prefix <= hi for lo, hi in CEP_RANGES[d.estado]):
        return
    owner = next((uf for uf, ranges in CEP_RANGES.items() if any(lo <= prefix <= hi for lo, hi in ranges)), None)
    belongs = f"belongs to {owner}" if owner else "is in no state's range"
    yield Finding("cep_state_mismatch", ("cep", "estado"),
                  f"CEP {d.cep} {belongs}, but the state is {d.estado}.")


RULES: tuple[FamilyRule, ...] = (uf, cep_format, cep_vs_state)
