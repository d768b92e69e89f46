"""Random count series of the kinds that break surveillance methods in practice.

Every series is a dict with ``observed`` (float array, ``nan`` for a missing report),
``population`` (float array or ``None``) and ``kind`` (one of :data:`KINDS`). The level, shape and
noise are drawn from the generator passed in, so one seed gives the same series every time.
"""

from __future__ import annotations

from typing import Any

import numpy as np

# Kinds of series; "short" is decided by the caller (the length it asks for), the others here.
KINDS: tuple[str, ...] = (
    "ordinary",
    "sparse",
    "sparse_quiet_end",
    "all_zero",
    "all_equal",
    "huge",
    "trend",
    "seasonal",
    "outbreak",
    "na_gaps",
    "population",
)


def _counts(rng: np.random.Generator, mu: np.ndarray, overdispersion: float) -> np.ndarray:
    """Poisson (overdispersion 0) or negative binomial counts with variance mu + od * mu^2."""
    mu = np.maximum(mu, 1e-9)
    if overdispersion <= 0:
        return rng.poisson(mu).astype(np.float64)
    size = 1.0 / overdispersion
    return rng.negative_binomial(size, size / (size + mu)).astype(np.float64)


def make_series(rng: np.random.Generator, kind: str, n: int, freq: int) -> dict[str, Any]:
    """One series of ``n`` points of ``kind`` with seasonal period ``freq``."""
    t = np.arange(n, dtype=np.float64)
    level = float(np.exp(rng.uniform(np.log(1.5), np.log(60.0))))
    od = float(rng.choice([0.0, 0.0, 0.1, 0.3]))
    pop: np.ndarray | None = None
    if kind == "ordinary":
        y = _counts(rng, np.full(n, level), od)
    elif kind == "sparse":
        y = (rng.random(n) < rng.uniform(0.01, 0.12)).astype(np.float64)
        y *= rng.integers(1, 3, n)
    elif kind == "sparse_quiet_end":
        # A quiet village: a handful of cases, then a long run of zeros up to the end.
        y = np.zeros(n)
        quiet = int(rng.integers(min(n // 4, 60), max(n // 3, 61)))
        k = max(n - quiet, 1)
        hits = rng.choice(k, size=min(int(rng.integers(3, 15)), k), replace=False)
        y[hits] = rng.integers(1, 3, hits.size)
    elif kind == "all_zero":
        y = np.zeros(n)
    elif kind == "all_equal":
        y = np.full(n, float(rng.choice([1, 2, 5, 10, 50])))
    elif kind == "huge":
        y = _counts(rng, np.full(n, level * float(rng.choice([1e4, 1e5, 1e6]))), 0.02)
    elif kind == "trend":
        slope = rng.choice([-1.0, 1.0]) * rng.uniform(0.2, 2.0) / n
        y = _counts(rng, level * np.exp(slope * (t - n)), od)
    elif kind == "seasonal":
        amp = rng.uniform(0.3, 1.2)
        phase = rng.uniform(0, 2 * np.pi)
        y = _counts(rng, level * np.exp(amp * np.cos(2 * np.pi * t / freq + phase)), od)
    elif kind == "outbreak":
        y = _counts(rng, np.full(n, level), od)
        for _ in range(int(rng.integers(1, 4))):
            start = int(rng.integers(0, n))
            length = int(rng.integers(1, 5))
            y[start : start + length] += rng.poisson(level * rng.uniform(2, 8), 1)[0]
    elif kind == "na_gaps":
        y = _counts(rng, np.full(n, level), od)
        n_gaps = int(rng.integers(1, 4))
        for _ in range(n_gaps):
            start = int(rng.integers(0, n))
            y[start : start + int(rng.integers(1, 4))] = np.nan
    elif kind == "population":
        # Counts proportional to a growing (or shrinking) population.
        growth = rng.uniform(-0.5, 1.0)
        pop = np.round(rng.uniform(2e4, 5e5) * np.exp(growth * t / n))
        rate = level / float(pop.mean())
        y = _counts(rng, rate * pop, od)
    else:
        raise ValueError(f"unknown series kind {kind!r}")
    if pop is None and rng.random() < 0.3:
        pop = np.round(rng.uniform(1e3, 1e5) * (1 + 0.2 * rng.standard_normal()) * np.ones(n))
        pop = np.maximum(pop, 100.0)
    return {"observed": y.astype(np.float64), "population": pop, "kind": kind}


def epidemic_curve(rng: np.random.Generator, kind: str, n: int) -> dict[str, Any]:
    """Daily incidence for R_t: an epidemic wave, sparse, all-zero, constant, huge or with gaps.

    Returns ``observed`` (local cases, the first day's cases count as imported when there is no
    ``imported``), ``imported`` (array or ``None``) and ``kind``.
    """
    t = np.arange(n, dtype=np.float64)
    imported: np.ndarray | None = None
    if kind in ("ordinary", "trend", "seasonal", "outbreak", "na_gaps", "population"):
        r0 = rng.uniform(1.05, 2.5)
        peak = rng.uniform(0.3, 1.0) * n
        growth = np.log(r0) / 4.0
        curve = rng.uniform(1, 20) * np.exp(
            growth * np.minimum(t, peak) - growth * 1.2 * np.maximum(t - peak, 0)
        )
        y = rng.poisson(curve).astype(np.float64)
        if kind == "outbreak":
            y[int(rng.integers(0, n))] += rng.integers(20, 200)
        if kind == "na_gaps":
            y[int(rng.integers(1, n))] = np.nan
    elif kind in ("sparse", "sparse_quiet_end"):
        y = (rng.random(n) < 0.15).astype(np.float64)
    elif kind == "all_zero":
        y = np.zeros(n)
    elif kind == "all_equal":
        y = np.full(n, float(rng.choice([1, 3, 10])))
    elif kind == "huge":
        y = rng.poisson(rng.uniform(1e4, 1e6) * np.exp(0.02 * t)).astype(np.float64)
    else:
        raise ValueError(f"unknown series kind {kind!r}")
    if y.size and np.isnan(y[0]):
        y[0] = 1.0
    if y.size and y[0] == 0 and kind not in ("all_zero",) and rng.random() < 0.8:
        y[0] = float(rng.integers(1, 5))
    if rng.random() < 0.25:
        imported = rng.poisson(rng.uniform(0.1, 2.0), n).astype(np.float64)
        imported[0] = max(imported[0], 1.0)
    return {"observed": y, "imported": imported, "kind": kind}
