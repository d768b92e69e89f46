"""Resources at province scale (issue 14): the synthetic province (about 1,000 townships,
20,000 villages, 22,700 facilities, 5 items) loaded through the importers; then, timed:

- the province **gap computation**: capacity on the date, coverage gaps, the stock status of
  every facility and item against the minimum rules with days of supply from consumption
  and from assessed demand (``resources_summary`` of the province);
- the province **allocation**: one shipment per county (60 % of the county's need of each of
  the five items), to every health centre and village clinic, with a vehicle-load limit on a
  third of the townships, solved to optimality (``mip_rel_gap`` 1e-6) by HiGHS — weighted
  and max-min; the time of building the inputs from the database is given apart.

    python -m bench --only resources        (both databases; section 9 of docs/benchmarks.md)
    python -m bench.resources [--quick] [--sqlite-only]   (prints the JSON only)
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from bench._util import PG_ADMIN_URL, log, run_child, sqlite_env

SEED = 20230122
ON = dt.date(2023, 2, 5)
PG_DB = "rw_h3_bench"
ITEMS = ["antipyretic", "antigen_kit", "pulse_oximeter", "oxygen_concentrator", "health_pack"]
SHARE = 0.6
REPEAT = 3


def child(payload: dict[str, Any]) -> dict[str, Any]:
    """In a fresh interpreter: migrate, load the province, time the gap computation and the
    allocation."""
    import numpy as np
    import polars as pl

    from bench._util import django_setup_migrate

    django_setup_migrate()
    from ruralwatch.areas.models import Area
    from ruralwatch.areas.services import delete_subtree, import_areas
    from ruralwatch.resources import selectors
    from ruralwatch.resources.allocation import AllocationProblem, solve
    from ruralwatch.resources.models import Item
    from ruralwatch.resources.services import load_synthetic
    from ruralwatch.synth.region import build_region
    from ruralwatch.synth.resources import build_resources

    work = Path(payload["workdir"])
    region = build_region(SEED, scale=payload["scale"])
    res = build_resources(region, SEED, on=ON)
    province = region.areas.filter(pl.col("level") == 1)["code"][0]
    delete_subtree(province)
    areas_csv = work / "areas.csv"
    region.areas.select(
        "code", "name", "level", "parent_code", "population", "population_65plus", "key_areas"
    ).write_csv(areas_csv)
    t0 = time.perf_counter()
    import_areas(areas_csv)
    t_areas = time.perf_counter() - t0
    t0 = time.perf_counter()
    loaded = load_synthetic(res, work / "resources", today=ON)
    t_load = time.perf_counter() - t0
    root = Area.objects.get(code=province)

    gap_times = []
    for _ in range(REPEAT):
        t0 = time.perf_counter()
        summary = selectors.resources_summary(root.path, ON)
        gap_times.append(time.perf_counter() - t0)

    t0 = time.perf_counter()
    inputs = selectors.allocation_inputs(root.path, ON, ITEMS, group_level=3)
    t_inputs = time.perf_counter() - t0
    recipients = inputs.select("code").unique(maintain_order=True)
    n, k = recipients.height, len(ITEMS)
    first = inputs.unique("code", keep="first", maintain_order=True)
    counties = first["supply_group"].to_list()
    c_index = {c: i for i, c in enumerate(sorted(set(counties)))}
    townships = first["township"].fill_null("").to_list()
    t_index = {c: i for i, c in enumerate(sorted(set(townships)))}
    need = inputs["need"].to_numpy().reshape(n, k)
    minimum = inputs["short_of_minimum"].to_numpy().reshape(n, k)
    need = np.maximum(need, minimum)
    group = np.array([c_index[c] for c in counties], dtype=np.int64)
    supply = np.zeros((len(c_index), k), dtype=np.int64)
    np.add.at(supply, group, need)
    supply = np.floor(supply * SHARE).astype(np.int64)
    items = {i.code: i for i in Item.objects.all()}
    transport = np.full(len(t_index), np.inf)
    transport[::3] = 400.0  # a vehicle run of 400 volume units to every third township
    problem = AllocationProblem(
        minimum=minimum.astype(np.int64),
        need=need.astype(np.int64),
        weight=inputs["weight"].to_numpy().reshape(n, k).astype(np.float64),
        supply_group=group,
        supply=supply,
        pack=np.array([items[c].pack_size for c in ITEMS], dtype=np.int64),
        volume=np.array([items[c].volume for c in ITEMS], dtype=np.float64),
        transport_group=np.array([t_index[t] for t in townships], dtype=np.int64),
        transport=transport,
    )
    solved: dict[str, Any] = {}
    for mode in ("weighted", "maxmin"):
        times = []
        result = None
        for _ in range(REPEAT):
            t0 = time.perf_counter()
            result = solve(problem, mode)  # type: ignore[arg-type]
            times.append(time.perf_counter() - t0)
        assert result is not None
        solved[mode] = {
            "seconds_min": round(min(times), 3),
            "seconds_all": [round(t, 3) for t in times],
            "mip_gap": result.mip_gap,
            "fill_rate": {
                c: round(float(f), 4) for c, f in zip(ITEMS, result.fill_rate, strict=True)
            },
            "minimum_covered": result.minimum_covered,
            "minimum_total": result.minimum_total,
            "min_fill_rate": result.min_fill_rate,
            "nodes": sum(s["nodes"] for s in result.stages),
        }
    return {
        "scale": payload["scale"],
        "facilities": int(res.facilities.height),
        "stock_rows": int(res.stock.height),
        "townships": int(region.townships.height),
        "villages": int(region.villages.height),
        "load_s": {"areas": round(t_areas, 2), "resources": round(t_load, 2), **loaded},
        "gaps_s_min": round(min(gap_times), 3),
        "gaps_s_all": [round(t, 3) for t in gap_times],
        "gaps": {
            "stock_outs": summary["stock_outs"],
            "capacity_gaps": summary["capacity_gaps"],
        },
        "allocation_inputs_s": round(t_inputs, 3),
        "recipients": n,
        "items": k,
        "pairs_with_need": int((need > 0).sum()),
        "allocation": solved,
    }


def _fresh_pg() -> dict[str, str]:
    base = ["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", "postgres", "-v", "ON_ERROR_STOP=1"]
    for sql in (f"DROP DATABASE IF EXISTS {PG_DB} WITH (FORCE)", f"CREATE DATABASE {PG_DB}"):
        subprocess.run([*base, "-qc", sql], check=True, capture_output=True)
    env = dict(os.environ)
    env["DATABASE_URL"] = f"{PG_ADMIN_URL}/{PG_DB}"
    env["DJANGO_SETTINGS_MODULE"] = "ruralwatch.config.settings"
    return env


def run(
    quick: bool = False, workdir: Path | None = None, sqlite_only: bool = False
) -> dict[str, Any]:
    workdir = workdir or Path(tempfile.mkdtemp(prefix="rw-bench-resources-"))
    scale = "county" if quick else "province"
    out: dict[str, Any] = {}
    for name, env in (("sqlite", sqlite_env(workdir / "var")), ("postgresql", None)):
        if name == "postgresql":
            if sqlite_only:
                continue
            env = _fresh_pg()
        assert env is not None
        env.setdefault("RURALWATCH_ENV", "development")
        sub = workdir / name
        sub.mkdir(parents=True, exist_ok=True)
        log(f"resources on {name} ({scale})")
        out[name] = run_child(
            "bench.resources:child", {"scale": scale, "workdir": str(sub)}, env=env, workdir=sub
        )
    return out


#: Targets of issue 14 (seconds): the province allocation solved to optimality.
ALLOCATION_TARGET_S = 10.0


def report_section(res: dict[str, Any], title: str) -> list[str]:
    """Section 9 of docs/benchmarks.md (``bench.report`` calls it)."""

    def s(x: float | None) -> str:
        return "—" if x is None else f"{x:.2f} s"

    out = [
        title,
        "",
        "`python -m bench --only resources`. The synthetic province (facilities, capacity and "
        "two weekly stock reports per facility and item) loaded through the importers into a "
        "freshly migrated database; then, each timed three times (min and all): the province "
        "**gap computation** (`resources_summary`: capacity on the date, coverage gaps, the "
        "stock status of every facility and item with days of supply) and the province "
        "**allocation** (one shipment per county of 60 % of its need of the five items, vehicle "
        "loads on a third of the townships, to optimality at `mip_rel_gap` 1e-6 by HiGHS), "
        "weighted and max-min, with the time of reading its inputs from the database apart. "
        f"Target: the allocation < {ALLOCATION_TARGET_S:g} s.",
        "",
        "| database | facilities / stock rows | gaps: min (all) | inputs | weighted: min (all) "
        "| max-min: min (all) | pairs with need | MIP gap |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name in ("sqlite", "postgresql"):
        r = res.get(name)
        if not r:
            continue
        a = r["allocation"]

        def cell(mode: str, a: dict[str, Any] = a) -> str:
            m = a[mode]
            mark = " ✓" if m["seconds_min"] < ALLOCATION_TARGET_S else " ✗"
            runs = ", ".join(f"{x:.1f}" for x in m["seconds_all"])
            return f"{s(m['seconds_min'])}{mark} ({runs})"

        out.append(
            f"| {name} | {r['facilities']:,} / {r['stock_rows']:,} "
            f"| {s(r['gaps_s_min'])} ({', '.join(f'{x:.1f}' for x in r['gaps_s_all'])}) "
            f"| {s(r['allocation_inputs_s'])} | {cell('weighted')} | {cell('maxmin')} "
            f"| {r['pairs_with_need']:,} of {r['recipients'] * r['items']:,} "
            f"| {a['weighted']['mip_gap']:.1e} |"
        )
    return [*out, ""]


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.resources", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--quick", action="store_true", help="one county instead of a province")
    parser.add_argument("--sqlite-only", action="store_true")
    args = parser.parse_args()
    print(json.dumps(run(args.quick, sqlite_only=args.sqlite_only), indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
