"""Reads of the scheduling loop: the inbox, a task's trace, and the accountability figures.

The accountability figures follow the response indicators of China's automated early-warning
system (CIDARS; Yang et al. 2011, and the later evaluations of its response): response rate,
median (P25–P75) time to respond, share responded within 2 h (single-case signals) and 24 h
(temporal signals), and yield. They are computed from one query of the tasks of a subtree and
period, with polars and numpy, whatever the number of tasks.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import polars as pl
from django.db import connection
from django.db.models import Case, F, Q, QuerySet, When
from django.utils import timezone

from ruralwatch.accounts.access import jurisdiction, sees_everything
from ruralwatch.accounts.models import Profile, Role
from ruralwatch.areas.models import Area, Level
from ruralwatch.core import bulk
from ruralwatch.dispatch import wording
from ruralwatch.dispatch.access import scope_tasks
from ruralwatch.dispatch.models import (
    OPEN_STATUSES,
    ROLE_FOR_LEVEL,
    Notification,
    Source,
    Status,
    Task,
    TaskEvent,
    TaskKind,
)


def overdue_q(now: dt.datetime) -> Q:
    """Open tasks past the deadline that applies: acknowledgement while new, else the outcome
    (a task with an outcome is done with its deadline)."""
    return Q(status__in=OPEN_STATUSES) & (
        Q(status=Status.NEW, due_ack__lt=now)
        | (~Q(status=Status.NEW) & Q(outcome="", due_done__lt=now))
    )


def _by_deadline(qs: QuerySet[Task]) -> QuerySet[Task]:
    """Ordered by the deadline that applies (acknowledgement while new, else the outcome)."""
    deadline = Case(When(status=Status.NEW, then=F("due_ack")), default=F("due_done"))
    return qs.order_by(deadline.asc(), "priority", "id")


def inbox(
    user: Any,
    now: dt.datetime,
    limit: int = 50,
    *,
    kind: str | None = None,
    status: str | None = None,
) -> dict[str, list[Task]]:
    """Today's work first: ``mine`` — open tasks owned by the user's own unit, by deadline,
    then ``below`` — open tasks owned by units under it, by deadline, so the overdue come
    first (a unit above sees what its sub-areas are working on, and what they let slip at the
    top). Two queries (plus the profile); national users and superusers own nothing and see
    every open task.
    ``kind`` and ``status`` (an open status) narrow both lists."""
    base = (
        scope_tasks(user)
        .filter(status__in=OPEN_STATUSES)
        .select_related("kind", "area", "owner_area")
    )
    if kind:
        base = base.filter(kind_id=kind)
    if status:
        base = base.filter(status=status)
    root = jurisdiction(user)
    mine: list[Task] = []
    if root is not None:
        mine = list(_by_deadline(base.filter(owner_area_id=root.code))[:limit])
        below = base.filter(owner_path__startswith=root.path).exclude(owner_area_id=root.code)
    elif sees_everything(user):
        below = base
    else:
        return {"mine": [], "below": []}
    return {"mine": mine, "below": list(_by_deadline(below)[:limit])}


def task_history(task: Task) -> list[TaskEvent]:
    """Every step of ``task`` (caller obtained it through the access helper), oldest first."""
    events = list(
        TaskEvent.objects.filter(task=task)
        .select_related("actor", "from_area", "to_area")
        .order_by("at", "id")
    )
    for e in events:
        e.note = wording.event_note(e.kind, e.reason, e.comment, task.due_ack, task.due_done)
    return events


def unread_count(user: Any) -> int:
    """The number of the user's unread in-app notifications (the badge)."""
    if not getattr(user, "is_authenticated", False):
        return 0
    return Notification.objects.filter(user_id=user.pk, read=False).count()


# --- accountability -------------------------------------------------------------------------


def _hours(column: str) -> str:
    """SQL for the hours from ``t.created_at`` to ``column`` (NULL stays NULL)."""
    if bulk.is_postgres():
        return f"EXTRACT(EPOCH FROM ({column} - t.created_at)) / 3600.0"
    return f"(julianday({column}) - julianday(t.created_at)) * 24.0"


SCHEMA: dict[str, Any] = {
    "source": pl.String,
    "kind": pl.String,
    "status": pl.String,
    "owner_level": pl.Int64,
    "escalations": pl.Int64,
    "outcome": pl.String,
    "ack_h": pl.Float64,
    "done_h": pl.Float64,
    "overdue": pl.Int64,
    "unit": pl.String,
}


