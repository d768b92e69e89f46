"""Judgements of the epidemic situation, per area, indicator and cycle date, with evidence."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from ruralwatch.areas.models import Area
from ruralwatch.assessments.evidence_texts import EvidenceField, SentenceField
from ruralwatch.core.fields import CodeField
from ruralwatch.core.i18n import localized
from ruralwatch.reporting.models import Indicator


class Judgement(models.Model):
    """Level, phase, rebound watch and the sentences for one area on one cycle date."""

    area = models.ForeignKey(Area, on_delete=models.CASCADE, db_constraint=False, db_index=False)
    indicator = models.ForeignKey(
        Indicator, on_delete=models.CASCADE, db_constraint=False, db_index=False
    )
    date = models.DateField(_("cycle date"))
    level = models.CharField(_("epidemic level"), max_length=20)
    phase = CodeField(_("phase"), max_length=20)
    rebound_detected = models.BooleanField(_("rebound detected"), default=False)
    pooled = models.BooleanField(_("judged on a pooled series"), default=False)
    text_zh = SentenceField(_("judgement (Chinese)"))
    text_en = SentenceField(_("judgement (English)"))
    evidence = EvidenceField(_("evidence"), default=dict)

    class Meta:
        verbose_name = _("judgement")
        verbose_name_plural = _("judgements")
        constraints = [
            models.UniqueConstraint(fields=["area", "indicator", "date"], name="judgement_unique"),
        ]
        indexes = [models.Index(fields=["date", "phase"], name="judgement_date_phase")]

    def __str__(self) -> str:
        return f"{self.area_id} {self.date}: {self.level}, {self.phase}"

    @property
    def level_label(self) -> str:
        return str(LEVEL_LABELS.get(self.level, self.level))

    @property
    def phase_label(self) -> str:
        return str(PHASE_LABELS.get(self.phase, self.phase))

    def text(self, language: str) -> str:
        """The sentence in the page's language (zh-Hans unless English is asked for)."""
        return localized(self, "text", language)


class EvidenceText(models.Model):
    """A long text that recurs in judgements (evidence texts, shared members, the templates of
    compact rows), stored once under its hash
    (see :mod:`ruralwatch.assessments.evidence_texts`)."""

    key = models.CharField(max_length=16, primary_key=True)
    text = models.TextField()

    class Meta:
        verbose_name = _("evidence text")
        verbose_name_plural = _("evidence texts")

    def __str__(self) -> str:
        return self.text[:60]


LEVEL_LABELS = {
    "below_threshold": _("below the epidemic threshold"),
    "low": _("low"),
    "medium": _("medium"),
    "high": _("high"),
    "very_high": _("very high"),
}
PHASE_LABELS = {
    "growth": _("growth"),
    "plateau": _("plateau"),
    "peak_passed": _("peak passed"),
    "steady_decline": _("steady decline"),
    "low_level": _("low level"),
    "undetermined": _("undetermined"),
}
