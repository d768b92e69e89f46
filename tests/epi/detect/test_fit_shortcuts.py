"""The speed shortcuts of the Farrington and GLR-NB fits give the answers of the plain code.

(The compiled Farrington kernel against the general IRLS: ``test_farrington_kernel.py``.)

* the running window sums of the GLR monitoring give the statistic of ``_window_stat``;
* Farrington's blocks run on several threads give the bits of one thread.
"""

from __future__ import annotations

import numpy as np
import pytest

from ruralwatch.epi.detect.glr import _RunningWindows, _valid_windows, _window_stat
from ruralwatch.epi.linalg import each_block, worker_threads
from ruralwatch.epi.panel import Panel


def _counts(rng: np.random.Generator, shape: tuple[int, ...], mean: float) -> np.ndarray:
    size = 3.0
    return rng.negative_binomial(size, size / (size + mean), size=shape).astype(np.float64)


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
