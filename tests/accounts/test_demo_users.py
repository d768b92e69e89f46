"""The demo's users: one per role and level over the demo county's line, each able to log in."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth import authenticate, get_user_model

from ruralwatch.accounts.models import ROLE_LEVEL, Role
from ruralwatch.accounts.services import demo_users
from ruralwatch.areas.models import Area
from tests.dashboard import data


@pytest.fixture
def tree(db: None, tmp_path: Path, settings: Any) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    data.build_tree(tmp_path)


def test_one_user_per_role_and_level_each_logs_in(tree: None) -> None:
    logins = demo_users(data.COUNTY)
    assert sorted(u.role for u in logins) == sorted(Role.values)
    where = {u.username: u.area_code for u in logins}
    assert where == {
        "demo_doctor": data.A1,
        "demo_cadre": data.A1,
        "demo_township": data.TOWN_A,
        "demo": data.COUNTY,  # the name the demo always printed
        "demo_leader": data.COUNTY,
        "demo_prefecture": data.PREFECTURE,
        "demo_province": data.PROVINCE,
        "demo_national": "",
    }
    for u in logins:
        user = authenticate(username=u.username, password=u.password)
        assert user is not None, u.username
        assert user.profile.role == u.role
        if u.area_code:
            assert Area.objects.get(code=u.area_code).level == ROLE_LEVEL[u.role]
    assert len({u.password for u in logins}) == len(logins)


def test_a_rerun_gives_new_passwords_and_reactivates(tree: None) -> None:
    first = {u.username: u.password for u in demo_users(data.COUNTY)}
    get_user_model().objects.filter(username="demo_cadre").update(is_active=False)
    again = {u.username: u.password for u in demo_users(data.COUNTY)}
    assert set(first) == set(again)
    assert all(first[n] != again[n] for n in first)
    assert get_user_model().objects.filter(username__startswith="demo").count() == len(first)
    cadre = authenticate(username="demo_cadre", password=again["demo_cadre"])
    assert cadre is not None and cadre.is_active


def test_the_demo_line_can_go_through_a_chosen_village(tree: None) -> None:
    """The demo binds its village and township users where the work is (the village it
    names); a code that is not a village of the county falls back to the first line."""
    where = {u.username: u.area_code for u in demo_users(data.COUNTY, data.B1)}
    assert (where["demo_doctor"], where["demo_township"]) == (data.B1, data.TOWN_B)
    where = {u.username: u.area_code for u in demo_users(data.COUNTY, data.TOWN_B)}
    assert (where["demo_doctor"], where["demo_township"]) == (data.A1, data.TOWN_A)
