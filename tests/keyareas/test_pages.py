"""Key-area pages: what each user sees and may do, one answer for missing and forbidden, and
nothing written for an area or a request outside the jurisdiction."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from ruralwatch.areas.models import Area
from ruralwatch.keyareas.models import Pairing, RequestStatus, SupportRequest, TagChange
from tests.keyareas.conftest import (
    COUNTY,
    DAY,
    NOW,
    P1,
    P2,
    PASTURE,
    TOWN,
    tag_pasture,
    write_csv,
)

pytestmark = pytest.mark.django_db
MISSING = "130723500599"


def client_for(user: Any) -> Client:
    c = Client()
    c.force_login(user)
    return c


def body(response: Any) -> str:
    return str(response.content.decode())


def blank_csrf(text: str) -> str:
    return re.sub(r'name="csrfmiddlewaretoken" value="[^"]*"', "", text)


@pytest.fixture
def tagged(world: Any, tmp_path: Path) -> None:
    tag_pasture(tmp_path)


def test_panel_shows_the_jurisdictions_key_areas(tagged: None, users: dict[str, Any]) -> None:
    county = client_for(users["county"]).get(f"/keyareas/?date={DAY.isoformat()}")
    assert county.status_code == 200
    text = body(county)
    for name in ("康保牧场", "康保牧场一分场生活区", "康保牧场二分场生活区", "张纪镇"):
        assert name in text  # 张纪镇 as the pasture's support unit
    doctor = body(client_for(users["doctor"]).get(f"/keyareas/?date={DAY.isoformat()}"))
    assert "康保牧场一分场生活区" in doctor
    assert "康保牧场二分场生活区" not in doctor  # a sibling village
    en = client_for(users["county"])
    en.cookies["django_language"] = "en"
    english = body(en.get(f"/keyareas/?date={DAY.isoformat()}", HTTP_ACCEPT_LANGUAGE="en"))
    assert "rising" in english and "first case" in english


def test_missing_and_forbidden_are_the_same_answer(tagged: None, users: dict[str, Any]) -> None:
    outside = client_for(users["outside"])
    for url in ("/keyareas/area/{}/", "/keyareas/?area={}"):
        a = outside.get(url.format(P1))
        b = outside.get(url.format(MISSING))
        assert a.status_code == b.status_code == 404
        assert blank_csrf(body(a)).replace(P1, "X") == blank_csrf(body(b)).replace(MISSING, "X")
        assert "康保" not in body(a)


def test_tags_and_pairing_by_the_level_above(tagged: None, users: dict[str, Any]) -> None:
    county = client_for(users["county"])
    r = county.post(f"/keyareas/area/{P2}/tags/", {"tags": ["pastoral", "island"]})
    assert r.status_code == 302
    assert Area.objects.get(code=P2).key_areas == "pastoral,island"
    # the doctor's own village: seen, but tags are the level above's (the page says why)
    doctor = client_for(users["doctor"])
    r = doctor.post(f"/keyareas/area/{P1}/tags/", {}, follow=True)
    assert r.status_code == 200 and "只有上级可以设定本地区的重点地区标签" in body(r)
    assert Area.objects.get(code=P1).key_areas == "pastoral"
    pasture = client_for(users["pasture"])
    assert pasture.post(f"/keyareas/area/{PASTURE}/tags/").status_code == 302
    assert Area.objects.get(code=PASTURE).key_areas == "pastoral"
    before = TagChange.objects.count()
    assert client_for(users["outside"]).post(f"/keyareas/area/{P1}/tags/").status_code == 404
    assert TagChange.objects.count() == before
    r = county.post(f"/keyareas/area/{PASTURE}/pairing/", {"support_unit": COUNTY})
    assert r.status_code == 302
    assert Pairing.objects.get(key_area_id=PASTURE).support_unit_id == COUNTY
    bad = county.post(f"/keyareas/area/{PASTURE}/pairing/", {"support_unit": P1}, follow=True)
    assert "支援单位位于其所支援的重点地区之内" in body(bad)
    assert Pairing.objects.get(key_area_id=PASTURE).support_unit_id == COUNTY


def test_request_answer_and_withdraw(tagged: None, users: dict[str, Any]) -> None:
    pasture = client_for(users["pasture"])
    r = pasture.post(
        f"/keyareas/area/{PASTURE}/request/", {"need": "staff", "quantity": 2, "hours": 12}
    )
    assert r.status_code == 302
    req = SupportRequest.objects.get()
    assert (req.support_unit_id, req.need, req.quantity) == (TOWN, "staff", 2)
    assert (
        client_for(users["outside"])
        .post(f"/keyareas/area/{PASTURE}/request/", {"need": "staff", "hours": 12})
        .status_code
        == 404
    )
    assert SupportRequest.objects.count() == 1
    # the support unit sees it on its own page and answers it there
    town = client_for(users["town"])
    assert "康保牧场" in body(town.get(f"/keyareas/area/{TOWN}/"))
    # out of sight is the same as missing
    outside = client_for(users["outside"])
    a = outside.post("/keyareas/requests/answer/", {"request": req.pk, "answer": "x"})
    b = outside.post("/keyareas/requests/answer/", {"request": 999999, "answer": "x"})
    assert a.status_code == b.status_code == 404
    doctor = client_for(users["doctor"])  # sees neither end of it
    assert doctor.post("/keyareas/requests/withdraw/", {"request": req.pk}).status_code == 404
    empty = town.post("/keyareas/requests/answer/", {"request": req.pk, "answer": ""})
    assert empty.status_code == 302 and req.status == RequestStatus.OPEN
    r = town.post("/keyareas/requests/answer/", {"request": req.pk, "answer": "医生2名明日到岗"})
    assert r.status_code == 302
    req.refresh_from_db()
    assert req.status == RequestStatus.ANSWERED and req.answered_by == users["town"]
    again = pasture.post("/keyareas/requests/withdraw/", {"request": req.pk}, follow=True)
    assert "该请求已不再待响应" in body(again)


def test_import_page(world: Any, users: dict[str, Any], tmp_path: Path) -> None:
    county = client_for(users["county"])
    page = body(county.get("/keyareas/import/"))
    assert "康保牧场" in page and "屯垦林场" in page  # the derivation's suggestions
    bad = write_csv(tmp_path / "bad.csv", [["code", "key_areas"], [P1, "desert"]])
    with bad.open("rb") as fh:
        r = county.post("/keyareas/import/", {"file": fh})
    assert r.status_code == 400
    assert "bad.csv" in body(r) and "desert" in body(r)
    assert Area.objects.get(code=P1).key_areas == ""
    good = write_csv(tmp_path / "good.csv", [["code", "key_areas"], [P1, "mountain"]])
    with good.open("rb") as fh:
        assert county.post("/keyareas/import/", {"file": fh}).status_code == 200
    assert Area.objects.get(code=P1).key_areas == "mountain"
    with bad.open("rb") as fh:  # the doctor: the page says it is the level above's
        r = client_for(users["doctor"]).post("/keyareas/import/", {"file": fh})
    assert r.status_code == 200 and "只有上级可以设定重点地区标签" in body(r)
    assert Area.objects.get(code=P1).key_areas == "mountain"
    assert county.post("/keyareas/derive/").status_code == 302
    assert Area.objects.get(code=PASTURE).key_areas == "pastoral"


def test_empty_posts_are_answered_below_400(tagged: None, users: dict[str, Any]) -> None:
    county = client_for(users["county"])
    for url in (
        f"/keyareas/area/{P1}/tags/",
        f"/keyareas/area/{P1}/pairing/",
        f"/keyareas/area/{P1}/request/",
        "/keyareas/requests/answer/",
        "/keyareas/requests/withdraw/",
        "/keyareas/import/",
    ):
        for who in ("county", "doctor"):  # the scoping walk's bar: answered, not refused
            assert client_for(users[who]).post(url, {}).status_code < 400, (who, url)
    for url in ("/keyareas/?date=0001-01-01", "/keyareas/?date=9999-12-31", "/keyareas/?date=x"):
        assert county.get(url).status_code == 200, url
    assert NOW  # the fixture's clock (requests are timed by the server here)


def test_dispatch_task_pages_say_what_is_asked_and_why(tagged: None, users: dict[str, Any]) -> None:
    from ruralwatch.dispatch.models import Task
    from ruralwatch.dispatch.services import sync_tasks
    from ruralwatch.keyareas.services import file_request

    file_request(
        users["pasture"], Area.objects.get(code=PASTURE), "oxygen", quantity=2, note="两台"
    )
    sync_tasks(DAY, now=NOW)
    request = Task.objects.get(kind_id="support_request")
    town = client_for(users["town"])
    text = body(town.get(f"/dispatch/tasks/{request.pk}/"))
    assert "重点地区康保牧场向对口支援单位请求氧气 × 2" in text and "备注：两台" in text
    rise = Task.objects.get(kind_id="key_area_rise", area_id=P2)
    en = client_for(users["county"])
    text = body(en.get(f"/dispatch/tasks/{rise.pk}/", HTTP_ACCEPT_LANGUAGE="en"))
    assert "Cases are rising in key area 康保牧场二分场生活区: 3 in the 7 days" in text
