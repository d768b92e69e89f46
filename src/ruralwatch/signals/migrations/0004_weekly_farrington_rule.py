from django.db import migrations


def load(apps, schema_editor):
    from ruralwatch.signals.defaults import WEEKLY_RULES

    DetectionRule = apps.get_model("rw_signals", "DetectionRule")
    for indicator, level, method, params, history in WEEKLY_RULES:
        DetectionRule.objects.update_or_create(
            indicator_id=indicator,
            level=level,
            method=method,
            defaults={"params": params, "history_days": history, "freq": "week", "active": True},
        )


class Migration(migrations.Migration):
    dependencies = [("rw_signals", "0003_rule_frequency")]
    operations = [migrations.RunPython(load, migrations.RunPython.noop)]
