"""The cycle's validation, detection and assessment on a Dask ``LocalCluster`` (two worker
processes) and on a local pool of two worker processes (PostgreSQL) give the outputs of the
in-process run, row by row: outlier flags and violations, signals, judgements with their
evidence and sentences, and what the detection rules recorded.

The region: three synthetic counties relabelled into two provinces (91 with two prefectures,
92 with one), imported through the importers, with the reports that had arrived by 06:00 the
morning after the cycle date (so the nowcast is at work and each province's latest report is
at another moment), and province and prefecture detection rules besides the default ones (so
that partitioning by prefecture has rules above its partitions).

The workers are separate processes that configure Django from their own environment, so they
need a database they can open (the session's SQLite test database is in memory): this module
makes a database of its own (a SQLite file, or a PostgreSQL database beside the test
database), a copy of the session's migrated test database, and switches its ``default``
connection to it.
"""

from __future__ import annotations

import datetime as dt
import math
import multiprocessing
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import polars as pl
import pytest
from django.db import connection, connections, transaction
from django.test import override_settings

from ruralwatch.assessments.models import Judgement
from ruralwatch.cycle import distributed
from ruralwatch.dispatch.models import Task
from ruralwatch.intake.models import OutlierFlag, Violation
from ruralwatch.signals.models import DetectionRule, Signal
from tests.cycle import faults

START = dt.date(2022, 12, 8)
CYCLE = dt.date(2023, 1, 20)
#: Detection reaches back over the rise of the epidemic, so every method has signals.
DETECT_FROM = dt.date(2022, 12, 16)
#: (seed, province, prefecture, province name): three synthetic counties, two provinces.
COUNTIES = [(11, "91", "01", "东岭省"), (12, "91", "02", "东岭省"), (13, "92", "01", "西川省")]
INDICATORS = ["new_cases", "deaths", "fever_visits"]


def _relabel(col: str, province: str, prefecture: str) -> pl.Expr:
    """The synthetic province 99 and prefecture 01 renamed: province ``province``, and below
    it prefecture ``prefecture``."""
    c = pl.col(col)
    return (
        pl.when(c.is_null())
        .then(None)
        .when(c.str.slice(2) == "0000000000")
        .then(pl.lit(province) + c.str.slice(2))
        .otherwise(pl.lit(province + prefecture) + c.str.slice(4))
        .alias(col)
    )


def _write_region(out: Path) -> tuple[Path, list[Path], dt.datetime]:
    from ruralwatch.synth import build_demo

    areas, files = [], []
    morning = dt.datetime.combine(
        CYCLE + dt.timedelta(days=1), dt.time(6), tzinfo=ZoneInfo("Asia/Shanghai")
    )
    arrived = pl.lit(morning, dtype=pl.Datetime("us", "Asia/Shanghai"))
    seen: set[str] = set()
    for seed, province, prefecture, name in COUNTIES:
        demo = build_demo(seed=seed, start=START, end=CYCLE)
        a = demo.region.areas.with_columns(
            _relabel("code", province, prefecture), _relabel("parent_code", province, prefecture)
        ).with_columns(
            pl.when(pl.col("level") == 1).then(pl.lit(name)).otherwise(pl.col("name")).alias("name")
        )
        if province in seen:
            a = a.filter(pl.col("level") > 1)
        seen.add(province)
        areas.append(a.select("code", "name", "level", "parent_code", "population"))
        v = (
            demo.reports.values.filter(
                pl.col("indicator").is_in(INDICATORS), pl.col("submitted_at") <= arrived
            )
            .with_columns(_relabel("area_code", province, prefecture))
            .with_columns(pl.col("submitted_at").dt.strftime("%Y-%m-%d %H:%M:%S"))
            .pivot(
                on="indicator",
                index=["area_code", "date", "reporter", "submitted_at"],
                values="value",
            )
        )
        path = out / f"reports-{province}{prefecture}.csv"
        v.write_csv(path)
        files.append(path)
    areas_path = out / "areas.csv"
    pl.concat(areas).sort("level", "code").write_csv(areas_path)
    return areas_path, files, morning


