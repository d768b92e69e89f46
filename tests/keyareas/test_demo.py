"""The demo's remote key-area township: the synthetic rewrite, the watch scored against its
truth (framework-free), and the demo loaded through the importers (summary, tasks)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from ruralwatch.cycle.demo import DEMO_END
from ruralwatch.epi.assess.sparse import watch
from ruralwatch.synth import build_demo
from ruralwatch.synth.keyareas import KEY_AREA_EXPECTED, MIN_DAYS, remote_key_areas

SEED = 20230122
START = DEMO_END - dt.timedelta(days=MIN_DAYS + 3)


@pytest.fixture(scope="module")
def pair():  # type: ignore[no-untyped-def]
    base = build_demo(seed=SEED, start=START, end=DEMO_END)
    return base, remote_key_areas(base, start=START, end=DEMO_END, seed=SEED)


def test_rewrite_keeps_the_rows_and_the_missing_reports(pair) -> None:  # type: ignore[no-untyped-def]
    base, (demo, truth) = pair
    assert demo.reports.values.height == base.reports.values.height
    assert demo.reports.values.select("area_code", "date").unique().height == (
        base.reports.values.select("area_code", "date").unique().height
    )
    kids = [t["area"] for t in truth]
    statuses = sorted(t["status"] for t in truth)
    assert statuses.count("rising") == 2 and statuses.count("first_case") == 1
    assert all(t["kind"] == KEY_AREA_EXPECTED for t in truth)
    town = truth[0]["township"]
    areas = demo.region.areas
    tags = areas.filter(pl.col("code") == town)["key_areas"][0]
    assert tags and set(areas.filter(pl.col("code").is_in(kids))["key_areas"]) == {tags}
    # every case indicator of the township is zero before the late rise
    v = demo.reports.values.filter(
        pl.col("area_code").is_in(kids)
        & pl.col("indicator").is_in(["new_cases", "deaths", "severe_cases"])
        & (pl.col("date") < DEMO_END - dt.timedelta(days=9))
    )
    assert v.height and v["value"].sum() == 0
    # and the rest of the county is untouched
    others = ~pl.col("area_code").is_in(kids)
    assert demo.reports.values.filter(others).equals(base.reports.values.filter(others))


def test_short_demos_are_left_alone() -> None:
    start = DEMO_END - dt.timedelta(days=13)
    base = build_demo(seed=SEED, start=start, end=DEMO_END)
    same, truth = remote_key_areas(base, start=start, end=DEMO_END, seed=SEED)
    assert same is base and truth == []


def test_the_watch_finds_the_truth(pair) -> None:  # type: ignore[no-untyped-def]
    """Recall and precision 1 over the township's villages: the panel of what they reported
    (a missing report is NaN), one pool, the last day."""
    _base, (demo, truth) = pair
    kids = sorted(t["area"] for t in truth)
    days = (DEMO_END - START).days + 1
    v = demo.reports.values.filter(
        pl.col("area_code").is_in(kids) & (pl.col("indicator") == "new_cases")
    )
    counts = np.full((days, len(kids)), np.nan)
    col = {c: i for i, c in enumerate(kids)}
    for code, day, value in v.select("area_code", "date", "value").iter_rows():
        counts[(day - START).days, col[code]] = value
    pop = demo.region.areas.filter(pl.col("code").is_in(kids)).sort("code")["population"]
    w = watch(counts, pop.to_numpy().astype(float), days - 1)
    expected = {t["area"]: t["status"] for t in truth}
    assert dict(zip(kids, w.status_names(), strict=True)) == expected


@pytest.mark.django_db
def test_demo_summary_and_tasks(tmp_path: Path) -> None:
    from ruralwatch.cycle.demo import run_demo
    from ruralwatch.dispatch.models import Task

    result = run_demo(tmp_path, seed=SEED, start=START, keygroups=False)
    s = result.summary["key_areas"]
    truth = [
        t
        for t in json.loads((tmp_path / "truth.json").read_text(encoding="utf-8"))
        if t["kind"] == KEY_AREA_EXPECTED
    ]
    assert s["count"] >= len(truth) > 0
    assert s["count"] == sum(s["by_status"].values()) and s["paired"] == s["count"]
    watched = {w["code"]: w["status"] for w in s["watched"]}
    for t in truth:  # every expected first case and rise is on the panel
        if t["status"] != "low":
            assert watched.get(t["area"]) == t["status"], t
    rises = Task.objects.filter(kind_id="key_area_rise")
    assert {t["area"] for t in truth if t["status"] != "low"} <= set(
        rises.values_list("area_id", flat=True)
    )
    assert set(rises.values_list("area_id", flat=True)) == set(watched)
    request = Task.objects.get(kind_id="support_request")
    assert request.owner_level == 4 and request.evidence["need"] == "oxygen"
    assert result.summary["key_areas"]["open_requests"] == 1
