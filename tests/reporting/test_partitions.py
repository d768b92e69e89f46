"""The village values partitioned by date (PostgreSQL, migration 0016, reporting.partitions):
a writer's new dates get a partition before it writes, rows written elsewhere wait in the
default partition and move with their date, the cycle analyses its window's partitions only,
and the migration turns a filled table into partitions and back without losing a row.
"""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path

import pytest
from django.db import DatabaseError, connection
from django.db.migrations.executor import MigrationExecutor

from ruralwatch.areas.services import import_areas
from ruralwatch.core import bulk
from ruralwatch.core.problems import ImportRejected
from ruralwatch.reporting import partitions
from ruralwatch.reporting.models import ReportValue
from ruralwatch.reporting.services import import_reports
from tests.badinput.corpus import NOW, TREE, V1, V2, V3

D = dt.date
ON_POSTGRES = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="PostgreSQL's declarative partitions"
)


def test_runs_of_dates_no_partition_covers() -> None:
    covered = [("a", D(2023, 1, 5), D(2023, 1, 8)), ("b", D(2023, 1, 10), D(2023, 1, 11))]
    days = [D(2023, 1, d) for d in (1, 2, 3, 5, 7, 8, 9, 10, 12)]
    assert partitions.uncovered_runs(days, covered) == [
        (D(2023, 1, 1), D(2023, 1, 4)),
        (D(2023, 1, 8), D(2023, 1, 10)),
        (D(2023, 1, 12), D(2023, 1, 13)),
    ]
    assert partitions.uncovered_runs([], covered) == []
    assert partitions.uncovered_runs(days[:2], []) == [(D(2023, 1, 1), D(2023, 1, 3))]


def _tree(tmp_path: Path) -> None:
    tree = tmp_path / "tree.csv"
    tree.write_text(TREE, encoding="utf-8")
    import_areas(tree)


def _file(tmp_path: Path, days: tuple[int, ...], value: int = 3, name: str = "d.csv") -> Path:
    path = tmp_path / name
    rows = [
        f"{v},2023-01-{d:02d},{i},{value}"
        for v in (V1, V2, V3)
        for d in days
        for i in ("new_cases", "deaths")
    ]
    path.write_text("area_code,date,indicator,value\n" + "\n".join(rows) + "\n", "utf-8")
    return path


def _where() -> dict[tuple[str, str], int]:
    """(table, date) -> values stored there."""
    return {
        (table, str(day)): n
        for table, day, n in bulk.rows(
            f"SELECT tableoid::regclass::text, date, count(*) FROM {partitions.PARENT} "
            "GROUP BY 1, 2"
        )
    }


@ON_POSTGRES
@pytest.mark.django_db
def test_an_imported_file_gets_one_partition_per_run_of_new_dates(tmp_path: Path) -> None:
    _tree(tmp_path)
    assert partitions.partitioned()
    import_reports(_file(tmp_path, (8, 9)), now=NOW)
    first = f"{partitions.PARENT}_20230108_20230110"
    assert _where() == {(first, "2023-01-08"): 6, (first, "2023-01-09"): 6}
    # dates 9 and 10: the 9th is held, the 10th gets its own partition
    summary = import_reports(_file(tmp_path, (9, 10), value=4, name="e.csv"), now=NOW)
    assert (summary.imported, summary.updated) == (6, 6)
    second = f"{partitions.PARENT}_20230110_20230111"
    assert _where() == {
        (first, "2023-01-08"): 6,
        (first, "2023-01-09"): 6,
        (second, "2023-01-10"): 6,
    }
    assert [name for name, _f, _e in partitions.ranges()] == [first, second]
    # the partitions' keys are the table's key: a value stored twice is refused
    with pytest.raises(DatabaseError):
        bulk.execute(
            f"INSERT INTO {partitions.PARENT} (area_id, date, indicator_id, value, reporter, "
            f"submitted_at) VALUES (%s, '2023-01-10', 'deaths', 1, '', now())",
            [V1],
        )


def _indexes(table: str) -> list[tuple[str, bool]]:
    """The definitions of ``table``'s indexes with its name taken out, and whether each is
    attached to an index of the values' table."""
    return sorted(
        (definition.replace(table, "T"), attached)
        for definition, attached in bulk.rows(
            "SELECT regexp_replace(pg_get_indexdef(i.indexrelid), 'INDEX \\S+ ON', 'INDEX ON'), "
            "EXISTS (SELECT 1 FROM pg_inherits h WHERE h.inhrelid = i.indexrelid) "
            "FROM pg_index i WHERE i.indrelid = to_regclass(%s)",
            [table],
        )
    )


