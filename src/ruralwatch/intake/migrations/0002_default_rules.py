from django.db import migrations

# The data as it stood when this migration was written (a migration carries its own data).
# (code, name_zh, name_en, left, operator, right, left_missing, right_missing, severity)
DEFAULT_RULES = [
    (
        "cases_le_positives",
        "新增病例数不超过抗原与核酸阳性数之和",
        "New cases do not exceed antigen plus PCR positives",
        "new_cases",
        "less_than_or_equal_to",
        "antigen_pos + pcr_pos",
        "SKIP_IF_ALL_VALUES_MISSING",
        "SKIP_IF_ALL_VALUES_MISSING",
        "warn",
    ),
    (
        "deaths_le_population_share",
        "单日死亡数不超过村人口的千分之五",
        "Deaths in a day do not exceed 0.5% of the village population",
        "deaths",
        "less_than_or_equal_to",
        "population * 0.005",
        "SKIP_IF_ALL_VALUES_MISSING",
        "SKIP_IF_ANY_VALUE_MISSING",
        "warn",
    ),
]
DEFAULT_DATA_SET = ("village_daily", "村级日报", "Village daily report")
DATA_SET_INDICATORS = [
    "fever_visits",
    "antigen_pos",
    "pcr_pos",
    "new_cases",
    "severe_cases",
    "deaths",
    "referrals_up",
    "kg_contacts",
]


def load(apps, schema_editor):
    Rule = apps.get_model("intake", "ValidationRule")
    for code, zh, en, left, op, right, lm, rm, severity in DEFAULT_RULES:
        Rule.objects.update_or_create(
            code=code,
            defaults={
                "name_zh": zh,
                "name_en": en,
                "left": left,
                "operator": op,
                "right": right,
                "left_missing": lm,
                "right_missing": rm,
                "severity": severity,
            },
        )
    DataSet = apps.get_model("intake", "DataSet")
    Indicator = apps.get_model("reporting", "Indicator")
    code, zh, en = DEFAULT_DATA_SET
    ds, _ = DataSet.objects.update_or_create(code=code, defaults={"name_zh": zh, "name_en": en})
    ds.indicators.set(Indicator.objects.filter(code__in=DATA_SET_INDICATORS))


class Migration(migrations.Migration):
    dependencies = [("intake", "0001_initial"), ("reporting", "0007_default_form_indicators")]
    operations = [migrations.RunPython(load, migrations.RunPython.noop)]
