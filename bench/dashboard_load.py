"""50 concurrent users on a county page: ``ruralwatch serve`` on PostgreSQL under a bounded
loopback load (issue 12, "Performance": p95 < 200 ms).

    python -m bench.dashboard_load [--users 50] [--rounds 10] [--think 5] [--reuse]
                                   [--no-cache] [--write-doc]

1. builds the demo county (``ruralwatch demo --no-serve``: 289 villages, 67 days of reports,
   key groups, resources, the daily cycle) into its own PostgreSQL database
   (``rw_bench_dashboard_load``, or ``RURALWATCH_BENCH_DASHBOARD_DB``; ``--reuse`` keeps one
   already built and migrated), and ``--users`` county-level users (县疾控值班人员);
2. starts ``ruralwatch serve`` in the documented production settings (as
   :mod:`bench.load_server` does: secrets in the environment, HTTPS marked by the proxy header;
   ``--no-cache`` sets ``RURALWATCH_CACHE=none``, every part computed on every request);
3. logs every user in through the login form (a real session each, CSRF included);
4. a warm-up round, not counted: every user opens the page once (each server process loads
   its code and fills its cache), then all wait for each other;
5. the measured rounds: each user opens the county page ``--rounds`` times as a browser does —
   the page, then the map's data and the resources and key-area panels the page fetches (the
   script bundle is cached by the browser and left out), each request on a new connection —
   and reads it for a **think time** before the next view: uniform between half and one and a
   half ``--think`` seconds (default 5 s; seeded per user, so runs draw the same pauses), and
   a first pause drawn the same way so that users do not start in step. ``--think 0`` is the
   old behaviour (no pause: every user asks again as soon as it has its answer);
6. counts answers by status (a page must be the county's page, not the login), latency
   percentiles (p50, p95, p99) per request kind and for the whole view, PostgreSQL connections
   at peak, the CPU seconds the server's processes and the database's backends spent, and the
   machine's load average before, during (highest) and after.

The result goes to ``bench/results/dashboard_load.json``; ``--write-doc`` puts its section into
``docs/benchmarks-server.md`` (between markers, leaving the rest of the file alone;
``docs/benchmarks.md`` is regenerated from other results by ``bench/report.py``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
import json
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any

import psutil

from bench.load_server import PG_ADMIN, _psql, free_port, pg_connections, wait_ready

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results"
DOC = REPO / "docs" / "benchmarks-server.md"
DB_NAME = os.environ.get("RURALWATCH_BENCH_DASHBOARD_DB", "rw_bench_dashboard_load")
COUNTY = "990101000000"  # the demo county (西林县)
PASSWORD = "load-Test-password-2023"
TARGET_P95_MS = 200.0
BEGIN, END = "<!-- bench.dashboard_load -->", "<!-- /bench.dashboard_load -->"
KINDS = ("page", "map", "panels")


def _env(
    production: bool, secrets: dict[str, str], var: Path, cache: bool = True
) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RURALWATCH_")}
    env.pop("DEBUG", None)
    env.update(
        {
            "DATABASE_URL": f"{PG_ADMIN}/{DB_NAME}",
            "RURALWATCH_VAR": str(var),
            "DJANGO_SETTINGS_MODULE": "ruralwatch.config.settings",
        }
    )
    if production:
        env.update(secrets)
        env.update(
            {
                "RURALWATCH_ENV": "production",
                "ALLOWED_HOSTS": "127.0.0.1",
                "CSRF_TRUSTED_ORIGINS": "https://127.0.0.1",
                "RURALWATCH_TRUST_X_FORWARDED_PROTO": "true",
            }
        )
    else:
        env["RURALWATCH_ENV"] = "development"
    if not cache:
        env["RURALWATCH_CACHE"] = "none"
    return env


def build(dev_env: dict[str, str], users: int, reuse: bool) -> dict[str, Any]:
    """The demo in its own database (unless reused) and ``users`` county users."""
    exists = _psql(f"SELECT count(*) FROM pg_database WHERE datname = '{DB_NAME}'") == "1"
    demo_s = 0.0
    if not (reuse and exists):
        _psql(f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")
        _psql(f"CREATE DATABASE {DB_NAME}")
        t = time.monotonic()
        out = Path(dev_env["RURALWATCH_VAR"]) / "demo"
        subprocess.run(
            [sys.executable, "-m", "ruralwatch", "demo", "--no-serve", "--out", str(out)],
            env=dev_env,
            check=True,
            stdout=subprocess.DEVNULL,
        )
        demo_s = time.monotonic() - t
    script = r"""
