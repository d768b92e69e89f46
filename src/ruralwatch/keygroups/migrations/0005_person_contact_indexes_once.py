"""Foreign keys led by a composite index get no index of their own (person: village, doctor,
cadre; contact: person), and the ID-number hash none besides the unique (hash, village).

Every write of a person maintained 15 indexes on PostgreSQL (the ``_like`` pattern indexes
Django adds for text keys included); retiering the demo's 64,310 scored persons took 7.8-8.6 s
with them and 5.2 s without (``python -m bench.rebuild``). The composite indexes of ``Meta`` (village/doctor/cadre, status; person,
date; id_hash, village) serve every lookup the single-column ones did.

The database side only drops the indexes (``DROP INDEX IF EXISTS``): an ``AlterField`` of a
foreign key would rebuild both tables on SQLite, and the rebuild would lose what is not in the
model state (the covering index of 0003 and the data-change triggers of the dashboard cache).
Reversible: the reverse creates the same indexes again.
"""

import django.db.models.deletion
from django.db import migrations, models

#: (table, index, column, PostgreSQL pattern-ops twin)
DROPPED = [
    ("keygroups_contact", "keygroups_contact_person_id_240bbd45", "person_id", False),
    ("keygroups_person", "keygroups_person_cadre_id_d06019c3", "cadre_id", False),
    ("keygroups_person", "keygroups_person_doctor_id_02b6c52b", "doctor_id", False),
    ("keygroups_person", "keygroups_person_id_hash_32c5c169", "id_hash", True),
    ("keygroups_person", "keygroups_person_village_id_dec16fb3", "village_id", True),
]


def drop(apps, schema_editor):
    for _table, name, _column, like in DROPPED:
        schema_editor.execute(f"DROP INDEX IF EXISTS {name}")
        if like:
            schema_editor.execute(f"DROP INDEX IF EXISTS {name}_like")


def create(apps, schema_editor):
    postgres = schema_editor.connection.vendor == "postgresql"
    for table, name, column, like in DROPPED:
        schema_editor.execute(f"CREATE INDEX IF NOT EXISTS {name} ON {table} ({column})")
        if like and postgres:
            schema_editor.execute(
                f"CREATE INDEX IF NOT EXISTS {name}_like ON {table} ({column} varchar_pattern_ops)"
            )


class Migration(migrations.Migration):
    dependencies = [
        ("areas", "0002_shapes"),
        ("keygroups", "0004_person_birth_month_mask"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[migrations.RunPython(drop, create)],
            state_operations=[
                migrations.AlterField(
                    model_name="contact",
                    name="person",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="contacts",
                        to="keygroups.person",
                    ),
                ),
                migrations.AlterField(
                    model_name="person",
                    name="cadre",
                    field=models.ForeignKey(
                        blank=True,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="paired",
                        to="keygroups.responsible",
                        verbose_name="pairing cadre",
                    ),
                ),
                migrations.AlterField(
                    model_name="person",
                    name="doctor",
                    field=models.ForeignKey(
                        blank=True,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="patients",
                        to="keygroups.responsible",
                        verbose_name="responsible doctor",
                    ),
                ),
                migrations.AlterField(
                    model_name="person",
                    name="id_hash",
                    field=models.CharField(
                        max_length=64, verbose_name="keyed hash of the ID number"
                    ),
                ),
                migrations.AlterField(
                    model_name="person",
                    name="village",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="areas.area",
                        verbose_name="village",
                    ),
                ),
            ],
        ),
    ]