@ON_POSTGRES
@pytest.mark.django_db
def test_a_new_dates_partition_is_made_with_its_values_and_the_tables_indexes(
    tmp_path: Path,
) -> None:
    """The import's new dates are copied into a table of their own, then attached, which
    builds its indexes (``partitions.write_new``): the same indexes, constraints and rows as
    a partition made empty before the values (``partitions.ensure``), every index attached."""
    _tree(tmp_path)
    import_reports(_file(tmp_path, (8, 9)), now=NOW)
    made = f"{partitions.PARENT}_20230108_20230110"
    partitions.ensure([D(2023, 1, 12)])
    empty = f"{partitions.PARENT}_20230112_20230113"
    assert _indexes(made) == _indexes(empty)
    assert len(_indexes(made)) == 3 and all(attached for _d, attached in _indexes(made))
    assert bulk.rows(
        "SELECT contype, pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = "
        "to_regclass(%s) AND contype = 'p'",
        [made],
    ) == [("p", "PRIMARY KEY (area_id, date, indicator_id) INCLUDE (value)")]
    assert bulk.rows(f"SELECT count(*) FROM {made}") == [(12,)]
    # a file of one new and one held date: the new date's values make its partition, the
    # held date's go to its partition as before
    summary = import_reports(_file(tmp_path, (9, 10), value=4, name="e.csv"), now=NOW)
    assert (summary.imported, summary.updated) == (6, 6)
    assert _where()[(f"{partitions.PARENT}_20230110_20230111", "2023-01-10")] == 6
    assert _where()[(made, "2023-01-09")] == 6


