"""National scale (issue 15): the real 2016 division tree cut to a scale, synthetic reports for
every village, a history loaded by COPY and the day before's cycle (set-up, not timed), then
timed: one new day imported through the real importer, the daily cycle for that day, and the
dashboard's pages.

    python -m bench.national [--scale county|province|provinces4|nation|province:NN ...] [--days N]
    python -m bench --only national       county, province, provinces4 and nation
    python -m bench.national --growth --scale province:64 --days 60 --days 365 [--save]

``--growth`` (issue 15 item 4) builds the same tree with each history length (the shorter
histories are the last days of the longest, so the new day and the days the cycle reads are the
same in all), then runs import, cycle and pages on a fresh copy of each database, the lengths
alternating ``--rounds`` times, and reports the ratio of each step's cost, longest history over
shortest, against the 20 % target (``bench/results/national_growth.json`` with ``--save``).

Each scale gets a fresh PostgreSQL database (``rw_bench_national``) and each timed step its own
process, so that its peak memory is its own. The scales are those of
:mod:`ruralwatch.synth.national`: 宜阳县 (362 villages), 河南省 (50,757), four provinces
(130,711) and the nation (666,655). The new day is written as the CSV a province would send
(wide: one row per village, one column per indicator) and imported with ``import_reports``.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import re
import resource
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
from ruralwatch.cycle.distributed import backend_pid, process_cpu_s

SCALE_ORDER = ("county", "province", "provinces4", "nation")
DAYS = 60
#: The new day: the history is the DAYS days before it.
NEW_DAY = dt.date(2023, 2, 5)
PG_DB = os.environ.get("RURALWATCH_BENCH_NATIONAL_DB", "rw_bench_national")
PSQL = ["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", "postgres", "-v", "ON_ERROR_STOP=1"]
STEP_TIMEOUT_S = 3600.0
#: A set-up's limit per day of history: the nation's takes about a minute a day on two cores
#: (60 days: more than the hour on session 32's machine, which cut it short before its
#: validation), so it is not stopped before its timed steps.
SETUP_TIMEOUT_PER_DAY_S = 120.0
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


def _load_history(
    tree: Any, first: dt.date, days: int, progress: Any, offset: int = 0
) -> dict[str, Any]:
    """COPY ``days`` days of every village's values and submissions, straight into the tables
    (the fastest path; the importer's checks are timed on the new day instead). The first
    date gets the synthetic day ``offset``."""
    from django.db import transaction

    from ruralwatch.core import bulk
    from ruralwatch.synth.national import INDICATORS

    values = 0
    for day in range(days):
        date = first + dt.timedelta(days=day)
        wide = _day_frame(tree, offset + day, date)
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
def _without_indexes(tables: tuple[str, ...], maintenance_work_mem: str = "1GB") -> Iterator[None]:
    """Drop the tables' secondary indexes, unique constraints and primary keys (the facts'
    keys, reporting migration 0012) for a bulk load and build them again afterwards, as they
    were (their definitions are read from the catalogue): building an index once is many
    times faster than maintaining it row by row."""
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute(
            "SELECT c.conrelid::regclass::text, c.conname, pg_get_constraintdef(c.oid) "
            "FROM pg_constraint c WHERE c.conrelid::regclass::text = ANY(%s) "
            "AND c.contype IN ('u', 'p')",
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
            cur.execute("SET maintenance_work_mem = %s", [maintenance_work_mem])
            for table, name, definition in constraints:
                cur.execute(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')
            for _, definition in indexes:
                # a partitioned table's index is defined "ON ONLY" the parent: built so, it
                # would be an invalid index with no partition's copy
                cur.execute(definition.replace(" ON ONLY ", " ON ", 1))


def _cpu_sample(pid: int | None) -> tuple[float, float, float | None]:
    """(wall, this process's CPU, the backend's CPU) in seconds, now."""
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return time.perf_counter(), ru.ru_utime + ru.ru_stime, process_cpu_s(pid)


def _cpu_between(
    a: tuple[float, float, float | None], b: tuple[float, float, float | None]
) -> dict[str, float | None]:
    """Wall and CPU seconds between two samples. The backend's CPU leaves out PostgreSQL's
    parallel workers (they are processes of their own)."""
    backend = None if a[2] is None or b[2] is None else round(b[2] - a[2], 3)
    return {"wall_s": round(b[0] - a[0], 3), "cpu_s": round(b[1] - a[1], 3), "db_cpu_s": backend}


def _sizes() -> dict[str, float]:
    """MiB of each of :data:`TABLES` with its indexes, and its partitions' (a partitioned
    table has no storage of its own)."""
    from django.db import connection

    out = {}
    with connection.cursor() as cur:
        for table in TABLES:
            cur.execute(  # the tree is empty for a table that is not partitioned
                "SELECT CAST(coalesce(sum(pg_total_relation_size(relid)), "
                "pg_total_relation_size(%s)) AS BIGINT) FROM pg_partition_tree(%s)",
                [table, table],
            )
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
    offset = int(payload.get("offset", 0))
    t = time.perf_counter()
    # A partition of the values a day, as a deployment's daily imports leave them
    # (reporting.partitions); each day's indexes are then built by a sort of that day alone.
    from ruralwatch.reporting import partitions

    for day in _days(first, payload["days"]):
        partitions.ensure([day])
    with _without_indexes(("reporting_reportvalue", "reporting_submission")):
        out.update(_load_history(tree, first, payload["days"], progress, offset))
        progress(history_copy_s=time.perf_counter() - t)
        t = time.perf_counter()
    progress(history_index_s=time.perf_counter() - t)
    with connection.cursor() as cur:
        t = time.perf_counter()
        cur.execute("ANALYZE")
        progress(analyze_s=time.perf_counter() - t)
    # A day at a time, as each day's cycle rolled it up: one statement over the nation's 60
    # days spilled its grouping to more temporary files than this disk had free.
    _, rollup_s = timed(lambda: [roll_up(day, day) for day in _days(first, payload["days"])])
    progress(history_rollup_s=rollup_s, sizes_mib=_sizes())
    if payload.get("vacuum", True):
        # The history as the cycles of its days left it: each cycle vacuums the reports at its
        # start (hint bits set, the visibility map current, so that the village values' key
        # answers reads alone); without this the timed cycle would vacuum every day at once.
        with connection.cursor() as cur:
            t = time.perf_counter()
            cur.execute("VACUUM ANALYZE")
            progress(vacuum_s=time.perf_counter() - t)
    # The last night's validation, as a deployment's cycle of the day before ran it: its flags,
    # and the copies it kept of the days it read (intake.screen_days), which the timed cycle
    # reads back for every day but the new one.
    from ruralwatch.intake.nightly import nightly

    _, validation_s = timed(lambda: nightly(NEW_DAY - dt.timedelta(days=1)))
    progress(last_night_validation_s=validation_s)
    # The copies the earlier nights kept (screen_days.KEEP_DAYS: the assessment's 91 days; a
    # night reads and keeps two weeks, the history loaded here had no nights before).
    from ruralwatch.intake.nightly import keep_copies

    _, copies_s = timed(lambda: keep_copies(NEW_DAY - dt.timedelta(days=1)))
    progress(earlier_nights_copies_s=copies_s)
    progress(day_before_cycle_s=_day_before_cycle())
    # The new day, as a province sends it: wide CSV, Chinese date format as ISO.
    wide = _day_frame(tree, offset + payload["days"], NEW_DAY)
    new_csv = Path(payload["workdir"]) / f"{NEW_DAY}.csv"
    wide.with_columns(
        (pl.col("submitted_utc") + pl.duration(hours=8))  # local time, as villages write it
        .dt.strftime("%Y-%m-%d %H:%M:%S")
        .alias("submitted_at")
    ).drop("submitted_utc").write_csv(new_csv)
    progress(new_day_csv=str(new_csv), new_day_values=wide.height * 8, peak_rss_mib=peak_rss_mib())
    return out


def _days(first: dt.date, days: int) -> list[dt.date]:
    """The history's ``days`` dates from ``first``."""
    return [first + dt.timedelta(days=d) for d in range(days)]


def _day_before_cycle() -> float:
    """The cycle of the day before the new one, run as the morning before ran it (the timed
    cycle's hour, a day earlier): its signals, judgements and tasks, and the texts their
    evidence shares. A deployment's cycle follows yesterday's: it makes tasks for the causes
    that are new since (a signal of the week already has its task, a gone one is closed) and
    finds the method texts stored; the first cycle of a database makes a task for every
    signal of the week. Seconds."""
    from ruralwatch.cycle.services import run_cycle

    now = dt.datetime.combine(NEW_DAY, dt.time(2), tzinfo=dt.UTC)
    _, seconds = timed(lambda: run_cycle(NEW_DAY - dt.timedelta(days=1), days_back=7, now=now))
    return seconds


def day_before_child(payload: dict[str, Any]) -> dict[str, Any]:
    """:func:`_day_before_cycle` on a set-up kept by code that did not run it (``--reuse``)."""
    django_setup_migrate()
    return {"day_before_cycle_s": _day_before_cycle()}


