from django.db import migrations

# The data as it stood when this migration was written: the indicators on every village's
# daily form (村级日报). Deployments change the assignments as data.
FORM_INDICATORS = [
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
    Indicator = apps.get_model("reporting", "Indicator")
    Assignment = apps.get_model("reporting", "IndicatorAssignment")
    present = set(Indicator.objects.filter(code__in=FORM_INDICATORS).values_list("code", flat=True))
    for code in FORM_INDICATORS:
        if code in present:
            Assignment.objects.get_or_create(indicator_id=code, area=None)


def unload(apps, schema_editor):
    Assignment = apps.get_model("reporting", "IndicatorAssignment")
    Assignment.objects.filter(indicator_id__in=FORM_INDICATORS, area=None).delete()


class Migration(migrations.Migration):
    dependencies = [("reporting", "0006_daily_form_signoff")]
    operations = [migrations.RunPython(load, unload)]
