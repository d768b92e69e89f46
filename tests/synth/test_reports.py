import json
import time
from collections import Counter
from datetime import date, datetime, timedelta

import polars as pl
import pytest

from ruralwatch.synth import (
    ERROR_KINDS,
    INDICATORS,
    TRUTH_KINDS,
    build_demo,
    build_region,
    build_reports,
    simulate_region,
    truth_to_json,
)
from ruralwatch.synth.reports import deadline_of


@pytest.fixture(scope="module")
def demo():
    return build_demo(20230122, scenario="rebound")


def _by_kind(truth):
    out: dict[str, list] = {k: [] for k in TRUTH_KINDS}
    for entry in truth:
        out[entry["kind"]].append(entry)
    return out


def test_columns_and_types(demo) -> None:
    v = demo.reports.values
    assert v.columns == ["area_code", "date", "indicator", "value", "submitted_at", "reporter"]
    assert v.schema["date"] == pl.Date
    assert v.schema["submitted_at"] == pl.Datetime("us", "Asia/Shanghai")
    assert v.schema["value"] == pl.Int64
    assert set(v["indicator"].unique()) == set(INDICATORS)
    assert (v["value"] >= 0).all()
    assert v["reporter"].str.contains(r"^(doctor|cadre)-99\d{10}$").all()
    assert (v["reporter"].str.slice(-12) == v["area_code"]).all()
    assert v["date"].min() == date(2022, 12, 1)
    assert v["date"].max() == date(2023, 2, 5)
    # one row per village, date and indicator; one submission per village-day
    assert v.select("area_code", "date", "indicator").is_unique().all()
    per_day = v.group_by("area_code", "date").agg(
        pl.len(), pl.col("submitted_at").n_unique().alias("n_sub")
    )
    assert (per_day["len"] == len(INDICATORS)).all()
    assert (per_day["n_sub"] == 1).all()
    assert set(v["area_code"].unique()) <= set(demo.region.villages["code"].to_list())


def test_deterministic_for_a_seed(demo) -> None:
    again = build_demo(20230122, scenario="rebound")
    assert again.reports.values.equals(demo.reports.values)
    assert again.reports.truth == demo.reports.truth
    other = build_reports(demo.region, demo.epidemic, seed=1)
    assert not other.values.equals(demo.reports.values)


def test_rates_are_realistic(demo) -> None:
    v = demo.reports.values
    kinds = _by_kind(demo.reports.truth)
    expected = demo.region.villages.height * 67
    received = v.height // len(INDICATORS)
    assert received + len(kinds["missing_report"]) == expected
    assert 0.01 <= len(kinds["missing_report"]) / expected <= 0.06
    assert 0.05 <= len(kinds["late_report"]) / received <= 0.10
    wrong_rows = (
        len(kinds["value_x10"])
        + len(kinds["cases_exceed_positives"])
        + sum(len(e["indicators"]) for e in kinds["copied_previous_day"])
    )
    assert 0.0003 <= wrong_rows / v.height <= 0.003
    for kind in ERROR_KINDS:
        assert kinds[kind], kind
    # a few laggards miss many days
    laggards = Counter(e["area"] for e in kinds["missing_report"] if e["laggard"])
    assert laggards and min(laggards.values()) >= 10


def test_truth_ids_are_stable_and_unique(demo) -> None:
    truth = demo.reports.truth
    ids = [e["id"] for e in truth]
    assert len(ids) == len(set(ids))
    for e in truth:
        assert e["kind"] in TRUTH_KINDS
        parts = e["id"].split(":")
        assert parts[:3] == [e["kind"], e["area"], e["date"]]
        if "indicator" in e:
            assert parts[3] == e["indicator"]
    decoded = json.loads(truth_to_json(truth))
    assert decoded == truth


