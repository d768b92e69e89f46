"""Writes of the scheduling loop: tasks from their causes, the lifecycle, escalation, reminders.

:func:`sync_tasks` turns every cause found for a cycle date into a task, once: each task kind
(a row of :class:`~ruralwatch.dispatch.models.TaskKind`) reads its causes in one query (the
database does the per-village work), the causes whose ``source_key`` (unique) is not yet a
task are inserted in bulk (``COPY`` on PostgreSQL, with ids taken from the sequence, and
their "created" events after them; a key that a concurrent sync took meanwhile is skipped),
and open tasks whose cause has gone are closed as ``closed_auto`` with the reason. Running it
twice creates nothing new.

Times are passed in (``now``), so tests and the worker control the clock.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import math
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import polars as pl
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, connection, transaction
from django.db.models import (
    Exists,
    Expression,
    F,
    Func,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    TextField,
    Value,
)
from django.db.models.fields.json import KT
from django.db.models.functions import Cast, Coalesce, Concat, NullIf
from django.utils import timezone
from django.utils.translation import gettext as _

from ruralwatch.accounts.access import jurisdiction, sees_everything
from ruralwatch.accounts.models import Profile
from ruralwatch.areas.models import Area
from ruralwatch.areas.selectors import subtree_q
from ruralwatch.assessments.models import Judgement
from ruralwatch.core import bulk
from ruralwatch.dispatch import notify, wording
from ruralwatch.dispatch.models import (
    OPEN_STATUSES,
    ROLE_FOR_LEVEL,
    ROLE_LEVEL,
    AutoReason,
    EventKind,
    Outcome,
    Source,
    Status,
    Task,
    TaskEvent,
    TaskKind,
)
from ruralwatch.keygroups.models import Referral, ReferralOutcome
from ruralwatch.reporting.models import ReportValue, Submission
from ruralwatch.reporting.services import deadline_hours
from ruralwatch.signals.models import Signal

SINGLE_CASE_METHOD = "cidars-single-case"
CHUNK = 900
_AREA_FIELDS = ("level", "path", "l1", "l2", "l3", "l4", "l5")


class IllegalTransition(ValueError):
    """An action that the task's status (or kind) does not allow; the message says why."""


# --- owners -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Owner:
    level: int
    code: str
    path: str
    role: str


def owner_for(kind: TaskKind, level: int, ancestors: Sequence[str], path: str) -> Owner:
    """The unit that owns a cause found in an area of ``level`` with ancestor codes
    ``ancestors`` (l1…l5) and materialized ``path``: the ancestor at the kind's owner level,
    or the area itself when it lies above that level (with that level's default role)."""
    target = min(int(kind.owner_level), int(level))
    k = target
    while k > 1 and not ancestors[k - 1]:
        k -= 1
    code = ancestors[k - 1] or ancestors[int(level) - 1]
    role = kind.owner_role if k == kind.owner_level else ROLE_FOR_LEVEL[k]
    i = path.find(f"/{code}/")
    owner_path = path[: i + len(code) + 2] if i >= 0 else path
    return Owner(k, code, owner_path, role)


# --- sync ---------------------------------------------------------------------------------------


class EncodedJson(str):
    """An evidence already encoded as JSON text (a signal's, see :func:`_signal_causes`):
    written as it is by ``COPY``, decoded for ``bulk_create``."""


@dataclass
class Cause:
    key: str
    area: str
    date: dt.date
    area_row: dict[str, Any]
    evidence: dict[str, Any] | EncodedJson
    source_id: int | None = None
    #: A cause that names its owner and deadlines itself (a support request goes to the key
    #: area's paired unit, by the request's deadline); otherwise the kind decides both.
    owner: Owner | None = None
    due: tuple[dt.datetime, dt.datetime] | None = None


@dataclass
class SyncSummary:
    cycle_date: str
    created: dict[str, int] = field(default_factory=dict)
    auto_closed: dict[str, int] = field(default_factory=dict)
    open: int = 0
    notified: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0


def _area_row(row: dict[str, Any], prefix: str) -> dict[str, Any]:
    return {f: row[f"{prefix}{f}"] for f in _AREA_FIELDS}


def _area_values(prefix: str) -> list[str]:
    return [f"{prefix}{f}" for f in _AREA_FIELDS]


def _open(kind: TaskKind, root_path: str) -> QuerySet[Task]:
    """Open tasks of ``kind`` under ``root_path`` that have no outcome yet: the ones a vanished
    cause may close (a recorded outcome is a human judgement and stays)."""
    return Task.objects.filter(
        kind=kind, status__in=OPEN_STATUSES, outcome="", area_path__startswith=root_path
    )


def _open_task_here(kind: TaskKind, area_ref: str) -> Exists:
    return Exists(
        Task.objects.filter(kind=kind, area_id=OuterRef(area_ref), status__in=OPEN_STATUSES)
    )


def _iso_date(field: str) -> Expression:
    """A date column as its ISO text, as ``date.isoformat()`` writes it in a cause's key."""
    if connection.vendor == "postgresql":  # whatever the session's DateStyle
        return Func(F(field), Value("YYYY-MM-DD"), function="to_char", output_field=TextField())
    return Cast(field, TextField())  # SQLite holds dates as ISO text


def _keyed(rows: QuerySet[Any], *key: Expression | F) -> QuerySet[Any]:
    """``rows`` with their cause's key, the parts ``key`` joined, as ``cause_key``: the key is
    made in the database only, read back with the rows and looked up by :func:`_not_tasked`."""
    keyed: QuerySet[Any] = rows.annotate(cause_key=Concat(*key, output_field=TextField()))
    return keyed


