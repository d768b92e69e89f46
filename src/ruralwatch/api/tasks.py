"""Tasks of the scheduling loop (调度): list, one task with its trace, acting on it, and the
accountability figures of an area.

A task is visible when its owner area or its source area lies in the caller's jurisdiction
(``dispatch.access``); a missing task and one outside get the same 404. Acting needs the
owner's role or a role above it inside the jurisdiction (403 otherwise, for a task the caller
can see); a step the task's status does not allow is a 422 that says why.
"""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from ninja import Query, Router, Schema
from ninja.errors import HttpError
from pydantic import Field

from ruralwatch.api.common import page_fields, paginate, scope_root, user_of
from ruralwatch.api.schemas import TEXT_PATTERN, Code, Day, ErrorOut, Id, InvalidOut, PageParams
from ruralwatch.core.i18n import localized
from ruralwatch.dispatch import evidence, selectors, services
from ruralwatch.dispatch.access import access_task_by_id
from ruralwatch.dispatch.models import OPEN_STATUSES, Outcome, Status, Task, TaskEvent
from ruralwatch.reporting.models import Indicator

router = Router(tags=["tasks"])

#: Days the accountability figures cover by default (up to today), and at most.
DEFAULT_DAYS = 30
MAX_DAYS = 366

TaskStatus = enum.StrEnum("TaskStatus", {s.value: s.value for s in Status})  # type: ignore[misc]
TaskOutcome = enum.StrEnum("TaskOutcome", {o.value: o.value for o in Outcome})  # type: ignore[misc]
TaskAction = enum.StrEnum(  # type: ignore[misc]
    "TaskAction", {a: a for a in services.ACTIONS}
)


class TaskFilters(PageParams):
    area: Code | None = Field(
        None, description="Area code: tasks owned or arising under it; default: your jurisdiction."
    )
    kind: str | None = Field(
        None, max_length=40, pattern=r"^[a-z0-9_]+$", description="A task kind's code."
    )
    status: TaskStatus | None = Field(None, description="Only tasks in this status.")
    open: bool | None = Field(None, description="Only open tasks (true) or closed ones (false).")
    overdue: bool | None = Field(
        None, description="Only tasks past the deadline that applies now (true)."
    )


class TaskOut(Schema):
    id: int
    kind: str
    kind_name: str
    area: str
    area_name: str
    date: dt.date
    status: str
    outcome: str
    priority: int
    owner_area: str
    owner_area_name: str
    owner_level: int
    owner_role: str
    due_ack: dt.datetime
    due_done: dt.datetime
    escalations: int
    created_at: dt.datetime
    acknowledged_at: dt.datetime | None
    outcome_at: dt.datetime | None
    closed_at: dt.datetime | None

    @staticmethod
    def resolve_kind(obj: Any) -> str:
        return str(obj.kind_id)

    @staticmethod
    def resolve_kind_name(obj: Any) -> str:
        return str(obj.kind.name(get_language() or "zh-hans"))

    @staticmethod
    def resolve_area(obj: Any) -> str:
        return str(obj.area_id)

    @staticmethod
    def resolve_area_name(obj: Any) -> str:
        return str(obj.area.name)

    @staticmethod
    def resolve_owner_area(obj: Any) -> str:
        return str(obj.owner_area_id)

    @staticmethod
    def resolve_owner_area_name(obj: Any) -> str:
        return str(obj.owner_area.name)


class TaskPage(Schema):
    count: int
    limit: int
    offset: int
    items: list[TaskOut]


class EventOut(Schema):
    kind: str
    at: dt.datetime
    actor: str | None
    comment: str
    from_area: str | None
    to_area: str | None
    from_role: str
    to_role: str


class TaskDetail(TaskOut):
    auto_reason: str
    evidence: dict[str, Any]
    evidence_text: list[str] = Field(description="What made the task, in words.")
    method_name: str | None = Field(description="The detection method's human name.")
    actions: list[str] = Field(description="The lifecycle steps you may take now.")
    history: list[EventOut]


class ActIn(Schema):
    action: TaskAction
    comment: str = Field(
        "",
        max_length=2000,
        pattern=TEXT_PATTERN,
        description="Kept in the trace; required for ``comment``.",
    )
    outcome: TaskOutcome | None = Field(None, description="For ``outcome``: the CIDARS outcome.")


class AccountabilityFilters(Schema):
    area: Code | None = Field(None, description="Area code; default: your jurisdiction.")
    since: Day | None = Field(None, description="First day of creation; default: 29 days before.")
    until: Day | None = Field(None, description="Last day of creation (inclusive); default: today.")


class AccountabilityOut(Schema):
    root: str | None
    since: str
    until: str
    by_kind_status: dict[str, dict[str, int]]
    overall: dict[str, Any]
    by_level: list[dict[str, Any]]
    lagging: list[dict[str, Any]]


