"""The key-group registry and its health monitoring.

Persons live in a village (``Area`` level 5) and belong to one or more key groups (rows of
``KeyGroup``: configurable data). Each has a responsible village doctor and a one-to-one
pairing cadre (一对一包保), both rows of ``Responsible`` (optionally linked to a login), a risk
tier (red/yellow/green) from the active ``TierRuleSet``, contacts and referrals.

Privacy: the resident ID number and phone numbers are stored only as Fernet tokens
(``*_enc``, see :mod:`ruralwatch.keygroups.crypto`); ``id_hash`` is an HMAC-SHA256 of the ID
number for de-duplication; ``id_masked`` keeps the region prefix and the last two characters
for display. The date of birth is stored encrypted (``birth_date_enc``); only its month
(``birth_month``, the first day of it) is in clear, for set-based ages in SQL, so that no
combination of clear columns rebuilds an ID number (see ``docs/keygroups.md``). Reads of
person records go through :mod:`ruralwatch.keygroups.access`, which writes ``AccessLog`` rows.

Denormalised columns written only by services (set-based): ``Person.tier*``,
``Person.last_contact`` and ``Person.last_status`` (latest contact), so overdue lists are
one scan of ``Person``.
"""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from ruralwatch.areas.models import Area
from ruralwatch.keygroups import crypto


class Tier(models.TextChoices):
    RED = "red", _("red (high risk)")
    YELLOW = "yellow", _("yellow (medium risk)")
    GREEN = "green", _("green (low risk)")


class TierReason(models.TextChoices):
    SCORE = "score", _("score of the rule set")
    POSITIVE = "positive", _("positive test")
    LOW_SPO2 = "low_spo2", _("low oxygen saturation")
    MANUAL = "manual", _("set by hand")


class PersonStatus(models.TextChoices):
    ACTIVE = "active", _("active")
    MOVED = "moved", _("moved away")
    DECEASED = "deceased", _("deceased")


class Sex(models.TextChoices):
    MALE = "M", _("male")
    FEMALE = "F", _("female")


class Comorbidity(models.IntegerChoices):
    NONE = 0, _("none")
    STABLE = 1, _("stable")
    UNSTABLE = 2, _("unstable")


class Vaccination(models.IntegerChoices):
    COMPLETE = 0, _("complete")
    INCOMPLETE = 1, _("incomplete")
    NONE = 2, _("none")


class ResponsibleKind(models.TextChoices):
    DOCTOR = "doctor", _("village doctor")
    CADRE = "cadre", _("pairing cadre")


class ContactMethod(models.TextChoices):
    PHONE = "phone", _("phone call")
    VISIT = "visit", _("home visit")
    MESSAGE = "message", _("messaging app")


class ContactStatus(models.TextChoices):
    WELL = "well", _("well")
    SYMPTOMS = "symptoms", _("symptoms")
    POSITIVE = "positive", _("tested positive")
    SPO2 = "spo2", _("SpO₂ reading")
    REFERRED = "referred", _("referred")
    HOSPITALISED = "hospitalised", _("hospitalised")
    DIED = "died", _("died")
    MOVED_AWAY = "moved_away", _("moved away")


class Destination(models.TextChoices):
    TOWNSHIP = "township_health_centre", _("township health centre")
    COUNTY = "county_hospital", _("county hospital")


class ReferralReason(models.TextChoices):
    POSITIVE = "positive", _("positive test")
    LOW_SPO2 = "low_spo2", _("SpO₂ below threshold")
    CLINICAL = "clinical", _("clinical judgement")


class ReferralOutcome(models.TextChoices):
    PENDING = "pending", _("pending")
    HOME_CARE = "home_care", _("treated at home")
    OUTPATIENT = "outpatient", _("treated as outpatient")
    ADMITTED = "admitted", _("admitted")
    TRANSFERRED = "transferred", _("transferred upwards")
    DISCHARGED = "discharged", _("discharged")
    DIED = "died", _("died")
    DECLINED = "declined", _("declined")


class ExpectedSource(models.TextChoices):
    CENSUS = "census", _("population census")
    NURSING_HOME = "nursing_home", _("nursing-home residents")
    SCHOOL_ROSTER = "school_roster", _("school roster")
    OTHER = "other", _("other source")


