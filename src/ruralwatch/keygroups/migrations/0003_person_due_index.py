"""A covering index for the province-wide reads of active persons.

``overdue_by_responsible``, ``coverage`` and ``write_indicators`` read, for every active person,
only the village, doctor, cadre, tier, last contact and registration date. With this partial
index PostgreSQL answers them from the index (an index-only scan of about 95 bytes a person)
instead of reading the whole, wide person rows (about 630 bytes each, with the encrypted
fields); measured in ``bench/keygroups.py``. SQLite gets the same columns as an ordinary
partial index, which it also uses as a covering index.

Plain SQL (``INCLUDE`` has no portable form here) and no model state, so the models stay as
they are; reversible.
"""

from django.db import migrations

NAME = "kg_person_active_due"
COLUMNS = "id, doctor_id, cadre_id, tier, last_contact, registered_on"


def create(apps, schema_editor):
    table = apps.get_model("keygroups", "Person")._meta.db_table
    if schema_editor.connection.vendor == "postgresql":
        sql = (
            f"CREATE INDEX IF NOT EXISTS {NAME} ON {table} (village_id) INCLUDE ({COLUMNS}) "
            f"WHERE status = 'active'"
        )
    else:
        sql = (
            f"CREATE INDEX IF NOT EXISTS {NAME} ON {table} (village_id, {COLUMNS}) "
            f"WHERE status = 'active'"
        )
    schema_editor.execute(sql)


def drop(apps, schema_editor):
    schema_editor.execute(f"DROP INDEX IF EXISTS {NAME}")


class Migration(migrations.Migration):
    dependencies = [("keygroups", "0002_defaults")]
    operations = [migrations.RunPython(create, drop)]
