"""``ruralwatch users``: create (scoped like the web), token, list, deactivate; clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.utils import translation
from typer.testing import CliRunner

from ruralwatch.accounts.models import Role
from ruralwatch.cli import app
from tests.dashboard import data

runner = CliRunner()


@pytest.fixture
def tree(db: None, tmp_path: Path) -> None:
    data.build_tree(tmp_path)


def _users(*args: str, stdin: str | None = None, language: str = "en") -> tuple[int, str]:
    with translation.override(language):
        result = runner.invoke(app, ["users", *args], input=stdin)
    return result.exit_code, result.output


def _me(token: str) -> tuple[int, dict[str, object]]:
    response = Client().get("/api/auth/me", HTTP_AUTHORIZATION=f"Bearer {token}")
    return response.status_code, response.json()


def test_create_with_a_password_from_stdin_scoped_like_the_web(tree: None) -> None:
    code, out = _users(
        "create",
        "--username",
        "doc",
        "--area",
        data.A1,
        "--role",
        "village_doctor",
        "--password-stdin",
        stdin="a-long-village-pass\n",
    )
    assert code == 0, out
    assert f"village_doctor over {data.A1}" in out and "password:" not in out
    user = get_user_model().objects.get(username="doc")
    assert user.check_password("a-long-village-pass")
    assert user.profile.role == Role.VILLAGE_DOCTOR and user.profile.jurisdiction_id == data.A1
    # The site lets the new user in with that password.
    client = Client()
    assert client.login(username="doc", password="a-long-village-pass")


def test_token_acts_for_the_user_within_their_area_and_dies_with_deactivation(tree: None) -> None:
    assert (
        _users("create", "--username", "town", "--area", data.TOWN_A, "--role", "township")[0] == 0
    )
    code, out = _users("token", "town", "--name", "script")
    assert code == 0, out
    token = out.strip().splitlines()[-1]
    assert token.startswith("rwt_")
    status, me = _me(token)
    assert status == 200 and me["username"] == "town" and me["role"] == "township"
    assert me["jurisdiction"]["code"] == data.TOWN_A  # type: ignore[index]
    scoped = Client().get(f"/api/areas/{data.B1}", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert scoped.status_code == 404  # another township's village: as if it did not exist
    code, out = _users("deactivate", "town")
    assert code == 0
    assert _me(token)[0] == 401
    assert not get_user_model().objects.get(username="town").is_active
    code, out = _users("token", "town")
    assert code == 1 and "deactivated" in out


def test_a_generated_password_is_printed_once(tree: None) -> None:
    code, out = _users("create", "--username", "nat", "--role", "national")
    assert code == 0, out
    password = out.split("password:")[1].strip()
    assert get_user_model().objects.get(username="nat").check_password(password)
    assert "the whole tree" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--username", "x", "--area", data.MISSING, "--role", "township"], "unknown area code"),
        (["--username", "x", "--area", data.TOWN_A, "--role", "mayor"], "unknown role mayor"),
        (["--username", "x", "--area", data.TOWN_A, "--role", "county"], "role county is for a"),
        (["--username", "x", "--area", data.A1, "--role", "township"], "role township is for a"),
        (["--username", "x", "--role", "county"], "role county needs an area code"),
        (["--username", "x", "--area", data.COUNTY, "--role", "national"], "give no area"),
        (["--username", "bad name!", "--area", data.A1, "--role", "village_doctor"], "user name"),
    ],
)
def test_bad_requests_are_refused_with_a_reason(tree: None, args: list[str], message: str) -> None:
    before = get_user_model().objects.count()
    code, out = _users("create", *args, "--password-stdin", stdin="a-long-village-pass\n")
    assert code == 1
    assert message in out and "Traceback" not in out
    assert get_user_model().objects.count() == before


def test_duplicate_user_and_weak_password_are_refused(tree: None) -> None:
    args = ["create", "--username", "doc", "--area", data.A1, "--role", "village_doctor"]
    assert _users(*args)[0] == 0
    code, out = _users(*args)
    assert code == 1 and "user doc already exists" in out
    for weak in ("12345678901", "password", "short1", "wangfang1"):
        code, out = _users(
            "create",
            "--username",
            "wangfang",
            "--area",
            data.A2,
            "--role",
            "village_doctor",
            "--password-stdin",
            stdin=weak + "\n",
        )
        assert code == 1 and "password refused" in out, (weak, out)
    assert not get_user_model().objects.filter(username="wangfang").exists()


def test_errors_are_in_the_default_language_too(tree: None) -> None:
    code, out = _users(
        "create",
        "--username",
        "x",
        "--area",
        data.MISSING,
        "--role",
        "township",
        language="zh-hans",
    )
    assert code == 1 and f"未知区划代码 {data.MISSING}" in out


def test_list_shows_users_within_an_area(tree: None) -> None:
    _users("create", "--username", "doc_a1", "--area", data.A1, "--role", "village_doctor")
    _users("create", "--username", "doc_b1", "--area", data.B1, "--role", "village_doctor")
    code, out = _users("list", "--area", data.TOWN_A)
    assert code == 0
    assert "doc_a1" in out and "doc_b1" not in out
    code, out = _users("list")
    assert "doc_a1" in out and "doc_b1" in out
    assert _users("list", "--area", data.MISSING)[0] == 1
    assert _users("deactivate", "nobody")[0] == 1


def test_new_roles_and_an_operators_deactivation_is_logged(tree: None) -> None:
    from ruralwatch.accounts.models import AccountEvent

    code, out = _users(
        "create", "--username", "cadre", "--area", data.A1, "--role", "village_cadre"
    )
    assert code == 0 and f"village_cadre over {data.A1}" in out, out
    code, out = _users(
        "create", "--username", "boss", "--area", data.COUNTY, "--role", "county_leader"
    )
    assert code == 0 and f"county_leader over {data.COUNTY}" in out, out
    code, out = _users("create", "--username", "x", "--area", data.A1, "--role", "county_leader")
    assert code == 1 and "role county_leader is for a county" in out
    assert _users("deactivate", "cadre")[0] == 0
    events = AccountEvent.objects.filter(user__username="cadre").order_by("at", "pk")
    assert [(e.kind, e.actor_id, e.role, e.area_code) for e in events] == [
        ("created", None, "village_cadre", data.A1),
        ("deactivated", None, "village_cadre", data.A1),
    ]
    code, out = _users("reactivate", "cadre")
    assert code == 0 and "cadre reactivated" in out
    assert [e.kind for e in events.all()][-1] == "reactivated"
    _users("create", "--username", "doc", "--area", data.A1, "--role", "village_doctor")
    code, out = _users("list", "--area", data.COUNTY)
    assert "village_cadre" in out and "county_leader" in out


def test_help_names_every_role() -> None:
    result = runner.invoke(app, ["users", "create", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    text = " ".join(result.output.split())
    for role in Role.values:
        assert role in text, role
