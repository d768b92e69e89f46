"""The village values' unique key carries the value on PostgreSQL (migration 0011), and the
cycle's vacuum of the reports lets a read of a range of that key skip the table; the judged
indicator's village series have an index of their own (migration 0013).

PostgreSQL only: SQLite keeps the plain key (Django would create no unique constraint with
``INCLUDE`` there), and VACUUM is PostgreSQL's.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from django.db import connection

from ruralwatch.areas.services import import_areas
from ruralwatch.core import bulk
from ruralwatch.cycle.services import refresh_statistics
from ruralwatch.reporting.models import ReportValue, Submission
from ruralwatch.reporting.services import import_reports
from tests.badinput.corpus import NOW, TREE, V1, V2, V3

#: The tables of the reports the cycle vacuums and analyses (the values, then the submissions).
REPORT_TABLES = (ReportValue, Submission)

pytestmark = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="PostgreSQL's covering key and VACUUM"
)

TABLE = ReportValue._meta.db_table


def _import(tmp_path: Path) -> None:
    tree = tmp_path / "tree.csv"
    tree.write_text(TREE, encoding="utf-8")
    import_areas(tree)
    day = tmp_path / "day.csv"
    rows = [
        f"{v},2023-01-{d:02d},{i},{n}"
        for v in (V1, V2, V3)
        for d in (8, 9, 10)
        for i, n in (("new_cases", 3), ("deaths", 0), ("fever_visits", 7))
    ]
    day.write_text("area_code,date,indicator,value\n" + "\n".join(rows) + "\n", encoding="utf-8")
    import_reports(day, now=NOW)


def _scans(kind: str, index: str, plan: str) -> bool:
    """Whether ``plan`` has a ``kind`` scan ("Index Only Scan") of ``index`` or of a
    partition's copy of it (migration 0016: each partition's index is named after it)."""
    copies = bulk.rows(
        "SELECT inhrelid::regclass::text FROM pg_inherits WHERE inhparent = to_regclass(%s)",
        [index],
    )
    return any(f"{kind} using {name} on" in plan for name in [index, *(c for (c,) in copies)])


def _plan(sql: str) -> str:
    with connection.cursor() as cur:
        cur.execute("SET enable_seqscan = off")
        cur.execute("SET enable_bitmapscan = off")
        cur.execute(f"EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) {sql}")
        plan = "\n".join(r[0] for r in cur.fetchall())
        cur.execute("RESET enable_seqscan")
        cur.execute("RESET enable_bitmapscan")
    return plan


@pytest.mark.django_db
def test_the_key_carries_the_value_and_upserts_still_find_it(tmp_path: Path) -> None:
    definition = bulk.rows(
        "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conname = 'value_unique_key'"
    )
    assert definition == [("PRIMARY KEY (area_id, date, indicator_id) INCLUDE (value)",)]
    _import(tmp_path)
    _import(tmp_path)  # the same file again: the upsert's conflict target is the key
    assert ReportValue.objects.count() == 27


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_after_the_cycles_vacuum_a_range_of_the_key_is_read_from_the_index(
    tmp_path: Path,
) -> None:
    """Outside a transaction (as the cycle runs) the reports are vacuumed: the new pages become
    all-visible and a read of a range of the key no longer visits the rows."""
    from django.test.utils import CaptureQueriesContext

    _import(tmp_path)
    read = (
        f"SELECT area_id, date, indicator_id, value FROM {TABLE} "
        f"WHERE area_id BETWEEN '{V1}' AND '{V2}' AND date BETWEEN '2023-01-08' AND '2023-01-10'"
    )  # two of the three villages: the date index alone would read all three
    before = _plan(read)
    assert _scans("Index Only Scan", "value_unique_key", before), before
    # Summed over the partitions read (the days may lie in one partition or in several: an
    # earlier test of this database may have left its own, emptied by the flush).
    assert _heap_fetches(before) == 18, before  # new pages: every value read from the table
    with CaptureQueriesContext(connection) as ran:
        refresh_statistics(REPORT_TABLES, vacuum=True)
    assert [q["sql"].split()[0] for q in ran.captured_queries] == ["VACUUM"] * len(REPORT_TABLES)
    after = _plan(read)
    assert "Heap Fetches" in after and _heap_fetches(after) == 0, after


def _heap_fetches(plan: str) -> int:
    return sum(int(n) for n in re.findall(r"Heap Fetches: (\d+)", plan))


@pytest.mark.django_db
def test_inside_a_transaction_the_statistics_are_refreshed_without_vacuum() -> None:
    """VACUUM cannot run in a transaction (a test's, or a caller's): there it is ANALYZE."""
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as ran:
        refresh_statistics(REPORT_TABLES, vacuum=True)  # VACUUM there would be an error
    statements = [q["sql"].split()[0] for q in ran.captured_queries]
    assert statements == ["ANALYZE"] * len(REPORT_TABLES)


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_assessments_read_of_the_judged_indicator_takes_its_own_index(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After the cycle's vacuum of the reports (outside a transaction, as the cycle runs; the
    planner's choice depends on the statistics and the visibility map it leaves), the
    assessment's read of the villages' ``new_cases`` (``values_by_area``, the statement it
    runs) is an index-only scan of ``value_judged_series``, which holds that indicator's
    entries alone; another indicator's read cannot use it."""
    import datetime as dt

    from ruralwatch.areas.models import Area
    from ruralwatch.reporting.selectors import values_by_area

    (definition,) = bulk.rows("SELECT pg_get_indexdef('value_judged_series'::regclass)")
    assert definition[0].endswith(
        "(area_id, date) INCLUDE (value) WHERE ((indicator_id)::text = 'new_cases'::text)"
    )
    _import(tmp_path)
    refresh_statistics(REPORT_TABLES, vacuum=True)
    root = Area.objects.get(parent__isnull=True).path
    statements: list[str] = []
    fetch = bulk.fetch_frame

    def recorded(sql: str, params: Any = (), **kw: Any) -> Any:
        statements.append(connection.ops.compose_sql(sql, params))
        return fetch(sql, params, **kw)

    monkeypatch.setattr(bulk, "fetch_frame", recorded)

    def read(indicator: str) -> tuple[Any, str]:
        statements.clear()
        days = (dt.date(2023, 1, 1), dt.date(2023, 1, 10))
        frame = values_by_area("report", indicator, *days, root_path=root)
        (statement,) = statements
        return frame, _plan(statement)

    cases, plan = read("new_cases")
    assert _scans("Index Only Scan", "value_judged_series", plan), plan
    assert sorted(cases.rows()) == sorted(
        (v, dt.date(2023, 1, d), 3.0) for v in (V1, V2, V3) for d in (8, 9, 10)
    )
    deaths, plan = read("deaths")
    assert not _scans("Index Only Scan", "value_judged_series", plan), plan
    assert not _scans("Index Scan", "value_judged_series", plan), plan
    assert deaths.height == 9 and set(deaths["value"]) == {0.0}