import sys, django
django.setup()
from django.contrib.auth import get_user_model
from ruralwatch.accounts.services import create_user_with_jurisdiction
county, n, password = sys.argv[1], int(sys.argv[2]), sys.argv[3]
for i in range(n):
    name = f"load_county_{i:03d}"
    if not get_user_model().objects.filter(username=name).exists():
        create_user_with_jurisdiction(name, password, county, "county")
from ruralwatch.areas.models import Area
print(Area.objects.get(code=county).name)
"""
    try:
        out = subprocess.check_output(
            [sys.executable, "-c", script, COUNTY, str(users), PASSWORD],
            env=dev_env,
            stderr=subprocess.PIPE,
            text=True,
        )
    except subprocess.CalledProcessError as exc:
        raise SystemExit(f"making the users failed:\n{exc.stderr[-3000:]}") from exc
    return {"demo_s": round(demo_s, 1), "county_name": out.strip().splitlines()[-1]}


class Session:
    """One browser: its cookies, a new connection per request (as the generator is bounded by
    the users, not by a pool)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.cookies: dict[str, str] = {}

    def request(
        self, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None
    ) -> tuple[int, bytes, dict[str, str]]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=600)
        cookie = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        sent = {"X-Forwarded-Proto": "https", "Accept-Language": "zh-hans", **(headers or {})}
        if cookie:
            sent["Cookie"] = cookie
        try:
            conn.request(method, path, body=body, headers=sent)
            resp = conn.getresponse()
            payload = resp.read()
            for name, value in resp.getheaders():
                if name.lower() == "set-cookie":
                    for morsel in SimpleCookie(value).values():
                        self.cookies[morsel.key] = morsel.value
            return resp.status, payload, {k.lower(): v for k, v in resp.getheaders()}
        finally:
            conn.close()

    def login(self, username: str) -> None:
        status, body, _ = self.request("GET", "/accounts/login/")
        token = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', body)
        if status != 200 or token is None:
            raise SystemExit(f"login page: {status}")
        form = (
            f"csrfmiddlewaretoken={token[1].decode()}&username={username}&password={PASSWORD}"
        ).encode()
        status, body, _ = self.request(
            "POST",
            "/accounts/login/",
            form,
            {
                "Content-Type": "application/x-www-form-urlencoded",
                "Origin": f"https://127.0.0.1:{self.port}",
                "Referer": f"https://127.0.0.1:{self.port}/accounts/login/",
            },
        )
        if status != 302:
            raise SystemExit(f"login of {username}: {status} {body[:300]!r}")


def _pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _summary(values: list[float]) -> dict[str, float | None]:
    ms = [v * 1000 for v in values]
    return {
        "n": len(ms),
        "p50_ms": _pct(ms, 0.5),
        "p95_ms": _pct(ms, 0.95),
        "p99_ms": _pct(ms, 0.99),
        "max_ms": max(ms) if ms else None,
        "mean_ms": statistics.fmean(ms) if ms else None,
    }


@contextmanager
def serving(cmd: list[str], env: dict[str, str], log: Path, port: int) -> Iterator[int]:
    """``ruralwatch serve`` for the duration of the block, stopped (TERM, then KILL) after."""
    with log.open("wb") as log_fh:
        server = subprocess.Popen(cmd, env=env, stdout=log_fh, stderr=subprocess.STDOUT)
    try:
        wait_ready(port, server)
        yield server.pid
    finally:
        server.terminate()  # gunicorn's graceful stop, then a kill after a minute
        with suppress(subprocess.TimeoutExpired):
            server.wait(timeout=60)
        if server.poll() is None:
            server.kill()
            server.wait()


