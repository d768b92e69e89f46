"""Outlier flags on the area pages (issue 13, item 5): "flagged values ask the reporter to
confirm and are marked in the dashboard, never silently dropped".

The nightly validate step of the cycle (:func:`ruralwatch.intake.nightly.nightly`) stores
an :class:`~ruralwatch.intake.models.OutlierFlag` for each doubtful village value; the values
themselves stay as reported. An area page shows, for its last 7 days:

- a panel listing the flags still standing under the area (to be confirmed, or confirmed as
  reported): village, indicator, date, value, the expected value and robust z, the method and
  the status, linked to the village's page and to its daily form (where the reporter
  confirms or corrects, and the corrections' history is kept); exportable (XLSX, CSV) at
  ``dashboard:flags`` like the page's other tables;
- a ring beside the count of every row of the children's table that holds flagged values of
  the page's indicator, with the flags in its tooltip;
- a ring on every bar of the epidemic curve that holds a flagged value (a village's own value,
  or a village value inside the day's total higher up), with a tooltip.

Nothing here computes a flag; the reads are :mod:`ruralwatch.intake.selectors`' and go through
the page's area, which :mod:`ruralwatch.accounts.access` has already scoped.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.cache import patch_vary_headers
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from ruralwatch.accounts import access
from ruralwatch.areas.models import Area
from ruralwatch.core import asof, export
from ruralwatch.core.export import Column
from ruralwatch.core.i18n import localized
from ruralwatch.dashboard.selectors import WINDOW_DAYS
from ruralwatch.intake import selectors as intake
from ruralwatch.intake.models import FlagStatus, OutlierMethod
from ruralwatch.reporting.models import Indicator
from ruralwatch.reporting.selectors import latest_date

#: Rows the panel lists (the export has every flag of the window).
PANEL_ROWS = 30
#: The ring's colour on the curve (the page's CSS uses the same for the table's rings).
FLAG_COLOUR = "#b45309"
#: Methods whose score is a robust z (the others score otherwise: a rule's excess, a repeated
#: day's count of nonzero values).
Z_METHODS = (OutlierMethod.ROBUST_Z, OutlierMethod.SEASONAL)


def method_label(method: str) -> str:
    labels: dict[str, str] = {
        OutlierMethod.ROBUST_Z.value: _("robust z (trailing median/MAD)"),
        OutlierMethod.SEASONAL.value: _("seasonal robust z"),
        OutlierMethod.REPEAT.value: _("repeats the previous day"),
        OutlierMethod.RULE.value: _("validation rule"),
    }
    return labels.get(method, method)


def status_label(status: str) -> str:
    return _("to be confirmed") if status == FlagStatus.OPEN else _("confirmed as reported")


def _number(value: float | None, digits: int = 0) -> str:
    return "—" if value is None else f"{value:,.{digits}f}"


@dataclass
class AreaFlags:
    """The flags still standing under an area in [start, end], shaped for the page."""

    area: Area
    start: dt.date
    end: dt.date
    rows: list[dict[str, Any]] = field(default_factory=list)
    #: Child code → the flags of the page's indicator in its subtree (the table's rings).
    by_child: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    #: Day → what the curve's ring on that day says (the curve's span, page's indicator).
    by_day: dict[dt.date, str] = field(default_factory=dict)

    @property
    def shown(self) -> list[dict[str, Any]]:
        return self.rows[:PANEL_ROWS]

    @property
    def pending(self) -> int:
        return sum(1 for r in self.rows if r["pending"])

    @property
    def confirmed(self) -> int:
        return len(self.rows) - self.pending


@dataclass(frozen=True)
class _Words:
    """The words every flag of a page repeats, translated once per page: a province's page
    lists every flag of its last 7 days (1,374 on 河南 in the national benchmark), and translating
    them flag by flag (seven ``gettext`` calls each) was about half of its rendering."""

    methods: dict[str, str]
    pending: str
    confirmed: str
    whole_day: str
    repeat: str
    scored: str
    rule: str

    @classmethod
    def now(cls) -> _Words:
        """In the active language."""
        return cls(
            methods={m.value: method_label(m.value) for m in OutlierMethod},
            pending=status_label(FlagStatus.OPEN),
            confirmed=status_label(FlagStatus.CONFIRMED),
            whole_day=_("the whole day's report"),
            repeat=_("%(date)s: every value repeats the previous day's report"),
            scored=_(
                "%(date)s: %(indicator)s %(value)s, expected about %(expected)s (robust z %(z)s)"
            ),
            rule=_("%(date)s: %(indicator)s %(value)s breaks a validation rule (limit %(limit)s)"),
        )


def _shape(raw: dict[str, Any], names: dict[str, str], words: _Words) -> dict[str, Any]:
    method = raw["method"]
    z = method in Z_METHODS
    pending = raw["status"] == FlagStatus.OPEN
    row = {
        "id": raw["id"],
        "date": raw["date"],
        "code": raw["area_id"],
        "village": raw["area__name"],
        "township": raw["area__parent__name"] or "",
        "path": raw["area__path"],
        "indicator_code": raw["indicator"],
        "indicator": names.get(raw["indicator"], raw["indicator"])
        if raw["indicator"]
        else words.whole_day,
        "value": raw["value"],
        # The expected value of a z screen; a rule's right side (the limit the value broke).
        "expected": raw["baseline"] if method != OutlierMethod.REPEAT else None,
        "z": raw["score"] if z else None,
        "method_code": method,
        "method": words.methods.get(method, method),
        "pending": pending,
        "status": words.pending if pending else words.confirmed,
    }
    row["note"] = _note(row, words)
    return row


def _note(row: dict[str, Any], words: _Words) -> str:
    """One flag in words (the rings' tooltips)."""
    if row["method_code"] == OutlierMethod.REPEAT:
        what = words.repeat % {"date": row["date"].isoformat()}
    elif row["z"] is not None:
        what = words.scored % {
            "date": row["date"].isoformat(),
            "indicator": row["indicator"],
            "value": _number(row["value"]),
            "expected": _number(row["expected"], 1),
            "z": _number(row["z"], 1),
        }
    else:
        what = words.rule % {
            "date": row["date"].isoformat(),
            "indicator": row["indicator"],
            "value": _number(row["value"]),
            "limit": _number(row["expected"]),
        }
    return f"{row['village']} {what}; {row['method']}; {row['status']}"


def area_flags(
    area: Area,
    start: dt.date,
    end: dt.date,
    *,
    indicator: str | None = None,
    curve: tuple[dt.date, dt.date] | None = None,
    indicators: list[Indicator] | None = None,
) -> AreaFlags:
    """The panel's rows (every indicator) under ``area`` in [start, end]; with ``indicator``,
    the table's rings per child, and with ``curve`` (its first and last day) the curve's.
    One query: the flags of the curve's days (or the window's) are read once and split here.
    ``indicators``: the indicators already read for the page (their names), else read."""
    names = {
        i.code: localized(i, "name")
        for i in (indicators if indicators is not None else Indicator.objects.all())
    }
    first = min(start, curve[0]) if curve is not None else start
    last = max(end, curve[1]) if curve is not None else end
    words = _Words.now()
    shaped = [_shape(r, names, words) for r in intake.standing_flags(area.path, first, last)]
    out = AreaFlags(area, start, end)
    out.rows = [r for r in shaped if start <= r["date"] <= end]
    if indicator is None:
        return out
    mine = [r for r in shaped if r["indicator_code"] in (indicator, "")]
    depth = area.level + 1  # "/c1/c2/…/".split("/")[k] is the level-k ancestor
    for row in mine:
        parts = row["path"].split("/")
        if area.level < 5 and start <= row["date"] <= end and len(parts) > depth:
            out.by_child.setdefault(parts[depth], []).append(row)
    if curve is not None:
        days: dict[dt.date, list[dict[str, Any]]] = {}
        for row in mine:
            if curve[0] <= row["date"] <= curve[1]:
                days.setdefault(row["date"], []).append(row)
        if area.level == 5:
            out.by_day = {d: "\n".join(r["note"] for r in rows) for d, rows in days.items()}
        else:
            out.by_day = {
                d: _("%(n)s flagged village value(s) in this day's total") % {"n": len(rows)}
                for d, rows in days.items()
            }
    return out


def child_note(rows: list[dict[str, Any]]) -> str:
    """The tooltip of a table row's ring."""
    head = _("%(n)s flagged value(s) in the last 7 days, not corrected") % {"n": len(rows)}
    return "\n".join([head, *(r["note"] for r in rows[:8])])


def with_curve_marks(spec: dict[str, Any] | None, flags: AreaFlags | None) -> dict[str, Any] | None:
    """The epidemic curve's spec (:func:`ruralwatch.dashboard.charts.epicurve`) with a ring on
    each day that holds a flagged value, at the top of that day's bar; a copy."""
    if not spec or flags is None or not flags.by_day:
        return spec
    layers = spec.get("layer") or []
    values = (spec.get("data") or {}).get("values") or []
    if not layers or not values:
        return spec
    bars = layers[0]["encoding"]
    points = [
        {"date": v["date"], "value": v["value"] or 0, "flag": flags.by_day[day]}
        for v in values
        if (day := dt.date.fromisoformat(v["date"])) in flags.by_day
    ]
    if not points:
        return spec
    ring = {
        "data": {"values": points},
        "mark": {
            "type": "point",
            "shape": "circle",
            "filled": False,
            "size": 160,
            "strokeWidth": 2.5,
            "color": FLAG_COLOUR,
            "cursor": "help",
        },
        "encoding": {
            "x": bars["x"],
            "y": {"field": "value", "type": "quantitative"},
            "tooltip": [
                bars["tooltip"][0],
                {
                    "field": "flag",
                    "type": "nominal",
                    "title": _("Flagged by the outlier screening"),
                },
            ],
        },
    }
    return {**spec, "layer": [*layers, ring]}


def export_columns() -> list[Column]:
    return [
        Column("date", _("Date")),
        Column("township", _("Township"), width=14),
        Column("village", _("Village"), width=14),
        Column("code", _("Code"), width=15),
        Column("indicator", _("Indicator"), width=18),
        Column("value", _("Value"), "#,##0"),
        Column("expected", _("Expected value"), "#,##0.0"),
        Column("z", _("Robust z"), "0.0"),
        Column("method", _("Method"), width=22),
        Column("status", _("Status"), width=16),
    ]


def window(day: dt.date) -> tuple[dt.date, dt.date]:
    """The panel's days: the "as of" day and the 6 before it (the page's 7-day window)."""
    return day - dt.timedelta(days=WINDOW_DAYS - 1), day


@login_required
@require_GET
def flags_view(request: HttpRequest, code: str) -> HttpResponse:
    """The flags panel of an area on its "as of" day as a fragment, or every flag of its
    window as XLSX/CSV (``?format=``); one 404 for a missing or forbidden area."""
    area = access.access_area_by_code(request.user, code)
    start, end = window(asof.page_date(request, latest_date))
    flags = area_flags(area, start, end)
    fmt = request.GET.get("format")
    if export.is_export(fmt):
        stem = f"{area.name}-{area.code}-{end.isoformat()}-flags"
        return export.export_response(fmt, flags.rows, export_columns(), stem)
    context = {"area": area, "fl": flags, "chosen_date": asof.chosen(request)}
    response = render(request, "dashboard/_flags.html", context)
    patch_vary_headers(response, ["Cookie"])
    return response
