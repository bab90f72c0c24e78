"""Fields read from a block or a keyword rather than a label and one value: enums, flags, tax rows,
the address block, the barcode, and the two lists (history and open bills), each with its source."""

from __future__ import annotations

import logging
import re
from typing import Any

from extractor_energy.domain import normalize as n
from extractor_energy.domain.barcode import barcode_from_line
from extractor_energy.grounding.candidates import Candidate
from extractor_energy.grounding.lines import Line, fold
from extractor_energy.grounding.taxes import read_street_lighting, read_tax_rows

log = logging.getLogger(__name__)
Found = dict[str, tuple[Any, Candidate | None]]  # field -> (value, where it was read)
UFS = ("AC AL AP AM BA CE DF ES GO MA MT MS MG PA PB PR PE PI RJ RN RS RO RR SC SP SE TO").split()


class _Derived:
    """The source of a value computed in code: its origin's place, marked with the field it came from."""

    def __init__(self, origin: Candidate, field: str):
        self.origin, self.field = origin, field

    def source(self) -> dict[str, Any]:
        return {**self.origin.source(), "derived_from": self.field}


def _span(line: Line, start: int, end: int, kind: str, value: Any) -> Candidate:
    return Candidate(kind, value, line.text[start:end].strip(), line, start, end)


def _keyword(out: Found, lines: list[Line], labels: str, pattern: str, normalise, field: str, window: int = 1) -> None:
    """The first ``pattern`` on a line with ``labels`` (or up to ``window`` lines below), else anywhere."""
    label_re, value_re = re.compile(labels), re.compile(pattern)
    for i, line in enumerate(lines):
        m = label_re.search(line.folded)
        if not m:
            continue
        for j in range(i, min(i + window + 1, len(lines))):
            start = m.end() if j == i else 0
            v = value_re.search(lines[j].folded, start)
            value = _try(normalise, lines[j].text[v.start():v.end()]) if v else None
            if value is not None:
                out[field] = (value, _span(lines[j], v.start(), v.end(), "keyword", value))
                return


def _fuzzy_word(out: Found, lines: list[Line], field: str, words: tuple[str, ...]) -> None:
    """An enum word as OCR misread it (``HIFASICO``, ``RESIDENClAL``, ``CUNVENCIONAL``): the closest word
    at similarity >= 0.8, the first such on the page (read, so its source is where it was printed)."""
    from difflib import SequenceMatcher

    for line in lines:
        for m in re.finditer(r"[A-Z0-9]{5,}", line.folded):
            token = m.group(0)
            best = max(words, key=lambda w: SequenceMatcher(None, token, w).ratio())
            if SequenceMatcher(None, token, best).ratio() >= 0.8:
                normalise = {"tipo_instalacao": n.tipo_instalacao, "modalidade": n.modalidade}.get(field, n.classificacao)
                value = normalise(best)
                out[field] = (value, _span(line, m.start(), m.end(), "keyword", value))
                return


def _try(fn, text: str) -> Any:
    try:
        return fn(text)
    except (ValueError, TypeError):
        return None


_CLASS = r"RESIDENCIAL|COMERCIAL|INDUSTRIAL|RURAL|PODER P[UO0]BLICO|ILUMINACAO PUBLICA|SERVICO P[UO0]BLICO|OUTROS"


def _class(text: str) -> Any:
    """The class as printed, OCR's ``POBLICO`` read as ``PUBLICO``."""
    return n.classificacao(re.sub(r"P[O0]BLICO", "PUBLICO", fold(text)))
_PHASE = r"MONOFASIC[OA]|BIFASIC[OA]|TRIFASIC[OA]|\bMONO\b|\bBIF\b|\bTRI\b"
FLAGS: dict[str, str] = {
    "baixa_renda": r"BAIXA RENDA|TARIFA SOCIAL(?! DE ENERGIA CANCELADA)|DESCONTO SOCIAL|SUBVENCAO",
    "energia_ativa_injetada": r"INJETAD|\bSCEE\b|\bGD ?(I|II|1|2)\b|COMPENSAD",
    "energia_reativa": r"REATIV",
    "orgao_publico": r"PODER PUBLICO|ORGAO PUBLICO|SERVICO PUBLICO|ILUMINACAO PUBLICA -",
    "parcelamentos": r"PARCELAMENTO|\bPARCELA\b|PARC\. ?DEB|\bFINANC\.",
    "tarifa_branca": r"TARIFA BRANCA|\bBRANCA\b|INTERMEDIARI|FORA ?PONTA",
    "ths_verde": r"HORO ?-?SAZONAL VERDE|\bTHS VERDE|MODALIDADE:? ?VERDE|A4 VERDE|TARIFA VERDE",
    "faturas_venc": r"REAVISO|DEBITOS ANTERIORES|FATURAS? EM ATRASO|CONSTA DEBITO|CONTAS VENCIDAS|FATURAS VENCIDAS",
}