class PeakConnections(threading.Thread):
    """Samples the database's connections and the machine's 1-minute load average twice a
    second until stopped; keeps the peaks."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.peak = 0
        self.load_peak = 0.0
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            self.peak = max(self.peak, pg_connections(DB_NAME))
            self.load_peak = max(self.load_peak, os.getloadavg()[0])
            self.done.wait(0.5)


def _cpu_seconds(processes: list[psutil.Process]) -> float:
    total = 0.0
    for p in processes:
        with suppress(psutil.Error):
            t = p.cpu_times()
            total += t.user + t.system
    return total


def _server_processes(server_pid: int) -> list[psutil.Process]:
    """The server's process and its workers."""
    root = psutil.Process(server_pid)
    return [root, *root.children(recursive=True)]


def _db_backends() -> list[psutil.Process]:
    """The PostgreSQL backends serving the benchmark's database (same machine)."""
    out = []
    for p in psutil.process_iter(["name", "cmdline"]):
        cmd = " ".join(p.info.get("cmdline") or [])
        if cmd.startswith("postgres:") and f" {DB_NAME} " in f"{cmd} ":
            out.append(p)
    return out


def view(s: Session, urls: dict[str, str], county_name: str, r: int) -> list[dict[str, Any]]:
    """One view of the county page as a browser makes it: the page, its map, its panels."""
    out = []
    began = time.monotonic()
    for kind in KINDS:
        start = time.monotonic()
        try:
            status, body, _ = s.request("GET", urls[kind])
            error = ""
        except OSError as exc:
            status, body, error = 0, b"", type(exc).__name__
        ok = status == 200
        if ok and kind == "page":  # the county's page, not the login form
            ok = county_name.encode() in body and b'id="kpis"' in body
        out.append(
            {
                "kind": kind,
                "round": r,
                "status": status,
                "ok": ok,
                "error": error,
                "seconds": time.monotonic() - start,
                "bytes": len(body),
            }
        )
    out.append({"kind": "view", "round": r, "seconds": time.monotonic() - began, "ok": True})
    return out


