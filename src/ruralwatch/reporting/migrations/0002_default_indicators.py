from django.db import migrations

# The data as it stood when this migration was written: a migration carries its own data, so
# a later change of the defaults in the code does not change what this migration did.
DEFAULT_INDICATORS = [('fever_visits', '发热门诊（诊室）就诊人次', 'Fever clinic visits', '人次', 'visits', 'sum', True),
 ('antigen_pos', '抗原检测阳性数', 'Antigen test positives', '人', 'persons', 'sum', True),
 ('pcr_pos', '核酸检测阳性数', 'PCR test positives', '人', 'persons', 'sum', True),
 ('new_cases', '新增病例数', 'New cases', '人', 'persons', 'sum', True),
 ('severe_cases', '重症病例数', 'Severe cases', '人', 'persons', 'sum', True),
 ('deaths', '死亡数', 'Deaths', '人', 'persons', 'sum', True),
 ('referrals_up', '向上转诊数', 'Referrals up', '人', 'persons', 'sum', True),
 ('kg_contacts', '重点人群健康监测联系人次', 'Key-group contacts made', '人次', 'contacts', 'sum', True)]


def load(apps, schema_editor):
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
