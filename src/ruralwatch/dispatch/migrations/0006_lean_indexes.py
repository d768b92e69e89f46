"""Tasks and task events keep only the indexes a read or a cascade needs.

The cycle's tasks step COPYs every new task and its "created" event. Dropped, because another
index serves every query that could use them:

- ``dispatch_task``: the single-column indexes on ``kind_id`` (``task_kind_area_status`` leads
  with it; it also serves the kind's PROTECT), ``owner_area_id`` (``task_owner_status`` leads
  with it) and ``area_id`` (every read by area also names the kind; ``DO_NOTHING`` without a
  database constraint, so no cascade reads it), and the ``varchar_pattern_ops`` (``_like``)
  copies of those three and of ``source_key``, which serve only ``LIKE 'prefix%'`` on their
  column, and no query does that (the admin's search is ``icontains``). ``source_key`` stays
  unique, as the constraint ``task_source_key`` (a field's ``unique=True`` brings the copy).
- ``dispatch_taskevent``: ``task_id`` (``taskevent_task_at`` leads with it; also the tasks'
  cascade), ``from_area_id`` and ``to_area_id`` with their copies (nothing reads events by
  them; no constraint, no cascade); ``actor_id`` becomes a partial index of the events that
  have an actor (the cycle's system events have none): a user's deletion (SET_NULL, and the
  foreign key's check, whose generic plan uses it) still finds them by index.

16 -> 9 indexes on the tasks, 8 -> 3 on the events. Four provinces (24,276 tasks and as many
events): a COPY of the same rows into copies of the tables, alternated 9 times, 0.93 -> 0.61 s
of backend CPU for the tasks, 0.17 -> 0.07 s for the events (medians, load 3-6); the cycle's
tasks step 1.69 s (1.62-1.87, 7 runs) -> 1.35 s (1.30-1.44, 5 runs) of backend CPU, load 5-11
(``bench.national:cycle_child`` on copies of the four-province set-up with the new day
imported), with the same stored rows. The pages' plans still use an index for every read of
tasks and events: the inbox's own unit ``task_owner_status`` (it used the ``owner_area_id``
copy), lists by kind ``task_kind_area_status``, the briefing's keys ``task_source_key``.

On PostgreSQL, Django drops and re-adds the foreign keys whose index goes (``kind_id``,
``task_id``, ``actor_id``), which checks the existing rows once.
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("areas", "0002_shapes"),
        ("dispatch", "0005_new_sources"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        # the source key's uniqueness as a constraint (no varchar_pattern_ops copy), added
        # before the field's own unique key and its copy go
        migrations.AddConstraint(
            model_name="task",
            constraint=models.UniqueConstraint(fields=("source_key",), name="task_source_key"),
        ),
        migrations.AlterField(
            model_name="task",
            name="source_key",
            field=models.CharField(max_length=120, verbose_name="source key"),
        ),
        migrations.AlterField(
            model_name="task",
            name="area",
            field=models.ForeignKey(
                db_constraint=False,
                db_index=False,
                on_delete=django.db.models.deletion.DO_NOTHING,
                to="areas.area",
                verbose_name="area",
            ),
        ),
        migrations.AlterField(
            model_name="task",
            name="kind",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.PROTECT,
                to="dispatch.taskkind",
                verbose_name="kind",
            ),
        ),
        migrations.AlterField(
            model_name="task",
            name="owner_area",
            field=models.ForeignKey(
                db_constraint=False,
                db_index=False,
                on_delete=django.db.models.deletion.DO_NOTHING,
                related_name="+",
                to="areas.area",
                verbose_name="owner area",
            ),
        ),
        # only the events that have an actor (a user's deletion sets theirs to NULL)
        migrations.AddIndex(
            model_name="taskevent",
            index=models.Index(
                condition=models.Q(("actor__isnull", False)),
                fields=["actor"],
                name="taskevent_actor",
            ),
        ),
        migrations.AlterField(
            model_name="taskevent",
            name="actor",
            field=models.ForeignKey(
                blank=True,
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="+",
                to=settings.AUTH_USER_MODEL,
                verbose_name="by",
            ),
        ),
        migrations.AlterField(
            model_name="taskevent",
            name="from_area",
            field=models.ForeignKey(
                blank=True,
                db_constraint=False,
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.DO_NOTHING,
                related_name="+",
                to="areas.area",
            ),
        ),
        migrations.AlterField(
            model_name="taskevent",
            name="task",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="events",
                to="dispatch.task",
            ),
        ),
        migrations.AlterField(
            model_name="taskevent",
            name="to_area",
            field=models.ForeignKey(
                blank=True,
                db_constraint=False,
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.DO_NOTHING,
                related_name="+",
                to="areas.area",
            ),
        ),
    ]
