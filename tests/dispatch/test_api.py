"""The task API: list (scoped, filtered, paged), detail with its trace, acting (404 for
missing and forbidden alike, 403 for a task seen but not owned, 422 with the reason for an
illegal step), and the accountability figures."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from ruralwatch.dispatch.models import Status, Task
from ruralwatch.dispatch.services import escalate_due, sync_tasks
from tests.dashboard import data
from tests.dispatch.conftest import T0, VILLAGE2, add_signal, hours

DAY7 = data.DAY7


@pytest.fixture
def tasks(users: dict[str, Any]) -> dict[str, Task]:
    add_signal(data.TOWN_A, DAY7)
    add_signal(data.A1, DAY7, single=True)
    sync_tasks(DAY7, now=T0)
    return {
        "signal": Task.objects.get(kind_id="signal", area_id=data.TOWN_A),
        "single": Task.objects.get(kind_id="single_case", area_id=data.A1),
        "other": Task.objects.get(area_id=VILLAGE2),
    }


def api(user: Any) -> Client:
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    client.force_login(user)
    return client


def post(client: Client, url: str, body: dict[str, Any]) -> Any:
    return client.post(url, json.dumps(body), content_type="application/json")


def test_list_is_scoped_and_filtered(tasks: dict, users: dict) -> None:
    mine = api(users["town_a"]).get("/api/tasks").json()
    ids = {t["id"] for t in mine["items"]}
    assert tasks["signal"].pk in ids and tasks["single"].pk in ids  # A1 lies under town A
    assert tasks["other"].pk not in ids
    county = api(users["county"])
    assert tasks["other"].pk not in {t["id"] for t in county.get("/api/tasks").json()["items"]}
    only = county.get("/api/tasks?kind=single_case").json()
    assert [t["id"] for t in only["items"]] == [tasks["single"].pk]
    assert (
        only["items"][0]["kind_name"] == "Single severe case or death"
        or only["items"][0]["kind_name"]
    )
    paged = county.get("/api/tasks?limit=1&offset=0").json()
    assert paged["count"] >= 2 and len(paged["items"]) == 1
    assert county.get("/api/tasks?open=false").json()["count"] == 0
    assert county.get("/api/tasks?overdue=true").json()["count"] == paged["count"]
    assert county.get("/api/tasks?kind=nothere").status_code == 422
    assert county.get("/api/tasks?status=sleeping").status_code == 422
    assert county.get("/api/tasks?colour=red").status_code == 422
    # Another jurisdiction's area: the same 404 as a missing one.
    other = county.get(f"/api/tasks?area={VILLAGE2}")
    missing = county.get("/api/tasks?area=110101009999")
    assert other.status_code == missing.status_code == 404


def test_detail_has_trace_evidence_in_words_and_next_steps(tasks: dict, users: dict) -> None:
    body = api(users["town_a"]).get(f"/api/tasks/{tasks['signal'].pk}").json()
    assert body["status"] == "new" and body["actions"] == ["acknowledge"]
    assert body["method_name"] == "EARS C1"
    assert any("threshold at 6.5" in s for s in body["evidence_text"])
    assert [e["kind"] for e in body["history"]] == ["created"]
    assert body["history"][0]["actor"] is None


def test_act_through_the_lifecycle_and_illegal_steps(tasks: dict, users: dict) -> None:
    client = api(users["town_a"])
    url = f"/api/tasks/{tasks['signal'].pk}/act"
    illegal = post(client, url, {"action": "close"})
    assert illegal.status_code == 422
    assert "Cannot close a task that is new" in illegal.json()["detail"]
    for step in (
        {"action": "acknowledge", "comment": "on it"},
        {"action": "verify"},
        {"action": "outcome", "outcome": "confirmed"},
        {"action": "respond"},
        {"action": "close", "comment": "done"},
    ):
        answer = post(client, url, step)
        assert answer.status_code == 200, answer.json()
    body = answer.json()
    assert body["status"] == Status.CLOSED and body["outcome"] == "confirmed"
    assert [e["kind"] for e in body["history"]][1:] == [
        "acknowledged",
        "verifying",
        "outcome",
        "responding",
        "closed",
    ]
    assert body["history"][1]["actor"] == "town_a" and body["history"][1]["comment"] == "on it"
    no_outcome = post(client, f"/api/tasks/{tasks['single'].pk}/act", {"action": "outcome"})
    assert no_outcome.status_code == 403  # the county owns it: the township only follows it
    empty = post(client, url, {"action": "comment", "comment": ""})
    assert empty.status_code == 422 and "needs text" in empty.json()["detail"]
    assert post(client, url, {"action": "dance"}).status_code == 422


def test_missing_and_forbidden_are_the_same_404(tasks: dict, users: dict) -> None:
    for who in ("county2", "town_b", "doctor_a1"):
        client = api(users[who])
        pk = tasks["signal"].pk
        seen = client.get(f"/api/tasks/{pk}")
        missing = client.get("/api/tasks/99999999")
        assert seen.status_code == missing.status_code == 404
        assert seen.json() == missing.json()
        acted = post(client, f"/api/tasks/{pk}/act", {"action": "acknowledge"})
        assert acted.status_code == 404 and acted.json() == missing.json()
    assert Task.objects.get(pk=tasks["signal"].pk).status == Status.NEW
    assert api(users["county"]).get("/api/tasks/0").status_code == 422
    assert api(users["county"]).get(f"/api/tasks/{2**40}").status_code == 422


def test_seen_but_not_owned_is_403(tasks: dict, users: dict) -> None:
    escalate_due(now=hours(25))
    client = api(users["town_a"])
    pk = tasks["signal"].pk
    assert client.get(f"/api/tasks/{pk}").json()["actions"] == []
    refused = post(client, f"/api/tasks/{pk}/act", {"action": "acknowledge"})
    assert refused.status_code == 403
    county = post(api(users["county"]), f"/api/tasks/{pk}/act", {"action": "acknowledge"})
    assert county.status_code == 200 and county.json()["escalations"] == 1


def test_accountability(tasks: dict, users: dict) -> None:
    client = api(users["county"])
    body = client.get("/api/tasks/accountability?since=2023-01-01&until=2023-01-31").json()
    assert body["root"] == data.COUNTY
    assert body["overall"]["tasks"] >= 2
    units = {u["code"]: u for u in body["lagging"]}
    assert units[data.TOWN_A]["holders"][0]["user"] == "town_a"
    assert (
        client.get("/api/tasks/accountability?since=2023-02-01&until=2023-01-01").status_code == 422
    )
    assert (
        client.get("/api/tasks/accountability?since=2020-01-01&until=2023-01-01").status_code == 422
    )
    town = api(users["town_a"])
    other = town.get(f"/api/tasks/accountability?area={data.COUNTY}")
    missing = town.get("/api/tasks/accountability?area=110101009999")
    assert other.status_code == missing.status_code == 404
    assert other.json() == missing.json()


def test_needs_authentication(tasks: dict) -> None:
    assert Client().get("/api/tasks").status_code == 401
