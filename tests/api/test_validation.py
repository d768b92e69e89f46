"""Every API parameter is checked: dates within a plausible span and in ISO form, filters with
their allowed values, unknown parameters refused, unparsable bodies a documented 422, and the
phone rule of the registration page applied to the API's registration alike."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils.html import escape

from ruralwatch.keygroups.models import Person
from tests.api import conftest as _fixtures
from tests.api.conftest import World, id_number, login
from tests.dashboard import data

#: Every database test here uses the world: built once for the module (tests.fixtures.shared_db).
world = _fixtures.shared_world

KG = "/api/keygroups"

#: Every operation that takes a date, with the parameter's name (GET only).
DATED = [
    f"/api/areas/{data.TOWN_A}?date=",
    f"/api/areas/{data.TOWN_A}/series?end=",
    f"/api/areas/{data.TOWN_A}/series?start=",
    f"/api/areas/{data.TOWN_A}/completeness?date=",
    f"/api/judgements/{data.TOWN_A}?date=",
    "/api/signals?end=",
    "/api/signals?start=",
    f"{KG}/persons?date=",
    f"{KG}/overdue?date=",
    f"{KG}/coverage?date=",
    f"{KG}/audit?area={data.TOWN_A}&date=",
    f"{KG}/export?date=",
]


def _errors(response: Any) -> str:
    body = response.json()
    return body["detail"] + " " + " ".join(str(e) for e in body.get("errors", []))


@pytest.mark.parametrize("url", DATED)
@pytest.mark.parametrize(
    "value", ["0001-01-01", "0001-01-03", "1899-12-31", "2100-01-01", "9999-12-31"]
)
def test_dates_outside_the_span_are_422_not_500(
    url: str, value: str, world: World, county: Any
) -> None:
    response = login(county).get(url + value)
    assert response.status_code == 422, response.content
    assert "1900-01-01" in _errors(response) and "2099-12-31" in _errors(response)


@pytest.mark.parametrize("url", DATED)
@pytest.mark.parametrize("value", ["0", "1672531200", "2023-1-5", "2023-01-05abc", "2023-02-30"])
def test_dates_that_are_not_iso_days_are_refused(
    url: str, value: str, world: World, county: Any
) -> None:
    response = login(county).get(url + value)
    assert response.status_code == 422, response.content


@pytest.mark.parametrize("url", DATED)
def test_dates_at_the_edges_of_the_span_are_answered(url: str, world: World, county: Any) -> None:
    client = login(county)
    for value in ("1900-01-01", "2099-12-31"):
        response = client.get(url + value)
        # A range from the default end to 2099 is too long, one ending in 1900 starts after its
        # end: refused with a message, never a 500.
        assert response.status_code in (200, 404, 422), (url, value, response.content)


def test_a_date_in_a_body_is_checked_alike(world: World, county: Any) -> None:
    url = f"{KG}/persons/{world.person_a.ref}/contacts"
    response = login(county).post(
        url, {"date": "0001-01-01", "method": "phone", "status": "well"}, "application/json"
    )
    assert response.status_code == 422 and "1900-01-01" in _errors(response)
    response = login(county).post(
        url, {"date": 0, "method": "phone", "status": "well"}, "application/json"
    )
    assert response.status_code == 422


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        (f"{KG}/persons?tier=purple", ("red", "yellow", "green")),
        (f"{KG}/persons?due=soon", ("overdue", "due")),
        (f"{KG}/export?limit=0", ("1",)),
        (f"{KG}/overdue?kind=nurse", ("doctor", "cadre")),
        (f"{KG}/coverage?level=9", ("5",)),
        (f"{KG}/audit?area={data.TOWN_A}&kind=lost", ("duplicate_person", "contact_overdue")),
        ("/api/signals?method=magic", ("ears-c1", "farrington")),
        (f"/api/areas/{data.TOWN_A}/series?indicator=nothing", ("new_cases", "deaths")),
        (f"/api/judgements/{data.TOWN_A}?indicator=nothing", ("new_cases", "deaths")),
    ],
)
def test_an_invalid_filter_value_is_422_with_the_allowed_values(
    url: str, allowed: tuple[str, ...], world: World, county: Any
) -> None:
    response = login(county).get(url)
    assert response.status_code == 422, response.content
    for value in allowed:
        assert value in _errors(response), (value, _errors(response))


def test_a_tier_filter_narrows_the_list(world: World, county: Any) -> None:
    client = login(county)
    tiers = {p.ref: p.tier for p in Person.objects.all()}
    for tier in ("red", "yellow", "green"):
        items = client.get(f"{KG}/persons?tier={tier}").json()["items"]
        assert sorted(i["ref"] for i in items) == sorted(r for r, t in tiers.items() if t == tier)


@pytest.mark.parametrize(
    "url",
    [
        f"{KG}/persons?colour=red",
        f"{KG}/persons?area={data.A1}&tiers=red",
        f"/api/areas/{data.TOWN_A}?day=2023-01-07",
        "/api/signals?from=2023-01-01",
        "/api/auth/me?x=1",
    ],
)
def test_an_unknown_parameter_is_422_naming_the_known_ones(
    url: str, world: World, county: Any
) -> None:
    response = login(county).get(url)
    assert response.status_code == 422, response.content
    text = _errors(response)
    assert "Unknown parameter" in text or "未知参数" in text, text


@pytest.mark.parametrize("body", [b"{", b"\xff\xfe", b'{"name": "x",}', b"null", b"[]"])
def test_an_unparsable_body_is_a_documented_422(body: bytes, world: World, county: Any) -> None:
    response = login(county).post(f"{KG}/persons", body, content_type="application/json")
    assert response.status_code == 422, response.content
    assert response.json()["detail"]


# --- one phone rule for the page and the API ----------------------------------------------------

PHONES = [
    "13800000000",
    "+86 138 0000 0000",
    "010-6512-3456",
    "1234567",
    "<b>x</b>;DROP",
    "---------",
    "1-------2",
    "123456",
    "123456789012345678901",
    "1234567890123456",  # 16 digits: the page's pattern admits it, the one rule (7-15) does not
    "13800000000\n",
    " 13800000000",
    "１３８００００００００",
]


def _registration(village: str, phone: str, seq: int) -> dict[str, Any]:
    birth = dt.date(1944, 4, 4)
    return {
        "name": "孙大爷",
        "sex": "M" if seq % 2 else "F",
        "birth_date": birth.isoformat(),
        "id_number": id_number(birth, seq),
        "village": village,
        "groups": ["age65"],
        "phone": phone,
    }


@pytest.mark.parametrize("field", ["phone", "guardian_phone"])
def test_the_api_and_the_page_accept_the_same_phones(field: str, world: World, county: Any) -> None:
    """The same person registered through the page (in village A1) and through the API (in
    village A2): both are stored or both are refused, with the page's message."""
    client = login(county)
    page = reverse("keygroups:register")
    for seq, phone in enumerate(PHONES, start=500):
        n = Person.objects.count()
        form = {**_registration(data.A1, "", seq), field: phone, "comorbidity": 0, "vaccination": 2}
        on_page = client.post(page, form)
        assert on_page.status_code in (302, 400), on_page.status_code
        page_ok = on_page.status_code == 302
        body = {**_registration(data.A2, "", seq), field: phone}
        response = client.post(f"{KG}/persons", body, content_type="application/json")
        api_ok = response.status_code == 201
        assert api_ok == page_ok, (phone, response.content)
        assert Person.objects.count() == n + 2 * int(api_ok)
        if not api_ok:
            assert response.status_code == 422
            shown = on_page.content.decode()
            # The API's reason is the one the page shows.
            reasons = response.json()["errors"]
            messages = [e["msg"] if isinstance(e, dict) else str(e) for e in reasons]
            assert any(escape(m) in shown for m in messages), (phone, messages)


