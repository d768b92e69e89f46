"""``ruralwatch worker``: escalation and reminders between cycles, the daily cycle claimed once
across workers, failures that do not stop the loop, and a clean stop on SIGTERM. Time is passed
in, so a day of deadlines runs in a few ticks."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
import zoneinfo
from pathlib import Path
from typing import Any

import pytest

from ruralwatch.cycle.models import JobRun
from ruralwatch.cycle.worker import CYCLE_JOB, LEASE, RETRY, Worker, claim, cycle_slot
from ruralwatch.dispatch.models import EventKind, Status, Task, TaskEvent, TaskKind
from ruralwatch.dispatch.selectors import inbox, unread_count
from ruralwatch.dispatch.services import sync_tasks
from tests.commands import cli_runner
from tests.dashboard import data
from tests.dispatch.conftest import T0, VILLAGE2, add_signal, hours

SHANGHAI = zoneinfo.ZoneInfo("Asia/Shanghai")


def local(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=SHANGHAI)


def test_cycle_slot_follows_the_local_cycle_hour() -> None:
    assert cycle_slot(local(2023, 1, 8, 5, 59), (6, 0)) is None
    assert cycle_slot(local(2023, 1, 8, 6, 0), (6, 0)) == dt.date(2023, 1, 8)
    # 23:00 UTC on the 7th is 07:00 on the 8th in Shanghai
    assert cycle_slot(dt.datetime(2023, 1, 7, 23, 0, tzinfo=dt.UTC), (6, 0)) == dt.date(2023, 1, 8)
    assert cycle_slot(local(2023, 1, 8, 6, 29), (6, 30)) is None


def test_a_task_left_alone_climbs_to_the_county(users: dict[str, Any]) -> None:
    """The issue's demonstration: a township's signal task nobody acknowledges is reminded
    before its 24 h deadline and, at the deadline, escalated to the county by the worker; the
    county's inbox has it and its badge counts it."""
    add_signal(data.TOWN_A, data.DAY7)
    TaskKind.objects.filter(code="missing_report").update(active=False)  # only the signal
    sync_tasks(data.DAY7, now=T0)
    task = Task.objects.get()
    assert (task.kind_id, task.owner_area_id, task.status) == ("signal", data.TOWN_A, Status.NEW)
    w = Worker(cycle=False)
    assert w.tick(hours(1)) == {
        "escalate": {"escalated": 0, "steps": 0},
        "remind": {},
        "support": {"created": 0, "auto_closed": 0},
    }
    reminded = w.tick(hours(22.5))
    assert reminded["remind"]["ack"] >= 1 and reminded["escalate"]["steps"] == 0
    assert TaskEvent.objects.filter(task=task, kind=EventKind.REMINDED).count() == 1
    assert task.pk not in [t.pk for t in inbox(users["county"], hours(23))["mine"]]
    county_badge = unread_count(users["county"])
    done = w.tick(hours(24))
    assert done["escalate"]["escalated"] >= 1
    task.refresh_from_db()
    assert (task.owner_area_id, task.owner_level, task.owner_role) == (data.COUNTY, 3, "county")
    event = TaskEvent.objects.get(task=task, kind=EventKind.ESCALATED)
    assert (event.from_area_id, event.to_area_id) == (data.TOWN_A, data.COUNTY)
    assert task.pk in [t.pk for t in inbox(users["county"], hours(24.5))["mine"]]
    assert unread_count(users["county"]) > county_badge
    # Left alone still, it climbs on, one level per interval, never twice for one interval.
    assert w.tick(hours(30))["escalate"]["steps"] == 0
    w.tick(hours(48))
    task.refresh_from_db()
    assert task.owner_area_id == data.PREFECTURE and task.escalations == 2


def test_the_daily_cycle_runs_once_a_day_across_workers(users: dict[str, Any]) -> None:
    first, second = Worker(name="w1"), Worker(name="w2")
    assert "cycle" not in first.tick(local(2023, 1, 8, 5, 59))
    ran = first.tick(local(2023, 1, 8, 6, 30))
    assert ran["cycle"]["date"] == "2023-01-07" and ran["cycle"]["did_not_run"] == []
    assert "cycle" not in second.tick(local(2023, 1, 8, 6, 31))
    assert "cycle" not in first.tick(local(2023, 1, 8, 12, 0))
    run = JobRun.objects.get(job=CYCLE_JOB)
    assert (run.slot, run.worker, run.ok) == ("2023-01-08", "w1", True)
    assert run.result["date"] == "2023-01-07" and run.finished_at is not None
    # The cycle made the tree's tasks: at 06:30 on 8 Jan the reports of 6 Jan are overdue, and
    # the second county's village never reported.
    missing = Task.objects.get(kind_id="missing_report", area_id=VILLAGE2)
    assert missing.date == dt.date(2023, 1, 6) and missing.created_at == local(2023, 1, 8, 6, 30)
    tasks = Task.objects.count()
    assert second.tick(local(2023, 1, 9, 6, 0))["cycle"]["date"] == "2023-01-08"
    assert JobRun.objects.filter(job=CYCLE_JOB).count() == 2
    assert Task.objects.count() >= tasks


