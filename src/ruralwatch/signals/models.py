"""Detection rules (data, not code) and the signals they raise."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from ruralwatch.areas.models import Area, Level
from ruralwatch.reporting.models import Indicator


class DetectionRule(models.Model):
    """Run ``method`` with ``params`` on ``indicator`` for every area of ``level``."""

    # no index of its own: ``rule_unique`` leads with the indicator
    indicator = models.ForeignKey(Indicator, on_delete=models.CASCADE, db_index=False)
    level = models.PositiveSmallIntegerField(_("level"), choices=Level.choices)
    method = models.CharField(_("method"), max_length=40)
    params = models.JSONField(_("parameters"), default=dict, blank=True)
    freq = models.CharField(
        _("frequency"),
        max_length=4,
        choices=[("day", _("daily")), ("week", _("weekly (ISO weeks, Monday to Sunday)"))],
        default="day",
    )
    history_days = models.PositiveIntegerField(
        _("days of history read"), default=60, help_text=_("How far back the baseline reaches.")
    )
    active = models.BooleanField(_("active"), default=True)
    last_run = models.DateField(
        _("last cycle date"), null=True, blank=True, help_text=_("Written by the daily cycle.")
    )
    last_error = models.TextField(
        _("why it did not run"),
        blank=True,
        help_text=_("Empty when the rule ran in its last cycle; otherwise the error."),
    )

    class Meta:
        verbose_name = _("detection rule")
        verbose_name_plural = _("detection rules")
        constraints = [
            models.UniqueConstraint(fields=["indicator", "level", "method"], name="rule_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.method} · {self.indicator_id} · L{self.level}"


class Signal(models.Model):
    """An alarm raised by a rule for an area and date, with its evidence.

    The detection step COPYs a province's signals at a time, so the table keeps only the
    indexes a read needs: ``signal_unique`` (rule, area, date; the rule's cascade too),
    ``signal_area`` (a subtree's signals by their code range) and ``signal_date_method`` (the
    whole tree's by date). None by rule alone (``signal_unique`` leads with it) or by
    indicator (nothing reads signals by indicator; an indicator is only ever deleted by
    unapplying a migration, which then scans the signals once), and no ``varchar_pattern_ops``
    copies of the area and indicator codes (no query matches them by prefix).
    """

    rule = models.ForeignKey(DetectionRule, on_delete=models.CASCADE, db_index=False)
    area = models.ForeignKey(Area, on_delete=models.CASCADE, db_constraint=False, db_index=False)
    indicator = models.ForeignKey(
        Indicator, on_delete=models.CASCADE, db_constraint=False, db_index=False
    )
    date = models.DateField(_("date"))
    method = models.CharField(_("method"), max_length=40)
    observed = models.FloatField(_("observed"))
    expected = models.FloatField(_("expected"), null=True)
    threshold = models.FloatField(_("threshold"), null=True)
    score = models.FloatField(_("score"), null=True)
    params = models.JSONField(_("parameters"), default=dict)

    class Meta:
        verbose_name = _("signal")
        verbose_name_plural = _("signals")
        constraints = [
            models.UniqueConstraint(fields=["rule", "area", "date"], name="signal_unique"),
        ]
        indexes = [
            models.Index(fields=["area"], name="signal_area"),
            models.Index(fields=["date", "method"], name="signal_date_method"),
        ]

    def __str__(self) -> str:
        return f"{self.area_id} {self.date} {self.method}: {self.observed:g} > {self.threshold}"