def test_truth_is_consistent_with_the_reports(demo) -> None:
    v = demo.reports.values
    kinds = _by_kind(demo.reports.truth)
    day_rows = v.select("area_code", pl.col("date").cast(pl.String), "submitted_at").unique(
        ["area_code", "date"]
    )
    keys = {(a, d) for a, d in day_rows.select("area_code", "date").iter_rows()}
    for e in kinds["missing_report"]:
        assert (e["area"], e["date"]) not in keys

    # late: after the deadline; every other village-day is on time
    late = {(e["area"], e["date"]) for e in kinds["late_report"]}
    midnight = pl.col("date").str.to_date().cast(pl.Datetime("us"))
    sub = day_rows.with_columns(
        midnight.dt.replace_time_zone("Asia/Shanghai").alias("midnight"),
        (midnight + pl.duration(days=1, hours=12))
        .dt.replace_time_zone("Asia/Shanghai")
        .alias("deadline"),
    )
    flagged = {
        (a, d)
        for a, d in sub.filter(pl.col("submitted_at") > pl.col("deadline"))
        .select("area_code", "date")
        .iter_rows()
    }
    assert flagged == late
    assert (sub["submitted_at"] > sub["midnight"]).all()
    for e in kinds["late_report"][:50]:
        assert datetime.fromisoformat(e["submitted_at"]) > datetime.fromisoformat(e["deadline"])
        assert datetime.fromisoformat(e["deadline"]) == deadline_of(date.fromisoformat(e["date"]))

    lookup = {
        (a, str(d), k): val
        for a, d, k, val in v.select("area_code", "date", "indicator", "value").iter_rows()
    }
    for kind in ("value_x10", "cases_exceed_positives"):
        for e in kinds[kind]:
            got = lookup[(e["area"], e["date"], e["indicator"])]
            assert got == e["reported_value"] != e["true_value"]
            if kind == "value_x10":
                assert got == 10 * e["true_value"]
            else:
                pos = (
                    lookup[(e["area"], e["date"], "antigen_pos")]
                    + lookup[(e["area"], e["date"], "pcr_pos")]
                )
                assert got > pos
    for e in kinds["copied_previous_day"]:
        assert e["copied_from"] == str(date.fromisoformat(e["date"]) - timedelta(days=1))
        for k in INDICATORS:
            assert lookup[(e["area"], e["date"], k)] == lookup[(e["area"], e["copied_from"], k)]
        assert e["indicators"]
        for k in e["indicators"]:
            assert e["reported_values"][k] != e["true_values"][k]
            assert lookup[(e["area"], e["date"], k)] == e["reported_values"][k]


def test_reports_follow_the_epidemic(demo) -> None:
    v = demo.reports.values
    truth = demo.reports.epidemic_truth
    assert truth.columns == ["area_code", "date", "infections", "symptomatic"]
    assert truth.height == demo.region.villages.height * 67
    fever = v.filter(pl.col("indicator") == "fever_visits")["value"].sum()
    assert fever > 0.5 * truth["symptomatic"].sum()
    pos = v.filter(pl.col("indicator").is_in(["antigen_pos", "pcr_pos"]))["value"].sum()
    assert v.filter(pl.col("indicator") == "pcr_pos")["value"].sum() < pos / 3
    assert v.filter(pl.col("indicator") == "deaths")["value"].sum() > 0


def test_window_must_lie_inside_the_simulation() -> None:
    region = build_region(4, n_townships=12, n_villages=200)
    epi = simulate_region(region, start=date(2022, 12, 1), end=date(2023, 1, 31))
    rep = build_reports(region, epi, start=date(2022, 12, 10), end=date(2023, 1, 31))
    assert rep.values["date"].min() == date(2022, 12, 10)
    assert rep.epidemic_truth["date"].min() == date(2022, 12, 10)
    with pytest.raises(ValueError):
        build_reports(region, epi, end=date(2023, 2, 5))


def test_province_scale_builds_in_time() -> None:
    t0 = time.perf_counter()
    demo = build_demo(20230122, scale="province", end=date(2023, 1, 29))  # 60 days
    elapsed = time.perf_counter() - t0
    n_villages = demo.region.villages.height
    assert n_villages >= 20_000
    assert demo.region.areas.filter(pl.col("level") == 3).height == 80
    assert demo.region.areas.filter(pl.col("level") == 2).height == 8
    assert demo.reports.values["date"].n_unique() == 60
    print(f"province: {n_villages} villages × 60 days in {elapsed:.1f} s")
    assert elapsed < 60, f"{elapsed:.1f} s"