def _rows(model: Any, *first: str, leave_out: tuple[str, ...] = ()) -> list[tuple[Any, ...]]:
    """Every row of ``model`` (``first`` columns, then its own but the id and ``leave_out``),
    sorted."""
    own = [
        f.attname
        for f in model._meta.concrete_fields
        if not f.primary_key and f.attname not in leave_out
    ]
    return sorted(model.objects.values_list(*first, *own), key=repr)


def _snapshot() -> dict[str, Any]:
    """Every output of validation, detection, assessment and tasks, as sorted rows (ids left
    out)."""
    return {
        "flags": _rows(OutlierFlag),
        "violations": _rows(Violation),
        "signals": _rows(Signal, "rule__level", "rule__method"),
        "judgements": _rows(Judgement),
        # (the id of a task's signal is that of the signal's row, written again by each run)
        "tasks": _rows(Task, "kind__code", leave_out=("source_id",)),
        "rules": sorted(
            DetectionRule.objects.values_list("pk", "active", "last_run", "last_error")
        ),
    }


#: What the cycle's record of a partitioned step says of where and how long it ran.
RUN = {"seconds", "began_s", "runner", "partition_level", "partitions", "parts_seconds", "parts"}


def _steps(result: Any) -> dict[str, Any]:
    """The cycle's record of validation, detection and assessment, without where and how
    long they ran."""
    return {
        name: {k: v for k, v in result.steps[name].items() if k not in RUN}
        for name in ("validate", "detect", "assess", "tasks")
    }


def _same(a: Any, b: Any, where: str, inexact: list[str]) -> None:
    """``a`` equals ``b`` (JSON evidence compared key by key), floats within 1e-9 relative:
    batched fits over a province's units instead of the whole tree's sum in another order, so
    the last bits of a growth interval may differ (recorded in ``inexact``); every text,
    code, count and flag is equal."""
    if isinstance(a, float) and isinstance(b, float):
        if a != b:
            assert math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12), f"{where}: {a} != {b}"
            inexact.append(f"{where}: {a!r} vs {b!r}")
    elif isinstance(a, dict) and isinstance(b, dict):
        assert a.keys() == b.keys(), f"{where}: keys {sorted(a)} != {sorted(b)}"
        for k in a:
            _same(a[k], b[k], f"{where}.{k}", inexact)
    elif isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        assert len(a) == len(b), f"{where}: {a} != {b}"
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _same(x, y, f"{where}[{i}]", inexact)
    else:
        assert a == b, f"{where}: {a!r} != {b!r}"


def _assert_same(got: dict[str, Any], want: dict[str, Any]) -> None:
    inexact: list[str] = []
    for kind in want:
        g, w = got[kind], want[kind]
        assert len(g) == len(w), f"{kind}: {len(g)} rows, in-process {len(w)}"
        for a, b in zip(g, w, strict=True):
            assert a[:4] == b[:4], f"{kind}: row {a[:4]} where the in-process run has {b[:4]}"
            _same(a, b, f"{kind} {a[:4]}", inexact)
    rows = sum(len(v) for v in want.values())
    print(f"{rows} rows equal; {len(inexact)} floats not bit-equal, e.g. {inexact[:2]}")


def _assert_in_process_outputs(result: Any, region: dict[str, Any]) -> None:
    """A partitioned cycle (Dask or the pool) did what the in-process run did: the same rules
    did not run, the same stored rows and the same steps' records."""
    assert result.did_not_run == [
        {"step": "detect", "rule": r, "error": e}
        for r, e in {
            **region["steps"]["detect"]["skipped"],
            **region["steps"]["detect"]["failed"],
        }.items()
    ]
    _assert_same(_snapshot(), region["want"])
    assert _steps(result) == region["steps"]
    _assert_tasks_split(result.steps["tasks"])


def _assert_tasks_split(tasks: dict[str, Any]) -> None:
    """A partitioned cycle made the tasks in two parts around the assessment's end: the kinds
    whose causes are judgements (the rebound watch) after it, every other kind beside it."""
    from ruralwatch.dispatch.models import TaskKind
    from ruralwatch.dispatch.services import JUDGEMENT_SOURCES

    parts = tasks["parts"]
    assert list(parts) == ["beside_assessment", "after_assessment"]
    sources = dict(TaskKind.objects.filter(active=True).values_list("code", "source"))
    judged = {k for k, source in sources.items() if source in JUDGEMENT_SOURCES}
    assert set(parts["after_assessment"]["created"]) == judged
    assert set(parts["beside_assessment"]["created"]) == set(sources) - judged
    assert sum(parts["beside_assessment"]["created"].values()) > 0
    assert parts["after_assessment"]["began_s"] >= parts["beside_assessment"]["began_s"]


