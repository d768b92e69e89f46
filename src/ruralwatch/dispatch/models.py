"""The scheduling loop (调度): task kinds as data, tasks with an owner and deadlines, their
trace, and in-app notifications.

A task is made from a cause (a signal, a single severe case, a rebound, a missing report,
overdue key-group contacts, a referral without outcome) by
:func:`ruralwatch.dispatch.services.sync_tasks`. ``source_key`` names the cause, so the same
cause never makes two tasks. Tasks carry the materialized paths of their source area and of
their owner area, so a jurisdiction's tasks are one range scan, like areas.
"""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from ruralwatch.accounts.models import Role
from ruralwatch.areas.models import Area, Level
from ruralwatch.core.i18n import localized


class Source(models.TextChoices):
    SIGNAL = "signal", _("detection signal")
    SINGLE_CASE = "single_case", _("single severe case or death")
    REBOUND = "rebound", _("rebound watch")
    MISSING_REPORT = "missing_report", _("missing village report")
    OVERDUE_CONTACTS = "overdue_contacts", _("overdue key-group contacts")
    OPEN_REFERRAL = "open_referral", _("referral without outcome")
    STOCK_OUT = "stock_out", _("stock-out or supply below the minimum")
    CAPACITY_GAP = "capacity_gap", _("capacity gap (fever clinic, ICU, doctor)")
    SUPPORT_REQUEST = "support_request", _("support request from a key area")
    KEY_AREA_RISE = "key_area_rise", _("first case or rise in a key area")
    VALIDATION = "validation", _("report failing a validation rule or flagged as an outlier")


class Status(models.TextChoices):
    NEW = "new", _("new")
    ACKNOWLEDGED = "acknowledged", _("acknowledged")
    VERIFYING = "verifying", _("verifying")
    OUTCOME = "outcome", _("outcome recorded")
    RESPONDING = "responding", _("responding")
    CLOSED = "closed", _("closed")
    CLOSED_AUTO = "closed_auto", _("closed: cause gone")


#: Statuses of a task that still needs someone.
OPEN_STATUSES = (
    Status.NEW,
    Status.ACKNOWLEDGED,
    Status.VERIFYING,
    Status.OUTCOME,
    Status.RESPONDING,
)
CLOSED_STATUSES = (Status.CLOSED, Status.CLOSED_AUTO)


#: The default role at each level, for owners above a kind's own level and for escalation.
#: The village cadre and the county leader are never the default owner: tasks go to the
#: village doctor and to the county CDC duty desk (docs/dispatch.md, Roles).
ROLE_FOR_LEVEL: dict[int, str] = {
    1: Role.PROVINCE,
    2: Role.PREFECTURE,
    3: Role.COUNTY,
    4: Role.TOWNSHIP,
    5: Role.VILLAGE_DOCTOR,
}
#: The level each role works at (0: above the provinces). A role may act on tasks owned at its
#: level or below, inside its jurisdiction. The county leader is left out on purpose: it sees
#: the county's tasks and figures and answers for them, but acts on none (read-only).
ROLE_LEVEL: dict[str, int] = {
    Role.NATIONAL: 0,
    Role.PROVINCE: 1,
    Role.PREFECTURE: 2,
    Role.COUNTY: 3,
    Role.TOWNSHIP: 4,
    Role.VILLAGE_DOCTOR: 5,
    Role.VILLAGE_CADRE: 5,
}


class Outcome(models.TextChoices):
    """The outcome of verifying a signal, as CIDARS records it."""

    EXCLUDED = "excluded", _("excluded")
    SUSPECTED = "suspected", _("suspected event")
    CONFIRMED = "confirmed", _("confirmed event")


class AutoReason(models.TextChoices):
    SIGNAL_GONE = "signal_gone", _("the signal no longer exists after a re-run of detection")
    REPORT_ARRIVED = "report_arrived", _("the village report arrived")
    CONTACTS_CAUGHT_UP = "contacts_caught_up", _("overdue contacts are back under the threshold")
    REFERRAL_DONE = "referral_done", _("the referral has an outcome")
    REBOUND_ENDED = "rebound_ended", _("the rebound watch no longer fires")
    STOCK_RESTORED = "stock_restored", _("the stock is back above the minimum")
    GAP_CLOSED = "gap_closed", _("the capacity gap has been closed")
    REQUEST_ANSWERED = "request_answered", _("the support request has been answered")
    KEY_AREA_QUIET = "key_area_quiet", _("the key area is quiet again")
    VALUE_CONFIRMED = "value_confirmed", _("the value was confirmed or corrected")


