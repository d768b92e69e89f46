from django.db import migrations

# The data as it stood when this migration was written: a migration carries its own data, so
# a later change of the defaults in the code does not change what this migration did.
# (code, name_zh, name_en, source, owner_role, owner_level, ack_hours, done_hours,
#  escalate_every_hours, remind_before_hours, priority, outcome_required, auto_close, params)
DEFAULT_KINDS = [
    ("signal", "预警信号核实", "Verify a detection signal", "signal",
     "township", 4, 24.0, 72.0, 24.0, 2.0, 2, True, True, {}),
    ("single_case", "单病例预警调查（重症或死亡）", "Investigate a single severe case or death",
     "single_case", "county", 3, 2.0, 24.0, 2.0, 0.5, 1, True, True, {}),
    ("rebound", "节后疫情回升研判", "Judge a rebound after a festival", "rebound",
     "county", 3, 24.0, 72.0, 24.0, 2.0, 2, True, True, {"levels": [4]}),
    ("missing_report", "村级缺报催报", "Chase a missing village report", "missing_report",
     "township", 4, 12.0, 24.0, 24.0, 2.0, 3, False, True, {}),
    ("overdue_contacts", "重点人群逾期未联系", "Catch up overdue key-group contacts",
     "overdue_contacts", "village_doctor", 5, 24.0, 48.0, 24.0, 2.0, 3, False, True,
     {"threshold": 2, "share": 0.05}),
    ("open_referral", "转诊无结局跟进", "Follow up a referral without outcome", "open_referral",
     "township", 4, 24.0, 48.0, 24.0, 2.0, 2, False, True, {"days": 3}),
]


def load(apps, schema_editor):
    TaskKind = apps.get_model("dispatch", "TaskKind")
    for (code, name_zh, name_en, source, role, level, ack, done, every, remind, priority,
         outcome_required, auto_close, params) in DEFAULT_KINDS:
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


class Migration(migrations.Migration):
    dependencies = [("dispatch", "0001_initial")]
    operations = [migrations.RunPython(load, migrations.RunPython.noop)]
