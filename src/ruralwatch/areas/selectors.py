"""Reads of the area tree shared by the pages and the API."""

from __future__ import annotations

from django.db.models import Count, Max, Min, Q

from ruralwatch.areas.geometry import TOLERANCES
from ruralwatch.areas.models import Area, AreaShape


def breadcrumb(area: Area, within: Area | None) -> list[Area]:
    """The ancestors of ``area`` from the top down, not above ``within`` (None: no bound)."""
    codes = [c for c in area.path.strip("/").split("/") if c and c != area.code]
    if not codes:
        return []
    ancestors = Area.objects.filter(code__in=codes)
    if within is not None:
        ancestors = ancestors.filter(path__startswith=within.path)
    return list(ancestors.order_by("level"))


#: Width in pixels a map is drawn at, for choosing the detail of the shapes.
MAP_PIXELS = 800
_SHAPE_FIELDS = ("geometry", "lod1", "lod2", "lod3", "lod4")


def child_shape_counts(area: Area) -> tuple[int, int]:
    """(children with a shape, of which derived from points), in one query."""
    got = AreaShape.objects.filter(area__parent_id=area.code).aggregate(
        n=Count("area_id"), derived=Count("area_id", filter=Q(derived=True))
    )
    return int(got["n"] or 0), int(got["derived"] or 0)


def child_shapes(area: Area, pixels: int = MAP_PIXELS) -> list[tuple[str, bool, str]]:
    """(code, derived, GeoJSON text) of the children of ``area`` that have a shape, in the
    stored variant whose simplification stays under about a pixel of a map ``pixels`` wide
    showing all of them (two queries)."""
    shapes = AreaShape.objects.filter(area__parent_id=area.code)
    box = shapes.aggregate(
        x0=Min("min_lon"), y0=Min("min_lat"), x1=Max("max_lon"), y1=Max("max_lat")
    )
    if box["x0"] is None:
        return []
    span = max(box["x1"] - box["x0"], box["y1"] - box["y0"])
    target = span / pixels
    k = max(i for i, tol in enumerate(TOLERANCES) if tol <= target)
    return list(shapes.order_by("area_id").values_list("area_id", "derived", _SHAPE_FIELDS[k]))
