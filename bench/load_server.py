"""Load test of ``ruralwatch serve`` on PostgreSQL: many village submitters uploading at once.

    python -m bench.load_server [--clients 200] [--rounds 3] [--workers N] [--threads T]

A bounded loopback generator (one thread per submitter, no new dependency). It

1. makes a scratch PostgreSQL database (``rw_bench_server``), a county of 2 townships and
   ``--clients`` villages, and one village-doctor user with an API token per village;
2. starts ``ruralwatch serve`` in the documented production settings (secrets in the
   environment, HTTPS marked by the reverse proxy's ``X-Forwarded-Proto`` header);
3. releases every submitter at once; each uploads ``--rounds`` daily report files for its
   village through ``POST /api/reports/import``, each on a new connection, as phones do;
4. counts answers by status, refused or reset connections, reports lost or duplicated (the
   database against what was sent), PostgreSQL connections held during the load, after a
   quiet spell (a request after ``--idle`` seconds must still be answered) and after the
   server stops; latency percentiles and throughput.

The result goes to ``bench/results/server.json`` and a Markdown section to stdout
(``docs/benchmarks-server.md`` is written from it with ``--write-doc``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results"
DOC = REPO / "docs" / "benchmarks-server.md"
PG_ADMIN = "postgres://postgres@127.0.0.1:5432"
DB_NAME = "rw_bench_server"
PROVINCE, PREFECTURE, COUNTY = "990000000000", "990100000000", "990101000000"
TOWNSHIPS = ("990101001000", "990101002000")
FIRST_DAY = dt.date(2026, 11, 1)
INDICATORS = ("new_cases", "severe_cases", "antigen_pos")


def _psql(sql: str, db: str = "postgres") -> str:
    cmd = ["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", db, "-AtX", "-v", "ON_ERROR_STOP=1"]
    return subprocess.run(
        [*cmd, "-c", sql], capture_output=True, text=True, check=True
    ).stdout.strip()


def pg_connections(db: str) -> int:
    return int(_psql(f"SELECT count(*) FROM pg_stat_activity WHERE datname = '{db}'"))


def village_codes(n: int) -> list[str]:
    return [f"{TOWNSHIPS[i % 2]}"[:9] + f"{i // 2 + 1:03d}" for i in range(n)]


def production_env(secrets_env: dict[str, str], pool_port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RURALWATCH_")}
    env.pop("DEBUG", None)
    env.update(secrets_env)
    env.update(
        {
            "RURALWATCH_ENV": "production",
            "DATABASE_URL": f"{PG_ADMIN}/{DB_NAME}",
            "RURALWATCH_VAR": str(Path(tempfile.gettempdir()) / f"rw-bench-server-{pool_port}"),
            "ALLOWED_HOSTS": "127.0.0.1",
            "CSRF_TRUSTED_ORIGINS": "https://127.0.0.1",
            "RURALWATCH_TRUST_X_FORWARDED_PROTO": "true",
            "DJANGO_SETTINGS_MODULE": "ruralwatch.config.settings",
        }
    )
    return env


def setup_database(n_villages: int, env: dict[str, str]) -> dict[str, str]:
    """Fresh database with the county and one doctor (and token) per village; returns tokens."""
    _psql(f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")
    _psql(f"CREATE DATABASE {DB_NAME}")
    script = r"""
import csv, json, sys, tempfile
from pathlib import Path
import django
django.setup()
from django.core.management import call_command
call_command("migrate", interactive=False, verbosity=0)
from ruralwatch.areas.services import import_areas
from ruralwatch.accounts.services import create_user_with_jurisdiction
from ruralwatch.api.services import create_token
spec = json.loads(sys.argv[1])
rows = [("code", "name", "level", "parent_code", "population")]
rows += [(spec["province"], "测试省", 1, "", 1000000), (spec["prefecture"], "测试市", 2,
         spec["province"], 500000), (spec["county"], "测试县", 3, spec["prefecture"], 200000)]
