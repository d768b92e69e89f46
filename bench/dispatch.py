"""The scheduling loop at province scale (issue 11, "Benchmarks"): the daily cycle's task step
(``dispatch.services.sync_tasks``) over the synthetic province (about 22,000 areas) with a
winter-peak number of causes, and the inbox and accountability reads for a county holding
50,000 historical tasks. Each database (SQLite, PostgreSQL) is freshly migrated in its own
process.

Causes are written straight into the tables the task step reads, at the rates the demo county
(18 townships, 289 villages; ``ruralwatch demo``) shows over its whole winter, per county and
per eight-day window (the detection window the task step reads): 85 temporal signals on
townships, 20 single-case signals on villages; and, on the cycle date, 4 % of villages without
a report and 10 % above the overdue-contacts limits. Referrals and rebounds are left out (a
rebound is at most one task per township; a referral one per pending referral: both are single
indexed queries like the others).

Timed: the task step creating every task (first run), the same step again (idempotent: nothing
new), and again after a tenth of the causes went (the signals re-run away and reports arrived:
closing). Then 50,000 tasks over the past year are added to one county (the open ones of the
last three days, a share of them overdue) and ``inbox`` (county and township users, lists
evaluated) and ``accountability`` (the county, last 30 days and the whole year) are timed
``REPEAT`` times each: median and p95.
"""

from __future__ import annotations

import datetime as dt
import statistics
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from bench._util import (
    PG_ADMIN_URL,
    django_setup_migrate,
    log,
    postgres_env,
    run_child,
    sqlite_env,
    timed,
)

SEED = 20230122
CYCLE_DATE = dt.date(2023, 1, 20)
WINDOW_DAYS = 7  # the cycle's days_back: signals of 8 days
SIGNALS_PER_COUNTY = 85
SINGLE_PER_COUNTY = 20
MISSING_SHARE = 0.04
OVERDUE_SHARE = 0.10
HISTORY_TASKS = 50_000
REPEAT = 30
TARGETS = {"task_step_s": 5.0, "inbox_p95_ms": 200.0}
STEP_TIMEOUT_S = 1800.0
AREA_COLUMNS = ["code", "name", "level", "parent_code", "population"]
PG_DB = "ruralwatch_bench_dispatch"  # its own database: other benchmarks drop theirs
PSQL = ["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", "postgres", "-v", "ON_ERROR_STOP=1"]


def _pg(sql: str, check: bool = True) -> None:
    subprocess.run([*PSQL, "-qc", sql], check=check, capture_output=True)


def _p95(xs: list[float]) -> float:
    return float(np.percentile(np.asarray(xs), 95))


def _repeat(fn: Any, n: int) -> dict[str, float]:
    ms = [timed(fn)[1] * 1e3 for _ in range(n)]
    return {"median_ms": statistics.median(ms), "p95_ms": _p95(ms), "runs": n}


def _causes(rng: np.random.Generator, areas: pl.DataFrame) -> dict[str, Any]:
    """Signals (rule, area, date), silent villages and lagging villages, drawn per county."""
    from ruralwatch.signals.models import DetectionRule

    ears = list(
        DetectionRule.objects.filter(level=4, method__startswith="ears-", active=True)
        .order_by("id")
        .values_list("id", "method", "indicator_id")
    )
    single = DetectionRule.objects.filter(method="cidars-single-case").order_by("id").first()
    assert ears and single is not None, "the default detection rules are loaded by migrations"
    days = [CYCLE_DATE - dt.timedelta(days=i) for i in range(WINDOW_DAYS + 1)]
    towns = areas.filter(pl.col("level") == 4).select("code", "l3")
    villages = areas.filter(pl.col("level") == 5).select("code", "l3")
    signals: set[tuple[int, str, str, dt.date, str]] = set()
    for _county, part in towns.group_by("l3", maintain_order=True):
        codes = part["code"].to_list()
        for _ in range(SIGNALS_PER_COUNTY):
            rid, method, ind = ears[int(rng.integers(len(ears)))]
            day = days[int(rng.integers(len(days)))]
            signals.add((rid, method, ind, day, codes[int(rng.integers(len(codes)))]))
    singles: set[tuple[int, str, str, dt.date, str]] = set()
    for _county, part in villages.group_by("l3", maintain_order=True):
        codes = part["code"].to_list()
        for _ in range(SINGLE_PER_COUNTY):
            day = days[int(rng.integers(len(days)))]
            singles.add(
                (
                    single.id,
                    single.method,
                    single.indicator_id,
                    day,
                    codes[int(rng.integers(len(codes)))],
                )
            )
    codes = villages["code"].to_list()
    silent = set(rng.choice(codes, size=int(len(codes) * MISSING_SHARE), replace=False).tolist())
    lagging = set(rng.choice(codes, size=int(len(codes) * OVERDUE_SHARE), replace=False).tolist())
    return {"signals": signals | singles, "silent": silent, "lagging": lagging, "villages": codes}


