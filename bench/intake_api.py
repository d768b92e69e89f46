"""Throughput of the bulk JSON intake API (``POST /api/intake/values``), SQLite and PostgreSQL.

    python -m bench.intake_api [--requests 10] [--quick]

In a fresh interpreter per database: migrate a scratch database (SQLite under a temporary
directory; PostgreSQL ``rw_bench_h4``), load a real county of the 2016 division tree (131124,
200 villages), make a county user and an API token, then send ``--requests`` requests of
10,000 values each through Django's full request stack (token authentication, the rate limit,
JSON parsing, the report checks, the validation rules, the staging upsert), once with new
values (inserts), once again unchanged, once with every value changed (updates). Values per
second is values / wall time of the request. Target: 50,000 values/s.

The result goes to ``bench/results/intake_api.json`` and Markdown lines to stdout.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from bench._util import PG_ADMIN_URL, REPO_DIR, machine_info, run_child, save_result, sqlite_env

PG_DB = "rw_bench_h4"
COUNTY = "131124000000"
ADMIN_2016 = REPO_DIR.parent / "shared" / "data" / "admin" / "cn_divisions_2016_village.csv.gz"
INDICATORS = ("fever_visits", "antigen_pos", "pcr_pos", "new_cases", "severe_cases")
PER_REQUEST = 10_000
TARGET = 50_000


def _payloads(
    villages: list[str], n_requests: int, shift: int, first: dt.date = dt.date(2023, 1, 1)
) -> list[bytes]:
    """``n_requests`` bodies of 10,000 values: every village × indicator, day after day."""
    out = []
    values: list[dict[str, Any]] = []
    day = first
    while len(out) < n_requests:
        for v in villages:
            for ind in INDICATORS:
                values.append(
                    {
                        "area": v,
                        "date": day.isoformat(),
                        "indicator": ind,
                        # Plausible counts: new cases never above the positives (the default
                        # rules pass), as most real reports do.
                        "value": ((hash((v, day)) + shift) % 7) // (2 if ind == "new_cases" else 1),
                        "submitted_at": f"{day.isoformat()}T20:00:00+08:00",
                    }
                )
                if len(values) == PER_REQUEST:
                    out.append(json.dumps({"values": values}).encode())
                    values = []
        day += dt.timedelta(days=1)
    return out


def child(payload: dict[str, Any]) -> dict[str, Any]:
    """In a fresh interpreter on the database the environment names."""
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.test import Client

    db = settings.DATABASES["default"]
    if db["ENGINE"].endswith("sqlite3"):
        Path(db["NAME"]).parent.mkdir(parents=True, exist_ok=True)
    call_command("migrate", interactive=False, verbosity=0)
    settings.RURALWATCH_INTAKE_RATE_PER_MINUTE = 1_000_000
    settings.ALLOWED_HOSTS = ["*"]
    from ruralwatch.accounts.services import create_user_with_jurisdiction
    from ruralwatch.api.services import create_token
    from ruralwatch.areas.models import Area
    from ruralwatch.areas.services import import_areas

    import_areas(ADMIN_2016, root=COUNTY)
    villages = list(
        Area.objects.filter(level=5, path__contains=COUNTY)
        .order_by("code")
        .values_list("code", flat=True)
    )
    user = create_user_with_jurisdiction("bench-system", "bench-pw-1234", COUNTY, "county")
    _t, plain = create_token(user, "bench")
    client = Client(HTTP_AUTHORIZATION=f"Bearer {plain}")
    n = int(payload["requests"])
    result: dict[str, Any] = {
        "villages": len(villages),
        "values_per_request": PER_REQUEST,
        "history_values": int(payload["history"]) * PER_REQUEST,
        "load_average_before": os.getloadavg()[0],
    }
    client.get("/api/auth/me")  # the first request loads the URLconf: not part of the figure
    from ruralwatch.core import bulk

    # A history before the measured requests (not timed), then the statistics that
    # autovacuum's analyze keeps current in a running deployment (it lags in a short run).
    for body in _payloads(villages, int(payload["history"]), 0, dt.date(2022, 10, 1)):
        client.post("/api/intake/values", data=body, content_type="application/json")
    tables = ("reporting_reportvalue", "reporting_submission", "intake_violation")
    from django.db import connection

    def database_cpu() -> float:
        """CPU seconds of this connection's PostgreSQL backend (a local server), else 0."""
        if connection.vendor != "postgresql":
            return 0.0
        pid = bulk.scalar("SELECT pg_backend_pid()")
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    for phase, shift in (("insert", 0), ("unchanged", 0), ("update", 3)):
        bulk.analyze(*tables)
        bodies = _payloads(villages, n, shift)
        times, cpu = [], []
        db0 = database_cpu()
        for body in bodies:
            t0, c0 = time.perf_counter(), time.process_time()
            r = client.post("/api/intake/values", data=body, content_type="application/json")
            times.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
            answer = r.json()
            if r.status_code != 200 or answer["conflicts"]:
                raise RuntimeError(f"{phase}: {r.status_code} {str(answer)[:400]}")
        db_cpu = database_cpu() - db0
        per_request = statistics.median(times)
        result[phase] = {
            "requests": n,
            "median_request_s": round(per_request, 4),
            "values_per_s": round(PER_REQUEST / per_request),
            "overall_values_per_s": round(n * PER_REQUEST / sum(times)),
            # This process's CPU time (with SQLite: all of the work; with PostgreSQL: without
            # the server's): what a request costs on an idle core, whatever the load.
            "median_request_cpu_s": round(statistics.median(cpu), 4),
            "values_per_cpu_s": round(PER_REQUEST / statistics.median(cpu)),
            # PostgreSQL's backend of this connection, per request (mean; /proc ticks of
            # 10 ms): with this process's CPU, what a request costs the machine.
            "database_cpu_s": round(db_cpu / n, 4) if db_cpu else None,
            "last_summary": {k: answer[k] for k in ("imported", "updated", "unchanged")},
        }
    return result


