"""The demo region's rebuild and bulk inserts on SQLite, before and after the write-path
changes of 4 December 2026 (docs/testing.md, "A quiet `make test`").

    python -m bench.rebuild            # JSON on stdout, progress on stderr

Set-up (not timed): the demo with its key-group registry (``ruralwatch demo --no-serve``) in a
scratch SQLite file. Then each step runs in its own process on a fresh copy of that file:

- ``delete``: ``areas.services.delete_subtree`` of the demo's province, in the model graph's
  order (as before: every key-group person is first set to NULL by its doctor's deletion)
  and in the dependency order (``_deletion_order``).
- ``insert``: the demo's report values inserted again two years later, one day at a time in
  a savepoint each, inside one enclosing transaction (as in a database test or a caller's
  ``atomic`` block): by ``executemany`` into the table (one statement per row, each firing
  the data-change trigger) and by ``core.bulk.append`` (a temporary table and one
  ``INSERT … SELECT``); rolled back.

- ``retier`` (PostgreSQL): the same demo built on a scratch PostgreSQL database; the cycle's
  retiering of its key-group registry (``keygroups.services.retier`` of the demo's last day)
  with the person and contact indexes of migration ``keygroups.0005`` and with the indexes it
  dropped made again; each in a transaction rolled back, each twice (the second is given).

Wall seconds with the process's CPU seconds (``time.process_time``) beside them.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench._util import PG_ADMIN_URL, log, run_child, sqlite_env

PG_DB = "rw_bench_rebuild"
#: The demo's last day (ruralwatch.cycle.demo.DEMO_END), the day its cycle retiers on.
DEMO_END = "2023-02-05"


class _Rollback(Exception):
    pass


def _clock() -> tuple[float, float]:
    return time.perf_counter(), time.process_time()


def _since(start: tuple[float, float]) -> dict[str, float]:
    wall, cpu = _clock()
    return {"wall_s": round(wall - start[0], 2), "cpu_s": round(cpu - start[1], 2)}


def delete_child(payload: dict[str, Any]) -> dict[str, Any]:
    import django

    django.setup()
    from ruralwatch.areas import services
    from ruralwatch.areas.models import Area

    if not payload["ordered"]:
        services._deletion_order = lambda rels: rels
    root = Area.objects.get(level=1).code
    start = _clock()
    areas = services.delete_subtree(root)
    return {"areas": areas, **_since(start)}


def insert_child(payload: dict[str, Any]) -> dict[str, Any]:
    import django

    django.setup()
    import polars as pl
    from django.db import connection, transaction

    from ruralwatch.core import bulk
    from ruralwatch.reporting.models import ReportValue

    table = ReportValue._meta.db_table
    cols = ["area_id", "date", "indicator_id", "value", "reporter", "submitted_at", "batch_id"]
    frame = bulk.fetch_frame(f"SELECT {', '.join(cols)} FROM {table}")
    frame.columns = cols
    # The same values two years later (no key taken), one day at a time as the importer
    # writes a day's file.
    frame = frame.with_columns(
        (pl.col("date").cast(pl.Date) + pl.duration(days=730)).cast(pl.String).alias("date")
    )
    days = frame.partition_by("date", maintain_order=True)
    out: dict[str, Any] = {"values": frame.height, "days": len(days)}
    marks = ", ".join(["%s"] * len(cols))
    sql = f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({marks})"
    for how in ("executemany", "append"):
        try:
            with transaction.atomic():
                start = _clock()
                for day in days:
                    with transaction.atomic():  # a savepoint, as the importer's write has
                        if how == "append":
                            bulk.append(table, day)
                        else:
                            with connection.cursor() as cur:
                                cur.executemany(sql, day.rows())
                out[how] = _since(start)
                raise _Rollback
        except _Rollback:
            pass
    return out


def retier_child(payload: dict[str, Any]) -> dict[str, Any]:
    import datetime as dt
    import importlib

    import django

    django.setup()
    from django.db import connection, transaction

    from ruralwatch.keygroups.services import retier

    dropped = importlib.import_module(
        "ruralwatch.keygroups.migrations.0005_person_contact_indexes_once"
    )
    on = dt.date.fromisoformat(payload["on"])
    out: dict[str, Any] = {}
    for label in ("indexes of 0005", "dropped indexes made again"):
        for _ in range(2):
            try:
                with transaction.atomic():
                    if label != "indexes of 0005":
                        with connection.schema_editor() as editor:
                            dropped.create(None, editor)
                    start = _clock()
                    out["persons"] = retier(on)
                    out[label] = _since(start)
                    raise _Rollback
            except _Rollback:
                pass
    return out


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="bench-rebuild-"))
    built = work / "built"
    built.mkdir()
    log("set-up: the demo with its key-group registry (a few minutes)")
    env = sqlite_env(built)
    exe = Path(sys.executable).parent / "ruralwatch"
    subprocess.run(
        [str(exe), "demo", "--no-serve", "--out", str(work / "out")],
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    source = built / "ruralwatch.sqlite3"
    import sqlite3

    with sqlite3.connect(source) as db:  # one file to copy
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    result: dict[str, Any] = {"load_before": os.getloadavg()}
    steps = [
        ("delete, model order", "delete_child", {"ordered": False}),
        ("delete, dependency order", "delete_child", {"ordered": True}),
        ("insert the demo's values in a transaction", "insert_child", {}),
    ]
    for label, child, payload in steps:
        var = work / "copy"
        shutil.rmtree(var, ignore_errors=True)
        var.mkdir()
        shutil.copy(source, var / "ruralwatch.sqlite3")
        shutil.copy(built / "secrets.env", var / "secrets.env")
        out = run_child(f"bench.rebuild:{child}", payload, env=sqlite_env(var), workdir=work)
        log(f"{label}: {json.dumps(out)}")
        result[label] = out
    log("set-up: the same demo on PostgreSQL (a few minutes)")
    pg_env = sqlite_env(work / "pg")
    pg_env["DATABASE_URL"] = f"{PG_ADMIN_URL}/{PG_DB}"
    psql = ["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", "postgres", "-qc"]
    subprocess.run([*psql, f"DROP DATABASE IF EXISTS {PG_DB} WITH (FORCE)"], check=True)
    subprocess.run([*psql, f"CREATE DATABASE {PG_DB}"], check=True)
    try:
        subprocess.run(
            [str(exe), "demo", "--no-serve", "--out", str(work / "pg-out")],
            env=pg_env,
            check=True,
            stdout=subprocess.DEVNULL,
        )
        out = run_child("bench.rebuild:retier_child", {"on": DEMO_END}, env=pg_env, workdir=work)
        log(f"retier on PostgreSQL: {json.dumps(out)}")
        result["retier on PostgreSQL"] = out
    finally:
        subprocess.run([*psql, f"DROP DATABASE IF EXISTS {PG_DB} WITH (FORCE)"], check=False)
    result["load_after"] = os.getloadavg()
    shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
