"""Field-level metrics shared by training (before/after numbers) and ``extractor-energy eval``.

Pure scoring: nothing here runs a model (that is :mod:`extractor_energy.evaluation.predict`).

Three views of the same predictions against the gold contract:

* **per-field accuracy**: share of documents whose value for the field equals the gold value
  (an empty gold and an empty prediction agree), plus per-field precision/recall/F1 over the
  field's (path, value) pairs;
* **field-level micro F1** (as in Donut): every document is flattened to ``(path, value)`` pairs
  — ``cod_cliente``, ``consumo_lista[0].consumo``, ``valores_em_aberto[1].valor`` … — and a
  predicted pair is a true positive when the gold document has the very same pair. Empty values
  (``null``/``false``/``[]``) are not pairs: writing nothing is never rewarded, and inventing a
  value is a false positive;
* **whole-document exact match**: every field equal; **required exact match**: the four required
  fields (``num_instalacao``, ``mes_referencia``, ``vencimento``, ``valor_fatura``) all equal;
* per-field accuracy counts an empty gold matched by an empty prediction as correct; so that
  writing nothing cannot look good, ``field_accuracy_filled`` scores each field only on the
  documents where the gold or the prediction has a value, and ``empty_agreement`` reports the
  empty-equals-empty share on its own.

A model that writes nothing scores micro F1 0, required exact match 0 and filled accuracy 0.

Values are compared after the contract's own normalisation (``coerce_bill``: ``R$ 1.234,56`` and
``1234.56`` are the same amount) plus whitespace collapsing in strings and rounding of floats
to 4 decimals; comparisons are otherwise exact (case-sensitive).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Iterable, Sequence

from extractor_energy.domain.schema import ALL_FIELDS, REQUIRED_FIELDS, BillData, coerce_bill

Pair = tuple[str, Any]


# ---------------------------------------------------------------------------- normalisation
def to_contract(value: BillData | dict[str, Any] | None) -> BillData:
    """A ``BillData`` from a contract, a raw dict (leniently coerced) or None (empty)."""
    if value is None:
        return BillData()
    if isinstance(value, BillData):
        return value
    return coerce_bill(value)[0]


def _norm_value(value: Any) -> Any:
    if isinstance(value, str):
        return " ".join(value.split())
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, float):
        return round(value, 4) + 0.0  # +0.0: -0.0 == 0.0 but repr differs
    if isinstance(value, int):
        return value
    if isinstance(value, dict):
        return {k: _norm_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_norm_value(v) for v in value]
    return value


def _empty(value: Any) -> bool:
    return value is None or value is False or value == [] or value == ""


def normalised_fields(data: BillData | dict[str, Any] | None) -> dict[str, Any]:
    """Every contract field, normalised for comparison."""
    return {k: _norm_value(v) for k, v in to_contract(data).model_dump().items()}


def _flatten_value(path: str, value: Any, out: list[Pair]) -> None:
    if _empty(value):
        return
    if isinstance(value, dict):
        for k, v in value.items():
            _flatten_value(f"{path}.{k}", v, out)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _flatten_value(f"{path}[{i}]", item, out)
    else:
        out.append((path, value))


def flatten(data: BillData | dict[str, Any] | None, fields: Iterable[str] = ALL_FIELDS) -> list[Pair]:
    """``(path, value)`` pairs of the non-empty values, lists indexed (``consumo_lista[0].consumo``)."""
    values = normalised_fields(data)
    out: list[Pair] = []
    for name in fields:
        _flatten_value(name, values[name], out)
    return out


def _root(path: str) -> str:
    return path.split("[", 1)[0].split(".", 1)[0]


def _hashable(pair: Pair) -> tuple[str, str]:
    return pair[0], repr(pair[1])


# ---------------------------------------------------------------------------- scores
def _prf(tp: int, fp: int, fn: int) -> tuple[float, float, float]:
    precision = tp / (tp + fp) if tp + fp else (1.0 if not fn else 0.0)
    recall = tp / (tp + fn) if tp + fn else (1.0 if not fp else 0.0)
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


@dataclass
class FieldScore:
    """One contract field over all documents."""

    correct: int = 0  # documents whose value equals the gold (empty == empty counts)
    both_empty: int = 0  # documents where gold and prediction are both empty
    documents: int = 0
    support: int = 0  # documents whose gold value is non-empty
    predicted: int = 0  # documents whose predicted value is non-empty
    tp: int = 0  # (path, value) pairs, as in the micro F1
    fp: int = 0
    fn: int = 0

    @property
    def accuracy(self) -> float:
        return self.correct / self.documents if self.documents else 0.0

    @property
    def filled_accuracy(self) -> float | None:
        """Accuracy on the documents where the gold or the prediction has a value (None: never filled)."""
        filled = self.documents - self.both_empty
        return (self.correct - self.both_empty) / filled if filled else None

    @property
    def f1(self) -> float:
        return _prf(self.tp, self.fp, self.fn)[2]

    @property
    def active(self) -> bool:
        """The field appears in the gold or the predictions of some document."""
        return bool(self.support or self.predicted)

    def to_dict(self) -> dict[str, Any]:
        precision, recall, f1 = _prf(self.tp, self.fp, self.fn)
        return {**asdict(self), "accuracy": round(self.accuracy, 4), "precision": round(precision, 4),
                "recall": round(recall, 4), "f1": round(f1, 4)}


@dataclass
class DocumentResult:
    """One document: its id, whether everything matched, and the fields that did not."""

    id: str
    exact: bool
    tp: int
    fp: int
    fn: int
    failed: str | None = None  # the prediction could not be obtained (request error, ...)
    mismatches: dict[str, dict[str, Any]] = field(default_factory=dict)  # field -> {"gold", "pred"}


@dataclass
class EvalReport:
    """Metrics of one system (base model, adapter, server) on one data set."""

    documents: int = 0
    exact_match: float = 0.0
    required_exact: float = 0.0  # share of documents with all REQUIRED_FIELDS right
    field_accuracy_filled: float = 0.0  # mean per-field accuracy where gold or prediction is non-empty
    empty_agreement: float = 0.0  # share of (document, field) cells where both are empty
    micro_precision: float = 0.0
    micro_recall: float = 0.0
    micro_f1: float = 0.0
    field_accuracy: float = 0.0  # mean per-field accuracy over the active fields
    failures: int = 0
    fields: dict[str, FieldScore] = field(default_factory=dict)
    per_document: list[DocumentResult] = field(default_factory=list)

    def active_fields(self) -> list[str]:
        return [f for f, s in self.fields.items() if s.active]

    def summary(self) -> dict[str, Any]:
        """The headline numbers (what adapter metadata keeps)."""
        return {
            "documents": self.documents, "exact_match": round(self.exact_match, 4),
            "required_exact": round(self.required_exact, 4), "field_accuracy_filled": round(self.field_accuracy_filled, 4),
            "empty_agreement": round(self.empty_agreement, 4),
            "micro_precision": round(self.micro_precision, 4), "micro_recall": round(self.micro_recall, 4),
            "micro_f1": round(self.micro_f1, 4), "field_accuracy": round(self.field_accuracy, 4),
            "failures": self.failures,
            "per_field_accuracy": {f: round(self.fields[f].accuracy, 4) for f in self.active_fields()},
        }

    def to_dict(self, with_documents: bool = True) -> dict[str, Any]:
        out = self.summary()
        out["fields"] = {f: s.to_dict() for f, s in self.fields.items() if s.active}
        if with_documents:
            out["documents_detail"] = [asdict(d) for d in self.per_document]
        return out


def score(
    predictions: Sequence[BillData | dict[str, Any] | None],
    golds: Sequence[BillData | dict[str, Any]],
    *,
    ids: Sequence[str] | None = None,
    failures: Sequence[str | None] | None = None,
    fields: Sequence[str] = ALL_FIELDS,
) -> EvalReport:
    """Score predictions against gold contracts (same order). ``None`` predictions count as empty."""
    if len(predictions) != len(golds):
        raise ValueError(f"{len(predictions)} predictions for {len(golds)} gold documents")
    ids = list(ids) if ids is not None else [str(i) for i in range(len(golds))]
    failures = list(failures) if failures is not None else [None] * len(golds)
    report = EvalReport(documents=len(golds), fields={f: FieldScore() for f in fields})
    tp_all = fp_all = fn_all = exact = required_ok = 0
    required = [f for f in REQUIRED_FIELDS if f in fields]
    for doc_id, pred, gold, failed in zip(ids, predictions, golds, failures):
        p_values, g_values = normalised_fields(pred), normalised_fields(gold)
        p_pairs = {_hashable(x) for x in flatten(pred, fields)}
        g_pairs = {_hashable(x) for x in flatten(gold, fields)}
        tp, fp, fn = p_pairs & g_pairs, p_pairs - g_pairs, g_pairs - p_pairs
        mismatches = {}
        for name in fields:
            s = report.fields[name]
            s.documents += 1
            s.support += not _empty(g_values[name])
            s.predicted += not _empty(p_values[name])
            s.both_empty += _empty(g_values[name]) and _empty(p_values[name])
            if p_values[name] == g_values[name]:
                s.correct += 1
            else:
                mismatches[name] = {"gold": g_values[name], "pred": p_values[name]}
        for pairs, attr in ((tp, "tp"), (fp, "fp"), (fn, "fn")):
            for path, _ in pairs:
                score_ = report.fields.get(_root(path))
                if score_ is not None:
                    setattr(score_, attr, getattr(score_, attr) + 1)
        tp_all, fp_all, fn_all = tp_all + len(tp), fp_all + len(fp), fn_all + len(fn)
        exact += not mismatches
        required_ok += bool(required) and not any(f in mismatches for f in required)
        report.failures += failed is not None
        report.per_document.append(
            DocumentResult(id=doc_id, exact=not mismatches, tp=len(tp), fp=len(fp), fn=len(fn), failed=failed, mismatches=mismatches)
        )
    report.micro_precision, report.micro_recall, report.micro_f1 = _prf(tp_all, fp_all, fn_all)
    if not golds:
        report.micro_precision = report.micro_recall = report.micro_f1 = 0.0
    report.exact_match = exact / len(golds) if golds else 0.0
    active = report.active_fields()
    report.field_accuracy = sum(report.fields[f].accuracy for f in active) / len(active) if active else (1.0 if golds else 0.0)
    report.required_exact = required_ok / len(golds) if golds else 0.0
    filled = [a for a in (report.fields[f].filled_accuracy for f in active) if a is not None]
    report.field_accuracy_filled = sum(filled) / len(filled) if filled else 0.0
    cells = sum(s.documents for s in report.fields.values())
    report.empty_agreement = sum(s.both_empty for s in report.fields.values()) / cells if cells else 0.0
    return report


# ---------------------------------------------------------------------------- display
def _fmt(value: float | None) -> str:
    return "   -" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:5.3f}"


def format_table(reports: dict[str, EvalReport]) -> str:
    """Side-by-side text table: per active field accuracy and F1 per system, then the totals."""
    names = list(reports)
    if not names:
        return "(no results)"
    fields_: list[str] = []
    for report in reports.values():
        fields_ += [f for f in report.active_fields() if f not in fields_]
    order = list(ALL_FIELDS) + [f for f in fields_ if f not in ALL_FIELDS]
    fields_.sort(key=order.index)
    width = max([len("field"), len("field accuracy (mean)"), *(len(f) for f in fields_)])
    col = max(10, *(len(n) + 6 for n in names))  # room for "<name> acc" plus a space
    head = "field".ljust(width) + "".join(f"{n + ' acc':>{col}}{n + ' F1':>{col}}" for n in names) + f"{'support':>9}"
    lines = [head, "-" * len(head)]
    first = reports[names[0]]
    for f in fields_:
        cells = ""
        for n in names:
            s = reports[n].fields.get(f)
            cells += f"{_fmt(s.accuracy if s else None):>{col}}{_fmt(s.f1 if s else None):>{col}}"
        support = first.fields[f].support if f in first.fields else 0
        lines.append(f.ljust(width) + cells + f"{support:>9}")
    lines.append("-" * len(head))
    for label, attr in (("micro F1", "micro_f1"), ("micro precision", "micro_precision"), ("micro recall", "micro_recall"),
                        ("field accuracy (mean)", "field_accuracy"), ("filled-field accuracy", "field_accuracy_filled"),
                        ("empty = empty (cells)", "empty_agreement"), ("required exact", "required_exact"),
                        ("exact match", "exact_match")):
        lines.append(label.ljust(width) + "".join(f"{_fmt(getattr(reports[n], attr)):>{col}}{'':>{col}}" for n in names))
    lines.append("documents".ljust(width) + "".join(f"{reports[n].documents:>{col}}{'':>{col}}" for n in names))
    if any(r.failures for r in reports.values()):
        lines.append("failures".ljust(width) + "".join(f"{reports[n].failures:>{col}}{'':>{col}}" for n in names))
    quiet = len([f for f in ALL_FIELDS if f not in fields_])
    if quiet:
        lines.append(f"({quiet} other fields are empty in both gold and predictions: all correct, not listed)")
    return "\n".join(lines)


# ---------------------------------------------------------------------------- items and predictions
@dataclass
class EvalItem:
    """One document to evaluate: its id, pages (RGB images, or a function returning them, decoded when
    its batch runs), key and gold contract."""

    id: str
    pages: list[Any] | Callable[[], list[Any]]
    gold: BillData
    key: Any  # BillKey
    text: str | Callable[[], str | None] | None = None  # text family: the bill's prompt text (or how to get it)


@dataclass
class Prediction:
    data: BillData | None
    text: str | None = None
    error: str | None = None
    adapter_version: str | None = None
    confidence: dict[str, float] = field(default_factory=dict)  # per field the model wrote (local runs)


def score_predictions(items: Sequence[EvalItem], predictions: Sequence[Prediction],
                      fields: Sequence[str] | None = None) -> EvalReport:
    """Scores over ``fields`` (an adapter's field set; default the whole contract)."""
    return score(
        [p.data for p in predictions], [i.gold for i in items], ids=[i.id for i in items],
        failures=[p.error for p in predictions], fields=list(fields) if fields else ALL_FIELDS,
    )