def read_structures(lines: list[Line], candidates: list[Candidate], utility: str | None = None) -> Found:
    out: Found = {}
    _keyword(out, lines, r"CLASSIFICA|CLASSE|CLS/SBC", _CLASS, _class, "classificacao")
    if "classificacao" not in out:
        _keyword(out, lines, r"", r"\b(?:B\d )?(?:" + _CLASS + r")\b", _class, "classificacao", 0)
    _keyword(out, lines, r"FORNECIMENTO|LIGACAO|FORNEC|TIPO DE FORN|TIPO DE LIG|SUBGRUPO DE TENSAO|CLASSE", _PHASE,
             n.tipo_instalacao, "tipo_instalacao")
    if "tipo_instalacao" not in out:
        _keyword(out, lines, r"", r"MONOFASIC[OA]|BIFASIC[OA]|TRIFASIC[OA]", n.tipo_instalacao, "tipo_instalacao", 0)
    for field, words in (("tipo_instalacao", ("MONOFASICO", "BIFASICO", "TRIFASICO")),
                         ("classificacao", ("RESIDENCIAL", "COMERCIAL", "INDUSTRIAL", "RURAL"))):
        if field not in out:
            _fuzzy_word(out, lines, field, words)
    _keyword(out, lines, r"SUBGRUPO|GRUPO|CLASSIFICA|CLASSE", r"\b(?:A1|A2|A3A|A3|A4|AS|B1|B2|B3|B4)\b", n.subgrupo,
             "subgrupo")
    if "subgrupo" not in out:  # OCR reads B1 as BI, and cuts a label's first letter (lassificacao)
        _keyword(out, lines, r"SUBGRUPO|GRUPO|LASSIFICA|LASSE", r"\bB[1I]\b", lambda t: n.subgrupo("B1"), "subgrupo")
    _keyword(out, lines, r"MODALIDADE|MOD\.? ?TARIF|TIPO DE TARIFA|TARIFA", r"CONVENCIONAL|CONVENC|BRANCA|\bVERDE\b|\bAZUL\b",
             n.modalidade, "modalidade", 0)
    if "modalidade" not in out:
        _fuzzy_word(out, lines, "modalidade", ("CONVENCIONAL",))
    _keyword(out, lines, r"BANDEIRA", r"VERMELHA (?:P(?:ATAMAR )?\s?[12])|VERMELHA ?[12]|VERDE|AMARELA|ESCASSEZ",
             n.bandeira, "bandeira_tarifaria", 0)
    _keyword(out, lines, r"TENSAO|VOLTS", r"\d{3}(?: ?/ ?\d{3})? ?V\b", lambda t: re.sub(r"\s*V$", " V", t), "tensao_nominal", 0)
    sub = out.get("subgrupo")
    if sub:
        out["alta_tensao"] = (str(sub[0]).upper().startswith("A"), _Derived(sub[1], "subgrupo") if sub[1] else None)
    for name, pattern in FLAGS.items():
        rx = re.compile(pattern)
        for line in lines:
            m = rx.search(line.folded)
            if m:
                out[name] = (True, _span(line, m.start(), m.end(), "keyword", True))
                break
    for reader in (lambda: _barcode(candidates, out), lambda: _cpf(lines, candidates, out),
                   lambda: _distribuidora(lines, out, utility), lambda: _address(lines, candidates, out),
                   lambda: _tax_rows(lines, candidates, out), lambda: read_tax_rows(lines, candidates, out),
                   lambda: read_street_lighting(lines, out)):
        try:
            reader()
        except Exception:  # a rule that trips over an odd page loses its own fields, not the bill's
            log.exception("a grounding rule failed on this page")
    return out


