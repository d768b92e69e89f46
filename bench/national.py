"""National scale (issue 15): the real 2016 division tree cut to a scale, synthetic reports for
every village, a history loaded by COPY (set-up, not timed), then timed: one new day imported
through the real importer, the daily cycle for that day, and the dashboard's pages.

    python -m bench.national [--scale county|province|provinces4|nation ...] [--days N]
    python -m bench --only national       county, province, provinces4 and nation

Each scale gets a fresh PostgreSQL database (``rw_bench_national``) and each timed step its own
process, so that its peak memory is its own. The scales are those of
:mod:`ruralwatch.synth.national`: 宜阳县 (362 villages), 河南省 (50,757), four provinces
(185,000) and the nation (666,655). The new day is written as the CSV a province would send
(wide: one row per village, one column per indicator) and imported with ``import_reports``.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from bench._util import (
    ADMIN_2016,
    PG_ADMIN_URL,
    django_setup_migrate,
    log,
    peak_rss_mib,
    run_child,
    sqlite_env,
    timed,
)

SCALE_ORDER = ("county", "province", "provinces4", "nation")
DAYS = 60
#: The new day: the history is the DAYS days before it.
NEW_DAY = dt.date(2023, 2, 5)
PG_DB = os.environ.get("RURALWATCH_BENCH_NATIONAL_DB", "rw_bench_national")
PSQL = ["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", "postgres", "-v", "ON_ERROR_STOP=1"]
STEP_TIMEOUT_S = 3600.0
PAGE_REPEAT = 10
TARGETS = {"import_s": 60.0, "cycle_s": 60.0, "cycle_peak_gib": 8.0, "page_p95_ms": 500.0}
TABLES = (
    "reporting_reportvalue",
    "reporting_submission",
    "reporting_aggregatevalue",
    "reporting_completeness",
    "areas_area",
    "assessments_judgement",
)


def _progress(path: str, out: dict[str, Any], **values: Any) -> None:
    out.update(values)
    Path(path).write_text(json.dumps(out), encoding="utf-8")


def _day_frame(tree: Any, day: int, date: dt.date) -> pl.DataFrame:
    """Day ``day`` of the tree's villages, wide (one row per reporting village)."""
    from ruralwatch.synth.national import day_values

    reported, values = day_values(tree, day)
    # Reports arrive through the evening and the next morning (00:00 UTC is 08:00 in China).
    rng = np.random.default_rng([tree.seed, 13, day])
    minutes = rng.integers(18 * 60, 34 * 60, reported.size)
    submitted = (
        pl.lit(dt.datetime.combine(date, dt.time()))
        + pl.duration(minutes=pl.Series(minutes[reported]))
        - pl.duration(hours=8)
    )
    frame = pl.DataFrame(
        {"area_code": tree.village_codes.filter(pl.Series(reported))}
        | {k: v[reported] for k, v in values.items()}
    )
    return frame.with_columns(pl.lit(date).alias("date"), submitted.alias("submitted_utc"))


def _load_history(tree: Any, first: dt.date, days: int, progress: Any) -> dict[str, Any]:
    """COPY ``days`` days of every village's values and submissions, straight into the tables
    (the fastest path; the importer's checks are timed on the new day instead)."""
    from django.db import transaction

    from ruralwatch.core import bulk
    from ruralwatch.synth.national import INDICATORS

    values = 0
    for day in range(days):
        date = first + dt.timedelta(days=day)
        wide = _day_frame(tree, day, date)
        stamp = pl.col("submitted_utc").dt.strftime("%Y-%m-%d %H:%M:%S+00:00")
        long = wide.unpivot(
            index=["area_code", "date", "submitted_utc"],
            on=list(INDICATORS),
            variable_name="indicator",
            value_name="value",
        ).select(
            pl.col("area_code").alias("area_id"),
            "date",
            pl.col("indicator").alias("indicator_id"),
            pl.col("value").cast(pl.Float64),
            pl.lit("").alias("reporter"),
            stamp.alias("submitted_at"),
        )
        delay = (
            pl.col("submitted_utc") - pl.lit(dt.datetime.combine(date, dt.time()))
        ).dt.total_seconds().truediv(3600.0) + 8.0
        subs = wide.select(
            pl.col("area_code").alias("area_id"),
            "date",
            stamp.alias("submitted_at"),
            delay.alias("delay_hours"),
            pl.lit("").alias("reporter"),
        )
        with transaction.atomic():  # the store's own COPY path (core.bulk), table columns named
            bulk.load_staging("reporting_reportvalue", long)
            bulk.load_staging("reporting_submission", subs)
        values += long.height
        progress(history_days_loaded=day + 1, history_values=values)
    return {"history_values": values}