class KeyGroup(models.Model):
    """A key group (重点人群类别). Rows, not code: a deployment can add its own."""

    code = models.CharField(_("code"), max_length=30, primary_key=True)
    name_zh = models.CharField(_("name (Chinese)"), max_length=40)
    name_en = models.CharField(_("name (English)"), max_length=80)
    aliases = models.CharField(
        _("aliases"),
        max_length=200,
        blank=True,
        default="",
        help_text=_("Comma-separated other names accepted in roster files."),
    )
    min_age = models.PositiveSmallIntegerField(_("minimum age"), null=True, blank=True)
    max_age = models.PositiveSmallIntegerField(_("maximum age"), null=True, blank=True)
    needs_guardian = models.BooleanField(_("needs a guardian"), default=False)
    sort_order = models.PositiveSmallIntegerField(default=100)

    class Meta:
        verbose_name = _("key group")
        verbose_name_plural = _("key groups")
        ordering = ["sort_order", "code"]

    def __str__(self) -> str:
        return f"{self.name_zh} / {self.name_en}"


class TierRuleSet(models.Model):
    """A scoring rule set for risk tiers and contact intervals; exactly one is active.

    ``params`` is validated by :func:`ruralwatch.keygroups.rules.parse_rules` (see there for
    the keys and the published default).
    """

    code = models.CharField(_("code"), max_length=40, primary_key=True)
    name = models.CharField(_("name"), max_length=120)
    active = models.BooleanField(_("active"), default=False)
    params = models.JSONField(_("parameters"))
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("tier rule set")
        verbose_name_plural = _("tier rule sets")
        constraints = [
            models.UniqueConstraint(
                fields=["active"], condition=Q(active=True), name="kg_one_active_ruleset"
            )
        ]

    def __str__(self) -> str:
        return self.name