def _not_tasked(rows: QuerySet[Any]) -> QuerySet[Any]:
    """:func:`_keyed` ``rows`` but those whose key is a task's already.

    A kind reads its causes of the whole window every cycle, and most of them were made into
    tasks by an earlier cycle: the nation's signals of the eight days are about 160,000 a
    morning, of which 11,000 are new, and its rebounding townships 14,000, of which 1,100
    are; building a cause of each only for :func:`_known` to drop it was most of the tasks
    step's CPU in the cycle's process. The unique key's index answers the question for each
    row in the database. :func:`_create` still asks :func:`_known` for the few left (a
    concurrent sync may have made some meanwhile)."""
    return rows.exclude(Exists(Task.objects.filter(source_key=OuterRef("cause_key"))))


def _json_number(x: float | None) -> str:
    """A number as ``json.dumps`` writes it (``repr`` for finite ones)."""
    if x is None:
        return "null"
    return repr(x) if math.isfinite(x) else json.dumps(x)


def _signal_causes(
    kind: TaskKind, single: bool, start: dt.date, end: dt.date, root_path: str
) -> list[Cause]:
    """A cause per signal of the window under ``root_path``. The evidence is written as JSON
    text here, with the signal's parameters as the database holds them (jsonb's text on
    PostgreSQL, the stored text on SQLite): decoding 19,274 signals' parameters of four
    provinces only to encode them again in the evidence, and Django's dict per row, were
    0.4 s of the process's 1.8 s in the step (0.2 s now, the encoding in the COPY included);
    the text is the one ``json.dumps`` gives the same dict, key for key and number for
    number (``repr`` of a float, as json writes it: 12.0 stays a float)."""
    qs = Signal.objects.filter(subtree_q(root_path), date__range=(start, end))
    qs = qs.filter(method=SINGLE_CASE_METHOD) if single else qs.exclude(method=SINGLE_CASE_METHOD)
    qs = _keyed(
        qs,
        Value(f"{kind.source}:"),
        Cast("rule_id", TextField()),
        Value(":"),
        F("area_id"),
        Value(":"),
        _iso_date("date"),
    )
    rows = (
        _not_tasked(qs)
        .annotate(params_text=Cast("params", TextField()))
        .values_list(
            "rule_id",
            "area_id",
            "date",
            "method",
            "indicator_id",
            "observed",
            "expected",
            "threshold",
            "score",
            "params_text",
            "cause_key",
            *_area_values("area__"),
        )
    )
    texts: dict[str, str] = {}  # the few methods' and indicators' JSON strings

    def text(value: str) -> str:
        found = texts.get(value)
        if found is None:
            found = texts[value] = json.dumps(value)
        return found

    causes = []
    for rule, area, date, method, indicator, obs, exp, thr, score, params, key, *a in rows:
        day = date.isoformat()
        evidence = (
            f'{{"method": {text(method)}, "indicator": {text(indicator)}, "date": "{day}", '
            f'"observed": {_json_number(obs)}, "expected": {_json_number(exp)}, '
            f'"threshold": {_json_number(thr)}, "score": {_json_number(score)}, '
            f'"params": {"null" if params is None else params}, "rule": {rule:d}}}'
        )
        causes.append(
            Cause(
                key=key,
                area=area,
                date=date,
                area_row=dict(zip(_AREA_FIELDS, a, strict=True)),
                source_id=rule,
                evidence=EncodedJson(evidence),
            )
        )
    return causes


def _signal_gone(kind: TaskKind, start: dt.date, end: dt.date, root_path: str) -> QuerySet[Task]:
    here = Signal.objects.filter(
        rule_id=OuterRef("source_id"), area_id=OuterRef("area_id"), date=OuterRef("date")
    )
    return _open(kind, root_path).filter(date__range=(start, end)).exclude(Exists(here))


#: What a rebound task keeps of its judgement's evidence.
_REBOUND_EVIDENCE = ("rebound", "sum7", "prev7", "change", "per_100k")


def _rebound_causes(kind: TaskKind, cycle_date: dt.date, root_path: str) -> list[Cause]:
    levels = [int(x) for x in kind.params.get("levels", [4])]
    found = Judgement.objects.filter(
        date=cycle_date,
        indicator_id=kind.params.get("indicator", "new_cases"),
        rebound_detected=True,
        area__level__in=levels,
        area__path__startswith=root_path,
    )
    # The festival and the day it started (an absent or empty member: the next in line): the
    # same festival next year is a new cause.
    keyed = _keyed(
        found,
        Value("rebound:"),
        F("area_id"),
        Value(":"),
        Coalesce(
            NullIf(KT("evidence__rebound__event"), Value("")),
            Value("event"),
            output_field=TextField(),
        ),
        Value(":"),
        Coalesce(
            NullIf(KT("evidence__rebound__event_start"), Value("")),
            NullIf(KT("evidence__rebound__onset_date"), Value("")),
            _iso_date("date"),
            output_field=TextField(),
        ),
    )
    rows = _not_tasked(keyed).values(
        "area_id",
        "date",
        "level",
        "phase",
        "text_zh",
        "text_en",
        "cause_key",
        # only the unit's own members of the evidence: the whole of it splices in the shared
        # sections of each basis, one query per basis not yet read (14,258 queries, 12 s, for
        # the nation's rebounding townships)
        *(f"evidence__{k}" for k in _REBOUND_EVIDENCE),
        *_area_values("area__"),
    )
    causes = []
    for r in rows:
        ev = {k: r[f"evidence__{k}"] for k in _REBOUND_EVIDENCE}
        rebound = ev.get("rebound") or {}
        causes.append(
            Cause(
                key=r["cause_key"],
                area=r["area_id"],
                date=r["date"],
                area_row=_area_row(r, "area__"),
                evidence={
                    "judgement_date": r["date"].isoformat(),
                    "level": r["level"],
                    "phase": r["phase"],
                    "rebound": rebound,
                    **{k: ev.get(k) for k in ("sum7", "prev7", "change", "per_100k")},
                    "text_zh": r["text_zh"],
                    "text_en": r["text_en"],
                },
            )
        )
    return causes