def _barcode(candidates: list[Candidate], out: Found) -> None:
    for c in candidates:
        if c.kind != "barcode":
            continue
        digits = c.value
        if len(digits) == 48 and "linha_digitavel" not in out:
            out["linha_digitavel"] = (digits, c)
            code = _try(barcode_from_line, digits)
            if code and "codigo_barras" not in out:  # derived in code from the printed line
                out["codigo_barras"] = (code, _Derived(c, "linha_digitavel"))
        elif len(digits) == 44 and "codigo_barras" not in out:
            out["codigo_barras"] = (digits, c)


def _cpf(lines: list[Line], candidates: list[Candidate], out: Found) -> None:
    masked = [c for c in candidates if c.kind == "cpf" and re.search(r"[X*]", c.value)]
    labelled = [c for c in candidates if c.kind == "cpf" and re.search(r"CPF|CNPJ|RANI", c.line.folded[:c.start])
                and "INSCRICAO" not in c.line.folded]
    pick = (masked or labelled or [None])[0]
    if pick is not None:
        out["cpf_cnpj"] = (pick.value, pick)
    else:
        _masked_id_as_misread(lines, out)


#: A masked CPF/CNPJ after its label as OCR garbles the mask (``***.635.464.**``, ``***.997.532-*``,
#: ``46.XXX.XX/0001-00``): the digits it shows are read, the mask is the scheme's.
_MISREAD_IDS = (
    (re.compile(r"CPF\W{0,3}([*X]{1,3}) ?[.,] ?(\d{3}) ?[.,] ?(\d{3}) ?[.,-] ?[*X]{1,2}(?![\w*])"),
     lambda m: f"{m.group(1)[0] * 3}.{m.group(2)}.{m.group(3)}-{m.group(1)[0] * 2}"),
    (re.compile(r"CPF\W{0,3}(\d{3}) ?[.,] ?([*X])[*X]{1,2} ?[.,]? ?[*X]{2,3} ?[.,-] ?(\d{2})(?!\d)"),
     lambda m: f"{m.group(1)}.{m.group(2) * 3}.{m.group(2) * 3}-{m.group(3)}"),
    (re.compile(r"CNPJ\W{0,3}(\d{2}) ?[.,] ?([*X])[*X]{1,2} ?[.,] ?[*X]{2,3} ?/ ?(\d{4}) ?-? ?(\d{2})(?!\d)"),
     lambda m: f"{m.group(1)}.{m.group(2) * 3}.{m.group(2) * 3}/{m.group(3)}-{m.group(4)}"),
)


def _masked_id_as_misread(lines: list[Line], out: Found) -> None:
    for line in lines:
        for pattern, canonical in _MISREAD_IDS:
            m = pattern.search(line.folded)
            if m:
                value = canonical(m)
                out["cpf_cnpj"] = (value, _span(line, m.start(1), m.end(), "cpf", value))
                return


def _distribuidora(lines: list[Line], out: Found, utility: str | None = None) -> None:
    """The utility's name as printed: an upper-case line naming the request's utility, else a company name."""
    word = fold(utility or "").replace("_", " ").split()[:1]
    for line in lines if word else []:
        piece = line.pieces[0].text.strip()
        folded = fold(piece)
        if (folded.startswith(word[0]) and piece == piece.upper() and len(piece.split()) >= 2
                and not any(ch.isdigit() for ch in piece)):
            out["distribuidora"] = (piece, _span(line, 0, len(piece), "text", piece))
            return
    rx = re.compile(r"[A-Z][A-Z .,&-]*(?:DISTRIBUI[CD][A-Z]*|ENERGIA|ELETRICIDADE|LIGHT|COPEL|CEMIG|CELESC)"
                    r"[A-Z .,&/-]*(?:S\.? ?A\.?|S/A|LTDA)")
    for line in lines:
        m = rx.search(line.folded)
        if m and not any(ch.isdigit() for ch in line.text[m.start():m.end()]):
            value = line.text[m.start():m.end()].strip(" -|")
            out["distribuidora"] = (value, _span(line, m.start(), m.end(), "text", value))
            return


_CITY_UF = re.compile(r"^[\s|]*(?P<city>[A-Z][A-Z .'-]+?)\s*[-/·.,]\s*(?P<uf>" + "|".join(UFS) + r")\b")
_STREET = re.compile(r"^(?P<street>(?:RUA|R\.|AV\.?|AVENIDA|TRAVESSA|TV\.?|ALAMEDA|AL\.|ESTRADA|RODOVIA|PRACA|QUADRA|"
                     r"SETOR|LARGO|VIELA|BECO|QD)\b[A-Z0-9 .'-]*?)\s*,\s*(?P<num>\d+[A-Z]?|S/?N)\b")


