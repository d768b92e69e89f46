"""The scheduling loop's system sentences, worded when they are read.

Notifications and system steps of the trace (escalations, automatic closes) store a code; the
sentence is made in the reader's language from the code and the task, so a Chinese-speaking
township and an English-reading reviewer see the same step in their own words. Email and SMS,
which leave the system, are worded once when they are sent.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.utils import timezone
from django.utils.translation import gettext as _

from ruralwatch.core.i18n import is_english
from ruralwatch.dispatch.models import AutoReason, EventKind, Status

#: Why a notification was sent; the ``_ack`` codes point at the acknowledgement deadline, the
#: ``_done`` codes at the outcome deadline.
NOTICE_WHY = ("created", "escalated_ack", "escalated_done", "remind_ack", "remind_done")
#: Why a task escalated.
NOT_ACKNOWLEDGED = "not_acknowledged"
NO_OUTCOME = "no_outcome"


def local_minute(when: dt.datetime) -> str:
    return timezone.localtime(when).strftime("%Y-%m-%d %H:%M")


def notice_why(event: str, status: str) -> str:
    """The code of a notification about ``event`` (created, escalated, reminded) for a task in
    ``status``: a new task waits for acknowledgement, any other for its outcome."""
    if event == "created":
        return "created"
    stage = "ack" if status == Status.NEW else "done"
    return f"{'escalated' if event == 'escalated' else 'remind'}_{stage}"


def notice(why: str, kind_zh: str, kind_en: str, area: str, due_ack: Any, due_done: Any) -> str:
    """The sentence of a notification, in the active language."""
    due = due_ack if why in ("created", "escalated_ack", "remind_ack") else due_done
    args = {"kind": kind_en if is_english() else kind_zh, "area": area, "due": local_minute(due)}
    if why == "created":
        return _("New task: %(kind)s, %(area)s; acknowledge by %(due)s.") % args
    if why.startswith("escalated"):
        return _("Escalated to you: %(kind)s, %(area)s; overdue since %(due)s.") % args
    if why == "remind_ack":
        return _("Reminder: %(kind)s, %(area)s; acknowledge by %(due)s.") % args
    return _("Reminder: %(kind)s, %(area)s; outcome due by %(due)s.") % args


def event_note(kind: str, reason: str, comment: str, due_ack: Any, due_done: Any) -> str:
    """What a step of the trace says: the person's comment, or a system step's reason."""
    if kind == EventKind.ESCALATED and reason == NOT_ACKNOWLEDGED:
        return _("Not acknowledged by %(due)s.") % {"due": local_minute(due_ack)}
    if kind == EventKind.ESCALATED and reason == NO_OUTCOME:
        return _("No outcome by %(due)s.") % {"due": local_minute(due_done)}
    if kind == EventKind.AUTO_CLOSED and reason in AutoReason.values:
        return str(AutoReason(reason).label)
    return comment
