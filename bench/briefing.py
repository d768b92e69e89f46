"""The scheduling-meeting briefing (issue 11, "Benchmarks"): time to compose, render and archive
the PDF of a county and of a province, on SQLite and PostgreSQL (each freshly migrated in its
own process).

County: the demo county (``ruralwatch demo``: 289 villages, 67 days, key groups, the daily
cycle with its tasks) and its briefing for 5 Feb 2023. Province: the synthetic province
(about 20,900 villages) with ``DAYS`` days of village reports loaded through the importer,
rolled up and assessed (the same steps as ``bench/load.py``, fewer days), then its briefing
(the map draws its counties). Timed through :func:`ruralwatch.briefings.services.issue_briefing`
as the CLI, the pages and the API call it: the first briefing in a fresh process (``cold``:
imports of WeasyPrint and Altair, vl-convert's first start) and then ``REPEAT`` more
(``warm``, median and max), which is what a running server or worker sees. Then the whole
``ruralwatch brief`` command ``REPEAT`` times (a new process each), which is what the targets
are held to.

    python -m bench --only briefing            county and province
    python -m bench --only briefing --quick    the county only
"""

from __future__ import annotations

import datetime as dt
import statistics
from pathlib import Path
from typing import Any

import polars as pl

from bench._util import (
    PG_ADMIN_URL,
    django_setup_migrate,
    log,
    run_child,
    sqlite_env,
    timed,
)

SEED = 20230122
END = dt.date(2023, 2, 5)
DAYS = 35
REPEAT = 3
TARGETS = {"county_s": 5.0, "province_s": 15.0}
STEP_TIMEOUT_S = 2400.0
AREA_COLUMNS = [
    "code", "name", "level", "parent_code", "urban_rural", "population",
    "population_65plus", "key_areas", "lon", "lat",
]  # fmt: skip


#: Its own PostgreSQL database, so that it never drops another benchmark's while it runs.
PG_DB = "ruralwatch_bench_briefing"


def _fresh_postgres() -> dict[str, str]:
    import os
    import subprocess

    base = ["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", "postgres", "-v", "ON_ERROR_STOP=1"]
    for sql in (f"DROP DATABASE IF EXISTS {PG_DB} WITH (FORCE)", f"CREATE DATABASE {PG_DB}"):
        subprocess.run([*base, "-qc", sql], check=True, capture_output=True)
    env = dict(os.environ)
    env["DATABASE_URL"] = f"{PG_ADMIN_URL}/{PG_DB}"
    env["DJANGO_SETTINGS_MODULE"] = "ruralwatch.config.settings"
    return env


def _time_briefings(code: str) -> dict[str, Any]:
    """The first briefing of the process, then ``REPEAT`` more: wall and CPU seconds (the
    process's CPU time, vl-convert's threads included, is what the load of a shared machine
    does not inflate)."""
    import time

    from ruralwatch.briefings.services import issue_briefing

    def one() -> tuple[Any, float, float]:
        cpu = time.process_time()
        made, wall = timed(lambda: issue_briefing(code, END))
        return made, wall, time.process_time() - cpu

    first, cold, cold_cpu = one()
    runs = [one() for _ in range(REPEAT)]
    wall = [r[1] for r in runs]
    cpu = [r[2] for r in runs]
    return {
        "area": code,
        "pages": first.pages,
        "bytes": first.size,
        "cold_s": cold,
        "cold_cpu_s": cold_cpu,
        "warm_median_s": statistics.median(wall),
        "warm_max_s": max(wall),
        "warm_cpu_median_s": statistics.median(cpu),
        "runs": REPEAT,
    }


def _time_command(code: str) -> dict[str, Any]:
    """The whole ``ruralwatch brief`` command, as a user runs it: a new interpreter each time
    (start-up, Django set-up, imports, the briefing, the PDF written), ``REPEAT`` times against
    the database this process has just filled; the median and max wall time."""
    import os
    import subprocess
    import sys
    import tempfile
    import time

    walls = []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(REPEAT):
            cmd = [sys.executable, "-m", "ruralwatch", "brief", "--area", code]
            cmd += ["--date", END.isoformat(), "--out", str(Path(tmp) / f"{i}.pdf")]
            t0 = time.perf_counter()
            subprocess.run(cmd, check=True, capture_output=True, env=dict(os.environ))
            walls.append(time.perf_counter() - t0)
    return {"command_median_s": statistics.median(walls), "command_max_s": max(walls)}


