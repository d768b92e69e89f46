from datetime import date

import numpy as np
import polars as pl
import pytest

from ruralwatch.synth import build_demo, build_region, simulate_region

SEEDS = (20230122, 7)


@pytest.fixture(scope="module", params=SEEDS)
def baseline(request):
    return build_demo(request.param, scenario="baseline")


@pytest.fixture(scope="module", params=SEEDS)
def rebound(request):
    return build_demo(request.param, scenario="rebound")


def _township_daily(demo, column: str = "symptomatic") -> pl.DataFrame:
    return (
        demo.reports.epidemic_truth.with_columns(
            (pl.col("area_code").str.slice(0, 9) + "000").alias("township")
        )
        .group_by("township", "date")
        .agg(pl.col(column).sum())
    )


def _seven_day(frame: pl.DataFrame, column: str, day: date) -> pl.DataFrame:
    lo = date.fromordinal(day.toordinal() - 6)
    return (
        frame.filter(pl.col("date").is_between(lo, day))
        .group_by("township")
        .agg(pl.col(column).sum())
        .sort("township")
    )


def test_county_new_cases_peak_in_late_december(baseline) -> None:
    reported = (
        baseline.reports.values.filter(pl.col("indicator") == "new_cases")
        .group_by("date")
        .agg(pl.col("value").sum())
        .sort("date")
    )
    peak = reported.row(int(reported["value"].arg_max()), named=True)["date"]
    assert date(2022, 12, 15) <= peak <= date(2023, 1, 5)
    true = baseline.reports.epidemic_truth.group_by("date").agg(pl.col("symptomatic").sum())
    true_peak = true.sort("symptomatic")["date"][-1]
    assert date(2022, 12, 15) <= true_peak <= date(2023, 1, 5)
    infected = baseline.reports.epidemic_truth.filter(pl.col("date") <= date(2023, 1, 15))
    population = baseline.region.villages["population"].sum()
    assert infected["infections"].sum() / population > 0.7


@pytest.mark.parametrize("column", ["symptomatic", "infections"])
def test_baseline_declines_after_the_festival(baseline, column) -> None:
    daily = _township_daily(baseline, column)
    before = _seven_day(daily, column, date(2023, 1, 22))
    after = _seven_day(daily, column, date(2023, 2, 5))
    assert after[column].sum() < before[column].sum()
    joined = before.join(after, on="township", suffix="_after")
    assert joined.height == baseline.region.townships.height
    assert (joined[f"{column}_after"] < joined[column]).all()
    assert baseline.scenario == {
        "name": "baseline",
        "rebound_townships": [],
        "rebound_start": None,
    }


def test_rebound_rises_in_the_chosen_townships(rebound) -> None:
    info = rebound.scenario
    assert info["name"] == "rebound"
    assert info["rebound_start"] == "2023-01-23"
    chosen = info["rebound_townships"]
    assert 2 <= len(chosen) <= 3
    assert set(chosen) <= set(rebound.region.townships["code"].to_list())
    daily = _township_daily(rebound)
    before = _seven_day(daily, "symptomatic", date(2023, 1, 22))
    after = _seven_day(daily, "symptomatic", date(2023, 2, 5))
    joined = before.join(after, on="township", suffix="_after").filter(
        pl.col("township").is_in(chosen)
    )
    assert joined.height == len(chosen)
    assert (joined["symptomatic_after"] > 1.3 * joined["symptomatic"]).all()


def test_named_rebound_townships_and_patch_order() -> None:
    region = build_region(11)
    codes = region.townships["code"].to_list()[:2]
    epi = simulate_region(region, scenario="rebound", rebound_townships=codes)
    assert epi.scenario["rebound_townships"] == sorted(codes)
    assert epi.village_codes == region.villages["code"].to_list()
    assert epi.sim.infections.shape == (67, region.villages.height)
    again = simulate_region(region, scenario="rebound", rebound_townships=codes)
    assert np.array_equal(epi.sim.symptomatic, again.sim.symptomatic)
