"""Area codes, paths and ancestors' codes compared in byte order on PostgreSQL (``COLLATE "C"``,
``ruralwatch.core.fields``), and with them every foreign key to an area: on a database holding
history the indexes over those columns are rebuilt, once. Unapplied, the areas' own columns
go back to the database's collation and the foreign keys keep byte order, which compares with
it without conflict."""

from django.db import migrations

import ruralwatch.core.fields


class Migration(migrations.Migration):
    dependencies = [
        ("areas", "0002_shapes"),
    ]

    operations = [
        migrations.AlterField(
            model_name="area",
            name="code",
            field=ruralwatch.core.fields.CodeField(
                max_length=12, primary_key=True, serialize=False, verbose_name="code"
            ),
        ),
        migrations.AlterField(
            model_name="area",
            name="path",
            field=ruralwatch.core.fields.CodeField(
                db_index=True, max_length=80, verbose_name="materialized path"
            ),
        ),
    ] + [
        migrations.AlterField(
            model_name="area",
            name=f"l{level}",
            field=ruralwatch.core.fields.CodeField(blank=True, default="", max_length=12),
        )
        for level in range(1, 6)
    ]