def task_frame(
    root_path: str,
    unit_level: int | None,
    since: dt.datetime,
    until: dt.datetime,
    now: dt.datetime,
    by_date: bool = False,
) -> pl.DataFrame:
    """One row per task created in ``[since, until)`` (``by_date``: whose cause's data date
    lies in those local days) whose area lies under ``root_path``:
    kind, status, owner level, escalations, outcome, hours to acknowledge and to outcome (or
    to closing, for kinds without an outcome), overdue at ``now``, and the task area's
    ancestor at ``unit_level`` (for the ranking). One query."""
    adapt = connection.ops.adapt_datetimefield_value
    period: list[Any] = [adapt(since), adapt(until)]
    column = "t.created_at"
    if by_date:
        column = "t.date"
        day = connection.ops.adapt_datefield_value
        period = [day(timezone.localdate(since)), day(timezone.localdate(until))]
    unit = f"a.l{unit_level}" if unit_level and 1 <= unit_level <= 5 else "''"
    open_list = ", ".join(f"'{s}'" for s in OPEN_STATUSES)
    done = "COALESCE(t.outcome_at, CASE WHEN t.status = 'closed' THEN t.closed_at END)"
    sql = (
        f"SELECT k.source, t.kind_id, t.status, t.owner_level, t.escalations, t.outcome, "
        f"{_hours('t.acknowledged_at')}, "
        f"{_hours(done)}, "
        f"CASE WHEN t.status IN ({open_list}) AND ((t.status = 'new' AND t.due_ack < %s) "
        f"OR (t.status <> 'new' AND t.outcome = '' AND t.due_done < %s)) THEN 1 ELSE 0 END, "
        f"COALESCE({unit}, '') "
        f"FROM {Task._meta.db_table} t JOIN {TaskKind._meta.db_table} k ON k.code = t.kind_id "
        f"JOIN {Area._meta.db_table} a ON a.code = t.area_id "
        f"WHERE t.area_path LIKE %s AND {column} >= %s AND {column} < %s"
    )
    return bulk.fetch_frame(sql, [adapt(now), adapt(now), root_path + "%", *period], schema=SCHEMA)


def _quartiles(values: np.ndarray) -> dict[str, float | None]:
    if values.size == 0:
        return {"p25": None, "median": None, "p75": None}
    p25, p50, p75 = np.percentile(values, [25, 50, 75])
    return {"p25": float(p25), "median": float(p50), "p75": float(p75)}


def _share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def kpis(frame: pl.DataFrame) -> dict[str, Any]:
    """The CIDARS-style figures of a set of tasks (rows of :func:`task_frame`).

    Tasks that closed themselves before anyone acknowledged them (the cause went away) are
    left out of the response figures; they are counted in ``auto_closed``.
    """
    auto_unanswered = (pl.col("status") == Status.CLOSED_AUTO) & pl.col("ack_h").is_null()
    counted = frame.filter(~auto_unanswered)
    ack = counted["ack_h"].drop_nulls().to_numpy()
    done = counted["done_h"].drop_nulls().to_numpy()
    single = counted.filter(pl.col("source") == Source.SINGLE_CASE)
    temporal = counted.filter(pl.col("source") == Source.SIGNAL)
    outcomes = counted.filter(pl.col("outcome") != "")["outcome"]
    n_outcome = outcomes.len()
    confirmed = int((outcomes == "confirmed").sum())
    suspected = int((outcomes == "suspected").sum())
    return {
        "tasks": frame.height,
        "counted": counted.height,
        "auto_closed": int((frame["status"] == Status.CLOSED_AUTO).sum()),
        "open": int(frame["status"].is_in(list(OPEN_STATUSES)).sum()),
        "responded": int(ack.size),
        "response_rate": _share(int(ack.size), counted.height),
        "ack_hours": _quartiles(ack),
        "done_hours": _quartiles(done),
        "single_case": single.height,
        "within_2h": _share(int((single["ack_h"] <= 2.0).sum()), single.height),
        "temporal": temporal.height,
        "within_24h": _share(int((temporal["ack_h"] <= 24.0).sum()), temporal.height),
        "with_outcome": n_outcome,
        "confirmed": confirmed,
        "suspected": suspected,
        "excluded": int((outcomes == "excluded").sum()),
        "yield": _share(confirmed, n_outcome),
        "overdue": int(frame["overdue"].sum()),
        "escalated": int((frame["escalations"] > 0).sum()),
    }


