"""The daily cycle for a date: key-group indicators → roll up → detect → assess → tasks.

Each step replaces what it wrote for the dates it covers, so running a cycle twice leaves the
same state. Late reports are why a cycle reaches back ``days_back`` days. The last step turns
the causes found (signals, single cases, rebounds, missing reports, overdue contacts, open
referrals) into tasks and closes those whose cause has gone; escalation and reminders run in
real time between cycles, in the worker (:mod:`ruralwatch.cycle.worker`).
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db.models import Model
from django.utils import timezone

from ruralwatch.areas.models import Area
from ruralwatch.assessments.models import Judgement
from ruralwatch.assessments.services import assess, reads_reports_only
from ruralwatch.core import bulk
from ruralwatch.cycle import distributed, retention
from ruralwatch.dispatch.models import OPEN_STATUSES, Status, Task
from ruralwatch.dispatch.services import sync_tasks
from ruralwatch.intake.nightly import nightly as intake_nightly
from ruralwatch.intake.screen_days import (
    areas_read_once,
    arrival_days,
    report_values,
    village_values,
)
from ruralwatch.reporting import partitions
from ruralwatch.reporting.models import AggregateValue, Completeness, ReportValue, Submission
from ruralwatch.reporting.services import dates_to_roll_up, roll_up_dates
from ruralwatch.signals.models import Signal
from ruralwatch.signals.services import DetectionSummary, detect_signals

Progress = Callable[[str, int, int], None]
logger = logging.getLogger(__name__)


def _keygroups_indicators(cycle_date: dt.date, root_path: str) -> dict[str, Any]:
    """Re-tier key persons on the day's information and write the ``kg_*`` village indicators
    (before the roll-up carries them up), when the subtree has a key-group registry."""
    from ruralwatch.keygroups.models import Person
    from ruralwatch.keygroups.services import retier, write_indicators

    if not Person.objects.filter(village__path__startswith=root_path).exists():
        return {"persons": 0}
    retier(cycle_date, root_path=root_path)
    root = Area.objects.filter(path=root_path).first()
    return {"village_values": write_indicators(cycle_date, root)}


@dataclass
class CycleResult:
    """What a cycle did. ``did_not_run`` lists every step or detection rule that did not run,
    each as ``{"step": …, "rule": … (detection rules only), "error": …}``; the cycle goes on
    past them."""

    date: str
    start: str
    root: str | None
    steps: dict[str, Any] = field(default_factory=dict)
    did_not_run: list[dict[str, str]] = field(default_factory=list)
    #: the tasks under the root after the cycle, read back from the database (task_counts)
    tasks: dict[str, Any] = field(default_factory=dict)


def task_counts(root_path: str) -> dict[str, Any]:
    """The tasks whose cause lies under ``root_path``, read from the database: how many were
    created of each kind, how many are open, were escalated at least once, were closed by
    people, and closed themselves (by reason)."""
    from django.db.models import Count

    qs = Task.objects.filter(area_path__startswith=root_path)
    created = dict(
        qs.values_list("kind_id")
        .annotate(n=Count("id"))
        .order_by("kind_id")
        .values_list("kind_id", "n")
    )
    auto = dict(
        qs.filter(status=Status.CLOSED_AUTO)
        .values_list("auto_reason")
        .annotate(n=Count("id"))
        .order_by("auto_reason")
        .values_list("auto_reason", "n")
    )
    return {
        "created": created,
        "open": qs.filter(status__in=OPEN_STATUSES).count(),
        "escalated": qs.filter(escalations__gt=0).count(),
        "closed": qs.filter(status=Status.CLOSED).count(),
        "closed_auto": auto,
    }


def run_cycle(
    cycle_date: dt.date,
    *,
    root: str | None = None,
    days_back: int = 7,
    start: dt.date | None = None,
    progress: Progress | None = None,
    now: dt.datetime | None = None,
) -> CycleResult:
    """Run the cycle for ``cycle_date`` over the subtree of ``root`` (whole tree if None).

    ``start`` (default ``days_back`` days earlier) is where roll-up and detection begin; tasks
    are made for the signals of the last ``days_back`` days only (a signal of two months ago
    needs no verifying today). ``now`` (aware; default the current time) starts the tasks'
    deadlines and decides which report date is overdue."""
    first = start or cycle_date - dt.timedelta(days=days_back)
    root_path = "/"
    if root is not None:
        area = Area.objects.filter(code=root).first()
        if area is None:
            raise ValueError(f"unknown area {root}")
        root_path = area.path
    result = CycleResult(cycle_date.isoformat(), first.isoformat(), root)
    began_cycle = time.perf_counter()

    def record(name: str, began: float, out: dict[str, Any], ended: float | None = None) -> None:
        ended = time.perf_counter() if ended is None else ended
        result.steps[name] = out | {
            "seconds": round(ended - began, 3),
            "began_s": round(began - began_cycle, 3),
        }

    def failed(name: str, exc: Exception) -> dict[str, Any]:
        logger.exception("cycle step %s failed", name)
        error = f"{type(exc).__name__}: {exc}"
        result.did_not_run.append({"step": name, "error": error})
        return {"error": error}

    def timed(name: str, step: Callable[[], dict[str, Any]]) -> None:
        """Run one step; a step that fails is recorded with its error and the cycle goes on
        (each step writes in its own transactions, so a failed one leaves its old rows)."""
        began = time.perf_counter()
        try:
            out = step()
        except Exception as exc:
            out = failed(name, exc)
        record(name, began, out)

    # With a Dask scheduler, or a pool of local worker processes (PostgreSQL), validation,
    # detection and assessment run per partition on its workers (cycle/distributed.py); a
    # partition that fails is recorded as a rule would be. The pool starts at its first task
    # and serves every one of these steps.
    spread: distributed.Partitioned | None = None
    try:
        spread = distributed.connect(root_path=root_path)
    except Exception as exc:
        logger.exception("the cycle's workers are out of reach; it runs in-process")
        error = f"{type(exc).__name__}: {exc}"
        result.did_not_run.append({"step": "distributed", "error": error})

    def validated() -> dict[str, Any]:
        # Validation rules and outlier screening of the last days (docs/intake.md): flags
        # and violations are replaced for those days, values are never changed.
        totals = intake_nightly(cycle_date, days=days_back, path=root_path, now=now)
        return totals | {"runner": "in-process"}

    submissions: dict[str, float] = {}

    def analyse_submissions() -> None:
        """:func:`submission_statistics`, once, before the first step that reads them (the
        roll-up's completeness, or the assessment's nowcast when it starts first)."""
        if not submissions:
            began = time.perf_counter()
            submission_statistics()
            submissions["seconds"] = round(time.perf_counter() - began, 3)

    def rolled() -> dict[str, Any]:
        # Only the dates that need it: values changed after their roll-up (an import, an API
        # upload, a form correction, or an import killed before its roll-up ran), or never
        # rolled up. Unchanged dates keep their roll-ups (issue 15: incremental roll-ups).
        analyse_submissions()
        dates = dates_to_roll_up(first, cycle_date)
        r = roll_up_dates(dates)
        if dates:  # detection, the tasks and the pages read the new roll-ups by date
            refresh_statistics(ROLLED_UP_TABLES)
        return {
            "dates": [d.isoformat() for d in dates],
            "aggregates": r.aggregates if r else 0,
            "completeness": r.completeness_rows if r else 0,
            "submissions_analysed_s": submissions["seconds"],
        }

    def detected(d: DetectionSummary, parts: dict[str, Any]) -> dict[str, Any]:
        for rule, error in d.did_not_run.items():
            result.did_not_run.append({"step": "detect", "rule": rule, "error": error})
        return {
            "rules": d.rules_run,
            "signals_by_method": d.signals_by_method,
            "skipped": d.skipped,
            "failed": d.failed,
            "not_judged": d.not_judged,
            "invalid_areas": d.invalid_areas,
        } | parts

    def judged() -> dict[str, Any]:
        with areas_read_once():
            j = assess(
                cycle_date, root_path=root_path, report_values=report_values, arrivals=arrival_days
            )
        return {
            "runner": "in-process",
            "areas": j.areas,
            "by_phase": j.by_phase,
            "rebounds": j.rebounds,
            "parts_seconds": j.seconds,
        }

    def dispatched(judgements: bool | None = None) -> dict[str, Any]:
        window = min(days_back, (cycle_date - first).days)
        s = sync_tasks(cycle_date, root_path, now, days_back=max(window, 0), judgements=judgements)
        return {
            "created": s.created,
            "auto_closed": s.auto_closed,
            "open": s.open,
            "notified": s.notified,
        }

    # Tables analysed before the end of the cycle (the step that reads them comes before the
    # end), with their seconds: part of the "statistics" step's record.
    analysed: dict[str, Any] = {"tables": [], "seconds": 0.0}

    def analyse_now(models: tuple[type[Model], ...]) -> None:
        """ANALYZE ``models`` now, for a step that reads them next (a failure is recorded
        under "statistics" and the cycle goes on; the end of the cycle analyses them again)."""
        began = time.perf_counter()
        try:
            analysed["tables"] += refresh_statistics(models)["tables"]
        except Exception as exc:
            failed("statistics", exc)
        analysed["seconds"] += time.perf_counter() - began

    def analyse_rest() -> dict[str, Any]:
        done = set(analysed["tables"])
        rest = tuple(m for m in CYCLE_TABLES if m._meta.db_table not in done)
        out = refresh_statistics(rest)
        return out | {
            "tables": [*analysed["tables"], *out["tables"]],
            "analysed_before_s": round(analysed["seconds"], 3),
        }

    if spread is not None:  # the workers start while this process readies the values
        spread.start_workers()
    # The planner's statistics of the values first: every step after reads the new day.
    timed("report_statistics", lambda: report_statistics(first, cycle_date))
    timed("keygroups", lambda: _keygroups_indicators(cycle_date, root_path))
    if spread is None:
        timed("validate", validated)
        timed("roll_up", rolled)
        timed(
            "detect",
            lambda: detected(
                detect_signals(
                    first,
                    cycle_date,
                    root_path=root_path,
                    progress=progress,
                    village_values=village_values,
                ),
                {"runner": "in-process"},
            ),
        )
        timed("assess", judged)
        timed("tasks", dispatched)
    else:
        # Validation reads the village values and writes flags and violations, which no later
        # step reads: its partitions run on the workers while this process rolls up. The
        # assessment follows it on the workers (before the roll-up ends when it reads none),
        # and detection (which reads the roll-ups) overtakes what is still queued, so that
        # the tasks step, which waits for those two, overlaps the rest.
        runner = spread
        found = now or timezone.now()  # one time for every partition's flags
        started: dict[str, tuple[float, distributed.Pending[Any] | None]] = {}

        def launch(name: str, begin: Callable[[], distributed.Pending[Any]]) -> None:
            began = time.perf_counter()
            try:
                started[name] = (began, begin())
            except Exception as exc:
                record(name, began, failed(name, exc))
                started[name] = (began, None)

        def collect(name: str, out: Callable[[Any, distributed.StepRun], dict[str, Any]]) -> None:
            began, pending = started[name]
            if pending is None:  # recorded as it failed to start
                return
            try:
                value, run = pending.result()
                result.did_not_run.extend(run.failed)
                got = out(value, run)
            except Exception as exc:
                got = failed(name, exc)
            record(name, began, got, pending.ended)

        pool = runner.pool
        serial = pool is not None and not pool.parallel_query  # as the pool's workers
        try:  # the pool's workers end with the last of its steps, also on error
            with distributed.serial_queries(serial):
                launch(
                    "validate",
                    lambda: runner.start_validate(
                        cycle_date, days_back, root_path, found, progress
                    ),
                )
                # An assessment that sums the reports itself (the usual morning) reads no
                # roll-up: queued now behind validation (each province validated, and its
                # days' copies kept, before it is judged), it keeps the workers busy while
                # this process rolls up, where they waited for detection (3 s nationally).
                early = reads_reports_only(cycle_date)
                if early:
                    analyse_submissions()  # the nowcast reads them
                    launch(
                        "assess", lambda: runner.start_assess(cycle_date, root_path, progress, -1)
                    )
                timed("roll_up", rolled)
                launch(
                    "detect",
                    lambda: runner.start_detect(first, cycle_date, root_path, progress, priority=2),
                )
                if not early:
                    launch(
                        "assess", lambda: runner.start_assess(cycle_date, root_path, progress, 1)
                    )
                collect("detect", lambda d, run: detected(d, run.record(runner.level)))
                # Detection goes first on the workers: the tasks of every kind but those whose
                # causes are judgements are then made here while the workers judge (this process
                # would otherwise wait), and the judgements' kinds once the assessment is in.
                # Each part reads what the step before it wrote, of a date the planner has not
                # seen: analysed first (the rebound tasks' read of the day's judgements took 1.5 s
                # instead of 0.13 on the nation's morning, estimated at one row a date).
                tasks = _TwoPartStep(began_cycle, lambda exc: failed("tasks", exc))
                analyse_now((Signal,))
                tasks.run("beside_assessment", lambda: dispatched(judgements=False))
                collect("assess", lambda merged, run: merged | run.record("province"))
                collect("validate", lambda totals, run: totals | run.record("province"))
                # Nothing is left for the workers: they end while the rebound watch's tasks
                # are made (the pool's exit was 0.6 s of the national cycle's serial tail).
                runner.release()
                analyse_now((Judgement,))
                tasks.run("after_assessment", lambda: dispatched(judgements=True))
                record("tasks", tasks.began, tasks.merged())
        finally:
            runner.close()
    timed("statistics", analyse_rest)
    keep_days = settings.RURALWATCH_KEEP_VILLAGE_DAYS
    if keep_days and root is None:  # an archive is of every village's days
        timed(
            "retention",
            lambda: retention.keep(cycle_date, keep_days, settings.RURALWATCH_ARCHIVE_DIR),
        )
    # in the steps' order, also where they overlapped
    result.steps = dict(sorted(result.steps.items(), key=lambda kv: STEP_ORDER.index(kv[0])))
    result.did_not_run.sort(key=lambda d: STEP_ORDER.index(d["step"]))
    result.tasks = task_counts(root_path)
    return result


class _TwoPartStep:
    """The tasks step made in two parts with the assessment's end between them: each part's
    time and what both made, as the one step's record."""

    def __init__(self, began_cycle: float, failed: Callable[[Exception], dict[str, Any]]) -> None:
        self.began_cycle = began_cycle
        self.failed = failed
        self.began = time.perf_counter()
        self.parts: dict[str, dict[str, Any]] = {}

    def run(self, name: str, part: Callable[[], dict[str, Any]]) -> None:
        began = time.perf_counter()
        try:
            out = part()
        except Exception as exc:  # recorded; the other part and the cycle go on
            out = self.failed(exc)
        self.parts[name] = out | {
            "seconds": round(time.perf_counter() - began, 3),
            "began_s": round(began - self.began_cycle, 3),
        }

    def merged(self) -> dict[str, Any]:
        """Both parts' counts (their kinds differ); the open tasks as the last part counted
        them; ``parts``: each part's record."""
        out: dict[str, Any] = {"created": {}, "auto_closed": {}, "open": 0, "notified": {}}
        for part in self.parts.values():
            if "error" in part:
                out["error"] = part["error"]
                continue
            out["created"] |= part["created"]
            out["auto_closed"] |= part["auto_closed"]
            out["open"] = part["open"]
            for channel, n in part["notified"].items():
                out["notified"][channel] = out["notified"].get(channel, 0) + n
        return out | {"parts": self.parts}


