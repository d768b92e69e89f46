from django.db import migrations


def load(apps, schema_editor):
    from ruralwatch.signals.defaults import DEFAULT_RULES

    DetectionRule = apps.get_model("rw_signals", "DetectionRule")
    for indicator, level, method, params, history in DEFAULT_RULES:
        DetectionRule.objects.update_or_create(
            indicator_id=indicator,
            level=level,
            method=method,
            defaults={"params": params, "history_days": history, "active": True},
        )


class Migration(migrations.Migration):
    dependencies = [("rw_signals", "0001_initial"), ("reporting", "0002_default_indicators")]
    operations = [migrations.RunPython(load, migrations.RunPython.noop)]
