"""Throughput of the village daily form (村级日报) on ``ruralwatch serve`` and PostgreSQL.

    python -m bench.intake_form [--clients 200] [--rounds 3] [--workers N] [--threads T]

1. makes a scratch PostgreSQL database (``rw_bench_intake``), loads a real county of the 2016
   division tree with 200 villages (code 131124) and one
   village doctor per village with a logged-in session;
2. starts ``ruralwatch serve`` in the production settings (HTTPS marked by the proxy header,
   CSRF checked as a phone's browser passes it: cookie, header and origin);
3. releases every submitter at once; each sends ``--rounds`` daily reports (one date each)
   as the form's JSON with its idempotency key, on a new connection each, retrying a failed
   connection or a 5xx with the same key;
4. counts the answers, checks the database against what was sent (none lost, none twice) and
   reports form submissions per second (stored reports / wall time of the load) and latency.

The result goes to ``bench/results/intake_form.json`` and a Markdown line to stdout.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import secrets
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from bench._util import ADMIN_2016, machine_info
from bench.load_server import PG_ADMIN, _psql, free_port, request, wait_ready

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results"
DB_NAME = "rw_bench_intake"
COUNTY = "131124000000"  # 200 villages in the 2016 tree
FIRST_DAY = dt.date(2026, 11, 1)


def env_for(
    port: int, *, database_url: str | None = None, var: Path | None = None
) -> dict[str, str]:
    """The environment of ``ruralwatch serve`` with the production settings and fresh secrets
    (the bench's database and a temporary var directory unless given)."""
    from ruralwatch.config.env import generate_secrets

    env = {k: v for k, v in os.environ.items() if not k.startswith("RURALWATCH_")}
    env.pop("DEBUG", None)
    env.update(generate_secrets())
    env.update(
        {
            "RURALWATCH_ENV": "production",
            "DATABASE_URL": database_url or f"{PG_ADMIN}/{DB_NAME}",
            "RURALWATCH_VAR": str(var or Path(tempfile.gettempdir()) / f"rw-bench-intake-{port}"),
            "ALLOWED_HOSTS": "127.0.0.1",
            "CSRF_TRUSTED_ORIGINS": "https://127.0.0.1",
            "RURALWATCH_TRUST_X_FORWARDED_PROTO": "true",
            "DJANGO_SETTINGS_MODULE": "ruralwatch.config.settings",
        }
    )
    return env


SETUP = r"""
import json, sys
import django
django.setup()
from importlib import import_module
from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.core.management import call_command
call_command("migrate", interactive=False, verbosity=0)
from ruralwatch.accounts.services import create_user_with_jurisdiction
from ruralwatch.areas.models import Area
from ruralwatch.areas.services import import_areas
from ruralwatch.reporting.daily_form import form_indicators
spec = json.loads(sys.argv[1])
import_areas(spec["file"], root=spec["county"])
villages = list(Area.objects.filter(level=5, l3=spec["county"]).order_by("code")
                .values_list("code", flat=True))[: spec["clients"]]
store = import_module(settings.SESSION_ENGINE).SessionStore
out = {}
for code in villages:
    # No password: hashing 200 of them would dominate the set-up; a session is made directly.
    user = create_user_with_jurisdiction("doc_" + code, None, code, "village_doctor")
    s = store()
    s[SESSION_KEY] = str(user.pk)
    s[BACKEND_SESSION_KEY] = settings.AUTHENTICATION_BACKENDS[0]
    s[HASH_SESSION_KEY] = user.get_session_auth_hash()
    s.create()
    out[code] = s.session_key
codes = [i.code for i in form_indicators(Area.objects.get(code=villages[0]))]
print(json.dumps({"sessions": out, "indicators": codes}))
"""


TICK = os.sysconf("SC_CLK_TCK")


def _children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(x) for x in text.split()]


def cpu_seconds(pids: list[int]) -> dict[int, float]:
    """User + system CPU seconds of each live process (from /proc)."""
    out = {}
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        out[pid] = (int(fields[11]) + int(fields[12])) / TICK
    return out


def server_pids(server_pid: int) -> tuple[list[int], list[int]]:
    """The server and its workers; the database's backends."""
    backends = _psql(f"SELECT pid FROM pg_stat_activity WHERE datname = '{DB_NAME}'")
    return [server_pid, *_children(server_pid)], [int(x) for x in backends.split()]