def county_child(payload: dict[str, Any]) -> dict[str, Any]:
    """In a fresh process: the demo county, then its briefing."""

    migrate_s = django_setup_migrate()
    from ruralwatch.cycle.demo import run_demo

    demo, demo_s = timed(lambda: run_demo(Path(payload["out"]), seed=SEED))
    log(f"county: demo built in {demo_s:.0f} s")
    code = demo.county_code
    return {
        "migrate_s": migrate_s,
        "setup_s": demo_s,
        **_time_briefings(code),
        **_time_command(code),
    }


def province_child(payload: dict[str, Any]) -> dict[str, Any]:
    """In a fresh process: import the province's reports, roll up, assess, then its briefing."""
    migrate_s = django_setup_migrate()
    from ruralwatch.areas.services import import_areas
    from ruralwatch.assessments.services import assess
    from ruralwatch.reporting.services import import_reports, roll_up

    now = dt.datetime.fromisoformat(payload["now"])
    start = dt.date.fromisoformat(payload["start"])

    def load() -> None:
        import_areas(Path(payload["areas"]))
        for path in payload["reports"]:
            import_reports(Path(path), now=now)
        roll_up(start, END)
        assess(END, root_path=f"/{payload['province']}/")

    _, setup_s = timed(load)
    log(f"province: loaded, rolled up and assessed in {setup_s:.0f} s")
    code = payload["province"]
    return {
        "migrate_s": migrate_s,
        "setup_s": setup_s,
        **_time_briefings(code),
        **_time_command(code),
    }


def _province_inputs(workdir: Path) -> dict[str, Any]:
    from ruralwatch.synth import build_region, build_reports, simulate_region
    from ruralwatch.synth.geo import place_areas

    start = END - dt.timedelta(days=DAYS - 1)
    region = build_region(SEED, scale="province")
    epidemic = simulate_region(region, seed=SEED, start=start, end=END)
    reports = build_reports(region, epidemic, start=start, end=END, seed=SEED)
    areas = place_areas(region.areas, SEED)
    areas_path = workdir / "areas.csv"
    areas.select(AREA_COLUMNS).write_csv(areas_path)
    values = reports.values
    wide = values.with_columns(pl.col("submitted_at").dt.strftime("%Y-%m-%d %H:%M:%S")).pivot(
        on="indicator", index=["area_code", "date", "reporter", "submitted_at"], values="value"
    )
    paths = []
    reports_dir = workdir / "reports"
    reports_dir.mkdir(exist_ok=True)
    for (day,), part in wide.sort("date", "area_code").group_by("date", maintain_order=True):
        path = reports_dir / f"{day}.csv"
        part.write_csv(path)
        paths.append(str(path))
    province = str(region.areas.filter(pl.col("level") == 1)["code"][0])
    return {
        "areas": str(areas_path),
        "reports": paths,
        "now": (values["submitted_at"].max() + dt.timedelta(minutes=1)).isoformat(),
        "start": start.isoformat(),
        "province": province,
        "villages": int(region.areas.filter(pl.col("level") == 5).height),
        "area_count": region.areas.height,
    }


def run(
    *,
    quick: bool,
    workdir: Path,
    databases: tuple[str, ...] = ("SQLite", "PostgreSQL"),
    scales: tuple[str, ...] = ("county", "province"),
) -> dict[str, Any]:
    scales = ("county",) if quick else scales
    province = _province_inputs(workdir) if "province" in scales else None
    rows = []
    for database in databases:
        for scale in scales:
            sub = workdir / f"{database}-{scale}"
            sub.mkdir()
            env = sqlite_env(sub / "var") if database == "SQLite" else _fresh_postgres()
            env["RURALWATCH_BRIEFINGS_DIR"] = str(sub / "briefings")
            if scale == "county":
                out = run_child(
                    "bench.briefing:county_child",
                    {"out": str(sub / "demo")},
                    env=env,
                    workdir=workdir,
                    timeout=STEP_TIMEOUT_S,
                )
            else:
                assert province is not None
                out = run_child(
                    "bench.briefing:province_child",
                    province,
                    env=env,
                    workdir=workdir,
                    timeout=STEP_TIMEOUT_S,
                )
            log(f"briefing {scale} on {database}: {out}")
            rows.append({"database": database, "scale": scale, **out})
    return {
        "end": END.isoformat(),
        "province_days": DAYS,
        "province_villages": None if province is None else province["villages"],
        "targets": TARGETS,
        "rows": rows,
    }
