"""A judgement's phase compared in byte order on PostgreSQL (``ruralwatch.core.fields``): the
(date, phase) index takes every judgement of a cycle."""

from django.db import migrations

import ruralwatch.core.fields


class Migration(migrations.Migration):
    dependencies = [
        ("assessments", "0005_evidence_text_key_without_pattern_index"),
    ]

    operations = [
        migrations.AlterField(
            model_name="judgement",
            name="phase",
            field=ruralwatch.core.fields.CodeField(max_length=20, verbose_name="phase"),
        ),
    ]
