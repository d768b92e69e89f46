"""The detection evaluation harness: metrics on hand-made arrays, the simulator's moments."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ruralwatch.epi.evaluate import (
    BEGIN_MARK,
    END_MARK,
    EvalCounts,
    count_outcomes,
    evaluate_detection,
    merge_report,
    pooled,
    report_markdown,
    simulate_set,
)
from ruralwatch.epi.evaluate_sim import (
    SCENARIOS,
    Scenario,
    baseline_mean,
    baseline_variance,
    inject_outbreak,
    outbreak_cases,
    simulate_baseline,
)

NAN = float("nan")


# --------------------------------------------------------------------------------------------
# Metrics on tiny hand-made arrays
# --------------------------------------------------------------------------------------------


def test_metrics_of_three_series_by_hand() -> None:
    # 6 weeks x 3 series. Outbreak weeks (cases > 0):
    #   series 0: weeks 2, 3     alarms at weeks 1 (false) and 3 (true)  -> detected, delay 1
    #   series 1: weeks 0, 1, 2  alarms at week 0 (true), 5 (false)      -> detected, delay 0
    #   series 2: week 4         no alarm in week 4, alarm at week 2      -> missed
    alarm = np.array(
        [
            [0, 1, 0],
            [1, 0, 0],
            [0, 0, 1],
            [1, 0, 0],
            [0, NAN, 0],
            [0, 1, 0],
        ],
        dtype=float,
    )
    cases = np.array(
        [
            [0, 3, 0],
            [0, 1, 0],
            [2, 1, 0],
            [1, 0, 0],
            [0, 0, 4],
            [0, 0, 0],
        ],
        dtype=float,
    )
    c = count_outcomes(alarm, cases)
    assert c.outbreaks == 3
    assert c.detected == 2
    assert c.detected_first_week == 1  # only series 1 alarms in its first outbreak week
    assert c.outbreak_weeks == 6
    assert c.outbreak_weeks_alarmed == 2  # (3, s0) and (0, s1)
    assert c.other_weeks == 12
    assert c.other_weeks_alarmed == 3  # (1, s0), (5, s1), (2, s2)
    assert c.undecided == 1 and c.weeks == 18
    assert sorted(c.delays) == [0, 1]
    m = c.metrics()
    assert m["pod"] == pytest.approx(2 / 3)
    assert m["pod_first_week"] == pytest.approx(1 / 3)
    assert m["sensitivity"] == pytest.approx(2 / 6)
    assert m["specificity"] == pytest.approx(9 / 12)
    assert m["ppv"] == pytest.approx(2 / 5)
    assert m["median_delay"] == pytest.approx(0.5)
    assert m["undecided"] == pytest.approx(1 / 18)
    assert math.isnan(m["fpr"])  # no outbreak-free series in this group


def test_false_positive_rate_on_clean_series() -> None:
    alarm = np.array([[0, 1], [0, 0], [1, NAN], [0, 0]], dtype=float)
    c = count_outcomes(alarm, np.zeros((4, 2)), clean=True)
    assert (c.clean_weeks, c.clean_alarms) == (8, 2)
    m = c.metrics()
    assert m["fpr"] == pytest.approx(2 / 8)
    assert math.isnan(m["pod"]) and math.isnan(m["ppv"]) and math.isnan(m["median_delay"])
    with pytest.raises(ValueError, match="no outbreak weeks"):
        count_outcomes(alarm, np.ones((4, 2)), clean=True)


def test_no_alarm_gives_nan_ppv_and_zero_pod() -> None:
    c = count_outcomes(np.zeros(5), np.array([0, 0, 2, 1, 0]))
    m = c.metrics()
    assert c.outbreaks == 1 and m["pod"] == 0.0 and m["sensitivity"] == 0.0
    assert m["specificity"] == 1.0
    assert math.isnan(m["ppv"]) and math.isnan(m["median_delay"])


def test_outbreak_with_a_gap_counts_from_its_first_case_week() -> None:
    # cases in weeks 1 and 3 (none in 2): the alarm in week 3 is a detection with delay 2
    c = count_outcomes(np.array([0, 0, 0, 1, 0]), np.array([0, 2, 0, 1, 0]))
    assert c.detected == 1 and c.delays == [2] and c.detected_first_week == 0
    assert c.other_weeks == 3 and c.other_weeks_alarmed == 0


def test_counts_pool_across_groups() -> None:
    a = count_outcomes(np.array([[1.0], [0.0]]), np.array([[1.0], [0.0]]))
    b = count_outcomes(np.array([[0.0], [1.0]]), np.array([[0.0], [1.0]]))
    total = EvalCounts()
    total += a
    total += b
    assert total.outbreaks == 2 and total.detected == 2 and total.delays == [0, 0]
    rows = [{f: getattr(x, f) for f in EvalCounts.__dataclass_fields__} for x in (a, b)]
    got, want = pooled(rows).metrics(), total.metrics()
    assert got.keys() == want.keys()
    for key in want:
        assert got[key] == want[key] or (math.isnan(got[key]) and math.isnan(want[key])), key


# --------------------------------------------------------------------------------------------
# Simulator
# --------------------------------------------------------------------------------------------


def test_baseline_mean_formula() -> None:
    s = Scenario(99, theta=1.0, beta=0.01, gamma1=0.2, gamma2=0.3, m=2, phi=1.0)
    t = 7.0
    lin = 1.0 + 0.01 * t
    for j in (1, 2):
        lin += 0.2 * math.cos(2 * math.pi * j * t / 52) + 0.3 * math.sin(2 * math.pi * j * t / 52)
    assert baseline_mean(s, [t])[0] == pytest.approx(math.exp(lin), rel=1e-14)


@pytest.mark.parametrize("phi", [1.0, 2.0, 5.0])
def test_simulated_counts_have_the_specified_mean_and_variance(phi: float) -> None:
    # one week type (flat scenario), many draws: mean mu and variance phi * mu
    s = Scenario(98, theta=2.0, beta=0.0, gamma1=0.0, gamma2=0.0, m=0, phi=phi)
    rng = np.random.default_rng(7)
    y = simulate_baseline(s, 4, 100_000, rng).ravel()
    mu = math.exp(2.0)
    assert y.mean() == pytest.approx(mu, rel=0.01)
    assert y.var() == pytest.approx(phi * mu, rel=0.03)
    assert np.all(y == np.round(y)) and y.min() >= 0


def test_seasonal_trend_scenario_moments_week_by_week() -> None:
    s = next(x for x in SCENARIOS if x.m == 1 and x.trend and x.level == "medium")
    rng = np.random.default_rng(11)
    y = simulate_baseline(s, 60, 20_000, rng)
    mu = baseline_mean(s, np.arange(1, 61))
    var = baseline_variance(s, np.arange(1, 61))
    np.testing.assert_allclose(y.mean(axis=1), mu, rtol=0.05)
    np.testing.assert_allclose(y.var(axis=1), var, rtol=0.12)
    # pooled over the weeks the relative errors are much smaller
    assert (y.mean(axis=1) / mu).mean() == pytest.approx(1.0, abs=0.005)
    assert (y.var(axis=1) / var).mean() == pytest.approx(1.0, abs=0.02)


def test_outbreak_profile_is_lognormal_0_05() -> None:
    rng = np.random.default_rng(3)
    cases = outbreak_cases(200_000, 10, 40, rng)
    assert cases.sum() == 200_000 and cases[:10].sum() == 0
    share = cases[10:16] / 200_000
    # P(floor(X) = d) for X lognormal(0, 0.5)
    from scipy.stats import norm

    edges = np.log(np.arange(1, 7)) / 0.5
    expected = np.diff(np.concatenate([[0.0], norm.cdf(edges)]))
    np.testing.assert_allclose(share, expected, atol=0.005)


def test_outbreak_size_is_k_times_the_baseline_sd() -> None:
    s = Scenario(97, theta=3.0, beta=0.0, gamma1=0.0, gamma2=0.0, m=0, phi=2.0)
    rng = np.random.default_rng(5)
    sizes = [inject_outbreak(s, 5.0, 0, 30, rng).sum() for _ in range(4000)]
    assert np.mean(sizes) == pytest.approx(5.0 * math.sqrt(2.0 * math.exp(3.0)), rel=0.02)


def test_simulated_set_is_deterministic_and_scenarios_independent() -> None:
    a = simulate_set(SCENARIOS[:3], 2, seed=42, n_weeks=300, n_monitor=20)
    b = simulate_set(SCENARIOS[:3], 2, seed=42, n_weeks=300, n_monitor=20)
    np.testing.assert_array_equal(a.counts, b.counts)
    only = simulate_set(SCENARIOS[1:2], 2, seed=42, n_weeks=300, n_monitor=20)
    np.testing.assert_array_equal(only.counts, a.counts[:, a.scenario == SCENARIOS[1].id])
    # each replicate: one clean copy and 4 outbreak copies of the same baseline
    assert a.counts.shape[1] == 3 * 2 * 5
    clean = a.counts[:, (a.k == 0) & (a.scenario == SCENARIOS[0].id)]
    with_k = a.counts[:, (a.k == 3) & (a.scenario == SCENARIOS[0].id)]
    ob = a.outbreak[:, (a.k == 3) & (a.scenario == SCENARIOS[0].id)]
    np.testing.assert_array_equal(with_k - ob, clean)
    assert not a.outbreak[: 300 - 20].any()  # outbreaks only in the monitored weeks


def test_evaluate_small_run_and_report() -> None:
    rows, seconds = evaluate_detection(
        seed=3,
        replicates=2,
        methods=["ears-c1", "rki3"],
        scenarios=SCENARIOS[:2],
        n_weeks=200,
        n_monitor=20,
    )
    assert set(seconds) == {"ears-c1", "rki3"}
    assert len(rows) == 2 * 2 * 5
    clean = [r for r in rows if r["k"] == 0.0]
    assert all(r["clean_weeks"] == 2 * 20 and r["outbreaks"] == 0 for r in clean)
    again, _ = evaluate_detection(
        seed=3,
        replicates=2,
        methods=["ears-c1", "rki3"],
        scenarios=SCENARIOS[:2],
        n_weeks=200,
        n_monitor=20,
    )
    assert [r["clean_alarms"] for r in rows] == [r["clean_alarms"] for r in again]
    md = report_markdown(
        rows,
        seconds,
        command="x",
        seed=3,
        replicates=2,
        scenarios=SCENARIOS[:2],
        n_weeks=200,
        n_monitor=20,
    )
    assert md.startswith(BEGIN_MARK) and md.rstrip().endswith(END_MARK)
    assert "| ears-c1 |" in md and "| rki3 |" in md
    doc = "# T\n\nintro\n\n" + md + "\nafter\n"
    merged = merge_report(doc, md.replace("| rki3 |", "| RKI3 |"), "T")
    assert merged.startswith("# T\n\nintro") and merged.endswith("after\n")
    assert "| RKI3 |" in merged
    assert merge_report(None, md, "Title").startswith("# Title\n\n" + BEGIN_MARK)