def _fresh_pg() -> None:
    base = ["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", "postgres", "-v", "ON_ERROR_STOP=1"]
    for sql in (f"DROP DATABASE IF EXISTS {PG_DB} WITH (FORCE)", f"CREATE DATABASE {PG_DB}"):
        subprocess.run([*base, "-qc", sql], check=True, capture_output=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=10)
    parser.add_argument("--quick", action="store_true", help="3 requests per phase")
    args = parser.parse_args()
    n = 3 if args.quick else args.requests
    h = 2 if args.quick else 10
    results: dict[str, Any] = {"machine": machine_info(), "quick": args.quick, "target": TARGET}
    results["load_before"] = os.getloadavg()
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="rw-bench-intake-api-") as tmp:
        work = Path(tmp)
        env = sqlite_env(work / "var")
        env["RURALWATCH_ENV"] = "development"
        results["sqlite"] = run_child(
            "bench.intake_api:child", {"requests": n, "history": h}, env=env, workdir=work
        )
        _fresh_pg()
        env = dict(sqlite_env(work / "var-pg"))
        env["DATABASE_URL"] = f"{PG_ADMIN_URL}/{PG_DB}"
        env["RURALWATCH_ENV"] = "development"
        results["postgresql"] = run_child(
            "bench.intake_api:child", {"requests": n, "history": h}, env=env, workdir=work
        )
    results["wall_s"] = time.monotonic() - t0
    results["load_after"] = os.getloadavg()
    results["finished"] = time.strftime("%Y-%m-%d %H:%M:%S %z")
    save_result("intake_api", results)
    print(
        "| database | phase | median request (10,000 values) | values/s | target 50,000 "
        "| CPU of this process | values per CPU-second |"
    )
    print("|---|---|---|---|---|---|---|")
    for db in ("sqlite", "postgresql"):
        print(f"<!-- {db}: load average {results[db]['load_average_before']:.1f} before -->")
        for phase in ("insert", "unchanged", "update"):
            r = results[db][phase]
            ok = "✓" if r["values_per_s"] >= TARGET else "✗"
            print(
                f"| {db} | {phase} | {r['median_request_s'] * 1e3:.0f} ms | "
                f"{r['values_per_s']:,} | {ok} | {r['median_request_cpu_s'] * 1e3:.0f} ms | "
                f"{r['values_per_cpu_s']:,} |"
            )


if __name__ == "__main__":
    main()
