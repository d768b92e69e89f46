"""The compiled Farrington kernel (``_farrington_kernel``): its pieces on small examples worked
out by hand or with plain ``math`` / numpy linear algebra, and the whole kernel against the
general IRLS (one design per problem, LU solves: ``fit_poisson``) on the designs it serves,
including the problems that must fail or be handed over, alone."""

from __future__ import annotations

import dataclasses
import decimal
import math
import sys
import types

import numpy as np
import pytest

from ruralwatch.epi.detect import _farrington_kernel as fk
from ruralwatch.epi.detect import farrington as farr
from ruralwatch.epi.detect._farrington_glm import fit_poisson_grouped, group_design
from ruralwatch.epi.panel import Panel

fk.kernel()  # compile (or load) once: the pieces below are then the compiled ones


# --------------------------------------------------------------------------------------------
# exp
# --------------------------------------------------------------------------------------------


def test_exp_is_within_an_ulp_of_the_library_exp() -> None:
    rng = np.random.default_rng(1)
    x = np.concatenate(
        [
            rng.uniform(-745.0, 709.7, 20_000),
            rng.normal(0.0, 3.0, 20_000),
            [0.0, -0.0, 1.0, -1.0, math.log(2.0), 709.78, -708.39, -744.0],
        ]
    )
    out = np.empty_like(x)
    fk.exp_into(x, out, x.size, np.empty(2 * x.size, dtype=np.int64))
    want = np.array([math.exp(v) for v in x])
    normal = want >= 2.2250738585072014e-308
    ulp = np.abs(out[normal] - want[normal]) / np.spacing(want[normal])
    assert ulp.max() <= 1.0
    # subnormal results: within an ulp of the subnormal grid
    assert np.all(np.abs(out[~normal] - want[~normal]) <= 5e-324 * 2)
    assert out[x.size - 8] == 1.0 and out[x.size - 6] == math.e


def test_exp_special_values() -> None:
    x = np.array([np.nan, np.inf, -np.inf, 710.0, 1e300, -746.0, -1e300, 0.5])
    out = np.full_like(x, -1.0)
    fk.exp_into(x, out, 7, np.empty(2 * x.size, dtype=np.int64))
    assert np.isnan(out[0])
    assert out[1] == np.inf and out[3] == np.inf and out[4] == np.inf
    assert out[2] == 0.0 and out[5] == 0.0 and out[6] == 0.0
    assert out[7] == -1.0  # n = 7: the eighth value is not touched


def _true_cbrt(x: float) -> float:
    """The cube root of x to 60 digits, rounded once to a double (the reference: numpy's own
    ``cbrt`` is itself up to 2 ulps off on some machines, e.g. numpy 2.4 on an AVX2 AMD EPYC,
    where it failed this test against a kernel that was within an ulp)."""
    with decimal.localcontext() as ctx:
        ctx.prec = 60
        return float(decimal.Decimal(x) ** (decimal.Decimal(1) / decimal.Decimal(3)))


def test_cube_root_is_within_an_ulp() -> None:
    rng = np.random.default_rng(2)
    x = np.concatenate([rng.uniform(0.0, 1e12, 5_000), np.arange(2000.0) ** 2, [1e-290, 1e290]])
    got = np.array([fk.cbrt(v) for v in x])
    want = np.array([_true_cbrt(v) for v in x])
    assert np.all(np.abs(got - want) <= np.spacing(want))
    # subnormal: the power alone, a few ulps
    assert fk.cbrt(5e-324) == pytest.approx(np.cbrt(5e-324), rel=1e-14)
    assert fk.cbrt(0.0) == 0.0 and fk.cbrt(27.0) == 3.0 and fk.cbrt(64.0) == 4.0
    assert math.isnan(fk.cbrt(math.nan)) and fk.cbrt(math.inf) == math.inf


def test_a_point_of_leverage_one_keeps_its_weight() -> None:
    """A point with a parameter of its own (leverage 1 after rounding) is fitted exactly: its
    standardised residual is 0 / 0, so it is not down-weighted (its sign of rounding noise no
    longer decides between weight 1 and weight 0)."""
    ws = np.array([1.0, 1.0, 1.0])
    ys = np.array([5.0, 9.0, 6.0])
    mu = np.array([5.0, 3.0, 6.0])  # at y = mu = 6 the computed residual's numerator is > 0
    for h3 in (1.0, 1.0 + 2.0**-52):
        hat = np.array([0.2, 0.3, h3])
        out = np.empty(3)
        fk.anscombe_weights(ws, ys, mu, hat, 1.0, 1.0, 3, out)
        s2 = 1.5 * (9.0 ** (2 / 3) * 3.0 ** (-1 / 6) - 3.0**0.5) / math.sqrt(0.7)
        raw = [1.0, 1.0 / s2**2, 1.0]
        np.testing.assert_allclose(out, [3.0 * r / sum(raw) for r in raw], rtol=1e-13)


