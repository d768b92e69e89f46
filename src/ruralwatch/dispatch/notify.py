"""Notification channels: in-app, email (Django's email backend) and SMS (an interface).

Which channels run is a setting, ``RURALWATCH_NOTIFY_CHANNELS`` (default ``["inapp"]``): names
of the channels below or dotted paths of classes with the same ``send`` method. The SMS channel
hands its messages to ``RURALWATCH_SMS_BACKEND`` (default: the logging backend, which only
writes them to the log), so a deployment plugs in its gateway without touching the loop.

Email and SMS get one digest per user per batch (a cycle can make many tasks at once); in-app
gets one notification per task.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core import mail
from django.utils import timezone
from django.utils.module_loading import import_string
from django.utils.translation import gettext as _

from ruralwatch.accounts.models import Profile
from ruralwatch.core import bulk
from ruralwatch.dispatch.models import Notification

logger = logging.getLogger("ruralwatch.dispatch.sms")
failures = logging.getLogger("ruralwatch.dispatch.notify")

DEFAULT_CHANNELS = ("inapp",)
DEFAULT_SMS_BACKEND = "ruralwatch.dispatch.notify.LoggingSmsBackend"


@dataclass(frozen=True)
class Message:
    user_id: int
    task_id: int | None
    text: str
    why: str = ""


class Channel(Protocol):
    name: str

    def send(self, messages: Sequence[Message]) -> int:
        """Deliver ``messages``; return how many deliveries were made."""
        ...


def _by_user(messages: Sequence[Message]) -> dict[int, list[str]]:
    grouped: dict[int, list[str]] = defaultdict(list)
    for m in messages:
        grouped[m.user_id].append(m.text)
    return grouped


class InAppChannel:
    """A :class:`~ruralwatch.dispatch.models.Notification` row per message (badge and inbox)."""

    name = "inapp"

    def send(self, messages: Sequence[Message]) -> int:
        """The rows go in as values (``bulk.insert_rows``: COPY on PostgreSQL), stamped with
        one time: a ``Notification`` instance per message, prepared field by field, was most
        of the daily sync's notices (2,533 for a tenth of four provinces' townships)."""
        from django.db import connection

        now = connection.ops.adapt_datetimefield_value(timezone.now())
        columns = ("user_id", "task_id", "text", "why", "read", "created_at")
        rows = [(m.user_id, m.task_id, m.text[:300], m.why, False, now) for m in messages]
        bulk.insert_rows(Notification._meta.db_table, columns, rows)
        return len(messages)


class EmailChannel:
    """One email per user with all of the batch's messages, through Django's email backend
    (``EMAIL_BACKEND``); users without an address are skipped."""

    name = "email"

    def send(self, messages: Sequence[Message]) -> int:
        grouped = _by_user(messages)
        emails = dict(
            get_user_model()
            .objects.filter(pk__in=list(grouped), is_active=True)
            .exclude(email="")
            .values_list("pk", "email")
        )
        sender = getattr(settings, "DEFAULT_FROM_EMAIL", None)
        out = []
        for user_id, texts in grouped.items():
            if user_id not in emails:
                continue
            subject = _("RuralWatch: %(n)d task notice(s)") % {"n": len(texts)}
            out.append(mail.EmailMessage(subject, "\n".join(texts), sender, [emails[user_id]]))
        if not out:
            return 0
        with mail.get_connection() as connection:
            return int(connection.send_messages(out) or 0)


class SmsBackend(Protocol):
    """Delivers one short text to one user (the backend knows how to reach them)."""

    def send(self, user: Any, text: str) -> None: ...


class LoggingSmsBackend:
    """Writes each SMS to the ``ruralwatch.dispatch.sms`` log instead of sending it."""

    def send(self, user: Any, text: str) -> None:
        logger.info("SMS to %s: %s", user.get_username(), text)


class SmsChannel:
    """One SMS per user per batch: the first message, and how many more there are."""

    name = "sms"

    def __init__(self, backend: SmsBackend | None = None) -> None:
        if backend is None:
            path = getattr(settings, "RURALWATCH_SMS_BACKEND", DEFAULT_SMS_BACKEND)
            backend = import_string(path)()
        self.backend: SmsBackend = backend

    def send(self, messages: Sequence[Message]) -> int:
        grouped = _by_user(messages)
        users = get_user_model().objects.filter(pk__in=list(grouped), is_active=True)
        n = 0
        for user in users:
            texts = grouped[user.pk]
            text = texts[0]
            if len(texts) > 1:
                text += " " + _("(and %(n)d more)") % {"n": len(texts) - 1}
            self.backend.send(user, text)
            n += 1
        return n


CHANNELS: dict[str, type[Any]] = {
    "inapp": InAppChannel,
    "email": EmailChannel,
    "sms": SmsChannel,
}


def channels() -> list[Channel]:
    """The configured channels, in order."""
    names = getattr(settings, "RURALWATCH_NOTIFY_CHANNELS", DEFAULT_CHANNELS)
    out: list[Channel] = []
    for name in names:
        cls = CHANNELS.get(name)
        if cls is None:
            try:
                cls = import_string(name)
            except ImportError as exc:
                raise ValueError(
                    f"RURALWATCH_NOTIFY_CHANNELS: unknown channel {name!r} "
                    f"(one of {', '.join(CHANNELS)} or a dotted path)"
                ) from exc
        out.append(cls())
    return out


def send(messages: Sequence[Message]) -> dict[str, int]:
    """Deliver ``messages`` on every configured channel; deliveries per channel. A channel
    that fails is logged and counts 0; the others still deliver."""
    if not messages:
        return {}
    sent: dict[str, int] = {}
    for ch in channels():
        try:
            sent[ch.name] = ch.send(messages)
        except Exception:  # one broken channel (a mail server down) must not stop the others
            failures.exception("notification channel %s failed", ch.name)
            sent[ch.name] = 0
    return sent


def users_of_areas(codes: Iterable[str]) -> dict[str, list[int]]:
    """Active users bound to each of the area ``codes`` (one query)."""
    found: dict[str, list[int]] = defaultdict(list)
    codes = list(codes)
    for i in range(0, len(codes), 900):
        for user_id, area in Profile.objects.filter(
            jurisdiction_id__in=codes[i : i + 900], user__is_active=True
        ).values_list("user_id", "jurisdiction_id"):
            found[area].append(user_id)
    return found
