"""Intake from systems: validation rules and their violations, outlier flags, DHIS2 id
mappings and data sets, and the per-token rate-limit windows of the bulk API.

Fact-like tables (violations, flags) carry no database FK constraints, as the report store
does not: they are written in bulk after the codes were checked.
"""

from __future__ import annotations

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from ruralwatch.areas.models import Area
from ruralwatch.reporting.models import Indicator


class Operator(models.TextChoices):
    """DHIS2's validation-rule operators (the same names)."""

    EQUAL_TO = "equal_to", _("equal to (=)")
    NOT_EQUAL_TO = "not_equal_to", _("not equal to (≠)")
    GREATER_THAN = "greater_than", _("greater than (>)")
    GREATER_THAN_OR_EQUAL_TO = "greater_than_or_equal_to", _("greater than or equal to (≥)")
    LESS_THAN = "less_than", _("less than (<)")
    LESS_THAN_OR_EQUAL_TO = "less_than_or_equal_to", _("less than or equal to (≤)")
    COMPULSORY_PAIR = "compulsory_pair", _("compulsory pair (both or neither)")
    EXCLUSIVE_PAIR = "exclusive_pair", _("exclusive pair (not both)")


class MissingValueStrategy(models.TextChoices):
    """What a side of a rule does when values it names are missing (DHIS2's names)."""

    SKIP_IF_ANY_VALUE_MISSING = (
        "SKIP_IF_ANY_VALUE_MISSING",
        _("skip the rule if any value of this side is missing"),
    )
    SKIP_IF_ALL_VALUES_MISSING = (
        "SKIP_IF_ALL_VALUES_MISSING",
        _("skip the rule if every value of this side is missing"),
    )
    NEVER_SKIP = "NEVER_SKIP", _("never skip (a missing value counts as zero)")


class Severity(models.TextChoices):
    REFUSE = "refuse", _("refuse the values (an impossible report)")
    WARN = "warn", _("accept and list the violation (ask the reporter to check)")


class ValidationRule(models.Model):
    """``left operator right`` over the indicators of one area and day, as DHIS2 has it.

    A side is an arithmetic expression (``+ - * /``, parentheses, numbers) of indicator codes
    and ``population`` (the area's population). Rules are rows: a deployment adds its own.
    """

    code = models.SlugField(_("code"), max_length=40, primary_key=True)
    name_zh = models.CharField(_("name (Chinese)"), max_length=120)
    name_en = models.CharField(_("name (English)"), max_length=160)
    left = models.CharField(_("left side"), max_length=300)
    operator = models.CharField(_("operator"), max_length=30, choices=Operator.choices)
    right = models.CharField(_("right side"), max_length=300)
    left_missing = models.CharField(
        _("left side: missing values"),
        max_length=30,
        choices=MissingValueStrategy.choices,
        default=MissingValueStrategy.SKIP_IF_ALL_VALUES_MISSING,
    )
    right_missing = models.CharField(
        _("right side: missing values"),
        max_length=30,
        choices=MissingValueStrategy.choices,
        default=MissingValueStrategy.SKIP_IF_ALL_VALUES_MISSING,
    )
    severity = models.CharField(
        _("on import"), max_length=10, choices=Severity.choices, default=Severity.WARN
    )
    level = models.PositiveSmallIntegerField(_("level checked"), default=5)
    active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("validation rule")
        verbose_name_plural = _("validation rules")
        ordering = ["code"]

    def __str__(self) -> str:
        return f"{self.code}: {self.left} {self.operator} {self.right}"


class Violation(models.Model):
    """A rule that failed for an area and date, with both sides' values (the evidence)."""

    rule = models.ForeignKey(ValidationRule, on_delete=models.CASCADE, db_constraint=False)
    area = models.ForeignKey(Area, on_delete=models.DO_NOTHING, db_constraint=False)
    date = models.DateField(_("report date"))
    left_value = models.FloatField(_("left side"), null=True)
    right_value = models.FloatField(_("right side"), null=True)
    found_at = models.DateTimeField(_("found at"))

    class Meta:
        verbose_name = _("rule violation")
        verbose_name_plural = _("rule violations")
        constraints = [
            models.UniqueConstraint(fields=["rule", "area", "date"], name="violation_unique")
        ]
        indexes = [models.Index(fields=["date"], name="violation_date")]

    def __str__(self) -> str:
        return f"{self.rule_id} {self.area_id} {self.date}"


class FlagStatus(models.TextChoices):
    OPEN = "open", _("to be confirmed by the reporter")
    CONFIRMED = "confirmed", _("confirmed as reported")
    CORRECTED = "corrected", _("corrected")


class OutlierMethod(models.TextChoices):
    ROBUST_Z = "robust_z", _("robust z (median/MAD of the area's own history)")
    SEASONAL = "seasonal", _("seasonal robust z (against the same season of the area's history)")
    REPEAT = "repeat", _("the day's report repeats the previous day's exactly")
    RULE = "rule", _("a validation rule fails")


