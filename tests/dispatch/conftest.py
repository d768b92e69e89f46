"""Fixtures: the small hand-computable tree of ``tests/dashboard/data.py`` plus a second county,
users at each level, and helpers that put causes (signals, judgements, values) in place.

Cycle date DAY7 (2023-01-07). Its village reports are due at 2023-01-08 12:00 Asia/Shanghai
(36 h), i.e. 04:00 UTC; T0 is an hour later, so A2 (no report on DAY7) is missing, A1 (late)
and B1 are not, and the second county's only village (never reported) is missing.
"""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from ruralwatch.accounts.models import Role
from ruralwatch.accounts.services import create_user_with_jurisdiction
from ruralwatch.areas.services import import_areas
from ruralwatch.reporting.models import ReportValue
from ruralwatch.signals.models import DetectionRule, Signal
from tests.dashboard import data

T0 = dt.datetime(2023, 1, 8, 5, 0, tzinfo=dt.UTC)
DAY6 = data.DAY7 - dt.timedelta(days=1)
COUNTY2 = "110102000000"
TOWN2 = "110102001000"
VILLAGE2 = "110102001001"


def hours(h: float) -> dt.datetime:
    return T0 + dt.timedelta(hours=h)


@pytest.fixture
def tree(db: None, tmp_path: Path) -> None:
    data.build_tree(tmp_path)
    path = tmp_path / "county2.csv"
    with path.open("w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows(
            [
                ("code", "name", "level", "parent_code", "population"),
                (COUNTY2, "另一县", 3, data.PREFECTURE, 5000),
                (TOWN2, "丙镇", 4, COUNTY2, 5000),
                (VILLAGE2, "丙一村", 5, TOWN2, 5000),
            ]
        )
    import_areas(path)


@pytest.fixture
def users(tree: None) -> dict[str, Any]:
    def make(name: str, area: str | None, role: str, email: str = "") -> Any:
        user = create_user_with_jurisdiction(name, "pw-Long-enough-123", area, role)
        if email:
            user.email = email
            user.save(update_fields=["email"])
        return user

    return {
        "town_a": make("town_a", data.TOWN_A, Role.TOWNSHIP, "town_a@example.org"),
        "town_b": make("town_b", data.TOWN_B, Role.TOWNSHIP),
        "county": make("county", data.COUNTY, Role.COUNTY, "county@example.org"),
        "prefecture": make("prefecture", data.PREFECTURE, Role.PREFECTURE),
        "doctor_a1": make("doctor_a1", data.A1, Role.VILLAGE_DOCTOR),
        "county2": make("county2", COUNTY2, Role.COUNTY),
        "national": make("national", None, Role.NATIONAL),
    }


def rule(indicator: str, level: int, method: str) -> DetectionRule:
    return DetectionRule.objects.get(indicator_id=indicator, level=level, method=method)


def add_signal(area: str, day: dt.date, *, single: bool = False) -> Signal:
    r = rule("deaths", 5, "cidars-single-case") if single else rule("new_cases", 4, "ears-c1")
    return Signal.objects.create(
        rule=r,
        area_id=area,
        indicator_id=r.indicator_id,
        date=day,
        method=r.method,
        observed=1.0 if single else 9.0,
        expected=None if single else 2.0,
        threshold=None if single else 6.5,
        score=None if single else 3.1,
        params={"k": 1} if not single else {"min_cases": 1},
    )


def set_value(area: str, day: dt.date, indicator: str, value: float) -> None:
    ReportValue.objects.update_or_create(
        area_id=area,
        date=day,
        indicator_id=indicator,
        defaults={"value": value, "submitted_at": T0},
    )
