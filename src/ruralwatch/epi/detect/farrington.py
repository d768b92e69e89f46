"""Farrington (1996) and the flexible Farrington with the Noufaily et al. (2013) improvements.

Both fit, for every monitored time point t and every series, a quasi-Poisson log-linear model to
baseline counts from the ``b`` previous years, down-weight past outbreaks by their Anscombe
residuals, keep a linear time trend only when it is significant and does not extrapolate above
the baseline, and compare the count at t with an upper prediction bound.

* :func:`farrington` is the classic method (R ``algo.farrington``): windows of ``2w+1`` points
  around the same time in each past year, two-sided ``z(1-alpha/2)``, the 2/3-power bound, and
  an upper bound of 0 when fewer than ``limit54[0]`` cases were seen in the last ``limit54[1]``
  points.
* :func:`farrington_flexible` (R ``farringtonFlexible``) adds Noufaily's options: all past weeks
  with a ``no_periods``-level seasonal factor, the most recent ``past_weeks_not_included``
  points left out, the negative binomial quantile bound (``threshold_method="nbPlugin"``), the
  reweighting threshold 2.58 and a population offset.

All (series, time point) fits are stacked into one batched IRLS (see ``_farrington_glm``).
Reference time points of date-indexed panels are the same date 1..b years earlier, moved to the
nearest date of the series; other panels use ``t - i*freq``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
from scipy import special, stats

from ruralwatch.epi.detect._common import IntArray, Monitor, make_result, monitor_param
from ruralwatch.epi.detect._common import resolve_monitor as _resolve
from ruralwatch.epi.detect._farrington_glm import (
    CountTables,
    GlmFit,
    GroupDesign,
    fit_poisson_grouped,
    group_design,
)
from ruralwatch.epi.detect.base import DetectionResult, Reason
from ruralwatch.epi.linalg import each_block
from ruralwatch.epi.panel import FloatArray, Panel

__all__ = ["farrington", "farrington_flexible"]

PowerTrans = Literal["2/3", "1/2", "none"]
ThresholdMethod = Literal["delta", "nbPlugin", "muan"]
BoolArray = npt.NDArray[np.bool_]

_POWERS: dict[str, float] = {"2/3": 2.0 / 3.0, "1/2": 0.5, "none": 1.0}
# Problems (series × time points) × observations per IRLS batch, and series per batch.
_BATCH_ELEMENTS = 1_000_000
_UNITS_PER_BLOCK = 64
# Largest mean given to the negative binomial / Poisson quantile search.
_MU_MAX = 1e15


@dataclass(frozen=True)
class _Settings:
    b: int
    w: int
    reweight: bool
    weights_threshold: float
    trend: bool
    p_threshold_trend: float
    population_offset: bool
    no_periods: int
    past_weeks_not_included: int
    # farringtonFlexible's dispersion is the Pearson statistic at the final means; the classic
    # method takes R's summary.glm value (working weights and residuals of the last iteration).
    pearson_dispersion: bool = False
    # farringtonFlexible scales the covariance of the coefficients (trend test, delta bound) by
    # the prior-weighted squared working residuals instead; see ``_fit_problems``.
    working_residual_se: bool = False


# --------------------------------------------------------------------------------------------
# Reference time points and design
# --------------------------------------------------------------------------------------------


def _years_back(day: dt.date, years: int) -> dt.date:
    """The same calendar date ``years`` earlier; 29 February becomes 1 March."""
    try:
        return day.replace(year=day.year - years)
    except ValueError:
        return dt.date(day.year - years, 3, 1)


def _reference_rows(panel: Panel, idx: IntArray, b: int) -> IntArray:
    """(n, b+1) rows of t and of its reference points 1..b years earlier (may be negative)."""
    ref = np.empty((idx.size, b + 1), dtype=np.int64)
    ref[:, 0] = idx
    if panel.dates is None:
        for i in range(1, b + 1):
            ref[:, i] = idx - i * panel.freq
        return ref
    dates = panel.dates
    days = dates.astype(np.int64)
    step = int(days[1] - days[0]) if days.size > 1 else 1
    for k, t in enumerate(idx):
        day = dates[t].astype(dt.date)
        for i in range(1, b + 1):
            target = int(np.datetime64(_years_back(day, i), "D").astype(np.int64))
            j = int(np.searchsorted(days, target))
            if j >= days.size:
                j = days.size - 1
            elif j > 0 and target - days[j - 1] <= days[j] - target:
                j -= 1
            if j == 0 and days[0] > target:
                # Before the series: extrapolate on the regular grid (the row will be dropped).
                j = -int(np.ceil((days[0] - target) / step))
            ref[k, i] = j
    return ref


def _window_rows(ref: IntArray, w: int, current: bool = False) -> tuple[IntArray, IntArray]:
    """Rows of the ``2w+1`` windows around reference points 1..b, and their factor level (0).

    ``current``: also the current year's half window t-w..t-1. farringtonFlexible with
    ``noPeriods = 1`` takes the reference values of Farrington et al. (1996) and ignores the
    ``pastWeeksNotIncluded`` most recent points, whose default is ``w`` (``?farringtonFlexible``):
    the points that default leaves out are t-w..t-1, so a smaller value brings some of them in
    and a larger one drops the newest points of last year's window (F1, docs/validation.md)."""
    offsets = np.arange(-w, w + 1)
    rows = (ref[:, 1:, None] + offsets[None, None, :]).reshape(ref.shape[0], -1)
    if current and w > 0:
        rows = np.concatenate([rows, ref[:, :1] + np.arange(-w, 0)[None, :]], axis=1)
    return rows, np.zeros_like(rows)


