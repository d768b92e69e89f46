"""Reads behind the dashboard pages: everything one area page shows, in a few queries.

Callers pass an area obtained through :func:`ruralwatch.accounts.access.access_area_by_code`
(or the user's jurisdiction) and the user's jurisdiction root, which bounds the breadcrumb.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from ruralwatch.areas.models import Area, Level
from ruralwatch.areas.selectors import breadcrumb
from ruralwatch.assessments.models import Judgement
from ruralwatch.assessments.selectors import judgement_for
from ruralwatch.reporting import selectors as reporting
from ruralwatch.reporting.models import Indicator
from ruralwatch.signals.models import DetectionRule, Signal
from ruralwatch.signals.selectors import recent_signals, rules_not_run

CASES = "new_cases"
CURVE_DAYS = 60
WINDOW_DAYS = 7


@dataclass
class AreaOverview:
    area: Area
    date: dt.date | None
    indicator: Indicator | None
    breadcrumb: list[Area]
    children: list[dict[str, Any]] = field(default_factory=list)
    series: list[tuple[dt.date, float | None]] = field(default_factory=list)
    completeness: list[dict[str, Any]] = field(default_factory=list)
    cases_window: float | None = None
    incidence_window: float | None = None
    judgement: Judgement | None = None
    #: Points of the map when they are not the children (a county is mapped village by village).
    map_points: list[dict[str, Any]] = field(default_factory=list)
    signals: list[Signal] = field(default_factory=list)
    #: Detection rules the last cycle could not run (so their signals may be missing).
    rules_not_run: list[DetectionRule] = field(default_factory=list)

    @property
    def map_rows(self) -> list[dict[str, Any]]:
        return self.map_points or self.children

    @property
    def maps_villages(self) -> bool:
        return bool(self.map_points) and all(
            c["lon"] is not None and c["lat"] is not None for c in self.map_points
        )

    @property
    def children_have_coordinates(self) -> bool:
        return bool(self.children) and all(
            c["lon"] is not None and c["lat"] is not None for c in self.children
        )

    @property
    def window_start(self) -> dt.date | None:
        return self.date - dt.timedelta(days=WINDOW_DAYS - 1) if self.date else None


def area_overview(
    area: Area,
    *,
    within: Area | None,
    date: dt.date | None = None,
    indicator_code: str = CASES,
    curve_days: int = CURVE_DAYS,
) -> AreaOverview:
    """The map, curve, table and completeness of one area page, for ``date`` (default: latest).

    A bounded number of queries whatever the number of children or days.
    """
    date = date or reporting.latest_date()
    overview = AreaOverview(
        area=area,
        date=date,
        indicator=Indicator.objects.filter(code=indicator_code).first(),
        breadcrumb=breadcrumb(area, within),
    )
    if date is None:
        return overview
    children = reporting.children_incidence(area, indicator_code, date, WINDOW_DAYS)
    # Highest incidence first, areas without data last.
    overview.children = sorted(
        children, key=lambda c: (c["incidence"] is None, -(c["incidence"] or 0), c["code"])
    )
    overview.series = reporting.daily_series(
        area, indicator_code, date - dt.timedelta(days=max(curve_days, WINDOW_DAYS) - 1), date
    )
    window = [v for _d, v in overview.series[-WINDOW_DAYS:] if v is not None]
    overview.cases_window = sum(window) if window else None
    overview.incidence_window = reporting.incidence(overview.cases_window, area.population)
    overview.completeness = reporting.completeness_by_level(area, date)
    overview.judgement = judgement_for(area, date, indicator_code)
    if area.level == Level.COUNTY:
        overview.map_points = reporting.village_incidence(area, indicator_code, date, WINDOW_DAYS)
    overview.signals = recent_signals(area.path, date)
    overview.rules_not_run = rules_not_run()
    return overview


def top_areas() -> list[Area]:
    """The roots of the stored tree (for users who see everything)."""
    return list(Area.objects.filter(parent__isnull=True).order_by("code"))
