"""The scratch arrays the Farrington fits keep from one block to the next (``_buffer``).

They are reused memory, never results: what was left in them cannot change a fit, a result
does not change when a later fit reuses them, and each thread has its own.
"""

from __future__ import annotations

import threading

import numpy as np

from ruralwatch.epi.detect import _farrington_glm
from ruralwatch.epi.detect import farrington as farr
from ruralwatch.epi.detect._farrington_glm import (
    _buffer,
    fit_poisson_grouped,
    group_design,
    release_buffers,
)
from ruralwatch.epi.panel import Panel


def _weekly(units: int, seed: int, weeks: int = 315) -> Panel:
    rng = np.random.default_rng(seed)
    t = np.arange(weeks)[:, None]
    mean = 4.0 + 3.0 * np.sin(2 * np.pi * t / 52.0) + rng.uniform(0, 6, size=(1, units))
    counts = rng.poisson(mean).astype(np.float64)
    counts[rng.random(counts.shape) < 0.01] *= 4.0  # a few outbreaks to down-weight
    return Panel(counts=counts, units=tuple(f"u{j}" for j in range(units)), freq=52)


_NOUFAILY = {
    "no_periods": 10,
    "past_weeks_not_included": 26,
    "weights_threshold": 2.58,
    "power_trans": "none",
    "threshold_method": "nbPlugin",
}


def test_buffer_is_reused_grown_and_named():
    release_buffers()
    a = _buffer("x", (3, 4))
    a[:] = 7.0
    b = _buffer("x", (2, 5))  # smaller: the same memory
    assert b.shape == (2, 5) and np.shares_memory(a, b) and np.all(b == 7.0)
    c = _buffer("x", (5, 5))  # larger: new memory
    assert c.shape == (5, 5) and not np.shares_memory(a, c)
    assert not np.shares_memory(_buffer("y", (5, 5)), c)
    release_buffers()
    assert not np.shares_memory(_buffer("x", (5, 5)), c)
    release_buffers()


def test_each_thread_has_its_own_buffer():
    release_buffers()
    mine = _buffer("x", (100,))
    theirs: list[np.ndarray] = []
    th = threading.Thread(target=lambda: theirs.append(_buffer("x", (100,))))
    th.start()
    th.join()
    assert not np.shares_memory(mine, theirs[0])
    release_buffers()


def _poison() -> None:
    """Fill every kept scratch array of this thread with NaN."""
    for buf in getattr(_farrington_glm._SCRATCH, "bufs", {}).values():
        buf[:] = np.nan


def test_leftovers_in_the_scratch_do_not_change_a_fit():
    rng = np.random.default_rng(3)
    G, U, N = 4, 6, 60
    t = np.arange(N, dtype=np.float64)
    level = (np.arange(N) % 3 == 1) * 1.0
    X = np.stack([np.ones(N), t, level], axis=1)  # intercept, time, one factor level
    X = np.repeat(X[None], G, axis=0)
    design = group_design(X)
    y = rng.poisson(5.0, size=(G, U, N)).astype(np.float64)
    w = np.ones((G, U, N))
    release_buffers()
    fresh = fit_poisson_grouped(design, y, w)
    assert set(_farrington_glm._SCRATCH.bufs) >= {"mu", "eta"}
    _poison()
    again = fit_poisson_grouped(design, y, w)
    for f in ("coef", "cov_unscaled", "mu", "hat", "dispersion_working"):
        assert np.array_equal(getattr(fresh, f), getattr(again, f), equal_nan=True), f
    assert np.all(np.isfinite(fresh.coef))
    release_buffers()


def test_a_result_is_not_changed_by_a_later_run():
    first = _weekly(30, 1)
    kw = {**_NOUFAILY, "monitor": slice(-8, None)}
    a = farr.farrington_flexible(first, **kw)
    kept = {"upperbound": a.upperbound.copy(), "expected": a.expected.copy()}
    kept.update({k: v.copy() for k, v in a.extra.items()})
    farr.farrington_flexible(_weekly(30, 2), **kw)
    assert np.array_equal(a.upperbound, kept["upperbound"], equal_nan=True)
    assert np.array_equal(a.expected, kept["expected"], equal_nan=True)
    for k, v in a.extra.items():
        assert np.array_equal(v, kept[k], equal_nan=True), k
    assert np.isfinite(a.upperbound).sum() > 100


def test_the_run_releases_its_scratch():
    farr.farrington_flexible(_weekly(10, 4), **{**_NOUFAILY, "monitor": slice(-4, None)})
    assert getattr(_farrington_glm._SCRATCH, "bufs", {}) == {}