def _clear() -> None:
    """Remove the outputs, so a run that writes nothing cannot pass for one that writes the
    same (the in-process run's rows would still be there)."""
    OutlierFlag.objects.all().delete()
    Violation.objects.all().delete()
    Signal.objects.all().delete()
    Judgement.objects.all().delete()
    Task.objects.all().delete()
    DetectionRule.objects.update(last_run=None, last_error="")


@pytest.fixture(scope="module")
def shared_database(
    request: pytest.FixtureRequest,
    django_db_setup: None,
    django_db_blocker: Any,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[str]:
    """A database of its own for this module that other processes can open (the session's
    SQLite test database is in memory); the module's ``default`` connection uses it. Yields
    its ``DATABASE_URL`` for the workers.

    It is a copy of the session's test database, which the migrations made and the tests
    before left as it was (they roll back; those that commit run last): SQLite's backup of
    the in-memory database into a file, PostgreSQL's ``CREATE DATABASE … TEMPLATE``. Running
    the 63 migrations again took 4-5 CPU s (SQLite) and more on PostgreSQL (a commit each).
    When no test of the run asked pytest-django for the database (this module alone: its tests
    reach the database through the blocker only), there is no test database to copy, and when a
    transactional test's teardown has emptied it (tests.fixtures.order runs this module before
    them), the data the migrations load is gone: then the new database is migrated."""
    from django.core.management import call_command
    from pytest_django.fixtures import _get_databases_for_setup

    copy = "default" in _get_databases_for_setup(request.session.items)[0]
    with django_db_blocker.unblock():
        old = connections["default"]
        s = old.settings_dict
        copy = copy and DetectionRule.objects.exists()  # what the migrations loaded is there
        if old.vendor == "sqlite":
            import sqlite3

            path = tmp_path_factory.mktemp("distributed") / "cycle.sqlite3"
            clone = {**s, "NAME": str(path)}
            url = f"sqlite:///{path}"
            if copy:
                old.ensure_connection()
                assert not old.in_atomic_block
                with sqlite3.connect(path) as target:
                    old.connection.backup(target)
                target.close()
        else:
            import psycopg

            base = str(s["NAME"]).removeprefix("test_")
            name = f"test_{base}_distributed{os.environ.get('PYTEST_XDIST_WORKER', '')}"
            admin: dict[str, Any] = {
                "host": s["HOST"] or "127.0.0.1",
                "port": s["PORT"] or 5432,
                "user": s["USER"],
                "dbname": "postgres",
                "autocommit": True,
            }
            if s.get("PASSWORD"):
                admin["password"] = s["PASSWORD"]
            assert not old.in_atomic_block
            old.close()  # a template may have no other session
            template = f' TEMPLATE "{s["NAME"]}"' if copy else ""
            with psycopg.connect(**admin) as c:
                c.execute(f'DROP DATABASE IF EXISTS "{name}"')
                c.execute(f'CREATE DATABASE "{name}"{template}')
            clone = {**s, "NAME": name}
            url = f"postgres://{s['USER']}@{admin['host']}:{admin['port']}/{name}"
        new = old.__class__(clone, alias="default")
        connections["default"] = new
        try:
            if not copy:
                call_command("migrate", verbosity=0, interactive=False)
            yield url
        finally:
            new.close()
            connections["default"] = old
            if old.vendor == "postgresql":
                with psycopg.connect(**admin) as c:
                    c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="module")
