"""The numerical pieces of Farrington on small examples worked out by hand (issue 9).

Every expected number here comes from the formula in the papers (Farrington et al. 1996,
Noufaily et al. 2013), R's documented glm.fit rule, or a few lines of plain ``math``, never from
the code under test, so a wrong piece is found where it is.
"""

from __future__ import annotations

import importlib
import math

import numpy as np
import pytest

from ruralwatch.epi.detect._farrington_glm import (
    MAX_ITER,
    anscombe_weights,
    fit_poisson,
    fit_poisson_grouped,
)
from ruralwatch.epi.detect.base import Reason
from ruralwatch.epi.panel import Panel

# The module (the package re-exports a function of the same name).
F = importlib.import_module("ruralwatch.epi.detect.farrington")

# --------------------------------------------------------------------------------------------
# Baseline rows
# --------------------------------------------------------------------------------------------


def _settings(**kw: object) -> object:
    base: dict[str, object] = dict(
        b=2,
        w=1,
        reweight=True,
        weights_threshold=1.0,
        trend=True,
        p_threshold_trend=0.05,
        population_offset=False,
        no_periods=3,
        past_weeks_not_included=2,
    )
    base.update(kw)
    return F._Settings(**base)  # type: ignore[arg-type]


def test_reference_rows_go_back_whole_years_of_rows() -> None:
    panel = Panel.single(np.zeros(40), freq=12)
    ref = F._reference_rows(panel, np.array([30, 35]), 2)
    assert ref.tolist() == [[30, 18, 6], [35, 23, 11]]


def test_reference_rows_of_dated_weekly_series_keep_the_weekday() -> None:
    # Mondays from 2018-01-01; one year before 2020-01-06 (a Monday) is 2019-01-06, a Sunday:
    # the nearest Monday is 2019-01-07, row 53; two years back 2018-01-06 -> 2018-01-08, row 1.
    dates = np.datetime64("2018-01-01") + 7 * np.arange(120)
    panel = Panel.single(np.zeros(120), dates=dates, freq=52)
    t = int(np.flatnonzero(dates == np.datetime64("2020-01-06"))[0])
    assert F._reference_rows(panel, np.array([t]), 2).tolist() == [[t, 53, 1]]


def test_window_rows_are_the_2w_plus_1_points_around_each_reference() -> None:
    rows, levels = F._window_rows(np.array([[30, 20, 10]]), 1)
    assert rows.tolist() == [[19, 20, 21, 9, 10, 11]]
    assert levels.tolist() == [[0] * 6]


def test_block_rows_split_each_gap_into_no_periods_minus_one_pieces() -> None:
    # t = 30, references 20 and 10, w = 1: windows 9-11 and 19-21 (level 0). Gaps 12-18 and
    # 22-28 (7 points each) are cut into 2 pieces of nearly equal length, the first of 4 points
    # (7 * 2 / 2 rounded so that piece k starts at ceil(k * 7 / 2)) and the second of 3.
    # The rows end at t - past_weeks_not_included - 1 = 27.
    rows, levels = F._block_rows(np.array([[30, 20, 10]]), _settings())
    assert rows.tolist() == [list(range(9, 28))]
    expected = [*[0] * 3, *[1] * 4, *[2] * 3, *[0] * 3, *[1] * 4, *[2] * 2]
    assert levels.tolist() == [expected]


def test_block_rows_with_one_point_gaps_and_more_pieces_than_points() -> None:
    # w = 4 and freq 10: the gaps between windows hold 1 point; 4 pieces cannot all be used.
    rows, levels = F._block_rows(np.array([[30, 20, 10]]), _settings(w=4, no_periods=5))
    assert rows.tolist() == [list(range(6, 28))]
    # 26 and 27 lie in the window of t itself (t - w = 26): level 0.
    assert levels.tolist() == [[0] * 9 + [1] + [0] * 9 + [1, 0, 0]]


# --------------------------------------------------------------------------------------------
# Weights (Farrington 1996, section 3.3)
# --------------------------------------------------------------------------------------------


def test_anscombe_weights_by_hand() -> None:
    y = np.array([[1.0, 4.0, 9.0, 0.0]])
    mu = np.array([[2.0, 3.0, 4.0, 1.0]])
    hat = np.array([[0.1, 0.2, 0.3, 0.4]])
    phi = 1.5
    fit = _FakeFit(mu=mu, hat=hat, dispersion_working=np.array([phi]))
    used = np.ones_like(y, dtype=bool)
    got = anscombe_weights(fit, y, used, threshold=1.0)  # type: ignore[arg-type]
    s = [
        1.5 * (yi ** (2 / 3) * mi ** (-1 / 6) - mi**0.5) / math.sqrt(phi * (1 - hi))
        for yi, mi, hi in zip(y[0], mu[0], hat[0], strict=True)
    ]
    raw = [1 / si**2 if si > 1.0 else 1.0 for si in s]
    gamma = 4 / sum(raw)
    np.testing.assert_allclose(got[0], [gamma * r for r in raw], rtol=1e-13)
    assert s[2] > 1.0 and s[0] < 1.0  # one point is down-weighted, the others are not
    assert got[0].mean() == pytest.approx(1.0)


