"""The dispatch pages: inbox, task page, acting in place (htmx), accountability; scoping and
the inbox's number of queries."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import translation

from ruralwatch.dispatch.models import EventKind, Status, Task, TaskEvent
from ruralwatch.dispatch.services import escalate_due, sync_tasks
from ruralwatch.dispatch.views import due_words
from tests.dashboard import data
from tests.dispatch import conftest as _fixtures
from tests.dispatch.conftest import T0, VILLAGE2, add_signal, hours, set_value
from tests.fixtures.shared_db import built_once

DAY7 = data.DAY7
HTMX = {"HTTP_HX_REQUEST": "true"}


def _tree_users_and_tasks(folder: Path) -> dict[str, int]:
    _fixtures._build_tree_and_users(folder)
    for i in range(1, 8):
        set_value(data.TOWN_A, DAY7 - dt.timedelta(days=7 - i), "new_cases", float(i))
    add_signal(data.TOWN_A, DAY7)
    add_signal(data.A1, DAY7, single=True)
    sync_tasks(DAY7, now=T0)
    return {
        "signal": Task.objects.get(kind_id="signal", area_id=data.TOWN_A).pk,
        "single": Task.objects.get(kind_id="single_case", area_id=data.A1).pk,
        "other": Task.objects.get(area_id=VILLAGE2).pk,
    }


#: The tree, its users and the three tasks are made once for the module (every database test
#: here uses them; this replaces conftest's ``_module_tree`` behind ``shared_tree``); each test
#: runs in its own savepoint, so the steps it takes are undone.
_module_tree = built_once(_tree_users_and_tasks)
tree = _fixtures.shared_tree
users = _fixtures.shared_users


@pytest.fixture
def tasks(_module_tree: dict[str, int], users: dict[str, Any]) -> dict[str, Task]:
    """The three tasks, read back for this test."""
    by_pk = Task.objects.in_bulk(list(_module_tree.values()))
    return {name: by_pk[pk] for name, pk in _module_tree.items()}


def client_for(user: Any, language: str = "zh-hans") -> Client:
    client = Client(HTTP_ACCEPT_LANGUAGE=language)
    client.force_login(user)
    return client


def test_due_words_say_overdue_or_due_in_hours_minutes_days() -> None:
    with translation.override("en"):
        assert due_words(T0, T0 + dt.timedelta(hours=3, minutes=20)) == "overdue by 3 h"
        assert due_words(T0 + dt.timedelta(minutes=45), T0) == "due in 45 min"
        assert due_words(T0 - dt.timedelta(days=3, hours=2), T0) == "overdue by 3 days"
    with translation.override("zh-hans"):
        assert due_words(T0, T0 + dt.timedelta(hours=3, minutes=20)) == "已逾期3小时"


def test_inbox_lists_my_tasks_with_legal_buttons_only(tasks: dict, users: dict) -> None:
    # Deadlines are judged at the end of the pages' "as of" day (core.asof): a month on.
    page = client_for(users["town_a"], "en").get("/dispatch/?date=2023-02-08")
    assert page.status_code == 200
    text = page.content.decode()
    row = _row(text, tasks["signal"].pk)
    assert "Detection signal" in row or "detection signal" in row.lower()
    assert 'value="acknowledge"' in row
    # Only the legal next step: a new task cannot be verified, given an outcome or closed.
    assert 'value="verify"' not in row and 'value="close"' not in row
    assert 'name="outcome"' not in row
    assert "overdue by" in row  # created on 2023-01-08: long past its deadline a month on
    # Another county's task never shows.
    assert f'id="task-{tasks["other"].pk}"' not in text
    assert "丙一村" not in text


def test_inbox_in_chinese_by_default(tasks: dict, users: dict) -> None:
    text = client_for(users["town_a"]).get("/dispatch/").content.decode()
    assert "待办" in text and "签收" in text and "逾期" in text


def test_acknowledge_verify_outcome_close_in_place(tasks: dict, users: dict) -> None:
    client = client_for(users["town_a"], "en")
    pk = tasks["signal"].pk
    url = f"/dispatch/tasks/{pk}/act/"
    answer = client.post(url, {"action": "acknowledge", "comment": "seen"}, **HTMX)
    assert answer.status_code == 200
    row = answer.content.decode()
    assert row.lstrip().startswith(f'<tr id="task-{pk}"')
    assert 'value="verify"' in row and 'value="acknowledge"' not in row
    client.post(url, {"action": "verify"}, **HTMX)
    row = client.post(url, {"outcome": "excluded"}, **HTMX).content.decode()
    assert 'value="close"' in row and 'value="respond"' not in row  # excluded: no response
    client.post(url, {"action": "close", "comment": "false alarm"}, **HTMX)
    task = Task.objects.get(pk=pk)
    assert task.status == Status.CLOSED and task.outcome == "excluded"
    events = list(TaskEvent.objects.filter(task=task).order_by("at", "id"))
    assert [e.kind for e in events] == [
        EventKind.CREATED,
        EventKind.ACKNOWLEDGED,
        EventKind.VERIFYING,
        EventKind.OUTCOME,
        EventKind.CLOSED,
    ]
    assert events[1].actor == users["town_a"] and events[1].comment == "seen"


def test_illegal_step_is_refused_with_the_reason(tasks: dict, users: dict) -> None:
    client = client_for(users["town_a"], "en")
    pk = tasks["signal"].pk
    row = client.post(f"/dispatch/tasks/{pk}/act/", {"action": "close"}, **HTMX).content.decode()
    assert "Cannot close a task that is new" in row
    page = client.post(f"/dispatch/tasks/{pk}/act/", {"action": "respond"})
    assert page.status_code == 422
    assert "Cannot respond a task that is new" in page.content.decode()
    assert Task.objects.get(pk=pk).status == Status.NEW
    bad = client.post(f"/dispatch/tasks/{pk}/act/", {"action": "dance"})
    assert bad.status_code == 422


def test_plain_form_redirects_back_to_the_task(tasks: dict, users: dict) -> None:
    client = client_for(users["town_a"], "en")
    pk = tasks["signal"].pk
    answer = client.post(f"/dispatch/tasks/{pk}/act/", {"action": "acknowledge"})
    assert answer.status_code == 302 and answer["Location"] == f"/dispatch/tasks/{pk}/"
    assert Task.objects.get(pk=pk).status == Status.ACKNOWLEDGED


@pytest.mark.parametrize("who", ["county2", "town_b", "doctor_a1"])
def test_outside_the_jurisdiction_is_missing(tasks: dict, users: dict, who: str) -> None:
    client = client_for(users[who], "en")
    pk = tasks["signal"].pk
    for url in (f"/dispatch/tasks/{pk}/", "/dispatch/tasks/99999999/"):
        assert client.get(url).status_code == 404
    forbidden = client.post(f"/dispatch/tasks/{pk}/act/", {"action": "acknowledge"}, **HTMX)
    missing = client.post("/dispatch/tasks/99999999/act/", {"action": "acknowledge"}, **HTMX)
    assert forbidden.status_code == missing.status_code == 404
    assert forbidden.content == missing.content
    assert Task.objects.get(pk=pk).status == Status.NEW
    for odd in ("abc", "9" * 300, "-1"):
        assert client.get(f"/dispatch/tasks/{odd}/").status_code == 404


def test_a_township_sees_but_cannot_act_on_a_task_it_lost(tasks: dict, users: dict) -> None:
    escalate_due(now=hours(25))  # the township did not acknowledge in 24 h
    task = Task.objects.get(pk=tasks["signal"].pk)
    assert task.owner_area_id == data.COUNTY and task.escalations == 1
    client = client_for(users["town_a"], "en")
    page = client.get(f"/dispatch/tasks/{task.pk}/").content.decode()
    assert "escalated" in page.lower() and 'value="acknowledge"' not in page
    row = client.post(
        f"/dispatch/tasks/{task.pk}/act/", {"action": "acknowledge"}, **HTMX
    ).content.decode()
    assert "You may not act on this task" in row
    # The county sees it first in its inbox, marked as escalated, and can act.
    county = client_for(users["county"], "en").get("/dispatch/").content.decode()
    row = _row(county, task.pk)
    assert "escalated 1 time" in row and 'value="acknowledge"' in row


def test_task_page_shows_evidence_in_words_and_a_chart(tasks: dict, users: dict) -> None:
    text = client_for(users["town_a"], "en").get(f"/dispatch/tasks/{tasks['signal'].pk}/")
    page = text.content.decode()
    assert "EARS C1" in page and ">ears-c1<" not in page
    assert "where about 2 was expected" in page
    assert "puts the alarm threshold at 6.5" in page
    spec = json.loads(
        re.search(r'id="spec-signal" type="application/json">(.*?)</script>', page, re.S)[1]
    )
    values = [v for layer in spec["layer"] for v in layer["data"]["values"]]
    assert {"date": DAY7.isoformat(), "value": None, "state": "this signal"} in values or any(
        v.get("state") == "this signal" for v in values
    )
    assert any(v.get("threshold") == 6.5 for v in values)
    # Every day of the window has its band, the signal's day last but three (days after it
    # are shown too), so a day without a report stays visible as a gap.
    domain = spec["layer"][0]["encoding"]["x"]["scale"]["domain"]
    assert len(domain) == 28 + 1 + 3 and domain[-4] == DAY7.isoformat()
    assert "New cases in" in page  # the indicator is named in the sentence
    assert "Trace" in page and "system" in page  # the created event, by the system


def test_single_case_page_has_no_meaningless_score(tasks: dict, users: dict) -> None:
    page = client_for(users["county"], "en").get(f"/dispatch/tasks/{tasks['single'].pk}/")
    text = page.content.decode()
    assert page.status_code == 200
    assert "CIDARS single case" in text and "single-case rule" in text
    assert "Threshold</dt>" not in text and "Score</dt>" not in text


def test_opening_a_task_marks_its_notifications_read(tasks: dict, users: dict) -> None:
    from ruralwatch.dispatch.models import Notification
    from ruralwatch.dispatch.selectors import unread_count

    user = users["town_a"]
    Notification.objects.create(user=user, task=tasks["signal"], text="new task")
    assert unread_count(user) >= 1
    before = unread_count(user)
    client_for(user).get(f"/dispatch/tasks/{tasks['signal'].pk}/")
    assert unread_count(user) < before


def test_inbox_filters_by_kind(tasks: dict, users: dict) -> None:
    client = client_for(users["county"], "en")
    only = client.get("/dispatch/?kind=single_case").content.decode()
    assert f'id="task-{tasks["single"].pk}"' in only
    assert 'id="task-' + str(tasks["signal"].pk) + '"' not in only
    odd = client.get("/dispatch/?kind=nothere&status=closed")
    assert odd.status_code == 200  # an unknown filter is ignored, not an error


def test_inbox_makes_a_bounded_number_of_queries(tasks: dict, users: dict) -> None:
    def count() -> int:
        client = client_for(users["county"], "en")
        with CaptureQueriesContext(connection) as ctx:
            assert client.get("/dispatch/").status_code == 200
        return len(ctx.captured_queries)

    few = count()
    for village in (data.A2, data.B1):
        for back in range(6):
            add_signal(village, DAY7 - dt.timedelta(days=back), single=True)
    sync_tasks(DAY7, now=T0)
    assert Task.objects.filter(owner_area_id=data.COUNTY).count() >= 10
    many = count()
    assert many == few, (few, many)
    assert many <= 14


def test_accountability_names_lagging_units_and_holders(tasks: dict, users: dict) -> None:
    client = client_for(users["county"], "en")
    page = client.get("/dispatch/accountability/?since=2023-01-01&until=2023-01-31")
    text = page.content.decode()
    assert page.status_code == 200
    assert "Response rate" in text and "town_a" in text
    assert "甲镇" in text or data.TOWN_A in text or "township" in text
    assert (
        client.get("/dispatch/accountability/?since=2023-02-01&until=2023-01-01").status_code == 200
    )
    # Scoped: another county, or a county seen from a township, is missing.
    for who, code in (("county2", data.COUNTY), ("town_a", data.COUNTY)):
        c = client_for(users[who], "en")
        assert c.get(f"/dispatch/accountability/{code}/").status_code == 404
        assert c.get("/dispatch/accountability/110101009999/").status_code == 404


def test_a_step_after_the_session_ended_goes_to_the_login(tasks: dict) -> None:
    url = f"/dispatch/tasks/{tasks['signal'].pk}/act/"
    htmx = Client().post(url, {"action": "acknowledge"}, HTTP_HX_CURRENT_URL="/dispatch/", **HTMX)
    # htmx navigates the whole page (it would otherwise put the login form into the row).
    assert htmx.status_code == 200 and htmx["HX-Redirect"].startswith("/accounts/login/")
    plain = Client().post(url, {"action": "acknowledge"})
    assert plain.status_code == 302 and plain["Location"].startswith("/accounts/login/")
    assert Task.objects.get(pk=tasks["signal"].pk).status == Status.NEW


def test_pages_need_login(tasks: dict) -> None:
    client = Client()
    for url in (
        "/dispatch/",
        f"/dispatch/tasks/{tasks['signal'].pk}/",
        "/dispatch/accountability/",
    ):
        assert client.get(url).status_code == 302


def _row(text: str, pk: int) -> str:
    match = re.search(rf'<tr id="task-{pk}".*?</tr>', text, re.S)
    assert match, f"task {pk} is not in the page"
    return match[0]


def test_inbox_says_when_it_shows_only_the_most_urgent(
    tasks: dict, users: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ruralwatch.dispatch import views

    monkeypatch.setattr(views, "INBOX_LIMIT", 1)
    text = client_for(users["county"], "en").get("/dispatch/").content.decode()
    assert text.count('<tr id="task-') <= 2
    assert "The 1 most urgent are shown" in text
    assert "data-act-error=" in text  # the message the page script shows when a step fails


def test_inbox_folds_long_lists_behind_show_more(
    tasks: dict, users: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A county's inbox on a phone was 9,000 px long: past the first rows of a list, the rest
    sits behind "Show N more" (and the keyboard skips it while it is closed)."""
    from ruralwatch.dispatch import views

    monkeypatch.setattr(views, "INBOX_FOLD", (1, 1))
    text = client_for(users["county"], "en").get("/dispatch/").content.decode()
    below = text[text.index('id="below"') :]
    shown, _, folded = below.partition('<details class="dp-more">')
    assert shown.count('<tr id="task-') == 1
    hidden = folded.count('<tr id="task-')
    assert hidden >= 1
    assert f"Show {hidden} more task" in folded
    monkeypatch.setattr(views, "INBOX_FOLD", (50, 50))
    text = client_for(users["county"], "en").get("/dispatch/").content.decode()
    assert "dp-more" not in text
