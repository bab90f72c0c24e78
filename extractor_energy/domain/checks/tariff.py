"""Tariff group and modality: subgroup, high-voltage flag and modality flags agree."""

from __future__ import annotations

from typing import Any, Iterator

from extractor_energy.domain.checks.base import FamilyRule, Finding, emits
from extractor_energy.domain.schema import BillData

#: modality -> the tariff group it exists in
MODALITY_GROUP = {"branca": "B", "verde": "A", "azul": "A"}
#: (flag field, modality it stands for, how a clerk calls it)
MODALITY_FLAGS = (("tarifa_branca", "branca", "white tariff"), ("ths_verde", "verde", "green tariff"))


def group_of(subgrupo: Any) -> str | None:
    if not isinstance(subgrupo, str) or not subgrupo.strip():
        return None
    head = subgrupo.strip()[0].upper()
    return head if head in "AB" else None


@emits("high_voltage_subgroup_mismatch")
def group_vs_flag(d: BillData) -> Iterator[Finding]:
    group = group_of(d.subgrupo)
    if group is None or (group == "A") == bool(d.alta_tensao):
        return
    expected = "true" if group == "A" else "false"
    yield Finding("high_voltage_subgroup_mismatch", ("alta_tensao", "subgrupo"),
                  f"Subgroup {d.subgrupo} is group {group}, so the high-voltage flag should be {expected}.")


@emits("modality_flag_mismatch")
def modality_vs_flags(d: BillData) -> Iterator[Finding]:
    if not isinstance(d.modalidade, str):
        return
    modality = d.modalidade.strip().lower()
    for flag, name, label in MODALITY_FLAGS:
        if (modality == name) != bool(getattr(d, flag)):
            yield Finding("modality_flag_mismatch", ("modalidade", flag),
                          f"Tariff modality is {d.modalidade!r}, but the {label} flag is "
                          f"{str(bool(getattr(d, flag))).lower()}.")


@emits("modality_group_mismatch")
def modality_vs_group(d: BillData) -> Iterator[Finding]:
    group = group_of(d.subgrupo)
    if group is None or not isinstance(d.modalidade, str):
        return
    need = MODALITY_GROUP.get(d.modalidade.strip().lower())
    if need is not None and need != group:
        yield Finding("modality_group_mismatch", ("modalidade", "subgrupo"),
                      f"Tariff modality {d.modalidade!r} exists only in group {need}, but the subgroup is "
                      f"{d.subgrupo}.")


RULES: tuple[FamilyRule, ...] = (group_vs_flag, modality_vs_flags, modality_vs_group)
