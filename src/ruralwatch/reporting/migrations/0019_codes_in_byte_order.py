"""Indicator codes, and every foreign key to an indicator, compared in byte order on
PostgreSQL (``ruralwatch.core.fields``)."""

from django.db import migrations

import ruralwatch.core.fields


class Migration(migrations.Migration):
    dependencies = [
        ("reporting", "0018_submissions_by_arrival"),
    ]

    operations = [
        migrations.AlterField(
            model_name="indicator",
            name="code",
            field=ruralwatch.core.fields.CodeField(
                max_length=40, primary_key=True, serialize=False, verbose_name="code"
            ),
        ),
    ]
