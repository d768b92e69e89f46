from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("reporting", "0003_fact_tables_without_fk_constraints")]

    operations = [
        migrations.AddField(
            model_name="indicator",
            name="level",
            field=models.PositiveSmallIntegerField(
                default=5,
                help_text=(
                    "The level whose units report this indicator (5 = village). Higher levels "
                    "get it only by roll-up, so a report for them would be counted twice."
                ),
                verbose_name="level reported at",
            ),
        ),
        migrations.AddField(
            model_name="indicator",
            name="max_value",
            field=models.FloatField(
                default=100000.0,
                help_text="A reported value above this is refused as a typing error.",
                verbose_name="largest plausible value",
            ),
        ),
    ]