def _block_rows(ref: IntArray, s: _Settings) -> tuple[IntArray, IntArray]:
    """All rows from the oldest window to t - past_weeks_not_included - 1, with the factor level:
    0 inside the windows around the reference points, 1..no_periods-1 for the pieces into which
    each stretch between two windows is split."""
    n = ref.shape[0]
    w, b, k = s.w, s.b, s.no_periods - 1
    starts = ref[:, b] - w
    ends = ref[:, 0] - s.past_weeks_not_included - 1
    length = int(np.max(ends - starts + 1)) if n else 0
    rows = np.full((n, max(length, 0)), -1, dtype=np.int64)
    levels = np.zeros_like(rows)
    for r in range(n):
        cur = np.arange(starts[r], ends[r] + 1)
        lev = np.zeros(cur.size, dtype=np.int64)
        for i in range(b, 0, -1):
            gap_lo = ref[r, i] + w + 1
            gap_hi = ref[r, i - 1] - w - 1  # inclusive
            size = gap_hi - gap_lo + 1
            if size <= 0:
                continue
            # consecutive pieces of (nearly) equal length, the longer ones first
            q, rem = divmod(int(size), k)
            pos = np.arange(size)
            long_part = rem * (q + 1)
            piece = (
                np.where(pos < long_part, pos // (q + 1), rem + (pos - long_part) // max(q, 1)) + 1
            )
            sel = (cur >= gap_lo) & (cur <= gap_hi)
            lev[sel] = piece[cur[sel] - gap_lo]
        rows[r, : cur.size] = cur
        levels[r, : cur.size] = lev
    return rows, levels


def _time_covariate(panel: Panel) -> FloatArray:
    """Time in periods: the row number, or for dated panels days / (days between rows 1 and 2)."""
    if panel.dates is None or panel.n_time < 2:
        return np.arange(1, panel.n_time + 1, dtype=np.float64)
    days = panel.dates.astype(np.int64).astype(np.float64)
    return np.asarray((days - days[0]) / (days[1] - days[0]), dtype=np.float64)


# --------------------------------------------------------------------------------------------
# Fitting
# --------------------------------------------------------------------------------------------


def _fit(
    X: GroupDesign,
    y: FloatArray,
    used: BoolArray,
    offset: FloatArray | None,
    s: _Settings,
    tables: CountTables,
) -> GlmFit:
    """Fit (and reweight) every unit of every group: y and used (G, U, N)."""
    return fit_poisson_grouped(
        X,
        y,
        used.astype(np.float64),
        offset,
        leverages=False,
        tables=tables,
        reweight=s.weights_threshold if s.reweight else None,
    )


def _dispersion(fit: GlmFit, s: _Settings) -> FloatArray:
    return fit.dispersion if s.pearson_dispersion else fit.dispersion_working


def _se_dispersion(fit: GlmFit, s: _Settings) -> FloatArray:
    """The dispersion that scales (X'WX)^-1 in the trend test and the prediction's standard
    error: the quasi-Poisson one, except for farringtonFlexible with reweighting (see
    ``_fit_problems`` and the method card)."""
    if s.working_residual_se and s.reweight:
        return fit.dispersion_prior_working
    return fit.dispersion_working


@dataclass(frozen=True)
class _Model:
    eta: FloatArray  # log-scale prediction at t
    var_link: FloatArray  # x0' (X'WX)^-1 x0 (unscaled)
    phi: FloatArray  # max(1, dispersion)
    trend: BoolArray
    trend_coef: FloatArray
    se_dispersion: FloatArray  # the dispersion that scales var_link in the standard error
    failed: BoolArray  # no usable fit (non-finite iterations or covariance)


def _fit_problems(
    X: tuple[GroupDesign, GroupDesign],
    x0: FloatArray,
    y: FloatArray,
    used: BoolArray,
    offset: FloatArray | None,
    offset0: FloatArray,
    s: _Settings,
    tables: CountTables,
) -> _Model:
    """Fit with and (where needed) without trend; column 1 of X is the time covariate.

    X: the designs shared by the U units of each group (time point), with and without the
    time column (prepared by ``group_design``), x0: (G, K) the row of the time point itself,
    y and used: (G, U, N), offset: (G, U, N) or None, offset0: (G, U).
    Results are flat over G*U problems (group-major).

    The trend is kept when its coefficient is significant (two-sided t-test on the residual
    degrees of freedom at ``p_threshold_trend``) and the prediction at t does not exceed the
    largest baseline count. The covariance of the coefficients is (X'WX)^-1 times a dispersion:
    the classic method's is the quasi-Poisson one (Pearson statistic / df); farringtonFlexible's
    (``s.working_residual_se``) is sum(w (y - mu)^2 / mu^2) / df, the working residuals weighted
    by the prior weights only, for the trend test and for the standard error of the prediction
    alike. That is what R's numbers show: with it every oracle case agrees at every point.
    """
    G, U, _ = y.shape
    P = G * U
    trend_ok = np.zeros(P, dtype=bool)
    coef_t = np.full(P, np.nan)
    eta = np.full(P, np.nan)
    var = np.full(P, np.nan)
    phi = np.full(P, np.nan)
    se_disp = np.full(P, np.nan)
    failed = np.zeros(P, dtype=bool)
    off0 = offset0.reshape(P)
    if s.trend and s.b >= 3:
        fit_t = _fit(X[0], y, used, offset, s, tables)
        x0p = np.repeat(x0, U, axis=0)
        eta_t = np.einsum("pk,pk->p", x0p, fit_t.coef) + off0
        se_disp_t = _se_dispersion(fit_t, s)
        var_coef = fit_t.cov_unscaled[:, 1, 1] * se_disp_t
        with np.errstate(divide="ignore", invalid="ignore"):
            tstat = fit_t.coef[:, 1] / np.sqrt(var_coef)
        pval = 2.0 * stats.t.sf(np.abs(tstat), np.maximum(fit_t.df_residual, 1.0))
        ymax = np.max(np.where(used, y, -np.inf), axis=2).reshape(P)
        with np.errstate(over="ignore", invalid="ignore"):
            trend_ok = (pval < s.p_threshold_trend) & (np.exp(eta_t) <= ymax)
        # A trend model that did not converge (R: "No convergence with timeTrend -- trying
        # without") or diverged is dropped, as one whose trend is not significant.
        trend_ok &= np.isfinite(tstat) & fit_t.converged & ~fit_t.failed
        coef_t = np.where(trend_ok, fit_t.coef[:, 1], np.nan)
        k = trend_ok
        eta[k] = eta_t[k]
        var[k] = np.einsum("pk,pkl,pl->p", x0p[k], fit_t.cov_unscaled[k], x0p[k])
        phi[k] = _dispersion(fit_t, s)[k]
        se_disp[k] = se_disp_t[k]
    need = ~trend_ok
    if need.any():
        # Refit without trend only the problems that need it: per group (time point) the
        # units needing it come first, padded to the same count with a copy of the group's
        # first one (its result is not used), so the groups still share their designs.
        need_g = need.reshape(G, U)
        n_g = need_g.sum(axis=1)
        m = int(n_g.max())
        order = np.argsort(~need_g, axis=1, kind="stable")[:, :m]
        slot = np.arange(m)[None, :]
        pick = np.where(slot < n_g[:, None], order, order[:, :1])  # (G, m) unit per slot
        gi = np.arange(G)[:, None]
        sub = (
            y[gi, pick],
            used[gi, pick],
            None if offset is None else offset[gi, pick],
        )
        fit_n = _fit(X[1], sub[0], sub[1], sub[2], s, tables)
        real = slot < n_g[:, None]
        dest = (gi * U + pick)[real]  # problem index in the G*U problems
        src = (gi * m + slot)[real]  # index in the refitted problems
        x0n = np.delete(x0, 1, axis=1)[dest // U]
        eta[dest] = np.einsum("pk,pk->p", x0n, fit_n.coef[src]) + off0[dest]
        var[dest] = np.einsum("pk,pkl,pl->p", x0n, fit_n.cov_unscaled[src], x0n)
        phi[dest] = _dispersion(fit_n, s)[src]
        se_disp[dest] = _se_dispersion(fit_n, s)[src]
        failed[dest] = fit_n.failed[src]
    se_disp = np.where(np.isnan(se_disp), 1.0, se_disp)  # no residual df: as if Poisson
    phi = np.where(np.isnan(phi), 1.0, np.maximum(phi, 1.0))
    return _Model(
        eta=eta,
        var_link=var,
        phi=phi,
        trend=trend_ok,
        trend_coef=coef_t,
        se_dispersion=se_disp,
        failed=failed,
    )


def _invalid_units(panel: Panel, s: _Settings) -> BoolArray:
    """Units whose data are not counts R could fit: a negative or infinite count (R's
    quasi-Poisson family refuses negative values), or with ``population_offset`` a population
    that is not positive or infinite (log(0) is no offset). A missing value (NaN) is not
    invalid: it is left out. Non-integer counts are fitted, as R's quasi-Poisson fit does."""
    c = panel.counts
    bad = np.any((c < 0) | np.isinf(c), axis=0)
    if s.population_offset and panel.population is not None:
        pop = panel.population
        bad |= np.any((pop <= 0) | np.isinf(pop), axis=0)
    return np.asarray(bad, dtype=bool)


def _run_models(
    panel: Panel, idx: IntArray, s: _Settings, *, flexible: bool
) -> tuple[_Model, npt.NDArray[np.int8]]:
    """Fit every (time point, series) problem: (n_monitored, U) arrays, and the reason code
    where a problem has no fit (its eta is NaN then)."""
    ref = _reference_rows(panel, idx, s.b)
    if flexible and s.no_periods > 1:
        rows, levels = _block_rows(ref, s)
    elif flexible:
        rows, levels = _window_rows(ref, s.w, current=True)
    else:
        rows, levels = _window_rows(ref, s.w)
    n, N = rows.shape
    U = panel.n_units
    n_lev = max(s.no_periods, 1) if flexible else 1
    K = 2 + (n_lev - 1)
    tcov = _time_covariate(panel)
    valid_row = (rows >= 0) & (rows < idx[:, None])
    if flexible:
        # the most recent past_weeks_not_included points are never used (with no_periods > 1
        # the blocks already end before them)
        valid_row &= rows < (idx - s.past_weeks_not_included)[:, None]
    safe = np.where(valid_row, rows, 0)

    # Design per time point: intercept, time, level dummies (level 0 is the reference).
    Xt = np.zeros((n, N, K))
    Xt[:, :, 0] = 1.0
    Xt[:, :, 1] = tcov[safe]
    for lev in range(1, n_lev):
        Xt[:, :, 1 + lev] = (levels == lev).astype(np.float64)
    x0t = np.zeros((n, K))
    x0t[:, 0] = 1.0
    x0t[:, 1] = tcov[idx]

    pop = panel.population if s.population_offset else None
    if s.population_offset and pop is None:
        raise ValueError("population_offset=True needs a panel with population")
    invalid = _invalid_units(panel, s)
    counts = panel.counts
    if invalid.any():
        # Fitted as if missing (so they cannot disturb the others); reported as invalid.
        counts = np.where(invalid[None, :], np.nan, counts)
    tables = CountTables(counts)  # functions of the counts the fits look up

    eta = np.empty((n, U))
    var = np.empty((n, U))
    phi = np.empty((n, U))
    trend = np.empty((n, U), dtype=bool)
    coef = np.empty((n, U))
    se_disp = np.empty((n, U))
    failed = np.zeros((n, U), dtype=bool)
    n_used = np.zeros((n, U), dtype=np.int64)
    lp = None
    if pop is not None:
        with np.errstate(divide="ignore", invalid="ignore"):
            lp = np.where(invalid[None, :], np.nan, np.log(pop))
    # Blocks of time points x units of about _BATCH_ELEMENTS problem x observation entries.
    # Units are taken a few at a time when there are many time points (the block's gathered
    # problem x observation arrays stay bounded); with few time points (a weekly run judges
    # one) a block takes more units, or the per-block overhead dominates (the national row of
    # the detection benchmark, 42,868 townships and one week, went from 17 s to 10 s with
    # this).
    # Smaller blocks (arrays of 2 MB instead of 8 MB) were tried: in a fresh process they
    # faulted 5 times more pages (glibc's dynamic mmap and trim thresholds stay low), which
    # cost more than they saved.
    per_u = max(1, min(U, max(_UNITS_PER_BLOCK, _BATCH_ELEMENTS // max(1, n * N))))
    per_t = max(1, _BATCH_ELEMENTS // max(1, per_u * N))
    t_blocks = [(lo, min(n, lo + per_t)) for lo in range(0, n, per_t)]
    u_blocks = [(ulo, min(U, ulo + per_u)) for ulo in range(0, U, per_u)]

    def prepare(tb: int) -> tuple[GroupDesign, GroupDesign]:
        lo, hi = t_blocks[tb]
        return (
            group_design(Xt[lo:hi], valid_row[lo:hi]),
            group_design(np.delete(Xt[lo:hi], 1, axis=2), valid_row[lo:hi]),
        )

    def block(tb: int, ub: int, designs: tuple[GroupDesign, GroupDesign]) -> None:
        """Fit one block of time points x units; it writes only its own slices."""
        lo, hi = t_blocks[tb]
        ulo, uhi = u_blocks[ub]
        m = hi - lo
        k = uhi - ulo
        rows_t = safe[lo:hi]
        # (m, k, N) in C order, as the fits take it (else every array made from it is
        # another non-contiguous layout that the fits copy)
        y = np.ascontiguousarray(np.moveaxis(counts[rows_t, ulo:uhi], 2, 1))
        used = valid_row[lo:hi, None, :] & ~np.isnan(y)
        if lp is not None:
            lpt = np.moveaxis(lp[rows_t, ulo:uhi], 2, 1)
            used &= np.isfinite(lpt)
            off: FloatArray | None = np.where(used, lpt, 0.0)
            off0 = lp[idx[lo:hi], ulo:uhi]
        else:
            off = None
            off0 = np.zeros((m, k))
        y = np.where(used, y, 0.0)
        n_used[lo:hi, ulo:uhi] = used.sum(axis=2)
        res = _fit_problems(designs, x0t[lo:hi], y, used, off, off0, s, tables)
        eta[lo:hi, ulo:uhi] = res.eta.reshape(m, k)
        var[lo:hi, ulo:uhi] = res.var_link.reshape(m, k)
        phi[lo:hi, ulo:uhi] = res.phi.reshape(m, k)
        trend[lo:hi, ulo:uhi] = res.trend.reshape(m, k)
        coef[lo:hi, ulo:uhi] = res.trend_coef.reshape(m, k)
        se_disp[lo:hi, ulo:uhi] = res.se_dispersion.reshape(m, k)
        failed[lo:hi, ulo:uhi] = res.failed.reshape(m, k)

    each_block(t_blocks, u_blocks, prepare, block)
    # Neither paper nor R's help sets a minimum baseline: R fits what there is (an intercept to
    # two values; a window cut by the start of the series), with the model's columns that the
    # baseline cannot identify aliased, and what cannot be estimated (a dispersion on no
    # residual degree of freedom) comes out NaN by itself. Only a baseline without any
    # observed value (missing reports, or a series younger than the windows) has no fit.
    need = 1
    reason = np.zeros((n, U), dtype=np.int8)
    reason[np.isnan(eta) | failed] = Reason.NON_FINITE
    short = n_used < need
    in_series = valid_row.sum(axis=1)  # baseline rows inside the series, per time point
    reason[short] = Reason.MISSING
    reason[short & (in_series < need)[:, None]] = Reason.TOO_SHORT
    reason[:, invalid] = Reason.INVALID_INPUT
    reason[(reason == 0) & np.isnan(panel.counts[idx])] = Reason.MISSING
    model = _Model(
        eta=np.where(short | failed | invalid[None, :], np.nan, eta),
        var_link=var,
        phi=phi,
        trend=trend,
        trend_coef=coef,
        se_dispersion=se_disp,
        failed=failed,
    )
    return model, reason


# --------------------------------------------------------------------------------------------
# Thresholds
# --------------------------------------------------------------------------------------------


def _delta_bound(
    y: FloatArray, mu: FloatArray, se_fit: FloatArray, phi: FloatArray, z: float, power: float
) -> tuple[FloatArray, FloatArray]:
    """Upper bound from the delta method on the ``power`` scale, and the standardised residual
    of ``y`` on that scale (for p-values)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        tau = phi + se_fit**2 / mu
        se = power * mu ** (power - 0.5) * np.sqrt(tau)
        bound = (mu**power + z * se) ** (1.0 / power)
        zy = (y**power - mu**power) / se
    return bound, zy


def _nb_quantile(q: float, mu: FloatArray, phi: FloatArray) -> FloatArray:
    """Negative binomial (mean mu, variance phi*mu) quantile; Poisson where phi == 1. NaN where
    mu is not finite (R: ``qpois(p, Inf)`` is NaN); from 1e15 on (a diverged fit, where scipy's
    search does not return) the normal approximation."""
    out = np.full(mu.shape, np.nan)
    ok = np.isfinite(mu) & np.isfinite(phi) & (mu < _MU_MAX)
    pois = ok & (phi <= 1.0)
    nb = ok & (phi > 1.0)
    out[pois] = _count_quantile(q, mu[pois], np.ones(int(pois.sum())))
    out[nb] = _count_quantile(q, mu[nb], phi[nb])
    big = np.isfinite(mu) & np.isfinite(phi) & (mu >= _MU_MAX)
    # Normal approximation (relative error below 1e-7 there).
    out[big] = np.ceil(mu[big] + stats.norm.ppf(q) * np.sqrt(np.maximum(phi[big], 1.0) * mu[big]))
    return out


def _count_cdf(k: FloatArray, mu: FloatArray, phi: FloatArray) -> FloatArray:
    """P(Y <= k) for whole k >= 0: negative binomial with mean mu and variance phi mu (size
    mu / (phi - 1), probability 1 / phi: the regularised incomplete beta I_p(size, k + 1)), or
    Poisson where phi == 1 (the regularised upper incomplete gamma Q(k + 1, mu))."""
    out = np.empty(mu.shape)
    pois = phi == 1.0
    nb = ~pois
    out[pois] = special.gammaincc(k[pois] + 1.0, mu[pois])
    out[nb] = special.betainc(mu[nb] / (phi[nb] - 1.0), k[nb] + 1.0, 1.0 / phi[nb])
    return out


def _count_quantile(q: float, mu: FloatArray, phi: FloatArray) -> FloatArray:
    """The smallest whole k >= 0 with P(Y <= k) >= q (``_count_cdf``): R's ``qnbinom`` /
    ``qpois``. scipy's ``nbinom.ppf`` finds it by a root search costing a few microseconds a
    point; here a Cornish-Fisher guess is checked with two CDF values and moved one step at a
    time while it is off (rarely more than one step). ``mu`` and ``phi`` finite, ``phi >= 1``
    (1: Poisson); a mean that is not positive is left to scipy (its quantile is 0, or NaN for
    a negative binomial of size 0)."""
    out = np.empty(mu.shape)
    odd = ~(mu > 0.0)
    if odd.any():
        m, f = mu[odd], phi[odd]
        pois = f == 1.0
        out[odd] = np.where(
            pois,
            stats.poisson.ppf(q, m),
            stats.nbinom.ppf(q, m / np.where(pois, 2.0, f - 1.0), 1.0 / f),
        )
    todo = np.flatnonzero(~odd)
    if todo.size == 0:
        return out
    m, f = mu[todo], phi[todo]
    # Cornish-Fisher: mean, sd, skewness (2 - 1/phi) / sqrt(mu / phi) (Poisson: 1 / sqrt(mu))
    z = float(stats.norm.ppf(q))
    sd = np.sqrt(f * m)
    skew = (2.0 - 1.0 / f) / np.sqrt(m / f)
    k = np.maximum(np.floor(m + sd * (z + skew * (z * z - 1.0) / 6.0) + 0.5), 0.0)
    at = _count_cdf(k, m, f) >= q
    below = np.where(k > 0.0, _count_cdf(np.maximum(k - 1.0, 0.0), m, f) >= q, False)
    # k is the answer where F(k) >= q > F(k - 1); else step up while F(k) < q, or down while
    # F(k - 1) >= q.
    up = np.flatnonzero(~at)
    while up.size:
        k[up] += 1.0
        up = up[_count_cdf(k[up], m[up], f[up]) < q]
    down = np.flatnonzero(at & below)
    while down.size:
        k[down] -= 1.0
        more = k[down] > 0.0
        down = down[more]
        down = down[_count_cdf(k[down] - 1.0, m[down], f[down]) >= q]
    out[todo] = k
    return out


def _nb_sf(y: FloatArray, mu: FloatArray, phi: FloatArray) -> FloatArray:
    """P(Y >= y) under the same distribution (NaN where mu is not finite, as R reports)."""
    out = np.full(mu.shape, np.nan)
    ok = np.isfinite(mu) & np.isfinite(phi) & (mu < _MU_MAX) & ~np.isnan(y)
    pois = ok & (phi <= 1.0)
    nb = ok & (phi > 1.0)
    out[pois] = stats.poisson.sf(y[pois] - 1.0, mu[pois])
    size = mu[nb] / (phi[nb] - 1.0)
    out[nb] = stats.nbinom.sf(y[nb] - 1.0, size, 1.0 / phi[nb])
    big = np.isfinite(mu) & np.isfinite(phi) & (mu >= _MU_MAX) & ~np.isnan(y)
    sd = np.sqrt(np.maximum(phi[big], 1.0) * mu[big])
    out[big] = stats.norm.sf((y[big] - 0.5 - mu[big]) / sd)
    return out


def _limit54_met(counts: FloatArray, idx: IntArray, limit54: tuple[int, int]) -> BoolArray:
    """Whether at least ``cases`` were counted in the ``period`` points ending at t."""
    cases, period = limit54
    csum = np.vstack([np.zeros((1, counts.shape[1])), np.cumsum(np.nan_to_num(counts), axis=0)])
    lo = np.maximum(idx + 1 - period, 0)
    total = csum[idx + 1] - csum[lo]
    return np.asarray(total >= cases, dtype=bool)


# --------------------------------------------------------------------------------------------
# Parameter checks and monitored rows
# --------------------------------------------------------------------------------------------


def _integer(name: str, value: Any, low: int) -> int:
    """``value`` as an int >= ``low`` (an integral float is accepted), or a ValueError."""
    ok = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)
    if not ok or not np.isfinite(value) or int(value) != value or value < low:
        raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
    return int(value)


def _real(name: str, value: Any, low: float, high: float) -> float:
    """``value`` as a float in the open interval (low, high), or a ValueError."""
    ok = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)
    if not ok or not low < float(value) < high:
        raise ValueError(f"{name} must be a number in ({low:g}, {high:g}), got {value!r}")
    return float(value)


def _flag(name: str, value: Any) -> bool:
    if isinstance(value, (bool, np.bool_)) or (
        isinstance(value, (int, np.integer)) and value in (0, 1)
    ):
        return bool(value)
    raise ValueError(f"{name} must be True or False, got {value!r}")


def _check_common(
    b: Any, w: Any, alpha: Any, limit54: Any
) -> tuple[int, int, float, tuple[int, int]]:
    """Validated b, w, alpha and limit54 (a ValueError naming the parameter otherwise)."""
    bb = _integer("b", b, 1)
    ww = _integer("w", w, 0)
    a = _real("alpha", alpha, 0.0, 1.0)
    if isinstance(limit54, (str, bytes)) or not hasattr(limit54, "__len__") or len(limit54) != 2:
        raise ValueError(f"limit54 must be (cases, periods), got {limit54!r}")
    lim = (_integer("limit54 cases", limit54[0], 0), _integer("limit54 periods", limit54[1], 1))
    return bb, ww, a, lim


def _empty_result(
    method: str, params: dict[str, Any], panel: Panel, idx: IntArray, extra: tuple[str, ...]
) -> DetectionResult:
    """The result for a panel without units or without monitored rows (nothing to judge)."""
    shape = (idx.size, panel.n_units)
    nan = np.full(shape, np.nan)
    return make_result(
        method,
        params,
        panel,
        idx,
        expected=nan,
        upperbound=nan.copy(),
        alarm=nan.copy(),
        score=nan.copy(),
        extra={k: nan.copy() for k in extra},
    )


def _first_row(panel: Panel, b: int, w: int) -> int:
    """First row with b years plus w points of history."""
    if panel.dates is None:
        return b * panel.freq + w
    # Dated panels: search from the index-based guess.
    guess = max(0, b * panel.freq + w - 3)
    for t in range(guess, panel.n_time):
        ref = _reference_rows(panel, np.array([t], dtype=np.int64), b)
        if ref[0, b] - w >= 0:
            return t
    return panel.n_time


def _monitor(panel: Panel, monitor: Monitor, b: int, w: int) -> IntArray:
    return _resolve(monitor, panel.n_time, _first_row(panel, b, w))


# --------------------------------------------------------------------------------------------
# Public detectors
# --------------------------------------------------------------------------------------------


def farrington_flexible(
    panel: Panel,
    *,
    b: int = 5,
    w: int = 3,
    reweight: bool = True,
    weights_threshold: float = 2.58,
    trend: bool = True,
    p_threshold_trend: float = 0.05,
    alpha: float = 0.05,
    limit54: tuple[int, int] | list[int] = (5, 4),
    power_trans: PowerTrans = "2/3",
    population_offset: bool = False,
    no_periods: int = 1,
    past_weeks_not_included: int | None = None,
    threshold_method: ThresholdMethod = "delta",
    monitor: Monitor = None,
) -> DetectionResult:
    """Flexible Farrington (R ``farringtonFlexible``) over every column of ``panel``.

    Defaults are R's. Noufaily et al.'s recommended settings are ``weights_threshold=2.58``,
    ``power_trans="none"``, ``threshold_method="nbPlugin"``, ``no_periods=10``,
    ``past_weeks_not_included=26`` for weekly data.

    Args:
        b, w: years back and half-width of the window around each reference point.
        reweight, weights_threshold: down-weight baseline points whose standardised Anscombe
            residual exceeds the threshold.
        trend, p_threshold_trend: fit a linear trend (only with b >= 3) and keep it when its
            p-value is below the threshold and the prediction does not exceed the largest
            baseline count.
        alpha: one-sided level of the bound.
        limit54: (cases, periods): no bound (``NaN``) and no alarm when fewer cases were seen
            in the last ``periods`` points (t included).
        power_trans: power for the delta-method bound (``"2/3"``, ``"1/2"``, ``"none"``).
        population_offset: log(population) as offset (needs ``panel.population``).
        no_periods: levels of the seasonal factor; > 1 uses every past point, not only the
            windows.
        past_weeks_not_included: with ``no_periods > 1``, points just before t left out of
            the fit (default ``w``).
        threshold_method: ``"delta"`` (Farrington's power-transformed normal bound),
            ``"nbPlugin"`` (negative binomial quantile with the fitted mean and dispersion) or
            ``"muan"`` (the same with the upper 1-alpha limit of the mean plugged in).
        monitor: 0-based rows to judge; default every row with b years plus w points of history.

    Returns ``extra``: ``pvalue``, ``mu0``, ``phi``, ``trend`` (1/0), ``trend_coef``.
    """
    b, w, alpha, limit54 = _check_common(b, w, alpha, limit54)
    if power_trans not in _POWERS:
        raise ValueError(f"power_trans must be '2/3', '1/2' or 'none', got {power_trans!r}")
    if threshold_method not in ("delta", "nbPlugin", "muan"):
        raise ValueError(
            f"threshold_method must be 'delta', 'nbPlugin' or 'muan', got {threshold_method!r}"
        )
    n_periods = _integer("no_periods", no_periods, 1)
    past = w if past_weeks_not_included is None else past_weeks_not_included
    past = _integer("past_weeks_not_included", past, 0)
    s = _Settings(
        b=b,
        w=w,
        reweight=_flag("reweight", reweight),
        weights_threshold=_real("weights_threshold", weights_threshold, 0.0, np.inf),
        trend=_flag("trend", trend),
        p_threshold_trend=_real("p_threshold_trend", p_threshold_trend, 0.0, 1.0),
        population_offset=_flag("population_offset", population_offset),
        no_periods=n_periods,
        past_weeks_not_included=past,
        working_residual_se=True,
    )
    idx = _monitor(panel, monitor, s.b, s.w)
    params: dict[str, Any] = {
        "b": s.b,
        "w": s.w,
        "reweight": s.reweight,
        "weights_threshold": s.weights_threshold,
        "trend": s.trend,
        "p_threshold_trend": s.p_threshold_trend,
        "alpha": alpha,
        "limit54": list(limit54),
        "power_trans": power_trans,
        "population_offset": s.population_offset,
        "no_periods": s.no_periods,
        "past_weeks_not_included": s.past_weeks_not_included,
        "threshold_method": threshold_method,
        "monitor": monitor_param(idx),
    }
    if s.population_offset and panel.population is None:
        raise ValueError("population_offset=True needs a panel with population")
    if idx.size == 0 or panel.n_units == 0:
        extra = ("pvalue", "mu0", "phi", "trend", "trend_coef")
        return _empty_result("farrington-flexible", params, panel, idx, extra)
    model, reason = _run_models(panel, idx, s, flexible=True)
    y = panel.counts[idx]
    z = float(stats.norm.ppf(1.0 - alpha))
    mu = np.exp(model.eta)
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        # The standard error of the predicted mean (delta method), with the covariance scaled
        # as in the trend test (see ``_fit_problems``).
        se_fit = mu * np.sqrt(model.se_dispersion * model.var_link)
    if threshold_method == "delta":
        bound, zy = _delta_bound(y, mu, se_fit, model.phi, z, _POWERS[power_trans])
        pvalue = stats.norm.sf(zy)
        with np.errstate(over="ignore"):
            mu0 = np.exp(mu + z * se_fit)
        with np.errstate(divide="ignore", invalid="ignore"):
            score = (y - mu) / (bound - mu)
    else:
        if threshold_method == "nbPlugin":
            plug = mu
        else:
            # The upper 1 - alpha limit of the mean, from the same standard error as the
            # delta bound's.
            with np.errstate(over="ignore", invalid="ignore"):
                plug = np.exp(model.eta + z * np.sqrt(model.se_dispersion * model.var_link))
        bound = _nb_quantile(1.0 - alpha, plug, model.phi)
        pvalue = _nb_sf(y, plug, model.phi)
        mu0 = plug  # R reports the mean that was plugged in
        # As R: the score uses the log-scale prediction.
        with np.errstate(divide="ignore", invalid="ignore"):
            score = (y - model.eta) / (bound - model.eta)
    met = _limit54_met(panel.counts, idx, limit54)
    upper = np.where(met, bound, np.nan)
    expected = np.where(met, mu, np.nan)
    with np.errstate(invalid="ignore"):
        alarm = ((score > 1.0) & (y != 0) & met).astype(np.float64)
    alarm[np.isnan(y)] = np.nan
    trend_flag = model.trend.astype(np.float64)
    no_fit = np.isnan(model.eta)
    for arr in (upper, expected, alarm, score, pvalue, mu0, trend_flag):
        arr[no_fit] = np.nan
    phi = np.where(no_fit, np.nan, model.phi)
    return make_result(
        "farrington-flexible",
        params,
        panel,
        idx,
        expected=expected,
        upperbound=upper,
        alarm=alarm,
        score=score,
        extra={
            "pvalue": pvalue,
            "mu0": mu0,
            "phi": phi,
            "trend": trend_flag,
            "trend_coef": np.where(no_fit, np.nan, model.trend_coef),
        },
        reason=reason,
    )


def farrington(
    panel: Panel,
    *,
    b: int = 5,
    w: int = 3,
    reweight: bool = True,
    alpha: float = 0.05,
    trend: bool = True,
    limit54: tuple[int, int] | list[int] = (5, 4),
    power_trans: PowerTrans = "2/3",
    monitor: Monitor = None,
) -> DetectionResult:
    """Classic Farrington (R ``algo.farrington``) over every column of ``panel``.

    Windows of ``2w+1`` points around the reference points 1..b years back (reference points
    before the start of the series are dropped), reweighting threshold 1, trend test at 5%,
    two-sided ``z(1-alpha/2)`` in the bound. When fewer than ``limit54[0]`` cases were seen in
    the last ``limit54[1]`` points the bound is 0 and there is no alarm.

    ``expected`` is the predicted mean; ``score`` = (y - mu)/(bound - mu); ``extra``: ``trend``
    (1/0), ``q`` (lower-tail probability of y on the transformed scale), ``median_threshold``
    (the predicted mean, as R reports it).
    """
    b, w, alpha, limit54 = _check_common(b, w, alpha, limit54)
    if power_trans not in _POWERS:
        raise ValueError(f"power_trans must be '2/3', '1/2' or 'none', got {power_trans!r}")
    s = _Settings(
        b=b,
        w=w,
        reweight=_flag("reweight", reweight),
        weights_threshold=1.0,
        trend=_flag("trend", trend),
        p_threshold_trend=0.05,
        population_offset=False,
        no_periods=1,
        past_weeks_not_included=w,
    )
    idx = _monitor(panel, monitor, s.b, s.w)
    params: dict[str, Any] = {
        "b": s.b,
        "w": s.w,
        "reweight": s.reweight,
        "alpha": alpha,
        "trend": s.trend,
        "limit54": list(limit54),
        "power_trans": power_trans,
        "monitor": monitor_param(idx),
    }
    if idx.size == 0 or panel.n_units == 0:
        return _empty_result("farrington", params, panel, idx, ("trend", "q", "median_threshold"))
    model, reason = _run_models(panel, idx, s, flexible=False)
    y = panel.counts[idx]
    z = float(stats.norm.ppf(1.0 - alpha / 2.0))
    mu = np.exp(model.eta)
    with np.errstate(over="ignore", invalid="ignore"):
        se_fit = mu * np.sqrt(model.phi * model.var_link)
    bound, zy = _delta_bound(y, mu, se_fit, model.phi, z, _POWERS[power_trans])
    met = _limit54_met(panel.counts, idx, limit54)
    upper = np.where(met, bound, 0.0)
    upper[np.isnan(bound)] = np.nan
    with np.errstate(divide="ignore", invalid="ignore"):
        score = (y - mu) / (bound - mu)
        alarm = ((y > upper) & met).astype(np.float64)
    alarm[np.isnan(y) | np.isnan(upper)] = np.nan
    trend_flag = np.where(np.isnan(model.eta), np.nan, model.trend.astype(np.float64))
    return make_result(
        "farrington",
        params,
        panel,
        idx,
        expected=mu,
        upperbound=upper,
        alarm=alarm,
        score=score,
        extra={
            "trend": trend_flag,
            "q": stats.norm.cdf(zy),
            "median_threshold": mu,
        },
        reason=reason,
    )