def _holders(codes: list[str]) -> dict[str, list[dict[str, str]]]:
    """Who holds each unit: active users bound to the area, with their role (one query)."""
    held: dict[str, list[dict[str, str]]] = {}
    rows = (
        Profile.objects.filter(jurisdiction_id__in=codes, user__is_active=True)
        .order_by("jurisdiction_id", "role", "user__username")
        .values_list("jurisdiction_id", "user__username", "role")
    )
    for area, username, role in rows:
        label = str(Role(role).label) if role in Role.values else role
        held.setdefault(area, []).append({"user": username, "role": role, "role_label": label})
    return held


def accountability(
    area: Area | None,
    since: dt.datetime,
    until: dt.datetime,
    now: dt.datetime,
    by_date: bool = False,
) -> dict[str, Any]:
    """Accountability figures for the tasks arising under ``area`` (the whole tree if None)
    and created in ``[since, until)`` (``by_date``: of data dates in those days, as pages
    count them, so that a replayed or late cycle's tasks fall on their data's days): totals
    by kind and status, the CIDARS-style figures
    overall and per owner level, and the units one level down ranked from the most lagging,
    each with the role responsible for it and the users who hold it. The caller obtained
    ``area`` through :func:`ruralwatch.accounts.access.access_area_by_code`."""
    root_path = area.path if area is not None else "/"
    unit_level = (area.level + 1) if area is not None else 1
    frame = task_frame(
        root_path, unit_level if unit_level <= 5 else None, since, until, now, by_date
    )
    by_kind: dict[str, dict[str, int]] = {}
    for kind, status, n in (
        frame.group_by("kind", "status").len().sort("kind", "status").iter_rows()
    ):
        by_kind.setdefault(kind, {})[status] = int(n)
    by_level = [
        {"level": int(lvl), "level_label": str(Level(int(lvl)).label), **kpis(part)}
        for (lvl,), part in sorted(
            frame.partition_by("owner_level", as_dict=True).items(), key=lambda x: x[0]
        )
    ]
    units = frame.filter(pl.col("unit") != "")
    parts = units.partition_by("unit", as_dict=True) if units.height else {}
    codes = [str(code) for (code,) in parts]
    names = dict(Area.objects.filter(code__in=codes).values_list("code", "name"))
    holders = _holders(codes)
    role = ROLE_FOR_LEVEL.get(unit_level, "")
    lagging = []
    for (code,), part in parts.items():
        figures = kpis(part)
        lagging.append(
            {
                "code": code,
                "name": names.get(code, code),
                "level": unit_level,
                "role": role,
                "role_label": str(Role(role).label) if role else "",
                "holders": holders.get(code, []),
                **figures,
            }
        )

    def lag_key(row: dict[str, Any]) -> tuple[Any, ...]:
        rate = row["response_rate"]
        median = row["ack_hours"]["median"]
        return (
            -row["overdue"],
            -row["escalated"],
            rate if rate is not None else 2.0,
            -(median if median is not None else -1.0),
            row["code"],
        )

    lagging.sort(key=lag_key)
    return {
        "root": area.code if area is not None else None,
        "since": since.isoformat(),
        "until": until.isoformat(),
        "by_kind_status": by_kind,
        "overall": kpis(frame),
        "by_level": by_level,
        "lagging": lagging,
    }


# --- pages and API --------------------------------------------------------------------------


def legal_actions(task: Task, user: Any) -> list[str]:
    """The lifecycle steps ``user`` may take on ``task`` now, in the order of the lifecycle
    (``comment`` is left out: it is allowed in every status). Empty when the user may not act.
    The same rules as :func:`ruralwatch.dispatch.services.act`, which checks them again."""
    from ruralwatch.dispatch.models import Outcome
    from ruralwatch.dispatch.services import ACTIONS, _allowed_from, can_act

    if not task.is_open or not can_act(user, task):
        return []
    out = []
    for action in ACTIONS:
        if action == "comment" or task.status not in _allowed_from(task, action):
            continue
        if action == "respond" and task.outcome == Outcome.EXCLUDED:
            continue
        if action == "close" and task.kind.outcome_required and not task.outcome:
            continue
        out.append(action)
    return out