def region(shared_database: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The region imported, the extra rules added, and the in-process cycle's outputs."""
    from ruralwatch.areas.services import import_areas
    from ruralwatch.cycle.services import run_cycle
    from ruralwatch.reporting.services import import_reports

    out = tmp_path_factory.mktemp("region")
    areas_path, files, morning = _write_region(out)
    import_areas(areas_path)
    for f in files:
        import_reports(f, now=morning)
    for level in (1, 2):
        DetectionRule.objects.create(indicator_id="new_cases", level=level, method="ears-c1")
    began = time.perf_counter()
    # in-process: one worker on PostgreSQL; on SQLite two, which must not start a pool
    workers = 1 if connection.vendor == "postgresql" else 2
    with override_settings(RURALWATCH_CYCLE_WORKERS=workers):
        result = run_cycle(CYCLE, start=DETECT_FROM, now=morning)
    seconds = time.perf_counter() - began
    print(f"\nin-process cycle (roll-up … tasks): {seconds:.1f} s; {result.steps['detect']}")
    assert {result.steps[s]["runner"] for s in ("validate", "detect", "assess")} == {"in-process"}
    want = _snapshot()
    assert want["flags"] and want["signals"] and want["judgements"] and want["tasks"]
    # the nowcast is at work, and a province's latest report is not the whole tree's
    from ruralwatch.assessments.nowcasting import moment

    assert any(j[-1].get("nowcast") for j in want["judgements"])
    tree = moment("/", CYCLE, "new_cases")
    assert {moment(f"/{p}0000000000/", CYCLE, "new_cases") for p in ("91", "92")} - {tree}
    return {
        "want": want,
        "steps": _steps(result),
        "morning": morning,
        "validated": result.steps["validate"]["partitions"],  # how many partitions
    }


@pytest.fixture(scope="module")
def scheduler(shared_database: str) -> Iterator[str]:
    """A LocalCluster of two worker processes whose environment names the clone."""
    from distributed import LocalCluster

    before = os.environ.get("DATABASE_URL")
    os.environ["DATABASE_URL"] = shared_database
    try:
        with LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0"
        ) as cluster:
            yield cluster.scheduler_address
    finally:
        if before is None:
            os.environ.pop("DATABASE_URL", None)
        else:
            os.environ["DATABASE_URL"] = before


def _run(settings: Any, address: str, level: str, morning: dt.datetime) -> Any:
    from ruralwatch.cycle.services import run_cycle

    settings.RURALWATCH_DASK_SCHEDULER = address
    settings.RURALWATCH_DASK_PARTITION = level
    _clear()
    began = time.perf_counter()
    result = run_cycle(CYCLE, start=DETECT_FROM, now=morning)
    print(f"\nDask cycle by {level} (2 workers): {time.perf_counter() - began:.1f} s")
    return result


@pytest.mark.parametrize("level", ["province", "prefecture"])
def test_dask_cycle_gives_the_in_process_outputs(
    region: dict[str, Any], scheduler: str, settings: Any, level: str
) -> None:
    result = _run(settings, scheduler, level, region["morning"])
    _assert_in_process_outputs(result, region)
    parts = result.steps["detect"]["partitions"]
    workers = {
        p["worker"]
        for step in ("validate", "detect", "assess")
        for p in result.steps[step]["partitions"].values()
    }
    # both workers took partitions (detection's may all go to the one that finished its
    # validation first: they overtake the queued ones, with the assessment's)
    assert len(workers) == 2, result.steps
    # each worker decides for its own session, as the pool does for its workers: the server
    # runs on the workers' machine here, so their queries plan no parallel workers (SQLite
    # plans none at all)
    planned = {
        p["parallel_workers"]
        for step in ("validate", "detect", "assess")
        for p in result.steps[step]["partitions"].values()
    }
    assert planned == ({0} if connection.vendor == "postgresql" else {None})
    if level == "province":
        assert set(parts) == {"910000000000", "920000000000"}
    else:  # three prefectures, and the province rules over the whole tree
        assert set(parts) == {"910100000000", "910200000000", "920100000000", "/"}
    assert set(result.steps["assess"]["partitions"]) == {"910000000000", "920000000000"}


