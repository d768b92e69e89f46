from django.db import migrations

# The data as it stood when this migration was written: a migration carries its own data, so
# a later change of the defaults in the code does not change what this migration did.
WEEKLY_RULES = [('new_cases',
  3,
  'farrington-flexible',
  {'b': 5,
   'w': 3,
   'reweight': True,
   'weights_threshold': 2.58,
   'power_trans': 'none',
   'threshold_method': 'nbPlugin',
   'no_periods': 10,
   'past_weeks_not_included': 26},
  1865)]


def load(apps, schema_editor):
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
