"""Resources sunk to the grassroots: facilities and their capacity over time, supply items,
stock reports and the policy minimums (rules, as data).

- :class:`Facility` — a township health centre, village clinic, county hospital or nursing
  home, placed in an area (the township, village or county it serves).
- :class:`Capacity` — what a facility can do *as of a date* (fever clinic and its hours, beds,
  ICU beds, oxygen, doctors, nurses, ambulances). Rows are never overwritten by a later date:
  the capacity on a day is the latest row on or before it, so history is kept.
- :class:`Item` — a supply item (antipyretics, antigen kits, pulse oximeters, oxygen
  concentrators, health packs): unit, pack size, whether it is consumed, and how much of it a
  fever-clinic visit uses (for the days of supply from the assessed demand).
- :class:`StockReport` — a facility's stock of an item on a date: on hand at the end of the
  day, received and issued since its previous report.
- :class:`MinimumRule` — a policy minimum for a kind of facility and an item: a number of
  units, a share of the population served, or days of supply (DOMAIN.md; docs/resources.md).
- :class:`CountyPairing` — a county paired with an urban hospital of level 2 or above (城乡对口
  支援, 分区包片) from a date, with the beds the hospital keeps for the county's referrals.
- :class:`Transfer` — the patients referred on one day along one route of the referral
  network (village clinic → township health centre → county hospital → paired hospital), of
  whom severe and of whom through the green channel (docs/resources.md, Referral network).
"""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from ruralwatch.areas.models import Area
from ruralwatch.core.i18n import localized


class FacilityKind(models.TextChoices):
    TOWNSHIP_HEALTH_CENTRE = "township_health_centre", _("township health centre")
    VILLAGE_CLINIC = "village_clinic", _("village clinic")
    COUNTY_HOSPITAL = "county_hospital", _("county hospital")
    NURSING_HOME = "nursing_home", _("nursing home")
    URBAN_HOSPITAL = "urban_hospital", _("urban hospital")


class Facility(models.Model):
    """A place that treats, stocks or houses people, in the area it serves."""

    code = models.CharField(_("code"), max_length=40, primary_key=True)
    name = models.CharField(_("name"), max_length=100)
    kind = models.CharField(_("kind"), max_length=30, choices=FacilityKind.choices)
    area = models.ForeignKey(
        Area, verbose_name=_("area"), on_delete=models.CASCADE, related_name="facilities"
    )
    population_served = models.PositiveIntegerField(
        _("population served"),
        null=True,
        blank=True,
        help_text=_("Empty: the population of the facility's area."),
    )
    active = models.BooleanField(_("active"), default=True)
    grade = models.PositiveSmallIntegerField(
        _("hospital grade"),
        null=True,
        blank=True,
        help_text=_(
            "1, 2 or 3 (一级, 二级, 三级); an urban hospital paired with counties is 2 or 3."
        ),
    )

    class Meta:
        verbose_name = _("facility")
        verbose_name_plural = _("facilities")
        indexes = [models.Index(fields=["kind", "area"], name="res_facility_kind_area")]

    def __str__(self) -> str:
        return f"{self.code} {self.name}"


class Capacity(models.Model):
    """What a facility can do as of a date (the latest row on or before a day applies)."""

    facility = models.ForeignKey(Facility, on_delete=models.CASCADE, related_name="capacities")
    as_of = models.DateField(_("as of"))
    fever_clinic = models.BooleanField(_("fever clinic"), default=False)
    fever_clinic_hours = models.PositiveSmallIntegerField(
        _("fever clinic hours a day"), null=True, blank=True
    )
    beds = models.PositiveIntegerField(_("beds"), null=True, blank=True)
    icu_beds = models.PositiveIntegerField(_("ICU beds"), null=True, blank=True)
    oxygen = models.BooleanField(_("oxygen supply"), default=False)
    doctors = models.PositiveIntegerField(_("doctors"), null=True, blank=True)
    nurses = models.PositiveIntegerField(_("nurses"), null=True, blank=True)
    ambulances = models.PositiveIntegerField(_("ambulances"), null=True, blank=True)

    class Meta:
        verbose_name = _("capacity")
        verbose_name_plural = _("capacities")
        constraints = [
            models.UniqueConstraint(fields=["facility", "as_of"], name="res_capacity_unique")
        ]

    def __str__(self) -> str:
        return f"{self.facility_id} @ {self.as_of}"


