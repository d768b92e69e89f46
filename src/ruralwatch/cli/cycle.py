"""``ruralwatch cycle``: run the daily cycle for a date."""

from __future__ import annotations

import datetime as dt
import json

import typer

from ruralwatch.cli._runtime import django_setup, fail, out, progress_bar


def cycle(
    date: str = typer.Option(..., "--date", help="Cycle date (YYYY-MM-DD)."),
    root: str | None = typer.Option(None, "--root", help="Only this area's subtree."),
    days_back: int = typer.Option(
        7, "--days-back", help="Also redo this many earlier days (late reports)."
    ),
) -> None:
    """Roll up, detect and assess for a date; safe to run again."""
    try:
        day = dt.date.fromisoformat(date)
    except ValueError as exc:
        raise fail(f"--date must be YYYY-MM-DD: {exc}", 2) from exc
    django_setup()
    from ruralwatch.cycle.services import run_cycle

    try:
        with progress_bar() as update:
            result = run_cycle(day, root=root, days_back=days_back, progress=update)
    except ValueError as exc:
        raise fail(str(exc), 2) from exc
    out.print_json(json.dumps(result.__dict__, ensure_ascii=False))


def register(app: typer.Typer) -> None:
    app.command("cycle")(cycle)