def import_child(payload: dict[str, Any]) -> dict[str, Any]:
    import django

    django.setup()
    from ruralwatch.reporting.services import import_reports

    now = dt.datetime.combine(NEW_DAY + dt.timedelta(days=2), dt.time(), tzinfo=dt.UTC)
    pid = backend_pid()
    before = _cpu_sample(pid)
    summary, seconds = timed(lambda: import_reports(payload["csv"], now=now))
    cpu = _cpu_between(before, _cpu_sample(pid))
    if pid != backend_pid():  # the importer's connection was replaced: its CPU is not known
        cpu["db_cpu_s"] = None
    return {
        "import_s": seconds,
        "values": summary.values,
        "imported": summary.imported,
        "cpu": cpu,
    }


def migrate_child(payload: dict[str, Any]) -> dict[str, Any]:
    """The migrations a reused set-up lacks (made by older code), before the timed steps."""
    return {"migrate_s": django_setup_migrate()}


def cycle_child(payload: dict[str, Any]) -> dict[str, Any]:
    import django

    django.setup()
    from ruralwatch.cycle.services import run_cycle

    now = dt.datetime.combine(NEW_DAY + dt.timedelta(days=1), dt.time(2), tzinfo=dt.UTC)
    pid = backend_pid()
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    counting = _statements_reset()
    calibration = [_calibration()]
    machine = _machine_cpu()
    with _sampling(pid) as samples:
        result, seconds = timed(lambda: run_cycle(NEW_DAY, days_back=7, now=now))
    machine = {k: round(v - machine[k], 1) for k, v in _machine_cpu().items()}
    calibration.append(_calibration())
    statements = _statements() if counting else None
    ended = resource.getrusage(resource.RUSAGE_CHILDREN)  # a pool's workers, ended with it
    steps = {name: step.get("seconds") for name, step in result.steps.items()}
    same_backend = pid == backend_pid()
    parts = result.steps.get("assess", {}).get("parts_seconds")
    return {
        "cycle_s": seconds,
        "steps_s": steps,
        # when each step began, seconds after the cycle's start (validation overlaps the
        # roll-up, detection, assessment and tasks on the pool)
        "steps_began_s": {name: step.get("began_s") for name, step in result.steps.items()},
        "assess_parts_s": parts,
        # the tasks step's two parts on workers (beside the assessment, after it): from-to
        "tasks_parts_s": {
            name: [part.get("began_s"), part.get("seconds")]
            for name, part in result.steps.get("tasks", {}).get("parts", {}).items()
        },
        # what the validate step read and found (values read: the screened week of every
        # village, the history only where a flag is possible; intake.nightly)
        "validate": {k: v for k, v in result.steps.get("validate", {}).items() if k != "seconds"},
        "did_not_run": result.did_not_run,
        "areas_judged": result.steps.get("assess", {}).get("areas"),
        "sizes_mib": _sizes(),
        # CPU per step (this process and its PostgreSQL backend), from samples every 50 ms cut
        # at each step's start and end (steps that overlap on the pool share this process's
        # CPU of their common time; what their partitions cost is in ``workers``)
        "steps_cpu": _per_step(
            samples,
            {n: (s.get("began_s"), s.get("seconds")) for n, s in result.steps.items()},
            same_backend,
        ),
        "cycle_cpu": _per_step(
            samples, {"cycle": (0.0, samples[-1][0] - samples[0][0])}, same_backend
        )["cycle"],
        # where the partitioned steps ran, and what their worker processes did (not part of
        # steps_cpu and cycle_cpu, which are this process's and its backend's)
        "runners": {n: s["runner"] for n, s in result.steps.items() if "runner" in s},
        # every core of the machine over the cycle (/proc/stat): what the processes and
        # backends counted above leave out (PostgreSQL's parallel workers, checkpointer, WAL
        # writer and autovacuum, the kernel's own work, anything else running)
        "machine_cpu": machine,
        # a fixed piece of work timed just before and after the cycle, here and in the
        # database (:func:`_calibration`): what the machine's speed was around the run
        "calibration": {
            part: [round(c[part], 3) for c in calibration] for part in ("python_s", "database_s")
        },
        # the database's time per statement over the cycle, where PostgreSQL keeps it
        # (pg_stat_statements loaded; None otherwise): the heaviest, grouped by their text
        # with the literals left out (statement_key)
        "statements": statements,
        "workers": _workers(result.steps)
        | {
            # every second of the pool's processes, their start (Django) included
            "processes_cpu_s": round(
                ended.ru_utime + ended.ru_stime - children.ru_utime - children.ru_stime, 3
            ),
        },
    }


def _workers(steps: dict[str, Any]) -> dict[str, Any]:
    """The CPU of the cycle's worker processes (a pool's or Dask's) and of their backends,
    per step, and their peak memory: the sum of each worker's peak (what they held at most,
    had their peaks coincided) and the largest. Empty when the steps ran in this process."""
    cpu: dict[str, dict[str, float | None]] = {}
    peaks: dict[str, float] = {}
    for name, step in steps.items():
        if step.get("runner", "in-process") == "in-process":
            continue
        parts = step.get("partitions", {}).values()
        db = [p.get("db_cpu_s") for p in parts]
        cpu[name] = {
            "cpu_s": round(sum(p.get("cpu_s", 0.0) for p in parts), 3),
            "db_cpu_s": None if None in db else round(sum(db), 3),
        }
        for p in parts:
            if p.get("worker"):
                peaks[p["worker"]] = max(peaks.get(p["worker"], 0.0), p.get("peak_rss_mib", 0.0))
    if not cpu:
        return {}
    db_all = [c["db_cpu_s"] for c in cpu.values()]
    return {
        "steps_cpu": cpu,
        "cpu_s": round(sum(c["cpu_s"] or 0.0 for c in cpu.values()), 3),
        "db_cpu_s": None if None in db_all else round(sum(db_all), 3),  # type: ignore[arg-type]
        "processes": len(peaks),
        "peak_rss_sum_mib": round(sum(peaks.values()), 1),
        "peak_rss_max_mib": max(peaks.values(), default=0.0),
        "partitions": {n: s["partitions"] for n, s in steps.items() if n in cpu},
    }


_LITERAL = re.compile(r"'(?:[^']|'')*'")
_NUMBER = re.compile(r"(?<![\w$])\d+(?:\.\d+)?")
_TABLE = re.compile(r"\b(?:FROM|INTO|JOIN|UPDATE)\s+\"?(\w+)", re.IGNORECASE)


def statement_key(query: str) -> str:
    """A statement's text with its literals (quoted texts, numbers) as ``?`` and ``N`` and its
    spaces collapsed: the cycle composes dates, paths and code lists into its reads, so one
    statement of each partition shows as many in ``pg_stat_statements``."""
    text = _NUMBER.sub("N", _LITERAL.sub("?", query))
    return " ".join(text.split())


def statement_label(key: str) -> str:
    """:func:`statement_key` shortened for a table: its first 120 characters and the tables
    it names (two reads that differ only after their head differ there)."""
    tables = list(dict.fromkeys(m.group(1) for m in _TABLE.finditer(key)))
    head = key if len(key) <= 120 else key[:120] + "…"
    return f"{head} [{', '.join(tables)}]" if tables else head


def group_statements(
    rows: list[tuple[str, int, float, int, float, int]], limit: int = 15
) -> list[dict[str, Any]]:
    """``(query, calls, milliseconds, rows, milliseconds reading, pages read)`` of
    ``pg_stat_statements`` grouped by :func:`statement_key`, the ``limit`` heaviest first
    (seconds of the database's time, not counting parallel workers). The pages read are those
    PostgreSQL found outside its own buffers (in the system's cache or on disk); the time
    reading them is counted only with ``track_io_timing`` on, and is what a database larger
    than the machine's memory adds."""
    groups: dict[str, dict[str, Any]] = {}
    for query, calls, ms, n, read_ms, read_pages in rows:
        key = statement_key(query)
        g = groups.get(key)
        if g is None:
            g = groups[key] = {
                "statement": statement_label(key),
                "calls": 0,
                "s": 0.0,
                "rows": 0,
                "read_s": 0.0,
                "read_pages": 0,
            }
        g["calls"] += calls
        g["s"] += ms / 1000
        g["rows"] += n
        g["read_s"] += read_ms / 1000
        g["read_pages"] += read_pages
    top = sorted(groups.values(), key=lambda g: -g["s"])[:limit]
    return [g | {"s": round(g["s"], 2), "read_s": round(g["read_s"], 2)} for g in top]


def _statements_reset() -> bool:
    """Whether PostgreSQL keeps statement statistics (``pg_stat_statements`` in
    ``shared_preload_libraries``); if it does, its view is made available in this database
    and its counts reset, so that what :func:`_statements` reads is the cycle's."""
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute("SHOW shared_preload_libraries")
        if "pg_stat_statements" not in cur.fetchone()[0]:
            return False
        cur.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        cur.execute("SELECT pg_stat_statements_reset()")
    return True


