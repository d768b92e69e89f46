"""``ruralwatch worker``: escalation, reminders and the daily cycle, between cycles."""

from __future__ import annotations

import datetime as dt
import json
import logging

import typer

from ruralwatch.cli._runtime import django_setup, fail, out


def worker(
    once: bool = typer.Option(
        False, "--once", help="Run the jobs that are due once, print what they did and exit."
    ),
    cycle: bool = typer.Option(
        True, "--cycle/--no-cycle", help="Run the daily cycle at RURALWATCH_CYCLE_HOUR."
    ),
    root: str | None = typer.Option(None, "--root", help="Daily cycle for this subtree only."),
    interval: float | None = typer.Option(
        None, "--interval", min=0.1, help="Seconds between ticks (RURALWATCH_WORKER_INTERVAL)."
    ),
    now: str | None = typer.Option(
        None,
        "--now",
        help="With --once: act as if it were this time (ISO 8601, e.g. 2023-02-06T09:00+08:00).",
    ),
    migrate: bool = typer.Option(
        True, "--migrate/--no-migrate", help="Bring the schema up to date first."
    ),
) -> None:
    """Run the periodic jobs until stopped (SIGTERM or Ctrl+C): escalate tasks past their
    deadline, remind owners, and run the daily cycle once a day."""
    at: dt.datetime | None = None
    if now is not None:
        if not once:
            raise fail("--now needs --once (a running worker follows the clock)", 2)
        try:
            at = dt.datetime.fromisoformat(now)
        except ValueError as exc:
            raise fail(f"--now must be an ISO 8601 time: {exc}", 2) from exc
        if at.tzinfo is None:
            raise fail("--now needs a time zone offset, e.g. +08:00", 2)
    django_setup(migrate=migrate)
    from ruralwatch.cycle.worker import Worker, logger

    # What ran is the worker's log: INFO lines through the console handler to stderr (systemd's
    # journal), whatever LOG_LEVEL says for the rest.
    logger.setLevel(logging.INFO)
    options: dict[str, object] = {"cycle": cycle, "cycle_root": root}
    if at is not None:
        options["clock"] = lambda: at
    w = Worker.from_settings(**options)
    if interval is not None:
        w.interval = interval
    if once:
        done = w.tick()
        out.print_json(json.dumps(done, ensure_ascii=False, default=str))
        if w.failures:
            raise typer.Exit(1)
        return
    w.run()


def register(app: typer.Typer) -> None:
    app.command("worker")(worker)