def _write_causes(causes: dict[str, Any], now: dt.datetime) -> None:
    from ruralwatch.reporting.models import ReportValue, Submission
    from ruralwatch.signals.models import Signal

    Signal.objects.bulk_create(
        [
            Signal(
                rule_id=rid,
                area_id=area,
                indicator_id=ind,
                date=day,
                method=method,
                observed=9.0,
                expected=None if method == "cidars-single-case" else 2.0,
                threshold=None if method == "cidars-single-case" else 6.5,
                score=None if method == "cidars-single-case" else 3.1,
                params={"k": 1},
            )
            for rid, method, ind, day, area in causes["signals"]
        ],
        batch_size=2000,
    )
    Submission.objects.bulk_create(
        [
            Submission(area_id=v, date=CYCLE_DATE, submitted_at=now, delay_hours=20.0)
            for v in causes["villages"]
            if v not in causes["silent"]
        ],
        batch_size=2000,
    )
    values = []
    for v in causes["villages"]:
        overdue = 12.0 if v in causes["lagging"] else 1.0
        values.append(
            ReportValue(
                area_id=v,
                date=CYCLE_DATE,
                indicator_id="kg_overdue",
                value=overdue,
                submitted_at=now,
            )
        )
        values.append(
            ReportValue(
                area_id=v,
                date=CYCLE_DATE,
                indicator_id="kg_registered",
                value=100.0,
                submitted_at=now,
            )
        )
    ReportValue.objects.bulk_create(values, batch_size=2000)


def _remove_tenth(causes: dict[str, Any], rng: np.random.Generator, now: dt.datetime) -> int:
    """A tenth of the signals vanish (a re-run of detection) and a tenth of the silent villages
    report: the next task step closes their tasks."""
    from ruralwatch.reporting.models import Submission
    from ruralwatch.signals.models import Signal

    gone = [s for s in causes["signals"] if rng.random() < 0.1]
    ids = list(
        Signal.objects.filter(
            date__range=(CYCLE_DATE - dt.timedelta(days=WINDOW_DAYS), CYCLE_DATE)
        ).values_list("id", "rule_id", "area_id", "date")
    )
    drop = {(r, a, d) for r, _m, _i, d, a in gone}
    to_delete = [i for i, r, a, d in ids if (r, a, d) in drop]
    for k in range(0, len(to_delete), 900):
        Signal.objects.filter(id__in=to_delete[k : k + 900]).delete()
    arrived = [v for v in sorted(causes["silent"]) if rng.random() < 0.1]
    Submission.objects.bulk_create(
        [
            Submission(area_id=v, date=CYCLE_DATE, submitted_at=now, delay_hours=40.0)
            for v in arrived
        ]
    )
    return len(to_delete) + len(arrived)


