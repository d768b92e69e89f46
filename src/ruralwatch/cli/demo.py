"""``ruralwatch demo``: the main job on a synthetic county, then the dashboard."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import typer

from ruralwatch.cli._runtime import console, django_setup, fail, out, progress_bar

DEMO_USER = "demo"


def _ruralwatch(*args: str) -> list[str]:
    """A ``ruralwatch`` command line run with this interpreter."""
    return [sys.executable, "-m", "ruralwatch", *args]


def _run_until_stopped(commands: list[list[str]]) -> int:
    """Start every command; when one stops, or on Ctrl+C, stop the others. Returns the exit code
    of the child that stopped first (0 after Ctrl+C).

    The demo runs the production server and the scheduling worker side by side."""
    procs = [subprocess.Popen(command) for command in commands]
    code = 0
    try:
        while True:
            stopped = [p for p in procs if p.poll() is not None]
            if stopped:
                code = abs(int(stopped[0].returncode or 0))
                break
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        for p in procs:
            if p.poll() is None:
                p.terminate()
        for p in procs:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
    return code


def demo(
    seed: int = typer.Option(
        20230122, "--seed", help="Seed of the synthetic county (same seed, same county)."
    ),
    scenario: str = typer.Option(
        "baseline",
        "--scenario",
        help="baseline, or rebound (a renewed rise after the Spring Festival).",
    ),
    out_dir: Path = typer.Option(
        Path("var/demo"), "--out", help="Where to write inputs, summary.json and truth.json."
    ),
    serve: bool = typer.Option(True, "--serve/--no-serve", help="Serve the dashboard afterwards."),
    port: int = typer.Option(8000, "--port", help="Port for the dashboard on 127.0.0.1."),
    workers: int = typer.Option(2, "--workers", min=1, help="Server worker processes."),
    keygroups: bool = typer.Option(
        True, "--keygroups/--no-keygroups", help="Also build the key-group registry and contacts."
    ),
    days: int = typer.Option(
        67,
        "--days",
        min=7,
        max=67,
        help="Replay only the last N days up to 2023-02-05 (67: the whole winter).",
    ),
) -> None:
    """Build a synthetic county, load 2022-12-01 … 2023-02-05 reports, roll up, summarise, serve."""
    if scenario not in ("baseline", "rebound"):
        raise fail(f"--scenario must be baseline or rebound, not {scenario!r}", 2)
    # The demo is a development run: keys are generated once into var/secrets.env.
    os.environ.setdefault("RURALWATCH_ENV", "development")
    django_setup()
    import datetime as dt

    from ruralwatch.cycle.demo import DEMO_END, run_demo

    start = DEMO_END - dt.timedelta(days=days - 1)
    with progress_bar() as update:
        result = run_demo(
            out_dir,
            seed=seed,
            scenario=scenario,
            keygroups=keygroups,
            progress=update,
            start=start,
        )
    s = result.summary
    from rich.table import Table

    table = Table(title=f"RuralWatch demo — {s['region']['name']} ({s['region']['code']})")
    table.add_column("level")
    table.add_column("areas", justify="right")
    table.add_column("completeness", justify="right")
    table.add_column("on time", justify="right")
    names = {
        "1": "province 省",
        "2": "prefecture 市",
        "3": "county 县",
        "4": "township 乡镇",
        "5": "village 村",
    }
    for level, n in s["areas_by_level"].items():
        c = s["completeness_by_level"].get(level, {})
        table.add_row(
            names.get(level, level),
            str(n),
            f"{c['completeness']:.1%}" if c.get("completeness") is not None else "",
            f"{c['timeliness']:.1%}" if c.get("timeliness") is not None else "",
        )
    out.print(table)
    peak = max(
        (p for p in s["county_series"] if p["new_cases"] is not None), key=lambda p: p["new_cases"]
    )
    out.print(
        f"{s['days']} days, {s['values_loaded']:,} values loaded; county new cases peaked at "
        f"{peak['new_cases']} on {peak['date']}.\nWrote {result.out / 'summary.json'} and "
        f"{result.out / 'truth.json'}",
        highlight=False,
    )
    if s.get("briefing"):
        b = s["briefing"]
        out.print(
            f"Scheduling-meeting briefing (调度简报) for {DEMO_END}: {b['path']} "
            f"({b['pages']} pages, issue {b['issue']})",
            highlight=False,
        )
    from ruralwatch.accounts.services import demo_users
    from ruralwatch.areas.models import Area
    from ruralwatch.cycle.demo import busiest_village

    logins = demo_users(
        result.county_code, busiest_village(Area.objects.get(code=result.county_code))
    )
    accounts = Table(title="Demo users: one per role and level (new passwords on every run)")
    for col in ("role", "user", "password", "area"):
        accounts.add_column(col)
    for u in logins:
        accounts.add_row(u.role_label, u.username, u.password, f"{u.area_name} {u.area_code}")
    out.print(accounts)
    if not serve:
        return
    password = next(u.password for u in logins if u.username == DEMO_USER)
    console.print(
        f"\n[bold]Dashboard:[/] http://127.0.0.1:{port}/   login [bold]{DEMO_USER}[/] / "
        f"password [bold]{password}[/]   (Ctrl+C to stop)",
        highlight=False,
    )
    serve_cmd = _ruralwatch(
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--no-migrate",
    )
    # The worker escalates and reminds in real time from now on: the demo's tasks were made with
    # deadlines starting at this run. Its daily cycle stays off, because the demo replays the
    # winter of 2022-23: a cycle for today would only find every village silent.
    worker_cmd = _ruralwatch("worker", "--no-cycle", "--no-migrate")
    code = _run_until_stopped([serve_cmd, worker_cmd])
    if code not in (0, 2, 15):  # 2/15: stopped by Ctrl+C or TERM
        raise typer.Exit(code)


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)
