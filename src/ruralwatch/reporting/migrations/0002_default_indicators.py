from django.db import migrations


def load(apps, schema_editor):
    from ruralwatch.reporting.defaults import DEFAULT_INDICATORS

    Indicator = apps.get_model("reporting", "Indicator")
    for order, (code, zh, en, unit_zh, unit_en, agg, is_count) in enumerate(DEFAULT_INDICATORS):
        Indicator.objects.update_or_create(
            code=code,
            defaults={
                "name_zh": zh,
                "name_en": en,
                "unit_zh": unit_zh,
                "unit_en": unit_en,
                "aggregation": agg,
                "is_count": is_count,
                "sort_order": (order + 1) * 10,
            },
        )


class Migration(migrations.Migration):
    dependencies = [("reporting", "0001_initial")]
    operations = [migrations.RunPython(load, migrations.RunPython.noop)]