class Item(models.Model):
    """A supply item, as data (rows loaded by a migration, edited in the admin)."""

    code = models.CharField(_("code"), max_length=30, primary_key=True)
    name_zh = models.CharField(_("name (Chinese)"), max_length=60)
    name_en = models.CharField(_("name (English)"), max_length=120)
    unit_zh = models.CharField(_("unit (Chinese)"), max_length=10)
    unit_en = models.CharField(_("unit (English)"), max_length=20)
    pack_size = models.PositiveIntegerField(_("units per pack"), default=1)
    consumable = models.BooleanField(
        _("consumed"), default=True, help_text=_("Drugs and tests are consumed; devices are not.")
    )
    per_visit = models.FloatField(
        _("units per fever-clinic visit"),
        default=0.0,
        help_text=_("Assessed demand: units a fever-clinic visit uses (0: not demand-driven)."),
    )
    volume = models.FloatField(
        _("transport volume per unit"),
        default=1.0,
        help_text=_("In the units of a vehicle's load."),
    )
    order = models.PositiveSmallIntegerField(_("order"), default=0)

    class Meta:
        verbose_name = _("supply item")
        verbose_name_plural = _("supply items")
        ordering = ["order", "code"]

    def __str__(self) -> str:
        return f"{self.name_zh} / {self.name_en}"

    def name(self, language: str) -> str:
        return localized(self, "name", language)

    def unit(self, language: str) -> str:
        return localized(self, "unit", language)


class StockReport(models.Model):
    """A facility's stock of an item at the end of a date, with what moved since the last report."""

    facility = models.ForeignKey(Facility, on_delete=models.CASCADE, related_name="stock")
    item = models.ForeignKey(Item, on_delete=models.PROTECT)
    date = models.DateField(_("date"))
    on_hand = models.PositiveIntegerField(_("on hand"))
    received = models.PositiveIntegerField(_("received"), default=0)
    issued = models.PositiveIntegerField(_("issued"), default=0)

    class Meta:
        verbose_name = _("stock report")
        verbose_name_plural = _("stock reports")
        constraints = [
            models.UniqueConstraint(fields=["facility", "item", "date"], name="res_stock_unique")
        ]
        indexes = [models.Index(fields=["date", "item"], name="res_stock_date_item")]

    def __str__(self) -> str:
        return f"{self.facility_id} {self.item_id} {self.date}={self.on_hand}"


class MinimumRule(models.Model):
    """A policy minimum: a facility of ``facility_kind`` holds at least the largest of
    ``units``, ``population_share`` × the population it serves, and ``days`` × its daily
    consumption of ``item`` (each part optional)."""

    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="rules")
    facility_kind = models.CharField(
        _("facility kind"), max_length=30, choices=FacilityKind.choices
    )
    units = models.PositiveIntegerField(_("units at least"), null=True, blank=True)
    population_share = models.FloatField(_("share of the population served"), null=True, blank=True)
    days = models.FloatField(_("days of supply at least"), null=True, blank=True)
    source = models.CharField(_("source"), max_length=200, blank=True, default="")
    active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("minimum rule")
        verbose_name_plural = _("minimum rules")
        constraints = [
            models.UniqueConstraint(fields=["item", "facility_kind"], name="res_rule_unique")
        ]

    def __str__(self) -> str:
        return f"{self.item_id} @ {self.facility_kind}"


class CountyPairing(models.Model):
    """A county paired with an urban hospital (level 2 or above) from ``since`` until
    ``until`` (inclusive; empty: still paired). ``reserved_beds``: the beds the hospital keeps
    for the county's referrals (empty: none set, its own beds bound it); ``green_channel``: the
    county's severe cases may go to it directly, skipping the levels between."""

    county = models.ForeignKey(
        Area, verbose_name=_("county"), on_delete=models.CASCADE, related_name="+"
    )
    hospital = models.ForeignKey(
        Facility, verbose_name=_("urban hospital"), on_delete=models.CASCADE, related_name="+"
    )
    since = models.DateField(_("since"))
    until = models.DateField(_("until"), null=True, blank=True)
    reserved_beds = models.PositiveIntegerField(_("reserved beds"), null=True, blank=True)
    green_channel = models.BooleanField(_("green channel"), default=True)

    class Meta:
        verbose_name = _("county pairing")
        verbose_name_plural = _("county pairings")
        constraints = [
            models.UniqueConstraint(
                fields=["county", "hospital", "since"], name="res_pairing_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.county_id} ⇄ {self.hospital_id} ({self.since})"


class Transfer(models.Model):
    """Patients referred on ``date`` from ``source`` to ``target`` (one route of the
    network), of whom ``severe`` severe cases and ``green_channel`` sent through the green
    channel (a step that skips a level)."""

    date = models.DateField(_("date"))
    source = models.ForeignKey(
        Facility, verbose_name=_("from"), on_delete=models.CASCADE, related_name="+"
    )
    target = models.ForeignKey(
        Facility, verbose_name=_("to"), on_delete=models.CASCADE, related_name="+"
    )
    patients = models.PositiveIntegerField(_("patients"))
    severe = models.PositiveIntegerField(_("of whom severe"), default=0)
    green_channel = models.PositiveIntegerField(_("of whom by the green channel"), default=0)

    class Meta:
        verbose_name = _("referral transfer")
        verbose_name_plural = _("referral transfers")
        constraints = [
            models.UniqueConstraint(fields=["date", "source", "target"], name="res_transfer_unique")
        ]
        indexes = [models.Index(fields=["target", "date"], name="res_transfer_target")]

    def __str__(self) -> str:
        return f"{self.date} {self.source_id} → {self.target_id}: {self.patients}"