def _detail(task: Task, user: Any) -> Task:
    """``task`` with what the detail schema adds: evidence in words, the next steps, the trace."""
    events: list[TaskEvent] = selectors.task_history(task)
    ev = task.evidence or {}
    indicator = Indicator.objects.filter(code=ev.get("indicator") or "").first()
    name = "" if indicator is None else localized(indicator, "name")
    extra = {
        "evidence_text": evidence.sentences(task.kind.source, ev, task.area.name, name),
        "method_name": evidence.method_name(ev["method"]) if ev.get("method") else None,
        "actions": selectors.legal_actions(task, user),
        "history": [
            {
                "kind": e.kind,
                "at": e.at,
                "actor": e.actor.get_username() if e.actor else None,
                "comment": e.note,
                "from_area": e.from_area_id,
                "to_area": e.to_area_id,
                "from_role": e.from_role,
                "to_role": e.to_role,
            }
            for e in events
        ],
    }
    for name, value in extra.items():
        setattr(task, name, value)
    return task


@router.get(
    "",
    response={200: TaskPage, 401: ErrorOut, 404: ErrorOut, 422: InvalidOut},
    summary="Tasks you may see",
)
def list_tasks(request: HttpRequest, filters: Query[TaskFilters]) -> dict[str, Any]:
    """Tasks owned or arising under ``area`` (default: your jurisdiction), newest first,
    optionally of one kind, status, open or closed, or overdue now."""
    user = user_of(request)
    area = scope_root(user, filters.area)  # 404 without a jurisdiction
    if filters.kind:
        selectors.check_kind(filters.kind)
    qs = selectors.scoped_task_list(
        user,
        area=area,
        kind=filters.kind,
        status=filters.status.value if filters.status else None,
        overdue_at=timezone.now() if filters.overdue else None,
    )
    if filters.open is not None:
        qs = (
            qs.filter(status__in=OPEN_STATUSES)
            if filters.open
            else qs.exclude(status__in=OPEN_STATUSES)
        )
    if filters.overdue is False:
        qs = qs.exclude(selectors.overdue_q(timezone.now()))
    items, count = paginate(qs, filters)
    return {**page_fields(filters, count), "items": items}


@router.get(
    "/accountability",
    response={200: AccountabilityOut, 401: ErrorOut, 404: ErrorOut, 422: InvalidOut},
    summary="Accountability figures (CIDARS-style) of an area",
)
def accountability(request: HttpRequest, filters: Query[AccountabilityFilters]) -> dict[str, Any]:
    """For the tasks arising under ``area`` and created ``since`` … ``until``: counts by kind
    and status, response rate, median (P25–P75) hours to acknowledge and to outcome, share
    within 2 h (single cases) and 24 h (signals), yield, overdue and escalated counts, overall,
    per owner level, and for each unit one level down ranked from the most lagging, with the
    role responsible and the users who hold it."""
    area = scope_root(user_of(request), filters.area)
    until = filters.until or timezone.localdate()
    since = filters.since or until - dt.timedelta(days=DEFAULT_DAYS - 1)
    if since > until:
        raise HttpError(422, _("The start date is after the end date."))
    if (until - since).days >= MAX_DAYS:
        raise HttpError(422, _("The period is too long (at most %(n)d days).") % {"n": MAX_DAYS})

    def midnight(day: dt.date) -> dt.datetime:
        return timezone.make_aware(dt.datetime.combine(day, dt.time()))

    return selectors.accountability(
        area, midnight(since), midnight(until + dt.timedelta(days=1)), timezone.now()
    )


@router.get(
    "/{task_id}",
    response={200: TaskDetail, 401: ErrorOut, 404: ErrorOut, 422: InvalidOut},
    summary="One task with its trace",
)
def get_task(request: HttpRequest, task_id: Id) -> Task:
    """The task, its evidence (the numbers and in words), the steps you may take now, and
    its trace: every step with who, when and the comment, escalations with the areas and
    roles it moved from and to."""
    user = user_of(request)
    return _detail(access_task_by_id(user, task_id), user)


@router.post(
    "/{task_id}/act",
    response={200: TaskDetail, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 422: InvalidOut},
    summary="Take a step on a task",
)
def act_on_task(request: HttpRequest, task_id: Id, body: ActIn) -> Task:
    """``acknowledge`` → ``verify`` → ``outcome`` (with ``excluded``, ``suspected`` or
    ``confirmed``) → ``respond`` → ``close``; ``comment`` in any status. A step the status
    does not allow is refused with the reason (422)."""
    user = user_of(request)
    task = access_task_by_id(user, task_id)
    try:
        services.act(
            task,
            user,
            body.action.value,
            comment=body.comment,
            outcome=body.outcome.value if body.outcome else None,
        )
    except services.IllegalTransition as exc:
        raise ValidationError(str(exc)) from None
    except PermissionDenied:
        raise HttpError(403, _("You may not act on this task.")) from None
    return _detail(access_task_by_id(user, task_id), user)
