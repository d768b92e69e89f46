from django.db import migrations

# The data as it stood when this migration was written: a migration carries its own data, so
# a later change of the defaults in the code does not change what this migration did.
DEFAULT_RULES = [('deaths', 5, 'cidars-single-case', {'min_cases': 1}, 0),
 ('new_cases', 4, 'ears-c1', {}, 28),
 ('new_cases', 4, 'ears-c2', {}, 28),
 ('new_cases', 4, 'ears-c3', {}, 28),
 ('new_cases', 3, 'ears-c2', {}, 28),
 ('fever_visits', 3, 'ears-c2', {}, 28),
 ('new_cases', 3, 'cidars-mpm', {'percentile': 80, 'years': 3, 'k': 2}, 1119)]


def load(apps, schema_editor):
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
