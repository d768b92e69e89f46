"""The daily cycle for a date: key-group indicators → roll up → detect → assess.

Each step replaces what it wrote for the dates it covers, so running a cycle twice leaves the
same state. Late reports are why a cycle reaches back ``days_back`` days.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ruralwatch.areas.models import Area
from ruralwatch.assessments.services import assess
from ruralwatch.reporting.services import roll_up
from ruralwatch.signals.services import detect_signals

Progress = Callable[[str, int, int], None]


def _keygroups_indicators(cycle_date: dt.date, root_path: str) -> dict[str, Any]:
    """Re-tier key persons on the day's information and write the ``kg_*`` village indicators
    (before the roll-up carries them up), when the subtree has a key-group registry."""
    from ruralwatch.keygroups.models import Person
    from ruralwatch.keygroups.services import retier, write_indicators

    if not Person.objects.filter(village__path__startswith=root_path).exists():
        return {"persons": 0}
    retier(cycle_date, root_path=root_path)
    root = Area.objects.filter(path=root_path).first()
    return {"village_values": write_indicators(cycle_date, root)}


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

    def timed(name: str, step: Callable[[], dict[str, Any]]) -> None:
        began = time.perf_counter()
        result.steps[name] = step() | {"seconds": round(time.perf_counter() - began, 3)}

    timed("keygroups", lambda: _keygroups_indicators(cycle_date, root_path))

    def rolled() -> dict[str, Any]:
        r = roll_up(first, cycle_date)
        return {"aggregates": r.aggregates, "completeness": r.completeness_rows}

    def detected() -> dict[str, Any]:
        d = detect_signals(first, cycle_date, root_path=root_path, progress=progress)
        return {
            "rules": d.rules_run,
            "signals_by_method": d.signals_by_method,
            "skipped": d.skipped,
        }

    def judged() -> dict[str, Any]:
        j = assess(cycle_date, root_path=root_path)
        return {
            "areas": j.areas,
            "by_phase": j.by_phase,
            "rebounds": j.rebounds,
            "parts_seconds": j.seconds,
        }

    timed("roll_up", rolled)
    timed("detect", detected)
    timed("assess", judged)
    return result
