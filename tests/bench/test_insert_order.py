"""The insert-order probe (bench/insert_order.py) times the cycle's own roll-up statement with
and without its order, each order first every other round."""

from __future__ import annotations

import pytest

from bench import insert_order
from ruralwatch.reporting.services import rollup_level_sql


def test_the_probe_drops_only_the_statements_order() -> None:
    sql = rollup_level_sql(4, "l4")
    head = insert_order.unordered(sql)
    assert sql == head + " ORDER BY p.l4, p.date, p.indicator"
    assert "ORDER BY" not in head and "GROUP BY p.l4, p.date, p.indicator" in head
    with pytest.raises(ValueError):
        insert_order.unordered(head)


def test_each_variant_runs_once_a_round_and_first_every_other_round() -> None:
    runs = insert_order.alternated([("a", "x"), ("b", "y")], 3)
    assert [name for name, _ in runs] == ["a", "b", "b", "a", "a", "b"]
