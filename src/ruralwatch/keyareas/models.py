"""Key areas (三区一岛): the trace of their tags, their paired support units and the support
requests sent to them.

The tags themselves live on :attr:`ruralwatch.areas.models.Area.key_areas` (the importer of
the division list reads them); :class:`TagChange` keeps who changed them, how and when. A key
area's watch is computed when it is read (:mod:`ruralwatch.keyareas.selectors`), so nothing
here needs a re-run when reports change.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from ruralwatch.areas.models import Area


class TagSource(models.TextChoices):
    IMPORT = "import", _("file import")
    PAGE = "page", _("set by the level above")
    DERIVED = "derived", _("default derivation")
    DEMO = "demo", _("synthetic demo")


class TagChange(models.Model):
    """One change of an area's key-area tags."""

    area = models.ForeignKey(
        Area, verbose_name=_("area"), on_delete=models.CASCADE, db_constraint=False
    )
    before = models.CharField(_("tags before"), max_length=40, blank=True, default="")
    after = models.CharField(_("tags after"), max_length=40, blank=True, default="")
    source = models.CharField(_("how"), max_length=10, choices=TagSource.choices)
    by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    at = models.DateTimeField(_("at"), default=timezone.now)
    note = models.CharField(_("note"), max_length=200, blank=True, default="")

    class Meta:
        verbose_name = _("key-area tag change")
        verbose_name_plural = _("key-area tag changes")
        indexes = [models.Index(fields=["area", "at"], name="keyarea_tagchange_area")]

    def __str__(self) -> str:
        return f"{self.area_id}: {self.before!r} → {self.after!r}"


class Pairing(models.Model):
    """A key area and the unit that supports it on request (对口支援): a county hospital's
    area, a non-key township or another unit chosen by the level above."""

    key_area = models.OneToOneField(
        Area,
        verbose_name=_("key area"),
        on_delete=models.CASCADE,
        db_constraint=False,
        related_name="+",
    )
    support_unit = models.ForeignKey(
        Area,
        verbose_name=_("support unit"),
        on_delete=models.CASCADE,
        db_constraint=False,
        related_name="+",
    )
    support_path = models.CharField(_("support unit path"), max_length=80)
    set_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("set by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    since = models.DateTimeField(_("since"), default=timezone.now)

    class Meta:
        verbose_name = _("support pairing")
        verbose_name_plural = _("support pairings")
        indexes = [
            models.Index(
                fields=["support_path"],
                name="keyarea_pairing_support",
                opclasses=["varchar_pattern_ops"],
            )
        ]

    def __str__(self) -> str:
        return f"{self.key_area_id} ← {self.support_unit_id}"


class Need(models.TextChoices):
    STAFF = "staff", _("medical staff")
    DRUGS = "drugs", _("drugs")
    OXYGEN = "oxygen", _("oxygen")
    TRANSPORT = "transport", _("transport")


class RequestStatus(models.TextChoices):
    OPEN = "open", _("open")
    ANSWERED = "answered", _("answered")
    WITHDRAWN = "withdrawn", _("withdrawn")


class SupportRequest(models.Model):
    """A key area's request for staff, drugs, oxygen or transport, sent to its paired unit
    with a deadline for the response. Dispatch tracks each open request as a task owned by
    the support unit (``dispatch.causes_keyareas``); answering it closes the task."""

    key_area = models.ForeignKey(
        Area,
        verbose_name=_("key area"),
        on_delete=models.CASCADE,
        db_constraint=False,
        related_name="+",
    )
    key_path = models.CharField(_("key area path"), max_length=80)
    support_unit = models.ForeignKey(
        Area,
        verbose_name=_("support unit"),
        on_delete=models.CASCADE,
        db_constraint=False,
        related_name="+",
    )
    support_path = models.CharField(_("support unit path"), max_length=80)
    need = models.CharField(_("need"), max_length=10, choices=Need.choices)
    quantity = models.PositiveIntegerField(_("quantity"), null=True, blank=True)
    note = models.CharField(_("note"), max_length=300, blank=True, default="")
    filed_at = models.DateTimeField(_("filed at"))
    respond_by = models.DateTimeField(_("respond by"))
    filed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("filed by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    status = models.CharField(
        _("status"), max_length=10, choices=RequestStatus.choices, default=RequestStatus.OPEN
    )
    answer = models.CharField(_("answer"), max_length=300, blank=True, default="")
    answered_at = models.DateTimeField(_("answered at"), null=True, blank=True)
    answered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("answered by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    class Meta:
        verbose_name = _("support request")
        verbose_name_plural = _("support requests")
        indexes = [
            models.Index(
                fields=["key_path"], name="keyarea_request_key", opclasses=["varchar_pattern_ops"]
            ),
            models.Index(
                fields=["support_path"],
                name="keyarea_request_support",
                opclasses=["varchar_pattern_ops"],
            ),
            models.Index(fields=["status", "filed_at"], name="keyarea_request_status"),
        ]

    def __str__(self) -> str:
        return f"{self.key_area_id} → {self.support_unit_id}: {self.need} ({self.status})"