rows += [(t, f"测试镇{i + 1}", 4, spec["county"], 50000) for i, t in enumerate(spec["townships"])]
rows += [(v, f"测试村{i + 1}", 5, v[:9] + "000", 800) for i, v in enumerate(spec["villages"])]
with tempfile.TemporaryDirectory() as tmp:
    path = Path(tmp) / "areas.csv"
    with path.open("w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows(rows)
    import_areas(path)
tokens = {}
for v in spec["villages"]:
    # No password (token only): hashing 200 passwords would dominate the set-up time.
    user = create_user_with_jurisdiction("doc_" + v, None, v, "village_doctor")
    tokens[v] = create_token(user, "load test")[1]
print(json.dumps(tokens))
"""
    spec = {
        "province": PROVINCE,
        "prefecture": PREFECTURE,
        "county": COUNTY,
        "townships": list(TOWNSHIPS),
        "villages": village_codes(n_villages),
    }
    proc = subprocess.run(
        [sys.executable, "-c", script, json.dumps(spec)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise SystemExit(f"setup failed:\n{proc.stderr[-3000:]}")
    tokens: dict[str, str] = json.loads(proc.stdout.strip().splitlines()[-1])
    return tokens


def report_file(village: str, day: dt.date, value: int) -> bytes:
    lines = ["区划代码,日期,指标,数值"]
    lines += [f"{village},{day.isoformat()},{ind},{value + i}" for i, ind in enumerate(INDICATORS)]
    return ("\n".join(lines) + "\n").encode("utf-8")


def multipart(name: str, content: bytes) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
            "Content-Type: text/csv\r\n\r\n"
        ).encode()
        + content
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return body, f"multipart/form-data; boundary={boundary}"


def request(
    port: int, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None
) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    try:
        conn.request(
            method, path, body=body, headers={"X-Forwarded-Proto": "https", **(headers or {})}
        )
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def wait_ready(port: int, proc: subprocess.Popen[bytes], timeout: float = 300) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise SystemExit(f"server exited with {proc.returncode}")
        try:
            if request(port, "GET", "/healthz")[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.5)
    raise SystemExit("server did not become ready")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run(args: argparse.Namespace) -> dict[str, Any]:
    from ruralwatch.config.env import generate_secrets

    port = args.port or free_port()
    env = production_env(generate_secrets(), port)
    t0 = time.monotonic()
    tokens = setup_database(args.clients, env)
    setup_s = time.monotonic() - t0
    villages = list(tokens)
    log = Path(env["RURALWATCH_VAR"]) / "serve.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "ruralwatch", "serve", "--host", "127.0.0.1", "--port", str(port)]
    if args.workers:
        cmd += ["--workers", str(args.workers)]
    if args.threads:
        cmd += ["--threads", str(args.threads)]
    with log.open("wb") as log_fh:
        server = subprocess.Popen(cmd, env=env, stdout=log_fh, stderr=subprocess.STDOUT)
    try:
        wait_ready(port, server)
        results: list[dict[str, Any]] = []
        lock = threading.Lock()
        barrier = threading.Barrier(len(villages))
        peak = {"connections": 0}
        stop_sampling = threading.Event()

        def sample() -> None:
            while not stop_sampling.is_set():
                peak["connections"] = max(peak["connections"], pg_connections(DB_NAME))
                stop_sampling.wait(0.5)

        def submitter(village: str) -> None:
            auth = {"Authorization": f"Bearer {tokens[village]}"}
            barrier.wait()
            for r in range(args.rounds):
                day = FIRST_DAY + dt.timedelta(days=r)
                body, ctype = multipart(f"{village}-{day}.csv", report_file(village, day, r))
                start = time.monotonic()
                try:
                    status, payload = request(
                        port, "POST", "/api/reports/import", body, {**auth, "Content-Type": ctype}
                    )
                    error = ""
                except OSError as exc:  # refused, reset, timed out
                    status, payload, error = 0, b"", type(exc).__name__
                took = time.monotonic() - start
                with lock:
                    results.append(
                        {
                            "village": village,
                            "day": day.isoformat(),
                            "status": status,
                            "error": error,
                            "seconds": took,
                            "body": payload[:300].decode("utf-8", "replace")
                            if status != 200
                            else "",
                        }
                    )

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        threads = [threading.Thread(target=submitter, args=(v,)) for v in villages]
        load_before = os.getloadavg()
        t_load = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.monotonic() - t_load
        stop_sampling.set()
        sampler.join()
        after_load = pg_connections(DB_NAME)
        time.sleep(args.idle)
        after_idle = pg_connections(DB_NAME)
        idle_status = request(port, "GET", "/healthz")[0]
        api_after_idle = request(
            port, "GET", "/api/auth/me", headers={"Authorization": f"Bearer {tokens[villages[0]]}"}
        )[0]
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
    time.sleep(1)
    after_stop = pg_connections(DB_NAME)
    # What the database holds against what was sent.
    rows = _psql(
        "SELECT area_id, date, indicator_id, count(*) FROM reporting_reportvalue GROUP BY 1, 2, 3",
        DB_NAME,
    ).splitlines()
    stored: dict[tuple[str, str, str], int] = {}
    for line in rows:
        area, day, ind, n = line.split("|")
        stored[(area, day, ind)] = int(n)
    sent = {
        (r["village"], r["day"], ind): 1
        for r in results
        if r["status"] == 200
        for ind in INDICATORS
    }
    expected = {
        (v, (FIRST_DAY + dt.timedelta(days=r)).isoformat(), ind)
        for v in villages
        for r in range(args.rounds)
        for ind in INDICATORS
    }
    lost = sorted(k for k in sent if k not in stored)
    duplicated = sorted(k for k, n in stored.items() if n > 1)
    unexpected = sorted(k for k in stored if k not in expected)
    latencies = sorted(r["seconds"] for r in results if r["status"] == 200)
    by_status: dict[str, int] = {}
    for r in results:
        key = str(r["status"]) if r["status"] else r["error"]
        by_status[key] = by_status.get(key, 0) + 1

    def pct(q: float) -> float | None:
        if not latencies:
            return None
        return latencies[min(len(latencies) - 1, round(q * (len(latencies) - 1)))]

    workers_line = next(
        (line for line in log.read_text(errors="replace").splitlines() if "workers ×" in line),
        "",
    )
    return {
        "clients": args.clients,
        "rounds": args.rounds,
        "requests": len(results),
        "server": workers_line.strip(),
        "setup_s": round(setup_s, 1),
        "wall_s": round(wall, 2),
        "throughput_rps": round(len(results) / wall, 2) if wall else None,
        "by_status": by_status,
        "http_5xx": sum(1 for r in results if r["status"] >= 500),
        "refused_or_reset": sum(1 for r in results if r["status"] == 0),
        "not_200": [r for r in results if r["status"] != 200][:10],
        "values_expected": len(expected),
        "values_stored": len(stored),
        "lost": len(lost),
        "duplicated": len(duplicated),
        "unexpected": len(unexpected),
        "latency_s": {
            "p50": pct(0.50),
            "p95": pct(0.95),
            "p99": pct(0.99),
            "max": latencies[-1] if latencies else None,
            "mean": statistics.fmean(latencies) if latencies else None,
        },
        "pg_connections": {
            "max_connections": int(_psql("SHOW max_connections")),
            "peak_during_load": peak["connections"],
            "after_load": after_load,
            "after_idle": after_idle,
            "idle_s": args.idle,
            "after_stop": after_stop,
        },
        "after_idle_status": {"healthz": idle_status, "api": api_after_idle},
        "cpus": len(os.sched_getaffinity(0)),
        "load_avg_before": load_before,
        "load_avg_after": os.getloadavg(),
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }


def markdown(res: dict[str, Any]) -> str:
    lat = res["latency_s"]
    pg = res["pg_connections"]

    def s(x: float | None) -> str:
        return "—" if x is None else f"{x:.2f} s"

    statuses = ", ".join(f"{k}: {v}" for k, v in sorted(res["by_status"].items()))
    return "\n".join(
        [
            "## Server under load: 200 village submitters on PostgreSQL",
            "",
            f"Run {res['date']} with `python -m bench.load_server --clients {res['clients']} "
            f"--rounds {res['rounds']}` on {res['cpus']} CPU cores shared with other work "
            f"(1-minute load average {res['load_avg_before'][0]:.1f} before the load, "
            f"{res['load_avg_after'][0]:.1f} after). "
            f"Server: `ruralwatch serve` in production settings — {res['server'] or 'defaults'}.",
            "",
            "Each submitter is a village doctor with an API token; all are released at once and "
            "each uploads one daily report file per round (a new connection per upload) to "
            "`POST /api/reports/import`.",
            "",
            "| measure | value |",
            "|---|---|",
            f"| uploads | {res['requests']} ({res['clients']} submitters × {res['rounds']}) |",
            f"| answers by status | {statuses} |",
            f"| 5xx | {res['http_5xx']} |",
            f"| refused or reset connections | {res['refused_or_reset']} |",
            f"| report values expected / stored | {res['values_expected']} / "
            f"{res['values_stored']} |",
            f"| lost / duplicated | {res['lost']} / {res['duplicated']} |",
            f"| wall time | {res['wall_s']:.1f} s |",
            f"| throughput | {res['throughput_rps']:.1f} uploads/s |",
            f"| latency p50 / p95 / p99 / max | {s(lat['p50'])} / {s(lat['p95'])} / "
            f"{s(lat['p99'])} / {s(lat['max'])} |",
            f"| PostgreSQL connections: peak during load (max_connections "
            f"{pg['max_connections']}) | {pg['peak_during_load']} |",
            f"| … right after the load / after {pg['idle_s']} s quiet / after the server stopped | "
            f"{pg['after_load']} / {pg['after_idle']} / {pg['after_stop']} |",
            f"| a request after the quiet spell | healthz {res['after_idle_status']['healthz']}, "
            f"API {res['after_idle_status']['api']} |",
            "",
            "Latency is from the first byte sent to the last byte of the answer, queueing "
            "included: uploads beyond workers × threads wait in the listen backlog rather than "
            "being refused.",
            "",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.load_server", description=__doc__)
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=0)
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--idle", type=float, default=70.0, help="quiet seconds after the load")
    parser.add_argument("--write-doc", action="store_true", help=f"write {DOC.name}")
    args = parser.parse_args(argv)
    res = run(args)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "server.json").write_text(json.dumps(res, indent=2, ensure_ascii=False))
    text = markdown(res)
    print(json.dumps({k: v for k, v in res.items() if k != "not_200"}, indent=2))
    for r in res["not_200"]:
        print("not 200:", r)
    if args.write_doc:
        DOC.write_text(
            "# Benchmarks: the production server\n\n"
            "Written by `python -m bench.load_server --write-doc` (kept apart from "
            "`benchmarks.md`, which `bench/report.py` regenerates).\n\n" + text,
            encoding="utf-8",
        )
    print(text)
    ok = res["http_5xx"] == 0 and res["refused_or_reset"] == 0 and res["lost"] == 0
    ok = ok and res["duplicated"] == 0 and res["pg_connections"]["after_stop"] == 0
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