def test_anscombe_weights_floor_phi_at_one_and_skip_unused_points() -> None:
    y = np.array([[9.0, 2.0, 5.0]])
    mu = np.array([[2.0, 2.0, 2.0]])
    fit = _FakeFit(mu=mu, hat=np.zeros_like(mu), dispersion_working=np.array([0.3]))
    used = np.array([[True, True, False]])
    got = anscombe_weights(fit, y, used, threshold=2.58)  # type: ignore[arg-type]
    s0 = 1.5 * (9 ** (2 / 3) * 2 ** (-1 / 6) - 2**0.5)  # phi 0.3 -> 1
    assert s0 > 2.58
    raw = [1 / s0**2, 1.0]
    np.testing.assert_allclose(got[0], [2 * raw[0] / sum(raw), 2 * raw[1] / sum(raw), 0.0])


class _FakeFit:
    def __init__(self, mu: np.ndarray, hat: np.ndarray, dispersion_working: np.ndarray) -> None:
        self.mu = mu
        self.hat = hat
        self.dispersion_working = dispersion_working


# --------------------------------------------------------------------------------------------
# Thresholds
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("power", [2 / 3, 0.5, 1.0])
def test_delta_bound_by_hand(power: float) -> None:
    mu, se_fit, phi, z, y = 4.0, 1.0, 2.0, 1.6448536269514722, 9.0
    tau = phi + se_fit**2 / mu
    se = power * mu ** (power - 0.5) * math.sqrt(tau)
    bound = (mu**power + z * se) ** (1 / power)
    zy = (y**power - mu**power) / se
    got_b, got_z = F._delta_bound(
        np.array([y]), np.array([mu]), np.array([se_fit]), np.array([phi]), z, power
    )
    assert got_b[0] == pytest.approx(bound, rel=1e-14)
    assert got_z[0] == pytest.approx(zy, rel=1e-14)
    if power == 1.0:  # no transformation: mean + z * sqrt(phi mu + var(mu hat))
        assert got_b[0] == pytest.approx(4 + z * math.sqrt(2 * 4 + 1), rel=1e-14)


def _nb_cdf(k: int, mu: float, phi: float) -> float:
    """P(Y <= k) for mean mu and variance phi*mu, by summing the probabilities."""
    if phi == 1.0:
        return sum(math.exp(-mu + j * math.log(mu) - math.lgamma(j + 1)) for j in range(k + 1))
    size, p = mu / (phi - 1), 1 / phi
    return sum(
        math.exp(
            math.lgamma(j + size)
            - math.lgamma(size)
            - math.lgamma(j + 1)
            + size * math.log(p)
            + j * math.log(1 - p)
        )
        for j in range(k + 1)
    )


@pytest.mark.parametrize(("mu", "phi"), [(3.2, 1.0), (3.2, 2.5), (0.4, 1.7), (25.0, 4.0)])
def test_nb_quantile_is_the_smallest_count_reaching_the_level(mu: float, phi: float) -> None:
    q = float(F._nb_quantile(0.95, np.array([mu]), np.array([phi]))[0])
    k = int(q)
    assert q == k
    assert _nb_cdf(k, mu, phi) >= 0.95
    assert k == 0 or _nb_cdf(k - 1, mu, phi) < 0.95
    # P(Y >= y) is one minus the CDF below y.
    sf = float(F._nb_sf(np.array([k + 1.0]), np.array([mu]), np.array([phi]))[0])
    assert sf == pytest.approx(1 - _nb_cdf(k, mu, phi), rel=1e-9)