def _address(lines: list[Line], candidates: list[Candidate], out: Found) -> None:
    """The supply address block, left-aligned: name, street (``RUA X, 12 - APTO 3``), district, city - UF + CEP."""
    for cep in (c for c in candidates if c.kind == "cep"):
        line = cep.line
        rest = (line.folded[:cep.start] + " " * (cep.end - cep.start) + line.folded[cep.end:]).replace("CEP:", "    ")
        m = _CITY_UF.search(rest)  # same length as the line: offsets stay valid
        if not m or re.search(r"CNPJ|INSCRICAO", " ".join(l.folded for l in lines[max(0, line.index - 1):line.index + 1])):
            continue
        out["cep"] = (cep.value, cep)
        out["cidade"] = (line.text[m.start("city"):m.end("city")].strip(), _span(line, m.start("city"), m.end("city"), "text", None))
        out["estado"] = (m.group("uf"), _span(line, m.start("uf"), m.end("uf"), "text", None))
        x0 = line.pieces[0].x0
        block = [l for l in lines[max(0, line.index - 8):line.index]
                 if l.page == line.page and abs(l.pieces[0].x0 - x0) <= 0.02 * max(l.box[2] - x0, 1) + 3]
        if len(block) < 3:
            return
        name, street, district = block[-3], block[-2], block[-1]
        text = _block_text(street)
        s = _STREET_PARTS.match(fold(text))
        if s:
            out["rua"] = (text[:s.end("rua")].strip(" ,|"), _span(street, 0, s.end("rua"), "text", None))
            out["numero"] = (text[s.start("num"):s.end("num")], _span(street, s.start("num"), s.end("num"), "text", None))
            if s.group("comp"):
                end = len(text.rstrip(" |"))
                out["complemento"] = (text[s.start("comp"):end].strip(" |"), _span(street, s.start("comp"), end, "text", None))
        out["bairro"] = (district.pieces[0].text.strip(), _span(district, 0, len(district.pieces[0].text), "text", None))
        if not re.search(r"\d", name.pieces[0].text):
            out["nome_cliente"] = (name.pieces[0].text.strip(), _span(name, 0, len(name.pieces[0].text), "text", None))
        return


_STREET_PARTS = re.compile(r"^(?P<rua>[^,|]+?)[\s|]*,[\s|]*(?:[A-Z],[\s|]*)?(?P<num>\d+[A-Z]?|S/?N)\b(?:[\s|]*-[\s|]*(?P<comp>[^|]+))?")


def _block_text(line: Line) -> str:
    """The line's text up to the first wide gap (the address block, not the columns beside it)."""
    end = len(line.pieces[0].text)
    for i in range(1, len(line.pieces)):
        previous, piece = line.pieces[i - 1], line.pieces[i]
        if piece.x0 - previous.x1 > 8 * min(previous.char_width, piece.char_width):
            break
        end = line.starts[i] + len(piece.text)
    return line.text[:end]


def _tax_rows(lines: list[Line], candidates: list[Candidate], out: Found) -> None:
    """``ICMS | base | rate | value`` in the tax box (also mid-line, beside the items): the rate and the value."""
    money_of: dict[int, list[Candidate]] = {}
    for c in candidates:
        if c.kind == "money":
            money_of.setdefault(c.line.index, []).append(c)
    for line in lines:
        for name, field_value, field_rate in (("ICMS", "valor_icms", "aliquota_icms"), ("PIS(?:/PASEP)?", "valor_pis", None),
                                              ("COFINS", "valor_cofins", None)):
            if field_value in out:
                continue
            for m in re.finditer(r"(?:^|\| )" + name + r"(?: \||$)", line.folded):
                after = sorted((c for c in money_of.get(line.index, []) if c.start >= m.end()), key=lambda c: c.start)[:3]
                if len(after) == 3 and after[1].value <= 40 and after[2].value <= after[0].value:
                    out[field_value] = (after[2].value, after[2])
                    if field_rate:
                        out[field_rate] = (after[1].value, after[1])
                    break
