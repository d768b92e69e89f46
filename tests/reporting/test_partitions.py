"""Report values partitioned by day (``ruralwatch.reporting.partitions``): not enabled.

The migration that partitioned the table by day was withdrawn: a query that cannot prune
(a Farrington county rule's years of weekly baseline) locks every day's partition and its
indexes, and the full suite ran PostgreSQL out of lock slots (max_locks_per_transaction).
Until partitions are coarser, the table is one table on both databases and the functions do
nothing."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from django.db import connection

from ruralwatch.areas.services import import_areas
from ruralwatch.reporting import partitions
from ruralwatch.reporting.models import ReportValue
from ruralwatch.reporting.services import import_reports

TREE = """code,name,level,parent_code
980000000000,分区省,1,
980100000000,分区市,2,980000000000
980101000000,分区县,3,980100000000
980101001000,分区镇,4,980101000000
980101001001,一村,5,980101001000
980101001002,二村,5,980101001000
"""
V1, V2 = "980101001001", "980101001002"
DAY1, DAY2, DAY3 = dt.date(2023, 1, 1), dt.date(2023, 1, 2), dt.date(2023, 1, 3)
NOW = dt.datetime(2023, 2, 1, tzinfo=dt.UTC)
POSTGRES = connection.vendor == "postgresql"


def _tree(tmp_path: Path) -> None:
    (tmp_path / "tree.csv").write_text(TREE, encoding="utf-8")
    import_areas(tmp_path / "tree.csv")


def _import(tmp_path: Path, rows: list[tuple[str, dt.date, int]], name: str = "r.csv") -> None:
    lines = ["area_code,date,new_cases"] + [f"{a},{d},{v}" for a, d, v in rows]
    (tmp_path / name).write_text("\n".join(lines) + "\n", encoding="utf-8")
    import_reports(tmp_path / name, now=NOW)


def _where() -> dict[tuple[str, dt.date], str]:
    """(area, date) → the partition holding its new_cases value."""
    with connection.cursor() as cur:
        cur.execute(
            f"SELECT area_id, date, tableoid::regclass::text FROM {partitions.TABLE} "
            "WHERE indicator_id = 'new_cases'"
        )
        return {(a, d): t for a, d, t in cur.fetchall()}


def _rows() -> set[tuple[object, ...]]:
    return set(ReportValue.objects.values_list("id", "area_id", "date", "indicator_id", "value"))


@pytest.mark.django_db
def test_the_table_is_one_table_and_the_functions_do_nothing(tmp_path: Path) -> None:
    assert not partitions.is_partitioned()
    assert partitions.ensure_days([DAY1]) == []
    assert partitions.day_tables([DAY1]) == []
    assert partitions.drop_days(DAY1, DAY3) == []
    _tree(tmp_path)
    _import(tmp_path, [(V1, DAY1, 3)])
    assert ReportValue.objects.get(area_id=V1).value == 3