class EventKind(models.TextChoices):
    CREATED = "created", _("created")
    ACKNOWLEDGED = "acknowledged", _("acknowledged")
    VERIFYING = "verifying", _("verification started")
    OUTCOME = "outcome", _("outcome recorded")
    RESPONDING = "responding", _("response started")
    CLOSED = "closed", _("closed")
    ESCALATED = "escalated", _("escalated")
    REMINDED = "reminded", _("reminded")
    COMMENT = "comment", _("comment")
    AUTO_CLOSED = "auto_closed", _("closed automatically")


class TaskKind(models.Model):
    """What needs a response, who owns it and by when: rows, edited in the admin.

    ``owner_level`` is the level of the unit that owns a task of this kind; a cause found
    above that level (e.g. a county signal for a kind owned by townships) is owned by the
    cause's own area, with the default role of that level.
    """

    code = models.CharField(_("code"), max_length=40, primary_key=True)
    name_zh = models.CharField(_("name (Chinese)"), max_length=60)
    name_en = models.CharField(_("name (English)"), max_length=120)
    source = models.CharField(_("source"), max_length=30, choices=Source.choices, unique=True)
    owner_role = models.CharField(_("owner role"), max_length=20)
    owner_level = models.PositiveSmallIntegerField(_("owner level"), choices=Level.choices)
    ack_hours = models.FloatField(_("hours to acknowledge"))
    done_hours = models.FloatField(_("hours to outcome"))
    escalate_every_hours = models.FloatField(_("escalation interval (hours)"))
    remind_before_hours = models.FloatField(_("reminder before a deadline (hours)"), default=1.0)
    priority = models.PositiveSmallIntegerField(_("priority (1 = highest)"), default=3)
    outcome_required = models.BooleanField(
        _("outcome required"),
        default=False,
        help_text=_("Closing needs a verification outcome: excluded, suspected or confirmed."),
    )
    auto_close = models.BooleanField(_("close automatically when the cause has gone"), default=True)
    params = models.JSONField(_("parameters"), default=dict, blank=True)
    active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("task kind")
        verbose_name_plural = _("task kinds")
        ordering = ["priority", "code"]

    def __str__(self) -> str:
        return f"{self.name_zh} / {self.name_en}"

    def name(self, language: str) -> str:
        return localized(self, "name", language)


class Task(models.Model):
    """One cause that needs a response, its owner, deadlines, state and evidence.

    The daily cycle COPYs thousands of tasks at a time, so the table has only the indexes a
    read needs (``Meta.indexes``): no single-column index on ``kind`` (``task_kind_area_status``
    leads with it, and serves the kind's protection when a kind is deleted), on ``area``
    (nothing reads tasks by area without their kind; no cascade: ``DO_NOTHING``) or on
    ``owner_area`` (``task_owner_status`` leads with it), and none of Django's
    ``varchar_pattern_ops`` copies of the text keys (no query matches a key by prefix).
    """

    kind = models.ForeignKey(
        TaskKind, verbose_name=_("kind"), on_delete=models.PROTECT, db_index=False
    )
    area = models.ForeignKey(
        Area,
        verbose_name=_("area"),
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        db_index=False,
    )
    area_path = models.CharField(_("area path"), max_length=80)
    date = models.DateField(_("date of the cause"))
    # unique through ``task_source_key`` (Meta.constraints), which makes no ``_like`` copy
    source_key = models.CharField(_("source key"), max_length=120)
    source_id = models.BigIntegerField(_("source reference"), null=True, blank=True)
    status = models.CharField(
        _("status"), max_length=16, choices=Status.choices, default=Status.NEW
    )
    priority = models.PositiveSmallIntegerField(_("priority"), default=3)
    owner_role = models.CharField(_("owner role"), max_length=20)
    owner_level = models.PositiveSmallIntegerField(_("owner level"), choices=Level.choices)
    owner_area = models.ForeignKey(
        Area,
        verbose_name=_("owner area"),
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        db_index=False,
        related_name="+",
    )
    owner_path = models.CharField(_("owner path"), max_length=80)
    due_ack = models.DateTimeField(_("acknowledge by"))
    due_done = models.DateTimeField(_("outcome by"))
    next_escalation = models.DateTimeField(_("next escalation"), null=True, blank=True)
    escalations = models.PositiveSmallIntegerField(_("escalations"), default=0)
    reminded = models.CharField(_("last reminder"), max_length=4, blank=True, default="")
    outcome = models.CharField(
        _("outcome"), max_length=10, choices=Outcome.choices, blank=True, default=""
    )
    auto_reason = models.CharField(
        _("why it closed itself"), max_length=30, choices=AutoReason.choices, blank=True, default=""
    )
    evidence = models.JSONField(_("evidence"), default=dict)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    updated_at = models.DateTimeField(_("updated at"), default=timezone.now)
    acknowledged_at = models.DateTimeField(_("acknowledged at"), null=True, blank=True)
    outcome_at = models.DateTimeField(_("outcome at"), null=True, blank=True)
    closed_at = models.DateTimeField(_("closed at"), null=True, blank=True)

    class Meta:
        verbose_name = _("task")
        verbose_name_plural = _("tasks")
        constraints = [models.UniqueConstraint(fields=["source_key"], name="task_source_key")]
        indexes = [
            models.Index(
                fields=["owner_path"], name="task_owner_path", opclasses=["varchar_pattern_ops"]
            ),
            models.Index(
                fields=["area_path"], name="task_area_path", opclasses=["varchar_pattern_ops"]
            ),
            # The open tasks of a subtree (inboxes, escalation), without the closed history.
            models.Index(
                fields=["owner_path"],
                name="task_open_owner_path",
                opclasses=["varchar_pattern_ops"],
                condition=models.Q(status__in=OPEN_STATUSES),
            ),
            models.Index(fields=["owner_area", "status"], name="task_owner_status"),
            models.Index(fields=["status", "next_escalation"], name="task_status_escalation"),
            models.Index(fields=["kind", "area", "status"], name="task_kind_area_status"),
            models.Index(fields=["created_at"], name="task_created"),
        ]

    def __str__(self) -> str:
        return f"{self.kind_id} {self.area_id} {self.date} ({self.status})"

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    @property
    def deadline(self) -> dt.datetime:
        """The deadline that applies now: acknowledgement while new, else the outcome."""
        return self.due_ack if self.status == Status.NEW else self.due_done