def test_the_api_refuses_markup_in_a_phone(world: World, county: Any) -> None:
    response = login(county).post(
        f"{KG}/persons",
        _registration(data.A1, "<b>x</b>;DROP", 700),
        content_type="application/json",
    )
    assert response.status_code == 422
    assert not Person.objects.filter(name="孙大爷").exists()


def test_a_registration_the_schema_calls_valid_is_not_refused_for_its_shape(
    world: World, county: Any
) -> None:
    """``groups: [""]`` was schema-valid and refused; the schema now says a code is needed."""
    client: Client = login(county)
    body = _registration(data.A1, "13800000000", 701)
    response = client.post(
        f"{KG}/persons", {**body, "groups": [""]}, content_type="application/json"
    )
    assert response.status_code == 422
    schema = client.get("/api/openapi.json").json()["components"]["schemas"]["PersonIn"]
    assert schema["properties"]["groups"]["items"]["minLength"] == 1
    assert client.post(f"{KG}/persons", body, content_type="application/json").status_code == 201


# --- pydantic's messages in the request's language ----------------------------------------------

#: Invalid requests, each making pydantic raise one type of error, with a word of the English
#: message and of the Chinese one.
INVALID = [
    ("get", f"{KG}/persons?tier=purple", None, "literal_error", "Give one of", "请从以下取值"),
    ("get", f"{KG}/export?limit=0", None, "greater_than_equal", "at least 1", "不小于 1"),
    ("get", f"{KG}/export?limit=many", None, "int_parsing", "whole number", "整数"),
    ("get", f"{KG}/coverage?level=9", None, "less_than_equal", "at most 5", "不大于 5"),
    (
        "post",
        f"{KG}/persons",
        {"name": "孙大爷", "sex": "M", "birth_date": "1944-04-04", "groups": ["age65"]},
        "missing",
        "required",
        "必填",
    ),
    (
        "post",
        f"{KG}/persons",
        {**_registration(data.A1, "", 800), "groups": [""]},
        "string_too_short",
        "at least 1 characters",
        "至少填写 1 个字符",
    ),
    (
        "post",
        f"{KG}/persons",
        {**_registration(data.A1, "", 801), "groups": "age65"},
        "list_type",
        "list",
        "列表",
    ),
]


