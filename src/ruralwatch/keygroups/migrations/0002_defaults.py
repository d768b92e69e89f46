from django.db import migrations


def load(apps, schema_editor):
    from ruralwatch.keygroups.rules import (
        DEFAULT_GROUPS,
        DEFAULT_RULES,
        DEFAULT_RULESET_CODE,
        KG_INDICATORS,
    )

    KeyGroup = apps.get_model("keygroups", "KeyGroup")
    for order, (code, zh, en, aliases, min_age, max_age, guardian) in enumerate(DEFAULT_GROUPS):
        KeyGroup.objects.update_or_create(
            code=code,
            defaults={
                "name_zh": zh,
                "name_en": en,
                "aliases": aliases,
                "min_age": min_age,
                "max_age": max_age,
                "needs_guardian": guardian,
                "sort_order": (order + 1) * 10,
            },
        )
    TierRuleSet = apps.get_model("keygroups", "TierRuleSet")
    if not TierRuleSet.objects.filter(active=True).exists():
        TierRuleSet.objects.update_or_create(
            code=DEFAULT_RULESET_CODE,
            defaults={
                "name": "地方公布评分规则 / published local scoring rule (2022)",
                "active": True,
                "params": DEFAULT_RULES,
            },
        )
    Indicator = apps.get_model("reporting", "Indicator")
    for order, (code, zh, en, unit_zh, unit_en, agg, is_count) in enumerate(KG_INDICATORS):
        Indicator.objects.update_or_create(
            code=code,
            defaults={
                "name_zh": zh,
                "name_en": en,
                "unit_zh": unit_zh,
                "unit_en": unit_en,
                "aggregation": agg,
                "is_count": is_count,
                "sort_order": 500 + order * 10,
            },
        )


def unload(apps, schema_editor):
    from ruralwatch.keygroups.rules import KG_INDICATORS

    Indicator = apps.get_model("reporting", "Indicator")
    Indicator.objects.filter(code__in=[c[0] for c in KG_INDICATORS]).delete()


class Migration(migrations.Migration):
    dependencies = [("keygroups", "0001_initial"), ("reporting", "0002_default_indicators")]
    operations = [migrations.RunPython(load, unload)]
