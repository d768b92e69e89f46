"""The lifecycle with its trace, illegal transitions, who may act, escalation and reminders."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.utils import timezone, translation

from ruralwatch.dispatch.access import access_task_by_id, scope_tasks
from ruralwatch.dispatch.models import EventKind, Status, Task, TaskEvent, TaskKind
from ruralwatch.dispatch.selectors import inbox, task_history, unread_notifications
from ruralwatch.dispatch.services import (
    IllegalTransition,
    act,
    can_act,
    escalate_due,
    remind_due,
    sync_tasks,
)
from tests.dashboard import data
from tests.dispatch import conftest as _fixtures
from tests.dispatch.conftest import T0, add_signal, hours

# The tree (and users) are built once for this module; each test's writes are rolled back.
tree = _fixtures.shared_tree
users = _fixtures.shared_users

DAY7 = data.DAY7


@pytest.fixture
def signal_task(users: dict[str, Any]) -> Task:
    add_signal(data.TOWN_A, DAY7)
    _only_signals()
    sync_tasks(DAY7, now=T0)
    return Task.objects.get(kind_id="signal", area_id=data.TOWN_A)


def _only_signals() -> None:
    """Leave the missing-report tasks of the tree out, so counts are about the signals."""
    TaskKind.objects.filter(code="missing_report").update(active=False)


def test_full_lifecycle_with_who_when_and_comment(signal_task: Task, users: dict) -> None:
    user = users["town_a"]
    steps = [
        ("acknowledge", None, 0.5),
        ("verify", None, 1.0),
        ("outcome", "suspected", 3.0),
        ("respond", None, 4.0),
        ("comment", None, 5.0),
        ("close", None, 30.0),
    ]
    for action, outcome, at in steps:
        act(signal_task, user, action, comment=f"{action} note", outcome=outcome, now=hours(at))
    task = Task.objects.get(pk=signal_task.pk)
    assert task.status == Status.CLOSED and task.outcome == "suspected"
    assert (task.acknowledged_at, task.outcome_at, task.closed_at) == (
        hours(0.5),
        hours(3.0),
        hours(30.0),
    )
    assert task.next_escalation is None
    history = task_history(task)
    assert [e.kind for e in history] == [
        EventKind.CREATED,
        EventKind.ACKNOWLEDGED,
        EventKind.VERIFYING,
        EventKind.OUTCOME,
        EventKind.RESPONDING,
        EventKind.COMMENT,
        EventKind.CLOSED,
    ]
    assert history[0].actor is None and history[1].actor == user
    assert [e.at for e in history[1:]] == [hours(at) for _, _, at in steps]
    assert history[3].comment == "outcome note"


@pytest.mark.parametrize(
    ("done", "action", "outcome"),
    [
        ([], "verify", None),  # must acknowledge first
        ([], "close", None),
        (["acknowledge"], "acknowledge", None),
        (["acknowledge"], "close", None),  # a signal needs an outcome before closing
        (["acknowledge", "verify"], "outcome", None),  # no outcome given
        (["acknowledge", "verify"], "outcome", "probable"),  # not a CIDARS outcome
        (["acknowledge"], "dance", None),
        ([], "comment", None),  # a comment without text
    ],
)
def test_illegal_transitions_are_refused_with_a_reason(
    signal_task: Task, users: dict, done: list[str], action: str, outcome: str | None
) -> None:
    for step in done:
        act(signal_task, users["town_a"], step, now=hours(1))
    before = (Task.objects.get(pk=signal_task.pk).status, TaskEvent.objects.count())
    with pytest.raises(IllegalTransition) as err:
        act(signal_task, users["town_a"], action, outcome=outcome, now=hours(2))
    assert str(err.value)
    assert (Task.objects.get(pk=signal_task.pk).status, TaskEvent.objects.count()) == before


def test_excluded_signal_closes_without_a_response(signal_task: Task, users: dict) -> None:
    user = users["town_a"]
    for action, outcome in (("acknowledge", None), ("verify", None), ("outcome", "excluded")):
        act(signal_task, user, action, outcome=outcome, now=hours(1))
    with pytest.raises(IllegalTransition):
        act(signal_task, user, "respond", now=hours(2))
    assert act(signal_task, user, "close", now=hours(2)).status == Status.CLOSED


def test_missing_report_closes_without_an_outcome(users: dict) -> None:
    sync_tasks(DAY7, now=T0)
    task = Task.objects.get(kind_id="missing_report", area_id=data.A2)
    act(task, users["town_a"], "acknowledge", now=hours(1))
    assert act(task, users["town_a"], "close", comment="called", now=hours(2)).closed_at == hours(2)


def test_who_may_act(signal_task: Task, users: dict) -> None:
    assert can_act(users["town_a"], signal_task)
    assert can_act(users["county"], signal_task)  # the level above, inside its jurisdiction
    assert can_act(users["national"], signal_task)
    assert not can_act(users["town_b"], signal_task)  # a sibling township
    assert not can_act(users["county2"], signal_task)  # another county
    assert not can_act(users["doctor_a1"], signal_task)  # below the owner
    with pytest.raises(PermissionDenied):
        act(signal_task, users["county2"], "acknowledge", now=hours(1))
    assert Task.objects.get(pk=signal_task.pk).status == Status.NEW


def test_another_county_neither_sees_nor_acts(signal_task: Task, users: dict) -> None:
    other = users["county2"]
    assert not scope_tasks(other).filter(pk=signal_task.pk).exists()
    messages = []
    for task_id in (signal_task.pk, 999_999, "x"):
        with pytest.raises(Http404) as err:
            access_task_by_id(other, task_id)
        messages.append(str(err.value))
    assert len(set(messages)) == 1  # missing, forbidden and malformed look the same
    assert access_task_by_id(users["town_a"], signal_task.pk) == signal_task
    # The task is about township A itself, above the village doctor's jurisdiction.
    assert not scope_tasks(users["doctor_a1"]).filter(pk=signal_task.pk).exists()
    assert inbox(other, hours(100)) == {"mine": [], "below": []}


def test_escalation_up_two_levels_with_time_shifts(signal_task: Task, users: dict) -> None:
    assert escalate_due(hours(23.9)) == {"escalated": 0, "steps": 0}
    assert escalate_due(hours(24.0)) == {"escalated": 1, "steps": 1}
    task = Task.objects.get(pk=signal_task.pk)
    assert (task.owner_area_id, task.owner_level, task.owner_role) == (data.COUNTY, 3, "county")
    assert task.owner_path.endswith(f"/{data.COUNTY}/") and task.escalations == 1
    assert escalate_due(hours(30.0))["steps"] == 0  # next escalation after one interval
    assert escalate_due(hours(48.0))["steps"] == 1
    task = Task.objects.get(pk=signal_task.pk)
    assert (task.owner_area_id, task.owner_level, task.owner_role) == (
        data.PREFECTURE,
        2,
        "prefecture",
    )
    moves = [
        (e.from_area_id, e.to_area_id, e.from_role, e.to_role)
        for e in TaskEvent.objects.filter(task=task, kind=EventKind.ESCALATED).order_by("at")
    ]
    assert moves == [
        (data.TOWN_A, data.COUNTY, "township", "county"),
        (data.COUNTY, data.PREFECTURE, "county", "prefecture"),
    ]
    # The township lost the task: it sees it still (its area) but can no longer act on it.
    assert scope_tasks(users["town_a"]).filter(pk=task.pk).exists()
    assert not can_act(users["town_a"], task) and not can_act(users["county"], task)
    assert can_act(users["prefecture"], task)
    # The prefecture's inbox has it first; the county sees nothing of its own.
    assert [t.pk for t in inbox(users["prefecture"], hours(49))["mine"]] == [task.pk]
    assert inbox(users["county"], hours(49))["mine"] == []


def test_escalation_catches_up_and_stops_at_the_province(users: dict) -> None:
    add_signal(data.A1, DAY7, single=True)  # county-owned, 2 h to acknowledge, every 2 h
    _only_signals()
    sync_tasks(DAY7, now=T0)
    task = Task.objects.get(kind_id="single_case")
    assert escalate_due(hours(100)) == {"escalated": 1, "steps": 2}
    task.refresh_from_db()
    assert (task.owner_area_id, task.owner_level, task.next_escalation) == (
        data.PROVINCE,
        1,
        None,
    )
    assert escalate_due(hours(200))["steps"] == 0


def test_acknowledged_task_escalates_when_no_outcome_by_due_done(
    signal_task: Task, users: dict
) -> None:
    act(signal_task, users["town_a"], "acknowledge", now=hours(1))
    assert escalate_due(hours(71.9))["steps"] == 0  # acknowledged in time: no escalation at 24 h
    assert escalate_due(hours(72.0))["steps"] == 1
    event = TaskEvent.objects.get(task=signal_task, kind=EventKind.ESCALATED)
    assert event.to_area_id == data.COUNTY and event.reason == "no_outcome"


def test_system_steps_and_notifications_are_worded_in_the_readers_language(
    signal_task: Task, users: dict
) -> None:
    """The escalation's reason and the notification are stored as codes and worded when read,
    so the same step reads in Chinese on a Chinese page and in English on an English one."""
    escalate_due(hours(25))
    county_user = users["county"]
    due = timezone.localtime(signal_task.due_ack).strftime("%Y-%m-%d %H:%M")
    seen = {}
    for lang in ("zh-hans", "en"):
        with translation.override(lang):
            notes = [e.note for e in task_history(signal_task) if e.kind == EventKind.ESCALATED]
            notices = [n.display for n in unread_notifications(county_user)]
            seen[lang] = (notes, notices)
    assert seen["zh-hans"][0] == [f"未在 {due} 前签收。"]
    assert seen["en"][0] == [f"Not acknowledged by {due}."]
    assert any(t.startswith("升级至您处") for t in seen["zh-hans"][1])
    assert any(t.startswith("Escalated to you") for t in seen["en"][1])


def test_reminders_once_before_each_deadline(signal_task: Task, users: dict) -> None:
    assert remind_due(hours(21.9)) == {}
    assert remind_due(hours(22.5)) == {"ack": 1}  # 2 h before the 24 h acknowledgement
    assert remind_due(hours(23.0)) == {}
    act(signal_task, users["county"], "acknowledge", now=hours(23.5))
    assert remind_due(hours(69.0)) == {}
    assert remind_due(hours(70.5)) == {"done": 1}  # 2 h before the 72 h outcome
    assert remind_due(hours(71.0)) == {}
    assert TaskEvent.objects.filter(task=signal_task, kind=EventKind.REMINDED).count() == 2
