"""The judged indicator's village series get an index of their own (PostgreSQL):
``(area, date) INCLUDE (value) WHERE indicator = 'new_cases'``.

The assessment reads every village's ``new_cases`` over the 90 days it judges on, a province at
a time. The values' key is (area, date, indicator), so that read walked the entries of all eight
indicators of every day kept to find one: with 14 days of history it was a fifth of the
assessment, and a deployment's 90 days doubled the assessment's cost (河南, 50,757 villages:
the daily cycle's CPU 13.2 s with 14 days, 19.8 s with 90). Through this index, a tenth of the
key's size (212 against 2,121 MB on 河南's 90 days), the same day on copies of the same
database, two runs each: the cycle 15.7-15.9 -> 13.0-13.1 s, its CPU (process and backend)
15.6-16.5 -> 13.8 s; the import pays for the entry each village's day adds, its backend CPU
2.45-2.48 -> 2.78-2.98 s (docs/national-scale.md).

The indicator is the one the daily cycle judges (``ruralwatch.cycle.distributed.INDICATOR``,
the assessment's default); a read of another indicator keeps using the key. Plain SQL and no
model state, as migration 0011 (SQLite keeps its plain key); reversible. Building it reads the
whole table once: minutes for a national history.
"""

from django.db import migrations

NAME = "value_judged_series"


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(
        f"CREATE INDEX IF NOT EXISTS {NAME} ON reporting_reportvalue (area_id, date) "
        "INCLUDE (value) WHERE indicator_id = 'new_cases'"
    )


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(f"DROP INDEX IF EXISTS {NAME}")


class Migration(migrations.Migration):
    dependencies = [("reporting", "0012_facts_keyed_by_what_they_are")]
    operations = [migrations.RunPython(create, drop)]
