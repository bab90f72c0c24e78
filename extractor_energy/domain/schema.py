"""The output contract (``shared`` domain spec) as pydantic models, plus lenient/strict coercion.

``BillData`` is what users' systems consume: every field is always present, absent values are
``null`` (``false``/``[]`` for flags and lists). ``coerce_bill`` turns whatever a model or an
annotator wrote into a ``BillData`` with per-field normalisers, collecting a warning for each
value it had to drop instead of failing the whole document.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Literal

from pydantic import BaseModel, ConfigDict, Field

from extractor_energy.domain import normalize as n

Classificacao = Literal[
    "RESIDENCIAL", "COMERCIAL", "INDUSTRIAL", "RURAL", "PODER PUBLICO",
    "ILUMINACAO PUBLICA", "SERVICO PUBLICO", "OUTROS",
]
TipoInstalacao = Literal["MONOFASICO", "BIFASICO", "TRIFASICO"]
Bandeira = Literal["VERDE", "AMARELA", "VERMELHA P1", "VERMELHA P2", "ESCASSEZ"]
DATE = r"^\d{2}/\d{2}/\d{4}$"
MONTH = r"^(0[1-9]|1[0-2])/\d{4}$"


class ValorEmAberto(BaseModel):
    """An earlier unpaid bill listed on this one."""

    model_config = ConfigDict(extra="forbid")
    mes_ano: str = Field(pattern=MONTH, description="month of the unpaid bill, MM/AAAA")
    valor: float = Field(description="amount still open, in R$")


class ConsumoMes(BaseModel):
    """One month of the consumption history."""

    model_config = ConfigDict(extra="forbid")
    mes_ano: str = Field(pattern=MONTH, description="month, MM/AAAA")
    consumo: int = Field(description="consumption in kWh")


class BillData(BaseModel):
    """Everything extracted from one bill. Every key is always present."""

    model_config = ConfigDict(extra="forbid")

    cod_cliente: str | None = Field(None, description='customer code ("Código do Cliente", "Nº do Cliente", "Parceiro de Negócio")')
    conta_contrato: str | None = Field(None, description="contract account, where the utility has one")
    num_instalacao: str | None = Field(None, description="installation / consumer unit, mask kept as printed")
    nome_cliente: str | None = Field(None, description="customer or company name, without address")
    rua: str | None = Field(None, description="supply address: street")
    numero: str | None = Field(None, description="supply address: number")
    complemento: str | None = Field(None, description="supply address: complement")
    bairro: str | None = Field(None, description="supply address: district")
    cidade: str | None = Field(None, description="supply address: city")
    estado: str | None = Field(None, pattern=r"^[A-Z]{2}$", description="supply address: UF")
    cep: str | None = Field(None, pattern=r"^\d{5}-\d{3}$", description="CEP as NNNNN-NNN")
    distribuidora: str | None = Field(None, description="utility as printed")
    classificacao: Classificacao | None = Field(None, description="consumer class")
    tipo_instalacao: TipoInstalacao | None = Field(None, description="number of phases")
    tensao_nominal: str | None = Field(None, description='nominal voltage, e.g. "220 V", "127/220 V"')
    alta_tensao: bool = Field(False, description="group A (A1…A4, AS) rather than group B")
    mes_referencia: str | None = Field(None, pattern=MONTH, description="reference month, MM/AAAA")
    vencimento: str | None = Field(None, pattern=DATE, description="due date, DD/MM/AAAA")
    proximo_leitura: str | None = Field(None, pattern=DATE, description="next meter reading, DD/MM/AAAA")
    valor_fatura: float | None = Field(None, description="total to pay in R$")
    aliquota_icms: float | None = Field(None, description="ICMS rate in %")
    baixa_renda: bool = Field(False, description="social tariff (Tarifa Social / Baixa Renda)")
    energia_ativa_injetada: bool = Field(False, description="distributed generation (injected/compensated energy)")
    energia_reativa: bool = Field(False, description="reactive energy charged")
    orgao_publico: bool = Field(False, description="public-body customer")
    parcelamentos: bool = Field(False, description="an instalment line is charged")
    tarifa_branca: bool = Field(False, description="white tariff (ponta / intermediário / fora-ponta)")
    ths_verde: bool = Field(False, description="green hourly tariff (group A Verde)")
    faturas_venc: bool = Field(False, description="earlier unpaid bills are listed")
    valores_em_aberto: list[ValorEmAberto] = Field(default_factory=list, description="earlier unpaid bills only, never the current month")
    consumo_lista: list[ConsumoMes] = Field(default_factory=list, description="consumption history as printed (≤ 13 months)")
    # richer fields, null where the bill does not show them
    leitura_anterior: str | None = Field(None, pattern=DATE, description="previous reading date")
    leitura_atual: str | None = Field(None, pattern=DATE, description="current reading date")
    dias_faturados: int | None = Field(None, description="billed days")
    consumo_kwh: int | None = Field(None, description="billed consumption in kWh")
    bandeira_tarifaria: Bandeira | None = Field(None, description="tariff flag")
    energia_injetada_kwh: int | None = Field(None, description="injected energy in kWh")
    saldo_creditos_kwh: int | None = Field(None, description="credit balance in kWh")
    valor_icms: float | None = Field(None, description="ICMS amount in R$")
    valor_pis: float | None = Field(None, description="PIS/PASEP amount in R$")
    valor_cofins: float | None = Field(None, description="COFINS amount in R$")
    contrib_iluminacao_publica: float | None = Field(None, description="public lighting contribution (CIP/COSIP) in R$")
    codigo_barras: str | None = Field(None, pattern=r"^\d{44}$", description="44-digit barcode")
    linha_digitavel: str | None = Field(None, pattern=r"^\d{48}$", description="48-digit digitable line")
    cpf_cnpj: str | None = Field(None, description="customer CPF/CNPJ as printed (masked)")
    subgrupo: str | None = Field(None, description="tariff subgroup (A1…A4, AS, B1…B4)")
    modalidade: str | None = Field(None, description="tariff modality (convencional, branca, verde, azul)")


#: The fields every deployment of the contract promises (the "core" table of the domain spec).
CORE_FIELDS: tuple[str, ...] = tuple(list(BillData.model_fields)[: list(BillData.model_fields).index("consumo_lista") + 1])
ALL_FIELDS: tuple[str, ...] = tuple(BillData.model_fields)
#: Fields whose low confidence or absence matters most for billing users.
REQUIRED_FIELDS: tuple[str, ...] = ("num_instalacao", "mes_referencia", "vencimento", "valor_fatura")


def _month_list(item_key: str, item_norm: Callable[[Any], Any]) -> Callable[[Any, dict], list[dict]]:
    def convert(value: Any, _ctx: dict) -> list[dict]:
        if value in (None, "", []):
            return []
        if not isinstance(value, list):
            raise ValueError("expected a list")
        out = []
        for item in value:
            if not isinstance(item, dict):
                raise ValueError("each item must be an object with mes_ano and " + item_key)
            unknown = set(item) - {"mes_ano", item_key}
            if unknown:
                raise ValueError(f"unknown keys in item: {sorted(unknown)}")
            mes, val = n.month(item.get("mes_ano")), item_norm(item.get(item_key))
            if mes is None or val is None:
                raise ValueError(f"item needs both mes_ano and {item_key}: {item!r}")
            out.append({"mes_ano": mes, item_key: val})
        return out

    return convert


def _plain(fn: Callable[[Any], Any]) -> Callable[[Any, dict], Any]:
    return lambda value, _ctx: fn(value)


def _dated(value: Any, ctx: dict) -> str | None:
    return n.full_date(value, ctx.get("mes_referencia"))


#: field -> normaliser(value, context). Context holds already-normalised fields (mes_referencia).
NORMALISERS: dict[str, Callable[[Any, dict], Any]] = {
    **{f: _plain(n.text) for f in (
        "cod_cliente", "conta_contrato", "num_instalacao", "nome_cliente", "rua", "numero",
        "complemento", "bairro", "cidade", "distribuidora", "tensao_nominal", "cpf_cnpj",
    )},
    "estado": _plain(n.uf),
    "cep": _plain(n.cep),
    "classificacao": _plain(n.classificacao),
    "tipo_instalacao": _plain(n.tipo_instalacao),
    "mes_referencia": _plain(n.month),
    "vencimento": _dated,
    "proximo_leitura": _dated,
    "leitura_anterior": _dated,
    "leitura_atual": _dated,
    "valor_fatura": _plain(n.money),
    "aliquota_icms": _plain(n.number),
    **{f: _plain(n.boolean) for f in (
        "alta_tensao", "baixa_renda", "energia_ativa_injetada", "energia_reativa", "orgao_publico",
        "parcelamentos", "tarifa_branca", "ths_verde", "faturas_venc",
    )},
    "valores_em_aberto": _month_list("valor", n.money),
    "consumo_lista": _month_list("consumo", n.integer),
    **{f: _plain(n.integer) for f in ("dias_faturados", "consumo_kwh", "energia_injetada_kwh", "saldo_creditos_kwh")},
    "bandeira_tarifaria": _plain(n.bandeira),
    **{f: _plain(n.money) for f in ("valor_icms", "valor_pis", "valor_cofins", "contrib_iluminacao_publica")},
    "codigo_barras": _plain(n.digits),
    "linha_digitavel": _plain(n.digits),
    "subgrupo": _plain(n.subgrupo),
    "modalidade": _plain(n.modalidade),
}
assert set(NORMALISERS) == set(ALL_FIELDS), set(ALL_FIELDS) ^ set(NORMALISERS)


@dataclass
class FieldProblem:
    """A value that could not be taken into the contract."""

    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


class ContractError(ValueError):
    """Raised by strict coercion; ``problems`` lists every field at fault."""

    def __init__(self, problems: list[FieldProblem]):
        self.problems = problems
        super().__init__("; ".join(str(p) for p in problems))


def coerce_bill(raw: dict[str, Any], *, strict: bool = False) -> tuple[BillData, list[FieldProblem]]:
    """Normalise every field of ``raw``; return the contract and the problems met.

    Lenient (serving): a bad value becomes null/false/[] and a problem is reported.
    Strict (training data): any problem raises :class:`ContractError`.
    """
    if not isinstance(raw, dict):
        problems = [FieldProblem("$", f"expected a JSON object, got {type(raw).__name__}")]
        if strict:
            raise ContractError(problems)
        return BillData(), problems
    problems = [FieldProblem(key, "unknown field, ignored") for key in raw if key not in NORMALISERS]
    values: dict[str, Any] = {}
    ctx: dict[str, Any] = {}
    for field in ("mes_referencia", *[f for f in ALL_FIELDS if f != "mes_referencia"]):
        if field not in raw:
            continue
        try:
            value = NORMALISERS[field](raw[field], ctx)
            BillData.model_validate({field: value})  # type/pattern check of this field alone
        except (ValueError, TypeError, ArithmeticError) as exc:  # e.g. a 400-digit "amount"
            message = exc.errors()[0]["msg"] if hasattr(exc, "errors") else str(exc)
            shown = repr(raw[field])
            shown = shown if len(shown) <= 80 else shown[:77] + "..."
            problems.append(FieldProblem(field, f"{message}; value {shown} dropped"))
            continue
        values[field] = value
        ctx[field] = value
    if strict and problems:
        raise ContractError(problems)
    return BillData.model_validate(values), problems


def compact(data: BillData | dict[str, Any]) -> dict[str, Any]:
    """The contract without its empty values (null/false/[]): what a model is trained to write."""
    payload = data.model_dump() if isinstance(data, BillData) else data
    return {k: v for k, v in payload.items() if v not in (None, False, [])}


def output_json_schema(fields: tuple[str, ...] | None = None) -> dict[str, Any]:
    """JSON schema of the compact object a model writes (all keys optional, no others)."""
    schema = BillData.model_json_schema()
    if fields is not None:
        schema["properties"] = {k: v for k, v in schema["properties"].items() if k in fields}
    schema.pop("required", None)
    return schema
