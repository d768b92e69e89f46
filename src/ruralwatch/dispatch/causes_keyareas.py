"""Tasks from the key areas (三区一岛): support requests and first cases or rises.

- ``support_request``: every open :class:`~ruralwatch.keyareas.models.SupportRequest` under
  the root becomes a task in the key area, owned by the request's paired support unit (with
  the default role of its level); the deadlines are the request's: acknowledge within the
  kind's ``ack_hours`` of the filing (not after the response deadline), respond by the
  request's ``respond_by``. Escalation is dispatch's own (``escalate_due``): an unanswered
  request moves up from the support unit. Answered or withdrawn: closed as
  ``request_answered``.
- ``key_area_rise``: a key area (of the kind's ``levels``) whose watch on the cycle date says
  ``first_case`` or ``rising`` (:func:`ruralwatch.keyareas.selectors.watch_rows`), and has no
  open task of the kind, becomes a task owned as the kind says (the county CDC by default);
  the evidence carries the method, parameters, pooled baseline and exact limit. An open task
  whose area is ``low`` again is closed as ``key_area_quiet``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from django.db.models import Exists, OuterRef, QuerySet
from django.utils import timezone

from ruralwatch.areas.models import Area
from ruralwatch.dispatch.models import (
    OPEN_STATUSES,
    ROLE_FOR_LEVEL,
    AutoReason,
    Source,
    Task,
    TaskKind,
)
from ruralwatch.dispatch.services import Cause, Owner
from ruralwatch.keyareas.models import RequestStatus, SupportRequest
from ruralwatch.keyareas.selectors import watch_rows

_AREA_FIELDS = ("level", "path", "l1", "l2", "l3", "l4", "l5")
Plan = tuple[QuerySet[Task], str, Callable[[], list[Cause]]]


def _open(kind: TaskKind, root_path: str) -> QuerySet[Task]:
    return Task.objects.filter(
        kind=kind, status__in=OPEN_STATUSES, outcome="", area_path__startswith=root_path
    )


# --- support requests ----------------------------------------------------------------------------


def support_causes(kind: TaskKind, root_path: str) -> list[Cause]:
    rows = (
        SupportRequest.objects.filter(status=RequestStatus.OPEN, key_path__startswith=root_path)
        .select_related("key_area", "support_unit")
        .order_by("id")
    )
    causes = []
    for r in rows:
        a, s = r.key_area, r.support_unit
        due_ack = min(r.filed_at + dt.timedelta(hours=kind.ack_hours), r.respond_by)
        causes.append(
            Cause(
                key=f"support_request:{r.pk}",
                area=a.code,
                date=timezone.localdate(r.filed_at),
                area_row={f: getattr(a, f) for f in _AREA_FIELDS},
                source_id=r.pk,
                owner=Owner(
                    int(s.level),
                    s.code,
                    s.path,
                    kind.owner_role
                    if int(s.level) == kind.owner_level
                    else ROLE_FOR_LEVEL[int(s.level)],
                ),
                due=(due_ack, r.respond_by),
                evidence={
                    "request": r.pk,
                    "need": r.need,
                    "quantity": r.quantity,
                    "note": r.note,
                    "key_area": a.code,
                    "key_area_tags": a.key_areas,
                    "support_unit": s.code,
                    "filed_at": r.filed_at.isoformat(),
                    "respond_by": r.respond_by.isoformat(),
                },
            )
        )
    return causes


def support_gone(kind: TaskKind, root_path: str) -> QuerySet[Task]:
    still = SupportRequest.objects.filter(pk=OuterRef("source_id"), status=RequestStatus.OPEN)
    return _open(kind, root_path).exclude(Exists(still))


# --- first cases and rises -----------------------------------------------------------------------


def _levels(kind: TaskKind) -> set[int]:
    return {int(x) for x in kind.params.get("levels", [4, 5])}


def rise_causes(kind: TaskKind, cycle_date: dt.date, root_path: str) -> list[Cause]:
    rows, params = watch_rows(root_path, cycle_date)
    levels = _levels(kind)
    hot = [r for r in rows if r.status in ("rising", "first_case") and r.level in levels]
    if not hot:
        return []
    busy = set(
        Task.objects.filter(
            kind=kind, status__in=OPEN_STATUSES, area_id__in=[r.code for r in hot]
        ).values_list("area_id", flat=True)
    )
    areas = {
        a["code"]: a
        for a in Area.objects.filter(code__in=[r.code for r in hot if r.code not in busy]).values(
            "code", *_AREA_FIELDS
        )
    }
    return [
        Cause(
            key=f"key_area_rise:{r.code}:{cycle_date.isoformat()}",
            area=r.code,
            date=cycle_date,
            area_row=areas[r.code],
            evidence=r.evidence(cycle_date, params),
        )
        for r in hot
        if r.code in areas
    ]


def rise_gone(kind: TaskKind, cycle_date: dt.date, root_path: str) -> QuerySet[Task]:
    open_ = _open(kind, root_path)
    if not open_.exists():
        return open_
    rows, _params = watch_rows(root_path, cycle_date)
    quiet = {r.code for r in rows if r.status == "low"}
    ids = [i for i, area in open_.values_list("id", "area_id") if area in quiet]
    return Task.objects.filter(id__in=ids)


def plan(kind: TaskKind, cycle_date: dt.date, root_path: str) -> Plan | None:
    """The plan of a key-area kind for :func:`ruralwatch.dispatch.services._plan`."""
    if kind.source == Source.SUPPORT_REQUEST:
        return (
            support_gone(kind, root_path),
            AutoReason.REQUEST_ANSWERED,
            lambda: support_causes(kind, root_path),
        )
    if kind.source == Source.KEY_AREA_RISE:
        return (
            rise_gone(kind, cycle_date, root_path),
            AutoReason.KEY_AREA_QUIET,
            lambda: rise_causes(kind, cycle_date, root_path),
        )
    return None


def sync_support_requests(root_path: str = "/", now: dt.datetime | None = None) -> dict[str, int]:
    """Only the support-request kinds of :func:`ruralwatch.dispatch.services.sync_tasks`:
    open requests become tasks, answered ones close theirs. Cheap (a few rows), so the worker
    or a timer may run it every few minutes and a request need not wait for the daily cycle."""
    from django.db import transaction

    from ruralwatch.dispatch.services import _auto_close, _create, _notify_owned

    now = now or timezone.now()
    created: list[tuple[int, str]] = []
    closed = 0
    with transaction.atomic():
        for kind in TaskKind.objects.filter(active=True, source=Source.SUPPORT_REQUEST):
            if kind.auto_close:
                closed += _auto_close(
                    support_gone(kind, root_path), AutoReason.REQUEST_ANSWERED, now
                )
            created += _create(kind, support_causes(kind, root_path), now)
    _notify_owned(created, "created")
    return {"created": len(created), "auto_closed": closed}
