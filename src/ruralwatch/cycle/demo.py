"""The demo: a synthetic county loaded through the real importers, rolled up and summarised.

Every step uses the same services a deployment uses: the division list and the daily report
files are written to ``OUT`` as CSV and imported from there, so the demo exercises validation,
staging and roll-up exactly as a county would.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from ruralwatch.areas.models import Area
from ruralwatch.areas.services import delete_subtree, import_areas, import_boundaries
from ruralwatch.assessments import evidence_texts
from ruralwatch.assessments.selectors import judgement_for, judgement_summary
from ruralwatch.cycle.services import run_cycle, task_counts
from ruralwatch.keyareas.selectors import summary as keyareas_summary
from ruralwatch.keyareas.services import load_demo as load_demo_keyareas
from ruralwatch.keygroups.services import demo_keygroups_summary, load_demo_keygroups
from ruralwatch.reporting.models import AggregateValue, Completeness, Submission
from ruralwatch.reporting.services import deadline_hours, import_reports
from ruralwatch.resources.services import demo_resources_summary, load_demo_resources
from ruralwatch.signals.selectors import signals_by_method

Progress = Callable[[str, int, int], None]

DEMO_START = dt.date(2022, 12, 1)
DEMO_END = dt.date(2023, 2, 5)


logger = logging.getLogger(__name__)


@dataclass
class DemoResult:
    summary: dict[str, Any]
    out: Path
    county_code: str


def _write_inputs(demo: Any, out: Path, seed: int) -> tuple[Path, list[Path]]:
    from ruralwatch.synth.geo import place_areas

    out.mkdir(parents=True, exist_ok=True)
    areas = place_areas(demo.region.areas, seed)
    outline = _outline(demo.region.areas, out, seed)
    if outline is not None:
        areas = outline
    areas_path = out / "areas.csv"
    areas.select(
        "code",
        "name",
        "level",
        "parent_code",
        "urban_rural",
        "population",
        "population_65plus",
        "key_areas",
        "lon",
        "lat",
    ).write_csv(areas_path)
    reports_dir = out / "reports"
    reports_dir.mkdir(exist_ok=True)
    for old in reports_dir.glob("*.csv"):
        old.unlink()
    values = demo.reports.values.with_columns(
        pl.col("submitted_at").dt.strftime("%Y-%m-%d %H:%M:%S")
    )
    # One wide file per day, the way a county receives village reports.
    wide = values.pivot(
        on="indicator", index=["area_code", "date", "reporter", "submitted_at"], values="value"
    ).sort("date", "area_code")
    paths = []
    for (day,), part in wide.group_by("date", maintain_order=True):
        path = reports_dir / f"{day}.csv"
        part.write_csv(path)
        paths.append(path)
    return areas_path, paths


def _outline(areas: pl.DataFrame, out: Path, seed: int) -> pl.DataFrame | None:
    """The synthetic county drawn on a real county's outline (synth.geo.OUTLINES): the
    points placed inside it and ``boundaries.geojson`` giving the outline to the province,
    prefecture and county (each has one child). ``None`` without the reference boundaries."""
    import numpy as np
    from django.conf import settings

    from ruralwatch.areas import geometry
    from ruralwatch.synth.geo import POOL_PER_LEAF, outline_collection, place_in_pool, read_outline

    (out / "boundaries.geojson").unlink(missing_ok=True)
    real = read_outline(settings.RURALWATCH_GEO_DIR, "county")
    if real is None:
        return None
    shape = geometry.parse(real["geometry"])
    n = POOL_PER_LEAF * areas.filter(pl.col("level") == 5).height + 1000
    pool = geometry.sample_inside(shape, n, np.random.default_rng(seed))
    roots = areas.filter(pl.col("level") <= 3)["code"].to_list()
    (out / "boundaries.geojson").write_text(
        json.dumps(outline_collection(real, roots), ensure_ascii=False), encoding="utf-8"
    )
    return place_in_pool(areas, seed, pool)


def run_demo(
    out: Path,
    *,
    seed: int,
    scenario: str = "baseline",
    keygroups: bool = True,
    progress: Progress | None = None,
    start: dt.date = DEMO_START,
    end: dt.date = DEMO_END,
    size: tuple[int, int, int] | None = None,
) -> DemoResult:
    """Build the synthetic county into the database and write ``summary.json``/``truth.json``.

    ``start`` and ``end`` shorten the winter and ``size`` (townships, villages, people) makes
    the county smaller than the seed's (quick runs, and tests of re-running the demo, need
    not replay all of it)."""
    from ruralwatch.synth import build_demo, truth_to_json
    from ruralwatch.synth.keyareas import remote_key_areas

    def step(name: str, done: int, total: int) -> None:
        if progress:
            progress(name, done, total)

    step("synthetic county", 0, 1)
    townships, villages, people = size if size is not None else (None, None, None)
    demo = build_demo(
        seed=seed,
        scenario=scenario,  # type: ignore[arg-type]
        start=start,
        end=end,
        n_townships=townships,
        n_villages=villages,
        population=people,
    )
    # A remote key-area township: quiet all winter, a late first case and rise (issue 14).
    demo, key_truth = remote_key_areas(demo, start=start, end=end, seed=seed)
    step("synthetic county", 1, 1)
    areas_path, report_paths = _write_inputs(demo, out, seed)
    province = demo.region.areas.filter(pl.col("level") == 1)["code"][0]
    delete_subtree(province)
    # The region's judgements went with it; their shared evidence texts go too, so that a
    # demo run again leaves the same rows as a first run (evidence texts have no area).
    evidence_texts.prune()
    import_areas(areas_path)
    if (out / "boundaries.geojson").exists():
        import_boundaries(out / "boundaries.geojson")
    # The demo is replayed after the fact: every report, late ones included, has arrived.
    last_arrival = demo.reports.values["submitted_at"].max()
    assert isinstance(last_arrival, dt.datetime)
    now = last_arrival + dt.timedelta(minutes=1)
    values_loaded = 0
    for path in report_paths:
        s = import_reports(path, now=now)
        values_loaded += s.values
        step("daily reports", 1, len(report_paths))
    truth = list(demo.reports.truth) + key_truth
    load_demo_keyareas(province, key_truth)
    if keygroups:
        step("key groups", 0, 1)
        loaded = load_demo_keygroups(demo, end)
        truth += loaded["truth"]
        step("key groups", 1, 1)
    # Facilities, capacity and stock, before the cycle so that gaps become tasks (issue 14).
    truth += load_demo_resources(demo.region, seed, end, out / "resources")
    # The cycle runs at the replay's moment, not the wall clock's: its tasks are created and
    # fall due in February 2023 beside their data (the inbox said "due in 1,397 days").
    cycle = run_cycle(end, root=province, start=start, progress=progress, now=now)
    county = Area.objects.get(level=3, l1=province)
    (out / "truth.json").write_text(truth_to_json(truth), encoding="utf-8")
    summary = build_summary(
        county, values_loaded, scenario=demo.scenario, seed=seed, start=start, end=end
    )
    if keygroups:
        summary["keygroups"] = demo_keygroups_summary(county, end)
    # steps and detection rules the cycle could not run (empty when everything ran)
    summary["key_areas"] = keyareas_summary(county, end)
    summary.update(demo_resources_summary(county, end))
    summary["did_not_run"] = cycle.did_not_run
    step("briefing", 0, 1)
    summary["briefing"] = _briefing(county, end, out, summary["did_not_run"])
    step("briefing", 1, 1)
    (out / "summary.json").write_text(
        json.dumps(summary, ensure_ascii=False, indent=2), encoding="utf-8"
    )
    return DemoResult(summary=summary, out=out, county_code=county.code)


def _briefing(
    county: Area, end: dt.date, out: Path, did_not_run: list[dict[str, str]]
) -> dict[str, Any] | None:
    """Issue the county's scheduling-meeting briefing for the demo's last day, archive it and
    put a copy beside ``summary.json``; a briefing that cannot be made is recorded, as a cycle
    step would be, and the demo goes on."""
    from ruralwatch.briefings.services import file_path, issue_briefing

    try:
        b = issue_briefing(county.code, end)
    except Exception as exc:
        logger.exception("demo briefing failed")
        did_not_run.append({"step": "briefing", "error": f"{type(exc).__name__}: {exc}"})
        return None
    target = out / f"briefing-{county.code}-{end.isoformat()}.pdf"
    shutil.copyfile(file_path(b), target)
    return {"path": str(target), "pages": b.pages, "issue": b.issue, "revision": b.revision}


def busiest_village(county: Area) -> str | None:
    """The village whose users have the most to do in the demo: in the township that owns the
    most open tasks, the village that owns the most (the demo's village and township users are
    bound there, so their inboxes show the loop at work)."""
    from django.db.models import Count

    from ruralwatch.dispatch.models import OPEN_STATUSES, Task

    open_ = Task.objects.filter(status__in=OPEN_STATUSES, owner_path__startswith=county.path)
    by_township = (
        open_.filter(owner_level=4)
        .values("owner_area_id")
        .annotate(n=Count("id"))
        .order_by("-n", "owner_area_id")
    )
    township = next(iter(by_township), None)
    villages = open_.filter(owner_level=5)
    if township is not None:
        villages = villages.filter(owner_area__parent_id=township["owner_area_id"])
    top = villages.values("owner_area_id").annotate(n=Count("id")).order_by("-n", "owner_area_id")
    first = next(iter(top), None)
    if first is not None:
        return str(first["owner_area_id"])
    if township is None:
        return None
    village = Area.objects.filter(parent_id=township["owner_area_id"]).order_by("code").first()
    return None if village is None else village.code


def build_summary(
    county: Area,
    values_loaded: int,
    *,
    scenario: dict[str, Any],
    seed: int,
    start: dt.date = DEMO_START,
    end: dt.date = DEMO_END,
) -> dict[str, Any]:
    """The demo's machine-readable summary, read back from the database."""
    subtree = Area.objects.filter(path__startswith=county.path)
    whole_tree = Area.objects.filter(l1=county.l1)
    by_level = {str(lv): n for lv, n in _count_by_level(whole_tree).items()}
    comp = (
        pl.DataFrame(
            list(
                Completeness.objects.filter(
                    area__in=whole_tree.values("code"), date__range=(start, end)
                ).values_list("level", "date", "expected", "received", "on_time")
            ),
            schema=["level", "date", "expected", "received", "on_time"],
            orient="row",
        )
        .group_by("level")
        .agg(
            pl.col("expected").sum(),
            pl.col("received").sum(),
            pl.col("on_time").sum(),
            pl.col("date").n_unique().alias("days"),
        )
        .sort("level")
    )
    completeness = {
        str(level): {
            "expected": exp,
            "received": rec,
            "on_time": ont,
            "completeness": round(rec / exp, 4) if exp else None,
            "timeliness": round(ont / exp, 4) if exp else None,
        }
        for level, exp, rec, ont, _days in comp.iter_rows()
    }
    villages = subtree.filter(level=5)
    expected_v = villages.count() * ((end - start).days + 1)
    subs = Submission.objects.filter(area__in=villages.values("code"), date__range=(start, end))
    received_v = subs.count()
    on_time_v = subs.filter(delay_hours__lte=deadline_hours()).count()
    completeness["5"] = {
        "expected": expected_v,
        "received": received_v,
        "on_time": on_time_v,
        "completeness": round(received_v / expected_v, 4) if expected_v else None,
        "timeliness": round(on_time_v / expected_v, 4) if expected_v else None,
    }
    series = dict(
        AggregateValue.objects.filter(area=county, indicator_id="new_cases").values_list(
            "date", "value"
        )
    )
    days = (end - start).days + 1
    county_series = []
    for i in range(days):
        d = start + dt.timedelta(days=i)
        v = series.get(d)
        county_series.append({"date": d.isoformat(), "new_cases": None if v is None else int(v)})
    return {
        "region": {
            "code": county.code,
            "name": county.name,
            "level": county.level,
            "population": county.population,
        },
        "seed": seed,
        "scenario": scenario,
        "period": {"start": start.isoformat(), "end": end.isoformat()},
        "areas_by_level": by_level,
        "days": days,
        "values_loaded": values_loaded,
        "completeness_by_level": completeness,
        "county_series": county_series,
        "signals_by_method": signals_by_method(start, end, county.path),
        "judgement": _judgement(county, end),
        # the tasks of the whole synthetic region (created by kind, open, escalated, closed)
        "tasks": task_counts(Area.objects.get(code=county.l1).path),
    }


def _judgement(county: Area, end: dt.date = DEMO_END) -> dict[str, Any] | None:
    j = judgement_for(county, end)
    return None if j is None else judgement_summary(j)


def _count_by_level(qs: Any) -> dict[int, int]:
    from django.db.models import Count

    return {
        r["level"]: r["n"] for r in qs.values("level").annotate(n=Count("code")).order_by("level")
    }
