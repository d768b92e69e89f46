"""Growth rate r and doubling/halving time (quasi-Poisson log-linear fit) against known truths."""

from __future__ import annotations

import csv
import gzip
import math
from datetime import date, timedelta

import numpy as np
import pytest

from ruralwatch.epi.assess.growth import growth_rate
from tests.shared import DATA

SEEDS = 200
# Log-scale weekday pattern (reporting dips at the weekend).
WEEKLY = np.array([0.0, 0.3, 0.2, 0.1, 0.0, -0.5, -0.7])


def _means(r: float, log_start: float, days: int) -> np.ndarray:
    t = np.arange(days)
    return np.exp(log_start + r * t + WEEKLY[t % 7])


def _simulate(r: float, log_start: float, days: int, phi: float = 1.0) -> np.ndarray:
    """One column per seed: Poisson (phi = 1) or gamma-Poisson with variance phi * mean."""
    mu = _means(r, log_start, days)
    cols = []
    for seed in range(SEEDS):
        rng = np.random.default_rng(seed)
        lam = mu if phi == 1.0 else rng.gamma(mu / (phi - 1.0), phi - 1.0)
        cols.append(rng.poisson(lam))
    return np.column_stack(cols).astype(np.float64)


@pytest.mark.parametrize(
    ("r", "log_start", "window", "phi"),
    [
        (0.1, 3.0, 28, 1.0),
        (-0.05, 5.0, 28, 1.0),
        (0.1, 3.0, 14, 4.0),
        (-0.05, 5.0, 14, 4.0),
    ],
)
def test_interval_covers_true_rate(r: float, log_start: float, window: int, phi: float) -> None:
    days = window + 2
    res = growth_rate(_simulate(r, log_start, days, phi), window=window)
    assert res.r.shape == (SEEDS,)
    assert res.converged.all()
    covered = np.mean((res.r_low <= r) & (r <= res.r_high))
    assert 0.90 <= covered <= 0.99, covered
    # Unbiased to within sampling error of the mean of 200 estimates.
    assert abs(res.r.mean() - r) < 4 * res.r.std() / math.sqrt(SEEDS)
    if phi > 1:
        assert 2.0 < np.median(res.dispersion) < 6.0


def test_noise_free_series_gives_exact_rate_and_doubling_time() -> None:
    y = np.column_stack([_means(0.1, 3.0, 30), _means(-0.05, 6.0, 30)])
    res = growth_rate(y)
    np.testing.assert_allclose(res.r, [0.1, -0.05], rtol=1e-8)
    np.testing.assert_allclose(res.dispersion, [1.0, 1.0])
    assert res.doubling_time[0] == pytest.approx(math.log(2) / 0.1)
    assert res.halving_time[1] == pytest.approx(math.log(2) / 0.05)
    assert np.isinf(res.doubling_time[1]) and np.isinf(res.halving_time[0])
    # Bounds map monotonically: a faster rate gives a shorter time.
    assert res.doubling_low[0] == pytest.approx(math.log(2) / res.r_high[0])
    assert res.doubling_high[0] == pytest.approx(math.log(2) / res.r_low[0])
    assert res.halving_low[1] == pytest.approx(math.log(2) / -res.r_low[1])
    assert res.halving_high[1] == pytest.approx(math.log(2) / -res.r_high[1])
    assert list(res.status) == ["growing", "declining"]
    assert (res.window_start, res.window_end, res.end) == (14, 27, 29)
    assert res.day_of_week and res.n_used.tolist() == [14, 14] and res.df.tolist() == [6, 6]


def test_right_truncation_excludes_the_last_delay_days() -> None:
    y = _means(0.1, 3.0, 30)
    y[-3:] = [1.0, 1.0, 1.0]  # incomplete recent reports
    assert growth_rate(y, delay=3).r[0] == pytest.approx(0.1, rel=1e-8)
    assert growth_rate(y, delay=0).r[0] < 0.0
    res = growth_rate(y, delay=3, end=25, window=10)
    assert (res.window_start, res.window_end) == (13, 22)
    assert not res.day_of_week and res.df[0] == 8  # short window: no weekday dummies


def test_interval_crossing_zero_is_flat_with_infinite_upper_time() -> None:
    rng = np.random.default_rng(7)
    y = rng.poisson(_means(0.0, 2.0, 16)).astype(np.float64)
    res = growth_rate(y)
    assert res.r_low[0] < 0 < res.r_high[0]
    assert res.status[0] == "flat"
    assert np.isinf(res.doubling_high[0]) and np.isinf(res.halving_high[0])
    assert np.isfinite(res.doubling_low[0]) and np.isfinite(res.halving_low[0])


def test_nan_rows_and_panel_equals_stacked_single_runs() -> None:
    rng = np.random.default_rng(3)
    a = rng.poisson(_means(0.08, 3.0, 40)).astype(np.float64)
    b = rng.poisson(_means(-0.04, 4.0, 40)).astype(np.float64)
    c = _means(0.1, 3.0, 40)
    c[[30, 33, 37]] = np.nan  # missing reports inside the window
    b[5] = np.nan  # outside the window: no effect
    panel = np.column_stack([a, b, c])
    res = growth_rate(panel, window=21)
    assert res.r.shape == (3,)
    singles = [growth_rate(col, window=21) for col in (a, b, c)]
    for name in ("r", "r_low", "r_high", "dispersion", "doubling_time", "halving_time"):
        got = getattr(res, name)
        want = np.concatenate([getattr(s, name) for s in singles])
        np.testing.assert_allclose(got, want, rtol=1e-10)
    assert res.n_used.tolist() == [21, 21, 18]
    # Noise-free unit with gaps: still the exact rate, gaps do not count as zeros.
    assert res.r[2] == pytest.approx(0.1, rel=1e-8)
    assert res.df[2] == 18 - 8


