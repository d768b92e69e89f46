"""Rebound watch after gatherings and mass travel: a new peak against the pre-event projection.

For an event starting at row ``s`` (a festival, a holiday, see :mod:`.calendar`), every unit of a
(T × U) panel is tested in one batch:

1. **Pre-event trend.** A quasi-Poisson log-linear model ``log E[y_t] = a + r·(t − t̄)`` is
   fitted to the ``pre_window`` days ``s − pre_window .. s − 1`` by IRLS, with Farrington's
   reweighting (Farrington et al. 1996): after a first fit, days with an Anscombe residual
   above 1 get weight ``residual⁻²`` (weights rescaled to sum to n) and the model is refitted, so
   a typo (a value ×10) or a single cluster does not bend the trend. Dispersion
   ``φ = max(1, Σ w (y − μ)² / μ / (n − 2))``; covariance ``φ (XᵀWX)⁻¹``.
   With fewer than ``min_pre_cases`` cases before the event the trend cannot be estimated; the
   projection is then flat at ``(total + 0.5) / n`` per day with log-variance ``1/(total+0.5)``.
2. **Projection.** For each watched day d (``s .. s + watch_days − 1``, at most ``end − delay``)
   the projected 7-day sum ``Ŝ_d = Σ_{j=d−6..d} μ̂_j`` and its log-variance by the delta method
   ``v_d = gᵀ Cov g``, ``g = Σ μ̂_j x_j / Ŝ_d`` (parameter uncertainty, which grows with the
   distance from the pre-event window).
3. **Prediction bound.** Overdispersion and parameter uncertainty combined on the 2/3-power
   scale (Farrington et al. 1996): ``U_d = Ŝ_d (1 + (2/3)·z·√(φ/Ŝ_d + v_d))^{3/2}`` with
   ``z = Φ⁻¹(level)`` (one-sided).
4. **Local growth after the event.** :func:`growth.growth_rate` on the ``growth_window`` days
   ending at d, all on or after ``s`` (no weekday terms), at confidence ``growth_level``.
5. **Rebound.** Detected when, on some watched day, the observed 7-day sum exceeds ``U_d`` *and*
   the growth rate's lower bound is above 0. ``first_index`` is the first such day;
   ``onset_index`` the first day of the run of consecutive exceedances that contains it (the
   "new peak from DATE"). Missing reports (NaN) count as 0 in observed sums, which can only
   hide a rebound, never invent one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import stats

from ruralwatch.epi.assess.calendar import Event
from ruralwatch.epi.assess.growth import growth_rate, poisson_irls
from ruralwatch.epi.irls import weighted_gram
from ruralwatch.epi.panel import FloatArray

__all__ = ["ReboundResult", "fit_loglinear", "rebound_after_event", "rebound_watch"]

IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]
StrArray = npt.NDArray[np.str_]
DateArray = npt.NDArray[np.datetime64]


@dataclass(frozen=True)
class LogLinearFit:
    """Batched quasi-Poisson log-linear fit (intercept + slope) on rows ``start..stop-1``."""

    beta: FloatArray  # (U, 2): a at the window centre, r per row
    cov: FloatArray  # (U, 2, 2), dispersion included
    dispersion: FloatArray  # (U,)
    centre: float  # t̄ (absolute row)
    total: FloatArray  # (U,) cases in the window
    n_used: IntArray  # (U,)
    ok: BoolArray  # (U,) a trend was estimated (else flat projection)
    start: int
    stop: int


def _irls(
    y: FloatArray, wt: FloatArray, X: FloatArray, fit: BoolArray
) -> tuple[FloatArray, FloatArray]:
    """Poisson-log IRLS with prior weights, batched over the columns ``fit`` of y (the others
    keep beta 0 and their starting means). Returns (beta, mu)."""
    ridge = np.full((y.shape[1], X.shape[1]), 1e-12)
    beta, mu, _, _ = poisson_irls(y, wt, X, ridge=ridge, fit=fit, max_iter=50, tol=1e-10)
    return beta, mu


def fit_loglinear(
    counts: npt.ArrayLike,
    start: int,
    stop: int,
    *,
    robust: bool = True,
    min_cases: float = 10.0,
) -> LogLinearFit:
    """Fit ``log E[y_t] = a + r (t − t̄)`` on rows ``start..stop−1`` of every unit.

    ``robust`` applies Farrington's reweighting once. Units with fewer than ``min_cases`` cases
    (or fewer than 3 observed rows) get ``ok = False`` and a flat fit at ``(total + 0.5) / n``.
    """
    y_all = np.asarray(counts, dtype=np.float64)
    if y_all.ndim == 1:
        y_all = y_all[:, None]
    if not 0 <= start < stop <= y_all.shape[0]:
        raise ValueError("need 0 <= start < stop <= T")
    y = y_all[start:stop]
    present = np.isfinite(y)
    wt = present.astype(np.float64)
    y = np.where(present, y, 0.0)
    rows = np.arange(start, stop, dtype=np.float64)
    centre = float(rows.mean())
    X = np.column_stack([np.ones(rows.size), rows - centre])
    n_used = present.sum(axis=0)
    total = y.sum(axis=0)
    ok = (total >= min_cases) & (n_used >= 3)
    # Units that cannot be fitted get a harmless series, and are not fitted: their results
    # are replaced below. Each fitted unit's IRLS is its own (it stops on its own rule), so
    # leaving them out changes no one else's numbers; on 河南's panel most villages have
    # fewer than ``min_cases`` before the event, and fitting them anyway was most of the
    # assessment's judging time.
    y_fit = np.where(ok, y, 1.0)
    wt = np.where(ok, wt, 1.0)
    beta, mu = _irls(y_fit, wt, X, ok)
    p = X.shape[1]
    df = np.maximum(n_used - p, 1)
    # The reweighting's powers and the covariances' inverses only for the fitted units (the
    # others' are replaced below): on 河南's panel, with most villages not fitted, the powers
    # of every unit's pre-event days were most of the fit's time. The sums stay over the whole
    # arrays (summed column by column), so each fitted unit gets the same numbers.
    fitted = np.flatnonzero(ok)
    if robust:
        phi0 = np.maximum(1.0, np.sum(wt * (y_fit - mu) ** 2 / mu, axis=0) / df)
        y_ok, mu_ok = y_fit[:, fitted], mu[:, fitted]
        anscombe = (
            1.5 * (y_ok ** (2 / 3) - mu_ok ** (2 / 3)) / (np.sqrt(phi0[fitted]) * mu_ok ** (1 / 6))
        )
        rw = wt.copy()  # the units not fitted keep their weights: they are not fitted again
        rw[:, fitted] = np.maximum(anscombe, 1.0) ** -2.0 * wt[:, fitted]
        s = rw.sum(axis=0)
        rw = rw * np.where(s > 0, wt.sum(axis=0) / s, 1.0)
        wt = rw
        beta, mu = _irls(y_fit, wt, X, ok)
    phi = np.maximum(1.0, np.sum(wt * (y_fit - mu) ** 2 / mu, axis=0) / df)
    # The fitted units' information matrices only: the product's rows are summed by the BLAS
    # kernel its shape selects, so over every unit a fitted unit's matrix could differ in the
    # last bit from its own fit's (seen with OpenBLAS's Haswell kernels).
    xtwx = weighted_gram((wt * mu)[:, fitted], X)
    # Flat fallback: mean (total + 0.5) / n, Poisson variance of its log, slope fixed at 0.
    flat_mean = (total + 0.5) / np.maximum(n_used, 1)
    beta = np.where(ok[:, None], beta, np.column_stack([np.log(flat_mean), np.zeros_like(total)]))
    cov = np.zeros((y.shape[1], 2, 2))
    cov[:, 0, 0] = 1.0 / (total + 0.5)
    cov[fitted] = np.linalg.inv(xtwx) * phi[fitted, None, None]
    phi = np.where(ok, phi, 1.0)
    return LogLinearFit(
        beta=beta,
        cov=cov,
        dispersion=phi,
        centre=centre,
        total=total,
        n_used=n_used.astype(np.int64),
        ok=ok,
        start=start,
        stop=stop,
    )


@dataclass(frozen=True)
class ReboundResult:
    """Rebound watch for every unit (U) over the watched days (D).

    Attributes:
        detected: (U,) a rebound was detected.
        first_index, onset_index: (U,) rows of the first detection day and of the start of its
            run of exceedances ("new peak from"); -1 when not detected.
        first_date, onset_date: (U,) the same as dates (NaT when not detected or no dates).
        outcome: (U,) ``"new_peak"``, ``"no_new_peak"`` or ``"not_evaluable"`` (no watched day
            is complete yet).
        watch_rows: (D,) rows watched; observed, projected, upper: (D, U) 7-day sums;
            exceed, growing: (D, U); growth_r, growth_low, growth_high: (D, U), fitted only
            where the sum exceeds the bound (elsewhere the test cannot fire; NaN), and NaN
            where the growth window does not fit after the event yet.
        observed_at, projected_at, upper_at: (U,) values on the first detection day, or on the
            last watched day when nothing was detected.
        pre_r, pre_r_low, pre_r_high, pre_dispersion, pre_total: (U,) the pre-event trend;
            pre_trend_ok: (U,) False where the projection is flat (too few cases).
        event: the event (if given), start_row, params: parameters used.
    """

    detected: BoolArray
    first_index: IntArray
    onset_index: IntArray
    first_date: DateArray
    onset_date: DateArray
    outcome: StrArray
    watch_rows: IntArray
    observed: FloatArray
    projected: FloatArray
    upper: FloatArray
    exceed: BoolArray
    growing: BoolArray
    growth_r: FloatArray
    growth_low: FloatArray
    growth_high: FloatArray
    observed_at: FloatArray
    projected_at: FloatArray
    upper_at: FloatArray
    pre_r: FloatArray
    pre_r_low: FloatArray
    pre_r_high: FloatArray
    pre_dispersion: FloatArray
    pre_total: FloatArray
    pre_trend_ok: BoolArray
    start_row: int
    event: Event | None = None
    params: dict[str, Any] = field(default_factory=dict)


def rebound_watch(
    counts: npt.ArrayLike,
    start: int,
    *,
    end: int | None = None,
    dates: npt.ArrayLike | None = None,
    event: Event | None = None,
    pre_window: int = 21,
    watch_days: int = 28,
    delay: int = 2,
    sum_days: int = 7,
    growth_window: int = 10,
    level: float = 0.975,
    growth_level: float = 0.95,
    min_pre_cases: float = 10.0,
    robust: bool = True,
) -> ReboundResult:
    """Test every unit for a rebound after an event starting at row ``start``.

    Args:
        counts: (T,) or (T, U) daily counts; NaN = missing report.
        start: row of the event's first day (0-based).
        end: as-of row (default the last); days after ``end − delay`` are not watched.
        dates: optional (T,) dates, to fill ``first_date`` / ``onset_date``.
        event: the event, recorded in the result.
        pre_window: days before ``start`` used for the trend (shortened to the rows available,
            at least 7).
        watch_days: days watched from ``start``.
        delay: most recent days left out (incomplete reports).
        sum_days: length of the compared sums (7: weekly sums, free of weekday effects).
        growth_window: days of the post-event growth-rate fit.
        level: one-sided level of the upper prediction bound.
        growth_level: confidence level of the growth-rate interval.
        min_pre_cases: fewer cases before the event give a flat projection.
        robust: Farrington reweighting of the pre-event fit.
    """
    y = np.asarray(counts, dtype=np.float64)
    if y.ndim == 1:
        y = y[:, None]
    T, U = y.shape
    e = T - 1 if end is None else (end + T if end < 0 else end)
    if not 0 <= e < T:
        raise ValueError(f"end {end} outside 0..{T - 1}")
    pre_start = max(0, start - pre_window)
    if start - pre_start < 7:
        raise ValueError("at least 7 days before the event are needed for the pre-event trend")
    if growth_window < 3:
        raise ValueError("growth_window must be at least 3")
    if not 0.5 < level < 1.0:
        raise ValueError("level must be in (0.5, 1)")
    fit = fit_loglinear(y, pre_start, start, robust=robust, min_cases=min_pre_cases)

    last = min(start + watch_days - 1, e - delay)
    watch_rows = np.arange(start, last + 1, dtype=np.int64)
    D = watch_rows.size
    z = float(stats.norm.ppf(level))

    # Projection of the sum over rows d - sum_days + 1 .. d for every watched day d.
    j = watch_rows[:, None] - np.arange(sum_days)[None, :]  # (D, K)
    x1 = (j - fit.centre).astype(np.float64)  # (D, K)
    mu = np.exp(fit.beta[None, None, :, 0] + x1[:, :, None] * fit.beta[None, None, :, 1])
    s_hat = mu.sum(axis=1)  # (D, U)
    g0 = np.ones_like(s_hat)
    g1 = (mu * x1[:, :, None]).sum(axis=1) / s_hat
    c = fit.cov
    v = g0 * g0 * c[None, :, 0, 0] + 2 * g0 * g1 * c[None, :, 0, 1] + g1 * g1 * c[None, :, 1, 1]
    phi = fit.dispersion[None, :]
    upper = s_hat * (1.0 + (2.0 / 3.0) * z * np.sqrt(phi / s_hat + v)) ** 1.5

    # Running sums of the rows up to the last watched (the later rows are never read), written
    # straight after a row of zeros: the same sums as stacking the zeros on the cumsum of the
    # whole panel, without its copy and the panel-sized temporaries (a province's (91, 53,412)).
    rows = max(last + 1, 0)
    csum = np.empty((rows + 1, U))
    csum[0] = 0.0
    np.cumsum(np.nan_to_num(y[:rows]), axis=0, out=csum[1:])
    lo = np.maximum(watch_rows - sum_days + 1, 0)
    observed = csum[watch_rows + 1] - csum[lo]
    exceed = observed > upper

    g_r = np.full((D, U), np.nan)
    g_lo = np.full((D, U), np.nan)
    g_hi = np.full((D, U), np.nan)
    for k, d in enumerate(watch_rows):
        cols = np.flatnonzero(exceed[k])
        if d - growth_window + 1 < start or cols.size == 0:
            continue
        g = growth_rate(
            y[:, cols],
            window=growth_window,
            delay=0,
            end=int(d),
            level=growth_level,
            day_of_week=False,
        )
        g_r[k, cols], g_lo[k, cols], g_hi[k, cols] = g.r, g.r_low, g.r_high
    growing = np.nan_to_num(g_lo, nan=-np.inf) > 0
    hit = exceed & growing
    detected = hit.any(axis=0)
    first_k = np.where(detected, np.argmax(hit, axis=0), -1)
    onset_k = first_k.copy()
    for u in np.flatnonzero(detected):
        k = int(first_k[u])
        while k > 0 and exceed[k - 1, u]:
            k -= 1
        onset_k[u] = k
    first_index = np.where(detected, watch_rows[np.maximum(first_k, 0)] if D else -1, -1)
    onset_index = np.where(detected, watch_rows[np.maximum(onset_k, 0)] if D else -1, -1)

    at_k = np.where(detected, first_k, D - 1)
    cols = np.arange(U)
    if D:
        observed_at = observed[at_k, cols]
        projected_at = s_hat[at_k, cols]
        upper_at = upper[at_k, cols]
    else:
        observed_at = projected_at = upper_at = np.full(U, np.nan)

    nat = np.datetime64("NaT", "D")
    if dates is not None:
        dd = np.asarray(dates, dtype="datetime64[D]")
        first_date = np.where(detected, dd[np.maximum(first_index, 0)], nat)
        onset_date = np.where(detected, dd[np.maximum(onset_index, 0)], nat)
    else:
        first_date = np.full(U, nat)
        onset_date = np.full(U, nat)
    outcome = np.where(detected, "new_peak", "no_new_peak").astype("<U13")
    if D == 0:
        outcome[:] = "not_evaluable"

    tq = stats.t.ppf(0.5 + growth_level / 2.0, np.maximum(fit.n_used - 2, 1))
    se_r = np.sqrt(fit.cov[:, 1, 1])
    pre_r = np.where(fit.ok, fit.beta[:, 1], np.nan)
    return ReboundResult(
        detected=detected,
        first_index=first_index.astype(np.int64),
        onset_index=onset_index.astype(np.int64),
        first_date=first_date,
        onset_date=onset_date,
        outcome=outcome,
        watch_rows=watch_rows,
        observed=observed,
        projected=s_hat,
        upper=upper,
        exceed=exceed,
        growing=growing,
        growth_r=g_r,
        growth_low=g_lo,
        growth_high=g_hi,
        observed_at=observed_at,
        projected_at=projected_at,
        upper_at=upper_at,
        pre_r=pre_r,
        pre_r_low=pre_r - tq * se_r,
        pre_r_high=pre_r + tq * se_r,
        pre_dispersion=fit.dispersion,
        pre_total=fit.total,
        pre_trend_ok=fit.ok,
        start_row=int(start),
        event=event,
        params={
            "pre_window": start - pre_start,
            "pre_start_row": pre_start,
            "watch_days": watch_days,
            "delay": delay,
            "sum_days": sum_days,
            "growth_window": growth_window,
            "level": level,
            "growth_level": growth_level,
            "min_pre_cases": min_pre_cases,
            "robust": robust,
            "z": z,
        },
    )


def rebound_after_event(
    counts: npt.ArrayLike,
    dates: npt.ArrayLike,
    event: Event,
    *,
    as_of: date | None = None,
    **params: Any,
) -> ReboundResult:
    """:func:`rebound_watch` with the event and the as-of date given as calendar dates."""
    dd = np.asarray(dates, dtype="datetime64[D]")
    if dd.ndim != 1 or dd.size == 0:
        raise ValueError("dates must be a non-empty 1-D array")
    if np.any(np.diff(dd).astype(np.int64) != 1):
        raise ValueError("dates must be consecutive days")
    start = int((np.datetime64(event.start, "D") - dd[0]).astype(np.int64))
    if not 0 <= start < dd.size:
        raise ValueError(f"the event starts on {event.start}, outside the dates given")
    end = None
    if as_of is not None:
        end = int((np.datetime64(as_of, "D") - dd[0]).astype(np.int64))
        if not 0 <= end < dd.size:
            raise ValueError(f"as_of {as_of} outside the dates given")
    return rebound_watch(counts, start, end=end, dates=dd, event=event, **params)