def _rebound_gone(kind: TaskKind, cycle_date: dt.date, root_path: str) -> QuerySet[Task]:
    quiet = Judgement.objects.filter(
        area_id=OuterRef("area_id"),
        date=cycle_date,
        indicator_id=kind.params.get("indicator", "new_cases"),
        rebound_detected=False,
    )
    return _open(kind, root_path).filter(Exists(quiet))


def report_due_date(now: dt.datetime) -> dt.date:
    """The latest report date whose deadline (start of the date, local time, plus
    ``RURALWATCH_REPORT_DEADLINE_HOURS``) has passed at ``now``."""
    local = timezone.localtime(now) - dt.timedelta(hours=deadline_hours())
    return local.date()


def _missing_causes(
    kind: TaskKind, cycle_date: dt.date, start: dt.date, root_path: str, now: dt.datetime
) -> list[Cause]:
    due = min(report_due_date(now), cycle_date)
    if due < start:
        return []
    arrived = Submission.objects.filter(area_id=OuterRef("code"), date=due)
    last = Submission.objects.filter(area_id=OuterRef("code"), date__lt=due).order_by("-date")
    rows = (
        Area.objects.filter(level=5, path__startswith=root_path)
        .exclude(valid_from__gt=due)
        .exclude(valid_to__lt=due)
        .exclude(Exists(arrived))
        .exclude(_open_task_here(kind, "code"))
        .annotate(last_report=Subquery(last.values("date")[:1]))
        .values("code", "last_report", *_AREA_FIELDS)
    )
    hours = deadline_hours()
    return [
        Cause(
            key=f"missing_report:{r['code']}:{due.isoformat()}",
            area=r["code"],
            date=due,
            area_row=r,
            evidence={
                "report_date": due.isoformat(),
                "deadline_hours": hours,
                "last_report": r["last_report"].isoformat() if r["last_report"] else None,
            },
        )
        for r in rows
    ]


def _missing_gone(kind: TaskKind, root_path: str) -> QuerySet[Task]:
    arrived = Submission.objects.filter(area_id=OuterRef("area_id"), date=OuterRef("date"))
    return _open(kind, root_path).filter(Exists(arrived))


def _overdue_limits(kind: TaskKind) -> tuple[float, float]:
    """(count, share): a village needs more than ``count`` overdue persons and more than
    ``share`` of its registered persons overdue."""
    return float(kind.params.get("threshold", 2)), float(kind.params.get("share", 0.0))


def _with_registered(qs: QuerySet[ReportValue], on: dt.date) -> QuerySet[ReportValue]:
    registered = ReportValue.objects.filter(
        area_id=OuterRef("area_id"), date=on, indicator_id="kg_registered"
    )
    return qs.annotate(registered=Subquery(registered.values("value")[:1]))


def _overdue_causes(kind: TaskKind, cycle_date: dt.date, root_path: str) -> list[Cause]:
    count, share = _overdue_limits(kind)
    qs = ReportValue.objects.filter(
        indicator_id="kg_overdue",
        date=cycle_date,
        value__gt=count,
        area__path__startswith=root_path,
    ).exclude(_open_task_here(kind, "area_id"))
    rows = (
        _with_registered(qs, cycle_date)
        .filter(Q(registered__isnull=True) | Q(value__gt=F("registered") * share))
        .values("area_id", "value", "registered", *_area_values("area__"))
    )
    return [
        Cause(
            key=f"overdue_contacts:{r['area_id']}:{cycle_date.isoformat()}",
            area=r["area_id"],
            date=cycle_date,
            area_row=_area_row(r, "area__"),
            evidence={
                "date": cycle_date.isoformat(),
                "overdue": r["value"],
                "registered": r["registered"],
                "threshold": count,
                "share": share,
            },
        )
        for r in rows
    ]


def _overdue_gone(kind: TaskKind, cycle_date: dt.date, root_path: str) -> QuerySet[Task]:
    count, share = _overdue_limits(kind)
    values = ReportValue.objects.filter(
        area_id=OuterRef("area_id"), date=cycle_date, indicator_id="kg_overdue"
    )
    fine = _with_registered(values, cycle_date).filter(
        Q(value__lte=count) | Q(value__lte=F("registered") * share)
    )
    return _open(kind, root_path).filter(Exists(fine))


def _referral_causes(kind: TaskKind, cycle_date: dt.date, root_path: str) -> list[Cause]:
    days = int(kind.params.get("days", 3))
    rows = Referral.objects.filter(
        outcome=ReferralOutcome.PENDING,
        date__lte=cycle_date - dt.timedelta(days=days),
        person__village__path__startswith=root_path,
    ).values(
        "id",
        "date",
        "destination",
        "reason",
        "person__ref",
        "person__village_id",
        *_area_values("person__village__"),
    )
    return [
        Cause(
            key=f"open_referral:{r['id']}",
            area=r["person__village_id"],
            date=r["date"],
            area_row=_area_row(r, "person__village__"),
            source_id=r["id"],
            evidence={
                "referral": r["id"],
                "person": r["person__ref"],
                "referred_on": r["date"].isoformat(),
                "destination": r["destination"],
                "reason": r["reason"],
                "days_without_outcome": (cycle_date - r["date"]).days,
                "threshold_days": days,
            },
        )
        for r in rows
    ]


