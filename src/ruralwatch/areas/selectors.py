"""Reads of the area tree shared by the pages and the API."""

from __future__ import annotations

from django.db.models import Count, Max, Min, Q

from ruralwatch.areas.geometry import TOLERANCES
from ruralwatch.areas.models import SIGNIFICANT, Area, AreaShape


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


def code_range(path: str) -> tuple[str, str] | None:
    """The range of codes the areas under ``path`` (the area itself included) can have; None
    for the whole tree (``"/"``).

    A fact table keyed by area code (values, roll-ups, submissions, judgements: their unique
    key leads with the area) reads a subtree as one range of that key when a query bounds its
    area column by this range, besides joining the areas on their path. Without it a
    province's read scanned the whole national table, once per province: the nation's
    validate step read the 13 GB of values 31 times (`docs/national-scale.md`). The area
    import makes every code 12 digits that start with the digits of its parent's level
    (``SIGNIFICANT``), so a subtree's codes lie between its root's digits followed by zeros and
    by nines, and equal-length digit strings sort alike in every collation. No query: the
    range comes from the path (its depth is the root's level, as levels are never skipped).
    The path filter stays in the queries, so the answer never depends on the range."""
    codes = path.strip("/").split("/")
    digits = SIGNIFICANT.get(len(codes))
    root = codes[-1]
    if path == "/" or digits is None or len(root) != 12 or not root.isdigit():
        return None
    head = root[:digits]
    return head + "0" * (12 - digits), head + "9" * (12 - digits)


def code_between(path: str, code: str) -> tuple[str, list[str]]:
    """`` AND <code> BETWEEN lo AND hi`` for the subtree of ``path`` (:func:`code_range`;
    ``code`` is a fact table's area column, ``"v.area_id"``), to add to a query that already
    restricts its areas by path. Empty for the whole tree."""
    bounds = code_range(path)
    if bounds is None:
        return "", []
    return f" AND {code} BETWEEN %s AND %s", list(bounds)


def code_range_q(path: str, area: str = "area") -> Q:
    """The ORM form of :func:`code_between`: the code of ``area`` (a model's foreign key to
    the areas, compared on the key's own column, with no join) within the subtree's range,
    to add to a filter that already restricts the areas by path; an empty ``Q`` for the
    whole tree. A page's read of signals or flags under a county filtered the window's rows
    of the whole nation by path (140,000 signals of a week: 0.56 s for the 20 of one
    county); bounded, the area column's index reads the county's."""
    bounds = code_range(path)
    return Q() if bounds is None else Q(**{f"{area}__code__range": bounds})


def subtree_q(path: str, area: str = "area") -> Q:
    """The rows whose ``area`` (a model's foreign key to the areas) lies under ``path``: the
    path, and the code range that lets the model's area-leading index read the subtree alone
    (:func:`code_range_q`); the ORM form of :func:`subtree_sql`."""
    return code_range_q(path, area) & Q(**{f"{area}__path__startswith": path})


def subtree_sql(path: str, area: str, code: str) -> tuple[str, list[str]]:
    """`` AND <area>.path LIKE … AND <code> BETWEEN lo AND hi``: the subtree of ``path`` for a
    fact table joined to the areas (alias ``area``) on its area column ``code``
    (:func:`code_between`). Empty for the whole tree."""
    if path == "/":
        return "", []
    between, bounds = code_between(path, code)
    return f" AND {area}.path LIKE %s{between}", [path + "%", *bounds]