def run(args: argparse.Namespace) -> dict[str, Any]:
    from ruralwatch.config.env import generate_secrets

    port = args.port or free_port()
    var = Path(tempfile.gettempdir()) / f"rw-bench-dashboard-load-{DB_NAME}"
    var.mkdir(parents=True, exist_ok=True)
    built = build(_env(False, {}, var), args.users, args.reuse)
    env = _env(True, generate_secrets(), var, cache=not args.no_cache)
    log = var / "serve.log"
    cmd = [sys.executable, "-m", "ruralwatch", "serve", "--host", "127.0.0.1", "--port", str(port)]
    cmd += ["--no-migrate"] if args.reuse else []
    cmd += ["--workers", str(args.workers)] if args.workers else []
    cmd += ["--threads", str(args.threads)] if args.threads else []
    page = f"/area/{COUNTY}/"
    urls = {"page": page, "map": f"{page}map.json", "panels": f"{page}panels/"}
    with serving(cmd, env, log, port) as server_pid:
        t = time.monotonic()
        sessions = []
        for i in range(args.users):
            sessions.append(Session(port))
            sessions[-1].login(f"load_county_{i:03d}")
        login_s = time.monotonic() - t
        marks: dict[str, Any] = {}
        server_procs = _server_processes(server_pid)

        def release() -> None:  # when every user is warm: the measured load starts
            marks["start"], marks["load_before"] = time.monotonic(), os.getloadavg()
            marks["backends"] = _db_backends()
            marks["cpu_server"] = _cpu_seconds(server_procs)
            marks["cpu_db"] = _cpu_seconds(marks["backends"])

        barrier = threading.Barrier(args.users, action=release)

        def user(i: int) -> list[dict[str, Any]]:
            s, rng = sessions[i], random.Random(i)

            def think() -> None:
                if args.think > 0:
                    time.sleep(rng.uniform(0.5 * args.think, 1.5 * args.think))

            view(s, urls, built["county_name"], -1)  # warm-up: every worker's first requests
            barrier.wait()
            think()  # users do not start in step
            rows = []
            for r in range(args.rounds):
                rows += view(s, urls, built["county_name"], r)
                if r < args.rounds - 1:
                    think()
            return rows

        sampler = PeakConnections()
        sampler.start()
        with ThreadPoolExecutor(max_workers=args.users) as pool:
            results = [row for rows in pool.map(user, range(args.users)) for row in rows]
        wall = time.monotonic() - marks["start"]
        cpu_server = _cpu_seconds(server_procs) - marks["cpu_server"]
        cpu_db = _cpu_seconds(marks["backends"]) - marks["cpu_db"]
        load_before = marks["load_before"]
        sampler.done.set()
        sampler.join()
        load_after = os.getloadavg()
    requests = [r for r in results if r["kind"] != "view"]
    by_status: dict[str, int] = {}
    for r in requests:
        key = str(r["status"]) if r["status"] else r["error"]
        by_status[key] = by_status.get(key, 0) + 1
    server_line = next(
        (line for line in log.read_text(errors="replace").splitlines() if "workers ×" in line), ""
    )
    latency = {
        kind: _summary([r["seconds"] for r in results if r["kind"] == kind and r["ok"]])
        for kind in (*KINDS, "view")
    }
    sizes = {
        kind: max((r["bytes"] for r in requests if r["kind"] == kind), default=0) for kind in KINDS
    }
    return {
        "users": args.users,
        "rounds": args.rounds,
        "requests": len(requests),
        "server": server_line.strip(),
        "demo_s": built["demo_s"],
        "login_s": round(login_s, 1),
        "wall_s": round(wall, 2),
        "throughput_rps": round(len(requests) / wall, 1) if wall else None,
        "by_status": by_status,
        "http_5xx": sum(1 for r in requests if r["status"] >= 500),
        "not_ok": sum(1 for r in requests if not r["ok"]),
        "latency": latency,
        "bytes": sizes,
        "pg_peak_connections": sampler.peak,
        "think_s": args.think,
        "cache": not args.no_cache,
        "views": args.users * args.rounds,
        "cpu_server_s": round(cpu_server, 2),
        "cpu_db_s": round(cpu_db, 2),
        "cpu_server_ms_per_view": round(1000 * cpu_server / (args.users * args.rounds), 1),
        "cpu_db_ms_per_view": round(1000 * cpu_db / (args.users * args.rounds), 1),
        "load_avg_peak": round(sampler.load_peak, 2),
        "target_p95_ms": TARGET_P95_MS,
        "cpus": len(os.sched_getaffinity(0)),
        "load_avg_before": load_before,
        "load_avg_after": load_after,
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }


