"""Judgements: the synthetic demo's known outcomes, pooling by hand, statements and evidence.
(The sentences made from the statements are tested in tests/assessments/test_phrases.py.)"""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import numpy as np
import polars as pl
import pytest

from ruralwatch.epi.assess.judgement import JudgementSet, judge, pooling_basis
from ruralwatch.epi.assess.phase import phase
from ruralwatch.synth import build_demo

AS_OF = date(2023, 2, 5)
COUNTY = "990101000000"


def _judge_demo(scenario: str) -> tuple[JudgementSet, dict[str, Any]]:
    demo = build_demo(scenario=scenario)
    areas = demo.region.areas
    towns = areas.filter(pl.col("level") == 4).sort("code")
    v = (
        demo.reports.values.filter(pl.col("indicator") == "new_cases")
        .with_columns((pl.col("area_code").str.slice(0, 9) + "000").alias("town"))
        .group_by("town", "date")
        .agg(pl.col("value").sum())
    )
    days = pl.DataFrame({"date": pl.date_range(v["date"].min(), v["date"].max(), eager=True)})
    wide = days.join(v.pivot(on="town", index="date", values="value"), on="date", how="left")
    codes = towns["code"].to_list()
    m = wide.select(codes).to_numpy().astype(float)  # a township with no row on a day: NaN
    counts = np.column_stack([m, np.nansum(m, axis=1)])
    all_codes = [*codes, COUNTY]
    info = dict(
        zip(areas["code"], zip(areas["name"], areas["population"], strict=True), strict=True)
    )
    names = [info[c][0] for c in all_codes]
    pop = [info[c][1] for c in all_codes]
    parent = [len(codes)] * len(codes) + [-1]
    js = judge(counts, wide["date"].to_numpy(), pop, names, parent, codes=all_codes, as_of=AS_OF)
    return js, demo.scenario


@pytest.fixture(scope="module")
def baseline() -> tuple[JudgementSet, dict[str, Any]]:
    return _judge_demo("baseline")


@pytest.fixture(scope="module")
def rebound() -> tuple[JudgementSet, dict[str, Any]]:
    return _judge_demo("rebound")


def test_baseline_is_low_steady_decline_without_rebound(baseline: Any) -> None:
    js, _ = baseline
    assert js.event is not None and js.event.code == "spring_festival"
    for u in js.units:
        assert u.level in ("below_threshold", "low"), u.code
        assert u.phase == "steady_decline", u.code
        assert u.rebound["detected"] is False, u.code
    county = js.by_code(COUNTY)
    assert not county.pooled
    said = county.statement
    assert (said["level"], said["phase"]) == ("low", "steady_decline")
    assert said["rebound"]["state"] == "no_new_peak"
    assert said["rebound"]["event"] == "spring_festival" and said["pooled"] is None


def test_rebound_names_the_scenario_townships(rebound: Any) -> None:
    js, scenario = rebound
    flagged = {u.code for u in js.units if u.rebound["detected"]}
    assert flagged == set(scenario["rebound_townships"])
    for code in flagged:
        u = js.by_code(code)
        assert date.fromisoformat(u.rebound["onset_date"]) > date(2023, 1, 22)
        assert date.fromisoformat(u.rebound["first_date"]) > date(2023, 1, 22)
        assert u.rebound["observed"] > u.rebound["upper"]
        assert u.phase == "growth"
        rb = u.statement["rebound"]
        assert rb["state"] == "new_peak" and rb["event"] == "spring_festival"
        assert rb["onset_date"] == u.rebound["onset_date"]
        assert rb["observed_last"] > rb["projected_last"]
    county = js.by_code(COUNTY)
    assert county.phase != "steady_decline"  # the county's decline stopped
    assert county.rebound["above_projection"]


def test_pooling_and_evidence(baseline: Any) -> None:
    js, _ = baseline
    for u in js.units:
        assert u.pooled == (u.cases_14d < 40)
        if u.pooled:
            assert u.basis_code == COUNTY
            pooled = u.statement["pooled"]
            assert pooled["basis_code"] == COUNTY and pooled["cases_14d"] == u.cases_14d
            assert pooled["min_cases_14d"] == 40
        else:
            assert u.statement["pooled"] is None
    d = js.by_code(COUNTY).to_dict()
    text = json.dumps(d, ensure_ascii=False, allow_nan=False)
    assert "Cori" in text
    ev = d["evidence"]
    assert ev["rt"]["serial_interval"]["mean"] == 3.0 and ev["rt"]["serial_interval"]["sd"] == 1.5
    lo, hi = ev["growth"]["ci"]
    assert lo < ev["growth"]["r"] < hi < 0
    assert ev["rt"]["cri95"][0] < ev["rt"]["mean"] < ev["rt"]["cri95"][1] < 1
    assert ev["level"]["rates_per_100k"]["epidemic"] == 20.0


