"""The roll-ups' unique key carries their value and level (PostgreSQL): ``(area, date,
indicator) INCLUDE (value, level)``.

Detection reads a level's roll-ups of a province for its rules' baselines (the townships' 36
days for EARS, the counties' years): one descent of this key per area, then a row of the
table for each (area, day), each on a page of its own, since the roll-ups lie in the table
day after day. On the nation with 60 days of history the townships' read was 5.3 s of the
database's time a cycle, 277,000 pages read from outside its buffers; with the value and the
level in the key's index it is an index-only scan (河南's townships, 36 days: 191 → 105-113 ms,
104,000 → 29,000 buffers; docs/national-scale.md, session 31). The constraint keeps its name
and key columns, so ``ON CONFLICT (area_id, date, indicator_id)`` is unchanged.

Plain SQL and no model state, as reporting migration 0011 for the values' key (SQLite keeps
its plain key); reversible. Rebuilding the index reads the whole table once (24 s for the
nation's 60 days of roll-ups, 22 million rows).
"""

from django.db import migrations

NAME = "aggregate_unique"
KEY = "area_id, date, indicator_id"


def _replace(schema_editor, include: str) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(
        f"ALTER TABLE reporting_aggregatevalue DROP CONSTRAINT {NAME}, "
        f"ADD CONSTRAINT {NAME} UNIQUE ({KEY}){include}"
    )


def covering(apps, schema_editor):
    _replace(schema_editor, " INCLUDE (value, level)")


def plain(apps, schema_editor):
    _replace(schema_editor, "")


class Migration(migrations.Migration):
    dependencies = [("reporting", "0016_values_partitioned_by_date")]
    operations = [migrations.RunPython(covering, plain)]