def _referral_gone(kind: TaskKind, root_path: str) -> QuerySet[Task]:
    pending = Referral.objects.filter(id=OuterRef("source_id"), outcome=ReferralOutcome.PENDING)
    return _open(kind, root_path).exclude(Exists(pending))


def _auto_close(qs: QuerySet[Task], reason: str, now: dt.datetime) -> int:
    ids = list(qs.values_list("id", flat=True))
    for i in range(0, len(ids), CHUNK):
        part = ids[i : i + CHUNK]
        Task.objects.filter(id__in=part).update(
            status=Status.CLOSED_AUTO,
            auto_reason=reason,
            closed_at=now,
            updated_at=now,
            next_escalation=None,
        )
    TaskEvent.objects.bulk_create(
        [TaskEvent(task_id=i, kind=EventKind.AUTO_CLOSED, at=now, reason=reason) for i in ids],
        batch_size=2000,
    )
    return len(ids)


def _task_columns() -> tuple[list[str], list[str], set[str], dict[str, Any]]:
    """The task table's columns (without the key), their attribute names, the JSON ones, and
    each attribute's default (a field without one defaults to None)."""
    fields = [f for f in Task._meta.concrete_fields if not f.primary_key]
    defaults = {
        str(f.attname): (f.get_default() if f.has_default() else None)
        for f in fields
        if not f.has_default() or not callable(f.default)
    }
    json = {str(f.attname) for f in fields if f.get_internal_type() == "JSONField"}
    return [str(f.column) for f in fields], [str(f.attname) for f in fields], json, defaults


def _text(value: Any) -> str | None:
    """A date or time as PostgreSQL reads it (ISO 8601 with its offset), or NULL."""
    if value is None:
        return None
    return value.isoformat(" ") if isinstance(value, dt.datetime) else str(value)


def _frame(names: Sequence[str], columns: Sequence[Sequence[Any]]) -> pl.DataFrame:
    """The rows' columns as a frame for ``bulk.append_text``: numbers as 64-bit integers,
    everything else as text, dates and times formatted by :func:`_text` once per distinct
    value (a sync's thousands of rows share a few deadlines)."""
    data: dict[str, pl.Series] = {}
    for name, values in zip(names, columns, strict=True):
        sample = next((v for v in values if v is not None), None)
        if isinstance(sample, int) and not isinstance(sample, bool):
            data[name] = pl.Series(name, values, dtype=pl.Int64)
        elif sample is None or isinstance(sample, str):
            data[name] = pl.Series(name, values, dtype=pl.String)
        else:
            text = {v: _text(v) for v in set(values)}
            data[name] = pl.Series(name, [text[v] for v in values], dtype=pl.String)
    return pl.DataFrame(data)


def _copy_tasks(rows: list[dict[str, Any]]) -> list[int]:
    """COPY the new tasks with keys taken from the table's sequence beforehand (one query),
    so their ids and owners are known without reading them back; returns the ids in the
    rows' order. The rows go in as text, written by polars (``bulk.append_text``): the
    driver's ``write_row`` with a ``Jsonb`` wrapper per evidence was 1.6 s of the process's
    CPU for the 24,276 tasks and their events of four provinces. An evidence given as a dict
    is encoded here once with the standard encoder (what ``Jsonb`` did) without the ASCII
    escapes, which the server would only decode again; one given as text (``EncodedJson``)
    goes in as it is."""
    columns, names, json_names, defaults = _task_columns()
    table = Task._meta.db_table
    ids = sorted(
        int(i)
        for (i,) in bulk.rows(
            "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)",
            [table, len(rows)],
        )
    )
    values: list[Sequence[Any]] = [ids]
    for n in names:
        if n in json_names:
            values.append(
                [
                    r[n] if isinstance(r[n], EncodedJson) else json.dumps(r[n], ensure_ascii=False)
                    for r in rows
                ]
            )
        else:
            # every row has the keys of the first (see _create)
            values.append([r[n] for r in rows] if n in rows[0] else [defaults[n]] * len(rows))
    bulk.append_text(table, _frame(["id", *columns], values))
    return ids


def _insert_tasks(rows: list[dict[str, Any]]) -> list[int] | None:
    """Insert new tasks (attribute → value; the fields not given take their defaults) and
    return their ids in the rows' order, or None when the ids must be read back:
    ``COPY`` on PostgreSQL (:func:`_copy_tasks`; several times faster than batches of
    ``INSERT`` for rows with JSON evidence), ``bulk_create`` on SQLite. A cause that a
    concurrent sync turned into a task in the meantime breaks the unique key: then the rows
    go in again skipping the conflicts, so the other sync's task stands and none is doubled
    (and the ids are read back). The rows are plain dicts, not model instances: building
    10,000 ``Task`` objects only to read their attributes back was a third of the step's
    Python time at province scale."""
    if not rows:
        return []
    if connection.vendor != "postgresql":
        _bulk_create(rows)
        return None
    import psycopg

    try:
        with transaction.atomic():  # a savepoint: a conflict undoes only this statement
            return _copy_tasks(rows)
    except (IntegrityError, psycopg.IntegrityError):  # COPY raises the driver's own
        _bulk_create(rows)
    return None


