"""The village values partitioned by date (PostgreSQL): ``PARTITION BY RANGE (date)``, a
partition per range of dates written together and a default partition for the rest.

A new day's import inserted its values one by one into the three indexes of the whole history,
each value at its area's place among all the days kept: at national scale (5.2 million values a
day, 73 million kept) that ``COPY`` took 48 s of the import's 60, nearly all of it the indexes'
upkeep (docs/national-scale.md, session 25). Into a partition of its own the day's values are
appended to small indexes in their key's order. ``reporting.partitions`` makes a writer's
partitions before it writes (``ensure``); rows written for a date no partition covers go to
the default partition and move into the date's partition when it is made.

The model does not change (Django addresses rows by their key, which holds the date): the
parent keeps the table's name, its key ``value_unique_key`` and its indexes' names, each
partition gets its own copies. A table that holds values becomes the partition of the dates it
holds (its indexes become the partition's; a check of its dates reads the table once: a minute
for a national history); an empty one is replaced. SQLite keeps its plain table. Reversible:
the values are copied back into one plain table.
"""

from django.db import migrations

TABLE = "reporting_reportvalue"
DEFAULT = f"{TABLE}_default"
KEY = "value_unique_key"
#: The parent's indexes besides the key (migrations 0009 and 0013), as (name, definition).
INDEXES = (
    ("value_date_indicator", "(date, indicator_id)"),
    ("value_judged_series", "(area_id, date) INCLUDE (value) WHERE indicator_id = 'new_cases'"),
)
TRIGGER = "rw_data_changed"  # dashboard.datacache's; installed again after every migrate


def _keys(schema_editor, table: str) -> None:
    ex = schema_editor.execute
    ex(f"ALTER TABLE {table} ADD CONSTRAINT {KEY} PRIMARY KEY (area_id, date, indicator_id) "
       "INCLUDE (value)")
    for name, definition in INDEXES:
        ex(f"CREATE INDEX {name} ON {table} {definition}")


def _step_aside(schema_editor, old: str) -> None:
    """Rename the values' table to ``old``, its key and indexes after it, and drop its
    data-change trigger."""
    ex = schema_editor.execute
    ex(f"ALTER TABLE {TABLE} RENAME TO {old}")
    ex(f"ALTER TABLE {old} RENAME CONSTRAINT {KEY} TO {old}_pkey")
    for name, _definition in INDEXES:
        ex(f"ALTER INDEX {name} RENAME TO {old}_{name.removeprefix('value_')}")
    ex(f"DROP TRIGGER IF EXISTS {TRIGGER} ON {old}")


def _remake(schema_editor, old: str, partitioning: str) -> None:
    """Step the values' table aside as ``old`` and make a new one of its columns, with its key
    and indexes (``partitioning``: the clause, or nothing)."""
    _step_aside(schema_editor, old)
    schema_editor.execute(
        f"CREATE TABLE {TABLE} (LIKE {old} INCLUDING DEFAULTS INCLUDING STORAGE){partitioning}"
    )
    _keys(schema_editor, TABLE)


def partition(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    ex = schema_editor.execute
    with schema_editor.connection.cursor() as cur:
        cur.execute(f"SELECT min(date), max(date) + 1 FROM {TABLE}")
        first, end = cur.fetchone()
    # The stored values become the partition of their dates (named by them, as
    # ``reporting.partitions`` names the partitions it makes).
    flat = f"{TABLE}_{first:%Y%m%d}_{end:%Y%m%d}" if first else f"{TABLE}_flat"
    _remake(schema_editor, flat, " PARTITION BY RANGE (date)")
    ex(f"CREATE TABLE {DEFAULT} PARTITION OF {TABLE} DEFAULT")
    if first is None:
        ex(f"DROP TABLE {flat}")
        return
    # Its indexes become the partition's (an index equal to the parent's is attached, not
    # built again). The check spares ATTACH its own read of the table.
    check = f"CHECK (date >= '{first}' AND date < '{end}')"
    ex(f"ALTER TABLE {flat} ADD CONSTRAINT {flat}_dates {check}")
    ex(f"ALTER TABLE {TABLE} ATTACH PARTITION {flat} FOR VALUES FROM ('{first}') TO ('{end}')")
    ex(f"ALTER TABLE {flat} DROP CONSTRAINT {flat}_dates")


def flatten(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    ex = schema_editor.execute
    parted = f"{TABLE}_parted"
    _remake(schema_editor, parted, "")
    ex(f"INSERT INTO {TABLE} SELECT * FROM {parted}")
    ex(f"DROP TABLE {parted}")  # and its partitions


class Migration(migrations.Migration):
    atomic = True
    dependencies = [("reporting", "0015_submissions_by_date_and_area")]
    operations = [migrations.RunPython(partition, flatten)]
