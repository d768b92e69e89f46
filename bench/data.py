"""Seeded synthetic panels for the detection and Rt benchmarks (generated here, written as CSV
for the R peers, so that both sides see exactly the same counts)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import polars as pl

from bench._util import ADMIN_2016

FloatArray = npt.NDArray[np.float64]

WEEKDAY = np.array([1.15, 1.05, 1.0, 1.0, 0.95, 0.8, 0.75])


def _outbreaks(
    rng: np.random.Generator, mu: FloatArray, last: int, share: float, length: int, factor: float
) -> None:
    """Multiply ``mu`` by ``factor`` for ``length`` rows in a random place of the last ``last``
    rows, in a random ``share`` of the series (in place)."""
    n_time, n_units = mu.shape
    hit = np.flatnonzero(rng.random(n_units) < share)
    starts = rng.integers(n_time - last, n_time - length + 1, size=hit.size)
    for j, s in zip(hit, starts, strict=True):
        mu[s : s + length, j] *= factor


def daily_panel(seed: int, n_units: int, n_days: int, *, level: float = 4.0) -> FloatArray:
    """Daily NB counts (size 5) with a weekday pattern, a yearly season and outbreaks in 5 % of
    the series during the last 30 days."""
    rng = np.random.default_rng([seed, 1])
    base = rng.lognormal(np.log(level), 0.8, size=n_units)
    phase = rng.uniform(0, 2 * np.pi, size=n_units)
    t = np.arange(n_days)[:, None]
    mu = base * (1 + 0.3 * np.sin(2 * np.pi * t / 365 + phase)) * WEEKDAY[t % 7]
    _outbreaks(rng, mu, min(30, n_days), 0.05, 5, 3.0)
    size = 5.0
    return rng.negative_binomial(size, size / (size + mu)).astype(np.float64)


def weekly_panel(seed: int, n_units: int, n_weeks: int, *, level: float = 8.0) -> FloatArray:
    """Weekly NB counts (size 4) with a yearly season, a small trend in some series and
    outbreaks in 5 % of the series during the last 52 weeks."""
    rng = np.random.default_rng([seed, 2])
    base = rng.lognormal(np.log(level), 1.0, size=n_units)
    amp = rng.uniform(0.2, 0.8, size=n_units)
    trend = np.where(rng.random(n_units) < 0.3, rng.normal(0, 0.002, n_units), 0.0)
    t = np.arange(n_weeks)[:, None]
    mu = base * np.exp(amp * np.sin(2 * np.pi * t / 52) + trend * t)
    _outbreaks(rng, mu, min(52, n_weeks), 0.05, 4, 3.0)
    size = 4.0
    return rng.negative_binomial(size, size / (size + mu)).astype(np.float64)


def renewal_panel(
    seed: int, n_units: int, n_days: int, si: FloatArray, *, seed_cases: float = 10.0
) -> FloatArray:
    """Daily incidence from the renewal equation I_t ~ Poisson(R_t * sum_s w_s I_{t-s}) with
    R_t oscillating around 1 (period 120–240 days), so that series neither die out nor explode."""
    rng = np.random.default_rng([seed, 3])
    period = rng.uniform(120, 240, size=n_units)
    phase = rng.uniform(0, 2 * np.pi, size=n_units)
    t = np.arange(n_days)[:, None]
    r_t = np.exp(0.3 * np.sin(2 * np.pi * t / period + phase))
    inc = np.zeros((n_days, n_units))
    inc[0] = rng.poisson(seed_cases, size=n_units)
    w = np.zeros(n_days)
    w[: min(si.size, n_days)] = si[:n_days]
    for day in range(1, n_days):
        lam = w[1 : day + 1] @ inc[day - 1 :: -1][:day]
        inc[day] = rng.poisson(np.maximum(r_t[day] * lam, 0.5))
    return inc


def area_codes(level: int, n: int | None = None) -> list[str]:
    """Real statistical codes of one level of the 2016 division tree (first ``n``)."""
    frame = pl.read_csv(
        ADMIN_2016, columns=["code", "level"], schema_overrides={"code": pl.String}
    ).filter(pl.col("level") == level)
    codes = frame["code"].to_list()
    return codes if n is None else codes[:n]