# --------------------------------------------------------------------------------------------
# The arrow system: sums per level, solve, inverse
# --------------------------------------------------------------------------------------------


def _by_hand_system() -> tuple[np.ndarray, ...]:
    """Columns: intercept (0), time (1), indicators of levels 2 and 3; six observations."""
    t = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    lev = np.array([0, 0, 2, 2, 3, 3])
    ww = np.array([2.0, 1.0, 3.0, 0.5, 1.5, 2.5])
    wz = np.array([1.0, -2.0, 0.5, 4.0, -1.0, 3.0])
    X = np.zeros((6, 4))
    X[:, 0] = 1.0
    X[:, 1] = t
    X[lev == 2, 2] = 1.0
    X[lev == 3, 3] = 1.0
    return t, lev, ww, wz, X


def test_level_sums_add_each_level() -> None:
    terms = np.array([[1.0, 2.0, 3.0, 4.0, 5.0], [0.5, 0.5, 1.0, 1.0, 2.0], [1.0, 1.0, 1.0, 1, 1]])
    seg = np.array([0, 2, 2, 5], dtype=np.int64)  # level 0: rows 0-1, column 1: none, 2: 2-4
    S = np.full((3, 3), np.nan)
    fk.level_sums(terms, seg, S)
    np.testing.assert_array_equal(S, [[3.0, 0.0, 12.0], [1.0, 0.0, 4.0], [2.0, 0.0, 3.0]])


def test_obs_terms_by_hand() -> None:
    ws = np.array([1.0, 2.0, 0.0])
    ys = np.array([3.0, 1.0, 7.0])
    ts = np.array([1.0, 2.0, 3.0])
    os = np.array([0.0, 0.5, 0.0])
    eta = np.array([1.0, 0.0, 2.0])
    mu = np.exp(eta)
    terms = np.zeros((3, 3))
    tot = np.zeros(3)
    ly = np.log(np.where(ys > 0, ys, 1.0))
    assert fk.obs_terms(ws, ys, ly, ts, os, eta, mu, 3, terms, tot)
    ww = ws * mu
    wz = ww * (eta - os) + ws * (ys - mu)
    np.testing.assert_allclose(terms, [ww, ww * ts, wz], rtol=1e-15)
    np.testing.assert_allclose(
        tot,
        [np.sum(ww * ts * ts), np.sum(wz * ts), np.sum(ws * (ys * np.log(ys / mu) - (ys - mu)))],
        rtol=1e-13,
    )
    mu[1] = 0.0  # a used observation with a mean of 0 is not usable
    assert not fk.obs_terms(ws, ys, ly, ts, os, eta, mu, 3, terms, tot)
    mu[1], mu[2] = 1.0, np.inf  # ... an unused one does not matter to the flag
    assert fk.obs_terms(ws, ys, ly, ts, os, eta, mu, 2, terms, tot)


def _solve(X: np.ndarray, ww: np.ndarray, wz: np.ndarray, lev, t, fix, tcol: int):
    K = X.shape[1]
    S = np.zeros((3, K))
    for c in range(K):
        sel = lev == c
        S[:, c] = [ww[sel].sum(), (ww * t)[sel].sum(), wz[sel].sum()]
    parts = np.zeros((4, K))
    x = np.zeros(K)
    status = fk.solve_arrow(
        S, float(np.sum(ww * t * t)), float(np.sum(wz * t)), fix, tcol, *parts[:3], x, parts[3]
    )
    return status, x, parts


def test_solve_arrow_solves_the_normal_equations() -> None:
    t, lev, ww, wz, X = _by_hand_system()
    status, x, parts = _solve(X, ww, wz, lev, t, np.zeros(4), 1)
    assert status == 0
    A = X.T @ (ww[:, None] * X)
    np.testing.assert_allclose(x, np.linalg.solve(A, X.T @ wz), rtol=1e-12)
    cov = np.zeros((4, 4))
    fk._inverse(parts[3], parts[0], parts[1], parts[2], 1, np.zeros(4), cov)
    np.testing.assert_allclose(cov, np.linalg.inv(A), rtol=1e-12)


