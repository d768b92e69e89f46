"""Report values partitioned by day (PostgreSQL; ``ruralwatch.reporting.partitions``).

On PostgreSQL every imported day gets its partition, rows written where no partition exists
land in the default one and are moved when the day gets its partition, the unique key holds
across the move, archiving drops the days whole and restoring recreates them, and migration
0011 converts a filled table both ways without losing or changing a row. On SQLite the table
is one table and every function says so by doing nothing."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from django.db import connection

from ruralwatch.areas.services import import_areas
from ruralwatch.reporting import partitions
from ruralwatch.reporting.archive import archive, restore
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
def test_sqlite_keeps_one_table_and_the_functions_do_nothing(tmp_path: Path) -> None:
    if POSTGRES:
        assert partitions.is_partitioned()
        return
    assert not partitions.is_partitioned()
    assert partitions.ensure_days([DAY1]) == []
    assert partitions.day_tables([DAY1]) == []
    assert partitions.drop_days(DAY1, DAY3) == []
    _tree(tmp_path)
    _import(tmp_path, [(V1, DAY1, 3)])
    assert ReportValue.objects.get(area_id=V1).value == 3


@pytest.mark.django_db
def test_imports_write_into_the_day_partitions(tmp_path: Path) -> None:
    if not POSTGRES:
        assert not partitions.is_partitioned()
        return
    _tree(tmp_path)
    _import(tmp_path, [(V1, DAY1, 3), (V2, DAY1, 1), (V1, DAY2, 4)])
    assert {DAY1, DAY2} <= partitions.existing()
    assert _where() == {
        (V1, DAY1): partitions.name(DAY1),
        (V2, DAY1): partitions.name(DAY1),
        (V1, DAY2): partitions.name(DAY2),
    }
    # The same file again changes nothing; a changed value is an update in its partition.
    _import(tmp_path, [(V1, DAY1, 3), (V2, DAY1, 1), (V1, DAY2, 4)])
    _import(tmp_path, [(V1, DAY2, 5)], "changed.csv")
    assert ReportValue.objects.get(area_id=V1, date=DAY2, indicator_id="new_cases").value == 5
    assert ReportValue.objects.filter(indicator_id="new_cases").count() == 3
    assert partitions.day_tables([DAY2, DAY3]) == [partitions.name(DAY2), partitions.DEFAULT]


@pytest.mark.django_db
def test_rows_without_a_partition_go_to_the_default_and_move_with_their_day(
    tmp_path: Path,
) -> None:
    if not POSTGRES:
        assert not partitions.is_partitioned()
        return
    _tree(tmp_path)
    direct = ReportValue.objects.create(
        area_id=V1, date=DAY3, indicator_id="new_cases", value=7, submitted_at=NOW
    )
    assert _where() == {(V1, DAY3): partitions.DEFAULT}
    before = _rows()
    assert partitions.ensure_days([DAY3, DAY3.isoformat()]) == [DAY3]
    assert partitions.ensure_days([DAY3]) == []  # idempotent
    assert _where() == {(V1, DAY3): partitions.name(DAY3)}
    assert _rows() == before  # the same row, id and all
    # The unique key holds in the day's partition: importing the value again is no change.
    _import(tmp_path, [(V1, DAY3, 7), (V2, DAY3, 2)])
    assert ReportValue.objects.get(pk=direct.pk).value == 7
    assert ReportValue.objects.filter(date=DAY3).count() == 2
    new = ReportValue.objects.get(area_id=V2, date=DAY3)
    assert new.pk > direct.pk  # the identity goes on after the moved row


@pytest.mark.django_db
def test_archive_drops_the_days_and_restore_brings_them_back(tmp_path: Path) -> None:
    _tree(tmp_path)
    _import(tmp_path, [(V1, DAY1, 3), (V1, DAY2, 4), (V1, DAY3, 5)])
    before = _rows()
    summary = archive(DAY3, tmp_path / "archive")
    assert (summary.start, summary.end, summary.values) == ("2023-01-01", "2023-01-02", 2)
    assert set(ReportValue.objects.values_list("date", flat=True)) == {DAY3}
    if POSTGRES:
        assert DAY1 not in partitions.existing() and DAY2 not in partitions.existing()
        assert DAY3 in partitions.existing()
    restore(Path(summary.file))
    got = {r[1:] for r in _rows()}
    assert got == {r[1:] for r in before}
    if POSTGRES:
        assert _where()[(V1, DAY1)] == partitions.name(DAY1)


# Transactional (the migration's DDL commits); serialized rollback restores the rows the data
# migrations load, which the flush after a transactional test removes.
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_migration_0011_converts_a_filled_table_both_ways(tmp_path: Path) -> None:
    """Back to one table and forward again with rows stored: every row kept, id and all,
    and the next id after the largest."""
    from django.db.migrations.executor import MigrationExecutor

    _tree(tmp_path)
    _import(tmp_path, [(V1, DAY1, 3), (V2, DAY1, 1), (V1, DAY2, 4)])
    before = _rows()
    executor = MigrationExecutor(connection)
    executor.migrate([("reporting", "0010_archived_periods")])
    assert not partitions.is_partitioned()
    assert _rows() == before
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())
    assert partitions.is_partitioned() == POSTGRES
    assert _rows() == before
    if POSTGRES:
        assert set(_where().values()) == {partitions.name(DAY1), partitions.name(DAY2)}
    later = ReportValue.objects.create(
        area_id=V2, date=DAY2, indicator_id="new_cases", value=9, submitted_at=NOW
    )
    assert later.pk > max(r[0] for r in before)  # type: ignore[type-var]


@pytest.mark.django_db
def test_the_cycle_analyses_its_days_not_the_whole_history(tmp_path: Path) -> None:
    from ruralwatch.cycle.services import refresh_statistics

    _tree(tmp_path)
    _import(tmp_path, [(V1, DAY1, 3), (V1, DAY2, 4), (V1, DAY3, 5)])
    tables = refresh_statistics(DAY3)["tables"]
    if not POSTGRES:
        assert tables == []
        return
    assert partitions.TABLE not in tables
    assert [t for t in tables if t.startswith(partitions.TABLE)] == [
        partitions.name(DAY2),
        partitions.name(DAY3),
        partitions.DEFAULT,
    ]
    assert "reporting_submission" in tables
