"""Province-scale synthetic load: build a synthetic province (about 20,900 villages), simulate 60
days of village reports, write one CSV per day (as a province receives them) and load them
through the real importer into a fresh database (SQLite and PostgreSQL, one process each); then
roll the whole period up and run the daily cycle (roll-up, detection, assessment) for the last
day."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

import polars as pl

from bench._util import (
    django_setup_migrate,
    fresh_postgres_db,
    log,
    postgres_env,
    run_child,
    sqlite_env,
    timed,
)

SEED = 20230122
STEP_TIMEOUT_S = 1500.0  # per database: keeps `make bench` bounded if an import is very slow
DAYS = 60
END = dt.date(2023, 2, 5)
START = END - dt.timedelta(days=DAYS - 1)
AREA_COLUMNS = [
    "code", "name", "level", "parent_code", "urban_rural", "population",
    "population_65plus", "key_areas",
]  # fmt: skip


def load_child(payload: dict[str, Any]) -> dict[str, Any]:
    """Import areas and reports, roll up; each step's figure is also written to
    ``payload["progress"]`` as soon as it is known, so that a stopped run keeps what it did."""
    progress = Path(payload["progress"])
    out: dict[str, Any] = {}

    def step(**values: Any) -> None:
        out.update(values)
        progress.write_text(json.dumps(out), encoding="utf-8")

    step(migrate_s=django_setup_migrate())
    from ruralwatch.areas.services import import_areas
    from ruralwatch.cycle.services import run_cycle
    from ruralwatch.reporting.models import AggregateValue, ReportValue
    from ruralwatch.reporting.services import import_reports, roll_up

    step(areas_import_s=timed(lambda: import_areas(payload["areas"]))[1])
    now = dt.datetime.fromisoformat(payload["now"])
    per_day: list[float] = []
    values = 0
    for path in payload["reports"]:
        summary, seconds = timed(lambda p=path: import_reports(p, now=now))
        per_day.append(seconds)
        values += summary.values
        step(
            reports_import_s=sum(per_day),
            days_imported=len(per_day),
            values=values,
            day_import_mean_s=sum(per_day) / len(per_day),
            day_import_max_s=max(per_day),
        )
    step(stored_values=ReportValue.objects.count())
    start, end = dt.date.fromisoformat(payload["start"]), dt.date.fromisoformat(payload["end"])
    rollup, rollup_s = timed(lambda: roll_up(start, end))
    step(rollup_s=rollup_s, aggregates=AggregateValue.objects.count(), rollup=asdict(rollup))
    cycle, cycle_s = timed(lambda: run_cycle(end, days_back=7))
    step(cycle_s=cycle_s, cycle_steps=cycle.steps)
    again, reimport_s = timed(lambda: import_reports(payload["reports"][-1], now=now))
    step(reimport_day_s=reimport_s, reimport_changed=again.imported + again.updated)
    return out


def _synth(workdir: Path, quick: bool) -> tuple[dict[str, Any], dict[str, Any]]:
    from ruralwatch.synth import build_region, build_reports, simulate_region

    scale = "county" if quick else "province"  # a quick run loads one county
    region, region_s = timed(lambda: build_region(SEED, scale=scale))
    epidemic, epidemic_s = timed(lambda: simulate_region(region, seed=SEED, start=START, end=END))
    reports, reports_s = timed(
        lambda: build_reports(region, epidemic, start=START, end=END, seed=SEED)
    )
    log(f"synth: region {region_s:.1f} s, epidemic {epidemic_s:.1f} s, reports {reports_s:.1f} s")
    areas_path = workdir / "areas.csv"
    region.areas.select(AREA_COLUMNS).write_csv(areas_path)
    values = reports.values
    reports_dir = workdir / "reports"
    reports_dir.mkdir(exist_ok=True)
    report_paths: list[str] = []

    def write() -> None:
        # Wide, as villages send them: one row per village and day, one column per indicator;
        # one file per day.
        wide = values.with_columns(pl.col("submitted_at").dt.strftime("%Y-%m-%d %H:%M:%S")).pivot(
            on="indicator", index=["area_code", "date", "reporter", "submitted_at"], values="value"
        )
        for (day,), part in wide.sort("date", "area_code").group_by("date", maintain_order=True):
            path = reports_dir / f"{day}.csv"
            part.write_csv(path)
            report_paths.append(str(path))

    _, csv_s = timed(write)
    now = values["submitted_at"].max() + dt.timedelta(minutes=1)  # every late report arrived
    n_villages_built = int(region.areas.filter(pl.col("level") == 5).height)
    synth = {
        "villages": n_villages_built,
        "areas": region.areas.height,
        "days": DAYS,
        "start": START.isoformat(),
        "end": END.isoformat(),
        "values": values.height,
        "rows": int(values.select(pl.struct("area_code", "date").n_unique()).item()),
        "format": "wide (one column per indicator), one file per day",
        "region_s": region_s,
        "epidemic_s": epidemic_s,
        "reports_s": reports_s,
        "csv_s": csv_s,
        "csv_mib": sum(Path(p).stat().st_size for p in report_paths) / 2**20,
    }
    payload = {
        "areas": str(areas_path),
        "reports": report_paths,
        "now": now.isoformat(),
        "start": START.isoformat(),
        "end": END.isoformat(),
    }
    return synth, payload


def run(*, quick: bool, workdir: Path) -> dict[str, Any]:
    synth, payload = _synth(workdir, quick)
    rows = []
    for database in ("SQLite", "PostgreSQL"):
        if database == "SQLite":
            env = sqlite_env(workdir / "sqlite")
        else:
            fresh_postgres_db()
            env = postgres_env()
        progress = workdir / f"progress-{database}.json"
        out = run_child(
            "bench.load:load_child",
            {**payload, "progress": str(progress)},
            env=env,
            workdir=workdir,
            timeout=STEP_TIMEOUT_S,
        )
        if "timed_out" in out and progress.exists():
            out.update(json.loads(progress.read_text(encoding="utf-8")))
        log(f"load on {database}: {out}")
        rows.append({"database": database, **out})
    return {"synth": synth, "rows": rows}
