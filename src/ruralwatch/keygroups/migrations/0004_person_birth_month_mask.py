"""Stop the clear columns of a person from rebuilding the resident ID number.

Before: ``id_masked`` kept the region (6) and the last four characters, and ``birth_date`` was
stored in clear; with the eight birth digits in between, every ID number was readable without
the key. After: the full date of birth is a Fernet token (``birth_date_enc``), only the month
of birth is in clear (``birth_month``, the first day of the month, for set-based ages in SQL),
and the mask keeps the region and the last two characters.

The mask layout is written here (not imported), so this migration keeps its meaning if the
display mask changes later. Encryption uses the deployment's field key, as every write does.
Existing rows are converted in batches; reversible (the full date is decrypted back).
"""

import datetime as dt

from django.db import migrations, models

#: The mask this migration writes: region (6 characters), stars, the last two characters.
HEAD = 6
TAIL = 2
BATCH = 5000


def _mask(old: str) -> str:
    # The old mask is region + 8 stars + last four; the region and last two survive.
    if len(old) < HEAD + TAIL + 4:
        return "*" * len(old)
    return old[:HEAD] + "*" * (len(old) - HEAD - TAIL) + old[-TAIL:]


def forward(apps, schema_editor):
    from ruralwatch.keygroups.crypto import fernet

    Person = apps.get_model("keygroups", "Person")
    f = fernet()
    batch = []
    for p in Person.objects.only("id", "birth_date", "id_masked").iterator(chunk_size=BATCH):
        p.birth_month = p.birth_date.replace(day=1)
        p.birth_date_enc = f.encrypt(p.birth_date.isoformat().encode()).decode()
        p.id_masked = _mask(p.id_masked)
        batch.append(p)
        if len(batch) >= BATCH:
            Person.objects.bulk_update(batch, ["birth_month", "birth_date_enc", "id_masked"])
            batch = []
    if batch:
        Person.objects.bulk_update(batch, ["birth_month", "birth_date_enc", "id_masked"])


def backward(apps, schema_editor):
    from ruralwatch.keygroups.crypto import fernet

    Person = apps.get_model("keygroups", "Person")
    f = fernet()
    batch = []
    for p in Person.objects.only("id", "birth_month", "birth_date_enc").iterator(chunk_size=BATCH):
        try:
            p.birth_date = dt.date.fromisoformat(f.decrypt(p.birth_date_enc.encode()).decode())
        except Exception:  # an unreadable token: the month is all that is left
            p.birth_date = p.birth_month
        batch.append(p)
        if len(batch) >= BATCH:
            Person.objects.bulk_update(batch, ["birth_date"])
            batch = []
    if batch:
        Person.objects.bulk_update(batch, ["birth_date"])


class Migration(migrations.Migration):
    dependencies = [("keygroups", "0003_person_due_index")]

    operations = [
        migrations.AddField(
            model_name="person",
            name="birth_month",
            field=models.DateField(
                null=True,
                help_text="The first day of the month of birth; the full date is encrypted.",
                verbose_name="month of birth",
            ),
        ),
        migrations.AddField(
            model_name="person",
            name="birth_date_enc",
            field=models.TextField(default="", verbose_name="date of birth (encrypted)"),
        ),
        migrations.AlterField(
            model_name="person",
            name="birth_date",
            field=models.DateField(null=True, verbose_name="date of birth"),
        ),
        migrations.RunPython(forward, backward),
        migrations.RemoveField(model_name="person", name="birth_date"),
        migrations.AlterField(
            model_name="person",
            name="birth_month",
            field=models.DateField(
                help_text="The first day of the month of birth; the full date is encrypted.",
                verbose_name="month of birth",
            ),
        ),
    ]
