"""Rebound watch: exact projections, simulated truths, robustness to typos."""

from __future__ import annotations

import numpy as np
import pytest

from ruralwatch.epi.assess.calendar import make_event
from ruralwatch.epi.assess.rebound import fit_loglinear, rebound_after_event, rebound_watch

START = 40  # event row
T = START + 28


def test_projection_of_a_noise_free_decline_is_exact() -> None:
    t = np.arange(T, dtype=float)
    y = 800.0 * np.exp(-0.1 * t)
    res = rebound_watch(y, START, delay=0)
    d = res.watch_rows
    truth = np.array([800.0 * np.exp(-0.1 * np.arange(k - 6, k + 1)).sum() for k in d])
    assert res.projected[:, 0] == pytest.approx(truth, rel=1e-8)
    assert res.pre_r[0] == pytest.approx(-0.1, abs=1e-10)
    assert not res.detected[0]
    assert res.outcome[0] == "no_new_peak"
    # dispersion floored at 1: U = S (1 + 2/3 z sqrt(1/S + v))^1.5 with v = g' (X'WX)^-1 g
    rows = np.arange(START - 21, START, dtype=float)
    X = np.column_stack([np.ones(21), rows - rows.mean()])
    cov = np.linalg.inv(X.T @ (X * y[START - 21 : START, None]))
    j = np.arange(d[-1] - 6, d[-1] + 1, dtype=float)
    mu = 800.0 * np.exp(-0.1 * j)
    s = mu.sum()
    g = np.array([1.0, (mu * (j - rows.mean())).sum() / s])
    v = g @ cov @ g
    expected = s * (1 + 2 / 3 * 1.959964 * np.sqrt(1 / s + v)) ** 1.5
    assert res.upper[-1, 0] == pytest.approx(expected, rel=1e-5)


def _sim(rng: np.random.Generator, post_r: float | None, n_units: int) -> np.ndarray:
    t = np.arange(T, dtype=float)
    mu = 400.0 * np.exp(-0.08 * t)
    out = np.empty((T, n_units))
    for u in range(n_units):
        m = mu.copy()
        if post_r is not None:
            # from 3 days after the event, a new rise at post_r per day
            k = np.arange(T) - (START + 3)
            m = np.where(k >= 0, mu[START + 3] * np.exp(post_r * k), mu)
        out[:, u] = rng.poisson(m)
    return out


def test_false_alarms_are_rare_when_the_decline_continues() -> None:
    rng = np.random.default_rng(20230122)
    y = _sim(rng, None, 200)
    res = rebound_watch(y, START)
    assert res.detected.mean() <= 0.03


def test_a_new_rise_is_detected_after_the_event() -> None:
    rng = np.random.default_rng(7)
    y = _sim(rng, 0.12, 200)
    res = rebound_watch(y, START)
    assert res.detected.mean() >= 0.95
    hit = res.detected
    assert np.all(res.onset_index[hit] >= START)
    assert np.all(res.first_index[hit] >= res.onset_index[hit])
    # the growth condition uses a 10-day window after the event
    assert np.all(res.first_index[hit] >= START + 9)
    assert np.all(res.observed_at[hit] > res.upper_at[hit])


def test_robust_fit_resists_a_typo() -> None:
    t = np.arange(START, dtype=float)
    y = np.round(300.0 * np.exp(-0.1 * t))
    y[START - 5] *= 10  # an extra zero typed
    robust = fit_loglinear(y, START - 21, START, robust=True)
    plain = fit_loglinear(y, START - 21, START, robust=False)
    assert abs(robust.beta[0, 1] + 0.1) < 0.01
    assert abs(plain.beta[0, 1] + 0.1) > abs(robust.beta[0, 1] + 0.1)


def test_a_units_fit_is_the_same_alone_and_among_units_too_small_to_fit() -> None:
    """The pre-event fit leaves out the units with too few cases (their projection is flat):
    the others' numbers are those they get alone, to the last bit."""
    rng = np.random.default_rng(11)
    big = _sim(rng, None, 3)[:START]
    small = rng.poisson(0.1, size=(START, 5)).astype(float)
    small[:, 0] = np.nan  # no report at all
    mixed = np.column_stack([small[:, :2], big[:, 0], small[:, 2:], big[:, 1:]])
    together = fit_loglinear(mixed, START - 21, START)
    alone = fit_loglinear(big, START - 21, START)
    fitted = [2, 6, 7]
    assert together.ok.tolist() == [False, False, True, False, False, False, True, True]
    for name in ("beta", "cov", "dispersion"):
        assert np.array_equal(getattr(together, name)[fitted], getattr(alone, name))
    flat = fit_loglinear(small, START - 21, START)
    assert np.array_equal(together.beta[[0, 1, 3, 4, 5]], flat.beta)
    assert np.array_equal(together.cov[[0, 1, 3, 4, 5]], flat.cov)


def test_flat_projection_when_there_were_no_cases() -> None:
    y = np.zeros(T)
    y[START + 2 :] = np.arange(1, T - START - 1, dtype=float) ** 1.5
    res = rebound_watch(y, START, delay=0)
    assert not res.pre_trend_ok[0]
    assert res.projected[0, 0] == pytest.approx(7 * 0.5 / 21)
    assert res.detected[0]


def test_dates_and_event() -> None:
    dates = np.arange(np.datetime64("2022-12-12"), np.datetime64("2022-12-12") + T)
    ev = make_event("fair", dates[START].astype(object))
    rng = np.random.default_rng(3)
    y = _sim(rng, 0.15, 2)
    res = rebound_after_event(y, dates, ev)
    assert res.event == ev
    assert res.detected.all()
    assert np.all(res.first_date >= dates[START])
    with pytest.raises(ValueError):
        rebound_watch(y, 3)


def test_growth_is_fitted_only_where_the_sum_exceeds_the_bound() -> None:
    rng = np.random.default_rng(7)
    y = _sim(rng, 0.12, 50)
    res = rebound_watch(y, START)
    fitted = np.isfinite(res.growth_r)
    assert fitted.any()
    assert not np.any(fitted & ~res.exceed)
    window_fits = (res.watch_rows - 9 >= START)[:, None]
    assert np.all(fitted == (res.exceed & window_fits))
