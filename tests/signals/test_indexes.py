"""The signals' and detection rules' indexes: only those a read or a cascade needs (see
``tests/dispatch/test_indexes.py``)."""

from __future__ import annotations

import pytest

from tests.dispatch.test_indexes import covered, indexes

pytestmark = pytest.mark.django_db

SIGNAL = {
    "signal_unique": ["rule_id", "area_id", "date"],  # unique; a rule's window; its cascade
    "signal_area": ["area_id"],  # a subtree's signals by their code range (pages, tasks)
    "signal_date_method": ["date", "method"],  # the whole tree's signals by date
}
RULE = {"rule_unique": ["indicator_id", "level", "method"]}  # also the indicator's cascade


@pytest.mark.parametrize(
    ("table", "expected"), [("rw_signals_signal", SIGNAL), ("rw_signals_detectionrule", RULE)]
)
def test_signals_and_rules_carry_only_the_indexes_reads_need(
    table: str, expected: dict[str, list[str]]
) -> None:
    found = indexes(table)
    assert found == expected
    assert covered(found, set()) == []