def _history(county: str, now: dt.datetime, rng: np.random.Generator) -> dict[str, int]:
    """``HISTORY_TASKS`` tasks under ``county`` created over the past year: closed (mostly by
    people, with their times; some closed themselves), the last three days' ones open."""
    from ruralwatch.areas.models import Area
    from ruralwatch.dispatch.models import ROLE_FOR_LEVEL, Task, TaskKind

    kinds = {k.code: k for k in TaskKind.objects.all()}
    mix = [
        ("signal", 0.45),
        ("single_case", 0.1),
        ("missing_report", 0.25),
        ("overdue_contacts", 0.15),
        ("open_referral", 0.05),
    ]
    names = [m[0] for m in mix]
    weights = np.array([m[1] for m in mix])
    areas = list(
        Area.objects.filter(path__startswith=Area.objects.get(code=county).path, level__gte=4)
        .values("code", "level", "path", "l3", "l4")
        .order_by("code")
    )
    towns = [a for a in areas if a["level"] == 4]
    villages = [a for a in areas if a["level"] == 5]
    path_of = {a["code"]: a["path"] for a in areas}
    county_path = Area.objects.get(code=county).path
    ages = rng.uniform(0, 365 * 24, HISTORY_TASKS)  # hours before now
    which = rng.choice(len(names), size=HISTORY_TASKS, p=weights / weights.sum())
    rows = []
    counts = {"open": 0, "overdue": 0, "closed": 0, "closed_auto": 0}
    for i in range(HISTORY_TASKS):
        kind = kinds[names[int(which[i])]]
        on_village = kind.code != "signal"
        src = (villages if on_village else towns)[
            int(rng.integers(len(villages if on_village else towns)))
        ]
        created = now - dt.timedelta(hours=float(ages[i]))
        level = min(kind.owner_level, src["level"])
        owner = {3: county, 4: src["l4"], 5: src["code"]}[level]
        owner_path = county_path if level == 3 else path_of[owner]
        due_ack = created + dt.timedelta(hours=kind.ack_hours)
        due_done = created + dt.timedelta(hours=kind.done_hours)
        t = Task(
            kind=kind,
            area_id=src["code"],
            area_path=src["path"],
            date=created.date(),
            source_key=f"bench:{i}",
            status="new",
            priority=kind.priority,
            owner_role=kind.owner_role if level == kind.owner_level else ROLE_FOR_LEVEL[level],
            owner_level=level,
            owner_area_id=owner,
            owner_path=owner_path,
            due_ack=due_ack,
            due_done=due_done,
            next_escalation=due_ack,
            evidence={"bench": i},
            created_at=created,
            updated_at=created,
        )
        if ages[i] > 72:
            if rng.random() < 0.15:
                t.status, t.auto_reason = "closed_auto", "report_arrived"
                t.closed_at = created + dt.timedelta(hours=6)
                counts["closed_auto"] += 1
            else:
                ack = float(rng.gamma(2.0, 3.0))
                t.acknowledged_at = created + dt.timedelta(hours=ack)
                if kind.outcome_required:
                    t.outcome = str(
                        rng.choice(["excluded", "suspected", "confirmed"], p=[0.9, 0.08, 0.02])
                    )
                    t.outcome_at = t.acknowledged_at + dt.timedelta(
                        hours=float(rng.gamma(2.0, 6.0))
                    )
                t.status = "closed"
                t.closed_at = (t.outcome_at or t.acknowledged_at) + dt.timedelta(hours=2)
                counts["closed"] += 1
            t.next_escalation = None
        else:
            counts["open"] += 1
            if due_ack < now:
                counts["overdue"] += 1
        rows.append(t)
    Task.objects.bulk_create(rows, batch_size=2000)
    return counts


