"""The org-unit tree: five administrative levels from province to village."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from ruralwatch.core.fields import CodeField


class Level(models.IntegerChoices):
    PROVINCE = 1, _("province")
    PREFECTURE = 2, _("prefecture")
    COUNTY = 3, _("county")
    TOWNSHIP = 4, _("township")
    VILLAGE = 5, _("village")


#: Digits of a statistical code that name the unit at each level (GB/T 2260 + NBS 12-digit
#: codes): province 2, prefecture 4, county 6, township 9, village 12. A child's code starts
#: with its parent's digits; the digits of its own level are never all zero.
SIGNIFICANT = {1: 2, 2: 4, 3: 6, 4: 9, 5: 12}


KEY_AREA_TAGS: dict[str, str] = {
    "mountain": _("remote mountain area"),  # type: ignore[dict-item]
    "pastoral": _("pastoral area"),  # type: ignore[dict-item]
    "forest": _("forest area"),  # type: ignore[dict-item]
    "island": _("island"),  # type: ignore[dict-item]
}


class Area(models.Model):
    """One administrative unit.

    ``code`` is the 12-digit statistical code and the primary key, so fact tables carry it
    directly. ``path`` is the materialized path of codes from the root (``/code1/code2/…/``),
    written only by :mod:`ruralwatch.areas.services`; a subtree is one range scan on it.
    ``l1``…``l5`` are the flattened ancestor codes (the unit itself at its own level), so
    roll-ups are GROUP BYs.
    """

    code = CodeField(_("code"), max_length=12, primary_key=True)
    name = models.CharField(_("name"), max_length=100)
    level = models.PositiveSmallIntegerField(_("level"), choices=Level.choices, db_index=True)
    parent = models.ForeignKey(
        "self",
        verbose_name=_("parent"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="children",
    )
    path = CodeField(_("materialized path"), max_length=80, db_index=True)
    l1 = CodeField(max_length=12, blank=True, default="")
    l2 = CodeField(max_length=12, blank=True, default="")
    l3 = CodeField(max_length=12, blank=True, default="")
    l4 = CodeField(max_length=12, blank=True, default="")
    l5 = CodeField(max_length=12, blank=True, default="")
    urban_rural = models.CharField(_("urban-rural class"), max_length=3, blank=True, default="")
    virtual = models.BooleanField(_("placeholder unit"), default=False)
    population = models.PositiveIntegerField(_("population"), null=True, blank=True)
    population_65plus = models.PositiveIntegerField(_("population aged 65+"), null=True, blank=True)
    key_areas = models.CharField(
        _("key-area tags"),
        max_length=40,
        blank=True,
        default="",
        help_text=_("Comma-separated: mountain, pastoral, forest, island."),
    )
    lon = models.FloatField(_("longitude"), null=True, blank=True)
    lat = models.FloatField(_("latitude"), null=True, blank=True)
    valid_from = models.DateField(_("valid from"), null=True, blank=True)
    valid_to = models.DateField(_("valid to"), null=True, blank=True)

    class Meta:
        verbose_name = _("area")
        verbose_name_plural = _("areas")
        ordering = ["code"]
        indexes = [
            models.Index(
                fields=["path"], name="area_path_pattern", opclasses=["varchar_pattern_ops"]
            ),
            models.Index(fields=["l3", "level"], name="area_county_level"),
            models.Index(fields=["l4", "level"], name="area_township_level"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.code})"

    @property
    def is_rural(self) -> bool:
        return self.urban_rural.startswith("2")

    @property
    def key_area_list(self) -> list[str]:
        return [t for t in self.key_areas.split(",") if t]


class AreaShape(models.Model):
    """The boundary of an area, as imported (``derived`` false) or derived from points.

    ``geometry`` is a GeoJSON MultiPolygon (coordinates rounded to 5 decimals); ``lod1``…
    ``lod4`` hold the same shape simplified for smaller maps (tolerances in
    :data:`ruralwatch.areas.geometry.TOLERANCES`). A derived shape is the Voronoi cell of the
    area's point among its siblings, cut to the parent's shape; maps say so.
    """

    area = models.OneToOneField(
        Area, on_delete=models.CASCADE, primary_key=True, related_name="shape"
    )
    derived = models.BooleanField(_("derived from points"), default=False)
    source = models.CharField(_("source"), max_length=200, blank=True, default="")
    min_lon = models.FloatField()
    min_lat = models.FloatField()
    max_lon = models.FloatField()
    max_lat = models.FloatField()
    vertices = models.PositiveIntegerField(default=0)
    geometry = models.TextField(_("boundary (GeoJSON)"))
    lod1 = models.TextField(blank=True, default="")
    lod2 = models.TextField(blank=True, default="")
    lod3 = models.TextField(blank=True, default="")
    lod4 = models.TextField(blank=True, default="")

    class Meta:
        verbose_name = _("area boundary")
        verbose_name_plural = _("area boundaries")

    def __str__(self) -> str:
        return f"{self.area_id} ({'derived' if self.derived else self.source})"
