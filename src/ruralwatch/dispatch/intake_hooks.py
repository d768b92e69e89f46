"""Receivers of the intake pages' signals (:mod:`ruralwatch.intake.hooks`).

The missing-reports page (intake) lists the villages that have not reported; the phones of
their village doctors and pairing cadres live in the key-group registry and the reminders go
through this app's notification channels, both above intake's layer. These receivers answer
for them: the phones are read (and the read is written to the key-group access log), the
reminders are sent to the users bound to each village on every configured channel.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.utils.translation import gettext as _

from ruralwatch.areas.models import Area
from ruralwatch.dispatch import notify
from ruralwatch.intake.hooks import contacts_wanted, reminders_wanted
from ruralwatch.keygroups import crypto
from ruralwatch.keygroups.models import Responsible
from ruralwatch.keygroups.services import log_list_access


def village_contacts(
    sender: Any, *, user: Any, villages: list[str], purpose: str, **_kw: Any
) -> dict[str, list[tuple[str, str]]]:
    """The active doctors and cadres of ``villages``, with their phones (decrypted)."""
    out: dict[str, list[tuple[str, str]]] = {}
    n = 0
    for i in range(0, len(villages), 900):
        for area, name, phone in (
            Responsible.objects.filter(area_id__in=villages[i : i + 900], active=True)
            .order_by("area_id", "kind", "name")
            .values_list("area_id", "name", "phone_enc")
        ):
            out.setdefault(area, []).append((name, crypto.decrypt(phone) if phone else ""))
            n += 1
    if n:
        log_list_access(user, n, purpose)
    return out


def remind_villages(
    sender: Any, *, user: Any, villages: list[str], date: dt.date, **_kw: Any
) -> dict[str, int]:
    """One reminder to every active user bound to each village, on every channel."""
    names: dict[str, str] = {}
    for i in range(0, len(villages), 900):
        names.update(
            Area.objects.filter(code__in=villages[i : i + 900]).values_list("code", "name")
        )
    recipients = notify.users_of_areas(villages)
    messages = [
        notify.Message(
            uid,
            None,
            _("Reminder: the daily report of %(village)s for %(date)s has not arrived.")
            % {"village": names.get(code, code), "date": date.isoformat()},
            "",
        )
        for code in villages
        for uid in recipients.get(code, [])
    ]
    return notify.send(messages)


def connect() -> None:
    contacts_wanted.connect(village_contacts, dispatch_uid="dispatch.intake.contacts")
    reminders_wanted.connect(remind_villages, dispatch_uid="dispatch.intake.reminders")
