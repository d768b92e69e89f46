"""The speed shortcuts of the Farrington and GLR-NB fits give the answers of the plain code.

* counts looked up by value (``by_value``) give the bits of the function applied to them;
* exp(X beta) once per distinct design row (designs of an intercept and a factor) gives the
  bits of exp(X @ beta) per observation;
* the running window sums of the GLR monitoring give the statistic of ``_window_stat``.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from ruralwatch.epi.detect._farrington_glm import (
    by_value,
    count_index,
    fit_poisson_grouped,
    group_design,
)
from ruralwatch.epi.detect.glr import _RunningWindows, _valid_windows, _window_stat


def _counts(rng: np.random.Generator, shape: tuple[int, ...], mean: float) -> np.ndarray:
    size = 3.0
    return rng.negative_binomial(size, size / (size + mean), size=shape).astype(np.float64)


@pytest.mark.parametrize(
    "fn",
    [np.log, lambda v: np.log(v + 0.1), lambda v: np.cbrt(v * v)],
    ids=["log", "log_plus", "cbrt_sq"],
)
def test_by_value_gives_the_same_bits(fn):
    y = _counts(np.random.default_rng(1), (40, 300), 6.0)
    idx = count_index(y)
    assert idx is not None
    with np.errstate(divide="ignore"):
        direct = fn(y)
    assert np.array_equal(by_value(fn, y, idx), direct)


def test_count_index_refuses_what_is_not_a_small_whole_count():
    y = _counts(np.random.default_rng(2), (20, 100), 5.0)
    assert count_index(y) is not None
    assert count_index(y + 0.5) is None  # not whole numbers
    assert count_index(np.where(y > 3, -1.0, y)) is None  # negative
    assert count_index(y[:1, :3]) is None  # too few values for a table


def _factor_design(G: int, N: int, levels: int) -> tuple[np.ndarray, np.ndarray]:
    """Intercept and level indicators (level 0 the reference), each group shifted."""
    X = np.zeros((G, N, levels))
    X[:, :, 0] = 1.0
    rows = np.ones((G, N), dtype=bool)
    for g in range(G):
        lev = ((np.arange(N) + 3 * g) // 7) % levels
        for k in range(1, levels):
            X[g, :, k] = lev == k
        rows[g, : g + 2] = False  # some rows outside the design
    return X, rows


@pytest.mark.parametrize("reweighted", [False, True])
def test_distinct_rows_give_the_bits_of_the_full_product(reweighted):
    rng = np.random.default_rng(3)
    G, U, N = 4, 30, 90
    X, rows = _factor_design(G, N, 6)
    design = group_design(X, rows)
    assert design.patterns is not None
    plain = dataclasses.replace(design, patterns=None)
    y = _counts(rng, (G, U, N), 8.0)
    y[:, :3, :] = 0.0  # all-zero baselines (their fits fail or run to 0)
    w = rng.uniform(0.2, 1.0, (G, U, N)) if reweighted else np.ones((G, U, N))
    w[:, 5, ::3] = 0.0
    a = fit_poisson_grouped(design, y, w)
    b = fit_poisson_grouped(plain, y, w)
    for field in dataclasses.fields(a):
        assert np.array_equal(getattr(a, field.name), getattr(b, field.name), equal_nan=True), (
            field.name
        )


def test_designs_with_a_time_column_keep_the_full_product():
    X, rows = _factor_design(2, 50, 4)
    X[:, :, 1] = np.arange(1.0, 51.0)  # a trend column: rows are no longer sums of 0/1 terms
    assert group_design(X, rows).patterns is None


@pytest.mark.parametrize("inc", [True, False])
def test_running_windows_give_the_window_statistic(inc):
    rng = np.random.default_rng(4)
    n, U = 30, 25
    mu = rng.uniform(2.0, 12.0, (n, U))
    x = _counts(rng, (n, U), 1.0) + np.floor(mu * (1.5 if inc else 0.5))
    mu[rng.random((n, U)) < 0.05] = 0.0  # missing rows
    alpha = rng.uniform(0.05, 0.5, U)
    alpha[:3] = 0.0  # Poisson units
    running = _RunningWindows(x, mu, alpha)
    seg = np.zeros(U, dtype=np.int64)
    seg[::4] = 7  # restarted units
    checked = 0
    for i in range(n):
        running.add(i)
        valid = _valid_windows(i + 1, seg, -1, 1)
        ours = running.stat(i, valid, inc).max(axis=0)
        plain = _window_stat(x[: i + 1], mu[: i + 1], alpha, valid, None, inc).max(axis=0)
        fin = np.isfinite(plain)
        assert np.array_equal(fin, np.isfinite(ours))
        np.testing.assert_allclose(ours[fin], plain[fin], rtol=1e-10, atol=1e-12)
        checked += int(np.sum(plain[fin] > 0.1))
    assert checked > 50  # the statistics compared are not all zero
