"""What the key-area watch costs: the statistics alone on arrays, and the panel read from the
database (every key area of the synthetic county, or with ``--province`` the province, on
SQLite and PostgreSQL), as the pages, the dashboard and the task sync call it.

    RURALWATCH_ENV=development .venv/bin/python -m bench.keyareas [--province] [--repeat 5]

Prints one JSON line per measurement: for the arrays, units and milliseconds of
``epi.assess.sparse.watch`` (63 days, pools of 15); for each database, the key areas, the
seconds of ``keyareas.selectors.watch_rows`` over the whole tree and of ``panel`` for the
first county (the smallest of ``repeat`` runs), and the statuses found.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from bench._util import PG_ADMIN_URL, best_of, django_setup_migrate, log, run_child, sqlite_env

SEED = 20230122
END = dt.date(2023, 2, 5)
START = END - dt.timedelta(days=62)
AREA_COLUMNS = ["code", "name", "level", "parent_code", "urban_rural", "population", "key_areas"]
PG_DB = "rw_h7_keyareas_bench"


def arrays(repeat: int) -> list[dict[str, Any]]:
    from ruralwatch.epi.assess.sparse import watch

    rng = np.random.default_rng(SEED)
    rows = []
    for units in (3_000, 20_000):
        counts = rng.poisson(0.02, size=(63, units)).astype(float)
        counts[rng.random(counts.shape) < 0.03] = np.nan
        pop = rng.integers(300, 3000, size=units).astype(float)
        pool = np.arange(units) // 15
        result, sec = best_of(lambda c=counts, p=pop, g=pool: watch(c, p, 62, pool=g), repeat)
        rows.append(
            {
                "what": "epi.assess.sparse.watch",
                "units": units,
                "days": 63,
                "ms": round(sec * 1000, 2),
                "rising": int(result.rising.sum()),
            }
        )
    return rows


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


def child(payload: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"migrate_s": round(django_setup_migrate(), 2)}
    from collections import Counter

    from ruralwatch.areas.models import Area
    from ruralwatch.areas.services import import_areas
    from ruralwatch.keyareas.selectors import panel, watch_rows
    from ruralwatch.reporting.services import import_reports

    import_areas(payload["areas"])
    import_reports(payload["reports"])
    # The statistics a live database has (autovacuum's ANALYZE): the importers leave them
    # stale, and with an "empty" table PostgreSQL scans the date index (77 s, not 2 s, for
    # the province).
    from ruralwatch.core import bulk

    bulk.analyze("areas_area", "reporting_reportvalue", "reporting_submission")
    county = Area.objects.filter(level=3).order_by("code").first()
    assert county is not None
    (rows, _params), sec = best_of(lambda: watch_rows("/", END), payload["repeat"])
    p, sec_panel = best_of(lambda: panel(county, END), payload["repeat"])
    out.update(
        key_areas=len(rows),
        watch_rows_s=round(sec, 3),
        county_key_areas=p["count"],
        panel_county_s=round(sec_panel, 3),
        statuses=dict(Counter(r.status for r in rows)),
    )
    return out


def run(*, province: bool, workdir: Path, repeat: int) -> list[dict[str, Any]]:
    from ruralwatch.synth import build_region, build_reports, simulate_region

    out = arrays(repeat)
    for row in out:
        log(json.dumps(row))
    region = build_region(SEED, scale="province" if province else "county")
    epidemic = simulate_region(region, seed=SEED, start=START, end=END)
    reports = build_reports(region, epidemic, start=START, end=END, seed=SEED)
    values = reports.values.filter(pl.col("indicator") == "new_cases")
    region.areas.select(AREA_COLUMNS).write_csv(workdir / "areas.csv")
    values.with_columns(pl.col("submitted_at").dt.strftime("%Y-%m-%d %H:%M:%S")).select(
        "area_code", "date", "submitted_at", pl.col("value").alias("new_cases")
    ).write_csv(workdir / "reports.csv")
    payload = {
        "areas": str(workdir / "areas.csv"),
        "reports": str(workdir / "reports.csv"),
        "repeat": repeat,
    }
    for database in ("SQLite", "PostgreSQL"):
        env = sqlite_env(workdir / "sqlite") if database == "SQLite" else _fresh_postgres()
        row = run_child("bench.keyareas:child", payload, env=env, workdir=workdir)
        row = {"database": database, "scale": "province" if province else "county", **row}
        log(json.dumps(row))
        out.append(row)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--province", action="store_true")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="ruralwatch-keyareas-") as tmp:
        rows = run(province=args.province, workdir=Path(tmp), repeat=args.repeat)
    for row in rows:
        print(json.dumps(row, ensure_ascii=False))


if __name__ == "__main__":
    main()
