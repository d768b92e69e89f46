"""The report store: indicators as data, daily values, report status, and roll-ups."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from ruralwatch.areas.models import Area
from ruralwatch.core.fields import CodeField


class Aggregation(models.TextChoices):
    SUM = "sum", _("sum")
    MAX = "max", _("maximum")
    MEAN = "mean", _("mean")


class Indicator(models.Model):
    """A reported quantity. Indicators are rows, not code: a deployment can add its own."""

    code = CodeField(_("code"), max_length=40, primary_key=True)
    name_zh = models.CharField(_("name (Chinese)"), max_length=80)
    name_en = models.CharField(_("name (English)"), max_length=120)
    unit_zh = models.CharField(_("unit (Chinese)"), max_length=20, default="人")
    unit_en = models.CharField(_("unit (English)"), max_length=40, default="persons")
    aggregation = models.CharField(
        _("aggregation"), max_length=8, choices=Aggregation.choices, default=Aggregation.SUM
    )
    is_count = models.BooleanField(_("non-negative integer count"), default=True)
    level = models.PositiveSmallIntegerField(
        _("level reported at"),
        default=5,
        help_text=_(
            "The level whose units report this indicator (5 = village). Higher levels get it "
            "only by roll-up, so a report for them would be counted twice."
        ),
    )
    max_value = models.FloatField(
        _("largest plausible value"),
        default=100_000.0,
        help_text=_("A reported value above this is refused as a typing error."),
    )
    sort_order = models.PositiveSmallIntegerField(default=100)

    class Meta:
        verbose_name = _("indicator")
        verbose_name_plural = _("indicators")
        ordering = ["sort_order", "code"]

    def __str__(self) -> str:
        return f"{self.name_zh} / {self.name_en}"


class ImportBatch(models.Model):
    """One accepted import of a report file, with its summary."""

    source = models.CharField(_("source file"), max_length=255)
    sha256 = models.CharField(max_length=64, db_index=True)
    created_at = models.DateTimeField(auto_now_add=True)
    imported = models.PositiveIntegerField(default=0)
    updated = models.PositiveIntegerField(default=0)
    unchanged = models.PositiveIntegerField(default=0)

    class Meta:
        verbose_name = _("import batch")
        verbose_name_plural = _("import batches")

    def __str__(self) -> str:
        return f"{self.source} ({self.created_at:%Y-%m-%d %H:%M})"


class ReportValue(models.Model):
    """A value reported for one area, date and indicator. A reported zero is a value."""

    # Fact tables carry no database FK constraints: the importer checks every area and indicator
    # code in bulk before writing, and per-row constraint triggers dominated large loads.
    # No single-column indexes on the keys: the unique key (area, date, indicator) serves
    # reads by area and ``value_date_indicator`` reads by date; Django's default FK indexes
    # (two per text key) were five more indexes to maintain for every imported value and a
    # fifth of the table's size, and no query used them (issue 15).
    # The key (area, date, indicator) is the primary key: a surrogate id was one more index
    # and a sequence to maintain for every imported value, and nothing read by it (migration
    # 0012). On PostgreSQL its index carries the value and keeps the name ``value_unique_key``
    # (migration 0011), so that reads of a range of the key are index-only scans. There the
    # judged indicator's village series also have an index of their own, ``(area, date)
    # INCLUDE (value) WHERE indicator = 'new_cases'`` (migration 0013): the assessment's read of
    # 90 days no longer walks every indicator's entries.
    pk = models.CompositePrimaryKey("area_id", "date", "indicator_id")
    area = models.ForeignKey(Area, on_delete=models.DO_NOTHING, db_constraint=False, db_index=False)
    date = models.DateField(_("report date"))
    indicator = models.ForeignKey(
        Indicator, on_delete=models.DO_NOTHING, db_constraint=False, db_index=False
    )
    value = models.FloatField(_("value"))
    reporter = models.CharField(_("reporter"), max_length=64, blank=True, default="")
    submitted_at = models.DateTimeField(_("submitted at"))
    batch = models.ForeignKey(
        ImportBatch,
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        db_index=False,
    )

    class Meta:
        verbose_name = _("report value")
        verbose_name_plural = _("report values")
        indexes = [models.Index(fields=["date", "indicator"], name="value_date_indicator")]

    def __str__(self) -> str:
        return f"{self.area_id} {self.date} {self.indicator_id}={self.value:g}"


class Submission(models.Model):
    """That an area's report for a date arrived, and when: kept apart from the counts.

    A missing report has no row here (and no values); completeness compares these rows with
    the areas expected to report.
    """

    # One per area and date: the primary key (its index ``submission_unique``), no surrogate
    # id (migration 0012).
    pk = models.CompositePrimaryKey("area_id", "date")
    area = models.ForeignKey(Area, on_delete=models.DO_NOTHING, db_constraint=False, db_index=False)
    date = models.DateField(_("report date"))
    submitted_at = models.DateTimeField(_("first submitted at"))
    delay_hours = models.FloatField(
        _("hours after the start of the report date (local time)"),
        help_text=_("On time means at most the configured deadline, e.g. 36 h = next day 12:00."),
    )
    reporter = models.CharField(_("reporter"), max_length=64, blank=True, default="")

    class Meta:
        verbose_name = _("submission")
        verbose_name_plural = _("submissions")
        # By date, then area, carrying the delay (on PostgreSQL): the nowcast's triangle
        # reads a province's submissions of its window one day at a time as a range of this
        # key (``selectors._arrived``); by the primary key's range of areas the read went
        # through every stored day of those areas (PostgreSQL 15 cannot skip within the
        # key's first column), a cost that grew with the history kept (migration 0015).
        #
        # By the time of arrival, carrying the date (on PostgreSQL): the nowcast's moment, the
        # latest arrival of the window's reports (``selectors.arrival_moment``), is then the
        # index's last entries instead of a read of every submission of the window's 36 days
        # (the nation with 60 days: 3.3 s and 332,000 pages a cycle; migration 0018).
        indexes = [
            models.Index(fields=["date", "area"], include=["delay_hours"], name="submission_date"),
            models.Index(fields=["submitted_at"], include=["date"], name="submission_latest"),
        ]

    def __str__(self) -> str:
        return f"{self.area_id} {self.date} ({self.delay_hours:.1f} h)"


class AggregateValue(models.Model):
    """An indicator rolled up to an ancestor area (levels 1–4) for a date.

    Written only by :func:`ruralwatch.reporting.services.roll_up`; ``n_areas`` is how many
    reporting units contributed.
    """

    area = models.ForeignKey(Area, on_delete=models.CASCADE, db_constraint=False, db_index=False)
    level = models.PositiveSmallIntegerField()
    date = models.DateField()
    indicator = models.ForeignKey(
        Indicator, on_delete=models.CASCADE, db_constraint=False, db_index=False
    )
    value = models.FloatField()
    n_areas = models.PositiveIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["area", "date", "indicator"], name="aggregate_unique"),
        ]
        indexes = [models.Index(fields=["level", "date"], name="aggregate_level_date")]

    def __str__(self) -> str:
        return f"{self.area_id} {self.date} {self.indicator_id}={self.value:g}"


class Completeness(models.Model):
    """Expected, received and on-time village reports for an area (any level) and date."""

    area = models.ForeignKey(Area, on_delete=models.CASCADE, db_constraint=False, db_index=False)
    level = models.PositiveSmallIntegerField()
    date = models.DateField()
    expected = models.PositiveIntegerField()
    received = models.PositiveIntegerField()
    on_time = models.PositiveIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["area", "date"], name="completeness_unique"),
        ]
        indexes = [models.Index(fields=["level", "date"], name="completeness_level_date")]

    def __str__(self) -> str:
        return f"{self.area_id} {self.date}: {self.received}/{self.expected}"

    @property
    def completeness(self) -> float | None:
        return self.received / self.expected if self.expected else None

    @property
    def timeliness(self) -> float | None:
        return self.on_time / self.expected if self.expected else None


class ArchivedPeriod(models.Model):
    """Village detail (report values and submissions, and the village judgements that
    ``cycle.retention`` adds) of [start, end] moved to a file.

    The roll-ups and completeness of those dates stay in the database; the cycle never rolls
    them up again, and imports refuse values for them until the file is restored
    (``ruralwatch reports archive`` / ``restore``; docs/national-scale.md).
    """

    start = models.DateField(_("first date"))
    end = models.DateField(_("last date"))
    file = models.CharField(_("archive file"), max_length=500)
    sha256 = models.CharField(max_length=64)
    values = models.PositiveBigIntegerField(_("values"))
    submissions = models.PositiveBigIntegerField(_("submissions"))
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("archived period")
        verbose_name_plural = _("archived periods")
        ordering = ["start"]

    def __str__(self) -> str:
        return f"{self.start} … {self.end} → {self.file}"


class _ChangedDate(models.Model):
    """A date whose village values changed after a step that reads them last did."""

    date = models.DateField(_("date"), primary_key=True)

    class Meta:
        abstract = True

    def __str__(self) -> str:
        return self.date.isoformat()

    @classmethod
    def mark(cls, dates: Iterable[dt.date]) -> None:
        """These dates listed (those already listed stay as they are)."""
        cls._default_manager.bulk_create(
            [cls(date=d) for d in sorted(set(dates))], ignore_conflicts=True
        )


class RollupPending(_ChangedDate):
    """A date whose village values changed after its roll-up was made.

    Written in the same transaction as the import that changed the values, and removed by the
    roll-up that covers the date; the daily cycle rolls up every date still listed. So a roll-up
    that never ran (an upload through the API, or a process killed between the import's commit
    and its roll-up) is repaired by the next cycle instead of leaving stale aggregates.
    """

    class Meta:
        verbose_name = _("date awaiting its roll-up")
        verbose_name_plural = _("dates awaiting their roll-up")


class ValidationPending(_ChangedDate):
    """A date whose village values changed after the nightly validation last read them.

    Written with :class:`RollupPending`, in the same transaction as the values
    (:func:`ruralwatch.reporting.services.mark_changed`), and taken by the next validation,
    which then reads that date's values again instead of the compact copy it kept of them
    (``ruralwatch.intake.models.ScreenDay``).
    """

    class Meta:
        verbose_name = _("date awaiting its validation")
        verbose_name_plural = _("dates awaiting their validation")


# --- the village daily form (村级日报), corrections and sign-off (数据审核) ----------------------


class IndicatorAssignment(models.Model):
    """An indicator on the daily form of every village in ``area``'s subtree (empty: every
    village). Assignments are data: a deployment adds or removes indicators per region."""

    indicator = models.ForeignKey(
        Indicator, verbose_name=_("indicator"), on_delete=models.CASCADE, related_name="+"
    )
    area = models.ForeignKey(
        Area,
        verbose_name=_("area"),
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
        help_text=_("The indicator is on the form of every village below this area. Empty: all."),
    )

    class Meta:
        verbose_name = _("indicator assignment")
        verbose_name_plural = _("indicator assignments")
        constraints = [
            models.UniqueConstraint(fields=["indicator", "area"], name="assignment_unique"),
            models.UniqueConstraint(
                fields=["indicator"],
                condition=models.Q(area__isnull=True),
                name="assignment_unique_everywhere",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.indicator_id} @ {self.area_id or '*'}"


class FormReport(models.Model):
    """One sending of a village's daily form: who, when, what, under its idempotency key.

    The phone makes the key when the report is filled in and sends it with every retry, so a
    retried or doubled sending finds its row here and stores nothing twice. ``values`` is the
    form as sent: indicator code → number, or ``null`` for "not known" (no value is stored
    for it: not known is not a zero).
    """

    key = models.CharField(_("idempotency key"), max_length=64, unique=True)
    area = models.ForeignKey(Area, on_delete=models.DO_NOTHING, db_constraint=False)
    date = models.DateField(_("report date"))
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reporter = models.CharField(_("reporter"), max_length=64, blank=True, default="")
    comment = models.CharField(_("comment"), max_length=500, blank=True, default="")
    values = models.JSONField(_("values as sent"))
    received_at = models.DateTimeField(_("received at"))
    changed = models.PositiveIntegerField(_("stored values changed"), default=0)
    reason = models.CharField(
        _("reason for the correction"), max_length=200, blank=True, default=""
    )

    class Meta:
        verbose_name = _("daily form report")
        verbose_name_plural = _("daily form reports")
        indexes = [models.Index(fields=["area", "date"], name="formreport_area_date")]

    def __str__(self) -> str:
        return f"{self.area_id} {self.date} ({self.key})"


class ValueChange(models.Model):
    """A correction of a stored value of a village's day: who changed what, when and why.

    ``old_value`` ``None``: nothing was stored (the first value of the day is not a
    correction and has no row); ``new_value`` ``None``: the value became "not known".
    A change made by a file or system import (CSV/XLSX, the bulk API, DHIS2) names its
    ``batch`` (the source) instead of a ``form``; ``at`` is when the new value arrived.
    """

    # No index of its own: the (area, date) index below serves every read by area.
    area = models.ForeignKey(Area, on_delete=models.DO_NOTHING, db_constraint=False, db_index=False)
    date = models.DateField(_("report date"))
    indicator = models.ForeignKey(Indicator, on_delete=models.DO_NOTHING, db_constraint=False)
    old_value = models.FloatField(_("old value"), null=True, blank=True)
    new_value = models.FloatField(_("new value"), null=True, blank=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reporter = models.CharField(_("changed by"), max_length=64, blank=True, default="")
    at = models.DateTimeField(_("at"))
    reason = models.CharField(_("why"), max_length=200)
    form = models.ForeignKey(
        FormReport, null=True, blank=True, on_delete=models.SET_NULL, related_name="changes"
    )
    batch = models.ForeignKey(
        ImportBatch,
        verbose_name=_("import batch"),
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        db_index=False,  # nothing reads corrections by batch; an import writes thousands
        related_name="changes",
    )

    class Meta:
        verbose_name = _("value correction")
        verbose_name_plural = _("value corrections")
        indexes = [models.Index(fields=["area", "date"], name="valuechange_area_date")]

    def __str__(self) -> str:
        return (
            f"{self.area_id} {self.date} {self.indicator_id}: {self.old_value} → {self.new_value}"
        )


class DayApproval(models.Model):
    """A sign-off (数据审核) of a day: a township approves its villages' reports, a county its
    townships'. While the row exists the villages' values of that date are locked (the form
    and the importers refuse them, saying why); only the level above may remove it."""

    area = models.ForeignKey(
        Area, verbose_name=_("area"), on_delete=models.CASCADE, related_name="+"
    )
    date = models.DateField(_("report date"))
    level = models.PositiveSmallIntegerField(_("level"))
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    at = models.DateTimeField(_("approved at"))
    received = models.PositiveIntegerField(_("village reports received"), default=0)
    expected = models.PositiveIntegerField(_("village reports expected"), default=0)

    class Meta:
        verbose_name = _("day approval")
        verbose_name_plural = _("day approvals")
        constraints = [models.UniqueConstraint(fields=["area", "date"], name="approval_unique")]
        indexes = [models.Index(fields=["date", "level"], name="approval_date_level")]

    def __str__(self) -> str:
        return f"{self.area_id} {self.date}"


class ApprovalEvent(models.Model):
    """The trace of sign-off: every approval and every unlock, by whom, when, why. The role
    and level are copied as they were, so the trace stays true when a profile changes."""

    class Kind(models.TextChoices):
        APPROVED = "approved", _("approved")
        UNLOCKED = "unlocked", _("unlocked")

    area = models.ForeignKey(Area, on_delete=models.CASCADE, related_name="+")
    date = models.DateField(_("report date"))
    kind = models.CharField(_("what"), max_length=10, choices=Kind.choices)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    role = models.CharField(_("role"), max_length=20, blank=True, default="")
    at = models.DateTimeField(_("at"))
    reason = models.CharField(_("why"), max_length=200, blank=True, default="")

    class Meta:
        verbose_name = _("sign-off event")
        verbose_name_plural = _("sign-off events")
        indexes = [models.Index(fields=["area", "date"], name="approvalevent_area_date")]

    def __str__(self) -> str:
        return f"{self.area_id} {self.date} {self.kind}"
