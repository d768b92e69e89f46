"""``ruralwatch worker``: the periodic jobs that run between cycles, in one simple loop.

Every tick (``RURALWATCH_WORKER_INTERVAL`` seconds) runs, each on its own:

- ``escalate``: :func:`ruralwatch.dispatch.services.escalate_due` — a task left alone past its
  deadline moves one level up;
- ``remind``: :func:`ruralwatch.dispatch.services.remind_due` — owners are reminded before a
  deadline;
- ``support``: :func:`ruralwatch.dispatch.causes_keyareas.sync_support_requests` — a key area's
  support request becomes a task for its paired unit within a tick, not at the next cycle;
- ``cycle``: once a day, from ``RURALWATCH_CYCLE_HOUR`` (local time), the daily cycle for the
  day before (:func:`ruralwatch.cycle.services.run_cycle` over the whole tree).

A job that raises is logged and counted; the loop goes on to the next job and the next tick.
The daily cycle is claimed in the database (:class:`ruralwatch.cycle.models.JobRun`, unique per
job and day), so two workers never both run it; a claim left by a worker that died is taken
over after ``LEASE``, and a cycle that raised is tried again after ``RETRY``. Escalation and
reminders are safe to run from two workers: escalation locks the rows it moves (PostgreSQL) and
both only act on what is due at ``now``.

Time is passed in (``now``), so tests and ``--once --now`` replays control the clock; no broker
is needed (the database is the only shared state).
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import signal
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import IntegrityError, close_old_connections, transaction
from django.db.models import Q
from django.utils import timezone

from ruralwatch.cycle.models import JobRun

logger = logging.getLogger(__name__)

#: A claimed cycle not finished after this long is taken to be dead and is taken over.
LEASE = dt.timedelta(hours=6)
#: A daily cycle that raised is tried again after this long.
RETRY = dt.timedelta(minutes=30)
CYCLE_JOB = "daily_cycle"

Clock = Callable[[], dt.datetime]


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def cycle_slot(now: dt.datetime, at: tuple[int, int]) -> dt.date | None:
    """The local day whose cycle is due at ``now`` (``None`` before the cycle hour)."""
    local = timezone.localtime(now)
    if (local.hour, local.minute) < at:
        return None
    return local.date()


def claim(job: str, slot: str, worker: str, now: dt.datetime) -> JobRun | None:
    """Claim ``(job, slot)`` for ``worker``: the claimed row, or ``None`` when another worker
    has it (running, finished, or failed less than ``RETRY`` ago)."""
    try:
        with transaction.atomic():
            return JobRun.objects.create(job=job, slot=slot, worker=worker, started_at=now)
    except IntegrityError:
        pass
    # Take over a claim whose worker died (no end after LEASE) or whose run raised (after
    # RETRY): one conditional UPDATE, so only one of several workers wins it.
    stale = Q(finished_at__isnull=True, started_at__lt=now - LEASE) | Q(
        ok=False, finished_at__lt=now - RETRY
    )
    won = JobRun.objects.filter(stale, job=job, slot=slot).update(
        worker=worker, started_at=now, finished_at=None, ok=None, result={}
    )
    return JobRun.objects.get(job=job, slot=slot) if won else None


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


@dataclass
class Worker:
    """The loop. ``cycle`` False leaves the daily cycle out (the demo replays a past winter,
    so a cycle for today would only find every village silent)."""

    interval: float = 60.0
    cycle_at: tuple[int, int] = (6, 0)
    cycle: bool = True
    cycle_root: str | None = None
    name: str = field(default_factory=worker_name)
    clock: Clock = timezone.now
    stop_event: threading.Event = field(default_factory=threading.Event)
    ticks: int = 0
    failures: int = 0

    @classmethod
    def from_settings(cls, **kwargs: Any) -> Worker:
        return cls(
            interval=float(settings.RURALWATCH_WORKER_INTERVAL),
            cycle_at=tuple(settings.RURALWATCH_CYCLE_HOUR),  # type: ignore[arg-type]
            **kwargs,
        )

    # --- jobs -----------------------------------------------------------------------------

    def _escalate(self, now: dt.datetime) -> dict[str, Any]:
        from ruralwatch.dispatch.services import escalate_due

        return escalate_due(now)

    def _remind(self, now: dt.datetime) -> dict[str, Any]:
        from ruralwatch.dispatch.services import remind_due

        return remind_due(now)

    def _support(self, now: dt.datetime) -> dict[str, Any]:
        from ruralwatch.dispatch.causes_keyareas import sync_support_requests

        return sync_support_requests("/", now)

    def _daily_cycle(self, now: dt.datetime) -> dict[str, Any] | None:
        """Run the day's cycle if it is due and this worker wins the claim; ``None`` if not."""
        day = cycle_slot(now, self.cycle_at)
        if day is None:
            return None
        run = claim(CYCLE_JOB, day.isoformat(), self.name, now)
        if run is None:
            return None
        from ruralwatch.cycle.services import run_cycle

        cycle_date = day - dt.timedelta(days=1)
        began = time.perf_counter()
        try:
            result = run_cycle(cycle_date, root=self.cycle_root, now=now)
        except Exception as exc:
            run.finished_at = self.clock()
            run.ok = False
            run.result = {"error": f"{type(exc).__name__}: {exc}"}
            run.save(update_fields=["finished_at", "ok", "result"])
            raise
        out = {
            "date": cycle_date.isoformat(),
            "did_not_run": result.did_not_run,
            "tasks": result.steps.get("tasks", {}),
            "seconds": round(time.perf_counter() - began, 3),
        }
        run.finished_at = self.clock()
        run.ok = True
        run.result = _jsonable(out)
        run.save(update_fields=["finished_at", "ok", "result"])
        return out

    def jobs(self) -> list[tuple[str, Callable[[dt.datetime], dict[str, Any] | None]]]:
        jobs: list[tuple[str, Callable[[dt.datetime], dict[str, Any] | None]]] = [
            ("escalate", self._escalate),
            ("remind", self._remind),
            ("support", self._support),
        ]
        if self.cycle:
            jobs.append(("cycle", self._daily_cycle))
        return jobs

    # --- the loop -------------------------------------------------------------------------

    def tick(self, now: dt.datetime | None = None) -> dict[str, Any]:
        """Run every due job once at ``now`` (default: the clock). Returns what each job did;
        a job that raised gives ``{"error": …}`` and the others still run."""
        now = now or self.clock()
        done: dict[str, Any] = {}
        for name, job in self.jobs():
            began = time.perf_counter()
            try:
                out = job(now)
            except Exception as exc:
                self.failures += 1
                logger.exception("worker job %s failed", name)
                done[name] = {"error": f"{type(exc).__name__}: {exc}"}
                continue
            if out is None:
                continue
            done[name] = out
            # a job that did something is logged; an idle tick only at DEBUG
            level = logging.INFO if any(out.values()) else logging.DEBUG
            logger.log(
                level,
                "%s at %s (%.2f s): %s",
                name,
                now.isoformat(),
                time.perf_counter() - began,
                out,
            )
        self.ticks += 1
        return done

    def stop(self, *_args: Any) -> None:
        """Ask the loop to stop after the job it is running (signal handler)."""
        self.stop_event.set()

    def run(self, *, once: bool = False) -> int:
        """Tick every ``interval`` seconds until stopped (SIGTERM, SIGINT or :meth:`stop`);
        ``once`` runs one tick and returns. Returns the number of ticks run."""
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, self.stop)
            signal.signal(signal.SIGINT, self.stop)
        logger.info(
            "worker %s: every %s s; daily cycle %s",
            self.name,
            self.interval,
            f"at {self.cycle_at[0]:02d}:{self.cycle_at[1]:02d}" if self.cycle else "off",
        )
        while not self.stop_event.is_set():
            started = time.monotonic()
            # A connection broken by a database restart (or past CONN_MAX_AGE) is dropped
            # before the tick, so the next query reconnects instead of failing every tick.
            close_old_connections()
            self.tick()
            if once:
                break
            # Sleep the rest of the interval, waking at once on a stop.
            self.stop_event.wait(max(0.0, self.interval - (time.monotonic() - started)))
        logger.info("worker %s stopped after %d ticks", self.name, self.ticks)
        return self.ticks