def _statements() -> list[dict[str, Any]]:
    """The cycle's statements in this database since :func:`_statements_reset`, grouped."""
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute(
            "SELECT query, calls, total_exec_time, rows, blk_read_time, "
            "shared_blks_read + local_blks_read + temp_blks_read FROM pg_stat_statements "
            "WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())"
        )
        rows = [
            (str(q), int(c), float(t), int(n), float(r), int(b))
            for q, c, t, n, r, b in cur.fetchall()
        ]
    return group_statements(rows)


def statement_lines(row: dict[str, Any]) -> list[str]:
    """The cycle's heaviest statements as a Markdown table; empty without them."""
    found = (row.get("cycle") or {}).get("statements")
    if not found:
        return []
    lines = [
        "| seconds | of which reading pages | pages read | calls | rows "
        "| statement (literals as ? and N) |",
        "|---|---|---|---|---|---|",
    ]
    for g in found:
        text = g["statement"].replace("|", "\\|")
        lines.append(
            f"| {g['s']:.2f} | {g.get('read_s', 0.0):.2f} | {g.get('read_pages', 0):,} "
            f"| {g['calls']:,} | {g['rows']:,} | `{text}` |"
        )
    return lines


def _calibration() -> dict[str, float]:
    """Seconds of a fixed piece of work, the same in every run: numpy's sort of two million
    numbers, a dict and a JSON text of 300,000 items in Python (this process's CPU), and a
    scan of three million generated rows in the database (wall time of one statement). Each
    piece runs twice and the second is timed: the first, in a process or connection that has
    not done it yet, took up to twice as long. A cloud machine's speed moved by a fifth within
    the hour (docs/national-scale.md, sessions 27 and 28); over 17 national runs this probe
    did not follow the cycle's own speed (0.30-0.35 s after cycles of 56.8 s and of 75.1 s),
    so it shows the machine's state around a run, not a unit to divide the cycle by."""
    from django.db import connection

    python_s = database_s = 0.0
    for _ in range(2):
        began = time.process_time()
        np.sort(np.random.default_rng(0).random(2_000_000))
        items = {str(i): i * 2 for i in range(300_000)}
        json.dumps(list(items.items()))
        python_s = time.process_time() - began
        with connection.cursor() as cur:
            began = time.perf_counter()
            cur.execute("SELECT count(*) FROM generate_series(1, 3000000) g WHERE g % 7 = 3")
            cur.fetchone()
            database_s = time.perf_counter() - began
    return {"python_s": python_s, "database_s": database_s}


def _machine_cpu() -> dict[str, float]:
    """Seconds the machine's cores have spent busy and idle since boot (``/proc/stat``: idle
    and I/O wait count as idle); zeros where there is no such file."""
    try:
        fields = Path("/proc/stat").read_text(encoding="ascii").split("\n", 1)[0].split()[1:]
    except OSError:
        return {"busy_s": 0.0, "idle_s": 0.0}
    ticks = [int(x) for x in fields[:8]]  # user nice system idle iowait irq softirq steal
    hz = os.sysconf("SC_CLK_TCK")
    idle = ticks[3] + ticks[4]
    return {"busy_s": (sum(ticks) - idle) / hz, "idle_s": idle / hz}


@contextlib.contextmanager
def _sampling(pid: int | None, every_s: float = 0.05) -> Iterator[list[Any]]:
    """Sample this process's and the backend's CPU every ``every_s`` seconds in a thread."""
    import threading

    samples = [_cpu_sample(pid)]
    stop = threading.Event()

    def run() -> None:
        while not stop.wait(every_s):
            samples.append(_cpu_sample(pid))

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield samples
    finally:
        stop.set()
        thread.join()
        samples.append(_cpu_sample(pid))


def _per_step(
    samples: list[Any],
    steps: dict[str, tuple[float | None, float | None]],
    same_backend: bool,
) -> dict[str, dict[str, float | None]]:
    """CPU of each step: the samples interpolated at its start and end (``began_s`` after the
    first sample, ``seconds`` long; a step without a start follows the one before)."""
    wall = np.array([s[0] for s in samples])
    cpu = np.array([s[1] for s in samples])
    db = np.array([np.nan if s[2] is None else s[2] for s in samples])
    out: dict[str, dict[str, float | None]] = {}
    end = wall[0]
    for name, (began, seconds) in steps.items():
        t = end if began is None else wall[0] + began
        end = t + (seconds or 0.0)
        row: dict[str, float | None] = {
            "wall_s": seconds,
            "cpu_s": round(float(np.interp(end, wall, cpu) - np.interp(t, wall, cpu)), 3),
            "db_cpu_s": None,
        }
        if same_backend and not np.isnan(db).any():
            row["db_cpu_s"] = round(float(np.interp(end, wall, db) - np.interp(t, wall, db)), 3)
        out[name] = row
    return out


def _growth_areas(prefix: str) -> tuple[Any, Any]:
    """The province of code ``prefix`` and its county with the most villages."""
    from django.db.models import Count
    from django.db.models.functions import Substr

    from ruralwatch.areas.models import Area

    province = Area.objects.get(level=1, code__startswith=prefix)
    biggest = (
        Area.objects.filter(level=5, code__startswith=prefix)
        .annotate(county=Substr("code", 1, 6))
        .values("county")
        .annotate(n=Count("code"))
        .order_by("-n", "county")
        .first()
    )
    assert biggest is not None, prefix
    return province, Area.objects.get(code=biggest["county"] + "000000")


def pages_child(payload: dict[str, Any]) -> dict[str, Any]:
    import django

    # What a page costs to compute, as on the first visit after the cycle: the dashboard's
    # cache (datacache) would otherwise answer every timed request after the warm-up.
    os.environ.setdefault("RURALWATCH_CACHE", "none")
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

    if payload.get("province_prefix"):
        province, county = _growth_areas(payload["province_prefix"])
    else:
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
        who = user(f"bench_{role}", area, role)
        pages.append((role, f"/area/{area.code}/", who))
        # the resources and key-area panels, which the page fetches after it is shown
        pages.append((f"{role} panels", f"/area/{area.code}/panels/", who))
    pid = backend_pid()
    for name, url, who in pages:
        if pid is not None:  # warm (templates, the chart library) before the CPU is counted
            _time_page(who, url, 1)
        before = _cpu_sample(pid)
        row = {"page": name, **_time_page(who, url, int(payload["repeat"]))}
        cpu = _cpu_between(before, _cpu_sample(pid))
        calls = int(payload["repeat"]) + 2  # _time_page's warm-up, the timed calls, the count
        row["cpu_ms_per_call"] = round(1e3 * (cpu["cpu_s"] or 0.0) / calls, 1)
        if cpu["db_cpu_s"] is not None and pid == backend_pid():
            row["db_cpu_ms_per_call"] = round(1e3 * cpu["db_cpu_s"] / calls, 1)
        log(f"page {name}: {row}")
        rows.append(row)
    return {"pages": rows}


def _psql(sql: str, *, check: bool = True) -> None:
    subprocess.run([*PSQL, "-qc", sql], check=check, capture_output=True)


def _drop(*dbs: str) -> None:
    for db in dbs:
        _psql(f"DROP DATABASE IF EXISTS {db} WITH (FORCE)", check=False)


def _kept_setup(sub: Path, db: str, label: str) -> dict[str, Any] | None:
    """The set-up a ``--keep`` run left in ``sub`` (its ``setup.json``) and database ``db``,
    marked as reused; None when either is gone."""
    kept = sub / "setup.json"
    if not (kept.exists() and _db_exists(db)):
        return None
    log(f"{label}: set-up of {sub} and {db} reused")
    setup: dict[str, Any] = json.loads(kept.read_text(encoding="utf-8"))
    return setup | {"reused": True}


