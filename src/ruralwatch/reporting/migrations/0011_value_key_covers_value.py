"""The village values' unique key carries the value (PostgreSQL): ``(area, date, indicator)
INCLUDE (value)``.

Every read of village values at scale asks for a range of that key and the value alone: the
nightly validation (a province's screened week and the week before), the assessment's and
detection's village series. The rows themselves are wide (reporter,
submission time, batch: about 180 bytes each), so those reads went to the table for every
value; with the value in the key's index they are index-only scans of about 50 bytes an
entry, in the key's order, which also lets a read grouped by area and date aggregate without
hashing (河南's 14 days, 5.6 million values: the validate step's backend CPU 5.7-6.3 ->
3.7-3.9 s with parallel plans off, load 6-8, the same flags; docs/national-scale.md). The constraint keeps its name and its key columns,
so ``ON CONFLICT (area_id, date, indicator_id)`` and every other use are unchanged.

Plain SQL and no model state (Django would not create a unique constraint with ``INCLUDE`` on
SQLite at all; SQLite keeps its plain key); reversible. Rebuilding the index reads the whole
table once: minutes for a national history.
"""

from django.db import migrations

NAME = "value_unique_key"
KEY = "area_id, date, indicator_id"


def _replace(schema_editor, include: str) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(
        f"ALTER TABLE reporting_reportvalue DROP CONSTRAINT {NAME}, "
        f"ADD CONSTRAINT {NAME} UNIQUE ({KEY}){include}"
    )


def covering(apps, schema_editor):
    _replace(schema_editor, " INCLUDE (value)")


def plain(apps, schema_editor):
    _replace(schema_editor, "")


class Migration(migrations.Migration):
    dependencies = [("reporting", "0010_archived_periods")]
    operations = [migrations.RunPython(covering, plain)]