class Responsible(models.Model):
    """A village doctor or a pairing cadre; optionally the account they log in with."""

    code = models.CharField(_("code"), max_length=60, unique=True)
    kind = models.CharField(_("kind"), max_length=10, choices=ResponsibleKind.choices)
    name = models.CharField(_("name"), max_length=60)
    phone_enc = models.TextField(_("phone (encrypted)"), blank=True, default="")
    area = models.ForeignKey(
        Area, verbose_name=_("area"), on_delete=models.PROTECT, related_name="+"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("user account"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="kg_responsible",
    )
    active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("responsible person")
        verbose_name_plural = _("responsible persons")
        indexes = [models.Index(fields=["area", "kind"], name="kg_resp_area_kind")]

    def __str__(self) -> str:
        return f"{self.name} ({self.get_kind_display()})"


class RosterImport(models.Model):
    """One accepted roster file, with its summary."""

    source = models.CharField(_("source file"), max_length=255)
    sha256 = models.CharField(max_length=64, db_index=True)
    created_at = models.DateTimeField(auto_now_add=True)
    rows = models.PositiveIntegerField(default=0)
    inserted = models.PositiveIntegerField(default=0)
    updated = models.PositiveIntegerField(default=0)
    unchanged = models.PositiveIntegerField(default=0)

    class Meta:
        verbose_name = _("roster import")
        verbose_name_plural = _("roster imports")

    def __str__(self) -> str:
        return f"{self.source} ({self.created_at:%Y-%m-%d %H:%M})"


class Campaign(models.Model):
    """A re-survey (重新摸排) of an area's key groups, with a deadline."""

    name = models.CharField(_("name"), max_length=120)
    area = models.ForeignKey(
        Area, verbose_name=_("scope"), on_delete=models.PROTECT, related_name="+"
    )
    start = models.DateField(_("start"))
    deadline = models.DateField(_("deadline"))
    groups = models.ManyToManyField(KeyGroup, verbose_name=_("key groups"), blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    closed = models.BooleanField(_("closed"), default=False)

    class Meta:
        verbose_name = _("re-survey campaign")
        verbose_name_plural = _("re-survey campaigns")

    def __str__(self) -> str:
        return self.name


class CampaignVillage(models.Model):
    """One village's part in a campaign: done or not, how many surveyed and found."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="villages")
    village = models.ForeignKey(Area, on_delete=models.PROTECT, related_name="+")
    completed_on = models.DateField(_("completed on"), null=True, blank=True)
    surveyed = models.PositiveIntegerField(_("households surveyed"), default=0)
    note = models.CharField(_("note"), max_length=200, blank=True, default="")

    class Meta:
        verbose_name = _("campaign village")
        verbose_name_plural = _("campaign villages")
        constraints = [
            models.UniqueConstraint(fields=["campaign", "village"], name="kg_campaign_village")
        ]

    def __str__(self) -> str:
        return f"{self.campaign_id}:{self.village_id}"


class Person(models.Model):
    """A member of one or more key groups, registered in a village."""

    ref = models.CharField(
        _("reference"),
        max_length=40,
        unique=True,
        help_text=_("Stable public identifier (used by audits, exports and the API)."),
    )
    name = models.CharField(_("name"), max_length=60)
    sex = models.CharField(_("sex"), max_length=1, choices=Sex.choices)
    birth_month = models.DateField(
        _("month of birth"),
        help_text=_("The first day of the month of birth; the full date is encrypted."),
    )
    birth_date_enc = models.TextField(_("date of birth (encrypted)"), default="")
    id_enc = models.TextField(_("resident ID number (encrypted)"))
    # Looked up by the unique (id_hash, village) index; no index of its own.
    id_hash = models.CharField(_("keyed hash of the ID number"), max_length=64)
    id_masked = models.CharField(_("masked ID number"), max_length=18)
    phone_enc = models.TextField(_("phone (encrypted)"), blank=True, default="")
    # Foreign keys led by a composite index of Meta (village, doctor, cadre) get no index of
    # their own: every person's write maintained both, and retiering the demo's 64,310 scored
    # persons on PostgreSQL took 7.8-8.6 s with them, 5.2 s without (python -m bench.rebuild).
    village = models.ForeignKey(
        Area, verbose_name=_("village"), on_delete=models.PROTECT, related_name="+", db_index=False
    )
    household = models.CharField(_("household"), max_length=80, blank=True, default="")
    status = models.CharField(
        _("status"), max_length=10, choices=PersonStatus.choices, default=PersonStatus.ACTIVE
    )
    status_date = models.DateField(_("status since"), null=True, blank=True)
    doctor = models.ForeignKey(
        Responsible,
        verbose_name=_("responsible doctor"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="patients",
        db_index=False,
    )
    cadre = models.ForeignKey(
        Responsible,
        verbose_name=_("pairing cadre"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="paired",
        db_index=False,
    )
    guardian_name = models.CharField(_("guardian"), max_length=60, blank=True, default="")
    guardian_relation = models.CharField(
        _("guardian's relation"), max_length=20, blank=True, default=""
    )
    guardian_phone_enc = models.TextField(_("guardian's phone (encrypted)"), blank=True, default="")
    comorbidity = models.PositiveSmallIntegerField(
        _("comorbidity"), choices=Comorbidity.choices, default=Comorbidity.NONE
    )
    vaccination = models.PositiveSmallIntegerField(
        _("vaccination"), choices=Vaccination.choices, default=Vaccination.NONE
    )
    tier = models.CharField(_("tier"), max_length=6, choices=Tier.choices, default=Tier.GREEN)
    tier_score = models.PositiveSmallIntegerField(_("score"), null=True, blank=True)
    tier_reason = models.CharField(
        _("tier reason"), max_length=10, choices=TierReason.choices, default=TierReason.SCORE
    )
    tier_since = models.DateField(_("tier since"), null=True, blank=True)
    last_contact = models.DateField(_("last contact"), null=True, blank=True)
    last_status = models.CharField(
        _("last contact status"),
        max_length=12,
        choices=ContactStatus.choices,
        blank=True,
        default="",
    )
    registered_on = models.DateField(_("registered on"))
    campaign = models.ForeignKey(
        Campaign,
        verbose_name=_("found in campaign"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="found",
    )
    batch = models.ForeignKey(RosterImport, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("person")
        verbose_name_plural = _("persons")
        constraints = [
            models.UniqueConstraint(fields=["id_hash", "village"], name="kg_person_id_village"),
        ]
        indexes = [
            models.Index(fields=["village", "status"], name="kg_person_village"),
            models.Index(fields=["doctor", "status"], name="kg_person_doctor"),
            models.Index(fields=["cadre", "status"], name="kg_person_cadre"),
        ]

    def __str__(self) -> str:
        return f"{self.ref}"

    @property
    def birth_date(self) -> dt.date:
        """The full date of birth, decrypted (the month alone if the token is unreadable)."""
        text = crypto.decrypt(self.birth_date_enc)
        return dt.date.fromisoformat(text) if text else self.birth_month

    @birth_date.setter
    def birth_date(self, value: dt.date | str) -> None:
        day = dt.date.fromisoformat(value) if isinstance(value, str) else value
        self.birth_month = day.replace(day=1)
        self.birth_date_enc = crypto.encrypt(day.isoformat())


class Membership(models.Model):
    """That a person belongs to a key group (since, until)."""

    person = models.ForeignKey(Person, on_delete=models.CASCADE, related_name="memberships")
    group = models.ForeignKey(KeyGroup, on_delete=models.PROTECT, related_name="+")
    since = models.DateField(_("since"), null=True, blank=True)
    until = models.DateField(_("until"), null=True, blank=True)

    class Meta:
        verbose_name = _("membership")
        verbose_name_plural = _("memberships")
        constraints = [
            models.UniqueConstraint(fields=["person", "group"], name="kg_membership_unique")
        ]
        indexes = [models.Index(fields=["group"], name="kg_membership_group")]

    def __str__(self) -> str:
        return f"{self.person_id}:{self.group_id}"


class Contact(models.Model):
    """One contact with a person: how, what was found, by whom."""

    # Led by the (person, date) index of Meta: no index of its own.
    person = models.ForeignKey(
        Person, on_delete=models.CASCADE, related_name="contacts", db_index=False
    )
    date = models.DateField(_("date"))
    method = models.CharField(_("method"), max_length=10, choices=ContactMethod.choices)
    status = models.CharField(_("status"), max_length=12, choices=ContactStatus.choices)
    spo2 = models.PositiveSmallIntegerField(_("SpO₂ (%)"), null=True, blank=True)
    note = models.CharField(_("note"), max_length=200, blank=True, default="")
    responsible = models.ForeignKey(
        Responsible, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("contact")
        verbose_name_plural = _("contacts")
        indexes = [models.Index(fields=["person", "date"], name="kg_contact_person_date")]

    def __str__(self) -> str:
        return f"{self.person_id} {self.date} {self.status}"


class Referral(models.Model):
    """A referral to the township health centre or the county hospital, and its outcome."""

    person = models.ForeignKey(Person, on_delete=models.CASCADE, related_name="referrals")
    contact = models.ForeignKey(
        Contact, null=True, blank=True, on_delete=models.SET_NULL, related_name="referrals"
    )
    date = models.DateField(_("date"))
    destination = models.CharField(_("destination"), max_length=24, choices=Destination.choices)
    reason = models.CharField(_("reason"), max_length=10, choices=ReferralReason.choices)
    outcome = models.CharField(
        _("outcome"),
        max_length=12,
        choices=ReferralOutcome.choices,
        default=ReferralOutcome.PENDING,
    )
    outcome_date = models.DateField(_("outcome date"), null=True, blank=True)
    note = models.CharField(_("note"), max_length=200, blank=True, default="")

    class Meta:
        verbose_name = _("referral")
        verbose_name_plural = _("referrals")
        indexes = [models.Index(fields=["outcome", "date"], name="kg_referral_outcome")]

    def __str__(self) -> str:
        return f"{self.person_id} {self.date} {self.destination}"


class ExpectedCount(models.Model):
    """How many people of a group an area should have, from an outside source."""

    area = models.ForeignKey(Area, on_delete=models.CASCADE, related_name="+")
    group = models.ForeignKey(KeyGroup, on_delete=models.CASCADE, related_name="+")
    source = models.CharField(_("source"), max_length=16, choices=ExpectedSource.choices)
    count = models.PositiveIntegerField(_("expected count"))
    as_of = models.DateField(_("as of"), null=True, blank=True)

    class Meta:
        verbose_name = _("expected count")
        verbose_name_plural = _("expected counts")
        constraints = [
            models.UniqueConstraint(fields=["area", "group", "source"], name="kg_expected_unique")
        ]

    def __str__(self) -> str:
        return f"{self.area_id} {self.group_id}={self.count}"


class AccessLog(models.Model):
    """One read of person-level data: who, which person (or how many), when, why."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    person = models.ForeignKey(
        Person, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    area_code = models.CharField(_("area"), max_length=12, blank=True, default="")
    n_persons = models.PositiveIntegerField(_("persons read"), default=1)
    purpose = models.CharField(_("purpose"), max_length=60)
    at = models.DateTimeField(_("at"), default=timezone.now, db_index=True)

    class Meta:
        verbose_name = _("access log entry")
        verbose_name_plural = _("access log")
        indexes = [models.Index(fields=["person", "at"], name="kg_accesslog_person")]

    def __str__(self) -> str:
        return f"{self.user_id} {self.purpose} {self.at:%Y-%m-%d %H:%M}"
