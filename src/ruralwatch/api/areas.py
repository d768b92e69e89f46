"""Areas: one area with its children's summary, a daily series, report completeness."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja import Router

from ruralwatch.accounts import access
from ruralwatch.api.common import date_range, known_indicator, report_date, user_of
from ruralwatch.api.schemas import (
    AreaOut,
    Code,
    CompletenessOut,
    Day,
    ErrorOut,
    InvalidOut,
    SeriesOut,
)
from ruralwatch.areas.models import Level
from ruralwatch.areas.selectors import breadcrumb
from ruralwatch.reporting import selectors as reporting

router = Router(tags=["areas"])

CASES = "new_cases"
WINDOW_DAYS = 7
SERIES_DAYS = 60
ERRORS: dict[int, Any] = {401: ErrorOut, 404: ErrorOut, 422: InvalidOut}


@router.get("/{code}", response={200: AreaOut, **ERRORS}, summary="An area and its children")
def area_detail(request: HttpRequest, code: Code, date: Day | None = None) -> dict[str, Any]:
    """The area (in your jurisdiction) with, for each child, new cases over the 7 days ending
    on ``date`` (default: the latest reported date), incidence per 100,000 and completeness."""
    user = user_of(request)
    area = access.access_area_by_code(user, code)
    on = report_date(date)
    return {
        "code": area.code,
        "name": area.name,
        "level": area.level,
        "level_label": str(Level(area.level).label),
        "population": area.population,
        "population_65plus": area.population_65plus,
        "key_areas": area.key_area_list,
        "lon": area.lon,
        "lat": area.lat,
        "breadcrumb": breadcrumb(area, access.jurisdiction(user)),
        "date": on,
        "indicator": CASES,
        "window_days": WINDOW_DAYS,
        "children": reporting.children_incidence(area, CASES, on, WINDOW_DAYS),
    }


@router.get(
    "/{code}/series", response={200: SeriesOut, **ERRORS}, summary="Daily values of an indicator"
)
def area_series(
    request: HttpRequest,
    code: Code,
    indicator: Code = CASES,
    start: Day | None = None,
    end: Day | None = None,
) -> dict[str, Any]:
    """One value per day in ``[start, end]`` (default: the 60 days up to the latest reported
    date); ``null`` for a day without any report — a missing report is not a zero."""
    area = access.access_area_by_code(user_of(request), code)
    known_indicator(indicator)
    first, last = date_range(start, end, SERIES_DAYS)
    values = reporting.daily_series(area, indicator, first, last)
    return {
        "area": area.code,
        "indicator": indicator,
        "start": first,
        "end": last,
        "values": [{"date": d, "value": v} for d, v in values],
    }


@router.get(
    "/{code}/completeness",
    response={200: CompletenessOut, **ERRORS},
    summary="Report completeness and timeliness by level",
)
def area_completeness(request: HttpRequest, code: Code, date: Day | None = None) -> dict[str, Any]:
    """For each level of the area's subtree (down to townships) on ``date``: units, units
    with every report, expected / received / on-time village reports and their shares."""
    area = access.access_area_by_code(user_of(request), code)
    on = report_date(date)
    levels = reporting.completeness_by_level(area, on)
    for row in levels:
        row["level_label"] = str(row["level_label"])
    return {"area": area.code, "date": on, "levels": levels}
