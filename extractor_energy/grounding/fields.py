"""Which candidates and which printed labels count for each field read by label (real_layouts.md §5).

Labels are regular expressions on folded text (upper case, no accents). ``anti`` labels mark a
value of the same kind that belongs to something else (the reading dates beside a due date).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field


@dataclass(frozen=True)
class FieldSpec:
    kinds: tuple[str, ...]
    labels: tuple[str, ...]
    anti: tuple[str, ...] = ()
    minimum: float | None = None  # plausible range of a numeric value
    maximum: float | None = None
    patterns: tuple[re.Pattern[str], ...] = field(default=(), compare=False)
    anti_patterns: tuple[re.Pattern[str], ...] = field(default=(), compare=False)


def spec(kinds: tuple[str, ...], labels: tuple[str, ...], anti: tuple[str, ...] = (), minimum: float | None = None,
         maximum: float | None = None) -> FieldSpec:
    return FieldSpec(kinds, labels, anti, minimum, maximum, tuple(re.compile(p) for p in labels),
                     tuple(re.compile(p) for p in anti))


_NUM = r"(?:N[O0º°.]*|NUMERO|NRO\.?|COD(?:IGO)?\.?)"
SPECS: dict[str, FieldSpec] = {
    "valor_fatura": spec(("money",), (r"TOTAL A PAGAR", r"VALOR A PAGAR", r"VALOR TOTAL", r"TOTAL DA FATURA",
                                      r"VALOR COBRADO", r"TOTAL CONSOLIDADO", r"TOTAL A PAG", r"\bTOTAL\b"),
                         (r"SUBTOTAL", r"TOTAL DISTRIBUIDORA", r"BASE", r"TRIBUTOS", r"DEBITOS", r"ANTERIOR"),
                         0.01, 1e7),
    "vencimento": spec(("date",), (r"VENCIMENTO", r"VENCTO", r"\bVENC\b", r"DATA DE VENC", r"DATA VENC"),
                       (r"LEITURA", r"EMISSAO", r"APRESENTACAO", r"REAVISO", r"PROXIM", r"ANTERIOR", r"ATUAL",
                        r"PERIODO", r"AUTORIZACAO", r"PROTOCOLO")),
    "mes_referencia": spec(("month",), (r"CONTA M[EÉ]S", r"REF(?:ERENTE)?\.?:? ?(?:A )?M[EÉ]S", r"M[EÉ]S ?/ ?ANO",
                                        r"REFERENCIA", r"REFERENTE A", r"COMPETENCIA", r"CONTA DO M[EÉ]S",
                                        r"CONTA REFERENTE", r"\bREF\b"),
                           (r"HISTORICO", r"DEBITO", r"ATRASO", r"CONSUMO", r"DIAS", r"MEDIA", r"VALOR ?$")),
    "leitura_anterior": spec(("date",), (r"LEITURA ANTERIOR", r"LEIT\.? ANT", r"\bANTERIOR\b", r"DATA ANTERIOR"),
                             (r"VENC", r"PROXIM", r"EMISSAO")),
    "leitura_atual": spec(("date",), (r"LEITURA ATUAL", r"LEIT\.? ATU", r"\bATUAL\b", r"DATA ATUAL",
                                      r"DATA DA LEITURA"), (r"VENC", r"PROXIM", r"EMISSAO", r"ANTERIOR")),
    "proximo_leitura": spec(("date", "daymonth"), (r"PROXIMA LEITURA", r"LEITURA PROXIM", r"PROX\.? LEIT",
                                                   r"PREVISAO", r"PROXIMA", r"DATA PREVISTA"),
                            (r"VENC", r"EMISSAO", r"ANTERIOR")),
    "num_instalacao": spec(("ident",), (r"INSTALACAO", r"UNIDADE CONSUMIDORA", r"UNID\. CONSUMIDORA", r"\bUC\b",
                                        r"SEU CODIGO", r"NUMERO DA UC"),
                           (r"CLIENTE", r"CNPJ", r"CPF", r"MEDIDOR", r"PARCEIRO", r"CONTRATO", r"INSCRICAO")),
    "cod_cliente": spec(("ident",), (rf"{_NUM} ?D[OA] CLIENTE", r"CODIGO DO CLIENTE", r"PARCEIRO DE NEGOCIO",
                                     r"COD\.? IDENT", r"\bCLIENTE\b", r"\bPN\b"),
                        (r"INSTALACAO", r"CNPJ", r"CPF", r"MEDIDOR", r"CONTRATO", r"UNIDADE", r"INSCRICAO")),
    "conta_contrato": spec(("ident",), (r"CONTA CONTRATO", r"\bC\.C\b"), (r"CNPJ", r"CPF", r"INSTALACAO")),
    "consumo_kwh": spec(("number",), (r"CONSUMO.{0,30}KWH", r"KWH.{0,12}CONSUMO", r"CONSUMO MES", r"CONSUMO FATURADO",
                                      r"ENERGIA ATIVA", r"ENERGIA ELETRICA.{0,6}KWH", r"CONSUMO\b"),
                        (r"MEDIA", r"DIARIO", r"DIAS", r"TARIFA", r"PRECO", r"R\$", r"VALOR", r"HISTORICO",
                         r"\d+ A \d+", r"\bDESC\b", r"MAIOR", r"PONTA", r"INJETAD", r"COMPENSAD"), 1, 200000),
    "dias_faturados": spec(("number",), (r"N[O0º°.]* ?DE DIAS", r"DIAS FAT", r"\bDIAS\b", r"PERIODO"),
                           (r"MEDIA", r"KWH/DIA"), 1, 99),
    "aliquota_icms": spec(("money", "number"), (r"ALIQUOTA ICMS", r"ALIQ\.? ICMS", r"ICMS ?\(?%", r"ALIQUOTA"),
                          (r"PIS", r"COFINS"), 0.0, 40.0),
    "contrib_iluminacao_publica": spec(("money",), (r"[IL1]LUM", r"\bCIP\b", r"COSIP", r"CUSTEIO"), (), 0.01, 1e5),
    "energia_injetada_kwh": spec(("number",), (r"INJETAD",), (r"R\$",), 0, 1e6),
    "saldo_creditos_kwh": spec(("number",), (r"SALDO",), (r"R\$",), 0, 1e7),
}
