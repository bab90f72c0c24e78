"""Invented customers: names, masked CPF/CNPJ and supply addresses (seeded ``Faker('pt_BR')``)."""

from __future__ import annotations

import random
from dataclasses import dataclass
from functools import lru_cache

from faker import Faker

from extractor_energy.synth.places import STATES

_STREET_TYPES = ["RUA"] * 6 + ["AVENIDA"] * 2 + ["TRAVESSA", "ALAMEDA", "ESTRADA"]
_BUSINESSES = ["MERCADINHO", "PADARIA", "AUTO PEÇAS", "DROGARIA", "RESTAURANTE", "OFICINA MECÂNICA",
               "SALÃO DE BELEZA", "PAPELARIA", "MATERIAIS DE CONSTRUÇÃO", "AÇOUGUE", "LANCHONETE"]
_INDUSTRIES = ["INDÚSTRIA DE MÓVEIS", "METALÚRGICA", "CERÂMICA", "LATICÍNIOS", "TÊXTIL", "ALIMENTOS"]
_PUBLIC = ["PREFEITURA MUNICIPAL DE {city}", "CÂMARA MUNICIPAL DE {city}", "ESCOLA MUNICIPAL {person}",
           "SECRETARIA MUNICIPAL DE SAÚDE DE {city}", "UNIDADE BÁSICA DE SAÚDE {person}"]


@dataclass(frozen=True)
class Customer:
    """Who pays and where the energy is delivered, as the bill prints it."""

    nome: str
    cpf_cnpj: str
    rua: str
    numero: str | None
    complemento: str | None
    bairro: str
    cidade: str
    estado: str
    cep: str


@lru_cache(maxsize=1)
def _faker() -> Faker:
    return Faker("pt_BR")


def _person(fake: Faker) -> str:
    surnames = [fake.last_name() for _ in range(2)]
    return " ".join([fake.first_name(), *surnames]).upper()


def _mask_cpf(cpf: str, rng: random.Random) -> str:
    if rng.random() < 0.5:
        return f"{cpf[:3]}.XXX.XXX-{cpf[-2:]}"
    return f"***.{cpf[4:11]}-**"


def _mask_cnpj(cnpj: str) -> str:
    return f"{cnpj[:2]}.XXX.XXX/{cnpj[11:15]}-{cnpj[-2:]}"


def _street(fake: Faker, rng: random.Random, uf: str) -> str:
    if uf == "GO" and rng.random() < 0.35:
        return f"RUA {rng.choice('CTFJ')}-{rng.randint(1, 260)}"
    return f"{rng.choice(_STREET_TYPES)} {fake.first_name()} {fake.last_name()}".upper()


def _complemento(rng: random.Random, uf: str) -> str | None:
    roll = rng.random()
    if uf == "GO" and roll < 0.5:
        return f"QD {rng.randint(1, 120)} LT {rng.randint(1, 40)}"
    if roll < 0.2:
        return f"APTO {rng.randint(1, 24)}{rng.randint(1, 8):02d}"
    if roll < 0.3:
        return f"CASA {rng.randint(1, 6)}"
    if roll < 0.35:
        return f"SALA {rng.randint(1, 30)}"
    return None


def make_customer(rng: random.Random, uf: str, kind: str) -> Customer:
    """A customer in ``uf``; ``kind`` is person, business, industry or public."""
    fake = _faker()
    fake.seed_instance(rng.getrandbits(32))
    city, cep_lo, cep_hi = rng.choice(STATES[uf].cities)
    if kind == "person":
        nome, doc = _person(fake), _mask_cpf(fake.cpf(), rng)
    else:
        last = fake.last_name().upper()
        if kind == "business":
            nome = f"{rng.choice(_BUSINESSES)} {last}" + rng.choice([" LTDA", " ME", " EIRELI", ""])
        elif kind == "industry":
            nome = f"{rng.choice(_INDUSTRIES)} {last} LTDA"
        else:
            nome = rng.choice(_PUBLIC).format(city=city, person=_person(fake))
        doc = _mask_cnpj(fake.cnpj())
    cep = rng.randint(cep_lo * 1000, cep_hi * 1000 + 999)
    bairro = fake.bairro().upper()
    if uf == "GO" and rng.random() < 0.4:
        bairro = f"SETOR {bairro}"
    numero = None if rng.random() < 0.06 else str(rng.randint(1, 3999) if rng.random() < 0.8 else rng.randint(1, 99))
    return Customer(
        nome=nome, cpf_cnpj=doc, rua=_street(fake, rng, uf), numero=numero,
        complemento=_complemento(rng, uf), bairro=bairro, cidade=city, estado=uf,
        cep=f"{cep // 1000:05d}-{cep % 1000:03d}",
    )