def task_child(payload: dict[str, Any]) -> dict[str, Any]:
    from django.db import connection

    migrate_s = django_setup_migrate()
    from ruralwatch.accounts.models import Role
    from ruralwatch.accounts.services import create_user_with_jurisdiction
    from ruralwatch.areas.models import Area
    from ruralwatch.areas.services import import_areas
    from ruralwatch.dispatch.selectors import accountability, inbox
    from ruralwatch.dispatch.services import sync_tasks

    rng = np.random.default_rng(SEED)
    import_areas(payload["areas"])
    areas = pl.DataFrame(
        list(Area.objects.values("code", "level", "l3")), schema=["code", "level", "l3"]
    )
    causes = _causes(rng, areas)
    # Reports of the cycle date are due 36 h after its start; the task step runs after that.
    now = dt.datetime.combine(CYCLE_DATE + dt.timedelta(days=2), dt.time(9, 0), dt.UTC)
    _write_causes(causes, now)
    if connection.vendor == "postgresql":
        with connection.cursor() as cur:
            cur.execute("ANALYZE")
    first, first_s = timed(lambda: sync_tasks(CYCLE_DATE, "/", now, days_back=WINDOW_DAYS))
    again, again_s = timed(lambda: sync_tasks(CYCLE_DATE, "/", now, days_back=WINDOW_DAYS))
    removed = _remove_tenth(causes, rng, now)
    later = now + dt.timedelta(hours=3)
    closing, closing_s = timed(lambda: sync_tasks(CYCLE_DATE, "/", later, days_back=WINDOW_DAYS))
    out: dict[str, Any] = {
        "migrate_s": migrate_s,
        "areas": len(areas),
        "by_level": {str(k): v for k, v in sorted(areas["level"].value_counts().iter_rows())},
        "signals": len(causes["signals"]),
        "task_step_s": first_s,
        "created": first.created,
        "tasks_created": sum(first.created.values()),
        "again_s": again_s,
        "again_created": sum(again.created.values()),
        "causes_removed": removed,
        "closing_s": closing_s,
        "closed": sum(closing.auto_closed.values()),
    }
    log(
        f"task step ({connection.vendor}): {out['tasks_created']} tasks in {first_s:.2f} s; "
        f"again {again_s:.2f} s; closing {out['closed']} in {closing_s:.2f} s"
    )
    # The inbox and the accountability figures of a county with a year of tasks.
    county = Area.objects.filter(level=3).order_by("code").first()
    assert county is not None
    town = Area.objects.filter(level=4, parent=county).order_by("code").first()
    assert town is not None
    hist_now = now + dt.timedelta(hours=4)
    counts = _history(county.code, hist_now, rng)
    if connection.vendor == "postgresql":
        with connection.cursor() as cur:
            cur.execute("ANALYZE dispatch_task")
    from ruralwatch.dispatch.models import Task

    in_county = Task.objects.filter(area_path__startswith=county.path).count()
    cuser = create_user_with_jurisdiction(
        "bench_county", "pw-Long-enough-123", county.code, Role.COUNTY
    )
    tuser = create_user_with_jurisdiction(
        "bench_town", "pw-Long-enough-123", town.code, Role.TOWNSHIP
    )

    def box(user: Any) -> Any:
        def run() -> int:
            user.__dict__.pop("_dispatch_role", None)  # no per-object cache across requests
            b = inbox(user, hist_now)
            return len(b["mine"]) + len(b["below"])

        return run

    def page(user: Any) -> Any:
        """The inbox page as the server answers it (session, middleware, selectors, template),
        through Django's test client: what a user waits for, less the network."""
        from django.test import Client

        client = Client(SERVER_NAME="localhost")  # a host the settings allow
        client.force_login(user)

        def run() -> int:
            response = client.get("/dispatch/")
            assert response.status_code == 200, response.status_code
            return len(response.content)

        return run

    sizes = {"county": box(cuser)(), "township": box(tuser)()}
    month = (hist_now - dt.timedelta(days=30), hist_now)
    year = (hist_now - dt.timedelta(days=366), hist_now)
    out |= {
        "county": county.code,
        "county_tasks": in_county,
        "history": counts,
        "inbox_rows": sizes,
        "inbox_county": _repeat(box(cuser), REPEAT),
        "inbox_township": _repeat(box(tuser), REPEAT),
        "accountability_month": _repeat(lambda: accountability(county, *month, hist_now), REPEAT),
        "accountability_year": _repeat(lambda: accountability(county, *year, hist_now), 10),
    }
    from unittest import mock

    # The pages read the wall clock for "now"; hold it at the history's end.
    with mock.patch("django.utils.timezone.now", return_value=hist_now):
        out["inbox_page_bytes"] = page(cuser)()
        out["inbox_page_county"] = _repeat(page(cuser), REPEAT)
        out["inbox_page_township"] = _repeat(page(tuser), REPEAT)
    log(
        f"inbox ({connection.vendor}) with {in_county} tasks in the county: county p95 "
        f"{out['inbox_county']['p95_ms']:.0f} ms, township p95 "
        f"{out['inbox_township']['p95_ms']:.0f} ms; inbox page county p95 "
        f"{out['inbox_page_county']['p95_ms']:.0f} ms; accountability month p95 "
        f"{out['accountability_month']['p95_ms']:.0f} ms, year p95 "
        f"{out['accountability_year']['p95_ms']:.0f} ms"
    )
    return out


def _areas_csv(workdir: Path, quick: bool) -> tuple[Path, str]:
    from ruralwatch.synth import build_region

    scale = "county" if quick else "province"
    region = build_region(SEED, scale=scale)  # type: ignore[arg-type]
    path = workdir / "areas.csv"
    region.areas.select(AREA_COLUMNS).write_csv(path)
    return path, scale


def run(*, quick: bool, workdir: Path) -> dict[str, Any]:
    path, scale = _areas_csv(workdir, quick)
    rows = []
    for database in ("PostgreSQL", "SQLite"):
        if database == "SQLite":
            env = sqlite_env(workdir / "sqlite")
        else:
            _pg(f"DROP DATABASE IF EXISTS {PG_DB} WITH (FORCE)")
            _pg(f"CREATE DATABASE {PG_DB}")
            env = postgres_env() | {"DATABASE_URL": f"{PG_ADMIN_URL}/{PG_DB}"}
        try:
            out = run_child(
                "bench.dispatch:task_child",
                {"areas": str(path)},
                env=env,
                workdir=workdir,
                timeout=STEP_TIMEOUT_S,
            )
        finally:
            if database == "PostgreSQL":
                _pg(f"DROP DATABASE IF EXISTS {PG_DB} WITH (FORCE)", check=False)
        rows.append({"database": database, **out})
    return {
        "scale": scale,
        "seed": SEED,
        "cycle_date": CYCLE_DATE.isoformat(),
        "rates": {
            "signals_per_county": SIGNALS_PER_COUNTY,
            "single_cases_per_county": SINGLE_PER_COUNTY,
            "missing_share": MISSING_SHARE,
            "overdue_share": OVERDUE_SHARE,
            "window_days": WINDOW_DAYS + 1,
            "history_tasks": HISTORY_TASKS,
            "repeat": REPEAT,
        },
        "targets": TARGETS,
        "rows": rows,
    }