def test_pooling_basis_by_hand() -> None:
    # root 0 with children 1, 2; 3 under 1. 3 is small, so is 1 -> 3 is judged on 0.
    assert pooling_basis([100, 10, 50, 5], [-1, 0, 0, 1], 40).tolist() == [0, 0, 2, 0]
    # a small root stays itself
    assert pooling_basis([3, 1], [-1, 0], 40).tolist() == [0, 0]
    with pytest.raises(ValueError):
        pooling_basis([1, 2], [-1, 5], 40)


def test_statement_of_a_rising_unit() -> None:
    T = 70
    t = np.arange(T, dtype=float)
    y = np.column_stack([20.0 * np.exp(0.08 * t)])
    dates = np.arange(np.datetime64("2023-03-01"), np.datetime64("2023-03-01") + T)
    js = judge(y, dates, [1e6], ["甲县"], events=())
    u = js.units[0]
    assert u.phase == "growth" and u.rebound["outcome"] == "no_event"
    assert u.statement["phase"] == "growth" and u.statement["rebound"] == {"state": "none"}
    assert u.statement["numbers"]["growth_r"] == pytest.approx(0.08, abs=1e-6)
    assert u.growth_r == pytest.approx(0.08, abs=1e-6)
    assert u.change == pytest.approx(np.exp(0.08 * 7) - 1, rel=1e-9)


def test_rt_counts_days_before_the_first_report_as_no_incidence() -> None:
    """A panel that starts before a unit's data (the history window reaches further back than
    its reports) still has Rt: the days before its first value are no incidence, as the
    renewal equation's series begins at day 1. A gap after the first value stays missing."""
    T, lead = 60, 20
    t = np.arange(T - lead, dtype=float)
    data = 50.0 * np.exp(-0.05 * t)
    dates = np.arange(np.datetime64("2023-01-01"), np.datetime64("2023-01-01") + T)
    led = np.concatenate([np.full(lead, np.nan), data])
    zero = np.concatenate([np.zeros(lead), data])
    gap = zero.copy()
    gap[T - 15] = np.nan  # inside the series of the last Rt window's infectivity
    js = judge(np.column_stack([led, zero, gap]), dates, [1e5] * 3, ["a", "b", "c"], events=())
    a, b, c = js.units
    assert a.rt is not None and a.rt == pytest.approx(b.rt, rel=1e-12)
    assert 0.5 < a.rt < 1.0  # a decline of 5 % a day with a 3-day serial interval
    assert c.rt is None


def test_growth_phase_and_rt_are_fitted_on_the_basis_columns_only() -> None:
    """Only the series some unit is judged on are fitted; each unit's growth rate, phase and
    R_t are those the whole panel's fit gives its basis. A fit's numbers are its own column's:
    the batch shares only matrix products, whose last bit a BLAS kernel may choose by the
    batch's size (seen for batches of one or two), so the numbers agree to rounding and the
    phases exactly."""
    rng = np.random.default_rng(11)
    T, towns, per_town = 70, 12, 25
    t = np.arange(T, dtype=float)
    columns, parent = [], []
    for k in range(towns):
        rate = rng.normal(0.0, 0.06)
        mean = rng.choice([0.05, 0.4, 6.0], per_town)[None, :] * np.exp(rate * (t[:, None] - 50))
        village = rng.poisson(mean).astype(float)
        village[rng.random(village.shape) < 0.05] = np.nan
        columns.append(np.nansum(village, axis=1))  # the township
        parent.append(towns * (per_town + 1))  # the county, last
        for j in range(per_town):
            columns.append(village[:, j])
            parent.append(k * (per_town + 1))
    county = np.sum(columns[:: per_town + 1], axis=0)
    y = np.column_stack([*columns, county])
    parent.append(-1)
    U = y.shape[1]
    dates = np.arange(np.datetime64("2023-03-01"), np.datetime64("2023-03-01") + T)
    names = [f"u{i}" for i in range(U)]
    js = judge(y, dates, [2e4] * U, names, parent, events=())
    assert js.judged.tolist() == sorted(set(js.basis.tolist()))
    assert 12 < js.judged.size < U // 3  # most villages are pooled
    # the whole panel fitted as before (every column), read at each unit's basis
    whole = phase(y, end=T - 1, low=js.level.is_low, rebound=np.zeros(U, bool))
    rt_all = js.rt.mean[0]  # of the judged columns only
    assert rt_all.shape == js.judged.shape
    fitted = 0
    for u in js.units:
        b = names.index(u.basis_code)
        assert u.phase == whole.phase[b]
        r = whole.growth.r[b]
        if np.isfinite(r) and np.isfinite(whole.growth.r_low[b]):
            fitted += 1
            assert u.evidence["growth"]["r"] == pytest.approx(r, rel=1e-12, abs=1e-15)
            assert u.evidence["growth"]["ci"][1] == pytest.approx(
                whole.growth.r_high[b], rel=1e-12, abs=1e-15
            )
        else:
            assert u.growth_r is None
    assert fitted > 100
