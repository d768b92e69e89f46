"""Reads for detection: one indicator for every area of a level, as long rows."""

from __future__ import annotations

import datetime as dt

import polars as pl
from django.db.models import QuerySet

from ruralwatch.areas.selectors import subtree_q
from ruralwatch.reporting.selectors import values_by_area
from ruralwatch.signals.models import DetectionRule, Signal


def level_panel_frame(
    level: int, indicator: str, start: dt.date, end: dt.date, root_path: str = "/"
) -> pl.DataFrame:
    """(area, date, value) for every area of ``level`` under ``root_path``, in one query.

    Villages read reported values; levels 1–4 read the roll-ups. Missing days have no row.
    The read is :func:`ruralwatch.reporting.selectors.values_by_area` (one text line per area
    on PostgreSQL).
    """
    frame: pl.DataFrame = values_by_area(
        "report" if level == 5 else "aggregate",
        indicator,
        start,
        end,
        root_path=root_path,
        level=level,
    )
    return frame


def signals_by_method(start: dt.date, end: dt.date, root_path: str = "/") -> dict[str, int]:
    """Number of signals per method for areas under ``root_path`` in the date range."""
    from django.db.models import Count

    rows = (
        Signal.objects.filter(subtree_q(root_path), date__range=(start, end))
        .values("method")
        .annotate(n=Count("id"))
        .order_by("method")
    )
    return {r["method"]: r["n"] for r in rows}


def recent_signals(root_path: str, end: dt.date, days: int = 7, limit: int = 20) -> list[Signal]:
    """The latest signals under ``root_path`` in the ``days`` up to ``end`` (newest first)."""
    start = end - dt.timedelta(days=days - 1)
    return list(
        Signal.objects.filter(subtree_q(root_path), date__range=(start, end))
        .select_related("area", "indicator")
        .order_by("-date", "-score", "area_id")[:limit]
    )


def signals_in(
    root_path: str, start: dt.date, end: dt.date, method: str | None = None
) -> QuerySet[Signal]:
    """Signals for areas under ``root_path`` dated ``start``…``end`` (optionally one method),
    newest and strongest first, with area and indicator joined (one query per page)."""
    qs = Signal.objects.filter(subtree_q(root_path), date__range=(start, end))
    if method:
        qs = qs.filter(method=method)
    return qs.select_related("area", "indicator").order_by("-date", "-score", "area_id", "id")


def rules_not_run() -> list[DetectionRule]:
    """Active detection rules whose last cycle did not run them, with the error (rules are
    configuration, the same for every jurisdiction)."""
    return list(
        DetectionRule.objects.filter(active=True)
        .exclude(last_error="")
        .select_related("indicator")
        .order_by("level", "method", "pk")
    )