def unread_for_task(user: Any, task: Task) -> list[int]:
    """Ids of the user's unread notifications about ``task`` (to mark them read on its page)."""
    return list(
        Notification.objects.filter(user_id=user.pk, task=task, read=False).values_list(
            "id", flat=True
        )
    )


def unread_notifications(user: Any, limit: int = 10) -> list[Notification]:
    """The user's latest unread notifications, newest first."""
    if not getattr(user, "is_authenticated", False):
        return []
    notes = list(
        Notification.objects.filter(user_id=user.pk, read=False)
        .select_related("task__kind", "task__area")
        .order_by("-created_at", "-id")[:limit]
    )
    for n in notes:
        t = n.task
        n.display = (
            n.text
            if t is None or n.why not in wording.NOTICE_WHY
            else wording.notice(
                n.why, t.kind.name_zh, t.kind.name_en, t.area.name, t.due_ack, t.due_done
            )
        )
    return notes


def task_kinds() -> list[TaskKind]:
    """Every task kind (for filters), by priority."""
    return list(TaskKind.objects.all())


def scoped_task_list(
    user: Any,
    *,
    area: Area | None = None,
    kind: str | None = None,
    status: str | None = None,
    open_only: bool = False,
    overdue_at: dt.datetime | None = None,
) -> QuerySet[Task]:
    """The tasks ``user`` may see, optionally under ``area`` (the caller obtained it through
    the access helper; owner or source area below it), of one kind or status, open only, or
    overdue at ``overdue_at``; newest first, with kind and areas joined."""
    qs = scope_tasks(user).select_related("kind", "area", "owner_area")
    if area is not None:
        qs = qs.filter(Q(owner_path__startswith=area.path) | Q(area_path__startswith=area.path))
    if kind:
        qs = qs.filter(kind_id=kind)
    if status:
        qs = qs.filter(status=status)
    if open_only:
        qs = qs.filter(status__in=OPEN_STATUSES)
    if overdue_at is not None:
        qs = qs.filter(overdue_q(overdue_at))
    return qs.order_by("-created_at", "-id")


def signal_context(task: Task, days: int = 28) -> dict[str, Any] | None:
    """What a signal task's chart needs: the indicator's series for the task's area around
    the signal (daily values, or weekly sums for a weekly rule), and every signal of the same
    rule and area in that window with its threshold. ``None`` if the rule is gone."""
    from ruralwatch.reporting.models import Indicator
    from ruralwatch.reporting.selectors import daily_series
    from ruralwatch.signals.models import DetectionRule, Signal

    if task.source_id is None:
        return None
    rule = DetectionRule.objects.filter(pk=task.source_id).select_related("indicator").first()
    if rule is None:
        return None
    weekly = rule.freq == "week"
    span = dt.timedelta(days=7 * 12 if weekly else days)
    start, end = task.date - span, task.date + dt.timedelta(days=3 if not weekly else 0)
    daily = daily_series(task.area, rule.indicator_id, start - dt.timedelta(days=6), end)
    points: list[tuple[dt.date, float | None]]
    if weekly:
        # ISO weeks ending on Sundays, as the weekly rules count them; a week without any
        # reported day is missing, not zero.
        values = dict(daily)
        points = []
        day = task.date
        while day >= start:
            week = [values.get(day - dt.timedelta(days=i)) for i in range(7)]
            seen = [v for v in week if v is not None]
            points.append((day, sum(seen) if seen else None))
            day -= dt.timedelta(days=7)
        points.reverse()
    else:
        points = [(d, v) for d, v in daily if d >= start]
    alarms = list(
        Signal.objects.filter(
            rule_id=rule.pk, area_id=task.area_id, date__range=(start, end)
        ).values("date", "observed", "expected", "threshold", "score")
    )
    indicator: Indicator = rule.indicator
    return {
        "rule": rule,
        "indicator": indicator,
        "weekly": weekly,
        "series": points,
        "alarms": alarms,
    }


def check_kind(code: str) -> str:
    """``code`` if it names a task kind; else a ``ValidationError`` listing the kinds."""
    from django.core.exceptions import ValidationError
    from django.utils.translation import gettext as _

    codes = list(TaskKind.objects.order_by("code").values_list("code", flat=True))
    if code not in codes:
        raise ValidationError(
            _("Unknown task kind %(kind)s; use one of: %(codes)s.")
            % {"kind": code, "codes": ", ".join(codes)}
        )
    return code
