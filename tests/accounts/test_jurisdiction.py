"""User management within a jurisdiction: who may give which role over which area, and the
trace of it. Nobody grants more than they have, in any direction."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AnonymousUser
from django.http import Http404
from django.utils import translation

from ruralwatch.accounts import access
from ruralwatch.accounts.models import MANAGING_ROLES, ROLE_LEVEL, AccountEvent, Role
from ruralwatch.accounts.services import (
    AccountError,
    NotAllowed,
    create_user_in_jurisdiction,
    create_user_with_jurisdiction,
    deactivate_user_in_jurisdiction,
    grantable_roles,
)
from ruralwatch.areas.models import Area
from ruralwatch.dispatch.models import ROLE_LEVEL as DISPATCH_ROLE_LEVEL
from ruralwatch.dispatch.models import Task
from ruralwatch.dispatch.services import can_act
from tests.accounts import conftest as _fixtures
from tests.accounts.conftest import OTHER_VILLAGE, PASSWORD
from tests.dashboard import data

#: Every database test here uses the people: built once for the module (tests.fixtures.shared_db).
people = _fixtures.shared_people

User = get_user_model()
#: An area of each level inside the test county's line (national: none).
AREA_OF_LEVEL = {
    1: data.PROVINCE,
    2: data.PREFECTURE,
    3: data.COUNTY,
    4: data.TOWN_A,
    5: data.A1,
}
NOW = dt.datetime(2026, 12, 3, 10, 0, tzinfo=dt.UTC)


@pytest.fixture(autouse=True)
def _english() -> Any:
    """The messages are matched in English (the pages' tests check zh-Hans)."""
    with translation.override("en"):
        yield


def _area_for(role: str) -> str:
    return AREA_OF_LEVEL.get(ROLE_LEVEL[role], "")


def test_every_role_has_a_level_and_the_levels_are_the_five_plus_national() -> None:
    assert set(ROLE_LEVEL) == set(Role.values)
    assert sorted(set(ROLE_LEVEL.values())) == [0, 1, 2, 3, 4, 5]
    assert ROLE_LEVEL[Role.VILLAGE_CADRE] == ROLE_LEVEL[Role.VILLAGE_DOCTOR] == 5
    assert ROLE_LEVEL[Role.COUNTY_LEADER] == ROLE_LEVEL[Role.COUNTY] == 3


def test_county_creates_township_and_village_users_in_its_county(people: dict[str, Any]) -> None:
    county = people["county"]
    town, generated = create_user_in_jurisdiction(
        county, "new_town_b", Role.TOWNSHIP, data.TOWN_B, now=NOW
    )
    assert generated and town.check_password(generated)
    cadre, generated = create_user_in_jurisdiction(
        county, " new_cadre ", Role.VILLAGE_CADRE, data.A2, password="a-Long-cadre-pass-9"
    )
    assert generated == "" and cadre.check_password("a-Long-cadre-pass-9")
    assert cadre.get_username() == "new_cadre"
    assert (cadre.profile.role, cadre.profile.jurisdiction_id) == (Role.VILLAGE_CADRE, data.A2)
    event = AccountEvent.objects.get(user=town)
    assert (event.kind, event.actor, event.at, event.role, event.area_code) == (
        "created",
        county,
        NOW,
        Role.TOWNSHIP,
        data.TOWN_B,
    )
    # The new users see their own subtree, as any user does.
    assert access.access_area_by_code(cadre, data.A2).code == data.A2
    with pytest.raises(Http404):
        access.access_area_by_code(cadre, data.A1)


def test_township_manages_its_villages_only(people: dict[str, Any]) -> None:
    town = people["town_a"]
    user, _ = create_user_in_jurisdiction(town, "doc_a2", Role.VILLAGE_DOCTOR, data.A2)
    assert user.profile.jurisdiction_id == data.A2
    with pytest.raises(Http404) as outside:
        create_user_in_jurisdiction(town, "doc_b1x", Role.VILLAGE_DOCTOR, data.B1)
    with pytest.raises(Http404) as missing:
        create_user_in_jurisdiction(town, "doc_b1x", Role.VILLAGE_DOCTOR, data.MISSING)
    assert str(outside.value) == str(missing.value)
    with pytest.raises(Http404):
        create_user_in_jurisdiction(town, "doc_far", Role.VILLAGE_DOCTOR, OTHER_VILLAGE)
    assert not User.objects.filter(username__in=["doc_b1x", "doc_far"]).exists()


@pytest.mark.parametrize("actor", ["town_a", "county", "prefecture", "province", "national"])
def test_no_role_at_or_above_the_actors_own_level(actor: str, people: dict[str, Any]) -> None:
    """Escalation refused in every direction: each role at or above the actor's level, even over
    an area inside the actor's own jurisdiction (its own area), is refused."""
    user = people[actor]
    mine = ROLE_LEVEL[user.profile.role]
    assert grantable_roles(user) == [r for r in Role.values if ROLE_LEVEL[r] > mine]
    for n, role in enumerate(r for r in Role.values if ROLE_LEVEL[r] <= mine):
        area = user.profile.jurisdiction_id or data.PROVINCE
        with pytest.raises(AccountError) as refused:
            create_user_in_jurisdiction(user, f"up{n}", role, area)
        assert not isinstance(refused.value, NotAllowed)
        assert "below your own level" in str(refused.value)
    assert not User.objects.filter(username__startswith="up").exists()


@pytest.mark.parametrize("actor", ["town_a", "county", "prefecture", "province", "national"])
def test_every_role_below_is_granted_inside(actor: str, people: dict[str, Any]) -> None:
    user = people[actor]
    for n, role in enumerate(grantable_roles(user)):
        made, _ = create_user_in_jurisdiction(user, f"down{n}", role, _area_for(role))
        assert made.profile.role == role


@pytest.mark.parametrize("actor", ["doctor_a1", "cadre_a1", "leader"])
def test_roles_that_grant_nothing(actor: str, people: dict[str, Any]) -> None:
    user = people[actor]
    assert grantable_roles(user) == []
    assert access.manages_from(user) is None
    assert not access.scope_users(user).exists()
    with pytest.raises(NotAllowed):
        create_user_in_jurisdiction(user, "x1", Role.VILLAGE_CADRE, data.A1)
    with pytest.raises(NotAllowed):
        deactivate_user_in_jurisdiction(user, people["doctor_a1"])
    assert people["doctor_a1"].is_active


def test_no_access_without_an_active_profile(people: dict[str, Any]) -> None:
    bare = User.objects.create_user("bare", password=PASSWORD)
    inactive = people["county"]
    inactive.is_active = False
    for user in (AnonymousUser(), bare, inactive):
        assert access.manages_from(user) is None
        assert not access.scope_users(user).exists()
        with pytest.raises(NotAllowed):
            create_user_in_jurisdiction(user, "x2", Role.TOWNSHIP, data.TOWN_A)


def test_role_must_fit_the_areas_level(people: dict[str, Any]) -> None:
    county = people["county"]
    for role, area in [
        (Role.TOWNSHIP, data.A1),
        (Role.VILLAGE_DOCTOR, data.TOWN_A),
        (Role.VILLAGE_CADRE, data.COUNTY),
    ]:
        with pytest.raises(AccountError, match="is for a"):
            create_user_in_jurisdiction(county, "mismatch", role, area)
    with pytest.raises(AccountError, match="Unknown role"):
        create_user_in_jurisdiction(county, "mismatch", "mayor", data.A1)
    # The low-level writer keeps the same invariant.
    with pytest.raises(ValueError, match="is for a"):
        create_user_with_jurisdiction("mismatch", PASSWORD, data.A1, Role.TOWNSHIP)
    with pytest.raises(ValueError):
        create_user_with_jurisdiction("mismatch", PASSWORD, data.PROVINCE, Role.NATIONAL)
    assert not User.objects.filter(username="mismatch").exists()


def test_user_name_and_password_rules(people: dict[str, Any]) -> None:
    county = people["county"]
    with pytest.raises(AccountError, match="already exists"):
        create_user_in_jurisdiction(county, "doctor_a1", Role.VILLAGE_DOCTOR, data.A1)
    with pytest.raises(AccountError, match="empty"):
        create_user_in_jurisdiction(county, "  ", Role.VILLAGE_DOCTOR, data.A1)
    with pytest.raises(AccountError, match="user name"):
        create_user_in_jurisdiction(county, "bad name!", Role.VILLAGE_DOCTOR, data.A1)
    with pytest.raises(AccountError, match="password refused"):
        create_user_in_jurisdiction(county, "weak", Role.VILLAGE_DOCTOR, data.A1, password="1234")
    assert not User.objects.filter(username__in=["weak", "bad name!"]).exists()


def test_deactivation_in_jurisdiction_is_logged(people: dict[str, Any]) -> None:
    town = people["town_a"]
    doctor = access.access_user_by_id(town, people["doctor_a1"].pk)
    deactivate_user_in_jurisdiction(town, doctor, now=NOW)
    doctor.refresh_from_db()
    assert not doctor.is_active
    event = AccountEvent.objects.get(user=doctor, kind="deactivated")
    assert (event.actor, event.at, event.role, event.area_code) == (
        town,
        NOW,
        Role.VILLAGE_DOCTOR,
        data.A1,
    )
    deactivate_user_in_jurisdiction(town, doctor)  # again: nothing new
    assert AccountEvent.objects.filter(user=doctor, kind="deactivated").count() == 1


@pytest.mark.parametrize(
    ("actor", "target"),
    [
        ("town_a", "doctor_b1"),  # another township's village
        ("town_a", "town_b"),  # a peer
        ("town_a", "county"),  # above
        ("town_a", "town_a"),  # oneself
        ("county", "leader"),  # the same level, the same area
        ("county", "other_doctor"),  # another county
        ("county", "prefecture"),
        ("province", "national"),
    ],
)
def test_deactivation_outside_is_the_same_404_as_missing(
    actor: str, target: str, people: dict[str, Any]
) -> None:
    user, other = people[actor], people[target]
    with pytest.raises(Http404) as outside:
        access.access_user_by_id(user, other.pk)
    with pytest.raises(Http404) as missing:
        access.access_user_by_id(user, 999_999)
    assert str(outside.value) == str(missing.value)
    with pytest.raises(Http404):
        deactivate_user_in_jurisdiction(user, other)  # the service checks again
    other.refresh_from_db()
    assert other.is_active


def test_scope_users_is_the_subtree_below(people: dict[str, Any]) -> None:
    def names(who: str) -> set[str]:
        return set(access.scope_users(people[who]).values_list("username", flat=True))

    assert names("town_a") == {"doctor_a1", "cadre_a1"}
    assert names("town_b") == {"doctor_b1"}
    assert names("other_town") == {"other_doctor"}
    county = {"doctor_a1", "cadre_a1", "doctor_b1", "town_a", "town_b"}
    assert names("county") == county
    assert names("prefecture") == county | {"county", "leader"} | {
        "other_county",
        "other_town",
        "other_doctor",
    }
    assert names("province") == names("prefecture") | {"prefecture"}
    assert names("national") == names("province") | {"province"}
    admin = User.objects.create_superuser("root", password=PASSWORD)
    assert set(access.scope_users(admin).values_list("username", flat=True)) == names(
        "national"
    ) | {"national"}
    assert "root" not in names("national")


def test_odd_ids_name_nobody(people: dict[str, Any]) -> None:
    for value in ("-1", "0", "x", "9" * 30, None):
        with pytest.raises(Http404):
            access.access_user_by_id(people["county"], value)  # type: ignore[arg-type]


def _task(owner: str, role: str) -> Task:
    area = Area.objects.get(code=owner)
    return Task(owner_area=area, owner_path=area.path, owner_role=role, owner_level=area.level)


def test_task_rights_of_the_new_roles(people: dict[str, Any]) -> None:
    """The village cadre acts like the village doctor; the county leader reads and acts on
    nothing (docs/dispatch.md, Roles); the duty officer acts at the county and below."""
    village_task = _task(data.A1, Role.VILLAGE_DOCTOR)
    county_task = _task(data.COUNTY, Role.COUNTY)
    township_task = _task(data.TOWN_A, Role.TOWNSHIP)
    assert DISPATCH_ROLE_LEVEL[Role.VILLAGE_CADRE] == 5
    assert Role.COUNTY_LEADER not in DISPATCH_ROLE_LEVEL
    assert can_act(people["cadre_a1"], village_task)
    assert can_act(people["doctor_a1"], village_task)
    assert not can_act(people["cadre_a1"], township_task)
    for task in (village_task, township_task, county_task):
        assert not can_act(people["leader"], task)
        assert can_act(people["county"], task)
    assert Role.COUNTY_LEADER not in MANAGING_ROLES