def test_a_dead_claim_is_taken_over_and_a_failed_cycle_retried(db: None) -> None:
    now = local(2023, 1, 8, 12, 0)
    JobRun.objects.create(job=CYCLE_JOB, slot="dead", worker="gone", started_at=now - LEASE)
    JobRun.objects.create(job=CYCLE_JOB, slot="busy", worker="alive", started_at=now - LEASE / 2)
    assert claim(CYCLE_JOB, "busy", "w2", now) is None
    taken = claim(CYCLE_JOB, "dead", "w2", now + dt.timedelta(seconds=1))
    assert taken is not None and taken.worker == "w2" and taken.finished_at is None
    assert claim(CYCLE_JOB, "dead", "w3", now + dt.timedelta(seconds=2)) is None
    JobRun.objects.create(
        job=CYCLE_JOB, slot="failed", worker="w1", started_at=now, finished_at=now, ok=False
    )
    assert claim(CYCLE_JOB, "failed", "w2", now + RETRY / 2) is None
    again = claim(CYCLE_JOB, "failed", "w2", now + RETRY + dt.timedelta(seconds=1))
    assert again is not None and again.ok is None


def test_a_failing_job_is_logged_and_the_loop_goes_on(
    db: None, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # (the loop drops stale connections between ticks; inside the test's transaction it must
    # not, or the test database connection would go)
    monkeypatch.setattr("ruralwatch.cycle.worker.close_old_connections", lambda: None)
    w = Worker(interval=0.01, cycle=False)
    reminded: list[dt.datetime] = []

    def broken(now: dt.datetime) -> dict[str, Any]:
        raise RuntimeError("database went away")

    def remind(now: dt.datetime) -> dict[str, Any]:
        reminded.append(now)
        if len(reminded) == 3:
            w.stop()
        return {}

    monkeypatch.setattr(w, "_escalate", broken)
    monkeypatch.setattr(w, "_remind", remind)
    with caplog.at_level("ERROR", logger="ruralwatch.cycle.worker"):
        assert w.run() == 3
    assert w.failures == 3 and len(reminded) == 3
    assert caplog.text.count("worker job escalate failed") == 3
    assert "database went away" in caplog.text
    # a tick reports the failure instead of raising
    assert w.tick(T0)["escalate"] == {"error": "RuntimeError: database went away"}


def test_cli_once_acts_at_the_given_time(users: dict[str, Any], monkeypatch) -> None:  # type: ignore[no-untyped-def]

    add_signal(data.TOWN_A, data.DAY7)
    sync_tasks(data.DAY7, now=T0)
    invoke = cli_runner(monkeypatch)
    at = hours(24).isoformat()
    result = invoke(["worker", "--once", "--no-cycle", "--now", at])
    assert result.exit_code == 0, result.output
    # What ran is printed on stdout; the log goes to stderr (in a shared test process a
    # handler left by another test's CLI run may complain there).
    assert json.loads(result.stdout)["escalate"]["escalated"] >= 1
    assert Task.objects.get(kind_id="signal").owner_area_id == data.COUNTY
    bad = invoke(["worker", "--once", "--now", "2023-01-09T06:00"])
    assert bad.exit_code == 2 and "time zone" in bad.output
    loop = invoke(["worker", "--now", at])
    assert loop.exit_code == 2 and "--once" in loop.output


def test_sigterm_stops_a_running_worker_cleanly(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env |= {"RURALWATCH_VAR": str(tmp_path / "var"), "RURALWATCH_ENV": "development"}
    exe = Path(sys.executable).parent / "ruralwatch"
    log = tmp_path / "worker.log"
    with log.open("w") as fh:
        proc = subprocess.Popen(
            [str(exe), "worker", "--interval", "0.2", "--no-cycle"],
            env=env,
            stdout=fh,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + 120
            while "every 0.2 s" not in log.read_text() and time.monotonic() < deadline:
                assert proc.poll() is None, log.read_text()
                time.sleep(0.2)
            time.sleep(1.0)
            proc.send_signal(signal.SIGTERM)
            code = proc.wait(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
    text = log.read_text()
    assert code == 0, text
    assert "daily cycle off" in text and "stopped after" in text
    assert int(text.split("stopped after ")[1].split()[0]) >= 1


def test_the_cycle_hour_setting_fails_safe() -> None:
    from django.core.exceptions import ImproperlyConfigured

    from ruralwatch.config.env import env_clock

    assert env_clock("RURALWATCH_CYCLE_HOUR", "06:00", {}) == (6, 0)
    assert env_clock("RURALWATCH_CYCLE_HOUR", "06:00", {"RURALWATCH_CYCLE_HOUR": "23:59"}) == (
        23,
        59,
    )
    for bad in ("6", "24:00", "06:60", "6:5", "noon", "-1:00"):
        with pytest.raises(ImproperlyConfigured, match="RURALWATCH_CYCLE_HOUR"):
            env_clock("RURALWATCH_CYCLE_HOUR", "06:00", {"RURALWATCH_CYCLE_HOUR": bad})
