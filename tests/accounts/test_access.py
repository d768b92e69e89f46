"""Scoping: the jurisdiction subtree, deny by default, one 404 for missing and forbidden."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AnonymousUser
from django.http import Http404

from ruralwatch.accounts.access import access_area_by_code, scope_areas
from ruralwatch.accounts.models import Profile, Role
from ruralwatch.accounts.services import create_user_with_jurisdiction
from tests.dashboard import data


@pytest.fixture
def tree(db: None, tmp_path: Path) -> None:
    data.build_tree(tmp_path)


def _codes(user) -> set[str]:
    return set(scope_areas(user).values_list("code", flat=True))


def test_township_user_sees_its_subtree_only(tree: None) -> None:
    user = create_user_with_jurisdiction("a", "pw-123456", data.TOWN_A, Role.TOWNSHIP)
    assert _codes(user) == {data.TOWN_A, data.A1, data.A2}
    assert access_area_by_code(user, data.A1).code == data.A1
    for code in (data.TOWN_B, data.B1, data.COUNTY, data.PROVINCE, data.MISSING, "x"):
        with pytest.raises(Http404):
            access_area_by_code(user, code)


def test_county_user_sees_both_townships(tree: None) -> None:
    user = create_user_with_jurisdiction("c", "pw-123456", data.COUNTY, Role.COUNTY)
    assert _codes(user) == {data.COUNTY, data.TOWN_A, data.TOWN_B, data.A1, data.A2, data.B1}


def test_sibling_code_prefix_does_not_leak(tree: None, tmp_path: Path) -> None:
    # The path ends with "/", so township 110101001000 never matches 1101010010001… codes.
    user = create_user_with_jurisdiction("a", "pw-123456", data.TOWN_A, Role.TOWNSHIP)
    assert all(code.startswith(data.TOWN_A[:9]) for code in _codes(user))


def test_deny_by_default(tree: None) -> None:
    User = get_user_model()
    no_profile = User.objects.create_user("np", password="pw-123456")
    assert _codes(no_profile) == set()
    no_area = User.objects.create_user("na", password="pw-123456")
    Profile.objects.create(user=no_area, role=Role.COUNTY, jurisdiction=None)
    assert _codes(no_area) == set()
    assert _codes(AnonymousUser()) == set()
    inactive = create_user_with_jurisdiction("in", "pw-123456", data.COUNTY, Role.COUNTY)
    inactive.is_active = False
    assert _codes(inactive) == set()
    with pytest.raises(Http404):
        access_area_by_code(no_profile, data.COUNTY)


def test_superuser_and_national_see_everything(tree: None) -> None:
    admin = get_user_model().objects.create_superuser("root", password="pw-123456")
    assert len(_codes(admin)) == 8
    national = create_user_with_jurisdiction("nat", "pw-123456", None, Role.NATIONAL)
    assert len(_codes(national)) == 8
    with pytest.raises(Http404):
        access_area_by_code(admin, data.MISSING)


def test_create_user_validates(tree: None) -> None:
    with pytest.raises(ValueError):
        create_user_with_jurisdiction("x", "pw-123456", data.MISSING, Role.COUNTY)
    with pytest.raises(ValueError):
        create_user_with_jurisdiction("x", "pw-123456", data.COUNTY, "mayor")
    with pytest.raises(ValueError):
        create_user_with_jurisdiction("x", "pw-123456", None, Role.COUNTY)
    assert not get_user_model().objects.filter(username="x").exists()
    user = create_user_with_jurisdiction("ok", "pw-123456", data.TOWN_B, Role.TOWNSHIP)
    assert user.check_password("pw-123456")
    assert user.profile.jurisdiction_id == data.TOWN_B
