"""Utility/state normalisation: ``concessionaria`` + ``uf`` -> adapter key (``equatorial_go``)."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

_ECHO = 100  # characters of user input echoed back in a message


def _echo(value: str) -> str:
    text = repr(value)
    return text if len(text) <= _ECHO else text[: _ECHO - 1] + "…"

UFS: tuple[str, ...] = (
    "AC", "AL", "AM", "AP", "BA", "CE", "DF", "ES", "GO", "MA", "MG", "MS", "MT", "PA",
    "PB", "PE", "PI", "PR", "RJ", "RN", "RO", "RR", "RS", "SC", "SE", "SP", "TO",
)

#: Ways people write a utility, folded to the slug used in keys.
ALIASES: dict[str, str] = {
    "cemig_d": "cemig",
    "cemig_distribuicao": "cemig",
    "cemig_distribuicao_s_a": "cemig",
    "celpe": "neoenergia",
    "coelba": "neoenergia",
    "cosern": "neoenergia",
    "neoenergia_pernambuco": "neoenergia",
    "neoenergia_coelba": "neoenergia",
    "neoenergia_cosern": "neoenergia",
    "neoenergia_brasilia": "neoenergia",
    "neoenergia_celpe": "neoenergia",
    "cea": "equatorial",
    "cea_equatorial": "equatorial",
    "ceee_equatorial": "equatorial",
    "equatorial_energia": "equatorial",
    "enel_distribuicao": "enel",
    "light_sesa": "light",
    "light_s_a": "light",
    "copel_distribuicao": "copel",
    "copel_dis": "copel",
    "edp_brasil": "edp",
    "edp_sao_paulo": "edp",
    "edp_espirito_santo": "edp",
    "amazonas": "amazonas_energia",
    # legal names as printed on bills (too long and too varied to be keys of their own)
    "companhia_estadual_de_distribuicao_de_energia_eletrica": "equatorial",  # CEEE-D, now CEEE Equatorial (RS)
    "ceee_d": "equatorial",
    "companhia_energetica_de_minas_gerais": "cemig",
    "cemig_distribuicao_sa": "cemig",
    "companhia_paranaense_de_energia": "copel",
    "companhia_paulista_de_forca_e_luz": "cpfl_paulista",
    "centrais_eletricas_de_santa_catarina": "celesc",
    "celesc_distribuicao": "celesc",
    "companhia_energetica_de_pernambuco": "neoenergia",
    "companhia_de_eletricidade_do_estado_da_bahia": "neoenergia",
    "companhia_energetica_do_rio_grande_do_norte": "neoenergia",
    "companhia_energetica_do_ceara": "enel",
    "eletropaulo_metropolitana_eletricidade_de_sao_paulo": "enel",
    "light_servicos_de_eletricidade": "light",
    "light_servicos_de_eletricidade_s_a": "light",
}

#: Utility slugs this service knows (prompt notes, aliases, the large distributors). Only these
#: and keys with an adapter get their own metrics series; anything else is counted as "other".
KNOWN_UTILITIES: frozenset[str] = frozenset(ALIASES.values()) | {
    "cemig", "copel", "cpfl", "cpfl_paulista", "cpfl_piratininga", "cpfl_santa_cruz", "edp", "enel", "energisa",
    "equatorial", "light", "neoenergia", "celesc", "ceee", "rge", "elektro", "amazonas_energia", "roraima_energia",
    "sulgipe", "dmed", "celg", "coelba", "celpe", "cosern", "coelce", "eletropaulo", "ampla", "bandeirante",
}

#: One limit for the utility part of a key, whether it comes from a request or an adapter folder
#: name (long enough for legal names such as "Companhia Estadual de Distribuição de Energia Elétrica").
SLUG_MAX = 80
_FORBIDDEN = re.compile(r"[/\\\x00]|\.\.")
_ALLOWED_KEY = re.compile(r"^[a-z0-9]+(?:_[a-z0-9]+)*_[a-z]{2}$")


class InvalidKey(ValueError):
    """A utility or state that cannot form a key; the message is shown to the user."""


@dataclass(frozen=True)
class BillKey:
    """A normalised ``concessionaria_uf`` pair."""

    concessionaria: str  # slug, e.g. "equatorial" or "cpfl_santa_cruz"
    uf: str  # upper-case, e.g. "GO"

    @property
    def key(self) -> str:
        return f"{self.concessionaria}_{self.uf.lower()}"

    def __str__(self) -> str:
        return self.key


def fold(text: str) -> str:
    """Lower-case ASCII with accents removed and runs of other characters turned into ``_``."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return re.sub(r"[^a-z0-9]+", "_", ascii_text.lower()).strip("_")


def normalize_uf(uf: str) -> str:
    """Return the upper-case UF or raise :class:`InvalidKey` naming the 27 valid ones."""
    if uf is None or not str(uf).strip():
        raise InvalidKey("uf is required: one of the 27 two-letter codes, e.g. GO, SP, MG")
    if _FORBIDDEN.search(uf):
        raise InvalidKey("uf must be a two-letter state code, e.g. GO; path characters are not allowed")
    value = fold(uf).upper()
    if value not in UFS:
        raise InvalidKey(f"unknown uf {_echo(uf)}: expected one of {', '.join(UFS)}")
    return value


def normalize_concessionaria(name: str, uf: str | None = None) -> str:
    """Fold a utility name to its key slug (``Cemig Distribuição`` -> ``cemig``)."""
    if name is None or not str(name).strip():
        raise InvalidKey("concessionaria is required, e.g. EQUATORIAL, CEMIG, ENEL")
    if _FORBIDDEN.search(name):
        raise InvalidKey(
            "concessionaria must be a utility name such as EQUATORIAL; '/', '\\', '..' and NUL are not allowed"
        )
    slug = fold(name)
    if not slug:
        raise InvalidKey(f"concessionaria {_echo(name)} has no letters or digits")
    if uf:
        suffix = "_" + uf.lower()
        if slug.endswith(suffix) and len(slug) > len(suffix):
            slug = slug[: -len(suffix)]  # "ENEL RJ" with uf=RJ -> "enel"
    slug = ALIASES.get(slug, slug)
    if len(slug) > SLUG_MAX:
        raise InvalidKey(f"concessionaria is too long ({len(slug)} characters after folding; at most {SLUG_MAX})")
    return slug


def make_key(concessionaria: str, uf: str) -> BillKey:
    """Normalise both parts; raises :class:`InvalidKey` with a user-facing message."""
    uf_norm = normalize_uf(uf)
    return BillKey(normalize_concessionaria(concessionaria, uf_norm), uf_norm)


def parse_key(key: str) -> BillKey:
    """Split a folder name such as ``cpfl_santa_cruz_sp`` on its last underscore."""
    if not _ALLOWED_KEY.match(key or ""):
        raise InvalidKey(f"{_echo(key)} is not a key of the form <concessionaria>_<uf>, e.g. equatorial_go")
    slug, _, uf = key.rpartition("_")
    if len(slug) > SLUG_MAX:
        raise InvalidKey(
            f"the utility part of {_echo(key)} has {len(slug)} characters; at most {SLUG_MAX} (the limit requests have)"
        )
    return BillKey(slug, normalize_uf(uf))
