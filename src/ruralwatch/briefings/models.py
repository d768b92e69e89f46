"""The archive of scheduling-meeting briefings (调度简报): one row per rendered document.

Every briefing issued is kept: the file lies under ``RURALWATCH_BRIEFINGS_DIR`` and the row
records what it is (area, date, language, format), its issue number, pages, size and SHA-256,
who issued it and the headline figures that the next briefing compares itself with ("since the
last meeting").

Issue numbers count meetings, per area: every briefing of one area and date shares one issue
number (a Chinese and an English copy of the same meeting are the same issue). Issuing the same
area, date, language and format again does not overwrite anything: it adds a new *revision*
of that issue, and the old file stays downloadable (a document taken to a meeting is a record).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from ruralwatch.areas.models import Area


class Format(models.TextChoices):
    PDF = "pdf", "PDF"
    HTML = "html", "HTML"


class Language(models.TextChoices):
    ZH_HANS = "zh-hans", _("Simplified Chinese")
    EN = "en", _("English")


class Briefing(models.Model):
    """One rendered briefing of an area for a cycle date."""

    area = models.ForeignKey(
        Area, verbose_name=_("area"), on_delete=models.CASCADE, db_constraint=False
    )
    date = models.DateField(_("date"))
    language = models.CharField(_("language"), max_length=8, choices=Language.choices)
    format = models.CharField(_("format"), max_length=4, choices=Format.choices)
    issue = models.PositiveIntegerField(_("issue number"))
    revision = models.PositiveSmallIntegerField(_("revision"), default=1)
    file = models.CharField(_("file"), max_length=200)
    pages = models.PositiveSmallIntegerField(_("pages"), null=True, blank=True)
    size = models.PositiveIntegerField(_("size (bytes)"), default=0)
    sha256 = models.CharField(_("SHA-256"), max_length=64)
    figures = models.JSONField(_("headline figures"), default=dict)
    seconds = models.FloatField(_("seconds to render"), default=0.0)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("issued by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(_("issued at"), default=timezone.now)

    class Meta:
        verbose_name = _("briefing")
        verbose_name_plural = _("briefings")
        constraints = [
            models.UniqueConstraint(
                fields=["area", "date", "language", "format", "revision"],
                name="briefing_unique_revision",
            ),
        ]
        indexes = [models.Index(fields=["area", "-date", "-id"], name="briefing_area_date")]

    def __str__(self) -> str:
        return f"{self.area_id} {self.date} #{self.issue}.{self.revision} {self.language}"

    @property
    def content_type(self) -> str:
        return "application/pdf" if self.format == Format.PDF else "text/html; charset=utf-8"

    @property
    def filename(self) -> str:
        """The name a download is saved under."""
        rev = f"-r{self.revision}" if self.revision > 1 else ""
        return f"briefing-{self.area_id}-{self.date.isoformat()}-{self.language}{rev}.{self.format}"
