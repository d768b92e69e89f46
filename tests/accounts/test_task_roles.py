"""The new roles on real tasks: the county leader sees the county's tasks and its inbox but
acts on none; the duty officer acts on the same task (docs/dispatch.md, Roles)."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.exceptions import PermissionDenied

from ruralwatch.areas.models import Area
from ruralwatch.dispatch.access import access_task_by_id, scope_tasks
from ruralwatch.dispatch.models import Status, Task, TaskKind
from ruralwatch.dispatch.selectors import accountability, inbox
from ruralwatch.dispatch.services import act, sync_tasks
from tests.dashboard import data
from tests.dispatch.conftest import T0, add_signal, hours


@pytest.fixture
def task(people: dict[str, Any]) -> Task:
    TaskKind.objects.filter(code="missing_report").update(active=False)
    add_signal(data.TOWN_A, data.DAY7)
    sync_tasks(data.DAY7, now=T0)
    return Task.objects.get(kind_id="signal", area_id=data.TOWN_A)


def test_the_county_leader_reads_everything_and_acts_on_nothing(
    task: Task, people: dict[str, Any]
) -> None:
    leader, county = people["leader"], people["county"]
    assert access_task_by_id(leader, task.pk) == task
    assert list(scope_tasks(leader)) == list(scope_tasks(county))
    late = task.due_ack + (task.due_ack - task.created_at)  # past the deadline, not escalated
    assert [t.pk for t in inbox(leader, late)["below"]] == [task.pk]  # overdue below
    for action in ("acknowledge", "comment"):
        with pytest.raises(PermissionDenied):
            act(task, leader, action, comment="seen", now=hours(1.0))
    act(task, county, "acknowledge", now=hours(1.0))
    assert Task.objects.get(pk=task.pk).status == Status.ACKNOWLEDGED
    # The leader is named among those who hold the county in the ranking one level up.
    prefecture = Area.objects.get(code=data.PREFECTURE)
    figures = accountability(prefecture, hours(-48), hours(48), hours(2))
    holders = {h["user"]: h["role"] for u in figures["lagging"] for h in u["holders"]}
    assert holders == {"county": "county", "leader": "county_leader"}