def _call(client: Client, method: str, url: str, body: Any, language: str | None) -> Any:
    headers = {"HTTP_ACCEPT_LANGUAGE": language} if language else {}
    if method == "get":
        return client.get(url, **headers)
    return client.post(url, body, content_type="application/json", **headers)


@pytest.mark.parametrize(("method", "url", "body", "kind", "english", "chinese"), INVALID)
def test_422_messages_are_in_the_request_language(
    method: str,
    url: str,
    body: Any,
    kind: str,
    english: str,
    chinese: str,
    world: World,
    county: Any,
) -> None:
    client = login(county)
    answers = {}
    for language in (None, "zh-Hans", "en"):
        response = _call(client, method, url, body, language)
        assert response.status_code == 422, response.content
        errors = [e for e in response.json()["errors"] if e["type"] == kind]
        assert errors, response.json()
        answers[language] = errors[0]["msg"]
        # The type and the location stay, so a program can act on them whatever the language.
        assert errors[0]["loc"]
    # zh-Hans is the default language; English on request.
    assert chinese in answers[None] and chinese in answers["zh-Hans"], answers
    assert english in answers["en"], answers
    assert english not in answers[None], answers


def test_the_choices_are_joined_in_the_request_language(world: World, county: Any) -> None:
    client = login(county)
    url = f"{KG}/persons?tier=purple"
    zh = _call(client, "get", url, None, "zh-Hans").json()["errors"][0]["msg"]
    en = _call(client, "get", url, None, "en").json()["errors"][0]["msg"]
    assert zh == "请从以下取值中选择：'red'、'yellow' 或 'green'。", zh
    assert en == "Give one of: 'red', 'yellow' or 'green'.", en


def test_our_own_validator_messages_lose_the_pydantic_prefix(world: World, county: Any) -> None:
    client = login(county)
    for language, word in (("zh-Hans", "1900-01-01"), ("en", "1900-01-01")):
        response = _call(client, "get", f"{KG}/persons?date=0001-01-01", None, language)
        messages = [e["msg"] for e in response.json()["errors"]]
        assert messages and all(not m.startswith("Value error") for m in messages), messages
        assert any(word in m for m in messages), messages


def test_error_message_of_unknown_types() -> None:
    """A type without a sentence of ours: pydantic's English in English, a general sentence in
    Chinese (never English text in a Chinese answer)."""
    from django.utils import translation

    from ruralwatch.api.common import error_message, translated_errors

    error = {"type": "url_parsing", "loc": ["query", "x"], "msg": "Input should be a valid URL"}
    with translation.override("en"):
        assert error_message(error) == "Input should be a valid URL"
    with translation.override("zh-hans"):
        assert error_message(error) == "取值无效。"
        # A known type whose context lacks the number it names is still a sentence.
        assert error_message({"type": "greater_than", "msg": "x"}) == "取值无效。"
        # A custom type of ours carries its own (already translated) message.
        assert error_message({"type": "phone", "msg": "电话号码无效"}) == "电话号码无效"
        out = translated_errors([{**error, "type": "missing", "ctx": {}}])
        assert out[0]["msg"] == "此项必填。" and out[0]["loc"] == ["query", "x"]
