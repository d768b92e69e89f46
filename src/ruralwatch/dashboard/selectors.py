"""Reads behind the dashboard pages: everything one area page shows, in a few queries.

Callers pass an area obtained through :func:`ruralwatch.accounts.access.access_area_by_code`
(or the user's jurisdiction) and the user's jurisdiction root, which bounds the breadcrumb.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from types import EllipsisType
from typing import Any

from django.db.models import Sum
from django.utils.translation import gettext as _

from ruralwatch.areas.models import Area, Level
from ruralwatch.areas.selectors import breadcrumb, child_shape_counts
from ruralwatch.assessments.models import PHASE_LABELS, Judgement
from ruralwatch.assessments.selectors import judgement_for
from ruralwatch.core.i18n import localized
from ruralwatch.reporting import selectors as reporting
from ruralwatch.reporting.models import (
    AggregateValue,
    Completeness,
    Indicator,
    ReportValue,
    Submission,
)
from ruralwatch.signals.models import DetectionRule, Signal
from ruralwatch.signals.selectors import recent_signals, rules_not_run

CASES = "new_cases"
CURVE_DAYS = 60
WINDOW_DAYS = 7
#: The count indicators of the KPI tiles, in their order (completeness and key-group coverage
#: follow them).
KPI_COUNTS = ("new_cases", "severe_cases", "deaths", "fever_visits")
#: Children drawn as small multiples at most (the highest incidence first).
SMALL_MULTIPLES = 36


@dataclass
class Kpi:
    """One tile: the value of the last 7 days and the change against the 7 days before.

    ``kind`` is ``count`` (a 7-day sum; the change is relative) or ``rate`` (a share 0–1; the
    change is in percentage points). ``None`` where nothing was reported."""

    code: str
    label: str
    kind: str
    value: float | None
    previous: float | None

    @property
    def change(self) -> float | None:
        if self.value is None or self.previous is None:
            return None
        if self.kind == "rate":
            return self.value - self.previous
        return (self.value - self.previous) / self.previous if self.previous else None

    @property
    def worse(self) -> bool | None:
        """Whether the change is bad news (more cases; less completeness or coverage)."""
        change = self.change
        if change is None or change == 0:
            return None
        return change > 0 if self.kind == "count" else change < 0


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
    #: Every indicator (the picker), the latest date with data, and why ``date`` shows no
    #: figures: "after_latest" (after the latest date with data) or "empty" (nothing of the
    #: area's indicator in the curve's days); "" when it has data.
    indicators: list[Indicator] = field(default_factory=list)
    latest: dt.date | None = None
    no_data: str = ""
    kpis: list[Kpi] = field(default_factory=list)
    #: The children's daily series (small multiples): dicts with code, name, date, value.
    child_series: list[dict[str, Any]] = field(default_factory=list)

    @property
    def judgement_is_stale(self) -> bool:
        return bool(self.judgement and self.date and self.judgement.date < self.date)

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
    latest: dt.date | EllipsisType | None = ...,
) -> AreaOverview:
    """The map, curve, table and completeness of one area page, for ``date`` (default: latest).

    ``latest`` is the latest date with data if the caller has it (else looked up). A date
    after it, or one with nothing of the area's indicator in the curve's days, gives an
    overview with ``no_data`` set (and no figures: nothing stale is shown as current).
    A bounded number of queries whatever the number of children or days.
    """
    if isinstance(latest, EllipsisType):
        latest = reporting.latest_date()
    date = date or latest
    indicators = list(Indicator.objects.all())
    indicator = next((i for i in indicators if i.code == indicator_code), None)
    if indicator is None:
        indicator_code = CASES
        indicator = next((i for i in indicators if i.code == CASES), None)
    overview = AreaOverview(
        area=area,
        date=date,
        indicator=indicator,
        breadcrumb=_crumbs(area, within),
        indicators=indicators,
        latest=latest,
    )
    if date is None:
        return overview
    if latest is None or date > latest:
        overview.no_data = "after_latest"
        return overview
    children = reporting.children_incidence(area, indicator_code, date, WINDOW_DAYS)
    _with_trend(children, area, indicator_code, date)
    # Highest incidence first, areas without data last.
    overview.children = sorted(
        children, key=lambda c: (c["incidence"] is None, -(c["incidence"] or 0), c["code"])
    )
    overview.series = reporting.daily_series(
        area, indicator_code, date - dt.timedelta(days=max(curve_days, WINDOW_DAYS) - 1), date
    )
    if all(v is None for _d, v in overview.series) and all(
        c["cases"] is None for c in overview.children
    ):
        overview.no_data = "empty"
        return overview
    window = [v for _d, v in overview.series[-WINDOW_DAYS:] if v is not None]
    overview.cases_window = sum(window) if window else None
    overview.incidence_window = reporting.incidence(overview.cases_window, area.population)
    overview.completeness = reporting.completeness_by_level(area, date)
    overview.judgement = None if reporting.is_nation(area) else judgement_for(area, date, CASES)
    if area.level == Level.COUNTY and not child_shape_counts(area)[0]:
        # The villages as points, for a county whose townships have no shapes (the map of
        # shapes replaces them): a quarter of a second for the demo county's 289 villages.
        overview.map_points = reporting.village_incidence(area, indicator_code, date, WINDOW_DAYS)
    overview.signals = recent_signals(area.path, date)
    overview.rules_not_run = rules_not_run()
    overview.kpis = kpis(area, date, {i.code: i for i in indicators})
    if overview.children and overview.children[0]["level"] != Level.VILLAGE:
        shown = {c["code"]: c["name"] for c in overview.children[:SMALL_MULTIPLES]}
        overview.child_series = children_series(
            shown, indicator_code, date - dt.timedelta(days=curve_days - 1), date
        )
    return overview


def _with_trend(
    children: list[dict[str, Any]], area: Area, indicator_code: str, date: dt.date
) -> None:
    """Add to each child row its sum over the 7 days before the window (``previous``), the
    relative change of the window against it (``change``; ``None`` without a previous sum or
    from zero) and its phase on ``date`` (the daily cycle's judgement of new cases, as a
    label; ``None`` where it was not judged that day). Two queries."""
    if not children:
        return
    model = ReportValue if children[0]["level"] == Level.VILLAGE else AggregateValue
    end = date - dt.timedelta(days=WINDOW_DAYS)
    previous = dict(
        model.objects.filter(
            reporting.child_rows(area, "area__"),
            indicator_id=indicator_code,
            date__range=(end - dt.timedelta(days=WINDOW_DAYS - 1), end),
        )
        .values("area_id")
        .annotate(total=Sum("value"))
        .values_list("area_id", "total")
    )
    phases = dict(
        Judgement.objects.filter(
            reporting.child_rows(area, "area__"), date=date, indicator_id=CASES
        ).values_list("area_id", "phase")
    )
    for row in children:
        before = previous.get(row["code"])
        row["previous"] = before
        row["change"] = (
            (row["cases"] - before) / before if row["cases"] is not None and before else None
        )
        phase = phases.get(row["code"])
        row["phase"] = str(PHASE_LABELS.get(phase, phase)) if phase else None


def _window_sums(
    rows: Sequence[tuple[str, dt.date, float]], date: dt.date, days: int = WINDOW_DAYS
) -> dict[str, tuple[float | None, float | None]]:
    """Per key: the sum over the ``days`` ending on ``date`` and over the ``days`` before
    (``None`` for a window without any value)."""
    start = date - dt.timedelta(days=days - 1)
    out: dict[str, list[float | None]] = {}
    for key, day, value in rows:
        sums = out.setdefault(key, [None, None])
        i = 0 if day >= start else 1
        sums[i] = (sums[i] or 0.0) + value
    return {k: (v[0], v[1]) for k, v in out.items()}


def kpis(area: Area, date: dt.date, indicators: dict[str, Indicator]) -> list[Kpi]:
    """The tiles of an area page: new, severe, deaths and fever-clinic visits over the last 7
    days, reporting completeness over those days and key-group coverage on the latest day of
    its snapshot, each against the 7 days before. Three queries."""
    village = area.level == Level.VILLAGE
    model = ReportValue if village else AggregateValue
    first = date - dt.timedelta(days=2 * WINDOW_DAYS - 1)
    # Per indicator and day (the nation sums its roots' roll-ups; an area has one row).
    values = list(
        model.objects.filter(
            reporting.own_rows(area, "area__"),
            indicator_id__in=[*KPI_COUNTS, "kg_registered", "kg_overdue"],
            date__range=(first, date),
        )
        .values("indicator_id", "date")
        .annotate(total=Sum("value"))
        .values_list("indicator_id", "date", "total")
    )
    sums = _window_sums([v for v in values if v[0] in KPI_COUNTS], date)
    tiles = []
    for code in KPI_COUNTS:
        indicator = indicators.get(code)
        if indicator is None:
            continue
        current, previous = sums.get(code, (None, None))
        label = localized(indicator, "name")
        tiles.append(Kpi(code, label, "count", current, previous))
    # Completeness: village reports received over expected in each window.
    if village:
        got = Submission.objects.filter(area_id=area.code, date__range=(first, date)).values_list(
            "date", flat=True
        )
        start = date - dt.timedelta(days=WINDOW_DAYS - 1)
        n_now = sum(1 for d in got if d >= start)
        n_before = sum(1 for d in got if d < start)
        received = (n_now / WINDOW_DAYS, n_before / WINDOW_DAYS)
        tiles.append(Kpi("completeness", _("Reporting completeness"), "rate", *received))
    else:
        rows = Completeness.objects.filter(
            reporting.own_rows(area, "area__"), date__range=(first, date)
        )
        counts = _window_sums(
            [("expected", r.date, r.expected) for r in rows]
            + [("received", r.date, r.received) for r in rows],
            date,
        )
        expected = counts.get("expected", (None, None))
        received_ = counts.get("received", (None, None))
        shares = [(r or 0) / e if e else None for r, e in zip(received_, expected, strict=True)]
        tiles.append(Kpi("completeness", _("Reporting completeness"), "rate", *shares))
    # Key-group coverage: (registered - overdue) / registered on the latest snapshot of each
    # window (the indicators are written by the daily cycle, not every day).
    snapshots: dict[tuple[int, str], tuple[dt.date, float]] = {}
    start = date - dt.timedelta(days=WINDOW_DAYS - 1)
    for code, day, value in values:
        if code in KPI_COUNTS:
            continue
        key = (0 if day >= start else 1, code)
        if key not in snapshots or snapshots[key][0] < day:
            snapshots[key] = (day, value)
    coverage: list[float | None] = []
    for window in (0, 1):
        registered = snapshots.get((window, "kg_registered"))
        overdue = snapshots.get((window, "kg_overdue"))
        if registered and registered[1] and overdue and overdue[0] == registered[0]:
            coverage.append((registered[1] - overdue[1]) / registered[1])
        else:
            coverage.append(None)
    tiles.append(Kpi("coverage", _("Key-group coverage"), "rate", coverage[0], coverage[1]))
    return tiles


def children_series(
    names: dict[str, str], indicator_code: str, start: dt.date, end: dt.date
) -> list[dict[str, Any]]:
    """Daily values of the child areas ``names`` (code → name, in the order to draw; levels
    1–4, so roll-ups) from ``start`` to ``end``, as long rows for small multiples. One query."""
    order = {code: i for i, code in enumerate(names)}
    rows = AggregateValue.objects.filter(
        area_id__in=list(names), indicator_id=indicator_code, date__range=(start, end)
    ).values_list("area_id", "date", "value")
    out = [
        {"code": code, "name": names[code], "date": day.isoformat(), "value": value}
        for code, day, value in rows
    ]
    out.sort(key=lambda r: (order[str(r["code"])], str(r["date"])))
    return out


def nation() -> Area:
    """The whole stored tree as one unsaved area (code ``""``, path ``/``, the roots' summed
    population): the home page of users who see everything when the tree has several roots,
    as the provinces of a national deployment are. Its children are the roots; its figures
    are the sums of theirs (:func:`ruralwatch.reporting.selectors.own_rows`)."""
    population = Area.objects.filter(parent__isnull=True).aggregate(total=Sum("population"))
    return _nation(population["total"])


def _nation(population: int | None = None) -> Area:
    return Area(code="", name=_("National"), level=0, path="/", population=population)


def _crumbs(area: Area, within: Area | None) -> list[Area]:
    """The breadcrumb; it starts at the national overview for users who see the whole tree
    when the tree has several roots."""
    if reporting.is_nation(area):
        return []
    crumbs = breadcrumb(area, within)
    if within is None and Area.objects.filter(parent__isnull=True)[:2].count() > 1:
        crumbs.insert(0, _nation())
    return crumbs


def top_areas() -> list[Area]:
    """The roots of the stored tree (for users who see everything)."""
    return list(Area.objects.filter(parent__isnull=True).order_by("code"))
