"""The cycle's detection and assessment in-process and on a 2-worker Dask LocalCluster.

    DATABASE_URL=postgres://…/rw_bench RURALWATCH_ENV=development \\
        python -m bench.distributed_cycle [--partition province|prefecture]

The region: the synthetic province (``synth``, scale "province", 20,863 villages) with each of
its 8 prefectures made a province of its own (codes 91…98), 2022-12-08 … 2023-01-20, the
reports that had arrived by 06:00 the next morning (new cases, deaths, fever-clinic visits),
imported and rolled up through the services once (skipped when the database has it already).
Then, each timed: detection (7 days) and assessment over the whole tree in this process, and
the same per partition on a ``LocalCluster`` of two worker processes (one thread each), after
which every signal and judgement is compared with the in-process rows (floats within 1e-9
relative; the count of those not bit-equal is printed). Prints one JSON object.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import resource
import time
from typing import Any
from zoneinfo import ZoneInfo

START, CYCLE = dt.date(2022, 12, 8), dt.date(2023, 1, 20)
FIRST = CYCLE - dt.timedelta(days=7)
MORNING = dt.datetime.combine(CYCLE + dt.timedelta(days=1), dt.time(6), ZoneInfo("Asia/Shanghai"))


def _prepare() -> None:
    import polars as pl

    from ruralwatch.areas.models import Area
    from ruralwatch.areas.services import import_areas
    from ruralwatch.cycle.services import run_cycle
    from ruralwatch.reporting.services import import_reports
    from ruralwatch.synth import build_demo

    if Area.objects.filter(level=1, code__startswith="9").count() == 8:
        return
    demo = build_demo(seed=5, scale="province", start=START, end=CYCLE)

    def relabel(col: str) -> pl.Expr:  # 99 PP … -> 9P 01 …
        c = pl.col(col)
        return (
            pl.when(c.is_null())
            .then(None)
            .otherwise(pl.lit("9") + c.str.slice(3, 1) + pl.lit("01") + c.str.slice(4))
            .alias(col)
        )

    a = demo.region.areas.filter(pl.col("level") >= 2)
    provinces = a.filter(pl.col("level") == 2).select(
        (pl.lit("9") + pl.col("code").str.slice(3, 1) + pl.lit("0000000000")).alias("code"),
        (pl.col("name") + "省").alias("name"),
        pl.lit(1).cast(pl.Int8).alias("level"),
        pl.lit(None, pl.String).alias("parent_code"),
        pl.col("population"),
    )
    a = a.with_columns(relabel("code"), relabel("parent_code")).select(
        "code", "name", "level", "parent_code", "population"
    )
    a = a.with_columns(
        pl.when(pl.col("level") == 2)
        .then(pl.lit("9") + pl.col("code").str.slice(1, 1) + pl.lit("0000000000"))
        .otherwise(pl.col("parent_code"))
        .alias("parent_code")
    )
    work = os.path.join(os.environ.get("TMPDIR", "/tmp"), f"rw-distributed-{os.getpid()}")
    os.makedirs(work, exist_ok=True)
    pl.concat([provinces, a]).sort("level", "code").write_csv(f"{work}/areas.csv")
    import_areas(f"{work}/areas.csv")
    arrived = pl.lit(MORNING, dtype=pl.Datetime("us", "Asia/Shanghai"))
    values = (
        demo.reports.values.filter(
            pl.col("indicator").is_in(["new_cases", "deaths", "fever_visits"]),
            pl.col("submitted_at") <= arrived,
        )
        .with_columns(relabel("area_code"))
        .with_columns(pl.col("submitted_at").dt.strftime("%Y-%m-%d %H:%M:%S"))
        .pivot(
            on="indicator", index=["area_code", "date", "reporter", "submitted_at"], values="value"
        )
    )
    for (_day,), part in values.group_by("date", maintain_order=True):
        part.write_csv(f"{work}/day.csv")
        import_reports(f"{work}/day.csv", now=MORNING)
    run_cycle(CYCLE, now=MORNING)  # roll-up (and the rest) once


def _rows() -> dict[str, list[tuple[Any, ...]]]:
    from ruralwatch.assessments.models import Judgement
    from ruralwatch.signals.models import Signal

    out = {}
    for name, model in (("signals", Signal), ("judgements", Judgement)):
        own = [f.attname for f in model._meta.concrete_fields if not f.primary_key]
        out[name] = sorted(model.objects.values_list(*own), key=repr)
    return out


def _compare(a: Any, b: Any, counts: dict[str, int]) -> None:
    if isinstance(a, float) and isinstance(b, float):
        if a != b:
            close = math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)
            counts["inexact" if close else "different"] += 1
    elif isinstance(a, dict) and isinstance(b, dict):
        if a.keys() != b.keys():
            counts["different"] += 1
            return
        for k in a:
            _compare(a[k], b[k], counts)
    elif isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        if len(a) != len(b):
            counts["different"] += 1
            return
        for x, y in zip(a, b, strict=True):
            _compare(x, y, counts)
    elif a != b:
        counts["different"] += 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--partition", default="province", choices=["province", "prefecture"])
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ruralwatch.config.settings")
    import django

    django.setup()
    from distributed import Client, LocalCluster

    from ruralwatch.assessments.models import Judgement
    from ruralwatch.assessments.services import assess
    from ruralwatch.cycle import distributed
    from ruralwatch.signals.models import Signal
    from ruralwatch.signals.services import detect_signals

    _prepare()
    out: dict[str, Any] = {"partition": args.partition, "load_before": os.getloadavg()}
    began = time.perf_counter()
    detect_signals(FIRST, CYCLE, root_path="/")
    out["in_process_detect_s"] = round(time.perf_counter() - began, 1)
    began = time.perf_counter()
    out["areas"] = assess(CYCLE, root_path="/").areas
    out["in_process_assess_s"] = round(time.perf_counter() - began, 1)
    out["in_process_peak_rss_mib"] = round(
        resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    )
    want = _rows()
    Signal.objects.all().delete()
    Judgement.objects.all().delete()
    with (
        LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=":0") as cluster,
        Client(cluster) as client,
    ):
        client.run(distributed._django_ready)  # long-running workers have Django set up
        runner = distributed.Partitioned(client, args.partition)
        began = time.perf_counter()
        _summary, d = runner.start_detect(FIRST, CYCLE, "/").result()
        out["dask_detect_s"] = round(time.perf_counter() - began, 1)
        began = time.perf_counter()
        _merged, a = runner.start_assess(CYCLE, "/").result()
        out["dask_assess_s"] = round(time.perf_counter() - began, 1)
        out["tasks"] = {"detect": len(d.partitions), "assess": len(a.partitions)}
        out["failed"] = d.failed + a.failed
        out["largest_task_s"] = {
            "detect": max(p["seconds"] for p in d.partitions.values()),
            "assess": max(p["seconds"] for p in a.partitions.values()),
        }
    got = _rows()
    counts = {"inexact": 0, "different": 0}
    for kind in want:
        out[f"{kind}_rows"] = [len(want[kind]), len(got[kind])]
        _compare(want[kind], got[kind], counts)
    out.update(floats_not_bit_equal=counts["inexact"], different=counts["different"])
    out["load_after"] = os.getloadavg()
    print(json.dumps(out, ensure_ascii=False))


if __name__ == "__main__":
    main()
