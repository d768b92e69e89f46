"""Signals and detection rules keep only the indexes a read or a cascade needs.

The detection step COPYs each province's signals. Dropped, because another index serves every
query that could use them:

- ``rw_signals_signal``: ``rule_id`` (``signal_unique`` (rule, area, date) leads with it, and
  serves the rule's cascade and the step's replacement of a rule's window), ``indicator_id``
  (nothing reads signals by indicator; an indicator is deleted only when a migration is
  unapplied, whose cascade then reads the signals once without an index) and the
  ``varchar_pattern_ops`` (``_like``) copies of ``area_id`` and ``indicator_id`` (no query
  matches them by prefix: a subtree's signals are read by a code range, ``BETWEEN``, which the
  plain index serves). The plain ``area_id`` index stays, as ``signal_area``.
- ``rw_signals_detectionrule``: ``indicator_id`` and its copy (``rule_unique`` leads with it).

8 -> 4 indexes on the signals. Four provinces (19,274 signals): a COPY of the same rows into
copies of the table, alternated 9 times, 0.27 -> 0.18 s of backend CPU (medians, load 3-6);
in the cycle's detect step that is below the noise of its workers' backends (1.72 s, 1.64-1.83,
7 runs, and 1.77 s, 1.60-1.80, 5 runs, load 5-11). The pages' reads of signals use the same
indexes as before (``signal_area`` under the old one's name, ``signal_date_method`` for the
whole tree, ``signal_unique`` for a task's chart).
"""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("areas", "0002_shapes"),
        ("reporting", "0011_value_key_covers_value"),
        ("rw_signals", "0005_rule_last_run"),
    ]

    operations = [
        # the area's plain index under a name of its own, without the varchar_pattern_ops copy
        migrations.AddIndex(
            model_name="signal",
            index=models.Index(fields=["area"], name="signal_area"),
        ),
        migrations.AlterField(
            model_name="signal",
            name="area",
            field=models.ForeignKey(
                db_constraint=False,
                db_index=False,
                on_delete=django.db.models.deletion.CASCADE,
                to="areas.area",
            ),
        ),
        migrations.AlterField(
            model_name="signal",
            name="indicator",
            field=models.ForeignKey(
                db_constraint=False,
                db_index=False,
                on_delete=django.db.models.deletion.CASCADE,
                to="reporting.indicator",
            ),
        ),
        migrations.AlterField(
            model_name="signal",
            name="rule",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.CASCADE,
                to="rw_signals.detectionrule",
            ),
        ),
        migrations.AlterField(
            model_name="detectionrule",
            name="indicator",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.CASCADE,
                to="reporting.indicator",
            ),
        ),
    ]