class OutlierFlag(models.Model):
    """A reported value screened as doubtful. The value itself is never changed or dropped;
    the flag asks the reporter to confirm it and is shown wherever the value is.

    ``indicator`` is empty for a flag on the whole day's report (a repeated day)."""

    area = models.ForeignKey(Area, on_delete=models.DO_NOTHING, db_constraint=False)
    date = models.DateField(_("report date"))
    indicator = models.CharField(_("indicator"), max_length=40, blank=True, default="")
    value = models.FloatField(_("value"), null=True)
    method = models.CharField(_("method"), max_length=12, choices=OutlierMethod.choices)
    score = models.FloatField(_("score"))
    baseline = models.FloatField(_("baseline"), null=True)
    scale = models.FloatField(_("scale"), null=True)
    status = models.CharField(
        _("status"), max_length=10, choices=FlagStatus.choices, default=FlagStatus.OPEN
    )
    flagged_at = models.DateTimeField(_("flagged at"))

    class Meta:
        verbose_name = _("outlier flag")
        verbose_name_plural = _("outlier flags")
        constraints = [
            models.UniqueConstraint(
                fields=["area", "date", "indicator", "method"], name="outlier_unique"
            )
        ]
        indexes = [models.Index(fields=["date"], name="outlier_date")]

    def __str__(self) -> str:
        return f"{self.area_id} {self.date} {self.indicator or '*'} ({self.method})"


class ScreenDay(models.Model):
    """One partition's village values of one date as the nightly validation reads them (a row
    per area and day, a column per indicator), kept compact (Arrow IPC, zstd) so that the
    next nights read the days that did not change from here instead of from the values.

    A copy is dropped when a writer marks its date changed
    (``ruralwatch.reporting.models.ValidationPending``) and is used only while the
    partition's areas are those it was made of (``areas_hash``); see
    ``ruralwatch.intake.screen_days``."""

    partition = models.CharField(_("partition"), max_length=255)
    county_only = models.BooleanField(_("only areas under a county"))
    date = models.DateField(_("report date"))
    areas_hash = models.BigIntegerField(_("hash of the partition's areas"))
    rows = models.PositiveIntegerField(_("rows"))
    data = models.BinaryField(_("data"))
    #: The partition's submissions of the date (``area_code``, ``delay_hours``; Arrow IPC,
    #: zstd) as they were when the values were read, for the nowcast's reporting triangle
    #: (``ruralwatch.reporting.selectors.delay_triangle``); null where the copy was made
    #: without them (that day's triangle reads the submissions).
    arrivals = models.BinaryField(_("arrivals"), null=True, blank=True)
    built_at = models.DateTimeField(_("built at"), default=timezone.now)

    class Meta:
        verbose_name = _("validation copy of a day")
        verbose_name_plural = _("validation copies of days")
        constraints = [
            models.UniqueConstraint(
                fields=["partition", "county_only", "date"], name="screenday_unique"
            )
        ]
        indexes = [models.Index(fields=["date"], name="screenday_date")]

    def __str__(self) -> str:
        return f"{self.partition} {self.date} ({self.rows} rows)"


class ScreenTake(models.Model):
    """A date whose change marks a night's validation took (``ruralwatch.intake.screen_days``):
    a partition that read that date from the values before this was taken may have read it
    before the change, so it does not keep what it read (its ``keep`` checks for takes after
    its own)."""

    id = models.BigAutoField(primary_key=True)
    date = models.DateField(_("report date"))
    taken_at = models.DateTimeField(_("taken at"), default=timezone.now)

    class Meta:
        verbose_name = _("validation take of a changed date")
        verbose_name_plural = _("validation takes of changed dates")

    def __str__(self) -> str:
        return f"{self.date} taken at {self.taken_at:%Y-%m-%d %H:%M}"


class MappingKind(models.TextChoices):
    ORG_UNIT = "orgUnit", _("organisation unit (area)")
    DATA_ELEMENT = "dataElement", _("data element (indicator)")
    DATA_SET = "dataSet", _("data set")


class IdMapping(models.Model):
    """A DHIS2 uid for one of our codes (area, indicator or data set), for ``idScheme=UID``."""

    kind = models.CharField(_("kind"), max_length=12, choices=MappingKind.choices)
    uid = models.CharField(_("DHIS2 uid"), max_length=11)
    code = models.CharField(_("our code"), max_length=40)

    class Meta:
        verbose_name = _("DHIS2 id mapping")
        verbose_name_plural = _("DHIS2 id mappings")
        constraints = [
            models.UniqueConstraint(fields=["kind", "uid"], name="idmap_uid_unique"),
            models.UniqueConstraint(fields=["kind", "code"], name="idmap_code_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.uid} = {self.code}"


class DataSet(models.Model):
    """A named set of indicators, as DHIS2's ``dataSet`` (export filter, ADX group)."""

    code = models.SlugField(_("code"), max_length=40, primary_key=True)
    name_zh = models.CharField(_("name (Chinese)"), max_length=120)
    name_en = models.CharField(_("name (English)"), max_length=160)
    indicators = models.ManyToManyField(Indicator, verbose_name=_("indicators"))

    class Meta:
        verbose_name = _("data set")
        verbose_name_plural = _("data sets")

    def __str__(self) -> str:
        return self.code


class RateWindow(models.Model):
    """Requests one caller (a token, or a user's session) made in one minute."""

    caller = models.CharField(max_length=80)
    minute = models.BigIntegerField(help_text="minutes since the epoch")
    requests = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["caller", "minute"], name="ratewindow_unique")
        ]

    def __str__(self) -> str:
        return f"{self.caller} @{self.minute}: {self.requests}"
