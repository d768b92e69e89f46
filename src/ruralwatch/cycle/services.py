"""The daily cycle for a date: roll up → detect → assess (→ audit as it lands).

Each step replaces what it wrote for the dates it covers, so running a cycle twice leaves the
same state. Late reports are why a cycle reaches back ``days_back`` days.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ruralwatch.areas.models import Area
from ruralwatch.assessments.services import assess
from ruralwatch.reporting.services import roll_up
from ruralwatch.signals.services import detect_signals

Progress = Callable[[str, int, int], None]


@dataclass
class CycleResult:
    date: str
    start: str
    root: str | None
    steps: dict[str, Any] = field(default_factory=dict)


def run_cycle(
    cycle_date: dt.date,
    *,
    root: str | None = None,
    days_back: int = 7,
    start: dt.date | None = None,
    progress: Progress | None = None,
) -> CycleResult:
    """Run the cycle for ``cycle_date`` over the subtree of ``root`` (whole tree if None)."""
    first = start or cycle_date - dt.timedelta(days=days_back)
    root_path = "/"
    if root is not None:
        area = Area.objects.filter(code=root).first()
        if area is None:
            raise ValueError(f"unknown area {root}")
        root_path = area.path
    result = CycleResult(cycle_date.isoformat(), first.isoformat(), root)
    rolled = roll_up(first, cycle_date)
    result.steps["roll_up"] = {
        "aggregates": rolled.aggregates,
        "completeness": rolled.completeness_rows,
    }
    detected = detect_signals(first, cycle_date, root_path=root_path, progress=progress)
    result.steps["detect"] = {
        "rules": detected.rules_run,
        "signals_by_method": detected.signals_by_method,
    }
    judged = assess(cycle_date, root_path=root_path)
    result.steps["assess"] = {
        "areas": judged.areas,
        "by_phase": judged.by_phase,
        "rebounds": judged.rebounds,
    }
    return result
