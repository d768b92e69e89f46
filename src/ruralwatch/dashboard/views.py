"""Dashboard pages. Views parse the request, call one selector and render."""

from __future__ import annotations

import datetime as dt
import hashlib
from functools import lru_cache
from pathlib import Path
from typing import Any

import vl_convert
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.cache import patch_vary_headers
from django.utils.translation import get_language
from django.views.decorators.http import require_GET

from ruralwatch.accounts import access
from ruralwatch.areas.models import Area
from ruralwatch.core.dates import request_day
from ruralwatch.dashboard import charts
from ruralwatch.dashboard.selectors import AreaOverview, area_overview, top_areas

PAGE_SCRIPT = Path(__file__).parent / "js" / "dashboard.js"


def _parse_date(request: HttpRequest) -> dt.date | None:
    """``?date=`` if it is an ISO day within the span a request may name (else the default:
    a date near year 1 would overflow the page's date windows)."""
    return request_day(request.GET.get("date", ""))


def _area_url(code: str) -> str:
    return reverse("dashboard:area", args=[code])


def _render_area(request: HttpRequest, area: Area) -> HttpResponse:
    overview = area_overview(
        area, within=access.jurisdiction(request.user), date=_parse_date(request)
    )
    response = render(
        request,
        "dashboard/_area.html" if request.htmx else "dashboard/area.html",  # type: ignore[attr-defined]
        _area_context(overview),
    )
    patch_vary_headers(response, ["HX-Request"])
    return response


def _area_context(overview: AreaOverview) -> dict[str, Any]:
    indicator = overview.indicator
    if indicator is None:
        indicator_name = ""
    else:
        indicator_name = indicator.name_zh if get_language().startswith("zh") else indicator.name_en
    return {
        "o": overview,
        "area": overview.area,
        "indicator_name": indicator_name,
        "children_spec": charts.children_chart(
            overview.map_points if overview.maps_villages else overview.children,
            _area_url,
            overview.maps_villages or overview.children_have_coordinates,
        ),
        "curve_spec": charts.epicurve(overview.series),
        "judgement_text": overview.judgement.text(get_language()) if overview.judgement else "",
    }


@login_required
@require_GET
def home(request: HttpRequest) -> HttpResponse:
    """The user's jurisdiction; for users who see everything, the single root or a list."""
    root = access.jurisdiction(request.user)
    if root is not None:
        return _render_area(request, root)
    if not access.sees_everything(request.user):
        return render(request, "dashboard/no_access.html", status=403)
    roots = top_areas()
    if len(roots) == 1:
        return _render_area(request, roots[0])
    return render(request, "dashboard/roots.html", {"roots": roots})


@login_required
@require_GET
def area_detail(request: HttpRequest, code: str) -> HttpResponse:
    return _render_area(request, access.access_area_by_code(request.user, code))


@lru_cache(maxsize=1)
def _bundle() -> tuple[bytes, str]:
    body = vl_convert.javascript_bundle(PAGE_SCRIPT.read_text(encoding="utf-8")).encode("utf-8")
    return body, '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


@require_GET
def vega_bundle(request: HttpRequest) -> HttpResponse:
    """vega, vega-lite and vega-embed (from vl-convert) plus the page script, as one module.

    Built once per process and kept in memory; no CDN.
    """
    body, etag = _bundle()
    if request.headers.get("If-None-Match") == etag:
        response = HttpResponse(status=304)
    else:
        response = HttpResponse(body, content_type="text/javascript; charset=utf-8")
    response["ETag"] = etag
    response["Cache-Control"] = "public, max-age=86400"
    return response
