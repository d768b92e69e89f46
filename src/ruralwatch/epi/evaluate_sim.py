"""Simulated weekly surveillance series with injected outbreaks, after Noufaily et al. (2013).

Noufaily A, Enki DG, Farrington P, Garthwaite P, Andrews N, Charlett A. An improved algorithm
for outbreak detection in multiple surveillance systems. Stat Med 2013;32:1206-1222.

Baseline weekly counts are negative binomial with mean

    mu_t = exp(theta + beta t + sum_{j=1..m} [gamma1 cos(w_j t) + gamma2 sin(w_j t)]),
    w_j = 2 pi j / 52

(t = 1, 2, ... the week) and variance ``phi * mu_t`` (``phi = 1``: Poisson). An outbreak
starting in week s has a Poisson number of cases with mean ``k`` times the baseline standard
deviation ``sqrt(phi * mu_s)``; each case falls ``floor(X)`` weeks after s with X lognormal
(log-mean 0, log-sd 0.5), so most cases come in the first two weeks.

Framework-free: numpy only. Everything is drawn from generators seeded by the caller.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

__all__ = [
    "SCENARIOS",
    "Scenario",
    "baseline_mean",
    "baseline_variance",
    "inject_outbreak",
    "outbreak_cases",
    "simulate_baseline",
]

WEEKS_PER_YEAR = 52
ONSET_LOG_SD = 0.5  # lognormal spread of the outbreak cases over the weeks after the start


@dataclass(frozen=True)
class Scenario:
    """One baseline model: the parameters of the mean and the dispersion (variance / mean)."""

    id: int
    theta: float
    beta: float
    gamma1: float
    gamma2: float
    m: int
    phi: float

    @property
    def seasonality(self) -> str:
        return {0: "none", 1: "annual", 2: "biannual"}.get(self.m, f"{self.m} harmonics")

    @property
    def trend(self) -> bool:
        return self.beta != 0.0

    @property
    def level(self) -> str:
        """Baseline frequency class by exp(theta): low (< 5 a week), medium (< 50), high."""
        base = float(np.exp(self.theta))
        return "low" if base < 5 else "medium" if base < 50 else "high"


def _grid() -> tuple[Scenario, ...]:
    """12 scenarios: three baseline levels, each with four shapes that together cover no / annual
    / biannual seasonality, trend or not, and dispersion 1 (Poisson), 2 and 5."""
    shapes = (
        # beta, gamma1, gamma2, m, phi
        (0.0, 0.0, 0.0, 0, 1.0),  # flat, Poisson
        (0.0, 0.3, 0.5, 1, 2.0),  # annual season, overdispersed
        (0.0015, 0.3, 0.5, 1, 2.0),  # annual season and a trend
        (0.0, 0.3, 0.5, 2, 5.0),  # biannual season, strongly overdispersed
    )
    out: list[Scenario] = []
    for theta in (0.5, 2.5, 4.5):
        for beta, g1, g2, m, phi in shapes:
            out.append(Scenario(len(out) + 1, theta, beta, g1, g2, m, phi))
    return tuple(out)


SCENARIOS: tuple[Scenario, ...] = _grid()


def baseline_mean(scn: Scenario, weeks: npt.ArrayLike) -> FloatArray:
    """mu_t for the (1-based) weeks t."""
    t = np.asarray(weeks, dtype=np.float64)
    lin = scn.theta + scn.beta * t
    for j in range(1, scn.m + 1):
        w = 2.0 * np.pi * j * t / WEEKS_PER_YEAR
        lin = lin + scn.gamma1 * np.cos(w) + scn.gamma2 * np.sin(w)
    return np.asarray(np.exp(lin), dtype=np.float64)


def baseline_variance(scn: Scenario, weeks: npt.ArrayLike) -> FloatArray:
    """phi * mu_t."""
    return scn.phi * baseline_mean(scn, weeks)


def simulate_baseline(
    scn: Scenario, n_weeks: int, n_series: int, rng: np.random.Generator
) -> FloatArray:
    """(n_weeks, n_series) counts: Poisson if phi = 1, else negative binomial with size
    mu / (phi - 1) (so that the variance is phi * mu)."""
    if scn.phi < 1.0:
        raise ValueError("phi (variance / mean) must be >= 1")
    mu = baseline_mean(scn, np.arange(1, n_weeks + 1))[:, None]
    mu = np.broadcast_to(mu, (n_weeks, n_series))
    if scn.phi == 1.0:
        return rng.poisson(mu).astype(np.float64)
    size = mu / (scn.phi - 1.0)
    return rng.negative_binomial(size, 1.0 / scn.phi).astype(np.float64)


def outbreak_cases(n_cases: int, start: int, n_weeks: int, rng: np.random.Generator) -> FloatArray:
    """Weekly outbreak counts (length n_weeks): ``n_cases`` cases at ``start + floor(X)``,
    X lognormal(0, 0.5); cases falling after the last week are dropped."""
    out = np.zeros(n_weeks)
    if n_cases <= 0:
        return out
    offsets = np.floor(rng.lognormal(0.0, ONSET_LOG_SD, size=n_cases)).astype(np.int64)
    weeks = start + offsets
    weeks = weeks[weeks < n_weeks]
    np.add.at(out, weeks, 1.0)
    return out


def inject_outbreak(
    scn: Scenario, k: float, start: int, n_weeks: int, rng: np.random.Generator
) -> FloatArray:
    """Outbreak counts for one series: Poisson(k * sd at ``start``) cases (``start`` 0-based
    row, i.e. week ``start + 1``) spread with the lognormal onset profile."""
    sd = float(np.sqrt(baseline_variance(scn, [start + 1])[0]))
    n_cases = int(rng.poisson(k * sd))
    return outbreak_cases(n_cases, start, n_weeks, rng)