@ON_POSTGRES
@pytest.mark.django_db
def test_a_failed_import_leaves_no_table_of_its_new_dates(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The partition is made in the import's transaction: when the import fails after its
    values were written, neither the table nor its values stay."""
    from ruralwatch.reporting import services

    _tree(tmp_path)

    def failing(*args: object, **kwargs: object) -> bool:
        raise RuntimeError("the submissions could not be written")

    monkeypatch.setattr(services, "insert_day_submissions", failing)
    with pytest.raises(RuntimeError):
        import_reports(_file(tmp_path, (8,)), now=NOW)
    assert partitions.ranges() == []
    assert bulk.rows("SELECT count(*) FROM pg_class WHERE relname LIKE %s", ["%_20230108_%"]) == [
        (0,)
    ]
    assert ReportValue.objects.count() == 0


@ON_POSTGRES
@pytest.mark.django_db
def test_a_rejected_file_makes_no_partition(tmp_path: Path) -> None:
    _tree(tmp_path)
    bad = tmp_path / "bad.csv"
    bad.write_text(f"area_code,date,indicator,value\n{V1},2023-01-08,new_cases,-1\n", "utf-8")
    with pytest.raises(ImportRejected) as rejected:
        import_reports(bad, now=NOW)
    assert [p.file for p in rejected.value.problems] == ["bad.csv"]
    assert partitions.ranges() == []


@ON_POSTGRES
@pytest.mark.django_db
def test_values_written_elsewhere_wait_in_the_default_partition_and_move_with_their_date(
    tmp_path: Path,
) -> None:
    """A value written for a date no partition covers (here the ORM, as a daily form or a
    script) goes to the default partition; the import of that date moves it into the date's
    new partition, where the import finds it (unchanged, not a new value)."""
    _tree(tmp_path)
    ReportValue.objects.create(
        area_id=V1, date=D(2023, 1, 8), indicator_id="new_cases", value=3, submitted_at=NOW
    )
    assert _where() == {(partitions.DEFAULT, "2023-01-08"): 1}
    summary = import_reports(_file(tmp_path, (8,)), now=NOW)
    assert (summary.imported, summary.updated, summary.unchanged) == (5, 0, 1)
    assert _where() == {(f"{partitions.PARENT}_20230108_20230109", "2023-01-08"): 6}


@ON_POSTGRES
@pytest.mark.django_db
def test_a_partition_that_cannot_be_made_leaves_the_values_to_the_default_partition(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    _tree(tmp_path)

    def broken(first: dt.date, end: dt.date, *rows: object) -> str:
        bulk.execute("SELECT 1 / 0")  # any error of the database
        raise AssertionError("unreachable")

    monkeypatch.setattr(partitions, "_make", broken)
    with caplog.at_level(logging.WARNING, logger="ruralwatch.reporting.partitions"):
        summary = import_reports(_file(tmp_path, (8,)), now=NOW)
    assert summary.imported == 6
    assert _where() == {(partitions.DEFAULT, "2023-01-08"): 6}
    assert "no partition made for the values of 2023-01-08 to 2023-01-08" in caplog.text


@ON_POSTGRES
@pytest.mark.django_db
def test_the_cycle_analyses_its_windows_partitions_only(tmp_path: Path) -> None:
    from django.test.utils import CaptureQueriesContext

    from ruralwatch.cycle.services import report_statistics

    _tree(tmp_path)
    import_reports(_file(tmp_path, (1, 2)), now=NOW)
    import_reports(_file(tmp_path, (8,), name="e.csv"), now=NOW)
    ReportValue.objects.create(  # a form's value of a date no import made a partition for
        area_id=V1, date=D(2023, 1, 9), indicator_id="new_cases", value=3, submitted_at=NOW
    )
    with CaptureQueriesContext(connection) as ran:
        out = report_statistics(D(2023, 1, 7), D(2023, 1, 9))
    made = f"{partitions.PARENT}_20230109_20230110"
    assert out["partitions_made"] == [made]
    assert out["tables"] == [f"{partitions.PARENT}_20230108_20230109", made, partitions.DEFAULT]
    # In the test's transaction every partition of the window was written to (this
    # transaction's own changes count): all are analysed, and none is vacuumed. The
    # submissions are the roll-up's to analyse (submission_statistics), not this step's.
    assert out["analysed"] == out["tables"]
    analysed = [q["sql"] for q in ran.captured_queries if q["sql"].startswith("ANALYZE")]
    assert analysed == [f"ANALYZE {t}" for t in out["tables"]]
    assert _where()[(made, "2023-01-09")] == 1


def _flush_statistics() -> None:
    """The backend's counts of written rows handed to the statistics system now (it does
    so when idle, at most once a second)."""
    with connection.cursor() as cur:
        cur.execute("SELECT pg_stat_force_next_flush()")
        cur.execute("SELECT 1")


@ON_POSTGRES
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_cycle_analyses_only_the_partitions_written_since_their_last_analysis(
    tmp_path: Path,
) -> None:
    from django.test.utils import CaptureQueriesContext

    from ruralwatch.cycle.services import report_statistics

    _tree(tmp_path)
    import_reports(_file(tmp_path, (8,)), now=NOW)
    import_reports(_file(tmp_path, (9,), name="e.csv"), now=NOW)
    # The partitions are those of this test's imports, or wider ones an earlier test of this
    # database made (a flush empties them, it does not drop them).
    window = partitions.holding(D(2023, 1, 8), D(2023, 1, 9))
    day8 = partitions.holding(D(2023, 1, 8), D(2023, 1, 8))[0]
    _flush_statistics()
    assert report_statistics(D(2023, 1, 8), D(2023, 1, 9))["tables"] == window
    _flush_statistics()
    with CaptureQueriesContext(connection) as ran:
        out = report_statistics(D(2023, 1, 8), D(2023, 1, 9))
    assert out["analysed"] == []  # nothing written since
    ran_sql = [q["sql"] for q in ran.captured_queries]
    assert f"VACUUM {day8}" in ran_sql and f"VACUUM (ANALYZE) {day8}" not in ran_sql

    for village in (V1, V2, V3):  # forms' late values of day 8: a quarter more rows or more
        ReportValue.objects.create(
            area_id=village,
            date=D(2023, 1, 8),
            indicator_id="fever_visits",
            value=1,
            submitted_at=NOW,
        )
    _flush_statistics()
    out = report_statistics(D(2023, 1, 8), D(2023, 1, 9))
    assert out["analysed"] == [day8]
    assert bulk.stale_statistics(*window) == []


@ON_POSTGRES
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_migration_makes_a_filled_table_a_partition_and_back(tmp_path: Path) -> None:
    from ruralwatch.dashboard import datacache

    _tree(tmp_path)
    import_reports(_file(tmp_path, (8, 9)), now=NOW)
    import_reports(_file(tmp_path, (12,), name="e.csv"), now=NOW)
    rows = sorted(ReportValue.objects.values_list("area_id", "date", "indicator_id", "value"))
    before = [("reporting", "0015_submissions_by_date_and_area")]
    after = [("reporting", "0016_values_partitioned_by_date")]
    try:
        MigrationExecutor(connection).migrate(before)
        assert not partitions.partitioned()
        assert (
            sorted(ReportValue.objects.values_list("area_id", "date", "indicator_id", "value"))
            == rows
        )
        assert bulk.rows(
            "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conname = 'value_unique_key'"
        ) == [("PRIMARY KEY (area_id, date, indicator_id) INCLUDE (value)",)]
        MigrationExecutor(connection).migrate(after)
        whole = f"{partitions.PARENT}_20230108_20230113"
        assert [name for name, _f, _e in partitions.ranges()] == [whole]
        assert set(_where()) == {(whole, d) for d in ("2023-01-08", "2023-01-09", "2023-01-12")}
        assert (
            sorted(ReportValue.objects.values_list("area_id", "date", "indicator_id", "value"))
            == rows
        )
        indexes = {
            name
            for (name,) in bulk.rows(
                "SELECT inhparent::regclass::text FROM pg_inherits "
                "WHERE inhrelid IN (SELECT indexrelid FROM pg_index WHERE indrelid = %s::regclass)",
                [whole],
            )
        }
        assert indexes == {"value_unique_key", "value_date_indicator", "value_judged_series"}
        # a new day after the migration: its own partition
        import_reports(_file(tmp_path, (13,), name="f.csv"), now=NOW)
        assert len(partitions.ranges()) == 2
    finally:
        MigrationExecutor(connection).migrate(after)
        datacache.install()  # the data-change trigger of the new table (after every migrate)


@ON_POSTGRES
@pytest.mark.django_db
def test_archiving_drops_the_archived_partitions_and_restoring_makes_them_again(
    tmp_path: Path,
) -> None:
    from ruralwatch.reporting import archive

    _tree(tmp_path)
    import_reports(_file(tmp_path, (1, 2)), now=NOW)
    import_reports(_file(tmp_path, (3, 4), name="e.csv"), now=NOW)
    import_reports(_file(tmp_path, (8,), name="f.csv"), now=NOW)
    stored = _where()
    summary = archive.archive(D(2023, 1, 4), tmp_path / "archive")
    assert summary.values == 18
    # the partition of the 1st and 2nd is gone; the 3rd's shares its partition with the 4th
    assert [name for name, _f, _e in partitions.ranges()] == [
        f"{partitions.PARENT}_20230103_20230105",
        f"{partitions.PARENT}_20230108_20230109",
    ]
    archive.restore(Path(summary.file))
    assert [name for name, _f, _e in partitions.ranges()] == [
        f"{partitions.PARENT}_20230101_20230103",
        f"{partitions.PARENT}_20230103_20230105",
        f"{partitions.PARENT}_20230108_20230109",
    ]
    assert sum(_where().values()) == sum(stored.values())
    assert not any(table == partitions.DEFAULT for table, _d in _where())


@ON_POSTGRES
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_submissions_are_analysed_by_the_roll_up_not_before_the_validation(
    tmp_path: Path,
) -> None:
    """The cycle's first step (before the workers validate) vacuums and analyses the values'
    partitions only; the submissions, which validation does not read, are vacuumed and
    analysed at the start of the roll-up, their first reader, in the cycle's own process."""
    from django.test.utils import CaptureQueriesContext

    from ruralwatch.cycle.services import run_cycle

    _tree(tmp_path)
    import_reports(_file(tmp_path, (8,)), now=NOW)
    import_reports(_file(tmp_path, (9,), name="e.csv"), now=NOW)
    with CaptureQueriesContext(connection) as ran:
        result = run_cycle(D(2023, 1, 9), days_back=1)
    assert "reporting_submission" not in result.steps["report_statistics"]["tables"]
    maintenance = [
        q["sql"] for q in ran.captured_queries if q["sql"].startswith(("VACUUM", "ANALYZE"))
    ]
    submissions = maintenance.index("VACUUM (ANALYZE) reporting_submission")
    partition = partitions.holding(D(2023, 1, 9), D(2023, 1, 9))[0]
    assert any(partition in sql for sql in maintenance[:submissions])  # the first step's
    assert maintenance.count("VACUUM (ANALYZE) reporting_submission") == 1  # once a cycle
    assert result.steps["roll_up"]["submissions_analysed_s"] >= 0