def _spent(before: dict[int, float], after: dict[int, float]) -> float:
    # Processes that started during the load (new backends) count from zero.
    return sum(v - before.get(k, 0.0) for k, v in after.items())


def _serve_line(log: Path) -> str:
    """What ``ruralwatch serve`` said it runs (workers × threads)."""
    text = log.read_text(errors="replace") if log.exists() else ""
    line = next((line.strip() for line in text.splitlines() if "workers ×" in line), "")
    return line.rsplit("): ", 1)[-1]


def setup_database(clients: int, env: dict[str, str]) -> dict[str, Any]:
    _psql(f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")
    _psql(f"CREATE DATABASE {DB_NAME}")
    spec = {"file": str(ADMIN_2016), "county": COUNTY, "clients": clients}
    proc = subprocess.run(
        [sys.executable, "-c", SETUP, json.dumps(spec)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise SystemExit(f"setup failed:\n{proc.stderr[-3000:]}")
    out: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return out


def run(args: argparse.Namespace) -> dict[str, Any]:
    port = args.port or free_port()
    env = env_for(port)
    t0 = time.monotonic()
    spec = setup_database(args.clients, env)
    setup_s = time.monotonic() - t0
    sessions: dict[str, str] = spec["sessions"]
    indicators: list[str] = spec["indicators"]
    villages = list(sessions)
    log = Path(env["RURALWATCH_VAR"]) / "serve.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "ruralwatch", "serve", "--host", "127.0.0.1", "--port", str(port)]
    if args.workers:
        cmd += ["--workers", str(args.workers)]
    if args.threads:
        cmd += ["--threads", str(args.threads)]
    with log.open("wb") as fh:
        server = subprocess.Popen(cmd, env=env, stdout=fh, stderr=subprocess.STDOUT)
    results: list[dict[str, Any]] = []
    sent: dict[tuple[str, str], tuple[str, int]] = {}
    lock = threading.Lock()
    try:
        wait_ready(port, server)
        barrier = threading.Barrier(len(villages))

        def submitter(index: int, village: str) -> None:
            csrf = secrets.token_hex(16)
            headers = {
                "Content-Type": "application/json",
                "Accept": "application/json",
                "Cookie": f"sessionid={sessions[village]}; csrftoken={csrf}",
                "X-CSRFToken": csrf,
                "Origin": "https://127.0.0.1",
                "Referer": f"https://127.0.0.1/intake/report/{village}/",
            }
            barrier.wait()
            for r in range(args.rounds):
                day = (FIRST_DAY + dt.timedelta(days=r)).isoformat()
                key, cases = uuid.uuid4().hex, (index + r) % 9
                values = {c: (cases if c == "new_cases" else 0) for c in indicators}
                body = json.dumps({"key": key, "date": day, "values": values}).encode()
                with lock:
                    sent[(village, day)] = (key, cases)
                for attempt in range(8):
                    start = time.monotonic()
                    try:
                        status, _payload = request(
                            port, "POST", f"/intake/report/{village}/", body, headers
                        )
                    except OSError:
                        status = 0
                    took = time.monotonic() - start
                    with lock:
                        results.append({"status": status, "latency": took, "attempt": attempt})
                    if status in (200, 201) or 400 <= status < 500:
                        break
                    time.sleep(0.05 * 2**attempt)

        threads = [threading.Thread(target=submitter, args=(i, v)) for i, v in enumerate(villages)]
        workers_before, backends_before = (cpu_seconds(p) for p in server_pids(server.pid))
        load_before = os.getloadavg()
        client_before = resource.getrusage(resource.RUSAGE_SELF)
        load_t0 = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        load_s = time.monotonic() - load_t0
        client_after = resource.getrusage(resource.RUSAGE_SELF)
        load_after = os.getloadavg()
        pids, backends = server_pids(server.pid)
        # Backends of the server's pool that ended during the load are not counted (the pool
        # keeps its connections, so there are none in practice).
        workers_cpu_s = _spent(workers_before, cpu_seconds(pids))
        db_cpu_s = _spent(backends_before, cpu_seconds(backends))
        cpu_s = workers_cpu_s + db_cpu_s
        client_cpu_s = (client_after.ru_utime + client_after.ru_stime) - (
            client_before.ru_utime + client_before.ru_stime
        )
    finally:
        server.terminate()
        server.wait(timeout=60)
    rows = _psql(
        "SELECT area_id, date, key FROM reporting_formreport ORDER BY 1, 2", db=DB_NAME
    ).splitlines()
    stored = {(a, d): k for a, d, k in (r.split("|") for r in rows if r)}
    lost = sum(1 for k, (key, _c) in sent.items() if stored.get(k) != key)
    doubled = len(rows) - len(stored)
    n_values = int(_psql("SELECT count(*) FROM reporting_reportvalue", db=DB_NAME))
    _psql(f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")
    latencies = sorted(r["latency"] for r in results if r["status"] in (200, 201))
    by_status: dict[str, int] = {}
    for r in results:
        by_status[str(r["status"])] = by_status.get(str(r["status"]), 0) + 1

    def pct(q: float) -> float | None:
        if not latencies:
            return None
        return latencies[min(len(latencies) - 1, int(q * len(latencies)))]

    return {
        "benchmark": "intake_form",
        "clients": len(villages),
        "rounds": args.rounds,
        "reports_sent": len(sent),
        "reports_stored": len(stored),
        "values_stored": n_values,
        "lost": lost,
        "doubled": doubled,
        "requests": len(results),
        "by_status": by_status,
        "load_s": load_s,
        "setup_s": setup_s,
        "submissions_per_s": len(stored) / load_s if load_s else None,
        # CPU of the server's workers and of PostgreSQL's backends per stored report, and what
        # that allows on this machine's cores when nothing else runs (the machine is shared).
        "server_cpu_s": cpu_s,
        "cpu_ms_per_submission": cpu_s / len(stored) * 1e3 if stored else None,
        # The same split: the server's processes (gunicorn's workers) and PostgreSQL's
        # backends; and this load generator's own CPU (its threads share the machine).
        "workers_cpu_ms_per_submission": workers_cpu_s / len(stored) * 1e3 if stored else None,
        "database_cpu_ms_per_submission": db_cpu_s / len(stored) * 1e3 if stored else None,
        "client_cpu_ms_per_submission": client_cpu_s / len(stored) * 1e3 if stored else None,
        "capacity_per_s_on_idle_cores": (
            (os.cpu_count() or 1) * len(stored) / cpu_s if cpu_s else None
        ),
        "latency_s": {
            "p50": pct(0.5),
            "p95": pct(0.95),
            "max": latencies[-1] if latencies else None,
            "mean": statistics.fmean(latencies) if latencies else None,
        },
        "workers": args.workers,
        "threads": args.threads,
        "server": _serve_line(log),
        "finished": time.strftime("%Y-%m-%d %H:%M:%S %z"),
        "loadavg_before": load_before,
        "loadavg": load_after,
        # For the report (bench/report.py): the run line and the machine.
        "wall_s": load_s,
        "load_before": load_before,
        "load_after": load_after,
        "machine": machine_info(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.intake_form", description=__doc__)
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=0)
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    res = run(args)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "intake_form.json").write_text(json.dumps(res, indent=2), encoding="utf-8")
    lat = res["latency_s"]
    print(
        f"daily form on PostgreSQL: {res['reports_stored']} reports from {res['clients']} "
        f"submitters in {res['load_s']:.2f} s = {res['submissions_per_s']:.0f} submissions/s; "
        f"lost {res['lost']}, doubled {res['doubled']}; answers {res['by_status']}; "
        f"server+database CPU {res['cpu_ms_per_submission']:.1f} ms per submission "
        f"(= {res['capacity_per_s_on_idle_cores']:.0f}/s on idle cores; workers "
        f"{res['workers_cpu_ms_per_submission']:.1f}, PostgreSQL "
        f"{res['database_cpu_ms_per_submission']:.1f}, load generator "
        f"{res['client_cpu_ms_per_submission']:.1f} ms); "
        f"latency p50 {lat['p50']:.3f} s, p95 {lat['p95']:.3f} s; load average "
        f"{res['loadavg_before'][0]:.1f} before, {res['loadavg'][0]:.1f} after"
    )
    return 0 if res["lost"] == 0 and res["doubled"] == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
