"""The tasks' and task events' indexes: only those a read or a cascade needs.

The daily cycle COPYs every new task and its "created" event, so each index is paid for on
every cycle. A single-column index whose column leads another index is redundant (the other
one serves the same reads and the foreign key's cascade or protection), and so are Django's
``varchar_pattern_ops`` copies of text keys that no query matches by prefix. Checked on the
database itself (SQLite or PostgreSQL), so a later field change that brings Django's default
indexes back fails here.
"""

from __future__ import annotations

import pytest
from django.db import connection

pytestmark = pytest.mark.django_db

#: Index (or unique constraint) → columns, the primary key left out.
TASK = {
    "task_source_key": ["source_key"],  # unique; ``_known`` and the briefing read by key
    "task_owner_path": ["owner_path"],  # a jurisdiction's tasks (scope_tasks)
    "task_open_owner_path": ["owner_path"],  # partial: the open ones (inbox, escalation)
    "task_area_path": ["area_path"],  # tasks arising under an area (cycle, accountability)
    "task_owner_status": ["owner_area_id", "status"],  # the inbox's own unit
    "task_status_escalation": ["status", "next_escalation"],  # escalate_due
    "task_kind_area_status": ["kind_id", "area_id", "status"],  # sync; the kind's PROTECT
    "task_created": ["created_at"],  # newest first (lists, the API)
}
TASK_EVENT = {
    "taskevent_task_at": ["task_id", "at"],  # a task's trace; the tasks' cascade
    "taskevent_actor": ["actor_id"],  # partial (actor set): a user's SET_NULL
}
#: Partial indexes: not covered by a full index on the same columns (smaller, and chosen for
#: their own condition).
PARTIAL = {"task_open_owner_path", "taskevent_actor"}


def indexes(table: str) -> dict[str, list[str]]:
    """Every index and unique constraint of ``table`` but the primary key: name → columns."""
    with connection.cursor() as cursor:
        found = connection.introspection.get_constraints(cursor, table)
    return {
        name: list(c["columns"])
        for name, c in found.items()
        if (c["index"] or c["unique"]) and not c["primary_key"]
    }


def covered(found: dict[str, list[str]], partial: set[str]) -> list[tuple[str, str]]:
    """(index, the index that covers it): a full index whose columns lead another index."""
    return [
        (name, other)
        for name, cols in found.items()
        for other, more in found.items()
        if other != name
        and name not in partial
        and other not in partial
        and more[: len(cols)] == cols
        and (len(more) > len(cols) or name > other)
    ]


@pytest.mark.parametrize(
    ("table", "expected"), [("dispatch_task", TASK), ("dispatch_taskevent", TASK_EVENT)]
)
def test_tasks_and_events_carry_only_the_indexes_reads_need(
    table: str, expected: dict[str, list[str]]
) -> None:
    found = indexes(table)
    assert found == expected
    assert covered(found, PARTIAL) == []


def test_a_covered_index_is_found() -> None:
    """The check itself: an index leading another, or the same twice, is reported."""
    found = {"a": ["kind_id"], "b": ["kind_id", "area_id"], "c": ["x"], "d": ["x"]}
    assert sorted(covered(found, set())) == [("a", "b"), ("d", "c")]
    assert covered(found, {"a", "d"}) == []
