"""What the intake pages need from apps above them, asked through signals.

``intake`` sits beside ``keygroups`` and below ``dispatch`` (import-linter layers), so it may
not import them. The missing-reports page asks for the reporters' phones and for reminders by
sending these signals; ``dispatch`` (which may read ``keygroups`` and owns the notification
channels) connects the receivers. Without a receiver the page says that no channel is
connected and shows no phones.
"""

from __future__ import annotations

from typing import Any

from django.dispatch import Signal

#: ``send(sender, user=…, villages=[codes], purpose=…)``; a receiver returns
#: ``{village code: [(name, phone), …]}`` and logs the read of the phones.
contacts_wanted = Signal()

#: ``send(sender, user=…, villages=[codes], date=…)``; a receiver delivers the reminders and
#: returns deliveries per channel, ``{channel: n}``.
reminders_wanted = Signal()


def village_contacts(
    user: Any, villages: list[str], purpose: str
) -> dict[str, list[tuple[str, str]]]:
    out: dict[str, list[tuple[str, str]]] = {}
    for _receiver, answer in contacts_wanted.send(
        sender=None, user=user, villages=villages, purpose=purpose
    ):
        if not isinstance(answer, dict):
            continue
        for code, people in answer.items():
            out.setdefault(code, []).extend(people)
    return out


def send_reminders(user: Any, villages: list[str], date: Any) -> dict[str, int] | None:
    """Deliveries per channel, or ``None`` when no receiver is connected."""
    answers = reminders_wanted.send(sender=None, user=user, villages=villages, date=date)
    if not answers:
        return None
    sent: dict[str, int] = {}
    for _receiver, answer in answers:
        if not isinstance(answer, dict):
            continue
        for channel, n in answer.items():
            sent[channel] = sent.get(channel, 0) + int(n)
    return sent
