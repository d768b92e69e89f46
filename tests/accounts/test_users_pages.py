"""The user-management page and the users API: scoped to the users below me, one 404 for a
user or an area outside the jurisdiction and a missing one, in zh-Hans and English."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from ruralwatch.accounts.models import AccountEvent, Role
from ruralwatch.api.services import create_token
from tests.accounts import conftest as _fixtures
from tests.accounts.conftest import OTHER_VILLAGE
from tests.dashboard import data

#: Every database test here uses the people: built once for the module (tests.fixtures.shared_db).
people = _fixtures.shared_people

User = get_user_model()
PAGE = "/accounts/users/"
CSRF = re.compile(r'name="csrfmiddlewaretoken" value="[^"]*"')


def _client(user: Any, language: str = "zh-hans") -> Client:
    client = Client(HTTP_ACCEPT_LANGUAGE=language)
    client.force_login(user)
    return client


def _text(response: Any) -> str:
    return CSRF.sub("", response.content.decode())


def test_county_page_lists_its_users_and_offers_only_roles_below(people: dict[str, Any]) -> None:
    response = _client(people["county"]).get(PAGE)
    assert response.status_code == 200
    text = _text(response)
    for name in ("doctor_a1", "cadre_a1", "doctor_b1", "town_a", "town_b"):
        assert name in text
    for name in ("other_doctor", "other_town", "other_county", "leader", "prefecture", "丁"):
        assert name not in text
    select = text.split('id="id_role"')[1].split("</select>")[0]
    roles = re.findall(r'<option value="(\w+)"', select)
    assert roles == [Role.VILLAGE_DOCTOR, Role.VILLAGE_CADRE, Role.TOWNSHIP]
    assert "用户" in text and "创建用户" in text and "村干部" in text
    english = _text(_client(people["county"], "en").get(PAGE))
    assert "Create a user" in english and "village cadre" in english


def test_township_page_never_shows_another_townships_users(people: dict[str, Any]) -> None:
    text = _text(_client(people["town_a"]).get(PAGE))
    assert "doctor_a1" in text and "cadre_a1" in text
    assert "doctor_b1" not in text and "town_b" not in text and "乙一村" not in text
    # The area list offers its own villages only.
    assert data.A2 in text and data.B1 not in text


@pytest.mark.parametrize("who", ["doctor_a1", "cadre_a1", "leader"])
def test_roles_that_manage_nobody_get_a_plain_page(who: str, people: dict[str, Any]) -> None:
    client = _client(people[who])
    response = client.get(PAGE)
    assert response.status_code == 200
    text = _text(response)
    assert "不管理用户" in text and '<form method="post" novalidate' not in text
    before = User.objects.count()
    body = {"username": "sneaky", "role": "village_cadre", "area": data.A1, "password": ""}
    assert client.post(PAGE, body).status_code == 200
    assert User.objects.count() == before


def test_create_on_the_page_shows_the_generated_password_once(people: dict[str, Any]) -> None:
    client = _client(people["town_a"], "en")
    body = {"username": "new_cadre", "role": "village_cadre", "area": data.A2, "password": ""}
    response = client.post(PAGE, body)
    assert response.status_code == 200
    text = _text(response)
    password = re.search(r'<code class="acc-password">([^<]+)</code>', text)
    assert password is not None
    user = User.objects.get(username="new_cadre")
    assert user.check_password(password[1])
    assert (user.profile.role, user.profile.jurisdiction_id) == (Role.VILLAGE_CADRE, data.A2)
    assert "Created new_cadre: village cadre of 甲二村" in text
    assert password[1] not in _text(client.get(PAGE))  # shown only once
    event = AccountEvent.objects.get(user=user)
    assert (event.kind, event.actor) == ("created", people["town_a"])


def test_create_outside_and_missing_area_answer_alike(people: dict[str, Any]) -> None:
    client = _client(people["town_a"], "en")
    answers = []
    for area in (data.B1, OTHER_VILLAGE, data.MISSING):
        body = {"username": "far", "role": "village_doctor", "area": area, "password": ""}
        response = client.post(PAGE, body)
        assert response.status_code == 200
        answers.append(_text(response).replace(area, "<area>"))
    assert answers[0] == answers[1] == answers[2]
    assert "No such area." in answers[0]
    assert not User.objects.filter(username="far").exists()


def test_create_refuses_a_role_above_and_a_mismatched_level(people: dict[str, Any]) -> None:
    client = _client(people["county"], "en")
    up = {"username": "up", "role": "county", "area": data.COUNTY, "password": ""}
    text = _text(client.post(PAGE, up))
    assert "Select a valid choice" in text  # not even offered
    mismatch = {"username": "mm", "role": "township", "area": data.A1, "password": ""}
    text = _text(client.post(PAGE, mismatch))
    assert "is for a township" in text and "Nothing was saved" in text
    assert not User.objects.filter(username__in=["up", "mm"]).exists()


def test_deactivate_on_the_page(people: dict[str, Any]) -> None:
    county = people["county"]
    client = _client(county, "en")
    doctor = people["doctor_b1"]
    response = client.post(f"/accounts/users/{doctor.pk}/deactivate/")
    assert response.status_code == 302 and response["Location"] == PAGE
    doctor.refresh_from_db()
    assert not doctor.is_active
    text = _text(client.get(PAGE))
    assert "doctor_b1 is deactivated" in text
    assert re.search(r"deactivated \d{4}-\d\d-\d\d \d\d:\d\d by county", text)
    assert client.get(f"/accounts/users/{doctor.pk}/deactivate/").status_code == 405


def test_deactivate_outside_is_the_same_404_as_missing(people: dict[str, Any]) -> None:
    client = _client(people["town_a"])
    answers = []
    for target in (people["doctor_b1"].pk, people["county"].pk, people["town_a"].pk, 999_999):
        response = client.post(f"/accounts/users/{target}/deactivate/")
        answers.append((response.status_code, _text(response).replace(str(target), "<id>")))
    assert {a[0] for a in answers} == {404}
    assert len({a[1] for a in answers}) == 1
    assert User.objects.filter(is_active=False).count() == 0


# --- API --------------------------------------------------------------------------------------


def _api(user: Any) -> tuple[Client, dict[str, str]]:
    _, token = create_token(user, "test")
    return Client(), {"HTTP_AUTHORIZATION": f"Bearer {token}", "HTTP_ACCEPT_LANGUAGE": "en"}


def test_api_lists_the_users_below(people: dict[str, Any]) -> None:
    client, auth = _api(people["town_a"])
    body = client.get("/api/users", **auth).json()
    assert body["count"] == 2
    assert [(u["username"], u["role"], u["area"]["code"]) for u in body["items"]] == [
        ("cadre_a1", "village_cadre", data.A1),
        ("doctor_a1", "village_doctor", data.A1),
    ]
    assert body["items"][0]["role_label"] == "village cadre" and body["items"][0]["active"]
    client, auth = _api(people["doctor_a1"])
    assert client.get("/api/users", **auth).json()["count"] == 0
    client, auth = _api(people["national"])
    names = {u["username"] for u in client.get("/api/users?limit=500", **auth).json()["items"]}
    assert "province" in names and "national" not in names


def test_a_generated_password_the_validators_refuse_is_drawn_again(
    people: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """About one in 4,000 random passwords is "too similar" to a user name like api_town:
    the administrator who asked for a generated one gets another, not a refusal."""
    from ruralwatch.accounts import services

    drawn = iter(["_wpTIXVyVaNQ", "Qv3kLm9ZpR2x"])  # the first refused for api_town
    monkeypatch.setattr(services.secrets, "token_urlsafe", lambda n: next(drawn))
    assert services._refusals("api_town", "_wpTIXVyVaNQ")
    client, auth = _api(people["county"])
    made = client.post(
        "/api/users",
        {"username": "api_town", "role": "township", "area": data.TOWN_B},
        content_type="application/json",
        **auth,
    )
    assert made.status_code == 201, made.content
    assert made.json()["password"] == "Qv3kLm9ZpR2x"
    assert get_user_model().objects.get(username="api_town").check_password("Qv3kLm9ZpR2x")


def test_api_create_and_its_refusals(people: dict[str, Any]) -> None:
    client, auth = _api(people["county"])

    def post(**body: str) -> Any:
        return client.post("/api/users", body, content_type="application/json", **auth)

    made = post(username="api_town", role="township", area=data.TOWN_B)
    assert made.status_code == 201, made.content
    out = made.json()
    assert out["area"]["code"] == data.TOWN_B and out["password"]
    assert User.objects.get(username="api_town").check_password(out["password"])
    given = post(username="api_doc", role="village_doctor", area=data.B1, password="Long-pass-77x")
    assert given.status_code == 201 and given.json()["password"] == ""

    up = post(username="api_up", role="county_leader", area=data.COUNTY)
    assert up.status_code == 422 and "below your own level" in up.json()["detail"]
    mismatch = post(username="api_mm", role="village_doctor", area=data.TOWN_A)
    assert mismatch.status_code == 422
    outside = post(username="api_far", role="village_doctor", area=OTHER_VILLAGE)
    missing = post(username="api_far", role="village_doctor", area=data.MISSING)
    assert outside.status_code == missing.status_code == 404
    assert outside.json() == missing.json()
    assert post(username="", role="township", area=data.TOWN_B).status_code == 422
    assert post(username="x", role="township").status_code == 422  # no area
    assert not User.objects.filter(username__in=["api_up", "api_mm", "api_far"]).exists()

    client, auth = _api(people["leader"])
    refused = post(username="api_l", role="village_cadre", area=data.A1)
    assert refused.status_code == 403 and "does not manage users" in refused.json()["detail"]


def test_api_deactivate_scoped(people: dict[str, Any]) -> None:
    client, auth = _api(people["town_a"])
    doctor = people["doctor_a1"]
    done = client.post(f"/api/users/{doctor.pk}/deactivate", **auth)
    assert done.status_code == 200, done.content
    out = done.json()
    assert out["active"] is False and out["deactivated_by"] == "town_a" and out["deactivated_at"]
    again = client.post(f"/api/users/{doctor.pk}/deactivate", **auth)
    assert again.status_code == 200
    assert AccountEvent.objects.filter(user=doctor, kind="deactivated").count() == 1
    answers = [
        client.post(f"/api/users/{pk}/deactivate", **auth)
        for pk in (people["doctor_b1"].pk, people["town_b"].pk, people["county"].pk, 999_999)
    ]
    assert {a.status_code for a in answers} == {404}
    assert len({a.content for a in answers}) == 1
    assert User.objects.filter(is_active=False).count() == 1
    # A deactivated user's token stops working.
    _, token = create_token(people["cadre_a1"], "t")
    client.post(f"/api/users/{people['cadre_a1'].pk}/deactivate", **auth)
    assert Client().get("/api/users", HTTP_AUTHORIZATION=f"Bearer {token}").status_code == 401


def test_search_and_the_top_bar_link(people: dict[str, Any]) -> None:
    client = _client(people["county"], "en")
    text = _text(client.get(PAGE + "?q=甲二"))  # nobody in 甲二村 yet
    assert "Nobody matches." in text
    text = _text(client.get(PAGE + "?q=" + data.TOWN_B[:9]))  # code prefix of 乙乡
    assert "town_b" in text and "doctor_b1" in text and "doctor_a1" not in text
    text = _text(client.get(PAGE + "?q=cadre"))
    assert "1 user found" in text and "cadre_a1" in text
    assert 'href="/accounts/users/"' in _text(client.get("/"))
    doctor = _client(people["doctor_a1"], "en")
    assert 'href="/accounts/users/"' not in _text(doctor.get("/keygroups/"))


def test_the_trace_is_read_only_in_the_admin(people: dict[str, Any]) -> None:
    from ruralwatch.accounts.services import deactivate_user_in_jurisdiction

    deactivate_user_in_jurisdiction(people["county"], people["doctor_b1"])
    admin = User.objects.create_superuser("root", password="pw-Long-enough-123")
    client = _client(admin, "en")
    text = _text(client.get("/admin/accounts/accountevent/"))
    assert "doctor_b1" in text and "deactivated" in text
    event = AccountEvent.objects.get(user=people["doctor_b1"])
    assert client.post(f"/admin/accounts/accountevent/{event.pk}/delete/").status_code == 403
    assert AccountEvent.objects.filter(pk=event.pk).exists()


def test_the_page_and_the_list_cost_the_same_queries_for_many_users(
    people: dict[str, Any], tmp_path: Any
) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from ruralwatch.accounts.services import create_user_with_jurisdiction

    def cost(client: Client, url: str, **extra: str) -> int:
        client.get(url, **extra)  # warm: a token's first use records it once
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(url, **extra).status_code == 200
        return len(ctx.captured_queries)

    page = _client(people["county"])
    api, auth = _api(people["county"])
    few = (cost(page, PAGE), cost(api, "/api/users", **auth))
    villages = data.add_villages(tmp_path, data.TOWN_B, 20)
    for n, code in enumerate(villages):
        create_user_with_jurisdiction(f"many{n}", "pw-Long-enough-123", code, Role.VILLAGE_CADRE)
    many = (cost(page, PAGE), cost(api, "/api/users", **auth))
    assert many == few
    assert few[0] <= 12 and few[1] <= 8, few


def test_reactivate_on_the_page_and_through_the_api(people: dict[str, Any]) -> None:
    """A user deactivated by mistake is brought back by the level above, traced like the
    deactivation; nobody outside the jurisdiction can, and the answer is the missing-user 404."""
    county = people["county"]
    doctor = people["doctor_b1"]
    client = _client(county, "en")
    client.post(f"/accounts/users/{doctor.pk}/deactivate/")
    text = _text(client.get(PAGE))
    assert f"/accounts/users/{doctor.pk}/reactivate/" in text and "Reactivate doctor_b1" in text
    outside = _client(people["town_a"]).post(f"/accounts/users/{doctor.pk}/reactivate/")
    assert outside.status_code == 404
    doctor.refresh_from_db()
    assert not doctor.is_active
    response = client.post(f"/accounts/users/{doctor.pk}/reactivate/")
    assert response.status_code == 302 and response["Location"] == PAGE
    doctor.refresh_from_db()
    assert doctor.is_active
    assert "doctor_b1 is active again" in _text(client.get(PAGE))
    kinds = list(
        AccountEvent.objects.filter(user=doctor).order_by("at", "pk").values_list("kind", "actor")
    )
    assert kinds == [("deactivated", county.pk), ("reactivated", county.pk)]
    # The API, for a user of a township's own village.
    api, auth = _api(people["town_a"])
    cadre = people["cadre_a1"]
    api.post(f"/api/users/{cadre.pk}/deactivate", **auth)
    back = api.post(f"/api/users/{cadre.pk}/reactivate", **auth)
    assert back.status_code == 200 and back.json()["active"] is True
    again = api.post(f"/api/users/{cadre.pk}/reactivate", **auth)
    assert again.status_code == 200
    assert AccountEvent.objects.filter(user=cadre, kind="reactivated").count() == 1
    assert api.post(f"/api/users/{doctor.pk}/reactivate", **auth).status_code == 404
