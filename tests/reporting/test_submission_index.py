"""The nowcast's read of a subtree's submissions goes through the submissions' (date, area)
index one day at a time (migration 0015), so it reads the window's submissions and not every
day stored of the subtree's areas: its cost does not grow with the history kept.

PostgreSQL only: the read by the subtree's code range is PostgreSQL's (elsewhere the areas
are joined by path), and so is ``INCLUDE``.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from ruralwatch.areas.models import Area
from ruralwatch.areas.services import import_areas
from ruralwatch.core import bulk
from ruralwatch.reporting import selectors
from ruralwatch.reporting.models import Submission
from tests.badinput.corpus import NOW, TREE

pytestmark = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="PostgreSQL's code-range read and INCLUDE"
)

FIRST = dt.date(2022, 10, 1)  # 128 days of reports up to the day before NOW
LAST = dt.date(2023, 2, 5)
TOWN = "990101001"
VILLAGES = [f"{TOWN}{i:03d}" for i in range(1, 401)]


def _submissions(tmp_path: Path) -> None:
    """A township of 400 villages, each with a submission every day of the 128."""
    lines = TREE.strip().splitlines()[:4]  # the header, province, prefecture, county
    lines.append(f"{TOWN}000,示范镇,4,990101000000,400000,80000")
    lines += [f"{v},村{v[-3:]},5,{TOWN}000,1000,200" for v in VILLAGES]
    tree = tmp_path / "tree.csv"
    tree.write_text("\n".join(lines) + "\n", encoding="utf-8")
    import_areas(tree)
    days = pl.date_range(FIRST, LAST, eager=True)
    rows = pl.DataFrame({"area_id": VILLAGES}).join(days.to_frame("date"), how="cross")
    rows = rows.with_columns(
        submitted_at=pl.col("date").cast(pl.Datetime("us", "UTC")) + pl.duration(hours=30),
        delay_hours=pl.lit(30.0),
        reporter=pl.lit(""),
    )
    bulk.append(
        Submission._meta.db_table,
        rows.select("date", "submitted_at", "delay_hours", "reporter", "area_id"),
    )
    bulk.analyze(Submission._meta.db_table)  # as the cycle's first step does


@pytest.mark.django_db
def test_the_triangle_reads_the_windows_submissions_day_by_day(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _submissions(tmp_path)
    assert Submission.objects.count() == len(VILLAGES) * ((LAST - FIRST).days + 1)
    start, end = LAST - dt.timedelta(days=35), LAST
    root = Area.objects.get(level=1).path
    block = np.ones(((end - start).days + 1, len(VILLAGES)))
    read: list[tuple[str, list[Any]]] = []
    fetch = bulk.fetch_frame

    def spy(sql: str, params: Any = (), schema: Any = None) -> Any:
        if "string_agg(s.area_id" in sql:
            read.append((sql, list(params)))
        return fetch(sql, params, schema=schema)

    monkeypatch.setattr(bulk, "fetch_frame", spy)
    now, rows = selectors.delay_triangle(
        root, "new_cases", start, end, now=NOW, panel=(block, VILLAGES)
    )
    assert now is not None and int(rows["reports"].sum()) == len(VILLAGES) * (
        (end - start).days + 1
    )
    ((sql, params),) = read
    with connection.cursor() as cur:
        cur.execute("SET enable_seqscan = off")
        cur.execute("SET enable_bitmapscan = off")
        query = connection.ops.compose_sql(sql, params)
        cur.execute(f"EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) {query}")
        plan = "\n".join(r[0] for r in cur.fetchall())
        cur.execute("RESET enable_seqscan")
        cur.execute("RESET enable_bitmapscan")
    # a range of the (date, area) index per day: no row of the other 92 days is looked at
    # (by the primary key's range of areas: all 51,200 submissions, the window's 14,400 kept)
    assert "Index Only Scan using submission_date" in plan, plan
    assert "date = ANY" in plan and "Filter" not in plan, plan


@pytest.mark.django_db
def test_the_whole_trees_moment_is_the_last_entry_of_the_arrival_index(tmp_path: Path) -> None:
    """The nowcast's moment of the whole tree (``arrival_moment`` of "/") reads the latest
    arrival from the end of the (submitted_at) index (migration 0018), not every submission
    of the window's days; the planner chooses it on its own (no scan is switched off)."""
    _submissions(tmp_path)
    late = dt.datetime(2023, 2, 7, 9, 30, tzinfo=dt.UTC)  # the latest arrival: LAST, 57.5 h
    Submission.objects.filter(area_id=VILLAGES[7], date=LAST).update(submitted_at=late)
    # a later arrival of a day before the window is not the window's moment
    Submission.objects.filter(area_id=VILLAGES[9], date=FIRST).update(
        submitted_at=late + dt.timedelta(hours=5)
    )
    start, end = LAST - dt.timedelta(days=35), LAST
    with CaptureQueriesContext(connection) as ran:
        assert selectors.arrival_moment("/", "new_cases", start, end) == late
    # the statement arrival_moment sent, as it sent it
    (sql,) = [q["sql"] for q in ran.captured_queries if "MAX(s.submitted_at)" in q["sql"]]
    with connection.cursor() as cur:
        cur.execute(f"EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) {sql}")
        plan = "\n".join(r[0] for r in cur.fetchall())
    # the two latest entries looked at (one outside the window), not the window's 14,400
    assert "Index Only Scan Backward using submission_latest" in plan, plan
    assert re.search(r"Rows Removed by Filter: 1\b", plan), plan
