from django.db import migrations

# The data as it stood when this migration was written: a migration carries its own data, so
# a later change of the defaults in the code does not change what this migration did.
DEFAULT_GROUPS = [('age65', '65岁及以上老年人', 'aged 65 and over', '65岁以上,老年人,65+', 65, None, False),
 ('living_alone', '独居老人', 'elderly living alone', '独居,空巢老人', 60, None, False),
 ('nursing_home', '敬老院老人', 'nursing-home resident', '养老机构,敬老院,福利院', 60, None, False),
 ('left_behind_child', '留守儿童', 'left-behind child', '留守', 0, 17, True),
 ('orphan', '孤儿和事实无人抚养儿童', 'orphan or unsupported child', '孤儿,事实无人抚养儿童', 0, 17, True),
 ('disabled', '残疾人', 'disabled person', '残疾', None, None, False),
 ('pregnant', '孕产妇', 'pregnant woman', '孕妇,孕产妇', 14, 55, False),
 ('chronic', '慢性基础疾病患者', 'chronic disease', '基础疾病,慢病', None, None, False),
 ('unvaccinated', '未全程接种疫苗者', 'not fully vaccinated', '未接种,未全程接种', None, None, False)]
DEFAULT_RULES = {'age_points': [[65, 1], [80, 2]],
 'comorbidity_points': [0, 1, 2],
 'vaccination_points': [0, 1, 2],
 'yellow_from': 2,
 'red_from': 4,
 'interval_days': {'red': 1, 'yellow': 3, 'green': 7},
 'spo2_red_below': 93}
DEFAULT_RULESET_CODE = 'published_local_2022'
KG_INDICATORS = [('kg_registered', '重点人群登记人数', 'key-group persons registered', '人', 'persons', 'sum', True),
 ('kg_red', '红色标识人数', 'persons tagged red', '人', 'persons', 'sum', True),
 ('kg_due', '今日应联系人数', 'contacts due today', '人', 'persons', 'sum', True),
 ('kg_overdue', '逾期未联系人数', 'contacts overdue', '人', 'persons', 'sum', True),
 ('kg_no_doctor',
  '未落实责任医生人数',
  'persons without a responsible doctor',
  '人',
  'persons',
  'sum',
  True),
 ('kg_referrals_open', '转诊未结人数', 'open referrals', '人', 'persons', 'sum', True)]


def load(apps, schema_editor):
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
    Indicator = apps.get_model("reporting", "Indicator")
    Indicator.objects.filter(code__in=[c[0] for c in KG_INDICATORS]).delete()


class Migration(migrations.Migration):
    dependencies = [("keygroups", "0001_initial"), ("reporting", "0002_default_indicators")]
    operations = [migrations.RunPython(load, unload)]
