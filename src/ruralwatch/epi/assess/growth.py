"""Exponential growth rate r and doubling/halving time from a quasi-Poisson log-linear fit.

Over a recent window of W days the daily counts of each unit are modelled as

    y_t ~ quasi-Poisson,  log E[y_t] = a + r * t + sum_k d_k * [weekday(t) == k],

with six day-of-week dummies when the window is at least 14 days long (two full weeks, so that
every weekday occurs at least twice) and none otherwise. The slope ``r`` is the exponential
growth rate per day; ``log(2) / r`` is the doubling time (r > 0) or, with ``-r``, the halving
time (r < 0) (Wallinga & Lipsitch 2007).

The model is fitted by iteratively reweighted least squares (IRLS), batched over all units of a
time × unit panel. ``NaN`` marks a missing report; such rows get weight 0 for that unit only.
The dispersion is ``max(1, X2 / (n - p))`` with the Pearson statistic X2, n the number of used
rows and p the number of estimable coefficients; the interval on r is a Wald interval with
Student t quantiles on n - p degrees of freedom.

Right truncation: reports for the most recent days are still incomplete (late reports are added
on the following days), which biases the slope downwards. The last ``delay`` days before the
as-of index ``end`` are therefore left out: the window covers the rows
``end - delay - window + 1 .. end - delay`` (inclusive, 0-based).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import stats

from ruralwatch.epi.irls import Control, SharedDesign, irls, weighted_gram
from ruralwatch.epi.linalg import solve_each
from ruralwatch.epi.panel import FloatArray

__all__ = ["GrowthResult", "growth_rate", "poisson_irls"]

IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]
StrArray = npt.NDArray[np.str_]

LN2 = math.log(2.0)
#: A fitted daily mean below this on a day used by the fit marks a separated fit (no finite r).
SEPARATED_MEAN = 1e-6


@dataclass(frozen=True)
class GrowthResult:
    """Growth rate per unit (arrays of shape (U,)).

    Attributes:
        r, r_low, r_high: growth rate per day and its confidence interval; ``NaN`` where the unit
            has too few usable rows in the window or no positive count.
        doubling_time, doubling_low, doubling_high: ``log(2) / r`` with the interval
            ``[log(2) / r_high, log(2) / r_low]``; ``inf`` where the rate (or bound) is <= 0, so
            the upper bound is ``inf`` when the interval on r contains 0.
        halving_time, halving_low, halving_high: ``log(2) / -r`` with the interval
            ``[log(2) / -r_low, log(2) / -r_high]``; ``inf`` where the rate (or bound) is >= 0.
        se: standard error of r (dispersion included).
        dispersion: quasi-Poisson dispersion ``max(1, Pearson X2 / (n - p))``.
        n_used: rows of the window with a value; ``df``: n_used - p.
        converged: IRLS reached the tolerance.
        status: "growing" (r_low > 0), "declining" (r_high < 0), "flat", or "insufficient".
        window_start, window_end: 0-based inclusive rows of the fitting window.
        end: as-of row; ``window_end = end - delay``.
        window, delay, level, day_of_week: the parameters used.
    """

    r: FloatArray
    r_low: FloatArray
    r_high: FloatArray
    se: FloatArray
    doubling_time: FloatArray
    doubling_low: FloatArray
    doubling_high: FloatArray
    halving_time: FloatArray
    halving_low: FloatArray
    halving_high: FloatArray
    dispersion: FloatArray
    n_used: IntArray
    df: IntArray
    converged: BoolArray
    status: StrArray
    window_start: int
    window_end: int
    end: int
    window: int
    delay: int
    level: float
    day_of_week: bool


def _design(start: int, window: int, day_of_week: bool) -> FloatArray:
    """Intercept, centred time and (optionally) six weekday dummies for rows start..start+W-1."""
    rows = np.arange(start, start + window)
    t = np.arange(window, dtype=np.float64)
    cols = [np.ones(window), t - t.mean()]
    if day_of_week:
        # Weekday classes from the absolute row index so every window uses the same coding;
        # class of the first row of the panel (row 0) is the reference.
        wd = rows % 7
        cols.extend((wd == k).astype(np.float64) for k in range(1, 7))
    return np.column_stack(cols)


def _time_to_double(rate: FloatArray) -> FloatArray:
    """``log(2) / rate`` where rate > 0, ``inf`` where rate <= 0, ``NaN`` kept."""
    out = np.full(rate.shape, np.inf)
    pos = rate > 0
    out[pos] = LN2 / rate[pos]
    out[np.isnan(rate)] = np.nan
    return out


def poisson_irls(
    y: FloatArray,
    wt: FloatArray,
    X: FloatArray,
    *,
    ridge: FloatArray | None = None,
    fit: BoolArray | None = None,
    max_iter: int = 100,
    tol: float = 1e-8,
) -> tuple[FloatArray, FloatArray, BoolArray, BoolArray]:
    """Poisson log-link IRLS with prior weights for every column of ``y`` (W, U) at once.

    The one IRLS (:func:`ruralwatch.epi.irls.irls`): ``ridge`` (U, p) is added to the
    diagonal of X'WX (1 pins an unusable column at 0); only the columns ``fit`` (default all)
    are fitted. Each unit stops when the relative change of its deviance is below ``tol`` (R's
    rule), so a few slow ones do not cost the whole batch. Starts from mu = y + 0.5 (1 on rows
    of weight 0); the linear predictor is clipped to +-700. Returns the coefficients (U, p),
    the fitted means (W, U) and, per unit, whether it converged and whether it diverged
    (non-finite coefficients or deviance: coefficients set 0, means 1).
    """
    U = y.shape[1]
    p = X.shape[1]
    mu0 = np.where(wt > 0, y + 0.5, 1.0)
    beta = np.zeros((U, p))
    mu = mu0.copy()
    converged = np.zeros(U, dtype=bool)
    diverged = np.zeros(U, dtype=bool)
    idx = np.arange(U) if fit is None else np.flatnonzero(fit)
    if idx.size == 0:
        return beta, mu, converged, diverged
    res = irls(
        y[:, idx].T,
        wt[:, idx].T,
        SharedDesign(X, None if ridge is None else ridge[idx]),
        control=Control(tol=tol, max_iter=max_iter, eta_clip=700.0),
        mu0=mu0[:, idx].T,
    )
    failed = res.failed
    beta[idx] = np.where(failed[:, None], 0.0, res.coef)
    mu[:, idx] = np.where(failed[None, :], 1.0, res.mu.T)
    converged[idx] = res.converged
    diverged[idx] = failed
    return beta, mu, converged, diverged


def _drop_zero_weekdays(
    X: FloatArray, y: FloatArray, wt: FloatArray, ridge: FloatArray, start: int
) -> tuple[FloatArray, FloatArray]:
    """Fitting weights and ridge with the weekdays that have no case left out.

    When every reported day of a weekday has count 0, that weekday's coefficient goes to minus
    infinity and IRLS creeps towards the limit for many iterations. The limit is known: those
    days end with mean 0 and add nothing to the likelihood, the score, the information or the
    Pearson statistic, so they are left out of the fit from the start and their column pinned
    at 0. When that weekday is the reference one (absorbed in the intercept), the first
    remaining weekday becomes the reference. The degrees of freedom still count them, as a
    fit iterated to the limit would.
    """
    rows = np.arange(start, start + X.shape[0]) % 7
    onehot = (rows[:, None] == np.arange(7)[None, :]).astype(np.float64)  # (W, 7)
    n_k = wt.T @ onehot  # (U, 7) reported days per weekday
    s_k = (wt * y).T @ onehot  # cases per weekday
    zero = (n_k > 0) & (s_k == 0) & (s_k.sum(axis=1, keepdims=True) > 0)
    if not zero.any():
        return wt, ridge
    fit_wt = wt * ~zero[:, rows].T
    ridge = ridge.copy()
    ridge[:, 2:] = np.maximum(ridge[:, 2:], zero[:, 1:])
    # reference weekday dropped: pin the dummy of the first weekday that is still fitted
    left = (n_k > 0) & ~zero
    left[:, 0] = False
    first = np.argmax(left, axis=1)
    move = zero[:, 0] & left.any(axis=1)
    ridge[np.flatnonzero(move), 1 + first[move]] = 1.0
    return fit_wt, ridge


def growth_rate(
    counts: npt.ArrayLike,
    *,
    window: int = 14,
    delay: int = 2,
    end: int | None = None,
    level: float = 0.95,
    day_of_week: bool | None = None,
    max_iter: int = 100,
    tol: float = 1e-8,
) -> GrowthResult:
    """Estimate the exponential growth rate of every unit over a recent window.

    Args:
        counts: (T,) or (T, U) non-negative daily counts; ``NaN`` = missing report.
        window: number of days fitted.
        delay: most recent days left out because their reports are still incomplete.
        end: as-of row (0-based, may be negative as in Python indexing); default the last row.
            The window ends at ``end - delay``.
        level: confidence level of the intervals.
        day_of_week: fit six weekday dummies; default ``window >= 14``.
        max_iter, tol: IRLS limits (relative change of the deviance).

    Returns:
        A :class:`GrowthResult` with one entry per unit (length 1 for a 1-D input).
    """
    y_all = np.asarray(counts, dtype=np.float64)
    if y_all.ndim == 1:
        y_all = y_all[:, None]
    if y_all.ndim != 2:
        raise ValueError("counts must be 1-D (time) or 2-D (time × unit)")
    if window < 3:
        raise ValueError("window must be at least 3 days")
    if delay < 0:
        raise ValueError("delay must be >= 0")
    if not 0.0 < level < 1.0:
        raise ValueError("level must be in (0, 1)")
    if np.any(y_all < 0):  # NaN compares False
        raise ValueError("counts must be non-negative")
    T, U = y_all.shape
    if end is None:
        end = T - 1
    if end < 0:
        end += T
    if not 0 <= end < T:
        raise ValueError(f"end {end} outside 0..{T - 1}")
    w_end = end - delay
    w_start = w_end - window + 1
    if w_start < 0:
        raise ValueError(
            f"window of {window} days ending {delay} days before row {end} starts before row 0"
        )
    if day_of_week is None:
        day_of_week = window >= 14

    X = _design(w_start, window, day_of_week)  # (W, p)
    p_full = X.shape[1]
    y = y_all[w_start : w_end + 1]  # (W, U)
    present = ~np.isnan(y)
    wt = present.astype(np.float64)  # prior weights (W, U)
    y = np.where(present, y, 0.0)

    # Columns with no used row for a unit (a weekday never reported) are not estimable: pin
    # their coefficient to 0 with a unit ridge on the diagonal and do not count them in p.
    col_used = (wt.T @ (X != 0).astype(np.float64)) > 0  # (U, p)
    ridge = (~col_used).astype(np.float64)
    p = col_used.sum(axis=1)
    n_used = present.sum(axis=0)
    total = y.sum(axis=0)
    ok = (n_used > p) & (total > 0) & col_used[:, 1]
    fit_wt, ridge = _drop_zero_weekdays(X, y, wt, ridge, w_start) if day_of_week else (wt, ridge)
    # Fewer rows left with cases than free coefficients: the slope cannot be estimated.
    ok &= (fit_wt > 0).sum(axis=0) >= p_full - ridge.sum(axis=1)
    # Units that cannot be fitted are replaced by a harmless constant series (masked below).
    wt = np.where(ok, wt, 1.0)
    fit_wt = np.where(ok, fit_wt, 1.0)
    y = np.where(ok, y, 1.0)
    ridge = np.where(ok[:, None], ridge, 0.0)

    beta, mu, converged, diverged = poisson_irls(
        y, fit_wt, X, ridge=ridge, fit=ok, max_iter=max_iter, tol=tol
    )
    ok &= ~diverged
    # Separation along time: the fit runs towards a fitted mean of 0 on a day it uses, and r
    # has no finite estimate.
    ok &= ~((fit_wt > 0) & (mu < SEPARATED_MEAN)).any(axis=0)
    eye = np.eye(p_full)

    w = fit_wt * mu
    xtwx = weighted_gram(w, X) + ridge[:, :, None] * eye
    finite: npt.NDArray[np.bool_] = np.asarray(np.isfinite(xtwx).all(axis=(1, 2)))
    xtwx = np.where(finite[:, None, None], xtwx, eye)
    # A singular X'WX (a fit that ran off towards separation) gives no interval: such units
    # are reported as insufficient rather than given a meaningless one.
    ok &= np.linalg.slogdet(xtwx)[0] != 0
    cov_unscaled = solve_each(xtwx, np.broadcast_to(eye, xtwx.shape).copy())
    df = n_used - p
    with np.errstate(divide="ignore", invalid="ignore"):
        pearson = np.sum(fit_wt * (y - mu) ** 2 / mu, axis=0)
        dispersion = np.maximum(1.0, pearson / df)
    se = np.sqrt(dispersion * cov_unscaled[:, 1, 1])
    tq = stats.t.ppf(0.5 + level / 2.0, np.maximum(df, 1))
    r = beta[:, 1].copy()
    nan = ~ok
    r[nan] = np.nan
    se[nan] = np.nan
    dispersion = np.where(nan, np.nan, dispersion)
    r_low = r - tq * se
    r_high = r + tq * se

    status = np.full(U, "flat", dtype="<U12")
    status[r_low > 0] = "growing"
    status[r_high < 0] = "declining"
    status[nan] = "insufficient"

    return GrowthResult(
        r=r,
        r_low=r_low,
        r_high=r_high,
        se=se,
        doubling_time=_time_to_double(r),
        doubling_low=_time_to_double(r_high),
        doubling_high=_time_to_double(r_low),
        halving_time=_time_to_double(-r),
        halving_low=_time_to_double(-r_low),
        halving_high=_time_to_double(-r_high),
        dispersion=dispersion,
        n_used=n_used.astype(np.int64),
        df=df.astype(np.int64),
        converged=converged & ok,
        status=status,
        window_start=w_start,
        window_end=w_end,
        end=end,
        window=window,
        delay=delay,
        level=level,
        day_of_week=day_of_week,
    )
