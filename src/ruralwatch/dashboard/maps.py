"""The choropleth of an area's children: its data (one GeoJSON feature per child, carrying
five measures) and the view that serves it.

The page embeds one Vega-Lite spec per measure (:func:`ruralwatch.dashboard.charts.choropleth`),
all reading the same data URL, so switching the measure costs no second download. Shapes come
from :func:`ruralwatch.areas.selectors.child_shapes` at the detail the map needs; the measures
from the reporting, assessment and key-group selectors.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.urls import reverse
from django.utils.cache import patch_vary_headers
from django.utils.http import urlencode
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from ruralwatch.accounts import access
from ruralwatch.areas.models import Area, Level
from ruralwatch.areas.selectors import child_shape_counts, child_shapes
from ruralwatch.assessments.models import LEVEL_LABELS, Judgement
from ruralwatch.core.dates import request_day
from ruralwatch.dashboard import datacache
from ruralwatch.keygroups.selectors import coverage
from ruralwatch.reporting import selectors as reporting
from ruralwatch.reporting.models import Indicator

CASES = "new_cases"
WINDOW_DAYS = 7
MEASURES = ("incidence", "change", "level", "completeness", "coverage")


def measure_labels() -> dict[str, str]:
    """The measures a map can show, in the active language."""
    return {
        "incidence": _("Incidence per 100,000, 7 days"),
        "change": _("Change against the previous 7 days"),
        "level": _("Judged epidemic level"),
        "completeness": _("Reporting completeness"),
        "coverage": _("Key-group contact coverage"),
    }


def _pct(x: float | None, digits: int = 1) -> float | None:
    return None if x is None else round(100 * x, digits)


def _judged_levels(area: Area, indicator: str, date: dt.date) -> dict[str, str]:
    """The latest judged level of each child on or before ``date`` (one query)."""
    levels: dict[str, str] = {}
    for code, level in (
        Judgement.objects.filter(area__parent_id=area.code, indicator_id=indicator, date__lte=date)
        .order_by("area_id", "date")
        .values_list("area_id", "level")
    ):
        levels[code] = level
    return levels


def map_features(
    area: Area, date: dt.date | None, indicator: str, url_for: Callable[[str], str]
) -> str:
    """A GeoJSON FeatureCollection (as text) of the children of ``area`` that have a shape.

    Each feature's properties: code, name, derived, incidence (per 100,000 over the 7 days to
    ``date``), cases, change (per cent against the 7 days before), level and level_label (the
    latest judgement), completeness and coverage (per cent, on ``date``); ``None`` where
    there is no data. ``url`` (a GeoJSON foreign member, so the map's click finds it on the
    datum) opens the child. The stored geometry text is spliced in, not parsed again.
    """
    shapes = child_shapes(area)
    if not shapes:
        return '{"type":"FeatureCollection","features":[]}'
    children = {
        c: (name, lon, lat)
        for c, name, lon, lat in Area.objects.filter(parent_id=area.code).values_list(
            "code", "name", "lon", "lat"
        )
    }
    now: dict[str, dict[str, Any]] = {}
    before: dict[str, dict[str, Any]] = {}
    levels: dict[str, str] = {}
    cover: dict[str, Any] = {}
    if date is not None:
        now = {r["code"]: r for r in reporting.children_incidence(area, indicator, date)}
        earlier = date - dt.timedelta(days=WINDOW_DAYS)
        before = {r["code"]: r for r in reporting.children_incidence(area, indicator, earlier)}
        levels = _judged_levels(area, indicator, date)
        if area.level < Level.VILLAGE:
            cover = {r["area"]: r["coverage"] for r in coverage(area.path, date, area.level + 1)}
    parts = []
    for code, derived, text in shapes:
        cur, old = now.get(code, {}), before.get(code, {})
        cases, prev = cur.get("cases"), old.get("cases")
        change = None
        if cases is not None and prev:
            change = round(100 * (cases - prev) / prev, 1)
        level = levels.get(code)
        inc = cur.get("incidence")
        props = {
            "code": code,
            "name": children.get(code, (code,))[0],
            # The label's place: the area's own point (inside a derived cell by construction).
            "lon": children.get(code, (None, None))[1],
            "lat": children.get(code, (None, None, None))[2],
            "derived": derived,
            "incidence": None if inc is None else round(inc, 1),
            "cases": cases,
            "change": change,
            "level": level,
            "level_label": str(LEVEL_LABELS.get(level, "")) if level else None,
            "completeness": _pct(cur.get("completeness")),
            "coverage": _pct(cover.get(code)),
        }
        parts.append(
            '{"type":"Feature","url":'
            + json.dumps(url_for(code))
            + ',"properties":'
            + json.dumps(props, ensure_ascii=False, separators=(",", ":"))
            + ',"geometry":'
            + text
            + "}"
        )
    return '{"type":"FeatureCollection","features":[' + ",".join(parts) + "]}"


def _indicator(request: HttpRequest) -> str:
    code = request.GET.get("indicator") or CASES
    if not Indicator.objects.filter(code=code).exists():
        raise Http404
    return code


def _query(date: dt.date | None, indicator: str) -> str:
    params = {}
    if date is not None:
        params["date"] = date.isoformat()
    if indicator != CASES:
        params["indicator"] = indicator
    return ("?" + urlencode(params)) if params else ""


def map_context(area: Area, date: dt.date | None, indicator: str) -> dict[str, Any] | None:
    """What the map card (``dashboard/_map.html``) shows: ``None`` if no child has a shape."""
    from ruralwatch.dashboard import charts

    n, derived = child_shape_counts(area)
    if not n:
        return None
    q = _query(date, indicator)
    url = reverse("dashboard:map_data", args=[area.code]) + q
    labels = measure_labels()
    return {
        "measures": list(labels.items()),
        "specs": {m: charts.choropleth(url, m, labels[m], with_labels=n <= 20) for m in MEASURES},
        "shapes": n,
        "derived": derived,
        "child_level": Level(area.level + 1).label if area.level < Level.VILLAGE else "",
    }


@login_required
@require_GET
def map_data(request: HttpRequest, code: str) -> HttpResponse:
    """The children's features (GeoJSON) for ``?date=`` (default: the latest date with data)
    and ``?indicator=``; the same error for an area that is missing or out of reach."""
    area = access.access_area_by_code(request.user, code)
    indicator = _indicator(request)
    date = request_day(request.GET.get("date", "")) or datacache.latest_finder(request)()
    q = _query(date, indicator)

    def url_for(child: str) -> str:
        return reverse("dashboard:area", args=[child]) + q

    # The same for every user who may see the area: kept per data version (datacache).
    body = datacache.cached(
        "map",
        datacache.request_version(request),
        (area.code, date, indicator, get_language()),
        lambda: map_features(area, date, indicator, url_for),
    )
    response = HttpResponse(body, content_type="application/geo+json; charset=utf-8")
    response["Cache-Control"] = "private, max-age=60"
    patch_vary_headers(response, ["Cookie"])
    return response
