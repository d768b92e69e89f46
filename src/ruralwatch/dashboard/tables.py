"""The dashboard's tables: columns, sorting and paging on the server, colour classes for rates,
the role that answers for each row, and the same columns for the XLSX/CSV export
(:mod:`ruralwatch.core.export`), so a download has the page's own (translated) headers.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from django.utils.translation import gettext as _

from ruralwatch.accounts.models import Role
from ruralwatch.core.export import Column
from ruralwatch.core.i18n import localized
from ruralwatch.dispatch.models import ROLE_FOR_LEVEL

#: Rows per page of the children's table.
PAGE_SIZE = 50
#: Colour steps of the rate columns (``heat-1`` … ``heat-5``; ``heat-0`` for a zero).
HEAT_STEPS = 5


def role_for_level(level: int) -> str:
    """The role that answers for an area of ``level`` (its label in the page's language)."""
    role = ROLE_FOR_LEVEL.get(level)
    return str(Role(role).label) if role else ""


def children_columns() -> list[Column]:
    """The children's table (page and export): key, translated header, Excel format."""
    return [
        Column("name", _("Name"), width=16),
        Column("code", _("Code"), width=15),
        Column("role", _("Responsible"), width=18),
        Column("population", _("Population"), "#,##0"),
        Column("cases", _("Count, 7 days"), "#,##0"),
        Column("change", _("Change vs previous 7 days"), "+0%;-0%;0%"),
        Column("incidence", _("Per 100,000"), "#,##0.0"),
        Column("phase", _("Phase"), width=12),
        Column("completeness", _("Reports received"), "0%"),
    ]


#: Columns the children's table sorts by (the ``?sort=`` values).
SORTABLE = ("name", "code", "population", "cases", "change", "incidence", "completeness")


@dataclass
class Page:
    rows: list[dict[str, Any]]
    number: int
    pages: int
    total: int
    start: int
    end: int
    sort: str
    descending: bool


def sort_rows(rows: Sequence[dict[str, Any]], key: str, descending: bool) -> list[dict[str, Any]]:
    """Rows sorted by ``key``; rows without a value always last, ties by code."""
    if key not in SORTABLE:
        key = "incidence"
    present = [r for r in rows if r.get(key) is not None]
    absent = [r for r in rows if r.get(key) is None]
    present.sort(key=lambda r: r["code"])
    present.sort(key=lambda r: r[key], reverse=descending)
    absent.sort(key=lambda r: r["code"])
    return present + absent


def heat(value: float | None, top: float | None) -> str:
    """The colour class of a rate relative to the highest in the table."""
    if value is None or top is None:
        return "heat-none"
    if value <= 0 or top <= 0:
        return "heat-0"
    return f"heat-{max(1, min(HEAT_STEPS, math.ceil(HEAT_STEPS * value / top)))}"


def completeness_class(share: float | None) -> str:
    """The colour class of a completeness share (red below 80 %, amber below 95 %)."""
    if share is None:
        return "cmp-none"
    if share < 0.8:
        return "cmp-low"
    if share < 0.95:
        return "cmp-mid"
    return "cmp-ok"


def decorate(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows with the responsible role and colour classes added (a copy)."""
    top = max((r["incidence"] for r in rows if r.get("incidence") is not None), default=None)
    return [
        {
            **r,
            "role": role_for_level(r["level"]),
            "heat": heat(r.get("incidence"), top),
            "cmp": completeness_class(r.get("completeness")),
        }
        for r in rows
    ]


def page_of(
    rows: Sequence[dict[str, Any]],
    *,
    sort: str,
    descending: bool,
    number: int,
    size: int = PAGE_SIZE,
) -> Page:
    """One page of the sorted rows (page numbers from 1; out-of-range goes to the nearest)."""
    if sort not in SORTABLE:
        sort, descending = "incidence", True
    ordered = sort_rows(rows, sort, descending)
    total = len(ordered)
    pages = max(1, math.ceil(total / size))
    number = min(max(1, number), pages)
    first = (number - 1) * size
    chunk = ordered[first : first + size]
    return Page(
        rows=chunk,
        number=number,
        pages=pages,
        total=total,
        start=first + 1 if total else 0,
        end=first + len(chunk),
        sort=sort,
        descending=descending,
    )


def signal_columns() -> list[Column]:
    return [
        Column("date", _("Date")),
        Column("area", _("Area"), width=16),
        Column("code", _("Code"), width=15),
        Column("indicator", _("Indicator"), width=16),
        Column("method", _("Method"), width=22),
        Column("observed", _("Observed"), "#,##0"),
        Column("threshold", _("Threshold"), "#,##0.0"),
        Column("score", _("Score"), "0.00"),
    ]


def signal_rows(signals: Sequence[Any], method_name: Callable[[str], str]) -> list[dict[str, Any]]:

    return [
        {
            "date": s.date,
            "area": s.area.name,
            "code": s.area_id,
            "indicator": localized(s.indicator, "name"),
            "method": method_name(s.method),
            "observed": s.observed,
            "threshold": s.threshold,
            "score": s.score,
        }
        for s in signals
    ]


def completeness_columns() -> list[Column]:
    return [
        Column("level_label", _("Level")),
        Column("units", _("Units"), "#,##0"),
        Column("complete_units", _("Units complete"), "#,##0"),
        Column("received", _("Village reports received"), "#,##0"),
        Column("expected", _("Village reports expected"), "#,##0"),
        Column("completeness", _("Completeness"), "0.0%"),
        Column("timeliness", _("On time"), "0.0%"),
    ]