def markdown(res: dict[str, Any]) -> str:
    def ms(x: float | None) -> str:
        return "—" if x is None else f"{x:,.0f} ms"

    lat = res["latency"]
    statuses = ", ".join(f"{k}: {v}" for k, v in sorted(res["by_status"].items()))
    names = {
        "page": "county page (HTML)",
        "map": "its map data (`map.json`)",
        "panels": "its resources and key-area panels (fragment)",
        "view": "the whole view (the three in turn)",
    }
    rows = [
        f"| {names[k]} | {lat[k]['n']} | {ms(lat[k]['p50_ms'])} | {ms(lat[k]['p95_ms'])} | "
        f"{ms(lat[k]['p99_ms'])} | {ms(lat[k]['max_ms'])} |"
        for k in (*KINDS, "view")
    ]
    page_p95 = lat["page"]["p95_ms"]
    verdict = (
        "within" if page_p95 is not None and page_p95 < res["target_p95_ms"] else "**not within**"
    )
    think = (
        f"reads each view for a think time drawn uniformly between {res['think_s'] / 2:g} and "
        f"{1.5 * res['think_s']:g} s (mean {res['think_s']:g} s) before the next"
        if res["think_s"]
        else "asks again as soon as it has its answer (no think time)"
    )
    flags = f" --think {res['think_s']:g}" + ("" if res["cache"] else " --no-cache")
    cache = (
        "the dashboard's cache on (`RURALWATCH_CACHE=locmem`, the default)"
        if res["cache"]
        else "the dashboard's cache off (`RURALWATCH_CACHE=none`)"
    )
    return "\n".join(
        [
            f"## Dashboard under load: {res['users']} county users on the demo county",
            "",
            f"Run {res['date']} with `python -m bench.dashboard_load --users {res['users']} "
            f"--rounds {res['rounds']}{flags}` on {res['cpus']} CPU cores shared with other "
            f"work (1-minute load average {res['load_avg_before'][0]:.1f} before the load, "
            f"{res['load_avg_peak']:.1f} at most during it, {res['load_avg_after'][0]:.1f} "
            f"after). Server: `ruralwatch serve` in production settings on PostgreSQL, "
            f"{cache} — {res['server'] or 'defaults'}.",
            "",
            "Each user logged in through the login form (a session each) and opened the page "
            "once to warm up (not counted: each server process loads its code and fills its "
            f"cache); then each opens the demo county's page {res['rounds']} times as a "
            "browser does — the page, then the map's data and the panels it fetches (a new "
            f"connection per request) — and {think}. Latency is from the first byte sent to "
            "the last byte received, queueing included.",
            "",
            f"Answers: {statuses}; 5xx: {res['http_5xx']}; wrong page (login or error): "
            f"{res['not_ok']}. {res['requests']} requests in {res['wall_s']:.1f} s "
            f"({res['throughput_rps']} requests/s); PostgreSQL connections at peak: "
            f"{res['pg_peak_connections']}. CPU per view (three requests): "
            f"{res['cpu_server_ms_per_view']:.0f} ms in the server's processes, "
            f"{res['cpu_db_ms_per_view']:.0f} ms in PostgreSQL's backends. The page's p95 is "
            f"{verdict} the issue's {res['target_p95_ms']:.0f} ms.",
            "",
            "| request | n | p50 | p95 | p99 | max |",
            "|---|---|---|---|---|---|",
            *rows,
            "",
        ]
    )


def write_doc(text: str) -> None:
    section = f"{BEGIN}\n{text}\n{END}"
    old = "# Benchmarks: the production server\n"
    if DOC.exists():
        old = DOC.read_text(encoding="utf-8")
    if BEGIN in old and END in old:
        new = old[: old.index(BEGIN)] + section + old[old.index(END) + len(END) :]
    else:
        new = old.rstrip("\n") + "\n\n" + section + "\n"
    DOC.write_text(new, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.dashboard_load", description=__doc__)
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--workers", type=int, default=0)
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument(
        "--think", type=float, default=5.0, help="mean seconds a user reads a view (0: none)"
    )
    parser.add_argument(
        "--no-cache", action="store_true", help="serve with RURALWATCH_CACHE=none (no cache)"
    )
    parser.add_argument("--reuse", action="store_true", help="keep a demo database built before")
    parser.add_argument("--write-doc", action="store_true", help=f"write into {DOC.name}")
    args = parser.parse_args(argv)
    res = run(args)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "dashboard_load.json").write_text(json.dumps(res, indent=2, ensure_ascii=False))
    text = markdown(res)
    print(json.dumps(res, indent=2, ensure_ascii=False))
    print(text)
    if args.write_doc:
        write_doc(text)
    return 0 if res["http_5xx"] == 0 and res["not_ok"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
