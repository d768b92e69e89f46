"""Report values partitioned by day (PostgreSQL).

On PostgreSQL ``reporting_reportvalue`` is a table partitioned by range of ``date``, one
partition a day (migration 0011), and a default partition for the days that have none yet.
What it buys, measured on a province of 50,757 villages with 15 days stored (docs/
national-scale.md): a new day's values go into a small, empty partition, so the unique key's
index takes them in order instead of splitting pages all over an index of the whole history
(the day's insert took 10.8 s into the flat table, most of it that index); the cost of a
day's import does not grow with the history kept; statistics are gathered for the new days
only; and retention can drop whole days.

The importers call :func:`ensure_days` for their dates before they open their transaction,
so that the partition's creation (a short lock on the default partition) never waits for, nor
holds up, a long import. Values written for a day without a partition (the daily form's
first report of a day, a test writing through the ORM) go to the default partition, which is
correct, and :func:`ensure_days` moves them into the day's partition when it creates it.

SQLite keeps one table; every function here does nothing there.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable

from django.db import connection, transaction

TABLE = "reporting_reportvalue"
DEFAULT = f"{TABLE}_default"
_DAY = re.compile(rf"{TABLE}_d(\d{{8}})")


def is_partitioned() -> bool:
    """Whether the value table is partitioned (PostgreSQL after migration 0011)."""
    if connection.vendor != "postgresql":
        return False
    with connection.cursor() as cur:
        cur.execute("SELECT relkind FROM pg_class WHERE oid = to_regclass(%s)", [TABLE])
        row = cur.fetchone()
    return bool(row) and row[0] == "p"


def name(day: dt.date) -> str:
    """The partition of ``day``."""
    return f"{TABLE}_d{day:%Y%m%d}"


def existing() -> set[dt.date]:
    """The days that have a partition of their own."""
    with connection.cursor() as cur:
        cur.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = to_regclass(%s)",
            [TABLE],
        )
        names = [r[0] for r in cur.fetchall()]
    days = (_DAY.fullmatch(n) for n in names)
    return {dt.datetime.strptime(m.group(1), "%Y%m%d").date() for m in days if m}


def _as_dates(days: Iterable[dt.date | str]) -> list[dt.date]:
    return sorted(
        {d if isinstance(d, dt.date) else dt.date.fromisoformat(str(d)[:10]) for d in days}
    )


def ensure_days(days: Iterable[dt.date | str]) -> list[dt.date]:
    """Give each of ``days`` its partition if it has none; returns the days created.

    Each is created apart from the table (``LIKE`` it, with the bound as a check so that
    attaching does not scan it), filled with that day's rows from the default partition if
    any were written there, and attached, which locks the table only against other schema
    changes and the default partition only while it is checked for rows of the day.
    """
    wanted = _as_dates(days)
    if not wanted or not is_partitioned():
        return []
    have = existing()
    missing = [d for d in wanted if d not in have]
    for day in missing:
        part, nxt = name(day), day + dt.timedelta(days=1)
        with transaction.atomic(), connection.cursor() as cur:
            cur.execute(f"CREATE TABLE IF NOT EXISTS {part} (LIKE {TABLE} INCLUDING DEFAULTS)")
            cur.execute(
                f"ALTER TABLE {part} ADD CONSTRAINT {part}_bound "
                "CHECK (date IS NOT NULL AND date >= %s AND date < %s)",
                [day, nxt],
            )
            cur.execute(
                f"WITH moved AS (DELETE FROM {DEFAULT} WHERE date = %s RETURNING *) "
                f"INSERT INTO {part} SELECT * FROM moved",
                [day],
            )
            cur.execute(
                f"ALTER TABLE {TABLE} ATTACH PARTITION {part} FOR VALUES FROM (%s) TO (%s)",
                [day, nxt],
            )
            cur.execute(f"ALTER TABLE {part} DROP CONSTRAINT {part}_bound")
    return missing


def day_tables(days: Iterable[dt.date | str]) -> list[str]:
    """The partitions of ``days`` that exist, and the default partition: what to ANALYZE
    after writing values of those days. Analysing the whole table would sample every day's
    partition again, a cost that grows with the history kept."""
    if not is_partitioned():
        return []
    have = existing()
    return [name(d) for d in _as_dates(days) if d in have] + [DEFAULT]


def drop_days(first: dt.date, last: dt.date) -> list[dt.date]:
    """Drop the partitions of the days ``first`` … ``last`` with all their rows (retention:
    the caller has kept them elsewhere); returns the days dropped. Rows of those days in the
    default partition are the caller's to delete."""
    if not is_partitioned():
        return []
    gone = sorted(d for d in existing() if first <= d <= last)
    with connection.cursor() as cur:
        for day in gone:
            cur.execute(f"DROP TABLE {name(day)}")
    return gone