def test_unit_without_data_is_insufficient() -> None:
    y = np.column_stack([np.full(20, np.nan), np.zeros(20), _means(0.1, 3.0, 20)])
    y[:7, 2] = np.nan  # 11 of 14 window rows left, p = 8
    res = growth_rate(y)
    assert np.isnan(res.r[:2]).all()
    assert res.status.tolist() == ["insufficient", "insufficient", "growing"]
    # A weekday never observed drops its dummy from p.
    y2 = _means(0.1, 3.0, 20)
    y2[np.arange(20) % 7 == 3] = np.nan
    res2 = growth_rate(y2)
    assert res2.r[0] == pytest.approx(0.1, rel=1e-8)
    assert res2.df[0] == res2.n_used[0] - 7


def _shanghai_total() -> tuple[list[date], np.ndarray]:
    path = DATA / "epi" / "shanghai_covid19_daily_district_2022.csv.gz"
    values: dict[date, float] = {}
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            if row["region_code"] == "310000" and row["indicator"] == "new_total":
                values[date.fromisoformat(row["date"])] = float(row["value"])
    first, last = min(values), max(values)
    days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
    return days, np.array([values.get(d, np.nan) for d in days])


@pytest.mark.parametrize(
    ("last_day", "status"),
    [(date(2022, 4, 5), "growing"), (date(2022, 5, 10), "declining")],
)
def test_shanghai_2022_wave(last_day: date, status: str) -> None:
    days, y = _shanghai_total()
    res = growth_rate(y, end=days.index(last_day) + 2)  # window ends on last_day
    assert days[res.window_end] == last_day
    assert res.status[0] == status
    # Published course of the wave: cases doubled in a few days in late March / early April and
    # roughly halved each week or so in early May.
    if status == "growing":
        assert 2.0 < res.doubling_time[0] < 8.0
    else:
        assert 3.0 < res.halving_time[0] < 15.0


def test_near_separated_series_does_not_fail_the_batch() -> None:
    """One unit with a single non-zero day beside a normal unit: the batch still fits."""
    rng = np.random.default_rng(5)
    normal = rng.poisson(20 * np.exp(0.05 * np.arange(30))).astype(float)
    spike = np.zeros(30)
    spike[20] = 1.0  # inside the 14-day window that ends 2 days before the last row
    res = growth_rate(np.column_stack([normal, spike]), window=14, delay=2)
    assert np.isfinite(res.r[0]) and res.r_low[0] < 0.05 < res.r_high[0]
    assert res.status[1] in ("insufficient", "flat")  # one case proves no trend


def test_weekday_without_cases_gives_the_limit_of_the_full_fit() -> None:
    """A weekday whose days are all 0 has its coefficient at -inf; dropping its days gives the
    other estimates that limit, so r equals the fit of the same data with those days unknown."""
    t = np.arange(35)
    y = np.round(50 * np.exp(-0.04 * t) * np.exp(WEEKLY[t % 7])).astype(float)
    y[t % 7 == 5] = 0.0  # Saturdays: never a case
    res = growth_rate(y, window=28, delay=0)
    unknown = y.copy()
    unknown[t % 7 == 5] = np.nan
    ref = growth_rate(unknown, window=28, delay=0)
    assert res.status[0] == "declining" and res.converged[0]
    assert res.r[0] == pytest.approx(ref.r[0], rel=1e-9)
    # the zero days still count as observations: one more residual degree of freedom
    assert res.df[0] == ref.df[0] + 3


def test_reference_weekday_without_cases() -> None:
    """The weekday absorbed in the intercept (row 0's) is the one without cases."""
    t = np.arange(28)
    y = np.round(40 * np.exp(0.03 * t) * np.exp(WEEKLY[t % 7])).astype(float)
    y[t % 7 == 0] = 0.0
    unknown = y.copy()
    unknown[t % 7 == 0] = np.nan
    res, ref = growth_rate(y, window=28, delay=0), growth_rate(unknown, window=28, delay=0)
    assert res.r[0] == pytest.approx(ref.r[0], rel=1e-9)
    assert res.r[0] == pytest.approx(0.03, abs=0.01)


def test_separation_along_time_is_insufficient() -> None:
    """Every case in the first days of the window, then nothing: r has no finite estimate
    (the fit runs towards -inf), which is reported as insufficient, not as a wide interval."""
    y = np.zeros((20, 2))
    y[:, 1] = 10.0
    y[4:8, 0] = [6.0, 3.0, 2.0, 1.0]  # window rows 4..17: cases only at its start
    res = growth_rate(y, window=14, delay=2)
    assert res.status.tolist() == ["insufficient", "flat"]
    assert np.isnan(res.r[0]) and np.isnan(res.r_low[0])