def _bulk_create(rows: list[dict[str, Any]]) -> None:
    """Insert the rows as ``Task`` instances, skipping the keys already taken (evidence
    given as JSON text decoded first)."""
    tasks = [
        Task(**(r | {"evidence": json.loads(r["evidence"])}))
        if isinstance(r["evidence"], EncodedJson)
        else Task(**r)
        for r in rows
    ]
    Task.objects.bulk_create(tasks, batch_size=2000, ignore_conflicts=True)


def _write_created_events(new: Sequence[tuple[int, str]], now: dt.datetime) -> None:
    """The "created" event of each new task ``(id, owner area)``, in the tasks' order:
    ``COPY`` in the text format on PostgreSQL (see :func:`_copy_tasks`)."""
    event = TaskEvent._meta.db_table
    if not bulk.is_postgres():
        at = connection.ops.adapt_datetimefield_value(now)
        rows = [(i, EventKind.CREATED, None, at, "", "", None, None, "", "") for i, _o in new]
        bulk.insert_rows(event, _EVENT_COLUMNS, rows)
        return
    n = len(new)
    at = now.isoformat(" ")
    columns: list[Sequence[Any]] = [
        [i for i, _owner in new],
        [str(EventKind.CREATED)] * n,
        [None] * n,
        [at] * n,
        [""] * n,
        [""] * n,
        [None] * n,
        [None] * n,
        [""] * n,
        [""] * n,
    ]
    frame = _frame(_EVENT_COLUMNS, columns).with_columns(
        pl.col("actor_id").cast(pl.Int64), pl.col("from_area_id", "to_area_id").cast(pl.String)
    )
    bulk.append_text(event, frame)


def _created_events(kind: TaskKind, now: dt.datetime) -> list[tuple[int, str]]:
    """Write the "created" event of every task of ``kind`` created at ``now`` that has none
    yet (the ones this sync inserted: one indexed query on ``created_at``) and return their
    ids with their owner areas, in the order of the ids. For tasks whose ids are not known
    (SQLite's ``bulk_create``, or the rows that went in again after a conflict)."""
    task = Task._meta.db_table
    event = TaskEvent._meta.db_table
    at = connection.ops.adapt_datetimefield_value(now)
    new = [
        (int(i), str(owner))
        for i, owner in bulk.rows(
            f"SELECT t.id, t.owner_area_id FROM {task} t "
            f"WHERE t.kind_id = %s AND t.created_at = %s AND NOT EXISTS "
            f"(SELECT 1 FROM {event} e WHERE e.task_id = t.id AND e.kind = %s) ORDER BY t.id",
            [kind.pk, at, EventKind.CREATED],
        )
    ]
    _write_created_events(new, now)
    bulk.analyze_if_grown(event, len(new))  # for the next kind's NOT EXISTS (see _create)
    return new


#: The columns of a "created" event row, in the order :func:`_created_events` builds them.
_EVENT_COLUMNS = (
    "task_id",
    "kind",
    "actor_id",
    "at",
    "comment",
    "reason",
    "from_area_id",
    "to_area_id",
    "from_role",
    "to_role",
)


def _known(kind: TaskKind, causes: list[Cause]) -> set[str]:
    """The causes' keys already made into tasks (a re-run, or a signal seen by yesterday's
    cycle), so that only the others are inserted. PostgreSQL: the keys themselves, looked up
    in the unique key's index (one query, the keys as one array); this also finds a rebound's
    key known from an earlier cycle date (the key outlives its date), which the read by dates
    missed, so that the whole kind's insert broke the unique key and went in again through
    ``bulk_create``. SQLite: the kind's tasks of the causes' dates (the unique key refuses a
    rebound's older one in :func:`_insert_tasks`)."""
    if bulk.is_postgres():
        keys = sorted({c.key for c in causes})
        sql = f"SELECT source_key FROM {Task._meta.db_table} WHERE source_key = ANY(%s)"
        return {str(k) for (k,) in bulk.rows(sql, [keys])}
    lo, hi = min(c.date for c in causes), max(c.date for c in causes)
    return set(
        Task.objects.filter(kind=kind, date__range=(lo, hi)).values_list("source_key", flat=True)
    )


def _create(kind: TaskKind, causes: list[Cause], now: dt.datetime) -> list[tuple[int, str]]:
    """Insert a task per cause not yet known (by its ``source_key``) and return the ids of the
    tasks this call created, each with its owner area (for the notices)."""
    if not causes:
        return []
    known = _known(kind, causes)
    fresh = list({c.key: c for c in causes if c.key not in known}.values())
    if not fresh:
        return []
    due_ack = now + dt.timedelta(hours=kind.ack_hours)
    due_done = now + dt.timedelta(hours=kind.done_hours)
    rows = []
    owners: dict[str, Owner] = {}  # by area: a week's signals fall on a quarter as many areas
    for c in fresh:
        owner = c.owner or owners.get(c.area)
        if owner is None:
            a = c.area_row
            ancestors = [a["l1"], a["l2"], a["l3"], a["l4"], a["l5"]]
            owner = owners[c.area] = owner_for(kind, a["level"], ancestors, a["path"])
        ack, done = c.due or (due_ack, due_done)
        rows.append(
            {
                "kind_id": kind.pk,
                "area_id": c.area,
                "area_path": c.area_row["path"],
                "date": c.date,
                "source_key": c.key,
                "source_id": c.source_id,
                "status": Status.NEW,
                "priority": kind.priority,
                "owner_role": owner.role,
                "owner_level": owner.level,
                "owner_area_id": owner.code,
                "owner_path": owner.path,
                "due_ack": ack,
                "due_done": done,
                "next_escalation": ack,
                "evidence": c.evidence,
                "created_at": now,
                "updated_at": now,
            }
        )
    ids = _insert_tasks(rows)
    if ids is not None:  # known: no read back, and no NOT EXISTS to plan
        new = [(i, r["owner_area_id"]) for i, r in zip(ids, rows, strict=True)]
        _write_created_events(new, now)
        return new
    # The first sync on a new database inserts into tables the planner believes empty: the
    # created events' NOT EXISTS then ran as a nested loop of sequential scans over the events
    # already written (河南: the 1,556 rebound tasks against the 320 single-case events, 0.2 s;
    # it grows as the product of the two on the nation).
    bulk.analyze_if_grown(Task._meta.db_table, len(rows))
    return _created_events(kind, now)