def test_in_process_partitions_give_the_same_outputs(
    region: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without a client the runner does the same tasks one after the other in this process."""
    from ruralwatch.assessments.services import judged_on

    runner = distributed.Partitioned(client=None, level="prefecture")
    _clear()
    replace: list[bool] = []
    start = runner._start

    def noting(tasks: list[distributed.Task], *args: Any) -> Any:
        replace.extend(t.replace for t in tasks if t.step == "assess")
        return start(tasks, *args)

    monkeypatch.setattr(runner, "_start", noting)
    assert not judged_on(CYCLE) and not judged_on(CYCLE, "/910000000000/")
    lines: list[str] = []
    detection, d_run = runner.start_detect(
        DETECT_FROM, CYCLE, "/", lambda s, a, t: lines.append(s)
    ).result()
    merged, a_run = runner.start_assess(CYCLE, "/", lambda s, a, t: lines.append(s)).result()
    got = _snapshot()
    # The rules' state is written by the cycle, which also rolls up; rows are the same.
    _assert_same(
        {k: got[k] for k in ("signals", "judgements")},
        {k: region["want"][k] for k in ("signals", "judgements")},
    )
    assert not d_run.failed and not a_run.failed
    assert detection.signals_by_method == region["steps"]["detect"]["signals_by_method"]
    assert merged["areas"] == region["steps"]["assess"]["areas"]
    # one progress line per partition as it starts and as it ends
    assert lines.count("assess 910000000000 东岭省") == 2
    assert {line.split()[1] for line in lines if line.startswith("detect")} == {
        "910100000000",
        "910200000000",
        "920100000000",
        "/",
    }
    # The date held no judgement: no partition deleted (replace=False). Run again, the date
    # is judged: each partition replaces its own rows in its transaction, the same rows.
    assert replace == [False, False]
    assert judged_on(CYCLE) and judged_on(CYCLE, "/910000000000/")
    again, run = runner.start_assess(CYCLE, "/").result()
    assert replace == [False, False, True, True] and not run.failed
    assert again["areas"] == merged["areas"]
    _assert_same({"judgements": _snapshot()["judgements"]}, {"judgements": got["judgements"]})


def test_a_worker_on_another_database_refuses(shared_database: str) -> None:
    task = distributed.Task(
        "detect",
        distributed.Part("910000000000", "/910000000000/", "东岭省"),
        CYCLE,
        CYCLE,
        ("postgresql", "some_other_database"),
    )
    out = distributed.run_task(task)
    assert out.result is None
    assert out.error is not None and "some_other_database" in out.error


def test_a_failed_partition_is_recorded_and_the_others_complete(
    region: dict[str, Any], scheduler: str, settings: Any
) -> None:
    """On the workers, detection and assessment fail for the province 92 (a fault injected
    there); the cycle records both like rules that did not run, and province 91's rows are
    written as the in-process run wrote them."""
    from distributed import Client

    def inject(path: str) -> None:  # runs in each worker process
        from ruralwatch.cycle.distributed import _django_ready

        _django_ready()
        from ruralwatch.assessments import services as assessments
        from ruralwatch.signals import services as signals

        def failing(real: Any) -> Any:
            def run(*args: Any, **kwargs: Any) -> Any:
                if kwargs.get("root_path") == path:
                    raise OSError("disk full (injected)")
                return real(*args, **kwargs)

            run.real = real  # type: ignore[attr-defined]
            return run

        signals.detect_signals = failing(signals.detect_signals)
        assessments.assess = failing(assessments.assess)

    def restore() -> None:
        from ruralwatch.assessments import services as assessments
        from ruralwatch.signals import services as signals

        signals.detect_signals = signals.detect_signals.real  # type: ignore[attr-defined]
        assessments.assess = assessments.assess.real  # type: ignore[attr-defined]

    with Client(scheduler, set_as_default=False) as client:
        client.run(inject, "/920000000000/")
        try:
            result = _run(settings, scheduler, "province", region["morning"])
        finally:
            client.run(restore)
    failed = [d for d in result.did_not_run if "partition" in d]
    assert failed == [
        {"step": "detect", "partition": "920000000000", "error": "OSError: disk full (injected)"},
        {"step": "assess", "partition": "920000000000", "error": "OSError: disk full (injected)"},
    ]
    got = _snapshot()
    in_91 = {
        "signals": [r for r in region["want"]["signals"] if r[3].startswith("91")],  # area
        "judgements": [r for r in region["want"]["judgements"] if r[0].startswith("91")],
    }
    _assert_same({k: got[k] for k in in_91}, in_91)
    assert result.steps["tasks"].get("error") is None  # the cycle went on


def test_an_unreachable_scheduler_is_an_error_and_none_is_in_process(shared_database: str) -> None:
    """``connect`` raises for a scheduler nobody listens on (the cycle then records it and
    runs in-process) and gives no runner without an address."""
    assert distributed.connect(scheduler="", workers=1) is None
    with pytest.raises((OSError, TimeoutError)):
        distributed.connect(scheduler="tcp://127.0.0.1:9", timeout=2)


def test_dask_workers_start_before_the_first_task(shared_database: str) -> None:
    """The cycle's start hands every Dask worker what a pool's worker does as it starts
    (Django configured, the steps' code imported) ahead of the first task, without waiting
    for it: in the first task of each step it was the task's own CPU."""
    from distributed import LocalCluster

    def _worker_started() -> bool:
        """On a worker (defined here, so that it travels by value: this module imports
        Django's models): Django configured and the steps' code imported."""
        import sys

        from django.apps import apps

        steps = ("intake.nightly", "signals.services", "assessments.services")
        return apps.ready and all(f"ruralwatch.{m}" in sys.modules for m in steps)

    with LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0"
    ) as cluster:
        runner = distributed.connect(scheduler=cluster.scheduler_address)
        assert runner is not None and runner.runner == "dask"
        try:
            assert set(runner.client.run(_worker_started).values()) == {False}
            began = time.perf_counter()
            runner.start_workers()
            assert time.perf_counter() - began < 1.0  # handed over, not waited for
            deadline = time.monotonic() + 60
            while set(runner.client.run(_worker_started).values()) != {True}:
                assert time.monotonic() < deadline, runner.client.run(_worker_started)
                time.sleep(0.2)
            runner.start_workers()  # again (the next cycle): nothing to do on them
        finally:
            runner.close()


# ---------------------------------------------------------------------------------------------
# A pool of local worker processes (PostgreSQL)
# ---------------------------------------------------------------------------------------------


def test_a_pool_only_where_it_can_share_the_work(shared_database: str, region: Any) -> None:
    """A pool for more than one worker on PostgreSQL over more than one province, outside a
    transaction; never on SQLite, nor for one worker, one province or inside a transaction
    (the workers would not see what it has not committed). Nothing is started until the
    first task."""
    one_province = "/910000000000/"
    if connection.vendor != "postgresql":
        assert distributed.connect(scheduler="", workers=2) is None
        return
    runner = distributed.connect(scheduler="", workers=2)
    assert runner is not None and runner.pool is not None and runner.runner == "pool of 2"
    assert runner.pool._executor is None  # started at the first task only
    runner.close()
    assert distributed.connect(scheduler="", workers=1) is None
    assert distributed.connect(scheduler="", workers=2, root_path=one_province) is None
    with transaction.atomic():
        assert distributed.connect(scheduler="", workers=2) is None


@pytest.fixture
def pool_environment(shared_database: str, monkeypatch: pytest.MonkeyPatch, settings: Any) -> None:
    """Pool workers inherit this process's environment: the clone's ``DATABASE_URL``. Two
    workers, no scheduler."""
    if connection.vendor != "postgresql":
        pytest.skip("the cycle's pool runs on PostgreSQL only (DATABASE_URL)")
    monkeypatch.setenv("DATABASE_URL", shared_database)
    settings.RURALWATCH_DASK_SCHEDULER = ""
    settings.RURALWATCH_CYCLE_WORKERS = 2


def _pool_cycle(morning: dt.datetime) -> Any:
    from ruralwatch.cycle.services import run_cycle

    _clear()
    began = time.perf_counter()
    result = run_cycle(CYCLE, start=DETECT_FROM, now=morning)
    print(f"\npool cycle (2 workers): {time.perf_counter() - began:.1f} s")
    return result


def test_pool_cycle_gives_the_in_process_outputs(
    region: dict[str, Any], pool_environment: None
) -> None:
    others = {p.pid for p in multiprocessing.active_children()}  # e.g. a LocalCluster's
    result = _pool_cycle(region["morning"])
    _assert_in_process_outputs(result, region)
    # the cycle's record lists the partitions that nightly() counts
    assert len(result.steps["validate"]["partitions"]) == region["validated"] == 2
    workers: set[str] = set()
    for name in ("validate", "detect", "assess"):
        step = result.steps[name]
        assert step["runner"] == "pool of 2"
        assert set(step["partitions"]) == {"910000000000", "920000000000"}
        for part in step["partitions"].values():
            assert part["worker"].split(":")[-1] != str(os.getpid())  # not this process
            assert part["cpu_s"] > 0 and part["peak_rss_mib"] > 0
            assert part["db_cpu_s"] is not None
            # the server runs on this machine: the workers' queries plan no parallel workers
            assert part["parallel_workers"] == 0
            workers.add(part["worker"])
    assert len(workers) == 2  # one pool for the whole cycle, both of its workers at work
    # let go before the rebound watch's tasks, and waited for before the cycle returned
    assert {p.pid for p in multiprocessing.active_children()} <= others
    with connection.cursor() as cur:  # this process's session has the server's setting again
        cur.execute("SHOW max_parallel_workers_per_gather")
        assert int(cur.fetchone()[0]) > 0


def test_parallel_query_beside_the_pool_is_a_setting(pool_environment: None, settings: Any) -> None:
    """ "auto": none where the server runs on this machine (as here), "on": the server's."""
    assert distributed.database_on_this_machine()
    settings.RURALWATCH_CYCLE_PARALLEL_QUERY = "auto"
    assert distributed.parallel_query_here() is False
    settings.RURALWATCH_CYCLE_PARALLEL_QUERY = "on"
    assert distributed.parallel_query_here() is True
    settings.RURALWATCH_CYCLE_PARALLEL_QUERY = "off"
    assert distributed.parallel_query_here() is False
    with distributed.serial_queries(True), connection.cursor() as cur:
        cur.execute("SHOW max_parallel_workers_per_gather")
        assert cur.fetchone()[0] == "0"
    with connection.cursor() as cur:
        cur.execute("SHOW max_parallel_workers_per_gather")
        assert cur.fetchone()[0] != "0"


def test_a_failed_partition_on_the_pool_is_recorded_and_the_others_complete(
    region: dict[str, Any], pool_environment: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Province 91's validation and detection raise on the workers, and its assessment kills
    its worker process: the cycle records the three, and province 92's rows are written as
    the in-process run wrote them (also its assessment, if the dead worker took it down with
    the pool: it ran again)."""
    monkeypatch.setattr(distributed, "_start_worker", faults.start_with_faults)
    result = _pool_cycle(region["morning"])
    failed = [d for d in result.did_not_run if "partition" in d]
    assert [(d["step"], d["partition"]) for d in failed] == [
        ("validate", "910000000000"),
        ("detect", "910000000000"),
        ("assess", "910000000000"),
    ]
    assert failed[0]["error"] == failed[1]["error"] == "OSError: disk full (injected)"
    assert failed[2]["error"].startswith("BrokenProcessPool")
    got = _snapshot()
    in_92 = {
        "flags": [r for r in region["want"]["flags"] if r[0].startswith("92")],  # area
        "signals": [r for r in region["want"]["signals"] if r[3].startswith("92")],
        "judgements": [r for r in region["want"]["judgements"] if r[0].startswith("92")],
    }
    assert all(in_92.values())
    _assert_same({k: got[k] for k in in_92}, in_92)  # and nothing of province 91
    assert result.steps["tasks"].get("error") is None  # the cycle went on


def test_validation_falls_back_to_the_county_loop_where_the_bounded_read_does_not_hold(
    region: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where nightly()'s bounded read does not hold, the runner's validation is the
    county-by-county reference, run here as one step (no partitions): the same flags."""
    from ruralwatch.intake import nightly

    monkeypatch.setattr(nightly, "_bounded", lambda *args: False)
    _clear()
    totals, run = (
        distributed.Partitioned().start_validate(CYCLE, 7, "/", region["morning"]).result()
    )
    assert totals["counties"] == 3 and "values_read" not in totals  # nightly_per_county's
    assert run.partitions == {} and run.runner == "in-process"
    got = _snapshot()
    _assert_same(
        {k: got[k] for k in ("flags", "violations")},
        {k: region["want"][k] for k in ("flags", "violations")},
    )
