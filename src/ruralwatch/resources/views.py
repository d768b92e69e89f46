"""Resources pages: the gap list of an area and the allocation of a shipment.

Views parse the request, fetch the area through :func:`ruralwatch.accounts.access.
access_area_by_code` (one 404 for missing and forbidden), call one selector and render.
Both pages export their table (``?format=xlsx`` or ``csv``) with the page's labels; the
allocation is also a printable dispatch list (``?format=pdf``, :mod:`ruralwatch.core.pdf`).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from ruralwatch.accounts import access as area_access
from ruralwatch.core import pdf
from ruralwatch.core.dates import request_day
from ruralwatch.core.export import Column, export_response, is_export
from ruralwatch.resources import selectors
from ruralwatch.resources.models import FacilityKind, Item

#: Rows a page shows (the export has them all).
PAGE_ROWS = 300
MAX_UNITS = 100_000_000


def _no_access(request: HttpRequest) -> HttpResponse:
    return render(request, "dashboard/no_access.html", status=403)


def _on(request: HttpRequest, path: str) -> dt.date:
    """``?date=`` (a day within the span) or the latest stock report under the area."""
    on = request_day(request.GET.get("date", ""))
    return on if on is not None else selectors.latest_stock_date(path)


@login_required
@require_GET
def home(request: HttpRequest) -> HttpResponse:
    root = area_access.jurisdiction(request.user)
    if root is not None:
        return redirect("resources:area", root.code)
    if not area_access.sees_everything(request.user):
        return _no_access(request)
    roots = list(area_access.scope_areas(request.user).filter(level=1).order_by("code"))
    if len(roots) == 1:
        return redirect("resources:area", roots[0].code)
    return render(request, "resources/roots.html", {"roots": roots})


def _item_names() -> dict[str, str]:
    lang = get_language() or "zh-hans"
    return {i.code: i.name(lang) for i in Item.objects.all()}


@login_required
@require_GET
def area(request: HttpRequest, code: str) -> HttpResponse:
    """Coverage gaps and stock below the minimums under an area, on a date."""
    place = area_access.access_area_by_code(request.user, code)
    on = _on(request, place.path)
    names = _item_names()
    stock = selectors.stock_gaps(place.path, on).to_dicts()
    for r in stock:
        r["item_name"] = names.get(r["item"], r["item"])
        r["status_label"] = selectors.status_label(r["status"])
    fmt = request.GET.get("format")
    if is_export(fmt):
        columns = [
            Column("township_name", _("Township")),
            Column("code", _("Facility code")),
            Column("name", _("Facility")),
            Column("item_name", _("Item")),
            Column("status_label", _("Status")),
            Column("on_hand", _("On hand")),
            Column("minimum", _("Minimum")),
            Column("days_consumption", _("Days of supply (consumption)"), "0.0"),
            Column("days_demand", _("Days of supply (assessed demand)"), "0.0"),
        ]
        return export_response(fmt, stock, columns, f"{place.name}-{on.isoformat()}-stock")
    capacity = selectors.capacity_gaps(place.path, on)
    for g in capacity:
        g["label"] = selectors.status_label(g["kind"])
    summary = selectors.resources_summary(place.path, on)
    by_item = [
        {"item": names.get(code, code), "statuses": statuses}
        for code, statuses in summary["status_by_item"].items()
    ]
    context: dict[str, Any] = {
        "area": place,
        "nav": "area",
        "on": on,
        "summary": summary,
        "by_item": by_item,
        "capacity": capacity[:PAGE_ROWS],
        "capacity_total": len(capacity),
        "stock": stock[:PAGE_ROWS],
        "stock_total": len(stock),
        "gap_labels": [(k, selectors.status_label(k)) for k in selectors.CAPACITY_GAPS],
    }
    return render(request, "resources/area.html", context)


def _supply(request: HttpRequest, items: list[Item]) -> tuple[dict[str, int], list[str]]:
    supply: dict[str, int] = {}
    errors: list[str] = []
    for item in items:
        text = request.GET.get(f"supply_{item.code}", "").strip()
        if not text:
            continue
        if not text.isdigit() or int(text) > MAX_UNITS:
            errors.append(
                _("%(item)s: the units must be a whole number from 0 to %(max)d")
                % {"item": item.name(get_language() or "zh-hans"), "max": MAX_UNITS}
            )
            continue
        if int(text) > 0:
            supply[item.code] = int(text)
    return supply, errors


@login_required
@require_GET
def allocate(request: HttpRequest, code: str) -> HttpResponse:
    """The allocation of a shipment arrived at an area, to the centres and clinics below it."""
    place = area_access.access_area_by_code(request.user, code)
    on = _on(request, place.path)
    items = list(Item.objects.all())
    supply, errors = _supply(request, items)
    mode = request.GET.get("mode", "weighted")
    if mode not in ("weighted", "maxmin"):
        mode = "weighted"
    transport: float | None = None
    text = request.GET.get("transport", "").strip()
    if text:
        try:
            transport = float(text)
            if not 0 < transport < 1e12:
                raise ValueError
        except ValueError:
            errors.append(_("The vehicle load must be a positive number."))
            transport = None
    result = None
    if supply and not errors:
        result = selectors.allocate(place, on, supply, mode=mode, transport=transport)
        names = _item_names()
        for r in result.rows:
            r["item_name"] = names.get(r["item"], r["item"])
    item_totals = (
        [
            {
                "name": _item_names().get(c, c),
                "supply": result.supply[c],
                "units": result.totals["units"][c],
                "need": result.totals["need"][c],
                "fill": result.totals["fill_rate"][c],
            }
            for c in result.items
        ]
        if result
        else []
    )
    fmt = request.GET.get("format")
    if result and (is_export(fmt) or fmt == "pdf"):
        rows = [r for r in result.rows if r["units"] > 0]
        columns = selectors.allocation_columns()
        columns[3] = Column("item_name", _("Item"))
        stem = f"{place.name}-{on.isoformat()}-allocation"
        if fmt == "pdf":
            return _dispatch_pdf(place, on, mode, result, item_totals, rows, columns, stem)
        return export_response(fmt, rows, columns, stem)
    lang = get_language() or "zh-hans"
    context: dict[str, Any] = {
        "area": place,
        "nav": "allocate",
        "on": on,
        "items": [
            {
                "code": i.code,
                "name": i.name(lang),
                "unit": i.unit(lang),
                "pack": i.pack_size,
                "value": request.GET.get(f"supply_{i.code}", ""),
            }
            for i in items
        ],
        "mode": mode,
        "transport": text,
        "errors": errors,
        "result": result,
        "rows": [r for r in result.rows if r["units"] > 0 or r["need"] > 0][:PAGE_ROWS]
        if result
        else [],
        "item_totals": item_totals,
        "query": request.GET.urlencode(),
    }
    return render(request, "resources/allocate.html", context)


def _cell(value: Any, column: Column) -> dict[str, Any]:
    """A dispatch-list value as the PDF prints it (numbers grouped, the fill rate in %)."""
    if value is None:
        return {"text": "—", "num": False}
    if isinstance(value, bool) or not isinstance(value, int | float):
        return {"text": str(value), "num": False}
    if column.number_format and column.number_format.endswith("%"):
        return {"text": f"{value:.0%}", "num": True}
    return {"text": f"{value:,}", "num": True}


def _dispatch_pdf(
    place: Any,
    on: dt.date,
    mode: str,
    result: Any,
    item_totals: list[dict[str, Any]],
    rows: list[dict[str, Any]],
    columns: list[Column],
    stem: str,
) -> HttpResponse:
    """The allocation as a printable dispatch list (A4 PDF, in the session's language): the
    shipment's totals, then every facility and item that gets units, with the page's columns."""
    cells = [[_cell(r.get(c.key), c) for c in columns] for r in rows]
    head = [
        {"label": c.label, "num": any(row[i]["num"] for row in cells)}
        for i, c in enumerate(columns)
    ]
    html = render_to_string(
        "resources/dispatch_list_pdf.html",
        {
            "area": place,
            "on": on,
            "mode": mode,
            "result": result,
            "item_totals": item_totals,
            "columns": head,
            "rows": cells,
            "language": get_language() or "zh-hans",
            "font_family": pdf.FONT_FAMILY,
        },
    )
    data, _pages = pdf.render_pdf(html)
    return pdf.pdf_response(data, stem)


@login_required
@require_GET
def referrals(request: HttpRequest, code: str) -> HttpResponse:
    """The referral network under an area: pairings with urban hospitals, the routes used
    with their flows, receiving ends against their beds, and the gaps."""
    place = area_access.access_area_by_code(request.user, code)
    day = request_day(request.GET.get("date", ""))
    on = day if day is not None else selectors.latest_transfer_date(place.path)
    network = selectors.referral_network(place.path, on)
    kinds = dict(FacilityKind.choices)
    for r in network["routes"]:
        r["source_kind_label"] = str(kinds.get(r["source_kind"], r["source_kind"]))
        r["target_kind_label"] = str(kinds.get(r["target_kind"], r["target_kind"]))
        r["gap_label"] = "; ".join(
            selectors.route_gap_label(k)
            for k in (selectors.OVER_BEDS, selectors.OVER_ICU, selectors.OVER_RESERVED)
            if r[k]
        )
    for r in network["receiving"]:
        r["kind_label"] = str(kinds.get(r["target_kind"], r["target_kind"]))
    for g in network["gaps"]:
        g["label"] = selectors.route_gap_label(g["kind"])
    fmt = request.GET.get("format")
    if is_export(fmt):
        return export_response(
            fmt,
            network["routes"],
            selectors.route_columns(),
            f"{place.name}-{on.isoformat()}-referrals",
        )
    context: dict[str, Any] = {
        "area": place,
        "nav": "referrals",
        "on": on,
        "network": network,
        "routes": network["routes"][:PAGE_ROWS],
        "gaps": network["gaps"][:PAGE_ROWS],
        "receiving": network["receiving"][:PAGE_ROWS],
    }
    return render(request, "resources/referrals.html", context)