Plan = tuple[QuerySet[Task], str, Callable[[], list[Cause]]]


def _plan(
    kind: TaskKind, cycle_date: dt.date, start: dt.date, root_path: str, now: dt.datetime
) -> Plan | None:
    """For a kind: its open tasks whose cause has gone, the reason, and how to read its
    causes (read after the closing, so a lasting cause can open a new task)."""
    source = kind.source
    if source in (Source.SIGNAL, Source.SINGLE_CASE):
        single = source == Source.SINGLE_CASE
        return (
            _signal_gone(kind, start, cycle_date, root_path),
            AutoReason.SIGNAL_GONE,
            lambda: _signal_causes(kind, single, start, cycle_date, root_path),
        )
    if source == Source.REBOUND:
        return (
            _rebound_gone(kind, cycle_date, root_path),
            AutoReason.REBOUND_ENDED,
            lambda: _rebound_causes(kind, cycle_date, root_path),
        )
    if source == Source.MISSING_REPORT:
        return (
            _missing_gone(kind, root_path),
            AutoReason.REPORT_ARRIVED,
            lambda: _missing_causes(kind, cycle_date, start, root_path, now),
        )
    if source == Source.OVERDUE_CONTACTS:
        return (
            _overdue_gone(kind, cycle_date, root_path),
            AutoReason.CONTACTS_CAUGHT_UP,
            lambda: _overdue_causes(kind, cycle_date, root_path),
        )
    if source == Source.OPEN_REFERRAL:
        return (
            _referral_gone(kind, root_path),
            AutoReason.REFERRAL_DONE,
            lambda: _referral_causes(kind, cycle_date, root_path),
        )
    if source in (Source.SUPPORT_REQUEST, Source.KEY_AREA_RISE):
        from ruralwatch.dispatch import causes_keyareas

        return causes_keyareas.plan(kind, cycle_date, root_path)
    if source in (Source.STOCK_OUT, Source.CAPACITY_GAP):
        from ruralwatch.dispatch import causes_resources

        if source == Source.STOCK_OUT:
            return causes_resources.stock_plan(kind, cycle_date, root_path)
        return causes_resources.capacity_plan(kind, cycle_date, root_path)
    return None  # a source this version does not know yet


#: The sources whose causes the assessment writes (the rebound watch's judgements). The cycle
#: makes the tasks of the other sources while its workers still judge, and these after.
JUDGEMENT_SOURCES: frozenset[str] = frozenset({Source.REBOUND})


def sync_tasks(
    cycle_date: dt.date,
    root_path: str = "/",
    now: dt.datetime | None = None,
    *,
    days_back: int = 7,
    judgements: bool | None = None,
) -> SyncSummary:
    """Make a task for every cause found on ``cycle_date`` under ``root_path`` (signals of the
    ``days_back`` days before it as well, like the cycle's detection), and close the open
    tasks whose cause has gone. Idempotent; notifies the owners of new tasks. ``now`` is an
    aware datetime (default: the current time). ``judgements``: ``None`` every active kind;
    ``True`` only the kinds whose causes are judgements (:data:`JUDGEMENT_SOURCES`), ``False``
    only the others (each kind's tasks depend on its own causes alone, so the two halves make
    what one call makes)."""
    began = time.perf_counter()
    now = now or timezone.now()
    start = cycle_date - dt.timedelta(days=days_back)
    summary = SyncSummary(cycle_date.isoformat())
    new: list[tuple[int, str]] = []
    kinds = TaskKind.objects.filter(active=True)
    if judgements is not None:
        chosen = Q(source__in=JUDGEMENT_SOURCES)
        kinds = kinds.filter(chosen if judgements else ~chosen)
    with transaction.atomic():
        for kind in kinds:
            plan = _plan(kind, cycle_date, start, root_path, now)
            if plan is None:
                continue
            gone, reason, causes = plan
            closed = _auto_close(gone, reason, now) if kind.auto_close else 0
            created = _create(kind, causes(), now)
            summary.auto_closed[kind.code] = closed
            summary.created[kind.code] = len(created)
            new.extend(created)
    # After the commit: a failing mail server must not undo the tasks.
    summary.notified = _notify_owned(new, "created")
    summary.open = Task.objects.filter(
        status__in=OPEN_STATUSES, area_path__startswith=root_path
    ).count()
    summary.seconds = round(time.perf_counter() - began, 3)
    return summary


# --- notifications ------------------------------------------------------------------------------


