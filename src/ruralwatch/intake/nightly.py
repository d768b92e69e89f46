"""The intake app's nightly work: every active validation rule and the outlier screen over the
last days' stored village values, one county at a time (the cycle's validate step and the
worker call :func:`nightly`). Values are never changed; violations and open flags of the
screened dates are replaced, so a re-run leaves the same state.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.utils import timezone

from ruralwatch.areas.models import Area
from ruralwatch.core import bulk
from ruralwatch.intake import outliers as screen
from ruralwatch.intake import rules as engine
from ruralwatch.intake.models import FlagStatus, OutlierFlag, OutlierMethod, Violation
from ruralwatch.intake.services import _stored_long, _wide, active_rules

# --- nightly run -------------------------------------------------------------------------------


@dataclass
class RuleRun:
    start: str
    end: str
    rules: int
    area_days: int
    violations: int


def run_rules(
    start: dt.date,
    end: dt.date,
    *,
    path: str = "/",
    now: dt.datetime | None = None,
    days_per_pass: int = 7,
) -> RuleRun:
    """The nightly run (and the check after a file import): every active rule over every
    stored village-day in [start, end], ``days_per_pass`` days at a time (a national file
    spans millions of village-days); the violations of those dates are replaced, so a re-run
    leaves the same state."""
    now = now or timezone.now()
    rules = active_rules()
    area_days = found_n = 0
    day = start
    while day <= end:
        last = min(end, day + dt.timedelta(days=days_per_pass - 1))
        wide = _wide(_stored_long(day, last, path))
        found = engine.evaluate(rules, wide) if rules and not wide.is_empty() else None
        with transaction.atomic():
            _in_subtree(Violation.objects.filter(date__range=(day, last)), path).delete()
            if found is not None and not found.is_empty():
                bulk.insert_rows(
                    Violation._meta.db_table,
                    ["rule_id", "area_id", "date", "left_value", "right_value", "found_at"],
                    [(r, a, d, lv, rv, now) for r, a, d, lv, rv in found.iter_rows()],
                )
        area_days += wide.height
        found_n += 0 if found is None else found.height
        day = last + dt.timedelta(days=1)
    return RuleRun(start.isoformat(), end.isoformat(), len(rules), area_days, found_n)


# --- outlier screening -------------------------------------------------------------------------


@dataclass
class ScreenRun:
    start: str
    end: str
    values: int
    flags: dict[str, int]


def screen_outliers(
    start: dt.date,
    end: dt.date,
    *,
    history_days: int = screen.HISTORY_DAYS,
    params: screen.Params | None = None,
    path: str = "/",
    now: dt.datetime | None = None,
) -> ScreenRun:
    """Flag doubtful village values in [start, end] against each area's own history (read
    from ``history_days`` before ``start``), repeated days and failing rules. Values are
    never changed; open flags of those dates are replaced, a confirmed or corrected flag is
    kept as the reporter left it."""
    now = now or timezone.now()
    long = _stored_long(start - dt.timedelta(days=history_days), end, path)
    rules = active_rules()
    flags = screen.screen(long, start, end, rules=rules, params=params)
    with transaction.atomic():
        mine = _in_subtree(OutlierFlag.objects.filter(date__range=(start, end)), path)
        mine.filter(status=FlagStatus.OPEN).delete()
        kept = set(mine.values_list("area_id", "date", "indicator", "method"))
        rows = [
            (a, d, k, v, m, s, b, sc, FlagStatus.OPEN.value, now)
            for a, d, k, v, m, s, b, sc in flags.select(
                "area_code", "date", "indicator", "value", "method", "score", "baseline", "scale"
            ).iter_rows()
            if (a, d, k, m) not in kept
        ]
        bulk.insert_rows(
            OutlierFlag._meta.db_table,
            [
                "area_id",
                "date",
                "indicator",
                "value",
                "method",
                "score",
                "baseline",
                "scale",
                "status",
                "flagged_at",
            ],
            rows,
        )
    counts = {m: 0 for m in OutlierMethod.values}
    for m in flags["method"].to_list():
        counts[m] += 1
    return ScreenRun(start.isoformat(), end.isoformat(), long.height, counts)


def set_flag_status(flag: OutlierFlag, status: str) -> OutlierFlag:
    """The reporter confirmed the value as reported, or corrected it."""
    if status not in FlagStatus.values:
        raise ValueError(status)
    flag.status = status
    flag.save(update_fields=["status"])
    return flag


def _in_subtree(qs: Any, path: str) -> Any:
    if path == "/":
        return qs
    return qs.filter(area_id__in=Area.objects.filter(path__startswith=path).values("code"))


def nightly(
    day: dt.date, *, days: int = 7, path: str = "/", now: dt.datetime | None = None
) -> dict[str, Any]:
    """What the worker or the cycle calls once a day: rules and outlier screening over the
    last ``days`` days up to ``day`` (late reports and corrections arrive for those), for the
    subtree at ``path``, one county at a time (memory stays that of a county)."""
    start = day - dt.timedelta(days=days - 1)
    root = Area.objects.filter(path=path).values_list("level", flat=True).first()
    if root is not None and root >= 3:
        parts = [path]
    else:
        parts = list(
            Area.objects.filter(level=3, path__startswith=path)
            .order_by("path")
            .values_list("path", flat=True)
        ) or [path]
    totals: dict[str, Any] = {"counties": len(parts), "violations": 0, "flags": {}}
    for part in parts:
        ran = run_rules(start, day, path=part, now=now)
        screened = screen_outliers(start, day, path=part, now=now)
        totals["violations"] += ran.violations
        for method, n in screened.flags.items():
            totals["flags"][method] = totals["flags"].get(method, 0) + n
    return totals
