"""The report importer's paths for a new day (nothing stored yet on the file's dates): values
and submissions copied straight into their tables, the values' COPY in pieces made by a thread
(PostgreSQL), and what happens when a daily form stores something meanwhile or the write fails
half-way: the same rows as the merge would store, or nothing at all."""

from __future__ import annotations

import datetime as dt
import threading
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from django.db import IntegrityError, connection

from ruralwatch.areas.services import import_areas
from ruralwatch.core import bulk
from ruralwatch.reporting import services
from ruralwatch.reporting.models import ImportBatch, ReportValue, Submission, ValueChange
from ruralwatch.reporting.services import import_reports

pytestmark = pytest.mark.django_db

TREE = """code,name,level,parent_code,population
990000000000,示范省,1,,
990100000000,示范市,2,990000000000,
990101000000,示范县,3,990100000000,
990101001000,东镇,4,990101000000,
990101001001,东一村,5,990101001000,1000
990101001002,东二村,5,990101001000,2000
990101001003,东三村,5,990101001000,1500
"""
NOW = dt.datetime(2023, 2, 6, 9, 0, tzinfo=dt.UTC)
DAY = dt.date(2023, 2, 5)
V1, V2, V3 = "990101001001", "990101001002", "990101001003"
#: A wide day of 3 villages, 3 indicators (9 values), in no key order (the importer sorts).
DAY_CSV = (
    "area_code,date,new_cases,fever_visits,deaths,submitted_at\n"
    f"{V3},2023-02-05,1,5,0,2023-02-05 20:00\n"
    f"{V1},2023-02-05,2,7,0,2023-02-05 21:30\n"
    f"{V2},2023-02-05,0,3,1,2023-02-06 08:15\n"
)


@pytest.fixture
def day(tmp_path: Path) -> Path:
    tree = tmp_path / "tree.csv"
    tree.write_text(TREE, encoding="utf-8")
    import_areas(tree)
    path = tmp_path / "day.csv"
    path.write_text(DAY_CSV, encoding="utf-8")
    return path


def _stored() -> tuple[list[tuple[Any, ...]], ...]:
    values = ReportValue.objects.order_by("area_id", "date", "indicator_id").values_list(
        "area_id", "date", "indicator_id", "value", "reporter", "submitted_at", "batch__source"
    )
    subs = Submission.objects.order_by("area_id", "date").values_list(
        "area_id", "date", "submitted_at", "delay_hours", "reporter"
    )
    changes = ValueChange.objects.order_by("id").values_list(
        "area_id", "indicator_id", "old_value", "new_value", "batch__source"
    )
    batches = ImportBatch.objects.order_by("id").values_list(
        "source", "imported", "updated", "unchanged"
    )
    return list(values), list(subs), list(changes), list(batches)


def _nothing_stored() -> None:
    assert _stored() == ([], [], [], [])
    if connection.vendor == "postgresql":  # no staging table left in the session either
        with connection.cursor() as cur:
            cur.execute(
                "SELECT relname FROM pg_class WHERE relname LIKE 'stage%%' "
                "AND relnamespace = pg_my_temp_schema()"
            )
            assert cur.fetchall() == []


def test_a_new_day_is_copied_straight_in(day: Path) -> None:
    summary = import_reports(day, now=NOW)
    assert (summary.imported, summary.updated, summary.unchanged) == (9, 0, 0)
    values, subs, changes, batches = _stored()
    assert [(v[0], v[2], v[3]) for v in values[:3]] == [
        (V1, "deaths", 0.0),
        (V1, "fever_visits", 7.0),
        (V1, "new_cases", 2.0),
    ]
    # arrivals in Shanghai time, hours after the report date began; no reporter column
    assert [(s[0], s[1], s[3], s[4]) for s in subs] == [
        (V1, DAY, 21.5, ""),
        (V2, DAY, 32.25, ""),
        (V3, DAY, 20.0, ""),
    ]
    assert changes == [] and batches == [("day.csv", 9, 0, 0)]


