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
from django.test import override_settings

from ruralwatch.accounts.models import Role
from ruralwatch.accounts.services import create_user_with_jurisdiction
from ruralwatch.areas.services import import_areas
from ruralwatch.reporting.models import ReportValue
from ruralwatch.signals.models import DetectionRule, Signal
from tests.dashboard import data
from tests.fixtures.shared_db import built_once

T0 = dt.datetime(2023, 1, 8, 5, 0, tzinfo=dt.UTC)
DAY6 = data.DAY7 - dt.timedelta(days=1)
COUNTY2 = "110102000000"
TOWN2 = "110102001000"
VILLAGE2 = "110102001001"


def hours(h: float) -> dt.datetime:
    return T0 + dt.timedelta(hours=h)


FAST_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
PASSWORD = "pw-Long-enough-123"
#: username → (area, role, email) of the users fixture
USERS: dict[str, tuple[str | None, str, str]] = {
    "town_a": (data.TOWN_A, Role.TOWNSHIP, "town_a@example.org"),
    "town_b": (data.TOWN_B, Role.TOWNSHIP, ""),
    "county": (data.COUNTY, Role.COUNTY, "county@example.org"),
    "prefecture": (data.PREFECTURE, Role.PREFECTURE, ""),
    "doctor_a1": (data.A1, Role.VILLAGE_DOCTOR, ""),
    "county2": (COUNTY2, Role.COUNTY, ""),
    "national": (None, Role.NATIONAL, ""),
}


def build(tmp_path: Path) -> None:
    """The tree of ``tests/dashboard/data.py`` and a second county with one silent village."""
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


def make_users() -> dict[str, Any]:
    """One user per entry of ``USERS`` (password hashing: whatever the settings say)."""
    out = {}
    for name, (area, role, email) in USERS.items():
        user = create_user_with_jurisdiction(name, PASSWORD, area, role)
        if email:
            user.email = email
            user.save(update_fields=["email"])
        out[name] = user
    return out


@pytest.fixture
def tree(db: None, tmp_path: Path) -> None:
    build(tmp_path)


@pytest.fixture
def users(tree: None, settings: Any) -> dict[str, Any]:
    # PBKDF2's million rounds per user were most of this fixture's time; tests log users in
    # with force_login or through PASSWORD, which any hasher checks.
    settings.PASSWORD_HASHERS = FAST_HASHERS
    return make_users()


# --- the same tree and users built once per test module ------------------------------------
#
# A module that imports ``shared_tree as tree, shared_users as users`` builds them once, inside a
# transaction opened for the module and rolled back at its end; each test runs inside it in
# pytest-django's own savepoint, so what a test writes is undone before the next one (tests
# stay independent). Not for tests that need committed data (``transactional_db``,
# ``live_server``): those use the plain ``tree`` and ``users`` above.


def _build_tree_and_users(folder: Path) -> None:
    with override_settings(PASSWORD_HASHERS=FAST_HASHERS):
        build(folder)
        make_users()


_module_tree = built_once(_build_tree_and_users)


@pytest.fixture
def shared_tree(_module_tree: None, db: None, settings: Any) -> None:
    settings.PASSWORD_HASHERS = FAST_HASHERS


@pytest.fixture
def shared_users(shared_tree: None) -> dict[str, Any]:
    """Fresh user objects each test (no attribute cached by an earlier test survives)."""
    from django.contrib.auth import get_user_model

    by_name = get_user_model().objects.in_bulk(list(USERS), field_name="username")
    return {name: by_name[name] for name in USERS}


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