def _notify_owned(owners: Sequence[tuple[int, str]], why: str) -> dict[str, int]:
    """One message per task to every active user bound to the task's owner area, for tasks
    ``(id, owner area)``. The wording's joins are read only for the tasks whose owner has
    someone to tell: at province scale a few dozen of 10,000 new tasks. A sentence is worded
    once for the tasks that share it (a village's signals of the week, same kind and
    deadline)."""
    if not owners:
        return {}
    recipients = notify.users_of_areas({area for _id, area in owners})
    told = [i for i, area in owners if recipients.get(area)]
    sentence = functools.cache(wording.notice)
    messages: list[notify.Message] = []
    for task, owner, area, kind_zh, kind_en, due_ack, due_done, status in _notice_rows(told):
        users = recipients.get(owner, [])
        if not users:
            continue
        code = wording.notice_why(why, status)
        text = sentence(code, kind_zh, kind_en, area, due_ack, due_done)
        messages.extend(notify.Message(u, task, text, code) for u in users)
    return notify.send(messages)


def _notice_rows(ids: Sequence[int]) -> list[tuple[Any, ...]]:
    """(id, owner area, area name, kind's names, deadlines, status) of the tasks ``ids``, in
    the order of the ids: on PostgreSQL one query with the ids as an array, elsewhere 900 ids
    at a time (the statements' placeholders, which psycopg parses one by one, were most of
    the read's time)."""
    if not ids:
        return []
    if bulk.is_postgres():
        return bulk.rows(
            f"SELECT t.id, t.owner_area_id, a.name, k.name_zh, k.name_en, t.due_ack, "
            f"t.due_done, t.status FROM {Task._meta.db_table} t "
            f"JOIN {Area._meta.db_table} a ON a.code = t.area_id "
            f"JOIN {TaskKind._meta.db_table} k ON k.code = t.kind_id "
            f"WHERE t.id = ANY(%s) ORDER BY t.id",
            [list(ids)],
        )
    rows: list[tuple[Any, ...]] = []
    for i in range(0, len(ids), CHUNK):
        rows.extend(
            Task.objects.filter(id__in=ids[i : i + CHUNK])
            .order_by("id")
            .values_list(
                "id",
                "owner_area_id",
                "area__name",
                "kind__name_zh",
                "kind__name_en",
                "due_ack",
                "due_done",
                "status",
            )
        )
    return sorted(rows)


# --- lifecycle ----------------------------------------------------------------------------------

#: action → (statuses it may start from, status it leads to, event written)
ACTIONS: dict[str, tuple[tuple[str, ...], str | None, str]] = {
    "acknowledge": ((Status.NEW,), Status.ACKNOWLEDGED, EventKind.ACKNOWLEDGED),
    "verify": ((Status.ACKNOWLEDGED,), Status.VERIFYING, EventKind.VERIFYING),
    "outcome": ((Status.VERIFYING,), Status.OUTCOME, EventKind.OUTCOME),
    "respond": ((Status.OUTCOME,), Status.RESPONDING, EventKind.RESPONDING),
    "close": ((Status.RESPONDING,), Status.CLOSED, EventKind.CLOSED),
    "comment": (tuple(Status.values), None, EventKind.COMMENT),
}


def _role(user: Any) -> str | None:
    if not hasattr(user, "_dispatch_role"):
        user._dispatch_role = (
            Profile.objects.filter(user_id=user.pk).values_list("role", flat=True).first()
        )
    role: str | None = user._dispatch_role
    return role


def can_act(user: Any, task: Task) -> bool:
    """Whether ``user`` may act on ``task``: the owner area lies in the user's jurisdiction
    and the user's role is the owner role or works at the owner's level or above."""
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return False
    if sees_everything(user):
        return True
    root = jurisdiction(user)
    if root is None or not task.owner_path.startswith(root.path):
        return False
    role = _role(user)
    if role is None:
        return False
    if role == task.owner_role:
        return True
    level = ROLE_LEVEL.get(role)
    return level is not None and level <= task.owner_level


def _allowed_from(task: Task, action: str) -> tuple[str, ...]:
    starts = ACTIONS[action][0]
    if not task.kind.outcome_required and action in ("respond", "close"):
        # Kinds without a verification outcome (a missing report, overdue contacts) may go
        # straight from acknowledged or verifying to the response and to closing.
        starts = (*starts, Status.ACKNOWLEDGED, Status.VERIFYING)
        if action == "close":
            starts = (*starts, Status.OUTCOME)
    if action == "close" and task.outcome == Outcome.EXCLUDED:
        starts = (*starts, Status.OUTCOME)  # an excluded signal needs no response
    return starts


def act(
    task: Task,
    user: Any,
    action: str,
    comment: str = "",
    outcome: str | None = None,
    now: dt.datetime | None = None,
) -> Task:
    """Apply ``action`` (acknowledge, verify, outcome, respond, close, comment) to ``task`` on
    behalf of ``user`` and record it in the trace. Raises :class:`IllegalTransition` for an
    action the status does not allow and ``PermissionDenied`` when the user may not act."""
    now = now or timezone.now()
    if action not in ACTIONS:
        raise IllegalTransition(
            _("Unknown action “%(action)s”; one of: %(actions)s.")
            % {"action": action, "actions": ", ".join(ACTIONS)}
        )
    with transaction.atomic():
        task = Task.objects.select_for_update(of=("self",)).select_related("kind").get(pk=task.pk)
        if not can_act(user, task):
            raise PermissionDenied(_("You may not act on this task."))
        starts = _allowed_from(task, action)
        if task.status not in starts:
            raise IllegalTransition(
                _("Cannot %(action)s a task that is %(status)s.")
                % {"action": action, "status": Status(task.status).label}
            )
        if action == "comment" and not comment.strip():
            raise IllegalTransition(_("A comment needs text."))
        if action == "outcome":
            if outcome not in Outcome.values:
                raise IllegalTransition(
                    _("An outcome must be one of: %(outcomes)s.")
                    % {"outcomes": ", ".join(Outcome.values)}
                )
            task.outcome = outcome
            task.outcome_at = now
            task.next_escalation = None  # done: the outcome is in
        if action == "respond" and task.outcome == Outcome.EXCLUDED:
            raise IllegalTransition(_("An excluded signal needs no response: close it."))
        if action == "close" and task.kind.outcome_required and not task.outcome:
            raise IllegalTransition(_("This task needs a verification outcome before closing."))
        if action == "acknowledge":
            task.acknowledged_at = now
            later = task.next_escalation or task.due_done
            task.next_escalation = max(task.due_done, later)
        if action == "close":
            task.closed_at = now
            task.next_escalation = None
        target = ACTIONS[action][1]
        if target is not None:
            task.status = target
        task.updated_at = now
        task.save()
        TaskEvent.objects.create(
            task=task, kind=ACTIONS[action][2], actor=user, at=now, comment=comment.strip()
        )
    return task