class TaskEvent(models.Model):
    """One step of a task's trace: who did what, when, with a comment.

    Indexes (the cycle COPYs a "created" event per new task): ``taskevent_task_at`` serves
    the trace and the tasks' cascade; ``taskevent_actor`` only the events that have an actor
    (a user's deletion sets them to NULL; the cycle's system events have none); nothing reads
    events by ``from_area`` or ``to_area``.
    """

    task = models.ForeignKey(Task, on_delete=models.CASCADE, related_name="events", db_index=False)
    kind = models.CharField(_("event"), max_length=16, choices=EventKind.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,
    )
    at = models.DateTimeField(_("at"), default=timezone.now)
    comment = models.TextField(_("comment"), blank=True, default="")
    #: For a system step, the reason as a code (escalation: ``not_acknowledged`` /
    #: ``no_outcome``; automatic close: an :class:`AutoReason`), worded in the reader's language.
    reason = models.CharField(_("reason"), max_length=24, blank=True, default="")
    #: What the step says in the reader's language (set by the selector; not stored).
    note: str = ""
    from_area = models.ForeignKey(
        Area,
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        db_index=False,
        related_name="+",
    )
    to_area = models.ForeignKey(
        Area,
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        db_index=False,
        related_name="+",
    )
    from_role = models.CharField(max_length=20, blank=True, default="")
    to_role = models.CharField(max_length=20, blank=True, default="")

    class Meta:
        verbose_name = _("task event")
        verbose_name_plural = _("task events")
        indexes = [
            models.Index(fields=["task", "at"], name="taskevent_task_at"),
            models.Index(
                fields=["actor"], name="taskevent_actor", condition=models.Q(actor__isnull=False)
            ),
        ]

    def __str__(self) -> str:
        return f"{self.task_id} {self.kind} {self.at:%Y-%m-%d %H:%M}"


class Notification(models.Model):
    """An in-app message to one user about one task."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    task = models.ForeignKey(
        Task, null=True, blank=True, on_delete=models.CASCADE, related_name="notifications"
    )
    text = models.CharField(_("text"), max_length=300)
    #: Why it was sent (a :data:`NOTICE_WHY` code), so a page words it in the reader's language;
    #: ``text`` is the wording sent by email or SMS, in the sender's language.
    why = models.CharField(_("why"), max_length=16, blank=True, default="")
    #: The sentence in the reader's language (set by the selector that reads it; not stored).
    display: str = ""
    read = models.BooleanField(_("read"), default=False)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    class Meta:
        verbose_name = _("notification")
        verbose_name_plural = _("notifications")
        indexes = [models.Index(fields=["user", "read"], name="notification_user_read")]

    def __str__(self) -> str:
        return f"{self.user_id}: {self.text}"