def _fresh_db(db: str = PG_DB, template: str | None = None) -> None:
    """``db`` made again, empty or as a copy of ``template``. The copy is made by files
    (``STRATEGY FILE_COPY``, between two checkpoints), not through the WAL, PostgreSQL 15's
    default: that wrote the nation's 16 GB to the WAL just before the timed import, whose own
    writes then met the checkpoints it forced (five imports of the nation's day: 44-56 s), and
    a deployment's import starts from a settled database."""
    _psql(f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")
    copy = f" TEMPLATE {template} STRATEGY FILE_COPY" if template else ""
    _psql(f"CREATE DATABASE {db}{copy}")


def _db_env(db: str, sub: Path) -> dict[str, str]:
    env = sqlite_env(sub / "unused")
    env["DATABASE_URL"] = f"{PG_ADMIN_URL}/{db}"
    return env


def setup_timeout(days: int) -> float:
    """How long a set-up of ``days`` days of history may take (seconds)."""
    return max(STEP_TIMEOUT_S, days * SETUP_TIMEOUT_PER_DAY_S)


def _set_up(
    scale: str, *, days: int, sub: Path, db: str = PG_DB, offset: int = 0, vacuum: bool = True
) -> dict[str, Any]:
    """A fresh database ``db`` with the tree and ``days`` days of history (set-up child)."""
    sub.mkdir(parents=True, exist_ok=True)
    _fresh_db(db)
    progress = sub / "setup.json"
    payload = {"scale": scale, "days": days, "workdir": str(sub), "progress": str(progress)}
    setup = run_child(
        "bench.national:setup_child",
        payload | {"offset": offset, "vacuum": vacuum},
        env=_db_env(db, sub),
        workdir=sub,
        timeout=setup_timeout(days),
    )
    if "timed_out" in setup and progress.exists():
        setup.update(json.loads(progress.read_text(encoding="utf-8")))
    log(f"{scale} ({days} days): set-up {json.dumps(setup)}")
    return setup


def _timed_steps(
    label: str, setup: dict[str, Any], *, db: str, sub: Path, pages: dict[str, Any]
) -> dict[str, Any]:
    """The timed steps on database ``db``, each in its own process: the new day's import, the
    cycle for it, the pages."""
    row: dict[str, Any] = {}
    steps: tuple[tuple[str, str, dict[str, Any]], ...] = (
        ("import", "bench.national:import_child", {"csv": setup["new_day_csv"]}),
        ("cycle", "bench.national:cycle_child", {}),
        ("pages", "bench.national:pages_child", pages),
    )
    env = _db_env(db, sub)
    for name, target, payload in steps:
        out = run_child(target, payload, env=env, workdir=sub, timeout=STEP_TIMEOUT_S)
        log(f"{label}: {name} {json.dumps(out)}")
        row[name] = out
    return row


def dask_db() -> str:
    """The database of the cycle on Dask (``--dask``), a second copy of the set-up."""
    return f"{PG_DB}_dask"


#: Workers of the ``--dask`` run's LocalCluster (the pool's number on this 2-core machine).
DASK_WORKERS = 2

#: What a cycle leaves, as ``(rows, md5 of the rows in key order)`` per table: the day's
#: judgements with their sentences and evidence, the texts the evidence shares, the signals,
#: tasks and flags (their figures, state and evidence; not their wall-clock stamps), the day's
#: roll-ups. ``--dask`` compares these between the pool's run and Dask's.
OUTPUTS = {
    "judgements": "SELECT count(*), md5(string_agg(concat_ws('|', area_id, indicator_id, date, "
    "level, phase, rebound_detected, pooled, text_zh, text_en, evidence::text), E'\\n' "
    "ORDER BY area_id, indicator_id, date)) FROM assessments_judgement WHERE date = '{day}'",
    "evidence texts": "SELECT count(*), md5(string_agg(concat_ws('|', key, text), E'\\n' "
    "ORDER BY key)) FROM assessments_evidencetext",
    "signals": "SELECT count(*), md5(string_agg(concat_ws('|', s.date, s.method, s.observed, "
    "s.expected, s.threshold, s.score, s.params::text, s.area_id, s.indicator_id, s.rule_id), "
    "E'\\n' ORDER BY s.rule_id, s.area_id, s.date)) FROM rw_signals_signal s",
    "tasks": "SELECT count(*), md5(string_agg(concat_ws('|', source_key, area_id, date, status, "
    "priority, owner_role, owner_area_id, due_ack, due_done, next_escalation, escalations, "
    "outcome, auto_reason, kind_id, evidence::text), E'\\n' ORDER BY source_key)) "
    "FROM dispatch_task",
    "flags": "SELECT count(*), md5(string_agg(concat_ws('|', area_id, date, indicator, method, "
    "value, score, baseline, scale, status), E'\\n' ORDER BY area_id, date, indicator, method)) "
    "FROM intake_outlierflag",
    "roll-ups": "SELECT count(*), md5(string_agg(concat_ws('|', area_id, date, indicator_id, "
    "value, n_areas), E'\\n' ORDER BY area_id, date, indicator_id)) "
    "FROM reporting_aggregatevalue WHERE date = '{day}'",
}


def outputs(db: str) -> dict[str, list[Any]]:
    """:data:`OUTPUTS` of database ``db`` after the new day's cycle."""
    import psycopg

    found = {}
    with psycopg.connect(f"{PG_ADMIN_URL}/{db}") as conn:
        for name, sql in OUTPUTS.items():
            row = conn.execute(sql.format(day=NEW_DAY.isoformat())).fetchone()
            assert row is not None
            found[name] = [int(row[0]), row[1]]
    return found


def dask_cycle_child(payload: dict[str, Any]) -> dict[str, Any]:
    """:func:`cycle_child` with the cycle's validation, detection and assessment on a Dask
    ``LocalCluster`` of ``workers`` processes of one thread, started here: the workers take
    this process's environment (the database) and the allocator settings the cycle's pool
    gives its workers (``ruralwatch.core.allocators``, docs/deploy.md), and each decides
    whether its queries plan parallel workers as the pool does."""
    from distributed import LocalCluster

    from ruralwatch.core import allocators

    with LocalCluster(  # type: ignore[no-untyped-call]
        n_workers=int(payload["workers"]),
        threads_per_worker=1,
        processes=True,
        dashboard_address=None,
        env=allocators.export_for_workers(),
    ) as cluster:
        os.environ["RURALWATCH_DASK_SCHEDULER"] = cluster.scheduler_address
        return cycle_child(payload) | {"dask_workers": int(payload["workers"])}


def _import_day(csv: str, env: dict[str, str], sub: Path) -> dict[str, Any]:
    """The new day's file imported in a child process (:func:`import_child`) with ``env``."""
    return run_child(
        "bench.national:import_child", {"csv": csv}, env=env, workdir=sub, timeout=STEP_TIMEOUT_S
    )


def _dask_run(scale: str, setup: dict[str, Any], *, base: str, sub: Path) -> dict[str, Any]:
    """The new day imported into a second copy of the set-up (:func:`dask_db`) and its cycle run on
    a Dask ``LocalCluster`` (:func:`dask_cycle_child`), each in its own process; then its
    :func:`outputs` compared with those the pool's (or in-process) run left in ``PG_DB``.
    The copy is dropped afterwards."""
    db = dask_db()
    _fresh_db(db, base)
    env = _db_env(db, sub)
    try:
        imported = _import_day(setup["new_day_csv"], env, sub)
        cycle = run_child(
            "bench.national:dask_cycle_child",
            {"workers": DASK_WORKERS},
            env=env,
            workdir=sub,
            timeout=STEP_TIMEOUT_S,
        )
        log(f"{scale}: the cycle on a {DASK_WORKERS}-worker Dask LocalCluster {json.dumps(cycle)}")
        pool, dask = outputs(PG_DB), outputs(db)
    finally:
        _drop(db)
    compared = {name: {"rows": dask[name][0], "same": dask[name] == pool[name]} for name in OUTPUTS}
    out = {
        "import_s": imported.get("import_s"),
        "cycle": cycle,
        "outputs": compared,
        "identical": all(c["same"] for c in compared.values()),
    }
    log(f"{scale}: Dask's outputs against the first run's {json.dumps(compared)}")
    return out


def _setup_db(scale: str, days: int) -> str:
    """The database a scale's set-up is kept in (``--keep``), copied for the timed steps."""
    return f"{PG_DB}_{scale.replace(':', '')}_{days}"


def run_scale(
    scale: str,
    *,
    days: int,
    workdir: Path,
    repeat: int,
    reuse: bool = False,
    in_place: bool = False,
    dask: bool = False,
) -> dict[str, Any]:
    """Set ``scale`` up in its own database (or, with ``reuse``, take the one a ``--keep`` run
    left, with its ``workdir/<scale>/setup.json`` and new day's file: the set-up of the nation
    is 8-25 minutes and is not timed), then time the steps on a copy of it, or ``in_place``
    on the set-up itself (which is then spent: the timed steps leave the new day in it).
    With ``dask``, the same import and cycle again on a second copy, the cycle on a Dask
    ``LocalCluster`` (:func:`_dask_run`), and its outputs compared with the first's.
    Refuses, before anything is written, a set-up the disk cannot hold (:func:`disk_check`)."""
    if dask and in_place:
        raise ValueError("--dask compares two copies of the set-up: not with --in-place")
    sub = workdir / scale
    row: dict[str, Any] = {"scale": scale, "days": days, "load_before": os.getloadavg()}
    base = _setup_db(scale, days)
    kept = _kept_setup(sub, base, f"{scale} ({days} days)") if reuse else None
    copies = 0 if in_place else 2 if dask else 1
    if kept is None or copies > 1:
        disk_check(scale, days, copies=copies, set_up=kept is None)
    row["setup"] = setup = kept or _set_up(scale, days=days, sub=sub, db=base)
    if "new_day_csv" not in setup or not Path(setup["new_day_csv"]).exists():
        return row
    if kept is not None and setup.get("spent"):
        raise SystemExit(f"{base} was timed in place (--in-place): set it up again")
    if kept is not None and "day_before_cycle_s" not in setup:  # kept by older code
        env = _db_env(base, sub)
        before = run_child("bench.national:day_before_child", {}, env=env, workdir=sub)
        stored = {k: v for k, v in setup.items() if k != "reused"}
        _progress(str(sub / "setup.json"), stored, day_before_cycle_s=before["day_before_cycle_s"])
        setup["day_before_cycle_s"] = before["day_before_cycle_s"]
        log(f"{scale}: the day before's cycle added to the kept set-up {json.dumps(before)}")
    db = base if in_place else PG_DB
    if in_place:
        _progress(str(sub / "setup.json"), setup, spent=True)
    else:
        _fresh_db(PG_DB, base)
    if kept is not None:  # a set-up made by older code: its migrations first, not timed
        env = _db_env(db, sub)
        migrated = run_child("bench.national:migrate_child", {}, env=env, workdir=sub)
        row["reuse_migrate_s"] = migrated["migrate_s"]
    row |= _timed_steps(scale, setup, db=db, sub=sub, pages={"repeat": repeat})
    if dask:
        row["dask"] = _dask_run(scale, setup, base=base, sub=sub)
    row["in_place"] = in_place
    row["load_after"] = os.getloadavg()
    return row


#: Bytes of disk a village value of the history costs, with its share of the submissions and
#: roll-ups and every table's keys, the values' key apart: the nation's 14 days, 73.2 million
#: values, took 11,098 MiB (values and their keys, of which 4.2 GiB the values' key), 1,010
#: (submissions), 1,010 (roll-ups) and 109 (completeness).
BYTES_PER_VALUE = 130
#: The values' key (area, date, indicator, carrying the value) as one sort builds it; a sort of
#: the whole history needs about as much again while it runs.
KEY_BYTES_PER_VALUE = 60
#: Kept free on top of the estimate (WAL, the new day, the judgements and signals).
DISK_MARGIN = 8 * 2**30
#: Villages per named scale (the real 2016 tree).
VILLAGES = {"county": 362, "province": 50_757, "provinces4": 130_711, "nation": 666_655}


class DiskTooSmall(SystemExit):
    """A set-up the database server's disk cannot hold (:func:`disk_check`)."""


def disk_needed(villages: int, days: int, *, copies: int = 1, set_up: bool = True) -> int:
    """Bytes a set-up of ``days`` days for ``villages`` needs at most, and ``copies`` copies of
    it for the timed steps (none in place, two with ``--dask``): the tables, the sort that
    builds the values' key of one day's partition (the set-up makes a partition a day; a key
    over the whole history needed a sort of all of it, about 18 GiB for the nation's 60
    days); without ``set_up`` (a kept one), the copies alone."""
    values = villages * 8 * (days + 1)
    stored = values * (BYTES_PER_VALUE + KEY_BYTES_PER_VALUE)
    sort = villages * 8 * KEY_BYTES_PER_VALUE
    return int(stored * copies + (stored + sort if set_up else 0))


def _data_directory_free() -> int:
    """Free bytes where PostgreSQL keeps its data (this machine's server)."""
    import shutil

    out = subprocess.run(
        [*PSQL, "-Atc", "SHOW data_directory"], check=True, capture_output=True, text=True
    )
    return shutil.disk_usage(out.stdout.strip()).free


def disk_check(scale: str, days: int, *, copies: int, set_up: bool = True) -> None:
    """Stop with a message saying what is needed and what is free when the set-up (unless
    kept) and its ``copies`` would not fit on the database server's disk with
    :data:`DISK_MARGIN` to spare: a full disk stops PostgreSQL in the middle of a write."""
    villages = VILLAGES.get(scale)
    if villages is None:  # a single province: at most a tenth of the nation
        return
    need = disk_needed(villages, days, copies=copies, set_up=set_up)
    free = _data_directory_free()
    if need + DISK_MARGIN > free:
        gib = 2**30
        raise DiskTooSmall(
            f"{scale} with {days} days of history needs about {need / gib:,.0f} GiB on the "
            f"database server's disk (plus {DISK_MARGIN / gib:.0f} GiB to spare); "
            f"{free / gib:,.0f} GiB are free. Drop the benchmark's kept databases, or time it "
            "--in-place (no copy), or with fewer days."
        )


def run(*, quick: bool, workdir: Path) -> dict[str, Any]:
    scales = ("county", "province") if quick else SCALE_ORDER
    days = 14 if quick else DAYS
    # The nation is timed in place (no copy). A scale the disk cannot hold is said so in its
    # row, and the others run: the nation's 60 days need about 58 GiB (disk_needed).
    rows = []
    for s in scales:
        try:
            rows.append(
                run_scale(s, days=days, workdir=workdir, repeat=PAGE_REPEAT, in_place=s == "nation")
            )
        except DiskTooSmall as exc:
            log(str(exc))
            rows.append({"scale": s, "days": days, "skipped": str(exc)})
    _drop(PG_DB, *(_setup_db(s, days) for s in scales))
    if not quick:
        write_plot(rows)
    return {"rows": rows, "targets": TARGETS, "new_day": NEW_DAY.isoformat()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--scale", action="append", type=_scale, help=f"{', '.join(SCALE_ORDER)} or province:NN"
    )
    parser.add_argument(
        "--days",
        type=int,
        action="append",
        help=f"days of history (COPY; default {DAYS}); with --growth, give each length",
    )
    parser.add_argument("--repeat", type=int, default=PAGE_REPEAT)
    parser.add_argument(
        "--keep", action="store_true", help="keep the set-up databases afterwards (for --reuse)"
    )
    parser.add_argument(
        "--growth",
        action="store_true",
        help="the same scale with each --days of history: cost ratio, longest over shortest",
    )
    parser.add_argument("--rounds", type=int, default=GROWTH_ROUNDS, help="with --growth")
    parser.add_argument(
        "--reuse",
        type=Path,
        help="the work directory of a --keep run, whose set-ups (databases, new day's files) "
        "are reused: only the timed steps run, on a copy",
    )
    parser.add_argument(
        "--index-probe",
        action="store_true",
        help="with --growth: time REINDEX of the values with maintenance_work_mem 64MB and 1GB",
    )
    parser.add_argument(
        "--wal-probe",
        action="store_true",
        help="with --reuse: the new day's import with each wal_compression, --rounds times "
        "(docs/deploy.md)",
    )
    parser.add_argument(
        "--in-place",
        action="store_true",
        help="time the steps on the set-up database itself, not on a copy (a set-up the disk "
        "cannot hold twice); it cannot be timed again",
    )
    parser.add_argument(
        "--dask",
        action="store_true",
        help=f"also import the new day into a second copy and run its cycle on a "
        f"{DASK_WORKERS}-worker Dask LocalCluster; its time, and its outputs compared with the "
        "first run's",
    )
    parser.add_argument("--out", type=Path, help="write the JSON result here")
    parser.add_argument(
        "--save",
        action="store_true",
        help="merge the scales run into bench/results/national.json (by scale) and rewrite "
        "docs/benchmarks.md and the plot",
    )
    args = parser.parse_args()
    if args.dask and args.in_place:
        parser.error("--dask compares the runs on two copies of the set-up: not with --in-place")
    workdir = args.reuse or Path(tempfile.mkdtemp(prefix="bench-national-"))
    if args.growth:
        return growth_main(args, workdir)
    if args.wal_probe:
        if args.reuse is None:
            parser.error("--wal-probe times a kept set-up: give --reuse DIR")
        days = (args.days or [DAYS])[-1]
        rows = [
            r
            for s in args.scale or ["provinces4"]
            for r in wal_probe(s, days=days, workdir=workdir, rounds=args.rounds)
        ]
        print(json.dumps(rows, indent=1))
        return None
    t0, load_before = time.perf_counter(), os.getloadavg()
    days = (args.days or [DAYS])[-1]
    scales = args.scale or list(SCALE_ORDER)
    rows = [
        run_scale(
            s,
            days=days,
            workdir=workdir,
            repeat=args.repeat,
            reuse=args.reuse is not None,
            in_place=args.in_place,
            dask=args.dask,
        )
        for s in scales
    ]
    if not args.keep:
        _drop(PG_DB, *(_setup_db(s, days) for s in scales))
    if args.save:
        from bench import report
        from bench._util import RESULTS_DIR, machine_info, save_result

        old = RESULTS_DIR / "national.json"
        kept = json.loads(old.read_text(encoding="utf-8"))["rows"] if old.exists() else []
        ran = {r["scale"] for r in rows}
        merged = [r for r in kept if r["scale"] not in ran] + rows
        merged.sort(key=_scale_key)
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
    for r in rows:
        if r["scale"] == "nation" and "cycle" in r:
            log("the nation against the targets:\n" + "\n".join(verdict_lines(r)))
        if "cycle" in r:
            log(f"where the cycle's CPU goes ({r['scale']}):\n" + "\n".join(cpu_lines(r)))
        heaviest = statement_lines(r)
        if heaviest:
            log(
                f"the database's heaviest statements over the cycle ({r['scale']}, "
                "pg_stat_statements):\n" + "\n".join(heaviest)
            )
    text = json.dumps({"rows": rows, "targets": TARGETS}, indent=1, default=str)
    if args.out:
        args.out.write_text(text, encoding="utf-8")
    print(text)


# --------------------------------------------------------------------------------------------
# WAL compression and the import (docs/deploy.md, "Settings for a national deployment")
# --------------------------------------------------------------------------------------------

WAL_SETTINGS = ("off", "pglz", "lz4")


def wal_probe(scale: str, *, days: int, workdir: Path, rounds: int) -> list[dict[str, Any]]:
    """The new day's import of a kept set-up with each ``wal_compression`` (the importer's
    session, through ``PGOPTIONS``), the settings alternating, ``rounds`` times, each on a
    fresh copy after a checkpoint: the import's CPU and the WAL written. The WAL position is
    the cluster's, so nothing else should write meanwhile."""
    sub = workdir / scale
    kept = _kept_setup(sub, _setup_db(scale, days), f"{scale} ({days} days)")
    if kept is None:
        raise SystemExit(f"no kept set-up of {scale} ({days} days) in {sub}: run with --keep")

    def one(sql: str) -> str:
        return subprocess.run(
            [*PSQL, "-Atc", sql], check=True, capture_output=True, text=True
        ).stdout.strip()

    rows = []
    for r in range(rounds):
        for setting in WAL_SETTINGS:
            _fresh_db(PG_DB, _setup_db(scale, days))
            one("CHECKPOINT")
            start = one("SELECT pg_current_wal_lsn()")
            env = _db_env(PG_DB, sub) | {"PGOPTIONS": f"-c wal_compression={setting}"}
            out = _import_day(kept["new_day_csv"], env, sub)
            wal = float(one(f"SELECT pg_current_wal_lsn() - '{start}'::pg_lsn"))
            row = {"scale": scale, "round": r, "wal_compression": setting, "wal_mib": wal / 2**20}
            rows.append(row | out | {"load": os.getloadavg()})
            log(json.dumps(rows[-1]))
    _drop(PG_DB)
    return rows


# --------------------------------------------------------------------------------------------
# Growth over time (issue 15 item 4): the same tree with 60 and 365 days of history
# --------------------------------------------------------------------------------------------

GROWTH_DB = os.environ.get("RURALWATCH_BENCH_GROWTH_DB", "rw_bench_growth")
GROWTH_ROUNDS = 3
GROWTH_TARGET = 1.2  # the longest history may cost at most 20 % more
#: Index builds timed on the longest history, per maintenance_work_mem (docs/deploy.md).
INDEX_PROBE_MEMORY = ("64MB", "1GB")


def index_probe_child(payload: dict[str, Any]) -> dict[str, Any]:
    """REINDEX the report values' table with each ``maintenance_work_mem`` (session only)."""
    import django

    django.setup()
    from django.db import connection

    pid = backend_pid()
    rows = []
    with connection.cursor() as cur:
        cur.execute("SELECT count(*) FROM reporting_reportvalue")
        values = cur.fetchone()[0]
        for memory in payload["memory"]:
            cur.execute("SET maintenance_work_mem = %s", [memory])
            before = _cpu_sample(pid)
            cur.execute("REINDEX TABLE reporting_reportvalue")
            rows.append({"maintenance_work_mem": memory, **_cpu_between(before, _cpu_sample(pid))})
            log(f"REINDEX reporting_reportvalue ({values:,} rows), {memory}: {rows[-1]}")
        cur.execute("RESET maintenance_work_mem")
    return {"values": values, "runs": rows}


def _median(xs: list[float | None]) -> float | None:
    known = [x for x in xs if x is not None]
    return round(float(np.median(known)), 4) if known else None


def _growth_costs(run: dict[str, Any]) -> dict[str, dict[str, float | None]]:
    """One run's cost per measured item: wall seconds and CPU seconds (process + backend)."""

    def both(cpu: dict[str, Any] | None) -> float | None:
        if not cpu or cpu.get("cpu_s") is None:
            return None
        return float(cpu["cpu_s"]) + float(cpu.get("db_cpu_s") or 0.0)

    imp, cyc = run.get("import", {}), run.get("cycle", {})
    out = {"import": {"wall": imp.get("import_s"), "cpu": both(imp.get("cpu"))}}
    out["cycle"] = {"wall": cyc.get("cycle_s"), "cpu": both(cyc.get("cycle_cpu"))}
    for name, step in (cyc.get("steps_cpu") or {}).items():
        out[f"cycle: {name}"] = {"wall": step.get("wall_s"), "cpu": both(step)}
    for page in run.get("pages", {}).get("pages", []):
        cpu = page.get("cpu_ms_per_call")
        if cpu is not None and page.get("db_cpu_ms_per_call") is not None:
            cpu += page["db_cpu_ms_per_call"]
        # pages in ms: p95 of the server time, CPU per call
        out[f"page: {page['page']} (ms)"] = {"wall": page.get("p95_ms"), "cpu": cpu}
    return out


def growth_summary(runs: list[dict[str, Any]], lengths: list[int]) -> list[dict[str, Any]]:
    """Per item: the median over the rounds for each history length, and the ratio of the
    longest history's median to the shortest's (CPU decides; wall is shown beside it)."""
    costs = {d: [_growth_costs(r) for r in runs if r["days"] == d] for d in lengths}
    items = list(dict.fromkeys(k for d in lengths for c in costs[d] for k in c))
    rows = []
    for item in items:
        row: dict[str, Any] = {"item": item}
        for metric in ("wall", "cpu"):
            for d in lengths:
                row[f"{metric}_{d}"] = _median([c.get(item, {}).get(metric) for c in costs[d]])
            short, long = row[f"{metric}_{lengths[0]}"], row[f"{metric}_{lengths[-1]}"]
            row[f"{metric}_ratio"] = round(long / short, 3) if short and long is not None else None
        ratio = row["cpu_ratio"]
        row["within_target"] = None if ratio is None else ratio <= GROWTH_TARGET
        rows.append(row)
    return rows


def _db_exists(db: str) -> bool:
    sql = f"SELECT 1 FROM pg_database WHERE datname = '{db}'"
    proc = subprocess.run([*PSQL, "-tAc", sql], check=True, capture_output=True, text=True)
    return proc.stdout.strip() == "1"


def run_growth(
    scale: str,
    lengths: list[int],
    *,
    workdir: Path,
    repeat: int,
    rounds: int,
    keep: bool,
    reuse: bool = False,
    index_probe: bool = False,
) -> dict[str, Any]:
    """Set up ``scale`` once per history length (the shorter histories are the last days of
    the longest), then time import, cycle and pages on a fresh copy of each set-up database
    (``CREATE DATABASE ... TEMPLATE``), the lengths alternating, ``rounds`` times. With
    ``reuse``, a length whose database and ``workdir/growth-N/setup.json`` are left from a
    ``keep`` run is not set up again. ``index_probe``: time REINDEX of the values with each
    ``INDEX_PROBE_MEMORY`` on the longest history first."""
    from ruralwatch.synth.national import scale_prefixes

    lengths = sorted(set(lengths))
    longest = lengths[-1]
    prefixes = scale_prefixes(scale)
    pages: dict[str, Any] = {"repeat": repeat}
    if len(prefixes) == 1 and len(prefixes[0]) == 2:  # one province: its biggest county
        pages["province_prefix"] = prefixes[0]
    out: dict[str, Any] = {"scale": scale, "lengths": lengths, "rounds": rounds, "setups": {}}
    out["load_before"] = [round(x, 2) for x in os.getloadavg()]
    for days in lengths:
        sub = workdir / f"growth-{days}"
        kept = _kept_setup(sub, f"{GROWTH_DB}_{days}", f"{scale} ({days} days)") if reuse else None
        if kept is not None:
            out["setups"][str(days)] = kept
            continue
        setup = _set_up(
            scale,
            days=days,
            sub=sub,
            db=f"{GROWTH_DB}_{days}",
            offset=longest - days,
        )
        out["setups"][str(days)] = setup
        if "new_day_csv" not in setup:
            return out
    if index_probe:
        out["index_probe"] = run_child(
            "bench.national:index_probe_child",
            {"memory": [*INDEX_PROBE_MEMORY, *INDEX_PROBE_MEMORY]},  # twice, alternating
            env=_db_env(f"{GROWTH_DB}_{longest}", workdir),
            workdir=workdir,
            timeout=STEP_TIMEOUT_S,
        )
    runs = []
    run_db = f"{GROWTH_DB}_run"
    for r in range(rounds):
        for days in lengths if r % 2 == 0 else lengths[::-1]:
            run: dict[str, Any] = {"days": days, "round": r + 1}
            run["load_before"] = [round(x, 2) for x in os.getloadavg()]
            t = time.perf_counter()
            _fresh_db(run_db, f"{GROWTH_DB}_{days}")
            run["clone_s"] = round(time.perf_counter() - t, 1)
            sub = workdir / f"growth-{days}"
            label = f"{scale}, {days} days, round {r + 1}"
            run |= _timed_steps(label, out["setups"][str(days)], db=run_db, sub=sub, pages=pages)
            run["load_after"] = [round(x, 2) for x in os.getloadavg()]
            runs.append(run)
    _drop(run_db, *([] if keep else [f"{GROWTH_DB}_{days}" for days in lengths]))
    out["runs"] = runs
    out["summary"] = growth_summary(runs, lengths)
    out["load_after"] = [round(x, 2) for x in os.getloadavg()]
    return out


def growth_table(res: dict[str, Any]) -> list[str]:
    """The summary as a Markdown table (docs/national-scale.md)."""
    lengths = res["lengths"]

    def f(x: Any, digits: int = 2) -> str:
        return "–" if x is None else f"{x:,.{digits}f}"

    cpu = " | ".join(f"CPU {d} d" for d in lengths)
    wall = " | ".join(f"wall {d} d" for d in lengths)
    out = [
        f"| step | {cpu} | CPU ratio | {wall} | wall ratio |",
        "|---|" + "---|" * (2 * len(lengths) + 2),
    ]
    for row in res["summary"]:
        mark = {True: " ✓", False: " ✗", None: ""}[row["within_target"]]
        cpus = " | ".join(f(row[f"cpu_{d}"]) for d in lengths)
        walls = " | ".join(f(row[f"wall_{d}"]) for d in lengths)
        out.append(
            f"| {row['item']} | {cpus} | {f(row['cpu_ratio'])}{mark} | {walls} | "
            f"{f(row['wall_ratio'])} |"
        )
    return out


def _scale(text: str) -> str:
    from ruralwatch.synth.national import scale_prefixes

    try:
        scale_prefixes(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc
    return text


def _scale_key(row: dict[str, Any]) -> tuple[int, str]:
    """Named scales in their order, then single provinces by code."""
    scale = row["scale"]
    return (SCALE_ORDER.index(scale), "") if scale in SCALE_ORDER else (-1, scale)


def growth_main(args: argparse.Namespace, workdir: Path) -> None:
    if not args.scale or len(args.scale) != 1 or len(set(args.days or [])) < 2:
        raise SystemExit("--growth needs one --scale and at least two --days")
    t0 = time.perf_counter()
    res = run_growth(
        args.scale[0],
        args.days,
        workdir=workdir,
        repeat=args.repeat,
        rounds=args.rounds,
        keep=args.keep,
        reuse=args.reuse is not None,
        index_probe=args.index_probe,
    )
    res |= {"target_ratio": GROWTH_TARGET, "new_day": NEW_DAY.isoformat()}
    res["wall_s"] = round(time.perf_counter() - t0, 1)
    if args.save:
        from bench._util import RESULTS_DIR, machine_info, save_result

        old = RESULTS_DIR / "national_growth.json"
        kept = json.loads(old.read_text(encoding="utf-8"))["runs"] if old.exists() else []
        key = (res["scale"], tuple(res["lengths"]))
        merged = [r for r in kept if (r["scale"], tuple(r["lengths"])) != key] + [res]
        save_result(
            "national_growth",
            {
                "runs": merged,
                "benchmark": "national_growth",
                "finished": time.strftime("%Y-%m-%d %H:%M:%S %z"),
                "machine": machine_info(),
            },
        )
    text = json.dumps(res, indent=1, default=str)
    if args.out:
        args.out.write_text(text, encoding="utf-8")
    print(text)
    print("\n".join(growth_table(res)))


# --------------------------------------------------------------------------------------------
# Report: a table per step and scale, and the cost curve as a plot
# --------------------------------------------------------------------------------------------

PLOT = Path(__file__).resolve().parent.parent / "docs" / "benchmarks-national.png"
CURVE_STEPS = ("import", "validate", "roll_up", "detect", "assess", "tasks", "cycle")


def _curve(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The plot's points: the import and the cycle in wall seconds (what the targets are
    of), each step of the cycle in CPU seconds, its processes' and their backends'
    (:func:`cpu_rows`): on the pool the steps overlap, and a step's span (validation's
    reaches from the start to near the end) says when it ran, not what it cost."""
    points = []
    for r in rows:
        villages = r.get("setup", {}).get("villages")
        if not villages or "cycle" not in r:
            continue
        steps = {"import": r["import"].get("import_s"), "cycle": r["cycle"].get("cycle_s")}
        for c in cpu_rows(r)[:-1]:
            if c["cpu_s"] is not None and c["db_cpu_s"] is not None:
                steps[c["step"]] = c["cpu_s"] + c["db_cpu_s"]
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
        "title": {
            "text": "RuralWatch: one day against scale (PostgreSQL)",
            "subtitle": "import and cycle: wall seconds; each step of the cycle: CPU seconds "
            "(its processes and PostgreSQL)",
        },
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


def _step_cell(cycle: dict[str, Any], name: str) -> str:
    """A step's seconds, or where steps overlap on the pool when it ran (from–to, seconds
    after the cycle's start)."""
    seconds = (cycle.get("steps_s") or {}).get(name)
    began = (cycle.get("steps_began_s") or {}).get(name)
    if seconds is None:
        return "–"
    if began is None or (cycle.get("runners") or {}).get("assess", "in-process") == "in-process":
        return f"{seconds:,.1f}"
    return f"{began:.1f}–{began + seconds:.1f}"


def _peak_gib(row: dict[str, Any]) -> float | None:
    """The cycle's peak memory in GiB: its own process's and, on the pool, its workers' peaks
    added (as if they had coincided)."""
    cyc = row.get("cycle") or {}
    own = cyc.get("peak_rss_mib")
    if own is None:
        return None
    return (own + ((cyc.get("workers") or {}).get("peak_rss_sum_mib") or 0.0)) / 1024.0


def _worst_page(row: dict[str, Any]) -> tuple[str, float] | None:
    pages = (row.get("pages") or {}).get("pages") or []
    worst = max(pages, key=lambda p: p["p95_ms"], default=None)
    return None if worst is None else (worst["page"], worst["p95_ms"])


def verdicts(row: dict[str, Any]) -> list[dict[str, Any]]:
    """Each of the issue's targets against what ``row`` (one scale's run) measured: met or
    missed, and by how much (``ratio``: measured over the limit; ``over``: the excess)."""
    worst = _worst_page(row)
    measured: list[tuple[str, str, float, str, float | None]] = [
        (
            "import of the new day",
            "import",
            TARGETS["import_s"],
            "s",
            (row.get("import") or {}).get("import_s"),
        ),
        ("daily cycle", "cycle", TARGETS["cycle_s"], "s", (row.get("cycle") or {}).get("cycle_s")),
        ("cycle peak memory", "memory", TARGETS["cycle_peak_gib"], "GiB", _peak_gib(row)),
        (
            f"pages p95 (slowest: {worst[0]})" if worst else "pages p95",
            "pages",
            TARGETS["page_p95_ms"],
            "ms",
            worst[1] if worst else None,
        ),
    ]
    out = []
    for label, key, limit, unit, value in measured:
        v: dict[str, Any] = {"target": key, "label": label, "limit": limit, "unit": unit}
        v["measured"] = value
        v["met"] = None if value is None else value < limit
        v["ratio"] = None if value is None else round(value / limit, 2)
        v["over"] = None if value is None else round(max(value - limit, 0.0), 1)
        out.append(v)
    return out


def verdict_lines(row: dict[str, Any]) -> list[str]:
    """:func:`verdicts` as a Markdown table: the target, its limit, the figure, the verdict."""
    out = ["| target | limit | measured | verdict |", "|---|---|---|---|"]
    for v in verdicts(row):
        limit = f"< {v['limit']:g} {v['unit']}"
        if v["measured"] is None:
            out.append(f"| {v['label']} | {limit} | – | not measured |")
            continue
        said = (
            f"met ({v['ratio']:.2f} of the limit)"
            if v["met"]
            else f"**missed by {v['ratio']:.2f}×** ({v['over']:,.1f} {v['unit']} over)"
        )
        out.append(f"| {v['label']} | {limit} | {v['measured']:,.1f} {v['unit']} | {said} |")
    dask = row.get("dask")
    if dask:
        rows = ", ".join(f"{n} {c['rows']:,}" for n, c in dask["outputs"].items())
        same = (
            "identical"
            if dask["identical"]
            else "**not identical**: "
            + ", ".join(n for n, c in dask["outputs"].items() if not c["same"])
        )
        out.append(
            f"| the same cycle on a {DASK_WORKERS}-worker Dask LocalCluster (`--dask`) | "
            f"identical outputs; time reported | {dask['cycle']['cycle_s']:,.1f} s; {rows} | "
            f"{'met' if dask['identical'] else '**missed**'} ({same}) |"
        )
    return out


def cpu_rows(row: dict[str, Any]) -> list[dict[str, Any]]:
    """Where the cycle's CPU went, per step: what ran it (this process, or the pool's or
    Dask's workers), its process CPU and its PostgreSQL backends' CPU. A step run on workers
    is counted from its partitions (the cycle process only waited for it); the others from
    the cycle process's samples. The last row is the whole cycle: the cycle process and its
    backend over the whole run, plus every worker step."""
    cyc = row.get("cycle") or {}
    own = cyc.get("steps_cpu") or {}
    workers = cyc.get("workers") or {}
    on_workers = workers.get("steps_cpu") or {}
    runners = cyc.get("runners") or {}
    out = []
    for name in cyc.get("steps_s") or {}:  # in the cycle's order (run_cycle's STEP_ORDER)
        if name in on_workers:
            cpu = on_workers[name]
            where = runners.get(name, "workers")
        else:
            cpu = own.get(name) or {}
            where = "cycle process"
        out.append(
            {
                "step": name,
                "where": where,
                "ran": _step_cell(cyc, name),
                "cpu_s": cpu.get("cpu_s"),
                "db_cpu_s": cpu.get("db_cpu_s"),
            }
        )
    whole = cyc.get("cycle_cpu") or {}
    total = {"cpu_s": whole.get("cpu_s"), "db_cpu_s": whole.get("db_cpu_s")}
    for key in ("cpu_s", "db_cpu_s"):
        if total[key] is not None and on_workers:
            extra = workers.get(key)
            total[key] = None if extra is None else round(total[key] + extra, 3)
    out.append({"step": "cycle", "where": "all", "ran": _fmt(cyc.get("cycle_s")), **total})
    return out


def _fmt(x: Any) -> str:
    return "–" if x is None else f"{x:,.1f}"


def cpu_lines(row: dict[str, Any], cores: int | None = None) -> list[str]:
    """:func:`cpu_rows` as a Markdown table, the assessment's parts after it, and what the
    whole cycle's CPU means on this machine's cores: the shortest the cycle could take were
    every core busy all the time."""
    cores = cores or os.cpu_count() or 1
    out = [
        "| step | ran on | seconds (from–to on the pool) | process CPU (s) | PostgreSQL CPU (s) |",
        "|---|---|---|---|---|",
    ]
    rows = cpu_rows(row)
    for r in rows:
        out.append(
            f"| {r['step']} | {r['where']} | {r['ran']} | {_fmt(r['cpu_s'])} | "
            f"{_fmt(r['db_cpu_s'])} |"
        )
    cyc = row.get("cycle") or {}
    parts = cyc.get("assess_parts_s") or {}
    notes = []
    if parts:
        named = " / ".join(f"{k} {v:,.1f}" for k, v in parts.items())
        notes.append(f"The assessment's parts (seconds, summed over its partitions): {named}.")
    tasks = cyc.get("tasks_parts_s") or {}
    if tasks:
        spans = "; ".join(
            f"{name.replace('_', ' ')} {began:,.1f}–{began + seconds:,.1f}"
            for name, (began, seconds) in tasks.items()
        )
        notes.append(
            "The tasks step made the kinds whose causes are not judgements beside the "
            f"assessment and the rebound watch's after it (from–to): {spans}."
        )
    whole = rows[-1]
    if whole["cpu_s"] is not None and whole["db_cpu_s"] is not None:
        total = whole["cpu_s"] + whole["db_cpu_s"]
        floor = total / cores
        notes.append(
            f"The whole cycle used {total:,.1f} s of CPU (processes {whole['cpu_s']:,.1f} s, "
            f"PostgreSQL {whole['db_cpu_s']:,.1f} s; parallel query workers not counted): on "
            f"{cores} cores it cannot take less than {floor:,.1f} s, "
            + (
                f"{floor / TARGETS['cycle_s']:.2f} times the {TARGETS['cycle_s']:g} s target."
                if floor > TARGETS["cycle_s"]
                else f"within the {TARGETS['cycle_s']:g} s target."
            )
        )
        machine = cyc.get("machine_cpu") or {}
        if machine.get("busy_s"):
            busy, idle = machine["busy_s"], machine.get("idle_s", 0.0)
            notes.append(
                f"The machine's cores were busy {busy:,.1f} s and idle {idle:,.1f} s over the "
                f"cycle (/proc/stat): {busy - total:,.1f} s of work beside what is counted "
                "above (PostgreSQL's parallel workers, checkpointer, WAL writer and autovacuum, "
                "the kernel, anything else running)."
            )
        calibration = cyc.get("calibration") or {}
        if calibration.get("python_s"):
            py, db = calibration["python_s"], calibration.get("database_s") or []
            notes.append(
                "The machine's speed before and after the cycle (a fixed piece of work, "
                "seconds; docs/national-scale.md): Python "
                + " and ".join(f"{x:.3f}" for x in py)
                + (", database " + " and ".join(f"{x:.3f}" for x in db) if db else "")
                + "."
            )
    return out + (["", " ".join(notes)] if notes else [])


def report_section(res: dict[str, Any], title: str) -> list[str]:
    rows = [r for r in res["rows"] if "setup" in r]
    out = [
        title,
        "",
        "The real 2016 division tree cut to a scale (宜阳县 410327, 河南省, four provinces, the "
        "nation), synthetic reports for every village (`ruralwatch.synth.national`: a wave per "
        "province, most villages zero most days, 2 % of village-days missing), a history of "
        f"{rows[0]['days'] if rows else '–'} days COPYed in, validated as the night before "
        "left it, and the day before's cycle run (its signals, tasks and judgements: the timed "
        "cycle is a morning after yesterday's, not a database's first) (set-up, not timed), "
        "then one new day "
        "(8 indicators per village) imported through `import_reports` and the daily cycle run "
        "for it, each in its own process on PostgreSQL. Reproduce: "
        "`python -m bench.national --scale province --days 14` (or `python -m bench --only "
        "national` for all four scales; `--keep`, then `--reuse DIR`, times a kept set-up "
        "again; `--dask` runs the cycle again on a second copy on a two-worker Dask "
        "`LocalCluster` and compares what both runs stored). Over more than one province the "
        "cycle's validation, detection and assessment run on its pool of worker processes "
        "(`RURALWATCH_CYCLE_WORKERS`, docs/deploy.md): "
        "the runner column; its peak memory is then the cycle's own process and the sum of "
        "the workers' peaks. There the steps overlap (validation beside the roll-up, "
        "detection, assessment and tasks): a step's cell says when it ran, from–to in "
        "seconds after the cycle's start, and the cycle is the last step's end.",
        "",
        "| scale | villages | areas | history values | import (s) | cycle (s) | runner | "
        "validate | roll-up | detect | assess | tasks | cycle peak memory (MiB) | "
        "pages p95 (ms) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        setup, cyc = r["setup"], r.get("cycle", {})
        pages = " / ".join(
            f"{p['page']} {p['p95_ms']:.0f}" for p in r.get("pages", {}).get("pages", [])
        )
        workers = cyc.get("workers") or {}
        peak = _fmt(cyc.get("peak_rss_mib"))
        if workers.get("peak_rss_sum_mib"):
            peak += f" + {_fmt(workers['peak_rss_sum_mib'])}"
        runner = (cyc.get("runners") or {}).get("assess", "in-process")
        out.append(
            f"| {r['scale']} | {setup.get('villages', 0):,} | {setup.get('areas', 0):,} | "
            f"{setup.get('history_values', 0):,} | {_fmt(r.get('import', {}).get('import_s'))} | "
            f"{_fmt(cyc.get('cycle_s'))} | {runner} | "
            + " | ".join(_step_cell(cyc, n) for n in ("validate", "roll_up", "detect", "assess"))
            + f" | {_step_cell(cyc, 'tasks')} | {peak} | {pages or '–'} |"
        )
    out += [
        "",
        f"Targets at national scale: import < {TARGETS['import_s']:g} s, cycle < "
        f"{TARGETS['cycle_s']:g} s, cycle peak memory < {TARGETS['cycle_peak_gib']:g} GiB, "
        f"pages p95 < {TARGETS['page_p95_ms']:g} ms.",
        "",
    ]
    for r in res["rows"]:
        if "skipped" in r:
            out += [f"Not run: {r['skipped']}", ""]
    nation = next((r for r in rows if r["scale"] == "nation" and "cycle" in r), None)
    if nation is not None:
        out += ["The nation against the targets:", "", *verdict_lines(nation), ""]
    largest = max(
        (r for r in rows if "cycle" in r), key=lambda r: r["setup"].get("villages", 0), default=None
    )
    if largest is not None:
        out += [
            f"Where the cycle's CPU goes ({largest['scale']}; CPU seconds of the processes and "
            "of their PostgreSQL backends, from /proc):",
            "",
            *cpu_lines(largest, (res.get("machine") or {}).get("cores")),
            "",
        ]
    if PLOT.exists():
        out += [
            "![the import and the cycle in wall seconds, each step in CPU seconds, against "
            "villages](benchmarks-national.png)",
            "",
        ]
    return out


if __name__ == "__main__":
    main()