# --- escalation and reminders -------------------------------------------------------------------


def escalate_due(now: dt.datetime | None = None) -> dict[str, int]:
    """Move every open task past its next escalation time to the owner one level up (the
    parent of the owner area, with that level's default role), once per escalation interval
    that has passed, keeping each move in the trace. Tasks owned by a province stay."""
    now = now or timezone.now()
    with transaction.atomic():
        tasks = list(
            Task.objects.select_for_update(of=("self",))
            .filter(status__in=OPEN_STATUSES, next_escalation__lte=now, owner_level__gt=1)
            .select_related("kind")
        )
        if not tasks:
            return {"escalated": 0, "steps": 0}
        codes = {c for t in tasks for c in t.owner_path.strip("/").split("/")}
        levels = dict(Area.objects.filter(code__in=codes).values_list("code", "level"))
        events: list[TaskEvent] = []
        for t in tasks:
            chain = t.owner_path.strip("/").split("/")
            every = dt.timedelta(hours=max(t.kind.escalate_every_hours, 0.01))
            new = t.status == Status.NEW
            reason = wording.NOT_ACKNOWLEDGED if new else wording.NO_OUTCOME
            while t.next_escalation is not None and t.next_escalation <= now and len(chain) > 1:
                parent = chain[-2]
                level = int(levels.get(parent, t.owner_level - 1))
                role = ROLE_FOR_LEVEL.get(level, t.owner_role)
                events.append(
                    TaskEvent(
                        task_id=t.pk,
                        kind=EventKind.ESCALATED,
                        at=now,
                        reason=reason,
                        from_area_id=t.owner_area_id,
                        to_area_id=parent,
                        from_role=t.owner_role,
                        to_role=role,
                    )
                )
                chain = chain[:-1]
                t.owner_area_id, t.owner_level, t.owner_role = parent, level, role
                t.owner_path = "/" + "/".join(chain) + "/"
                t.escalations += 1
                t.next_escalation = t.next_escalation + every if level > 1 else None
            if len(chain) <= 1:
                t.next_escalation = None
            t.updated_at = now
        Task.objects.bulk_update(
            tasks,
            [
                "owner_area_id",
                "owner_level",
                "owner_role",
                "owner_path",
                "escalations",
                "next_escalation",
                "updated_at",
            ],
            batch_size=1000,
        )
        TaskEvent.objects.bulk_create(events, batch_size=2000)
    _notify_owned([(t.pk, t.owner_area_id) for t in tasks], "escalated")
    return {"escalated": len(tasks), "steps": len(events)}


def remind_due(now: dt.datetime | None = None) -> dict[str, int]:
    """Remind the owners of open tasks whose deadline is within the kind's reminder window:
    once before the acknowledgement deadline, once before the outcome deadline."""
    now = now or timezone.now()
    reminded: dict[str, int] = {}
    notices: list[tuple[int, str]] = []
    with transaction.atomic():
        for kind in TaskKind.objects.all():
            soon = now + dt.timedelta(hours=kind.remind_before_hours)
            ack = Task.objects.filter(
                kind=kind, status=Status.NEW, reminded="", due_ack__gt=now, due_ack__lte=soon
            )
            done = (
                Task.objects.filter(
                    kind=kind,
                    status__in=OPEN_STATUSES,
                    outcome="",
                    due_done__gt=now,
                    due_done__lte=soon,
                )
                .exclude(status=Status.NEW)
                .exclude(reminded="done")
            )
            for stage, qs in (("ack", ack), ("done", done)):
                owned = list(qs.values_list("id", "owner_area_id"))
                if not owned:
                    continue
                ids = [i for i, _owner in owned]
                for i in range(0, len(ids), CHUNK):
                    Task.objects.filter(id__in=ids[i : i + CHUNK]).update(reminded=stage)
                TaskEvent.objects.bulk_create(
                    [TaskEvent(task_id=i, kind=EventKind.REMINDED, at=now) for i in ids],
                    batch_size=2000,
                )
                notices.extend(owned)
                reminded[stage] = reminded.get(stage, 0) + len(ids)
    _notify_owned(notices, "reminded")
    return reminded


def mark_read(user: Any, ids: Iterable[int] | None = None) -> int:
    """Mark the user's in-app notifications (all, or ``ids``) as read."""
    from ruralwatch.dispatch.models import Notification

    qs = Notification.objects.filter(user_id=user.pk, read=False)
    if ids is not None:
        qs = qs.filter(id__in=list(ids))
    return qs.update(read=True)
