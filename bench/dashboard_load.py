"""50 concurrent users on a county page: ``ruralwatch serve`` on PostgreSQL under a bounded
loopback load (issue 12, "Performance": p95 < 200 ms).

    python -m bench.dashboard_load [--users 50] [--rounds 10] [--reuse] [--write-doc]

1. builds the demo county (``ruralwatch demo --no-serve``: 289 villages, 67 days of reports,
   key groups, resources, the daily cycle) into its own PostgreSQL database
   (``rw_bench_dashboard_load``; ``--reuse`` keeps one already built), and ``--users``
   county-level users (县疾控值班人员) with a password;
2. starts ``ruralwatch serve`` in the documented production settings (as
   :mod:`bench.load_server` does: secrets in the environment, HTTPS marked by the proxy header);
3. logs every user in through the login form (a real session each, CSRF included);
4. releases them at once: each opens the county page ``--rounds`` times as a browser does — the
   page, then the map's data and the resources and key-area panels the page fetches (the
   script bundle is cached by the browser and left out) — each request on a new connection;
5. counts answers by status (a page must be the county's page, not the login), latency
   percentiles per request kind and for the whole view, PostgreSQL connections at peak.

The result goes to ``bench/results/dashboard_load.json``; ``--write-doc`` puts its section into
``docs/benchmarks-server.md`` (between markers, leaving the rest of the file alone).
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
import json
import os
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


def _env(production: bool, secrets: dict[str, str], var: Path) -> dict[str, str]:
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
def serving(cmd: list[str], env: dict[str, str], log: Path, port: int) -> Iterator[None]:
    """``ruralwatch serve`` for the duration of the block, stopped (TERM, then KILL) after."""
    with log.open("wb") as log_fh:
        server = subprocess.Popen(cmd, env=env, stdout=log_fh, stderr=subprocess.STDOUT)
    try:
        wait_ready(port, server)
        yield
    finally:
        server.terminate()  # gunicorn's graceful stop, then a kill after a minute
        with suppress(subprocess.TimeoutExpired):
            server.wait(timeout=60)
        if server.poll() is None:
            server.kill()
            server.wait()


class PeakConnections(threading.Thread):
    """Samples the database's connections twice a second until stopped; keeps the peak."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.peak = 0
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            self.peak = max(self.peak, pg_connections(DB_NAME))
            self.done.wait(0.5)


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
    env = _env(True, generate_secrets(), var)
    log = var / "serve.log"
    cmd = [sys.executable, "-m", "ruralwatch", "serve", "--host", "127.0.0.1", "--port", str(port)]
    cmd += ["--no-migrate"] if args.reuse else []
    cmd += ["--workers", str(args.workers)] if args.workers else []
    cmd += ["--threads", str(args.threads)] if args.threads else []
    page = f"/area/{COUNTY}/"
    urls = {"page": page, "map": f"{page}map.json", "panels": f"{page}panels/"}
    with serving(cmd, env, log, port):
        t = time.monotonic()
        sessions = []
        for i in range(args.users):
            sessions.append(Session(port))
            sessions[-1].login(f"load_county_{i:03d}")
        login_s = time.monotonic() - t
        marks: dict[str, Any] = {}

        def release() -> None:  # when every user is warm: the measured load starts
            marks["start"], marks["load_before"] = time.monotonic(), os.getloadavg()

        barrier = threading.Barrier(args.users, action=release)

        def user(s: Session) -> list[dict[str, Any]]:
            view(s, urls, built["county_name"], -1)  # warm-up: every worker's first requests
            barrier.wait()
            return [
                row for r in range(args.rounds) for row in view(s, urls, built["county_name"], r)
            ]

        sampler = PeakConnections()
        sampler.start()
        with ThreadPoolExecutor(max_workers=args.users) as pool:
            results = [row for rows in pool.map(user, sessions) for row in rows]
        wall = time.monotonic() - marks["start"]
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
    return "\n".join(
        [
            f"## Dashboard under load: {res['users']} county users on the demo county",
            "",
            f"Run {res['date']} with `python -m bench.dashboard_load --users {res['users']} "
            f"--rounds {res['rounds']}` on {res['cpus']} CPU cores shared with other work "
            f"(1-minute load average {res['load_avg_before'][0]:.1f} before the load, "
            f"{res['load_avg_after'][0]:.1f} after). Server: `ruralwatch serve` in production "
            f"settings on PostgreSQL — {res['server'] or 'defaults'}.",
            "",
            f"Each user logged in through the login form (a session each); all are released at "
            f"once and each opens the demo county's page {res['rounds']} times as a browser "
            "does: the page, then the map's data and the panels it fetches (a new connection "
            "per request). Latency is from the first byte sent to the last byte received, "
            "queueing included.",
            "",
            f"Answers: {statuses}; 5xx: {res['http_5xx']}; wrong page (login or error): "
            f"{res['not_ok']}. {res['requests']} requests in {res['wall_s']:.1f} s "
            f"({res['throughput_rps']} requests/s); PostgreSQL connections at peak: "
            f"{res['pg_peak_connections']}. The page's p95 is {verdict} the issue's "
            f"{res['target_p95_ms']:.0f} ms.",
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
