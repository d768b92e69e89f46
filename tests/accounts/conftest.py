"""A tree with a second county, and one user per role over the test county (tests.dashboard.data).

Inside 测试县: townships 甲镇 (villages A1, A2) and 乙乡 (B1). Outside: 丁县 with 丁镇 and 丁一村.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import pytest

from ruralwatch.accounts.models import Role
from ruralwatch.accounts.services import create_user_with_jurisdiction
from ruralwatch.areas.services import import_areas
from tests.dashboard import data

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


@pytest.fixture
def tree(db: None, tmp_path: Path) -> None:
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


@pytest.fixture
def people(tree: None, settings: Any) -> dict[str, Any]:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    return {
        name: create_user_with_jurisdiction(name, PASSWORD, area, role)
        for name, role, area in PEOPLE
    }
