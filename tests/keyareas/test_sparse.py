"""The key-area watch's statistics: Garwood limits against R, the exact test, the first-case
rule and the status of generated series whose answer is known."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest
from scipy import stats

from ruralwatch.epi.assess.sparse import (
    SparseParams,
    first_cases,
    garwood,
    garwood_lower,
    garwood_upper,
    rise_threshold,
    watch,
)

ORACLE = Path(__file__).parent / "data" / "garwood_r.csv"


@pytest.fixture(scope="module")
def oracle() -> pl.DataFrame:
    """R's poisson.test and qchisq (tests/keyareas/data/garwood.R wrote it once)."""
    return pl.read_csv(ORACLE)


def test_two_sided_garwood_matches_poisson_test(oracle: pl.DataFrame) -> None:
    ci = oracle.unique(["x", "conf"]).sort("x", "conf")
    for conf in (0.90, 0.95, 0.99):
        part = ci.filter(pl.col("conf") == conf)
        lo, up = garwood(part["x"].to_numpy(), conf)
        np.testing.assert_allclose(lo, part["lower2"].to_numpy(), rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(up, part["upper2"].to_numpy(), rtol=1e-12)


def test_one_sided_limits_match_qchisq(oracle: pl.DataFrame) -> None:
    ci = oracle.unique(["x", "conf"]).sort("x", "conf")
    alpha = 1 - ci["conf"].to_numpy()
    x = ci["x"].to_numpy()
    lo = np.array([garwood_lower([xi], a)[0] for xi, a in zip(x, alpha, strict=True)])
    up = np.array([garwood_upper([xi], a)[0] for xi, a in zip(x, alpha, strict=True)])
    np.testing.assert_allclose(lo, ci["lower1"].to_numpy(), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(up, ci["upper1"].to_numpy(), rtol=1e-12)


def test_exact_test_is_the_dual_of_the_lower_limit(oracle: pl.DataFrame) -> None:
    """P(X ≥ x | μ) < α exactly when the lower limit L(x) exceeds μ; the p-values are R's."""
    x = oracle["x"].to_numpy()
    mu = oracle["mu"].to_numpy()
    ours = np.where(x > 0, stats.poisson.sf(x - 1, mu), 1.0)
    np.testing.assert_allclose(ours, oracle["p_greater"].to_numpy(), rtol=1e-9, atol=1e-300)
    for alpha in (0.01, 0.05, 0.1):
        flagged = ours < alpha
        lower = garwood_lower(x, alpha)
        clear = np.abs(ours - alpha) > 1e-9  # ties at α are a matter of rounding
        assert np.array_equal(flagged[clear], (lower > mu)[clear])


def test_rise_threshold_is_the_smallest_flagged_count() -> None:
    mu = np.array([0.0, 0.01, 0.15, 0.5, 1.0, 3.0, 10.0, 40.0])
    for alpha in (0.01, 0.05):
        k = rise_threshold(mu, alpha)
        assert np.all(stats.poisson.sf(k - 1, mu) < alpha)
        prev = np.where(k - 2 >= 0, stats.poisson.sf(k - 2, mu), 1.0)
        assert np.all(prev >= alpha)
    assert np.isnan(rise_threshold([np.nan], 0.05)[0])


def test_first_case_rule() -> None:
    q = 14
    y = np.zeros((40, 5))
    y[20, 0] = 1  # after 20 quiet days: first case
    y[10, 1] = 1  # only 10 days of history before it: unknown, not a first case
    y[20, 1] = 2  # 9 quiet days after the case on day 10: not a first case
    y[5:20, 2] = np.nan  # quiet days not reported
    y[20, 2] = 1
    y[13:20:2, 3] = np.nan  # 4 of 14 missing: still quiet enough (≥ 50 % reported)
    y[20, 3] = 1
    y[21, 3] = 1  # the next day: the quiet run is broken
    y[20, 4] = 1
    y[35, 4] = 1  # 14 quiet days after day 20: a new first case
    out = first_cases(y, q, 0.5)
    assert np.flatnonzero(out[:, 0]).tolist() == [20]
    assert not out[:, 1].any()
    assert not out[:, 2].any()
    assert np.flatnonzero(out[:, 3]).tolist() == [20]
    assert np.flatnonzero(out[:, 4]).tolist() == [20, 35]


def test_watch_known_answers() -> None:
    """Five villages of 1,000 people, 28 quiet baseline days, a 7-day window:
    the pooled baseline is 0 cases in 140,000 person-days, its 95 % upper limit the rule of
    three (−ln 0.05 ≈ 2.996), i.e. 0.1498 cases expected at most in a village-week."""
    t = 40
    y = np.zeros((t, 5))
    y[-1, 0] = 1  # one case: a first case, not a rise
    y[-3:, 1] = [1, 1, 1]  # three cases: L(3) = 0.818 > 0.15: rising (first case too)
    y[-7:, 2] = np.nan  # no report all week
    p = SparseParams(window=7, baseline=28, guard=0, alpha=0.05, quiet_days=14)
    w = watch(y, np.full(5, 1000.0), t - 1, params=p)
    assert w.status_names() == ["first_case", "rising", "no_reports", "low", "low"]
    limit_per_week = -np.log(0.05) / (5 * 1000 * 28) * 1000 * 7
    np.testing.assert_allclose(w.limit[[0, 1, 3]], limit_per_week, rtol=1e-12)
    # unit 2 reported nothing this week: no exposure, no limit
    assert w.limit[2] == 0 and w.reported_days[2] == 0
    assert w.threshold[0] == 2  # 2 cases in a week would have been a rise here
    assert w.days_since_first.tolist() == [0, 2, -1, -1, -1]
    assert w.completeness.tolist() == [1.0, 1.0, 0.0, 1.0, 1.0]
    assert w.params["quiet_days"] == 14


def test_pooled_baseline_by_pool() -> None:
    """Two pools: a busy one (2 cases a day per village) and a quiet one; the same week of 3
    cases is a rise only against the quiet pool's baseline."""
    t = 35
    y = np.zeros((t, 4))
    y[:, :2] = 2.0
    y[-7:, 1] = [0, 0, 0, 0, 1, 1, 1]
    y[-7:, 3] = [0, 0, 0, 0, 1, 1, 1]
    w = watch(y, np.full(4, 500.0), t - 1, pool=[0, 0, 1, 1])
    assert w.status_names()[1] == "low"
    assert w.status_names()[3] == "rising"
    np.testing.assert_allclose(w.baseline_rate[:2], 2.0 / 500.0)
    assert w.baseline_rate[3] == 0.0


def test_false_rises_stay_under_alpha_and_rises_are_found() -> None:
    """Generated series: 4,000 villages at a constant rate (0.3 cases a week each, pooled
    over 40 pools) flag at most α; a fivefold rate in the last week is mostly found."""
    rng = np.random.default_rng(20230122)
    n_units, t = 4000, 42
    rate = 0.3 / 7
    y = rng.poisson(rate, size=(t, n_units)).astype(float)
    pool = np.repeat(np.arange(40), n_units // 40)
    pop = np.full(n_units, 800.0)
    null = watch(y, pop, t - 1, pool=pool)
    assert null.rising.mean() <= 0.05
    y2 = y.copy()
    y2[-7:] = rng.poisson(rate * 12, size=(7, n_units))
    alt = watch(y2, pop, t - 1, pool=pool)
    assert alt.rising.mean() > 0.6
    assert alt.rising.mean() > 10 * null.rising.mean()


def test_bad_input_is_refused() -> None:
    with pytest.raises(ValueError, match="population"):
        watch(np.zeros((10, 2)), [1.0, 0.0], 9)
    with pytest.raises(ValueError, match="negative"):
        watch(-np.ones((10, 2)), [1.0, 1.0], 9)
    with pytest.raises(ValueError, match="index"):
        watch(np.zeros((10, 2)), [1.0, 1.0], 10)
    with pytest.raises(ValueError, match="alpha"):
        SparseParams(alpha=0.7)
