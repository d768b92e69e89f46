"""The speed shortcuts of the Farrington and GLR-NB fits give the answers of the plain code.

* counts looked up by value (``by_value``) give the bits of the function applied to them;
* exp(X beta) once per distinct design row (designs of an intercept and a factor) gives the
  bits of exp(X @ beta) per observation;
* the running window sums of the GLR monitoring give the statistic of ``_window_stat``;
* Farrington's blocks run on several threads give the bits of one thread.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from ruralwatch.epi.detect import _farrington_glm
from ruralwatch.epi.detect._farrington_glm import (
    by_value,
    count_index,
    fit_poisson_grouped,
    group_design,
)
from ruralwatch.epi.detect.glr import _RunningWindows, _valid_windows, _window_stat
from ruralwatch.epi.linalg import each_block, worker_threads
from ruralwatch.epi.panel import Panel


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
def test_distinct_rows_give_the_bits_of_the_full_product(reweighted, monkeypatch):
    monkeypatch.setattr(_farrington_glm, "_saturated_levels", lambda design: None)
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


@pytest.mark.parametrize("reweighted", [False, True])
def test_level_sums_give_the_iterates_of_the_full_irls(reweighted):
    """An intercept + factor model is fitted on the sums of each level: the same iterations
    (so the same convergence and failure flags) and the same numbers up to rounding."""
    rng = np.random.default_rng(6)
    G, U, N = 4, 30, 90
    X, rows = _factor_design(G, N, 6)
    design = group_design(X, rows)
    assert _farrington_glm._saturated_levels(design) is not None
    plain = dataclasses.replace(design, patterns=None)
    y = _counts(rng, (G, U, N), 8.0)
    y[:, :3, :] = 0.0  # all-zero baselines (their fits run towards 0)
    y[:, 3, :45] = 0.0  # an all-zero level or two
    y[:, 4, :] = 1e6 + y[:, 4, :]  # huge counts
    w = rng.uniform(0.2, 1.0, (G, U, N)) if reweighted else np.ones((G, U, N))
    w[:, 5, ::3] = 0.0
    w[:, 6, :] = 0.0  # a problem without data
    lev = X[:, :, 1:].argmax(axis=2) + 1
    lev[X[:, :, 1:].sum(axis=2) == 0] = 0
    w[:, 7] = np.where(lev == 2, 0.0, w[:, 7])  # a level left out: its column is aliased
    a = fit_poisson_grouped(design, y, w)
    b = fit_poisson_grouped(plain, y, w)
    assert np.array_equal(a.converged, b.converged)
    assert np.array_equal(a.failed, b.failed)
    assert np.array_equal(a.df_residual, b.df_residual)
    ok = ~b.failed
    for name in ("coef", "cov_unscaled", "mu", "hat"):
        np.testing.assert_allclose(
            getattr(a, name)[ok], getattr(b, name)[ok], rtol=1e-9, atol=1e-12, err_msg=name
        )
    for name in ("dispersion", "dispersion_working", "dispersion_prior_working"):
        np.testing.assert_allclose(getattr(a, name), getattr(b, name), rtol=1e-9, err_msg=name)


def test_level_sums_are_not_used_without_the_reference_level():
    """A problem that uses indicator levels but not the reference level has an aliased
    intercept: that batch is fitted by the full IRLS (the same bits as without patterns)."""
    rng = np.random.default_rng(7)
    G, U, N = 2, 10, 60
    X, rows = _factor_design(G, N, 4)
    design = group_design(X, rows)
    y = _counts(rng, (G, U, N), 5.0)
    w = np.ones((G, U, N))
    w[:, 2] = np.where(X[:, :, 1:].sum(axis=2) == 0, 0.0, 1.0)  # no reference-level row
    a = fit_poisson_grouped(design, y, w)
    b = fit_poisson_grouped(dataclasses.replace(design, patterns=None), y, w)
    assert np.array_equal(a.coef, b.coef, equal_nan=True)


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


def _weekly_panel(n_units: int, seed: int) -> Panel:
    rng = np.random.default_rng(seed)
    t = np.arange(315)[:, None]
    mu = rng.uniform(2.0, 40.0, n_units) * np.exp(0.5 * np.sin(2 * np.pi * t / 52))
    counts = _counts(rng, (315, n_units), 1.0) + rng.poisson(mu)
    counts[rng.random(counts.shape) < 0.01] = np.nan  # missing reports
    return Panel(counts=counts, units=tuple(f"u{j}" for j in range(n_units)), freq=52)


def test_threaded_blocks_give_the_bits_of_one_thread(monkeypatch):
    """Farrington's blocks run on several threads give exactly the one-thread results."""
    from ruralwatch.epi.detect import farrington as farr

    monkeypatch.setattr(farr, "_BATCH_ELEMENTS", 20_000)  # many blocks
    monkeypatch.setattr(farr, "_UNITS_PER_BLOCK", 8)
    panel = _weekly_panel(40, 5)
    kw = {
        "b": 5,
        "w": 3,
        "no_periods": 10,
        "past_weeks_not_included": 26,
        "monitor": slice(-12, None),
    }
    out = {}
    for threads in ("1", "3"):
        monkeypatch.setenv("RURALWATCH_THREADS", threads)
        out[threads] = farr.farrington_flexible(panel, threshold_method="nbPlugin", **kw)
    a, b = out["1"], out["3"]
    for name in ("expected", "upperbound", "alarm", "score"):
        assert np.array_equal(getattr(a, name), getattr(b, name), equal_nan=True), name
    for name in a.extra:
        assert np.array_equal(a.extra[name], b.extra[name], equal_nan=True), name
    assert np.isfinite(a.upperbound).sum() > 300


def test_each_block_runs_every_block_once_and_reraises(monkeypatch):
    monkeypatch.setenv("RURALWATCH_THREADS", "2")
    seen: list[tuple[int, int, str]] = []
    each_block(range(3), range(4), lambda i: f"p{i}", lambda i, j, p: seen.append((i, j, p)))
    assert sorted(seen) == [(i, j, f"p{i}") for i in range(3) for j in range(4)]

    def boom(i: int, j: int, p: str) -> None:
        if (i, j) == (1, 2):
            raise ValueError("block 1, 2")

    with pytest.raises(ValueError, match="block 1, 2"):
        each_block(range(3), range(4), lambda i: i, boom)


@pytest.mark.parametrize("value", ["0", "two"])
def test_worker_threads_names_a_bad_setting(monkeypatch, value):
    monkeypatch.setenv("RURALWATCH_THREADS", value)
    with pytest.raises(ValueError, match="RURALWATCH_THREADS"):
        worker_threads()