def test_nb_quantile_over_many_means_and_dispersions() -> None:
    """The quantile search (a guess moved step by step) gives the smallest count reaching the
    level everywhere: from tiny to large means, Poisson and strongly over-dispersed, at several
    levels. Checked by the plain sum of probabilities where the counts are small, and against
    scipy's root search (an independent implementation) everywhere."""
    from scipy import stats

    rng = np.random.default_rng(7)
    n = 3000
    mu = np.concatenate(
        [
            rng.lognormal(np.log(8.0), 2.0, n),
            rng.uniform(0.0, 3.0, n),
            10.0 ** rng.uniform(-9, 6, n),
        ]
    )
    phi = np.where(rng.random(mu.size) < 0.3, 1.0, 1.0 + rng.lognormal(0.0, 1.5, mu.size))
    pois = phi == 1.0
    for q in (0.5, 0.95, 0.999):
        got = F._count_quantile(q, mu, phi)
        scipy_q = np.where(
            pois,
            stats.poisson.ppf(q, mu),
            stats.nbinom.ppf(q, mu / np.where(pois, 2.0, phi - 1.0), 1.0 / phi),
        )
        assert np.array_equal(got, scipy_q)
        for i in np.flatnonzero(got < 60)[:200]:
            k = int(got[i])
            assert _nb_cdf(k, mu[i], phi[i]) >= q - 1e-12
            assert k == 0 or _nb_cdf(k - 1, mu[i], phi[i]) < q + 1e-12
    # A mean of 0 (nothing to expect) has quantile 0 for the Poisson, NaN for size 0 (scipy's).
    zero = F._count_quantile(0.95, np.array([0.0, 0.0]), np.array([1.0, 2.0]))
    assert zero[0] == 0.0 and np.isnan(zero[1])


def test_limit54_counts_the_last_periods_including_t() -> None:
    counts = np.array([[3.0, 0.0], [1.0, 0.0], [1.0, 5.0], [2.0, 0.0], [1.0, 0.0]])
    got = F._limit54_met(counts, np.array([3, 4]), (5, 4))
    # t = 3: 3+1+1+2 = 7 and 0+0+5+0 = 5; t = 4: 1+1+2+1 = 5 and 5.
    assert got.tolist() == [[True, True], [True, True]]
    got = F._limit54_met(counts, np.array([4]), (6, 4))
    assert got.tolist() == [[False, False]]
    # A missing count counts as none.
    counts[2, 1] = np.nan
    assert F._limit54_met(counts, np.array([3]), (5, 4)).tolist() == [[True, False]]


# --------------------------------------------------------------------------------------------
# IRLS: estimates and R's stopping rule
# --------------------------------------------------------------------------------------------


def test_intercept_only_fit_is_the_log_mean_with_pearson_dispersion() -> None:
    y = np.array([[2.0, 5.0, 3.0, 8.0, 2.0]])
    X = np.ones((1, 5, 1))
    fit = fit_poisson(X, y, np.ones_like(y))
    m = 4.0
    # R's stopping rule (relative deviance change < 1e-8) leaves about 1e-9 in the estimate.
    assert fit.coef[0, 0] == pytest.approx(math.log(m), abs=1e-8)
    assert fit.converged[0] and not fit.failed[0]
    pearson = sum((v - m) ** 2 / m for v in y[0]) / 4
    assert fit.dispersion[0] == pytest.approx(pearson, rel=1e-8)
    # 1 / sum(mu) and leverages 1/n; as R, from the working weights of the last iteration (the
    # means before the last step), hence only close.
    assert fit.cov_unscaled[0, 0, 0] == pytest.approx(1 / (5 * m), rel=1e-4)
    np.testing.assert_allclose(fit.hat[0], 0.2, rtol=1e-12)


def _all_zero_stop(n: int) -> tuple[int, float]:
    """R's glm.fit on n zero counts, intercept only: the step is exactly eta -> eta - 1 from
    eta = log(0.1); it stops at the first k with |dev_k - dev_(k-1)| / (dev_k + 0.1) < 1e-8
    (dev = 2 n exp(eta)), or at maxit = 25."""
    dev = 2 * n * 0.1
    for k in range(1, 26):
        d = 2 * n * math.exp(math.log(0.1) - k)
        if abs(d - dev) / (d + 0.1) < 1e-8:
            return k, math.log(0.1) - k
        dev = d
    return 25, math.log(0.1) - 25


@pytest.mark.parametrize("n", [1, 21, 400])
def test_all_zero_baseline_stops_where_r_does(n: int) -> None:
    k, eta = _all_zero_stop(n)
    y = np.zeros((1, 1, n))
    X = np.ones((1, n, 1))
    for fit in (
        fit_poisson(X, y[0], np.ones((1, n))),
        fit_poisson_grouped(X, y, np.ones((1, 1, n))),
    ):
        assert fit.coef[0, 0] == pytest.approx(eta, abs=1e-12)
        assert bool(fit.converged[0]) == (k < 25)
    assert MAX_ITER == 25


