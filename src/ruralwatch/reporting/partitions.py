"""The village values' partitions by date (PostgreSQL, ``reporting`` migration 0016).

Each run of consecutive dates that no partition covers gets one partition,
``reporting_reportvalue_<first>_<end>`` (``end`` exclusive): a file of a month of history is one
partition; the daily import of a national day is one a day. The importers' new values of such
dates are written by :func:`write_new`, in the writer's transaction: the partition is made with
its rows, then attached, which builds its indexes, instead of each row inserted into them (on the
nation's day of 5.2 million values the ``COPY`` into an empty attached partition took 42.5 s of
the server, 23.8 s copied, indexed and attached). Other writers call :func:`ensure` before their
transaction, which makes the partitions empty. Rows written for a date that no partition
covers (a village's daily form, a test's ``bulk_create``) land in the default partition and
move into their date's partition when it is made.

Everything here is an optimisation: on SQLite, on a table not partitioned, or when making a
partition fails (it is logged), the values go where PostgreSQL routes them and nothing else
changes. A query that names no date reads (and locks) every partition: a national deployment
keeping a year of daily partitions sets ``max_locks_per_transaction`` accordingly
(docs/deploy.md).
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Callable, Iterable

import polars as pl
from django.db import DatabaseError, transaction

from ruralwatch.core import bulk
from ruralwatch.core.dates import consecutive_runs
from ruralwatch.reporting.models import ReportValue

logger = logging.getLogger(__name__)

PARENT = ReportValue._meta.db_table
DEFAULT = f"{PARENT}_default"
#: The advisory lock that makes the partitions one writer at a time (``ensure``).
LOCK = 0x52570016
_BOUND = re.compile(r"FROM \('(\d{4}-\d{2}-\d{2})'\) TO \('(\d{4}-\d{2}-\d{2})'\)")
_DAY = dt.timedelta(days=1)


def partitioned() -> bool:
    """Whether the values are partitioned (PostgreSQL after migration 0016)."""
    if not bulk.is_postgres():
        return False
    return bool(
        bulk.rows("SELECT 1 FROM pg_class WHERE oid = to_regclass(%s) AND relkind = 'p'", [PARENT])
    )


def ranges() -> list[tuple[str, dt.date, dt.date]]:
    """The date partitions as (table, first date, end date exclusive), by first date; the
    default partition is not one of them."""
    found = []
    for name, bound in bulk.rows(
        "SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i "
        "JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = to_regclass(%s)",
        [PARENT],
    ):
        match = _BOUND.search(bound)
        if match:
            first, end = (dt.date.fromisoformat(d) for d in match.groups())
            found.append((name, first, end))
    return sorted(found, key=lambda r: r[1])


def uncovered_runs(
    dates: Iterable[dt.date], covered: Iterable[tuple[str, dt.date, dt.date]]
) -> list[tuple[dt.date, dt.date]]:
    """The runs of consecutive ``dates`` that none of the ``covered`` ranges holds, as
    (first, end exclusive)."""
    spans = [(first, end) for _name, first, end in covered]
    free = [day for day in dates if not any(first <= day < end for first, end in spans)]
    return [(run[0], run[-1] + _DAY) for run in consecutive_runs(free)]


def ensure(dates: Iterable[dt.date]) -> list[str]:
    """Make a partition for each run of ``dates`` that none covers (see the module); returns
    the tables made. Call it before the writer's transaction: the partitions are then
    committed at once, and the DDL never waits for or holds up a long write. Inside a
    transaction they are made in it."""
    days = sorted(set(dates))
    if not days or not partitioned() or not uncovered_runs(days, ranges()):
        return []  # the usual case for a writer of a day already begun: no lock taken
    made = []
    with transaction.atomic():
        bulk.execute("SELECT pg_advisory_xact_lock(%s)", [LOCK])  # one writer at a time
        for first, end in uncovered_runs(days, ranges()):
            if _made(first, end) is not None:
                made.append(_name(first, end))
    return made


def _made(
    first: dt.date,
    end: dt.date,
    rows: pl.DataFrame | None = None,
    progress: Callable[[int], None] | None = None,
) -> str | None:
    """:func:`_make` in a savepoint: ``None`` (logged) when the database refuses it, which
    leaves everything as it was."""
    try:
        with transaction.atomic():
            return _make(first, end, rows, progress)
    except DatabaseError:
        logger.warning(
            "no partition made for the values of %s to %s; they go to %s",
            first,
            end - _DAY,
            DEFAULT,
            exc_info=True,
        )
        return None


def write_new(rows: pl.DataFrame, progress: Callable[[int], None] | None = None) -> pl.DataFrame:
    """Write the new values ``rows`` (the table's columns; ``date`` a date or its ISO text)
    of the dates no partition covers, in the caller's transaction: each run of those dates
    becomes a partition made with its rows (:func:`_make`). Returns the other rows (dates a
    partition holds, or whose partition could not be made), for the caller to write.

    The partitions are made under the lock of :func:`ensure`, held to the caller's commit,
    and the attach holds the default partition (no writer adds to it, no reader that scans
    it reads) from then to the commit: at the end of a whole day's import, about 10 s of
    submissions and validation copies for the nation's day."""
    if rows.is_empty() or not partitioned():
        return rows
    day = pl.col("date").cast(pl.String).str.slice(0, 10)
    dates = [dt.date.fromisoformat(d) for d in rows.select(day.unique())["date"].to_list()]
    if not uncovered_runs(dates, ranges()):
        return rows  # a day already begun, as in ensure: no lock held to the commit
    bulk.execute("SELECT pg_advisory_xact_lock(%s)", [LOCK])
    rest = rows
    for first, end in uncovered_runs(dates, ranges()):
        inside = day.is_between(pl.lit(first.isoformat()), pl.lit(end.isoformat()), "left")
        if _made(first, end, rest.filter(inside), progress) is not None:
            rest = rest.filter(~inside)
    return rest


def adopt(first: dt.date, last: dt.date) -> list[str]:
    """Partitions for the dates of ``first``…``last`` that have values in the default
    partition (a village's daily forms, where no import made the day's partition): the
    cycle calls it for its window, so that the default partition holds a day or two at most.
    Returns the tables made."""
    if not partitioned():
        return []
    held = bulk.rows(
        f"SELECT DISTINCT date FROM {DEFAULT} WHERE date BETWEEN %s AND %s", [first, last]
    )
    return ensure(d for (d,) in held)


def _name(first: dt.date, end: dt.date) -> str:
    return f"{PARENT}_{first:%Y%m%d}_{end:%Y%m%d}"


def _make(
    first: dt.date,
    end: dt.date,
    rows: pl.DataFrame | None = None,
    progress: Callable[[int], None] | None = None,
) -> str:
    """The partition of [first, end): made with ``rows`` (the table's columns), or else
    empty; the default partition's rows of those dates moved into it, then attached, which
    checks that the default partition holds none of its dates and gives the partition the
    table's key and indexes: built from the rows in one sort each when there are rows, not
    updated row by row as they are copied in."""
    name = _name(first, end)
    columns = ", ".join(str(f.column) for f in ReportValue._meta.local_concrete_fields)
    bulk.execute(f"CREATE TABLE {name} (LIKE {PARENT} INCLUDING DEFAULTS INCLUDING STORAGE)")
    if rows is not None:
        bulk.append(name, rows, progress)
    # No writer adds to the default partition until the attach is committed.
    bulk.execute(f"LOCK TABLE {DEFAULT} IN EXCLUSIVE MODE")
    bulk.execute(
        f"WITH moved AS (DELETE FROM {DEFAULT} WHERE date >= %s AND date < %s "
        f"RETURNING {columns}) INSERT INTO {name} ({columns}) SELECT {columns} FROM moved",
        [first, end],
    )
    bulk.execute(
        f"ALTER TABLE {PARENT} ATTACH PARTITION {name} "
        f"FOR VALUES FROM ('{first.isoformat()}') TO ('{end.isoformat()}')"
    )
    return name


def drop_within(start: dt.date, before: dt.date) -> list[str]:
    """Drop the partitions whose dates all lie in [start, before), their values with them
    (archiving, in the caller's transaction, which this joins: a day's rows are not deleted
    one by one first), so that a retention of a year keeps about a year of partitions.
    Returns the tables dropped."""
    if not partitioned():
        return []
    gone = [name for name, first, end in ranges() if start <= first and end <= before]
    for name in gone:
        bulk.execute(f"DROP TABLE {name}")
    return gone


def holding(first: dt.date, last: dt.date) -> list[str]:
    """The tables holding the values of ``first``…``last``: the partitions that overlap those
    dates and the default partition (PostgreSQL, partitioned), else the values' table."""
    if not partitioned():
        return [PARENT]
    found = [name for name, start, end in ranges() if start <= last and first < end]
    return [*found, DEFAULT]


def analyze_if_grown(dates: Iterable[dt.date], added: int) -> list[str]:
    """After ``added`` values were written on ``dates``: ANALYZE each partition of those dates
    that grew by more than a tenth (a new day's partition always), and the whole table (its
    every partition, sampled) only when it grew by a tenth. Returns the tables analysed."""
    days = sorted(set(dates))
    if not days:
        return []
    if not partitioned():
        return [PARENT] if bulk.analyze_if_grown(PARENT, added) else []
    if bulk.analyze_if_grown(PARENT, added):
        return [PARENT]
    return [
        table
        for table in holding(days[0], days[-1])
        if table != DEFAULT and bulk.analyze_if_grown(table, added)
    ]