def test_solve_arrow_without_time_and_with_an_aliased_column() -> None:
    _, lev, ww, wz, X = _by_hand_system()
    X = X[:, [0, 2, 3]]
    lev = np.array([0, 0, 1, 1, 0, 0])  # level 3 left out: column 2 is aliased
    X[:, 2] = 0.0
    X[:, 1] = lev == 1
    fix = np.array([0.0, 0.0, 1.0])
    status, x, parts = _solve(X, ww, wz, lev, np.zeros(6), fix, -1)
    assert status == 0 and x[2] == 0.0
    A = X[:, :2].T @ (ww[:, None] * X[:, :2])
    np.testing.assert_allclose(x[:2], np.linalg.solve(A, X[:, :2].T @ wz), rtol=1e-12)
    cov = np.zeros((3, 3))
    fk._inverse(parts[3], parts[0], parts[1], parts[2], -1, fix, cov)
    np.testing.assert_allclose(cov[:2, :2], np.linalg.inv(A), rtol=1e-12)
    assert not cov[2].any() and not cov[:, 2].any()


def test_solve_arrow_reports_singular_and_non_finite_systems() -> None:
    t, lev, ww, wz, X = _by_hand_system()
    # every observation in an indicator level: the intercept is aliased with them -> singular
    status, _, _ = _solve(X, ww, wz, np.where(lev == 0, 2, lev), t, np.zeros(4), 1)
    assert status == 2
    ww[0] = np.inf
    status, x, _ = _solve(X, ww, wz, lev, t, np.zeros(4), 1)
    assert status == 1 and np.isnan(x).all()


# --------------------------------------------------------------------------------------------
# The kernel against the general IRLS
# --------------------------------------------------------------------------------------------


def _counts(rng: np.random.Generator, shape: tuple[int, ...], mean: float) -> np.ndarray:
    size = 3.0
    return rng.negative_binomial(size, size / (size + mean), size=shape).astype(np.float64)


