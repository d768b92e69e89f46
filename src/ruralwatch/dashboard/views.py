"""Dashboard pages. Views parse the request, call one selector and render."""

from __future__ import annotations

import datetime as dt
import hashlib
from functools import lru_cache, partial
from pathlib import Path
from typing import Any

import vl_convert
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.cache import patch_vary_headers
from django.utils.http import urlencode
from django.utils.safestring import mark_safe
from django.utils.translation import get_language
from django.views.decorators.http import require_GET

from ruralwatch.accounts import access
from ruralwatch.areas.models import Area
from ruralwatch.assessments.selectors import nowcast_band
from ruralwatch.core import asof, export
from ruralwatch.core.i18n import localized
from ruralwatch.dashboard import charts, datacache, multiples, panels, tables
from ruralwatch.dashboard.evidence import evidence_blocks
from ruralwatch.dashboard.selectors import (
    CASES,
    AreaOverview,
    area_overview,
    nation,
    top_areas,
)
from ruralwatch.dispatch.evidence import method_name

PAGE_SCRIPT = Path(__file__).parent / "js" / "dashboard.js"


def _parse_date(request: HttpRequest) -> dt.date | None:
    """The day the user chose (``?date=``, remembered in the session: :mod:`core.asof`), or
    ``None`` for the latest date with data."""
    return asof.chosen(request)


def _area_url(code: str) -> str:
    """An area's page; the national overview (code ``""``) is the home page."""
    return reverse("dashboard:area", args=[code]) if code else reverse("dashboard:home")


def _page_number(request: HttpRequest) -> int:
    raw = request.GET.get("page", "1")
    return int(raw) if raw.isdigit() and len(raw) < 7 else 1


def _render_area(request: HttpRequest, area: Area) -> HttpResponse:
    within = access.jurisdiction(request.user)
    chosen = _parse_date(request)
    latest = asof.latest(request, datacache.latest_finder(request))
    indicator = request.GET.get("indicator", CASES)

    def overview() -> AreaOverview:
        return area_overview(
            area,
            within=within,
            date=chosen,
            indicator_code=indicator,
            latest=latest,
        )

    fmt = request.GET.get("format")
    if export.is_export(fmt):
        return _export(overview(), request.GET.get("table", "children"), fmt)
    # The page's own fragment is the same for every user who may open the area from the same
    # jurisdiction (the breadcrumb starts there) and asks the same query: kept per data
    # version. The frame around it (user name, CSRF tokens, inbox badge) is rendered anew.
    fragment = datacache.cached(
        "area",
        datacache.request_version(request),
        (
            area.code,
            within.code if within is not None else None,
            get_language(),
            chosen,
            sorted((k, tuple(request.GET.getlist(k))) for k in _PAGE_PARAMS if k in request.GET),
        ),
        # Rendered without the request: no user, CSRF token or context processor can get
        # into what other users are served.
        lambda: render_to_string("dashboard/_area.html", _area_context(request, overview())),
    )
    if request.htmx:  # type: ignore[attr-defined]
        response = HttpResponse(fragment)
    else:
        response = render(
            request, "dashboard/area.html", {"area": area, "area_html": mark_safe(fragment)}
        )
    patch_vary_headers(response, ["HX-Request"])
    return response


def _export(overview: AreaOverview, table: str, fmt: str | None) -> HttpResponse:
    """A table of the page as XLSX or CSV, every row (not one page), the page's headers."""
    day = overview.date.isoformat() if overview.date else ""
    stem = "-".join(p for p in (overview.area.name, overview.area.code, day) if p)
    if table == "signals":
        rows = tables.signal_rows(overview.signals, method_name)
        return export.export_response(fmt, rows, tables.signal_columns(), f"{stem}-signals")
    if table == "completeness":
        return export.export_response(
            fmt, overview.completeness, tables.completeness_columns(), f"{stem}-completeness"
        )
    rows = tables.sort_rows(tables.decorate(overview.children), "incidence", True)
    return export.export_response(fmt, rows, tables.children_columns(), stem)


#: The query parameters the area page's fragment depends on (besides the chosen day).
_PAGE_PARAMS = ("date", "indicator", "sort", "dir", "page")