@pytest.mark.django_db
def test_the_roll_ups_key_carries_value_and_level_for_detections_read(tmp_path: Path) -> None:
    """Reporting migration 0017: detection's read of a level's roll-ups under a subtree
    (``values_by_area("aggregate", …, level=…)``: per area, a range of days of the key, with
    the roll-up's level and value) finds the value and the level in the key's index, not in
    the table's rows. (Which index the whole statement takes is the planner's choice, by the
    statistics of the moment: on a national table, the key.)"""
    import datetime as dt

    from ruralwatch.reporting.models import AggregateValue
    from ruralwatch.reporting.services import roll_up

    definition = bulk.rows(
        "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conname = 'aggregate_unique'"
    )
    assert definition == [("UNIQUE (area_id, date, indicator_id) INCLUDE (value, level)",)]
    _import(tmp_path)
    roll_up(dt.date(2023, 1, 8), dt.date(2023, 1, 10))
    town = AggregateValue.objects.filter(level=4).values_list("area_id", flat=True).first()
    assert town is not None
    # On a few rows the planner may as well take the (level, date) index; on a national
    # table it takes the key. Without the other index (in the test's transaction), the key
    # alone must serve the read, from its own entries.
    bulk.execute("DROP INDEX aggregate_level_date")
    plan = _plan(
        f"SELECT v.area_id, v.date, v.value FROM {AggregateValue._meta.db_table} v "
        f"WHERE v.area_id = '{town}' AND v.indicator_id = 'new_cases' "
        "AND v.date BETWEEN '2023-01-08' AND '2023-01-10' AND v.level = 4"
    )
    assert _scans("Index Only Scan", "aggregate_unique", plan), plan
