"""Throughput of the bulk JSON intake API (``POST /api/intake/values``), SQLite and PostgreSQL.

    python -m bench.intake_api [--requests 10] [--quick] [--only served]

In a fresh interpreter per database: migrate a scratch database (SQLite under a temporary
directory; PostgreSQL ``rw_bench_h4``), load a real county of the 2016 division tree (131124,
200 villages), make a county user and an API token, then send ``--requests`` requests of
10,000 values each through Django's full request stack (token authentication, the rate limit,
JSON parsing, the report checks, the validation rules, the write), once with new
values (inserts), once again unchanged, once with every value changed (updates). Values per
second is values / wall time of the request. Target: 50,000 values/s.

Then the same over HTTP against ``ruralwatch serve`` (production settings, its default
workers and threads) on a fresh PostgreSQL database: one client sending the requests one
after the other, the CPU of the server's processes and of PostgreSQL's backends read from
/proc around each phase. Its "capacity on an idle core" is 10,000 values over the server's
plus PostgreSQL's CPU per request: what the wall clock would show with nothing else running.

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

from bench._util import (
    ADMIN_2016,
    PG_ADMIN_URL,
    REPO_DIR,
    machine_info,
    run_child,
    save_result,
    sqlite_env,
)

PG_DB = "rw_bench_h4"
COUNTY = "131124000000"
INDICATORS = ("fever_visits", "antigen_pos", "pcr_pos", "new_cases", "severe_cases")
PER_REQUEST = 10_000
TARGET = 50_000


def _payloads(
    villages: list[str], n_requests: int, shift: int, first: dt.date = dt.date(2023, 1, 1)
) -> list[bytes]:
    """``n_requests`` bodies of 10,000 values: every village × indicator, day after day."""
    out: list[bytes] = []
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


def _county_and_token() -> tuple[list[str], str]:
    """The county's tree loaded, its villages' codes, and a new API token of a county user."""
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
    return villages, plain


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
    villages, plain = _county_and_token()
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

    import ruralwatch

    result["ruralwatch_src"] = str(Path(ruralwatch.__file__).parent)
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


def setup(payload: dict[str, Any]) -> dict[str, Any]:
    """In a fresh interpreter: migrate, load the county, make the user and its token."""
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=0)
    villages, plain = _county_and_token()
    import ruralwatch

    src = str(Path(ruralwatch.__file__).parent)
    return {"villages": villages, "token": plain, "ruralwatch_src": src}


def _served_env(port: int, work: Path) -> dict[str, str]:
    from bench.intake_form import env_for

    env = env_for(port, database_url=f"{PG_ADMIN_URL}/{PG_DB}", var=work / "var-served")
    env["RURALWATCH_INTAKE_RATE_PER_MINUTE"] = "1000000"
    return env


def served(n: int, history: int, work: Path) -> dict[str, Any]:
    """The requests over HTTP against ``ruralwatch serve`` on a fresh PostgreSQL database."""
    import http.client
    import sys

    from bench.intake_form import _children, cpu_seconds
    from bench.load_server import _psql, free_port, wait_ready

    _fresh_pg()
    port = free_port()
    env = _served_env(port, work)
    made = run_child("bench.intake_api:setup", {}, env=env, workdir=work)
    villages, token = made["villages"], made["token"]
    log = work / "serve.log"
    cmd = [sys.executable, "-m", "ruralwatch", "serve", "--host", "127.0.0.1", "--port", str(port)]
    headers = {
        "Authorization": f"Bearer {token}",
        "Content-Type": "application/json",
        "X-Forwarded-Proto": "https",
    }
    result: dict[str, Any] = {
        "villages": len(villages),
        "values_per_request": PER_REQUEST,
        "ruralwatch_src": made["ruralwatch_src"],
    }
    with log.open("wb") as fh:
        server = subprocess.Popen(cmd, env=env, stdout=fh, stderr=subprocess.STDOUT, cwd=REPO_DIR)
    try:
        wait_ready(port, server)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)

        def post(body: bytes) -> tuple[int, dict[str, Any]]:
            conn.request("POST", "/api/intake/values", body=body, headers=headers)
            resp = conn.getresponse()
            return resp.status, json.loads(resp.read())

        for body in _payloads(villages, history, 0, dt.date(2022, 10, 1)):
            post(body)

        def pids() -> tuple[list[int], list[int]]:
            backends = _psql(f"SELECT pid FROM pg_stat_activity WHERE datname = '{PG_DB}'")
            return [server.pid, *_children(server.pid)], [int(x) for x in backends.split()]

        def spent(before: dict[int, float], after: dict[int, float]) -> float:
            return sum(v - before.get(k, 0.0) for k, v in after.items())

        _psql("ANALYZE reporting_reportvalue; ANALYZE reporting_submission", PG_DB)
        for phase, shift in (("insert", 0), ("unchanged", 0), ("update", 3)):
            bodies = _payloads(villages, n, shift)
            workers, backends = pids()
            w0, b0 = cpu_seconds(workers), cpu_seconds(backends)
            load0 = os.getloadavg()[0]
            times = []
            for body in bodies:
                t0 = time.perf_counter()
                status, answer = post(body)
                times.append(time.perf_counter() - t0)
                if status != 200 or answer["conflicts"]:
                    raise RuntimeError(f"{phase}: {status} {str(answer)[:400]}")
            workers, backends = pids()
            server_cpu = spent(w0, cpu_seconds(workers)) / n
            database_cpu = spent(b0, cpu_seconds(backends)) / n
            per_request = statistics.median(times)
            result[phase] = {
                "requests": n,
                "median_request_s": round(per_request, 4),
                "values_per_s": round(PER_REQUEST / per_request),
                "overall_values_per_s": round(n * PER_REQUEST / sum(times)),
                "server_cpu_s": round(server_cpu, 4),
                "database_cpu_s": round(database_cpu, 4),
                "values_per_cpu_s": round(PER_REQUEST / (server_cpu + database_cpu)),
                "load_average": [round(load0, 2), round(os.getloadavg()[0], 2)],
                "last_summary": {k: answer[k] for k in ("imported", "updated", "unchanged")},
            }
        conn.close()
    finally:
        server.terminate()
        server.wait(timeout=60)
    text = log.read_text(errors="replace")
    result["server"] = next(
        (ln.strip().rsplit("): ", 1)[-1] for ln in text.splitlines() if "workers ×" in ln), ""
    )
    return result


def _fresh_pg() -> None:
    base = ["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", "postgres", "-v", "ON_ERROR_STOP=1"]
    for sql in (f"DROP DATABASE IF EXISTS {PG_DB} WITH (FORCE)", f"CREATE DATABASE {PG_DB}"):
        subprocess.run([*base, "-qc", sql], check=True, capture_output=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=10)
    parser.add_argument("--quick", action="store_true", help="3 requests per phase")
    parser.add_argument(
        "--only", choices=("inprocess", "served"), help="only the in-process or the served runs"
    )
    args = parser.parse_args()
    n = 3 if args.quick else args.requests
    h = 2 if args.quick else 10
    results: dict[str, Any] = {"machine": machine_info(), "quick": args.quick, "target": TARGET}
    results["load_before"] = os.getloadavg()
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="rw-bench-intake-api-") as tmp:
        work = Path(tmp)
        if args.only != "served":
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
        if args.only != "inprocess":
            results["served"] = served(n, h, work)
    results["wall_s"] = time.monotonic() - t0
    results["load_after"] = os.getloadavg()
    results["finished"] = time.strftime("%Y-%m-%d %H:%M:%S %z")
    save_result("intake_api", results)
    for line in report_lines(results):
        print(line)


def report_lines(res: dict[str, Any]) -> list[str]:
    """The Markdown tables of a result (``bench.report`` writes them into section 12)."""
    target = res.get("target", TARGET)

    def s(x: float | None) -> str:
        return "–" if x is None else f"{x * 1e3:.0f} ms"

    def ok(x: float) -> str:
        return " ✓" if x >= target else " ✗"

    out: list[str] = []
    if res.get("served"):
        r0 = res["served"]
        out += [
            f"Over HTTP against `ruralwatch serve` ({r0.get('server') or 'default workers'}) "
            "and PostgreSQL, one client sending the requests one after the other:",
            "",
            "| phase | median request | values/s | CPU per request: server + PostgreSQL "
            "| capacity on an idle core | load average (start / end) |",
            "|---|---|---|---|---|---|",
        ]
        for phase in ("insert", "unchanged", "update"):
            r = r0.get(phase)
            if not r:
                continue
            cpu = r["server_cpu_s"] + r["database_cpu_s"]
            load = r.get("load_average") or [None, None]
            out.append(
                f"| {phase} | {s(r['median_request_s'])} | {r['values_per_s']:,}"
                f"{ok(r['values_per_s'])} | {s(cpu)} ({s(r['server_cpu_s'])} + "
                f"{s(r['database_cpu_s'])}) | {r['values_per_cpu_s']:,}/s"
                f"{ok(r['values_per_cpu_s'])} | {load[0]} / {load[1]} |"
            )
        out.append("")
    if res.get("sqlite") or res.get("postgresql"):
        out += [
            "In one process (Django's test client, no HTTP server):",
            "",
            "| database | phase | median request | values/s | CPU of the request's process | "
            "values per CPU-second | PostgreSQL backend's CPU per request |",
            "|---|---|---|---|---|---|---|",
        ]
        for db in ("sqlite", "postgresql"):
            for phase in ("insert", "unchanged", "update"):
                r = res.get(db, {}).get(phase)
                if not r:
                    continue
                out.append(
                    f"| {db} | {phase} | {s(r['median_request_s'])} | {r['values_per_s']:,}"
                    f"{ok(r['values_per_s'])} | {s(r['median_request_cpu_s'])} | "
                    f"{r['values_per_cpu_s']:,} | "
                    f"{s(r.get('database_cpu_s')) if db == 'postgresql' else '–'} |"
                )
        out.append("")
    return out


if __name__ == "__main__":
    main()
