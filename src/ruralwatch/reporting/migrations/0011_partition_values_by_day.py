"""Partition the report values by day on PostgreSQL (``ruralwatch.reporting.partitions``).

The table is rebuilt: the stored rows are copied into a table partitioned by range of
``date``, one partition for each day already stored and a default partition, with the same
columns, identity, unique key and index (the primary key becomes (id, date), as PostgreSQL
requires the partition key in it; Django keeps addressing rows by ``id``). A deployment with
a long history should plan for the copy: about the time of a reload of the table. The data
version's trigger is put back by the dashboard's post-migrate step, as for every new table.
SQLite is left as it is. Going back rebuilds one plain table.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db import migrations

TABLE = "reporting_reportvalue"
FLAT = f"{TABLE}_flat"


def _days(cur: Any, table: str) -> list[dt.date]:
    cur.execute(f"SELECT DISTINCT date FROM {table} ORDER BY date")
    return [r[0] for r in cur.fetchall()]


def _set_aside(cur: Any) -> None:
    """Rename the table and its constraints and index out of the way of the new one."""
    cur.execute(f"ALTER TABLE {TABLE} RENAME TO {FLAT}")
    cur.execute(f"ALTER TABLE {FLAT} RENAME CONSTRAINT {TABLE}_pkey TO {FLAT}_pkey")
    cur.execute(f"ALTER TABLE {FLAT} RENAME CONSTRAINT value_unique_key TO {FLAT}_key")
    cur.execute(f"ALTER INDEX value_date_indicator RENAME TO {FLAT}_date_indicator")


def _keys(cur: Any) -> None:
    """The unique key and the date index of the model, on the new table."""
    cur.execute(
        f"ALTER TABLE {TABLE} ADD CONSTRAINT value_unique_key UNIQUE (area_id, date, indicator_id)"
    )
    cur.execute(f"CREATE INDEX value_date_indicator ON {TABLE} (date, indicator_id)")


def _drop_flat(cur: Any) -> None:
    """The new table's identity goes on after the copied rows; the old table goes."""
    cur.execute(
        f"SELECT setval(pg_get_serial_sequence('{TABLE}', 'id'), "
        f"(SELECT coalesce(max(id), 0) + 1 FROM {FLAT}), false)"
    )
    cur.execute(f"DROP TABLE {FLAT}")


def partition(apps: Any, schema_editor: Any) -> None:
    connection = schema_editor.connection
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cur:
        _set_aside(cur)
        cur.execute(
            f"CREATE TABLE {TABLE} (LIKE {FLAT} INCLUDING DEFAULTS INCLUDING IDENTITY) "
            "PARTITION BY RANGE (date)"
        )
        cur.execute(f"ALTER TABLE {TABLE} ADD CONSTRAINT {TABLE}_pkey PRIMARY KEY (id, date)")
        _keys(cur)
        cur.execute(f"CREATE TABLE {TABLE}_default PARTITION OF {TABLE} DEFAULT")
        for day in _days(cur, FLAT):
            cur.execute(
                f"CREATE TABLE {TABLE}_d{day:%Y%m%d} PARTITION OF {TABLE} "
                "FOR VALUES FROM (%s) TO (%s)",
                [day, day + dt.timedelta(days=1)],
            )
        cur.execute(f"INSERT INTO {TABLE} OVERRIDING SYSTEM VALUE SELECT * FROM {FLAT}")
        _drop_flat(cur)


def flatten(apps: Any, schema_editor: Any) -> None:
    connection = schema_editor.connection
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cur:
        _set_aside(cur)
        cur.execute(f"CREATE TABLE {TABLE} (LIKE {FLAT} INCLUDING DEFAULTS INCLUDING IDENTITY)")
        cur.execute(f"INSERT INTO {TABLE} OVERRIDING SYSTEM VALUE SELECT * FROM {FLAT}")
        cur.execute(f"ALTER TABLE {TABLE} ADD CONSTRAINT {TABLE}_pkey PRIMARY KEY (id)")
        _keys(cur)
        _drop_flat(cur)


class Migration(migrations.Migration):
    # The copy is one transaction with the renames: a failure leaves the flat table.
    atomic = True

    dependencies = [
        ("reporting", "0010_archived_periods"),
    ]

    operations = [migrations.RunPython(partition, flatten, elidable=False)]
