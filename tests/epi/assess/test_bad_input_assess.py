"""Bad input and awkward units in the assessment: a clear error naming the unit, season or
parameter, or NaN for the one unit; one sparse unit never changes another unit's result."""

from __future__ import annotations

import numpy as np
import pytest

from ruralwatch.epi.assess.growth import growth_rate
from ruralwatch.epi.assess.level import epidemic_level
from ruralwatch.epi.assess.mem import MemError, memmodel
from ruralwatch.epi.assess.rt import _gamma_quantiles, discrete_si, estimate_rt

T = 200


def _awkward() -> np.ndarray:
    rng = np.random.default_rng(3)
    normal = rng.poisson(20 * np.exp(0.01 * np.arange(T))).astype(np.float64)
    sparse = np.zeros(T)
    sparse[[10, 50, 120]] = 1.0
    huge = rng.poisson(5e7, T).astype(np.float64)
    gaps = rng.poisson(10, T).astype(np.float64)
    gaps[rng.choice(T, 60, replace=False)] = np.nan
    return np.column_stack([normal, np.zeros(T), sparse, huge, gaps, np.full(T, np.nan)])


def test_growth_of_a_normal_unit_is_unchanged_by_awkward_ones() -> None:
    c = _awkward()
    both, alone = growth_rate(c), growth_rate(c[:, :1])
    np.testing.assert_allclose(both.r[0], alone.r[0], rtol=1e-12)
    assert np.isnan(both.r[1]) and np.isnan(both.r[5])  # all zero, nothing reported


def test_rt_of_a_normal_unit_is_unchanged_by_awkward_ones() -> None:
    c = _awkward()
    si = discrete_si(np.arange(T), 2.6, 1.5)
    both, alone = estimate_rt(c, si), estimate_rt(c[:, :1], si)
    np.testing.assert_allclose(both.mean[:, 0], alone.mean[:, 0], rtol=1e-12)
    assert np.isnan(both.mean[:, 5]).all()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"incidence": [1.0, 2.0, -1.0, 4.0]}, r"negative value -1 at t = 3 \(row 2\), column 0"),
        ({"incidence": [1.0, np.inf, 3.0]}, "infinite value inf at t = 2"),
        ({"incidence": []}, "0 time point"),
        ({"incidence": [5.0]}, "1 time point"),
        ({"incidence": [1.0] * 10, "t_start": [1], "t_end": [5]}, "2 <= t_start"),
        ({"incidence": [1.0] * 10, "t_start": [np.nan], "t_end": [5]}, "whole numbers"),
        ({"incidence": [1.0] * 10, "mean_prior": 0.0}, "mean_prior"),
        ({"incidence": [1.0] * 10, "quantile_levels": (1.5,)}, "quantile_levels"),
        ({"incidence": [1.0] * 10, "si_sum": "ignore"}, "si_sum"),
        ({"incidence": [3.0, 1, 0, 0, 0, 0, 0]}, "7 time points; windows of 7 days"),
        ({"incidence": [1.0] * 10, "t_start": [], "t_end": []}, "no window"),
    ],
)
def test_rt_bad_input(kwargs: dict[str, object], message: str) -> None:
    si = np.array([0.0, 0.5, 0.3, 0.2])
    with pytest.raises(ValueError, match=message):
        estimate_rt(si_distr=si, **kwargs)  # type: ignore[arg-type]


def test_level_names_the_unit_without_population() -> None:
    with pytest.raises(ValueError, match=r"unit 2 \(column 2\) has 0"):
        epidemic_level(np.ones((30, 3)), np.array([100.0, 50.0, 0.0]))


@pytest.mark.parametrize(
    ("data", "params", "message"),
    [
        (-np.ones((30, 5)), {}, r"season 1 \(column 0\), period 1 \(row 0\): -1"),
        (np.full((30, 5), np.inf), {}, "negative or infinite"),
        (np.full((30, 5), np.nan), {}, "no season with cases"),
        (np.ones((30, 5)), {"bogus": 1}, "unknown memmodel parameter 'bogus'; accepted: seasons"),
        (np.ones((30, 5)), {"level_threshold": 1.5}, r"level_threshold must lie in \(0, 1\)"),
        (np.ones((30, 5)), {"level_intensity": (0.4, 0.9, 1.2)}, "level_intensity"),
        (np.ones((2, 3, 4)), {}, "matrix"),
        (np.c_[np.arange(30.0), np.zeros(30)], {}, "at least two seasons with cases; 1 used"),
        (np.ones((30, 5)), {"seasons": 1}, "at least two seasons with cases; 1 used"),
    ],
)
def test_mem_bad_input(data: np.ndarray, params: dict[str, object], message: str) -> None:
    with pytest.raises(MemError, match=message):
        memmodel(data, **params)


def test_gamma_quantiles_by_hand() -> None:
    """Gamma(1, scale) is exponential: q(p) = -scale * log(1 - p); Gamma(2, 1) median solves
    1 - (1 + x) exp(-x) = 1/2, x = 1.678346990016661 (by hand, Newton from 1.7)."""
    levels = (0.025, 0.5, 0.975)
    shape = np.array([[1.0, 2.0], [1.0, np.nan]])
    scale = np.array([[2.0, 1.0], [0.5, 1.0]])
    q = _gamma_quantiles(levels, shape, scale)
    for i, p in enumerate(levels):
        assert q[i, 0, 0] == pytest.approx(-2.0 * np.log(1 - p), rel=1e-12)
        assert q[i, 1, 0] == pytest.approx(-0.5 * np.log(1 - p), rel=1e-12)
    assert q[1, 0, 1] == pytest.approx(1.678346990016661, rel=1e-12)
    assert np.isnan(q[:, 1, 1]).all()
    # the fast path for integer shapes above a prior shape gives the same numbers
    fast = _gamma_quantiles(levels, np.array([[1.25, 3.25]]), np.array([[1.0, 1.0]]), 0.25)
    slow = _gamma_quantiles(levels, np.array([[1.25, 3.25]]), np.array([[1.0, 1.0]]))
    np.testing.assert_allclose(fast, slow, rtol=1e-14)
