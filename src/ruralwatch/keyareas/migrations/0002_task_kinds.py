from django.db import migrations

# The task kinds of the key areas, as they stood when this migration was written (a migration
# carries its own data). (code, name_zh, name_en, source, owner_role, owner_level, ack_hours,
# done_hours, escalate_every_hours, remind_before_hours, priority, outcome_required,
# auto_close, params)
#
# support_request: owned by the key area's paired support unit (whatever its level: the
#   request names it); the request's own deadline replaces done_hours, and ack_hours counts
#   from the filing.
# key_area_rise: a first case or a rise in a key area, verified by the county CDC.
KINDS = [
    ("support_request", "重点地区支援请求", "Answer a key area's support request",
     "support_request", "village_doctor", 5, 2.0, 24.0, 12.0, 1.0, 1, False, True, {}),
    ("key_area_rise", "重点地区首例或上升核实", "Verify a first case or rise in a key area",
     "key_area_rise", "county", 3, 12.0, 48.0, 24.0, 2.0, 2, True, True, {"levels": [4, 5]}),
]


def load(apps, schema_editor):
    TaskKind = apps.get_model("dispatch", "TaskKind")
    for (code, name_zh, name_en, source, role, level, ack, done, every, remind, priority,
         outcome_required, auto_close, params) in KINDS:
        TaskKind.objects.update_or_create(
            code=code,
            defaults={
                "name_zh": name_zh,
                "name_en": name_en,
                "source": source,
                "owner_role": role,
                "owner_level": level,
                "ack_hours": ack,
                "done_hours": done,
                "escalate_every_hours": every,
                "remind_before_hours": remind,
                "priority": priority,
                "outcome_required": outcome_required,
                "auto_close": auto_close,
                "params": params,
                "active": True,
            },
        )


def unload(apps, schema_editor):
    apps.get_model("dispatch", "TaskKind").objects.filter(
        code__in=[k[0] for k in KINDS], task__isnull=True
    ).delete()


class Migration(migrations.Migration):
    dependencies = [("keyareas", "0001_initial"), ("dispatch", "0005_new_sources")]
    operations = [migrations.RunPython(load, unload)]
