"""The intake pages through HTTP: the daily form (HTML and the phone's JSON), who has not
reported (phones logged, reminders sent), sign-off (who may approve and unlock), and their
scoping (a village outside the jurisdiction answers as a missing one)."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from ruralwatch.dispatch.models import Notification
from ruralwatch.keygroups import crypto
from ruralwatch.keygroups.models import AccessLog, Responsible
from ruralwatch.reporting.daily_form import form_indicators
from ruralwatch.reporting.models import ApprovalEvent, DayApproval, FormReport, ReportValue
from tests.reporting.intake_world import DAY, FAST_HASHERS, PASSWORD, World, build

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(settings: Any) -> World:
    settings.PASSWORD_HASHERS = FAST_HASHERS
    return build()


def _client(name: str) -> Client:
    c = Client()
    assert c.login(username=name, password=PASSWORD)
    return c


def _body(world: World, key: str, **over: Any) -> str:
    values: dict[str, Any] = {i.code: 0 for i in form_indicators(world.villages[0])}
    values.update(over)
    return json.dumps({"key": key, "date": DAY.isoformat(), "values": values, "reporter": "张"})


def _post(c: Client, code: str, body: str) -> Any:
    return c.post(
        reverse("intake:report", kwargs={"code": code}), body, content_type="application/json"
    )


def test_form_page_json_and_duplicate(world: World) -> None:
    v = world.villages[0]
    doctor = _client("doc1")
    assert doctor.get(reverse("intake:home")).url.endswith(f"/intake/report/{v.code}/")
    page = doctor.get(reverse("intake:report", kwargs={"code": v.code}), {"date": DAY})
    html = page.content.decode()
    assert page.status_code == 200 and "村级日报" in html and 'rel="manifest"' in html
    assert 'name="v_new_cases"' in html and 'name="u_new_cases"' in html
    first = _post(doctor, v.code, _body(world, "key-aaaa-0001", new_cases=2))
    again = _post(doctor, v.code, _body(world, "key-aaaa-0001", new_cases=2))
    assert (first.status_code, first.json()["status"]) == (201, "stored")
    assert (again.status_code, again.json()["status"]) == (200, "duplicate")
    assert FormReport.objects.count() == 1
    # The validation rules, asked before sending: 5 cases without a positive test.
    url = reverse("intake:check", kwargs={"code": v.code})
    body = _body(world, "key-chk-00001", new_cases=5)
    warned = doctor.post(url, body, content_type="application/json").json()["warnings"]
    assert [w["rule"] for w in warned] == ["cases_le_positives"]
    body = _body(world, "key-chk-00001", new_cases=5, antigen_pos=5)
    assert doctor.post(url, body, content_type="application/json").json()["warnings"] == []
    assert FormReport.objects.count() == 1  # checking stores nothing
    bad = _post(doctor, v.code, _body(world, "key-aaaa-0002", new_cases=-1))
    assert bad.status_code == 400 and bad.json()["problems"][0]["field"] == "new_cases"
    corr = _post(doctor, v.code, _body(world, "key-aaaa-0003", new_cases=5))
    assert (corr.status_code == 409 and "why" in corr.json()["reason"].lower()) or "原因" in (
        corr.json()["reason"]
    )
    # The plain HTML form (no JavaScript) posts the same: not known is a ticked box.
    form = {f"v_{i.code}": "1" for i in form_indicators(v)}
    key = re.search(r'name="key" value="([0-9a-f]{32})"', html)
    assert key is not None  # the page's own key, for a browser without JavaScript
    form.update({"key": key[1], "date": DAY.isoformat(), "u_deaths": "1"})
    form["reason"] = "更正"
    r = doctor.post(reverse("intake:report", kwargs={"code": v.code}), form)
    assert r.status_code == 302
    assert not ReportValue.objects.filter(area=v, date=DAY, indicator_id="deaths").exists()
    # A leader reads without filing; a doctor of another village sees nothing of this one.
    leader = _client("leader")
    assert _post(leader, v.code, _body(world, "key-lead-0001")).status_code == 403
    cadre = _client("cadre2")
    outside = _post(cadre, v.code, _body(world, "key-cadr-0001"))
    missing = _post(cadre, "130102999999", _body(world, "key-cadr-0002"))
    assert outside.status_code == missing.status_code == 404
    assert v.name.encode() not in outside.content


def test_signed_off_day_refused_and_unlock_by_the_level_above(world: World) -> None:
    v, t = world.villages[0], world.township
    doctor, town, county = _client("doc1"), _client("town"), _client("county")
    _post(doctor, v.code, _body(world, "key-sign-0001"))
    url = reverse("intake:signoff", kwargs={"code": t.code})
    page = town.get(url, {"date": DAY})
    assert page.status_code == 200 and b'id="in-approve"' in page.content
    county.post(url, {"action": "approve", "date": DAY})  # not the township's desk
    assert not DayApproval.objects.exists()
    town.post(url, {"action": "approve", "date": DAY})
    assert DayApproval.objects.filter(area=t, date=DAY).exists()
    refused = _post(doctor, v.code, _body(world, "key-sign-0002", new_cases=1))
    assert refused.status_code == 409 and t.name in refused.json()["reason"]
    # The township cannot unlock its own approval; the county can, with a reason.
    town.post(url, {"action": "unlock", "date": DAY, "reason": "错了"})
    assert DayApproval.objects.filter(area=t, date=DAY).exists()
    county.post(url, {"action": "unlock", "date": DAY, "reason": ""})
    assert DayApproval.objects.filter(area=t, date=DAY).exists()
    county.post(url, {"action": "unlock", "date": DAY, "reason": "村医更正"})
    assert not DayApproval.objects.exists()
    trace = list(
        ApprovalEvent.objects.order_by("id").values_list("kind", "user__username", "reason")
    )
    assert trace == [("approved", "town", ""), ("unlocked", "county", "村医更正")]
    # A county signs off after its townships; its page shows approved/unapproved.
    curl = reverse("intake:signoff", kwargs={"code": world.county.code})
    county.post(curl, {"action": "approve", "date": DAY})
    assert not DayApproval.objects.filter(area=world.county).exists()
    assert "未审核" in county.get(curl, {"date": DAY}).content.decode()


def test_missing_reports_phones_logged_and_reminders(world: World) -> None:
    v0, v1 = world.villages[0], world.villages[1]
    Responsible.objects.create(
        code="r1", kind="doctor", name="李村医", phone_enc=crypto.encrypt("13800000001"), area=v1
    )
    _post(_client("doc1"), v0.code, _body(world, "key-miss-0001"))
    town = _client("town")
    url = reverse("intake:missing", kwargs={"code": world.township.code})
    page = town.get(url, {"date": DAY}).content.decode()
    assert v1.name in page and "13800000001" in page and "李村医" in page
    assert f'data-code="{v0.code}"' not in page  # it has reported
    assert f'data-code="{world.villages[2].code}"' in page
    log = AccessLog.objects.get()
    assert log.user == world.users["township"] and log.n_persons == 1
    town.post(url, {"date": DAY})
    notes = Notification.objects.filter(user=world.users["cadre"])
    assert notes.count() == 1 and v1.name in notes.get().text
    # Outside the jurisdiction: the same answer as for a missing area.
    cadre = _client("cadre2")
    assert cadre.get(url).status_code == 404


def test_manifest_and_service_worker() -> None:
    client = Client()
    manifest = client.get(reverse("intake:manifest"))
    data = json.loads(manifest.content)
    assert data["start_url"] == data["scope"] == "/intake/"
    assert data["name"] == "乡村守望 村级日报" and data["display"] == "standalone"
    sw = client.get(reverse("intake:sw"))
    assert sw["Content-Type"].startswith("text/javascript")
    assert sw["Service-Worker-Allowed"] == "/intake/"
    body = sw.content.decode()
    assert "/static/intake/intake.js" in body and 'addEventListener("sync"' in body