def test_the_new_day_path_stores_what_the_merge_stores(
    day: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same file through the merge (every date taken for held): the same rows."""
    import_reports(day, now=NOW)
    direct = _stored()
    ReportValue.objects.all().delete()
    Submission.objects.all().delete()
    ImportBatch.objects.all().delete()
    monkeypatch.setattr(services, "dates_holding", lambda table, dates: list(dates))
    import_reports(day, now=NOW)
    assert _stored() == direct


def test_what_a_daily_form_stores_meanwhile_is_merged(
    day: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The daily form does not take the import lock. A value and a submission it stores for
    the new day after the importer found the day empty make the straight copies fail: the
    values are read again and that one counted as changed (with its correction), the
    submission keeps the earlier of the two arrivals."""
    real = services.dates_holding
    probes: list[str] = []

    def the_form_stores_after_the_probes(table: str, dates: Any) -> list[str]:
        found = real(table, dates)
        probes.append(table)
        if table == Submission._meta.db_table:  # both probes made: the form stores now
            ReportValue.objects.create(
                area_id=V2,
                date=DAY,
                indicator_id="fever_visits",
                value=30,
                reporter="form",
                submitted_at=NOW - dt.timedelta(days=1),
            )
            Submission.objects.create(
                area_id=V2,
                date=DAY,
                submitted_at=dt.datetime(2023, 2, 5, 1, 0, tzinfo=dt.UTC),
                delay_hours=9.0,
                reporter="form",
            )
        return found

    monkeypatch.setattr(services, "dates_holding", the_form_stores_after_the_probes)
    summary = import_reports(day, now=NOW)
    assert probes == [ReportValue._meta.db_table, Submission._meta.db_table]
    assert (summary.imported, summary.updated, summary.unchanged) == (8, 1, 0)
    values, subs, changes, _ = _stored()
    assert len(values) == 9 and (V2, DAY, "fever_visits", 3.0) in [v[:4] for v in values]
    assert changes == [(V2, "fever_visits", 30.0, 3.0, "day.csv")]
    by_area = {s[0]: s for s in subs}
    assert len(subs) == 3 and by_area[V2][3] == 9.0 and by_area[V2][4] == "form"


#: Where the write fails: the server refuses a row (both databases), or the thread making the
#: pieces fails (PostgreSQL's pipelined COPY; SQLite inserts in one statement).
FAILURES = ["server", "maker"] if connection.vendor == "postgresql" else ["server"]


@pytest.mark.parametrize("where", FAILURES)
def test_a_failure_half_way_through_the_values_leaves_nothing(
    day: Path, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    """The values' COPY in pieces of two rows (PostgreSQL; SQLite has one insert): the
    thread making the second piece fails, or the server refuses a row of a later piece.
    The import raises and nothing of it is stored, nor left behind; the same file then
    imports in full."""
    monkeypatch.setattr(bulk, "CHUNK", 2)
    if where == "maker":
        real_write_csv = pl.DataFrame.write_csv
        made: list[int] = []

        def fails_on_the_second_piece(self: pl.DataFrame, *args: Any, **kwargs: Any) -> Any:
            # the values' pieces (every COPY of the import is in pieces of two rows now)
            if threading.current_thread().name == "copy-pieces" and "indicator_id" in self.columns:
                made.append(self.height)
                if len(made) == 2:
                    raise OSError("disk full")
            return real_write_csv(self, *args, **kwargs)

        monkeypatch.setattr(pl.DataFrame, "write_csv", fails_on_the_second_piece)
        error: type[BaseException] = OSError
    else:
        real_classify = services.classify

        def a_null_value_in_a_later_piece(stage: pl.DataFrame, stored: pl.DataFrame) -> Any:
            found = real_classify(stage, stored)
            value = pl.when(pl.int_range(pl.len()) == 6).then(None).otherwise(pl.col("value"))
            found.write = found.write.with_columns(value.alias("value"))
            return found

        monkeypatch.setattr(services, "classify", a_null_value_in_a_later_piece)
        error = IntegrityError
    with pytest.raises(error):
        import_reports(day, now=NOW)
    _nothing_stored()
    monkeypatch.undo()
    summary = import_reports(day, now=NOW)
    assert (summary.imported, len(_stored()[0]), len(_stored()[1])) == (9, 9, 3)


def test_key_order_is_the_texts_order() -> None:
    """``in_key_order`` sorts as the three texts sort (by one integer when the codes are 12
    digits, else by the texts), and leaves a frame already in order as it is."""
    import random

    rng = random.Random(3)
    codes = [f"{rng.randrange(10**11, 10**12)}" for _ in range(40)]
    dates = ["2023-02-04", "2023-02-05", "2023-01-30"]
    inds = ["new_cases", "deaths", "fever_visits", "kg_due"]
    rows = [(c, d, i, rng.random()) for c in codes for d in dates for i in inds]
    rng.shuffle(rows)
    frame = pl.DataFrame(rows, schema=["area_code", "date", "indicator", "value"], orient="row")
    expected = frame.sort(services.VALUE_KEY)
    assert services.in_key_order(frame).equals(expected)
    assert services.in_key_order(expected).equals(expected)
    other = frame.with_columns(
        pl.when(pl.int_range(pl.len()) % 7 == 0)
        .then(pl.col("area_code").str.slice(0, 11))
        .otherwise(pl.col("area_code"))
        .alias("area_code")
    )
    assert services.in_key_order(other).equals(other.sort(services.VALUE_KEY))


def test_area_days_in_key_order_or_not() -> None:
    """``day_frame`` gives the same area-days (earliest arrival, least reporter) whether its
    rows come in key order (runs) or not (grouped by hash)."""
    frame = pl.DataFrame(
        {
            "area_code": [V2, V1, V1, V2, V1, V3],
            "date": ["2023-02-05", "2023-02-05", "2023-02-04", "2023-02-05", "2023-02-05", "x"],
            "indicator": ["a", "a", "a", "b", "b", "a"],
            "submitted_at": ["t3", "t2", "t1", "t0", "t1", "t5"],
            "delay_hours": [3.0, 2.0, 1.0, 0.5, 1.5, 5.0],
            "reporter": ["z", "b", "a", "y", "a", "q"],
        }
    )
    assert not services._day_sorted(frame)
    unsorted = services.day_frame(frame)
    in_order = frame.sort(services.VALUE_KEY)
    assert services._day_sorted(in_order)
    assert services.day_frame(in_order).equals(unsorted)
    assert unsorted.rows() == [
        (V1, "2023-02-04", "t1", 1.0, "a"),
        (V1, "2023-02-05", "t1", 1.5, "a"),
        (V2, "2023-02-05", "t0", 0.5, "y"),
        (V3, "x", "t5", 5.0, "q"),
    ]