@contextlib.contextmanager
def _without_indexes(tables: tuple[str, ...]) -> Iterator[None]:
    """Drop the tables' secondary indexes and unique constraints for a bulk load and build them
    again afterwards, as they were (their definitions are read from the catalogue): building an
    index once is many times faster than maintaining it row by row."""
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute(
            "SELECT c.conrelid::regclass::text, c.conname, pg_get_constraintdef(c.oid) "
            "FROM pg_constraint c WHERE c.conrelid::regclass::text = ANY(%s) AND c.contype = 'u'",
            [list(tables)],
        )
        constraints = cur.fetchall()
        cur.execute(
            "SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid) FROM pg_index i "
            "WHERE i.indrelid::regclass::text = ANY(%s) AND NOT i.indisprimary "
            "AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)",
            [list(tables)],
        )
        indexes = cur.fetchall()
        for table, name, _ in constraints:
            cur.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
        for name, _ in indexes:
            cur.execute(f"DROP INDEX {name}")
    try:
        yield
    finally:
        with connection.cursor() as cur:
            cur.execute("SET maintenance_work_mem = '1GB'")
            for table, name, definition in constraints:
                cur.execute(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')
            for _, definition in indexes:
                cur.execute(definition)


def _sizes() -> dict[str, float]:
    from django.db import connection

    out = {}
    with connection.cursor() as cur:
        for table in TABLES:
            cur.execute("SELECT pg_total_relation_size(%s)", [table])
            out[table] = round(cur.fetchone()[0] / 2**20, 1)
    return out


def setup_child(payload: dict[str, Any]) -> dict[str, Any]:
    """Migrate, import the areas, COPY the history, roll it up, ANALYZE (not timed steps)."""
    out: dict[str, Any] = {}

    def progress(**values: Any) -> None:
        _progress(payload["progress"], out, **values)

    progress(migrate_s=django_setup_migrate())
    from django.db import connection

    from ruralwatch.areas.services import import_areas
    from ruralwatch.reporting.services import roll_up
    from ruralwatch.synth.national import load_tree

    tree = load_tree(ADMIN_2016, payload["scale"])
    progress(areas=tree.areas.height, villages=len(tree.village_codes))
    areas_csv = Path(payload["workdir"]) / "areas.csv"
    tree.areas.write_csv(areas_csv)
    progress(areas_import_s=timed(lambda: import_areas(areas_csv))[1])
    first = NEW_DAY - dt.timedelta(days=payload["days"])
    t = time.perf_counter()
    with _without_indexes(("reporting_reportvalue", "reporting_submission")):
        out.update(_load_history(tree, first, payload["days"], progress))
        progress(history_copy_s=time.perf_counter() - t)
        t = time.perf_counter()
    progress(history_index_s=time.perf_counter() - t)
    with connection.cursor() as cur:
        t = time.perf_counter()
        cur.execute("ANALYZE")
        progress(analyze_s=time.perf_counter() - t)
    _, rollup_s = timed(lambda: roll_up(first, NEW_DAY - dt.timedelta(days=1)))
    progress(history_rollup_s=rollup_s, sizes_mib=_sizes())
    # The new day, as a province sends it: wide CSV, Chinese date format as ISO.
    wide = _day_frame(tree, payload["days"], NEW_DAY)
    new_csv = Path(payload["workdir"]) / f"{NEW_DAY}.csv"
    wide.with_columns(
        (pl.col("submitted_utc") + pl.duration(hours=8))  # local time, as villages write it
        .dt.strftime("%Y-%m-%d %H:%M:%S")
        .alias("submitted_at")
    ).drop("submitted_utc").write_csv(new_csv)
    progress(new_day_csv=str(new_csv), new_day_values=wide.height * 8, peak_rss_mib=peak_rss_mib())
    return out


def import_child(payload: dict[str, Any]) -> dict[str, Any]:
    import django

    django.setup()
    from ruralwatch.reporting.services import import_reports

    now = dt.datetime.combine(NEW_DAY + dt.timedelta(days=2), dt.time(), tzinfo=dt.UTC)
    summary, seconds = timed(lambda: import_reports(payload["csv"], now=now))
    return {"import_s": seconds, "values": summary.values, "imported": summary.imported}


def cycle_child(payload: dict[str, Any]) -> dict[str, Any]:
    import django

    django.setup()
    from ruralwatch.cycle.services import run_cycle

    now = dt.datetime.combine(NEW_DAY + dt.timedelta(days=1), dt.time(2), tzinfo=dt.UTC)
    result, seconds = timed(lambda: run_cycle(NEW_DAY, days_back=7, now=now))
    steps = {name: step.get("seconds") for name, step in result.steps.items()}
    parts = result.steps.get("assess", {}).get("parts_seconds")
    return {
        "cycle_s": seconds,
        "steps_s": steps,
        "assess_parts_s": parts,
        # what the validate step read and found (values read: the screened week of every
        # village, the history only where a flag is possible; intake.nightly)
        "validate": {k: v for k, v in result.steps.get("validate", {}).items() if k != "seconds"},
        "did_not_run": result.did_not_run,
        "areas_judged": result.steps.get("assess", {}).get("areas"),
        "sizes_mib": _sizes(),
    }


def pages_child(payload: dict[str, Any]) -> dict[str, Any]:
    import django

    django.setup()
    from django.contrib.auth import get_user_model

    from bench.dashboard_pages import _time_page
    from ruralwatch.accounts.services import create_user_with_jurisdiction
    from ruralwatch.areas.models import Area

    def user(name: str, area: Any, role: str) -> Any:
        found = get_user_model().objects.filter(username=name).first()
        return found or create_user_with_jurisdiction(
            name, "pw-bench-123", area.code if area else None, role
        )

    province = (
        Area.objects.filter(code__startswith="41", level=1).first()
        or Area.objects.filter(level=1).first()
    )
    county = (
        Area.objects.filter(code="410327000000").first() or Area.objects.filter(level=3).first()
    )
    rows = []
    pages = [("national", "/", user("bench_national", None, "national"))]
    for role, area in (("province", province), ("county", county)):
        pages.append((role, f"/area/{area.code}/", user(f"bench_{role}", area, role)))
    for name, url, who in pages:
        row = {"page": name, **_time_page(who, url, int(payload["repeat"]))}
        log(f"page {name}: {row}")
        rows.append(row)
    return {"pages": rows}


def _fresh_db() -> None:
    for sql in (f"DROP DATABASE IF EXISTS {PG_DB} WITH (FORCE)", f"CREATE DATABASE {PG_DB}"):
        subprocess.run([*PSQL, "-qc", sql], check=True, capture_output=True)


def run_scale(scale: str, *, days: int, workdir: Path, repeat: int) -> dict[str, Any]:
    sub = workdir / scale
    sub.mkdir(parents=True, exist_ok=True)
    _fresh_db()
    env = sqlite_env(sub / "unused")
    env["DATABASE_URL"] = f"{PG_ADMIN_URL}/{PG_DB}"
    row: dict[str, Any] = {"scale": scale, "days": days, "load_before": os.getloadavg()}
    progress = sub / "setup.json"
    setup = run_child(
        "bench.national:setup_child",
        {"scale": scale, "days": days, "workdir": str(sub), "progress": str(progress)},
        env=env,
        workdir=sub,
        timeout=STEP_TIMEOUT_S,
    )
    if "timed_out" in setup and progress.exists():
        setup.update(json.loads(progress.read_text(encoding="utf-8")))
    row["setup"] = setup
    log(f"{scale}: set-up {json.dumps(setup)}")
    if "new_day_csv" not in setup:
        return row
    steps = (
        ("import", "bench.national:import_child", {"csv": setup["new_day_csv"]}),
        ("cycle", "bench.national:cycle_child", {}),
        ("pages", "bench.national:pages_child", {"repeat": repeat}),
    )
    for name, target, payload in steps:
        out = run_child(target, payload, env=env, workdir=sub, timeout=STEP_TIMEOUT_S)
        log(f"{scale}: {name} {json.dumps(out)}")
        row[name] = out
    row["load_after"] = os.getloadavg()
    return row


def run(*, quick: bool, workdir: Path) -> dict[str, Any]:
    scales = ("county", "province") if quick else SCALE_ORDER
    rows = [
        run_scale(s, days=14 if quick else DAYS, workdir=workdir, repeat=PAGE_REPEAT)
        for s in scales
    ]
    subprocess.run([*PSQL, "-qc", f"DROP DATABASE IF EXISTS {PG_DB} WITH (FORCE)"], check=False)
    if not quick:
        write_plot(rows)
    return {"rows": rows, "targets": TARGETS, "new_day": NEW_DAY.isoformat()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", action="append", choices=SCALE_ORDER)
    parser.add_argument("--days", type=int, default=DAYS, help="days of history (COPY)")
    parser.add_argument("--repeat", type=int, default=PAGE_REPEAT)
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument("--out", type=Path, help="write the JSON result here")
    parser.add_argument(
        "--save",
        action="store_true",
        help="merge the scales run into bench/results/national.json (by scale) and rewrite "
        "docs/benchmarks.md and the plot",
    )
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="bench-national-"))
    t0, load_before = time.perf_counter(), os.getloadavg()
    rows = [
        run_scale(s, days=args.days, workdir=workdir, repeat=args.repeat)
        for s in (args.scale or SCALE_ORDER)
    ]
    if not args.keep:
        subprocess.run([*PSQL, "-qc", f"DROP DATABASE IF EXISTS {PG_DB} WITH (FORCE)"])
    if args.save:
        from bench import report
        from bench._util import RESULTS_DIR, machine_info, save_result

        old = RESULTS_DIR / "national.json"
        kept = json.loads(old.read_text(encoding="utf-8"))["rows"] if old.exists() else []
        ran = {r["scale"] for r in rows}
        merged = [r for r in kept if r["scale"] not in ran] + rows
        merged.sort(key=lambda r: SCALE_ORDER.index(r["scale"]))
        save_result(
            "national",
            {
                "rows": merged,
                "targets": TARGETS,
                "new_day": NEW_DAY.isoformat(),
                "benchmark": "national",
                "quick": False,
                "wall_s": time.perf_counter() - t0,
                "finished": time.strftime("%Y-%m-%d %H:%M:%S %z"),
                "machine": machine_info(),
                "load_before": [round(x, 2) for x in load_before],
                "load_after": [round(x, 2) for x in os.getloadavg()],
            },
        )
        write_plot(merged)
        report.write()
    elif len(rows) > 1:
        write_plot(rows)
    text = json.dumps({"rows": rows, "targets": TARGETS}, indent=1, default=str)
    if args.out:
        args.out.write_text(text, encoding="utf-8")
    print(text)