def _design(G: int, N: int, levels: int, trend: bool) -> tuple[np.ndarray, np.ndarray]:
    """Intercept, optional time, level indicators (level 0 the reference); each group shifted
    and with a few rows outside the design."""
    K = levels + (1 if trend else 0)
    X = np.zeros((G, N, K))
    X[:, :, 0] = 1.0
    first = 2 if trend else 1
    if trend:
        X[:, :, 1] = np.arange(1.0, N + 1.0)
    rows = np.ones((G, N), dtype=bool)
    for g in range(G):
        lev = ((np.arange(N) + 3 * g) // 7) % levels
        for k in range(1, levels):
            X[g, :, first + k - 1] = lev == k
        rows[g, : g + 2] = False
    return X, rows


def _hard_batch(rng: np.random.Generator, G: int, U: int, N: int, X: np.ndarray):
    y = _counts(rng, (G, U, N), 8.0)
    y[:, :3, :] = 0.0  # all-zero baselines (their fits run towards 0)
    y[:, 3, :45] = 0.0  # an all-zero stretch
    y[:, 4, :] = 1e6 + y[:, 4, :]  # huge counts
    y[:, 8, :] += 0.5  # counts that are not whole numbers
    w = np.ones((G, U, N))
    w[:, 5, ::3] = 0.0  # missing reports
    w[:, 6, :] = 0.0  # a problem without data
    ind = X[:, :, -1] == 1.0
    w[:, 7] = np.where(ind, 0.0, 1.0)  # a level left out: its column is aliased
    w[:, 9] = np.where(X[:, :, -2] + X[:, :, -1] == 0.0, 0.0, 1.0)  # no reference level
    return y, w


@pytest.mark.parametrize("trend", [False, True])
@pytest.mark.parametrize("reweight", [None, 2.58])
@pytest.mark.parametrize("offset", [False, True])
def test_kernel_gives_the_fits_of_the_general_irls(trend, reweight, offset) -> None:
    """The same iterations (so the same convergence and failure flags and degrees of freedom)
    and the same numbers up to rounding, for the designs and problems Farrington meets."""
    rng = np.random.default_rng(6 + trend + 2 * offset)
    G, U, N = 3, 12, 90
    X, rows = _design(G, N, 6, trend)
    design = group_design(X, rows)
    assert design.factor is not None
    general = dataclasses.replace(design, factor=None)
    y, w = _hard_batch(rng, G, U, N, X)
    off = np.log(rng.uniform(50.0, 150.0, (G, U, N))) if offset else None
    kw = {"reweight": reweight, "leverages": reweight is None}
    a = fit_poisson_grouped(design, y, w, off, **kw)
    b = fit_poisson_grouped(general, y, w, off, **kw)
    assert np.array_equal(a.converged, b.converged)
    assert np.array_equal(a.failed, b.failed)
    assert np.array_equal(a.df_residual, b.df_residual)
    ok = ~b.failed
    assert ok.sum() > G * (U - 4)
    for name in ("coef", "cov_unscaled"):
        np.testing.assert_allclose(
            getattr(a, name)[ok], getattr(b, name)[ok], rtol=1e-9, atol=1e-12, err_msg=name
        )
    # the means and leverages of the used observations (elsewhere a mean is whatever the
    # linear predictor gives)
    used = (w > 0).reshape(G * U, N) & np.repeat(rows, U, axis=0) & ok[:, None]
    for name in ("mu", "hat"):
        np.testing.assert_allclose(
            getattr(a, name)[used], getattr(b, name)[used], rtol=1e-9, atol=1e-12, err_msg=name
        )
    for name in ("dispersion", "dispersion_working", "dispersion_prior_working"):
        np.testing.assert_allclose(
            getattr(a, name)[ok], getattr(b, name)[ok], rtol=1e-9, err_msg=name
        )
    assert np.isnan(a.coef[b.failed]).all()


def test_other_designs_take_the_general_path() -> None:
    X, rows = _design(2, 40, 3, True)
    X[:, :, 2] = np.cos(np.arange(40.0))  # a second general column
    assert group_design(X, rows).factor is None
    X, rows = _design(2, 40, 3, False)
    X[:, :5, 2] = 1.0
    X[:, :5, 1] = 1.0  # overlapping indicators: not one factor
    assert group_design(X, rows).factor is None


def test_a_failing_problem_fails_alone_in_the_kernel() -> None:
    """A trend over a single case and then zeros runs off towards -inf (R stops it at maxit
    unconverged); an infinite weight gives no fit at all. The other problems of the batch get
    exactly what they get alone."""
    rng = np.random.default_rng(5)
    n = 30
    X, _ = _design(1, n, 1, True)
    y = rng.poisson(6.0, size=(1, 5, n)).astype(float)
    y[0, 2] = 0.0
    y[0, 2, 0] = 1.0
    w = np.ones((1, 5, n))
    w[0, 4, 3] = np.inf
    both = fit_poisson_grouped(X, y, w)
    assert both.converged.tolist() == [True, True, False, True, False]
    assert both.failed.tolist() == [False, False, False, False, True]
    alone = fit_poisson_grouped(X, y[:, [0, 1, 3]], w[:, [0, 1, 3]])
    np.testing.assert_array_equal(both.coef[[0, 1, 3]], alone.coef)


def test_a_result_is_not_changed_by_a_later_run() -> None:
    def weekly(units: int, seed: int) -> Panel:
        rng = np.random.default_rng(seed)
        t = np.arange(315)[:, None]
        mean = 4.0 + 3.0 * np.sin(2 * np.pi * t / 52.0) + rng.uniform(0, 6, size=(1, units))
        counts = rng.poisson(mean).astype(np.float64)
        return Panel(counts=counts, units=tuple(f"u{j}" for j in range(units)), freq=52)

    kw = {
        "no_periods": 10,
        "past_weeks_not_included": 26,
        "power_trans": "none",
        "threshold_method": "nbPlugin",
        "monitor": slice(-8, None),
    }
    a = farr.farrington_flexible(weekly(30, 1), **kw)
    kept = {"upperbound": a.upperbound.copy(), **{k: v.copy() for k, v in a.extra.items()}}
    farr.farrington_flexible(weekly(30, 2), **kw)
    assert np.array_equal(a.upperbound, kept["upperbound"], equal_nan=True)
    for k, v in a.extra.items():
        assert np.array_equal(v, kept[k], equal_nan=True), k
    assert np.isfinite(a.upperbound).sum() > 100


# --------------------------------------------------------------------------------------------
# Compilation
# --------------------------------------------------------------------------------------------


def test_without_a_writable_cache_the_kernel_is_compiled_in_memory(monkeypatch) -> None:
    calls: list[bool] = []

    def njit(cache: bool = False, **_: object):
        calls.append(cache)
        if cache:
            raise RuntimeError("cannot cache function: no locator available")
        return lambda fn: fn

    fake = types.SimpleNamespace(njit=njit)
    assert fk._jit(math.exp, fake) is math.exp
    assert calls == [True, False]
    assert "numba" in sys.modules
