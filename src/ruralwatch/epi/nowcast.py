"""Nowcasting of reporting delays: the counts still to come for the last days.

Höhle M, an der Heiden M. Bayesian nowcasting during the STEC O104:H4 outbreak in Germany,
2011. Biometrics 2014;70(4):993-1002. Lawless JF. Adjustments for reporting delays and the
prediction of occurred but not reported events. Can J Stat 1994;22(1):15-31.

The reporting triangle ``n[t, d]`` holds the cases of day ``t`` that arrived with a delay of
``d`` days (``d = 0 … D``; a delay above ``D`` counts as ``D``). At "now" (row ``N``, the last)
a cell is observed when ``t + d <= N``; the others are ``NaN``. The cases of day ``t`` known
now are ``y_t = sum over the observed cells of row t``.

Delay distribution under right truncation (section 3 of the paper). With the reverse-time
hazards ``g_d = P(delay = d | delay <= d)`` the CDF is ``F(k) = prod_{i=k+1..D} (1 - g_i)``.
A case of a row that can only show delays up to ``k`` has the conditional likelihood
``g_d prod_{i=d+1..k} (1 - g_i)``, so, over the rows of the estimation window whose cell
``d`` is observed, ``g_d`` has ``edge_d`` (cases with delay ``d``) successes among
``rect_d`` (cases with delay ``<= d``) trials:

* ``lawless``: the maximum likelihood ``g_d = edge_d / rect_d`` and the point nowcast
  ``y_t / F(N - t)``.
* ``bayes.trunc``: a symmetric Dirichlet(kappa) prior on the delay PMF is a generalised
  Dirichlet with independent ``g_d ~ Beta(kappa, d kappa)``, so the posterior is again
  independent Betas, ``g_d ~ Beta(kappa + edge_d, d kappa + rect_d - edge_d)`` (conjugacy under
  right truncation, the paper's main result).
* ``bayes.notrunc``: the same, ignoring truncation: the delay PMF ~ Dirichlet(kappa + the
  delays seen in the window), so ``F(k) ~ Beta``; biased towards short delays while an
  epidemic grows or delays lengthen. Kept for comparison.

Predictive of the final count (section 3.2): ``N_t ~ Poisson(lambda)``, ``lambda ~
Gamma(a, b)`` (shape, rate; R's "poisgamma" prior with ``a = mean^2 / var``, ``b = mean /
var``). Given ``F = F(N - t)`` the known cases are a Poisson thinning, ``y_t ~ Poisson(lambda
F)``, and the cases still to come are ``R_t | y_t, F ~ NegBin(size = a + y_t, prob = (b + F) /
(b + 1))``; the predictive of ``N_t = y_t + R_t`` mixes this over the posterior of ``F``.
:func:`nowcast` computes the mixture on the integer grid from ``n_samples`` draws of the
delay distribution (the way R's ``surveillance::nowcast`` reports it: median and equal-tailed
interval of the mixture); :func:`nowcast_panel` does it for many series at once, with the
exact mixture mean and Monte Carlo intervals (also for the sum over the last days, whose
terms share the delay distribution).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
from scipy import stats

__all__ = [
    "METHODS",
    "NowcastConfig",
    "NowcastResult",
    "PanelNowcast",
    "delay_cdf",
    "hazard_counts",
    "nowcast",
    "nowcast_panel",
    "poisgamma_prior",
    "triangle_from_long",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
Method = Literal["bayes.trunc", "bayes.notrunc", "lawless"]

#: The methods :func:`nowcast` implements (R ``surveillance::nowcast`` names).
METHODS: tuple[str, ...] = ("bayes.trunc", "bayes.notrunc", "lawless")


@dataclass(frozen=True)
class NowcastConfig:
    """Parameters (R's names in brackets).

    Attributes:
        max_delay: largest delay in days [``D``]; later reports count as this delay.
        window: rows (days up to now) whose cases estimate the delay distribution [``m``, the
            "hoehle_anderheiden2014" horizontal cut: event days ``N - m … N``]; ``None``: all.
        kappa: concentration of the symmetric Dirichlet prior on the delay PMF
            [``gd.prior.kappa``].
        prior_mean, prior_var: the Gamma prior of the daily expected count
            [``N.tInf.prior = structure("poisgamma", mean.lambda, var.lambda)``]; ``None``: the
            mean of the window's days that are already complete (older than ``max_delay``),
            and a variance of its square (a Gamma of shape 1: an exponential prior).
        level: coverage of the equal-tailed prediction intervals [``1 - alpha``].
        n_samples: draws of the delay distribution [``nSamples``].
        seed: of the draws, so that a cycle run twice gives the same numbers.
    """

    max_delay: int = 7
    window: int | None = 28
    kappa: float = 0.1
    prior_mean: float | None = None
    prior_var: float | None = None
    level: float = 0.95
    n_samples: int = 1000
    seed: int = 20140613

    def as_dict(self) -> dict[str, Any]:
        return {
            "max_delay": self.max_delay,
            "window": self.window,
            "kappa": self.kappa,
            "prior_mean": self.prior_mean,
            "prior_var": self.prior_var,
            "level": self.level,
            "n_samples": self.n_samples,
            "seed": self.seed,
        }


def triangle_from_long(
    day: npt.ArrayLike,
    delay: npt.ArrayLike,
    count: npt.ArrayLike,
    n_days: int,
    max_delay: int,
    unit: npt.ArrayLike | None = None,
    n_units: int = 1,
) -> FloatArray:
    """The reporting triangle(s) from long rows (day index, delay in days, count).

    Returns ``(n_days, max_delay + 1)``, or ``(n_units, n_days, max_delay + 1)`` when ``unit``
    (index per row) is given. The last day is "now": cells with ``day + delay > n_days - 1``
    are ``NaN``. Delays above ``max_delay`` count as ``max_delay``; a row that lies after now
    (or before the first day) is an error, as nothing can have arrived after now.
    """
    t = np.asarray(day, dtype=np.int64)
    d = np.minimum(np.asarray(delay, dtype=np.int64), max_delay)
    c = np.asarray(count, dtype=np.float64)
    u = np.zeros(t.shape, np.int64) if unit is None else np.asarray(unit, dtype=np.int64)
    if np.any(d < 0):
        raise ValueError("delays must be >= 0")
    if np.any(t < 0) or np.any(t + d > n_days - 1):
        raise ValueError("a report arrives after now or is for a day before the first")
    tri = np.zeros((n_units, n_days, max_delay + 1), dtype=np.float64)
    np.add.at(tri, (u, t, d), c)
    rows = np.arange(n_days)[:, None] + np.arange(max_delay + 1)[None, :]
    tri[:, rows > n_days - 1] = np.nan
    return tri if unit is not None else tri[0]


def _as_panel(triangle: npt.ArrayLike) -> FloatArray:
    tri = np.asarray(triangle, dtype=np.float64)
    if tri.ndim == 2:
        tri = tri[None]
    if tri.ndim != 3 or tri.shape[2] < 2:
        raise ValueError("a triangle is (days, max_delay + 1) or (units, days, max_delay + 1)")
    return tri


def _window_rows(n_days: int, window: int | None) -> npt.NDArray[np.bool_]:
    rows = np.ones(n_days, dtype=bool)
    if window is not None:
        if window < 0:
            raise ValueError("window must be >= 0")
        rows[: max(0, n_days - 1 - window)] = False
    return rows


def hazard_counts(
    triangle: npt.ArrayLike, window: int | None = None
) -> tuple[FloatArray, FloatArray]:
    """``edge`` and ``rect`` per unit and delay: ``(U, D + 1)`` each (``d = 0`` is unused).

    Over the window's rows whose cell ``d`` is observed: ``edge_d`` the cases with delay ``d``,
    ``rect_d`` those with delay at most ``d``.
    """
    tri = _as_panel(triangle)
    T = tri.shape[1]
    seen = ~np.isnan(tri)
    filled = np.where(seen, tri, 0.0)
    inside = _window_rows(T, window)[None, :, None] & seen
    cum = np.cumsum(filled, axis=2)
    edge = np.where(inside, filled, 0.0).sum(axis=1)
    rect = np.where(inside, cum, 0.0).sum(axis=1)
    return edge, rect


def delay_cdf(
    triangle: npt.ArrayLike, method: Method = "bayes.trunc", config: NowcastConfig | None = None
) -> FloatArray:
    """The delay CDF ``F(0) … F(D)`` per unit, ``(U, D + 1)``: the maximum likelihood estimate
    for ``lawless``, the posterior mean for the Bayesian methods."""
    cfg = NowcastConfig() if config is None else config
    tri = _as_panel(triangle)
    if method == "lawless":
        edge, rect = hazard_counts(tri, cfg.window)
        with np.errstate(invalid="ignore", divide="ignore"):
            g = np.where(rect > 0, edge / np.where(rect > 0, rect, 1.0), 0.0)
        g[:, 0] = 1.0
        return _cdf_from_hazard(g)
    draws = _cdf_draws(tri, method, cfg, np.random.default_rng(cfg.seed))
    return np.asarray(draws.mean(axis=1), dtype=np.float64)


def _cdf_from_hazard(g: FloatArray) -> FloatArray:
    """``F(k) = prod_{i>k} (1 - g_i)`` along the last axis (``F(D) = 1``)."""
    one_minus = 1.0 - g[..., 1:]
    rev = np.cumprod(one_minus[..., ::-1], axis=-1)[..., ::-1]
    return np.concatenate([rev, np.ones((*g.shape[:-1], 1))], axis=-1)


def _cdf_draws(
    tri: FloatArray, method: Method, cfg: NowcastConfig, rng: np.random.Generator
) -> FloatArray:
    """``(U, S, D + 1)`` draws of the delay CDF from its posterior."""
    U, T, D1 = tri.shape
    D = D1 - 1
    S = cfg.n_samples
    k = cfg.kappa
    if method == "bayes.trunc":
        edge, rect = hazard_counts(tri, cfg.window)
        d = np.arange(D1, dtype=np.float64)
        a = k + edge[:, 1:]
        b = k * d[None, 1:] + rect[:, 1:] - edge[:, 1:]
        g = rng.beta(a[:, None, :], b[:, None, :], size=(U, S, D))
        g = np.concatenate([np.ones((U, S, 1)), g], axis=2)
        return _cdf_from_hazard(g)
    if method == "bayes.notrunc":
        seen = ~np.isnan(tri)
        inside = _window_rows(T, cfg.window)[None, :, None] & seen
        n_d = np.where(inside, tri, 0.0).sum(axis=1)  # (U, D + 1)
        # Dirichlet draws as normalised Gammas; F(k) is the running sum.
        gam = rng.gamma(k + n_d[:, None, :], size=(U, S, D1))
        p = gam / gam.sum(axis=2, keepdims=True)
        cdf = np.cumsum(p, axis=2)
        cdf[..., -1] = 1.0
        return cdf
    raise ValueError(f"unknown method {method!r}; one of {METHODS}")


def _cdf_sampler(
    tri: FloatArray, method: Method, cfg: NowcastConfig
) -> Callable[[int, np.random.Generator], FloatArray]:
    """``draw(u, rng)``: unit ``u``'s ``(S, D + 1)`` draws of its delay CDF from ``rng``, the
    numbers :func:`_cdf_draws` gives for its triangle alone; the hazard counts of every unit
    are computed at once."""
    if method != "bayes.trunc":
        return lambda u, rng: _cdf_draws(tri[u : u + 1], method, cfg, rng)[0]
    D1 = tri.shape[2]
    D, S, k = D1 - 1, cfg.n_samples, cfg.kappa
    edge, rect = hazard_counts(tri, cfg.window)
    d = np.arange(D1, dtype=np.float64)
    a = k + edge[:, 1:]
    b = k * d[None, 1:] + rect[:, 1:] - edge[:, 1:]

    def draw(u: int, rng: np.random.Generator) -> FloatArray:
        # _cdf_from_hazard without its temporaries: F(k) = prod_{i>k} (1 - g_i) as a reversed
        # running product written straight into F(0) … F(D - 1) (F(D) = 1).
        one_minus = 1.0 - rng.beta(a[u], b[u], size=(S, D))
        cdf = np.ones((S, D1))
        np.cumprod(one_minus[:, ::-1], axis=-1, out=cdf[:, D - 1 :: -1])
        return cdf

    return draw


def poisgamma_prior(
    triangle: npt.ArrayLike, config: NowcastConfig | None = None
) -> tuple[FloatArray, FloatArray]:
    """Shape and rate ``(U,)`` of the Gamma prior of the daily expected count.

    From ``config.prior_mean``/``prior_var`` when given, else per unit: the mean of the
    window's complete days (all of their cells observed; all observed days if none is), and a
    variance of its square (shape 1). A unit without cases gets a mean of 1.
    """
    cfg = NowcastConfig() if config is None else config
    tri = _as_panel(triangle)
    U, T, _ = tri.shape
    if cfg.prior_mean is not None:
        mean = np.full(U, float(cfg.prior_mean))
        var = np.full(U, float(cfg.prior_var if cfg.prior_var is not None else mean[0] ** 2))
    else:
        totals = np.nansum(tri, axis=2)  # (U, T)
        complete: npt.NDArray[np.bool_] = ~np.isnan(tri[0]).any(axis=1)
        rows = _window_rows(T, cfg.window) & complete
        if not rows.any():
            rows = np.ones(T, dtype=bool)
        mean = np.maximum(totals[:, rows].mean(axis=1), 1.0)
        var = mean**2
    if np.any(mean <= 0) or np.any(var <= 0):
        raise ValueError("the prior mean and variance must be positive")
    return mean**2 / var, mean / var


@dataclass(frozen=True)
class NowcastResult:
    """Nowcast of one series, day by day (arrays of the triangle's length).

    Attributes:
        observed: cases known now per day.
        median, lower, upper: of the predictive of the final count (equal-tailed interval at
            ``config.level``); equal to ``observed`` where the day is complete.
        mean: predictive mean of the final count.
        cdf: the delay CDF ``F(0) … F(D)`` (posterior mean; the MLE for ``lawless``).
        known_share: ``F(N - t)`` per day: the share of day ``t``'s cases expected known now.
        prior: shape and rate of the Gamma prior of the daily expected count.
    """

    method: str
    observed: FloatArray
    median: FloatArray
    lower: FloatArray
    upper: FloatArray
    mean: FloatArray
    cdf: FloatArray
    known_share: FloatArray
    config: NowcastConfig
    prior: tuple[float, float]
    params: dict[str, Any] = field(default_factory=dict)


def _known_share(cdf: FloatArray, T: int) -> FloatArray:
    """``F(N - t)`` for every row (1 where ``N - t >= D``); ``cdf`` is ``(..., D + 1)``."""
    D = cdf.shape[-1] - 1
    lag = np.minimum(T - 1 - np.arange(T), D)
    return np.asarray(cdf[..., lag], dtype=np.float64)


def nowcast(
    triangle: npt.ArrayLike,
    method: Method = "bayes.trunc",
    config: NowcastConfig | None = None,
    *,
    grid_max: int | None = None,
) -> NowcastResult:
    """Nowcast one reporting triangle ``(days, D + 1)`` (the last row is now).

    The Bayesian methods average the negative binomial predictive over ``n_samples`` draws of
    the delay CDF on the grid ``0 … grid_max`` of the final count (R's ``N.tInf.max``; default
    large enough to hold the predictive) and report its median and equal-tailed interval.
    ``lawless`` gives the point estimate ``y_t / F(N - t)`` (its median) and an interval from
    the negative binomial predictive with the plug-in CDF.
    """
    cfg = NowcastConfig() if config is None else config
    tri = _as_panel(triangle)
    if tri.shape[0] != 1:
        raise ValueError("nowcast takes one triangle; use nowcast_panel for many")
    T = tri.shape[1]
    observed = np.nansum(tri[0], axis=1)
    shape, rate = poisgamma_prior(tri, cfg)
    a, b = float(shape[0]), float(rate[0])
    alpha = 1.0 - cfg.level
    if method == "lawless":
        cdf = delay_cdf(tri, "lawless", cfg)[0]
        draws = cdf[None, :]
    else:
        draws = _cdf_draws(tri, method, cfg, np.random.default_rng(cfg.seed))[0]
        cdf = draws.mean(axis=0)
    share = _known_share(draws, T)  # (S, T)
    median, lower, upper, mean = (observed.copy() for _ in range(4))
    for t in range(T):
        if T - 1 - t >= tri.shape[2] - 1:
            continue
        y = observed[t]
        f = np.clip(share[:, t], 1e-12, 1.0)
        p = (b + f) / (b + 1.0)
        mean[t] = y + float(np.mean((a + y) * (1.0 - f) / (b + f)))
        if method == "lawless":
            median[t] = y / f[0] if f[0] > 0 else y
        top = grid_max
        if top is None:
            hi = stats.nbinom.ppf(1.0 - 1e-6, a + y, p.min())
            top = int(y + hi) + 1
        r = np.arange(0, max(int(top - y), 0) + 1)
        pmf = stats.nbinom.pmf(r[None, :], a + y, p[:, None]).mean(axis=0)
        cum = np.cumsum(pmf)
        if method != "lawless":
            median[t] = y + _first_at_least(cum, 0.5)
        lower[t] = y + _first_at_least(cum, alpha / 2)
        upper[t] = y + _first_at_least(cum, 1.0 - alpha / 2)
    return NowcastResult(
        method=method,
        observed=observed,
        median=median,
        lower=lower,
        upper=upper,
        mean=mean,
        cdf=cdf,
        known_share=_known_share(cdf, T),
        config=cfg,
        prior=(a, b),
        params={"method": method, **cfg.as_dict(), "prior_shape": a, "prior_rate": b},
    )


def _first_at_least(cum: FloatArray, q: float) -> float:
    """The first grid index where the cumulative mass reaches ``q`` (the last if none does)."""
    i = int(np.searchsorted(cum, q - 1e-12, side="left"))
    return float(min(i, cum.size - 1))


@dataclass(frozen=True)
class PanelNowcast:
    """Nowcasts of many series over their last ``D`` days.

    Attributes:
        days: ``(K,)`` row indices nowcast (the last ``K = min(D, T)`` rows of the triangles).
        observed, mean, lower, upper: ``(U, K)`` per unit and day; ``mean`` is the exact
            predictive mean, ``lower``/``upper`` Monte Carlo quantiles of the final count.
        sum_observed, sum_mean, sum_lower, sum_upper: ``(U,)`` the same for the sum over the
            days summed (see ``sum_through``; its terms share the delay draws, so its interval
            is not the sum of the days' intervals).
        known_share: ``(U, K)`` posterior mean of ``F(N - t)``.
        dispersion: ``(U,)`` the scaling used (1 without).
        prior_shape, prior_rate: ``(U,)`` the Gamma prior, on the scaled counts.
    """

    days: IntArray
    observed: FloatArray
    mean: FloatArray
    lower: FloatArray
    upper: FloatArray
    sum_observed: FloatArray
    sum_mean: FloatArray
    sum_lower: FloatArray
    sum_upper: FloatArray
    known_share: FloatArray
    dispersion: FloatArray
    prior_shape: FloatArray
    prior_rate: FloatArray
    method: str
    config: NowcastConfig


def _draw_quantiles(draws: FloatArray, q: tuple[float, float]) -> tuple[FloatArray, FloatArray]:
    """``np.quantile(draws, q, axis=-1, method="inverted_cdf")`` of draws without NaN, the
    draws along the last axis: that method picks order statistics (which ones is asked of
    np.quantile itself, on their ranks), found here by one partition of each row at those two
    ranks. On the rows of a province's panel (2,655 units × 7 days of 400 draws, contiguous)
    that is a sixth of the time of a sort along a middle axis.

    The draws are partitioned where they are (their order along the last axis is lost): a
    copy of a province's 60 MB of draws cost more than the partition, most of it the pages
    of the new array faulted in."""
    S = draws.shape[-1]
    ranks = np.quantile(np.arange(S), q, method="inverted_cdf").astype(np.int64)
    draws.partition(np.unique(ranks), axis=-1)
    return draws[..., ranks[0]].copy(), draws[..., ranks[1]].copy()


def nowcast_panel(
    triangles: npt.ArrayLike,
    method: Literal["bayes.trunc", "bayes.notrunc"] = "bayes.trunc",
    config: NowcastConfig | None = None,
    *,
    sum_through: int | None = None,
    dispersion: npt.ArrayLike | None = None,
    keys: Sequence[int] | None = None,
) -> PanelNowcast:
    """Nowcast ``(U, T, D + 1)`` triangles (all with the same now, the last row) at once.

    ``dispersion`` (``(U,)``, >= 1): cases that arrive together, e.g. all the cases of one
    village's daily report, make the triangle's counts overdispersed against the model's
    independent delays; the triangle is divided by the dispersion, nowcast, and the results
    multiplied back (the quasi-likelihood scaling of counts): the means are nearly unchanged,
    the intervals widen by about its square root. ``None``: 1 (every case arrives on its own).

    ``keys`` (one non-negative integer per unit, e.g. from its code) seed each unit's draws
    with ``config.seed``, so a unit's numbers do not depend on which other units share the
    panel (a county judged alone or within its province); default: the unit's index.

    The sums (``sum_*``) run over the nowcast days up to row ``sum_through`` (default: all),
    e.g. the days up to a cycle date that lies before now.

    For each unit: ``n_samples`` draws of its delay CDF; per draw and day, the expected cases
    still to come ``(a + y)(1 - F) / (b + F)`` (averaged: the exact predictive mean) and one
    draw of them (a Gamma-Poisson draw of the negative binomial), whose quantiles give the
    intervals of each day and of the sum over the days.
    """
    cfg = NowcastConfig() if config is None else config
    tri = _as_panel(triangles)
    T, D1 = tri.shape[1], tri.shape[2]
    phi = np.ones(tri.shape[0])
    if dispersion is not None:
        phi = np.broadcast_to(np.asarray(dispersion, dtype=np.float64), (tri.shape[0],))
        if not np.all(phi >= 1.0):
            raise ValueError("dispersion must be >= 1")
        tri = tri / phi[:, None, None]
    K = min(D1 - 1, T)
    days = np.arange(T - K, T, dtype=np.int64)
    U = tri.shape[0]
    unit_keys = range(U) if keys is None else [int(k) for k in keys]
    if len(unit_keys) != U or min(unit_keys, default=0) < 0:
        raise ValueError("one non-negative key per unit is needed")
    rngs = [np.random.default_rng([cfg.seed, k]) for k in unit_keys]
    draw_cdf = _cdf_sampler(tri, method, cfg)
    lags = np.minimum(T - 1 - days, D1 - 1)  # F(N - t) of the nowcast days
    y = np.nansum(tri[:, days, :], axis=2)  # (U, K)
    shape, rate = poisgamma_prior(tri, cfg)
    # Unit by unit: a unit's draws come from its own generator (its CDF draws, then its
    # predictive's), and its (S, K) arrays stay in the cache; the whole panel's (U, S, K)
    # temporaries were ten passes over 60 MB each for 2,655 units.
    rest = np.empty((U, K, cfg.n_samples))  # each unit's day's draws contiguous
    mean_rest = np.empty((U, K))
    known_share = np.empty((U, K))
    for u in range(U):
        rng = rngs[u]
        share = draw_cdf(u, rng)[:, lags]  # (S, K)
        f = np.clip(share, 1e-12, 1.0)
        size = shape[u] + y[u]
        b = rate[u]
        expected = size * (1.0 - f) / (b + f)
        scale = 1.0 / (b + f)
        rest[u] = rng.poisson(rng.gamma(size, scale) * (1.0 - f)).T
        mean_rest[u] = expected.mean(axis=0)
        known_share[u] = share.mean(axis=0)
    q = ((1.0 - cfg.level) / 2, 1.0 - (1.0 - cfg.level) / 2)
    summed = days <= (T - 1 if sum_through is None else sum_through)  # the first days
    # Each draw's sum over the days before the days' draws are partitioned (which pairs
    # them no more); the days summed are the first ones, a view.
    total = rest[:, : int(summed.sum()), :].sum(axis=1)  # (U, S)
    lo, hi = _draw_quantiles(rest, q)
    s_lo, s_hi = _draw_quantiles(total, q)
    y_sum = y[:, summed].sum(axis=1)
    f1, f2 = phi[:, None], phi
    return PanelNowcast(
        days=days,
        observed=f1 * y,
        mean=f1 * (y + mean_rest),
        lower=f1 * (y + lo),
        upper=f1 * (y + hi),
        sum_observed=f2 * y_sum,
        sum_mean=f2 * (y_sum + mean_rest[:, summed].sum(axis=1)),
        sum_lower=f2 * (y_sum + s_lo),
        sum_upper=f2 * (y_sum + s_hi),
        known_share=known_share,
        dispersion=phi.copy(),
        prior_shape=shape,
        prior_rate=rate,
        method=method,
        config=cfg,
    )
