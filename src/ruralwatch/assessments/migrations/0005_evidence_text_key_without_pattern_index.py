"""The evidence texts' key without the second, ``LIKE`` index PostgreSQL got beside its primary key.

Django gives a ``varchar`` primary key on PostgreSQL an extra index in ``varchar_pattern_ops``
for ``LIKE 'prefix%'`` lookups. The keys are hashes, looked up only by equality (the primary
key's index), and the national cycle writes about 244,000 new texts a day, so that index was a
quarter of their ``INSERT`` (docs/national-scale.md, session 27). SQLite has no such index;
reversible.
"""

from django.db import migrations


def _pattern_indexes(schema_editor, table):
    with schema_editor.connection.cursor() as cur:
        cur.execute(
            "SELECT indexname FROM pg_indexes WHERE tablename = %s "
            "AND indexdef LIKE '%%varchar_pattern_ops%%'",
            [table],
        )
        return [name for (name,) in cur.fetchall()]


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    table = apps.get_model("assessments", "EvidenceText")._meta.db_table
    for name in _pattern_indexes(schema_editor, table):
        schema_editor.execute(f'DROP INDEX IF EXISTS "{name}"')


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    table = apps.get_model("assessments", "EvidenceText")._meta.db_table
    if not _pattern_indexes(schema_editor, table):
        schema_editor.execute(
            f'CREATE INDEX "{table}_key_like" ON "{table}" ("key" varchar_pattern_ops)'
        )


class Migration(migrations.Migration):
    dependencies = [("assessments", "0004_sentence_field")]
    operations = [migrations.RunPython(drop, create)]
