"""The one IRLS (epi/irls.py): its answers do not depend on the strategy that forms and solves
X'WX, on the stopping rule (to the rule's precision) or on the other problems of the batch,
and they solve the score equations of the family."""

from __future__ import annotations

import numpy as np
import pytest

from ruralwatch.epi.detect._farrington_glm import fit_poisson_grouped, group_design
from ruralwatch.epi.irls import Control, Family, OwnDesign, SharedDesign, irls


def _panel(seed: int = 3, units: int = 6, n: int = 40) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    t = np.arange(n, dtype=np.float64)
    x = np.column_stack([np.ones(n), (t - t.mean()) / n, np.cos(2 * np.pi * t / 12)])
    beta = np.column_stack(
        [rng.uniform(0.5, 2.5, units), rng.normal(0, 1, units), 0.4 * np.ones(units)]
    )
    y = rng.poisson(np.exp(beta @ x.T)).astype(np.float64)
    return x, y


def _score(x, y, w, mu, theta=None):
    r = w * (y - mu) if theta is None else w * (y - mu) / (1.0 + mu / theta[:, None])
    return r @ x


@pytest.mark.parametrize("theta", [None, 2.5])
def test_the_fit_solves_the_score_equations(theta):
    x, y = _panel()
    w = np.ones_like(y)
    th = None if theta is None else np.full(y.shape[0], theta)
    fit = irls(y, w, SharedDesign(x), Family(th), Control(tol=1e-12, max_iter=50), mu0=y + 0.1)
    assert fit.converged.all() and not fit.failed.any()
    mu = np.exp(fit.coef @ x.T)
    np.testing.assert_allclose(fit.mu, mu, rtol=1e-12)
    assert np.abs(_score(x, y, w, mu, th)).max() < 1e-6 * y.sum(axis=1).max()


def test_the_stopping_rules_agree_at_the_maximum():
    x, y = _panel(4)
    w = np.ones_like(y)
    by_dev = irls(y, w, SharedDesign(x), control=Control(tol=1e-14, max_iter=60), mu0=y + 0.1)
    by_coef = irls(
        y, w, SharedDesign(x), control=Control(rule="coef", tol=1e-13, max_iter=60), mu0=y + 0.5
    )
    np.testing.assert_allclose(by_dev.coef, by_coef.coef, rtol=1e-9, atol=1e-11)


def test_shared_and_own_designs_give_the_same_fits():
    x, y = _panel(5)
    w = np.ones_like(y)
    w[2, 5:9] = 0.0  # a gap in one problem
    ctl = Control(tol=1e-10)
    shared = irls(y, w, SharedDesign(x), control=ctl, mu0=y + 0.1)
    own = irls(
        y, w, OwnDesign(np.broadcast_to(x, (y.shape[0], *x.shape)).copy()), control=ctl, mu0=y + 0.1
    )
    np.testing.assert_allclose(shared.coef, own.coef, rtol=1e-10)
    np.testing.assert_array_equal(shared.iterations, own.iterations)


def test_grouped_gram_strategy_gives_the_fits_of_one_design_per_problem():
    # Farrington's compiled kernel (per-level sums, arrow solves) against OwnDesign.
    rng = np.random.default_rng(9)
    G, U, N = 3, 50, 30
    X = np.zeros((G, N, 5))
    X[:, :, 0] = 1.0
    X[:, :, 1] = np.arange(N) / N
    lev = rng.integers(0, 4, size=(G, N))
    for k in range(1, 4):
        X[:, :, 1 + k] = lev == k
    y = rng.poisson(3.0, size=(G, U, N)).astype(np.float64)
    w = np.ones((G, U, N))
    grouped = fit_poisson_grouped(group_design(X), y, w)
    rows = np.repeat(X, U, axis=0)
    own = irls(
        y.reshape(G * U, N), w.reshape(G * U, N), OwnDesign(rows), mu0=y.reshape(G * U, N) + 0.1
    )
    np.testing.assert_allclose(grouped.coef, own.coef, rtol=1e-9, atol=1e-12)
    np.testing.assert_array_equal(grouped.converged, own.converged)


def test_a_problem_gets_the_same_answer_alone_and_a_failing_one_stops_alone():
    x, y = _panel(6, units=4)
    w = np.ones_like(y)
    y[1, 3] = np.nan  # used with weight 1: the problem's iterate is not finite
    both = irls(y, w, SharedDesign(x), mu0=np.where(np.isnan(y), 1.0, y + 0.1))
    assert both.failed.tolist() == [False, True, False, False]
    for u in (0, 2, 3):
        alone = irls(y[[u]], w[[u]], SharedDesign(x), mu0=y[[u]] + 0.1)
        np.testing.assert_allclose(alone.coef[0], both.coef[u], rtol=1e-12)
        assert alone.iterations[0] == both.iterations[u]


def test_ridge_pins_a_column_at_zero():
    x, y = _panel(7, units=3)
    x = np.column_stack([x, np.zeros(x.shape[0])])  # a column no observation uses
    ridge = np.zeros((y.shape[0], x.shape[1]))
    ridge[:, -1] = 1.0
    fit = irls(y, np.ones_like(y), SharedDesign(x, ridge), mu0=y + 0.1)
    assert fit.converged.all()
    assert np.all(fit.coef[:, -1] == 0.0)


def test_max_iter_zero_returns_the_start():
    x, y = _panel(8, units=2)
    fit = irls(y, np.ones_like(y), SharedDesign(x), control=Control(max_iter=0), mu0=y + 0.1)
    np.testing.assert_array_equal(fit.mu, y + 0.1)
    np.testing.assert_array_equal(fit.ww_last, y + 0.1)
    assert not fit.converged.any() and np.all(fit.coef == 0.0)