def test_a_diverging_problem_fails_alone() -> None:
    """A trend over zeros in a batch with ordinary problems: the ordinary ones get exactly what
    they get alone; the diverging one stops unconverged at R's 25 iterations."""
    rng = np.random.default_rng(5)
    n = 30
    t = np.arange(1.0, n + 1)
    X = np.stack([np.ones(n), t * 50.0], axis=1)[None].repeat(4, axis=0)
    y = rng.poisson(6.0, size=(4, n)).astype(float)
    y[2] = 0.0
    y[2, 0] = 1.0  # one case, then nothing: the trend runs off towards -inf
    both = fit_poisson(X, y, np.ones_like(y))
    alone = fit_poisson(X[[0, 1, 3]], y[[0, 1, 3]], np.ones((3, n)))
    np.testing.assert_allclose(both.coef[[0, 1, 3]], alone.coef, rtol=0, atol=0)
    assert not both.converged[2] and not both.failed[2]
    assert both.coef[2, 1] < -0.1  # still running off
    grouped = fit_poisson_grouped(X[:1], y[None], np.ones((1, 4, n)))
    np.testing.assert_allclose(grouped.coef[[0, 1, 3]], alone.coef, rtol=1e-6)
    assert grouped.converged.tolist() == [True, True, False, True]


def test_a_non_finite_problem_is_failed_and_the_others_kept() -> None:
    n = 12
    X = np.ones((3, n, 1))
    y = np.full((3, n), 4.0)
    w = np.ones((3, n))
    w[1, 0] = np.inf  # a non-finite prior weight: no fit for problem 1
    fit = fit_poisson(X, y, w)
    assert fit.failed.tolist() == [False, True, False]
    assert np.isnan(fit.coef[1]).all()
    np.testing.assert_allclose(fit.coef[[0, 2], 0], math.log(4.0), atol=1e-10)


def test_reason_codes_name_what_went_wrong() -> None:
    assert Reason.TOO_SHORT.code == "too_short"
    assert int(Reason.OK) == 0


def _weights_without_the_bound(fit, y, used, threshold):
    """The weights as computed before the bound on the residual skipped points (every point
    above its mean evaluated)."""
    phi = np.maximum(fit.dispersion_working, 1.0)
    phi = np.where(np.isnan(phi), 1.0, phi)
    cand = np.flatnonzero(used & (y > fit.mu * (1.0 - 1e-6)))
    rows = cand // y.shape[1]
    yc, muc = y.ravel()[cand], fit.mu.ravel()[cand]
    with np.errstate(divide="ignore", invalid="ignore"):
        root = np.sqrt(muc)
        a = 1.5 * (np.cbrt(yc * yc) / np.cbrt(root) - root)
        s = a / np.sqrt(phi[rows] * (1.0 - fit.hat.ravel()[cand]))
        raw = np.where(used, 1.0, 0.0)
        raw.ravel()[cand] = np.where(s > threshold, 1.0 / (s * s), 1.0)
        gamma = used.sum(axis=1) / raw.sum(axis=1)
    return raw * gamma[:, None]


@pytest.mark.parametrize("threshold", [0.0, 1.0, 2.58])
def test_anscombe_weights_skip_only_points_that_cannot_pass_the_threshold(threshold) -> None:
    rng = np.random.default_rng(12)
    mu = rng.gamma(2.0, 3.0, size=(300, 60))
    y = rng.poisson(mu * rng.gamma(1.5, 1 / 1.5, size=mu.shape)).astype(np.float64)
    hat = rng.uniform(0.0, 0.6, size=mu.shape)
    # leverage 1 (or within rounding of it) where a point is fitted exactly
    exact = rng.random(mu.shape) < 0.02
    mu[exact] = y[exact] + np.where(rng.random(exact.sum()) < 0.5, 0.0, 1e-15)
    hat[exact] = 1.0 - rng.choice([0.0, 1e-17, 1e-12], size=exact.sum())
    mu[5, 7], hat[6, 8] = np.nan, np.nan
    used = rng.random(mu.shape) < 0.95
    fit = _FakeFit(mu=mu, hat=hat, dispersion_working=rng.uniform(0.5, 3.0, 300))
    got = anscombe_weights(fit, y, used, threshold)  # type: ignore[arg-type]
    want = _weights_without_the_bound(fit, y, used, threshold)
    # The same weights (the cube roots and the scale's sum are rounded otherwise: to rounding),
    # except in problems with a point fitted exactly at a leverage of (nearly) 1: its residual
    # is 0 / 0 or a rounding error magnified up to 1e6 times, whose rounding decides its weight.
    arbitrary = np.any(exact, axis=1)
    assert (~arbitrary).sum() > 60
    # (with threshold 0 a residual of rounding size gets a weight of 1 / s^2: rtol 1e-11)
    np.testing.assert_allclose(got[~arbitrary], want[~arbitrary], rtol=1e-11, atol=0)
    assert (got[np.isfinite(got)] != got[np.isfinite(got)].max()).any()