# --------------------------------------------------------------------------------------------
# Report: a table per step and scale, and the cost curve as a plot
# --------------------------------------------------------------------------------------------

PLOT = Path(__file__).resolve().parent.parent / "docs" / "benchmarks-national.png"
CURVE_STEPS = ("import", "validate", "roll_up", "detect", "assess", "tasks", "cycle")


def _curve(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    points = []
    for r in rows:
        villages = r.get("setup", {}).get("villages")
        if not villages or "cycle" not in r:
            continue
        steps = {"import": r["import"].get("import_s"), "cycle": r["cycle"].get("cycle_s")}
        steps |= r["cycle"].get("steps_s") or {}
        for step in CURVE_STEPS:
            if steps.get(step) is not None:
                points.append({"villages": villages, "step": step, "seconds": steps[step]})
    return points


def write_plot(rows: list[dict[str, Any]], path: Path = PLOT) -> Path | None:
    """Seconds per step against villages, log-log, one line per step (vl-convert, no browser)."""
    import vl_convert

    points = _curve(rows)
    if len({p["villages"] for p in points}) < 2:
        return None
    spec = {
        "$schema": "https://vega.github.io/schema/vega-lite/v5.json",
        "title": "RuralWatch: cost of one day against scale (PostgreSQL)",
        "width": 520,
        "height": 320,
        "data": {"values": points},
        "mark": {"type": "line", "point": True},
        "encoding": {
            "x": {
                "field": "villages",
                "type": "quantitative",
                "scale": {"type": "log"},
                "title": "villages in the tree",
            },
            "y": {
                "field": "seconds",
                "type": "quantitative",
                "scale": {"type": "log"},
                "title": "seconds",
            },
            "color": {"field": "step", "type": "nominal", "sort": list(CURVE_STEPS)},
        },
    }
    path.write_bytes(vl_convert.vegalite_to_png(spec, scale=2))
    return path


def report_section(res: dict[str, Any], title: str) -> list[str]:
    def s(x: Any) -> str:
        return "–" if x is None else f"{x:,.1f}"

    rows = [r for r in res["rows"] if "setup" in r]
    out = [
        title,
        "",
        "The real 2016 division tree cut to a scale (宜阳县 410327, 河南省, four provinces, the "
        "nation), synthetic reports for every village (`ruralwatch.synth.national`: a wave per "
        "province, most villages zero most days, 2 % of village-days missing), a history of "
        f"{rows[0]['days'] if rows else '–'} days COPYed in (set-up, not timed), then one new day "
        "(8 indicators per village) imported through `import_reports` and the daily cycle run "
        "for it, each in its own process on PostgreSQL. Reproduce: "
        "`python -m bench.national --scale province --days 14` (or `python -m bench --only "
        "national` for all four scales).",
        "",
        "| scale | villages | areas | history values | import (s) | cycle (s) | validate | "
        "roll-up | detect | assess | tasks | cycle peak memory (MiB) | pages p95 (ms) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        setup, cyc = r["setup"], r.get("cycle", {})
        steps = cyc.get("steps_s") or {}
        pages = " / ".join(
            f"{p['page']} {p['p95_ms']:.0f}" for p in r.get("pages", {}).get("pages", [])
        )
        out.append(
            f"| {r['scale']} | {setup.get('villages', 0):,} | {setup.get('areas', 0):,} | "
            f"{setup.get('history_values', 0):,} | {s(r.get('import', {}).get('import_s'))} | "
            f"{s(cyc.get('cycle_s'))} | {s(steps.get('validate'))} | {s(steps.get('roll_up'))} | "
            f"{s(steps.get('detect'))} | {s(steps.get('assess'))} | {s(steps.get('tasks'))} | "
            f"{s(cyc.get('peak_rss_mib'))} | {pages or '–'} |"
        )
    out += [
        "",
        f"Targets at national scale: import < {TARGETS['import_s']:g} s, cycle < "
        f"{TARGETS['cycle_s']:g} s, cycle peak memory < {TARGETS['cycle_peak_gib']:g} GiB, "
        f"pages p95 < {TARGETS['page_p95_ms']:g} ms.",
        "",
    ]
    if PLOT.exists():
        out += ["![cost per step against villages](benchmarks-national.png)", ""]
    return out


if __name__ == "__main__":
    main()
