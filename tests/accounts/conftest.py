"""A tree with a second county, and one user per role over the test county (tests.dashboard.data).

Inside 测试县: townships 甲镇 (villages A1, A2) and 乙乡 (B1). Outside: 丁县 with 丁镇 and 丁一村.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.test import override_settings

from ruralwatch.accounts.models import Role
from ruralwatch.accounts.services import create_user_with_jurisdiction
from ruralwatch.areas.services import import_areas
from tests.dashboard import data
from tests.fixtures.shared_db import built_once

OTHER_COUNTY = "110102000000"
OTHER_TOWN = "110102001000"
OTHER_VILLAGE = "110102001001"
PASSWORD = "pw-Long-enough-123"

#: (user name, role, area) of the users the tests act as and on.
PEOPLE = [
    ("doctor_a1", Role.VILLAGE_DOCTOR, data.A1),
    ("cadre_a1", Role.VILLAGE_CADRE, data.A1),
    ("doctor_b1", Role.VILLAGE_DOCTOR, data.B1),
    ("town_a", Role.TOWNSHIP, data.TOWN_A),
    ("town_b", Role.TOWNSHIP, data.TOWN_B),
    ("county", Role.COUNTY, data.COUNTY),
    ("leader", Role.COUNTY_LEADER, data.COUNTY),
    ("prefecture", Role.PREFECTURE, data.PREFECTURE),
    ("province", Role.PROVINCE, data.PROVINCE),
    ("national", Role.NATIONAL, None),
    ("other_county", Role.COUNTY, OTHER_COUNTY),
    ("other_town", Role.TOWNSHIP, OTHER_TOWN),
    ("other_doctor", Role.VILLAGE_DOCTOR, OTHER_VILLAGE),
]


def build_tree(tmp_path: Path) -> None:
    """The tree of tests.dashboard.data and the other county."""
    data.build_tree(tmp_path)
    path = tmp_path / "other.csv"
    with path.open("w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows(
            [
                ("code", "name", "level", "parent_code", "population"),
                (OTHER_COUNTY, "丁县", 3, data.PREFECTURE, 5000),
                (OTHER_TOWN, "丁镇", 4, OTHER_COUNTY, 5000),
                (OTHER_VILLAGE, "丁一村", 5, OTHER_TOWN, 5000),
            ]
        )
    import_areas(path)


FAST_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def make_people() -> dict[str, Any]:
    return {
        name: create_user_with_jurisdiction(name, PASSWORD, area, role)
        for name, role, area in PEOPLE
    }


@pytest.fixture
def tree(db: None, tmp_path: Path) -> None:
    build_tree(tmp_path)


@pytest.fixture
def people(tree: None, settings: Any) -> dict[str, Any]:
    settings.PASSWORD_HASHERS = FAST_HASHERS
    return make_people()


# --- the same tree and people built once per test module ------------------------------------
#
# A module whose database tests all use the people imports ``shared_people as people``: the
# tree and the users are built once, inside a transaction opened for the module and rolled back
# at its end (tests.fixtures.shared_db); each test runs inside it in pytest-django's own
# savepoint, so what a test writes is undone before the next one. Not for ``live_server``
# tests (their data must be committed): those use ``people`` above.


def _build_tree_and_people(folder: Path) -> None:
    with override_settings(PASSWORD_HASHERS=FAST_HASHERS):
        build_tree(folder)
        make_people()


_module_people = built_once(_build_tree_and_people)


@pytest.fixture
def shared_people(_module_people: None, db: None, settings: Any) -> dict[str, Any]:
    """Fresh user objects each test (no attribute cached by an earlier test survives)."""
    settings.PASSWORD_HASHERS = FAST_HASHERS
    by_name = get_user_model().objects.in_bulk([name for name, *_ in PEOPLE], field_name="username")
    return {name: by_name[name] for name, *_ in PEOPLE}
