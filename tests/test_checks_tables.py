"""The rule families are tables: a date-order row is a rule, and the package registers every family in order."""

from __future__ import annotations

import operator

from extractor_energy.domain import checks
from extractor_energy.domain.checks.dates import ORDER, WINDOWS, DateOrder, MonthWindow
from extractor_energy.domain.schema import BillData


def test_every_family_rule_is_registered_in_family_order():
    expected = [fn for family in checks.FAMILIES for fn in family.RULES]
    assert checks.RULES[:len(expected)] == expected
    assert checks.ALL_RULE_CODES == tuple(code for fn in expected for code in fn.codes)


def test_a_date_order_row_is_a_whole_rule():
    row = DateOrder("paid_before_due", ("vencimento", "leitura_atual"), operator.lt,
                    "Due {vencimento} before reading {leitura_atual}.")
    bill = BillData(vencimento="01/07/2025", leitura_atual="13/07/2025")
    assert [(f.code, f.fields, f.message) for f in row(bill)] == [
        ("paid_before_due", ("vencimento", "leitura_atual"), "Due 01/07/2025 before reading 13/07/2025.")]
    assert list(row(BillData(vencimento="01/07/2025"))) == []  # quiet when a date is missing
    assert list(row(BillData(vencimento="31/02/2025", leitura_atual="13/07/2025"))) == []  # unreadable: invalid_date's business


def test_the_date_rules_run_from_the_tables():
    order_codes = {code for fn in checks.RULES if isinstance(fn, DateOrder) for code in fn.codes}
    window_codes = {code for fn in checks.RULES if isinstance(fn, MonthWindow) for code in fn.codes}
    assert order_codes == set(ORDER)
    assert window_codes == {code for window in WINDOWS.values() for code in window.codes}
    bill = BillData(mes_referencia="07/2025", proximo_leitura="01/06/2025")
    (finding,) = WINDOWS["proximo_leitura"](bill)
    assert finding.code == "next_reading_outside_reference_window" and "is before the reference month 07/2025" in finding.message