def _query(request: HttpRequest, **changes: Any) -> str:
    """The page's query string with ``changes`` (``None`` drops a key); the date only if the
    user chose one, the indicator only if not the default."""
    params: dict[str, str] = {
        k: str(v) for k, v in request.GET.items() if k in ("date", "indicator", "sort", "dir")
    }
    for key, value in changes.items():
        if value is None:
            params.pop(key, None)
        else:
            params[key] = str(value)
    if params.get("indicator") == CASES:
        params.pop("indicator")
    return "?" + urlencode(params) if params else ""


def _area_context(request: HttpRequest, overview: AreaOverview) -> dict[str, Any]:
    indicator = overview.indicator
    indicator_name = "" if indicator is None else localized(indicator, "name")
    sort = request.GET.get("sort", "incidence")
    descending = request.GET.get("dir", "desc" if sort != "name" else "asc") != "asc"
    page = tables.page_of(
        tables.decorate(overview.children),
        sort=sort,
        descending=descending,
        number=_page_number(request),
    )
    headers = []
    for column in tables.children_columns():
        key = column.key
        if key in tables.SORTABLE:
            active = page.sort == key
            flip = "asc" if active and page.descending else "desc"
            if not active and key in ("name", "code"):
                flip = "asc"
            headers.append(
                {
                    "key": key,
                    "label": column.label,
                    "url": _query(request, sort=key, dir=flip, page=None),
                    "active": active,
                    "aria": ("descending" if page.descending else "ascending")
                    if active
                    else "none",
                }
            )
        else:
            headers.append({"key": key, "label": column.label, "url": "", "active": False})
    link_query = _query(request, sort=None, dir=None, page=None)
    return {
        "o": overview,
        "area": overview.area,
        "page_url": _area_url(overview.area.code),
        # Set by the template's flag and map tags; the national overview has neither.
        "fl": None,
        "map": None,
        "indicator_name": indicator_name,
        "indicator_unit": localized(indicator, "unit") if indicator else "",
        "chosen_date": asof.chosen(request),
        "q": link_query,
        "page": page,
        "headers": headers,
        "prev_url": _query(request, page=page.number - 1) if page.number > 1 else "",
        "next_url": _query(request, page=page.number + 1) if page.number < page.pages else "",
        "export_query": _query(request, page=None),
        # Built only if the template draws it (the children have no shapes): the template
        # calls a callable, and the map of shapes replaces this chart.
        "children_spec": partial(
            charts.children_chart,
            overview.map_points if overview.maps_villages else overview.children,
            _area_url,
            overview.maps_villages or overview.children_have_coordinates,
        )
        if not overview.no_data
        else None,
        "curve_spec": charts.epicurve(
            overview.series,
            indicator_name or None,
            # The nowcast is the judgement's, of new cases: not drawn on another indicator.
            band=()
            if overview.judgement_is_stale or (indicator and indicator.code != CASES)
            else nowcast_band(overview.judgement),
        ),
        "multiples_spec": multiples.small_multiples(overview.child_series, indicator_name),
        "judgement_text": overview.judgement.text(get_language()) if overview.judgement else "",
        "evidence": evidence_blocks(overview.judgement.evidence) if overview.judgement else [],
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
    if roots:
        return _render_area(request, nation())
    return render(request, "dashboard/roots.html", {"roots": roots})


@login_required
@require_GET
def area_detail(request: HttpRequest, code: str) -> HttpResponse:
    return _render_area(request, access.access_area_by_code(request.user, code))


@login_required
@require_GET
def area_panels(request: HttpRequest, code: str) -> HttpResponse:
    """The resources and key-area panels of an area page on its "as of" day, as a fragment
    the page fetches after it is shown (they cost more than the page itself)."""
    area = access.access_area_by_code(request.user, code)
    day = asof.page_date(request, datacache.latest_finder(request))
    chosen = asof.chosen(request)

    def fragment() -> str:
        context = {
            "area": area,
            "day": day,
            "q": asof.query(chosen),
            "res": panels.resources_panel(area, day),
            "ka": panels.keyareas_panel(area, day),
        }
        return render_to_string("dashboard/_panels.html", context)  # no user bit (see above)

    body = datacache.cached(
        "panels",
        datacache.request_version(request),
        (area.code, day, chosen, get_language()),
        fragment,
    )
    response = HttpResponse(body)
    patch_vary_headers(response, ["Cookie"])
    return response


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
