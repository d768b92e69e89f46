"""A task page counts its deadline as the inbox does: at the end of the pages' "as of" day,
not on the wall clock's (on the demo's 2023 data every task read "overdue by 1,395 days")."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from django.utils import timezone

from ruralwatch.dispatch.models import Task
from tests.dispatch.test_views import (  # noqa: F401  (test_views' world: tree, users, tasks)
    _module_tree,
    client_for,
    tasks,
    tree,
    users,
)


def _due(text: str) -> str:
    match = re.search(r"(due in [^<]*|overdue by [^<]*)", text)
    assert match, "the page says nothing of the deadline"
    return match[1].strip()


def test_task_page_deadline_is_read_on_the_as_of_day(
    tasks: dict,  # noqa: F811
    users: dict[str, Any],  # noqa: F811
) -> None:
    task: Task = tasks["signal"]
    client = client_for(users["town_a"], "en")
    day = timezone.localtime(task.created_at).date()
    page = client.get(f"/dispatch/tasks/{task.pk}/?date={day.isoformat()}").content.decode()
    due = _due(page)
    end_of_day = timezone.make_aware(dt.datetime.combine(day, dt.time.max))
    if task.due_ack > end_of_day:
        assert due.startswith("due in"), due
    else:
        assert due.startswith("overdue by") and "days" not in due, due
    # A month on, the same task is overdue by days, counted from that day, not from today.
    later = client.get(f"/dispatch/tasks/{task.pk}/?date=2023-02-08").content.decode()
    days = (dt.date(2023, 2, 8) - timezone.localtime(task.due_ack).date()).days
    assert _due(later) in (f"overdue by {days} days", f"overdue by {days - 1} days")