#: The cycle's steps in their order ("distributed": its workers, out of reach).
STEP_ORDER = (
    "distributed",
    "report_statistics",
    "keygroups",
    "validate",
    "roll_up",
    "detect",
    "assess",
    "tasks",
    "statistics",
    "retention",
)

#: The dated tables, each analysed when the cycle has given it a new date: the reports at the
#: start (an import adds the day before the cycle), the roll-ups after the roll-up, what
#: detection, assessment and the tasks step wrote at the end (for the pages). The tasks too:
#: a national first run fills an empty task table, and the task lists, planned on its empty
#: statistics, looked up each task's area one by one (6,763 lookups for a province's list)
#: until autovacuum came round.
ROLLED_UP_TABLES = (AggregateValue, Completeness)
CYCLE_TABLES = (Judgement, Signal, Task)


def report_statistics(first: dt.date, last: dt.date) -> dict[str, Any]:
    """The village values' statistics at the cycle's start (:func:`refresh_statistics` with
    ``vacuum``). Where the values are partitioned by date (PostgreSQL) only the partitions of
    the cycle's window are vacuumed, after the window's dates still in the default partition
    got partitions of their own (``reporting.partitions.adopt``): the other days' pages do
    not change, and a year of partitions would be read again every morning. Of those, only
    the ones written to since their last ANALYZE are analysed
    (:func:`ruralwatch.core.bulk.stale_statistics`): the import analyses the day it adds, and
    analysing the week's unchanged days again took 0.5 s each nationally, the whole of this
    step's 7.5 s on a morning when nothing else could run. The submissions are left to
    :func:`submission_statistics`, at the start of the roll-up, their first reader: the
    validation, which runs meanwhile on the workers, does not read them."""
    if not partitions.partitioned():
        return refresh_statistics((ReportValue,), vacuum=True)
    made = partitions.adopt(first, last)
    window = partitions.holding(first, last)
    stale = bulk.stale_statistics(*window)
    bulk.vacuum(*(t for t in window if t not in stale))
    bulk.vacuum(*stale, with_analyze=True)
    return {"tables": window, "analysed": stale, "partitions_made": made}


def submission_statistics() -> dict[str, Any]:
    """The submissions vacuumed and analysed (one table of every date: a day is never the
    tenth that would make :func:`ruralwatch.core.bulk.stale_statistics` call it stale, and
    the planner must know the new day's), before the roll-up's completeness, the nowcast's
    delay triangle and the pages read them. Nationally 1.4 s of the database's CPU, which
    the cycle spends while the workers validate instead of before (session 27)."""
    return refresh_statistics((Submission,), vacuum=True)


def refresh_statistics(models: tuple[type[Model], ...], *, vacuum: bool = False) -> dict[str, Any]:
    """ANALYZE these dated tables (PostgreSQL). A date the planner has not seen is estimated
    at one row when the few dates it knows fill its most-common-value list, and a table of
    many days never grows by the tenth that makes autovacuum analyse it again: the county
    page then joined the day's 50,000 province submissions to the county's villages in a
    nested loop (5 s instead of 0.1 s), the roll-up of the nation's new day read its 5.2
    million values through the index in indicator order and hashed them instead of the
    areas (EXPLAIN ANALYZE at load 5: 19 s instead of 9 s). Sampling keeps it a second or
    two even on the national tables (the values: 30,000 of their 1.6 million pages).

    With ``vacuum`` (the reports, at the cycle's start) they are vacuumed too
    (:func:`ruralwatch.core.bulk.vacuum`: the new day's pages marked all-visible), so
    that the cycle's reads of village values are index-only scans of the values' key."""
    tables = [m._meta.db_table for m in models]
    if vacuum:
        bulk.vacuum(*tables, with_analyze=True)
    else:
        bulk.analyze(*tables)
    return {"tables": tables if bulk.is_postgres() else []}
