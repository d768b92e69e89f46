"""Instantaneous reproduction number R_t by the method of Cori et al. (2013).

Cori A, Ferguson NM, Fraser C, Cauchemez S. A new framework and software to estimate
time-varying reproduction numbers during epidemics. Am J Epidemiol 2013;178(9):1505-1512.

Over a window [t_start, t_end] R is assumed constant. With a Gamma(a, b) prior (shape a,
scale b) and Poisson incidence I_t ~ Poisson(R * Lambda_t), Lambda_t = sum_s w_s I_{t-s}, the
posterior of R is Gamma with shape a + sum(I_local) and scale 1 / (1/b + sum(Lambda)).

Everything is computed for a whole panel (time × units) at once. Times ``t_start`` and
``t_end`` are **1-based and inclusive**, as in EpiEstim, so results can be compared line by
line with R.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import numpy.typing as npt
from scipy import special

from ruralwatch.epi.panel import FloatArray

__all__ = [
    "QUANTILE_LEVELS",
    "SI_SUM_TOLERANCE",
    "RtResult",
    "SerialIntervalWarning",
    "discrete_si",
    "estimate_rt",
    "sliding_windows",
]

IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

#: Posterior quantiles reported, as in EpiEstim's output table.
QUANTILE_LEVELS: tuple[float, ...] = (0.025, 0.05, 0.25, 0.5, 0.75, 0.95, 0.975)

#: A serial interval whose mass is within this of 1 is used as given (EpiEstim's rule, observed
#: with EpiEstim 2.2.4: sums 0.9901 and 1.0099 are accepted unchanged, 0.989 and 1.011 are not).
SI_SUM_TOLERANCE = 0.01


class SerialIntervalWarning(UserWarning):
    """The serial interval used does not sum to 1 within :data:`SI_SUM_TOLERANCE` (a parametric
    SI cut at the length of a short series); the estimate is still made, as EpiEstim does."""


@dataclass(frozen=True)
class RtResult:
    """Posterior of R per window (rows) and unit (columns).

    Attributes:
        t_start, t_end: (W,) 1-based inclusive window bounds.
        mean, std, cv, shape, scale: (W, U) posterior Gamma summaries; ``NaN`` where the window
            ends too early (t_end <= mean of the serial interval) or touches missing data.
        quantiles: (Q, W, U) posterior quantiles at ``quantile_levels``.
        reliable: (W, U) True where the posterior CV is below ``cv_posterior``.
        first_reliable: (U,) 0-based index of the first reliable window, -1 if none.
        si_distr: the discrete serial interval used (w_0 = 0, w_1, …).
        si_mean, si_sd: its mean and standard deviation (of the mass as used, not rescaled).
        warnings: what was accepted with a warning (e.g. an SI that does not sum to 1).
    """

    t_start: IntArray
    t_end: IntArray
    mean: FloatArray
    std: FloatArray
    quantiles: FloatArray
    quantile_levels: tuple[float, ...]
    shape: FloatArray
    scale: FloatArray
    cv: FloatArray
    reliable: BoolArray
    first_reliable: IntArray
    si_distr: FloatArray
    si_mean: float
    si_sd: float
    params: dict[str, float] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()

    def quantile(self, level: float) -> FloatArray:
        """The (W, U) posterior quantile at ``level`` (one of ``quantile_levels``)."""
        for i, q in enumerate(self.quantile_levels):
            if abs(q - level) < 1e-12:
                out: FloatArray = self.quantiles[i]
                return out
        raise KeyError(f"quantile {level} was not computed; have {self.quantile_levels}")


def discrete_si(k: npt.ArrayLike, mean: float, sd: float) -> FloatArray:
    """Discretised serial interval: an offset Gamma (SI - 1 ~ Gamma) on whole days.

    Probability mass at day k (k = 0, 1, …) of the continuous SI spread over [k-1, k+1] with
    a triangular kernel (Cori et al. 2013, web appendix 11); closed form in the Gamma CDFs with
    shape a = ((mean-1)/sd)^2 and scale b = sd^2/(mean-1). The mass at 0 is 0. Tiny negative
    values from cancellation are set to 0.
    """
    if not mean > 1:
        raise ValueError("the mean serial interval must be greater than 1 (offset Gamma)")
    if not sd > 0:
        raise ValueError("the serial interval sd must be positive")
    kk = np.asarray(k, dtype=np.float64)
    a = ((mean - 1.0) / sd) ** 2
    b = sd**2 / (mean - 1.0)

    def cdf(x: FloatArray, shape: float) -> FloatArray:
        out: FloatArray = np.where(x > 0, special.gammainc(shape, np.maximum(x, 0.0) / b), 0.0)
        return out

    w = (
        kk * cdf(kk, a)
        + (kk - 2) * cdf(kk - 2, a)
        - 2 * (kk - 1) * cdf(kk - 1, a)
        + a * b * (2 * cdf(kk - 1, a + 1) - cdf(kk - 2, a + 1) - cdf(kk, a + 1))
    )
    out: FloatArray = np.maximum(w, 0.0)
    return out


def sliding_windows(n_time: int, window: int = 7, first: int = 2) -> tuple[IntArray, IntArray]:
    """EpiEstim's default windows: t_start = first..T-window+1, t_end = t_start + window - 1."""
    if window < 1:
        raise ValueError("window must be at least 1")
    t_start = np.arange(first, n_time - window + 2, dtype=np.int64)
    return t_start, t_start + window - 1


def _si_moments(w: FloatArray) -> tuple[float, float]:
    k = np.arange(w.size, dtype=np.float64)
    mean = float(np.sum(k * w))
    var = float(np.sum(k**2 * w) - mean**2)
    return mean, float(np.sqrt(max(var, 0.0)))


def _gamma_quantiles(
    levels: tuple[float, ...], shape: FloatArray, scale: FloatArray, offset: float = 0.0
) -> FloatArray:
    """Gamma quantiles, computing the inverse incomplete gamma once per distinct shape.

    With integer counts the shapes are ``offset`` (the prior shape) plus integer sums, so there
    are few distinct values even for thousands of series; those are found without sorting.
    """
    q = np.asarray(levels, dtype=np.float64)[:, None]
    flat_shape = shape.ravel()
    flat_scale = scale.ravel()
    ok = np.isfinite(flat_shape) & np.isfinite(flat_scale)
    out = np.full((len(levels), flat_shape.size), np.nan)
    if not ok.any():
        return out.reshape((len(levels), *shape.shape))
    every = bool(ok.all())
    sh = flat_shape if every else flat_shape[ok]
    sc = flat_scale if every else flat_scale[ok]
    counts = np.rint(sh - offset)
    if np.all(np.abs(sh - offset - counts) == 0) and counts.min() >= 0 and counts.max() < 5e7:
        key = counts.astype(np.int64)
        present = np.zeros(int(key.max()) + 1, dtype=bool)
        present[key] = True
        codes = np.flatnonzero(present)
        position = np.cumsum(present) - 1
        uniq, inv = offset + codes.astype(np.float64), position[key]
    else:
        uniq, inv = np.unique(sh, return_inverse=True)
    base = special.gammaincinv(uniq[None, :], q)  # (Q, n_unique): quantiles at scale 1
    vals = base[:, inv] * sc[None, :]
    if every:
        out = vals
    else:
        out[:, ok] = vals
    return out.reshape((len(levels), *shape.shape))


def _check_cases(name: str, x: FloatArray) -> None:
    """ValueError naming the first cell (1-based t, 0-based column) that is not a case count:
    negative or infinite. NaN is a missing value and allowed; fractions are allowed (EpiEstim
    2.2.4 accepts them and so does the Poisson likelihood's posterior)."""
    bad = np.isinf(x) | (x < 0)
    if bad.any():
        row, col = (int(v[0]) for v in np.nonzero(bad))
        what = "infinite" if np.isinf(x[row, col]) else "negative"
        raise ValueError(
            f"{name} must be non-negative case counts: {what} value {x[row, col]:g} at "
            f"t = {row + 1} (row {row}), column {col}"
        )


def estimate_rt(
    incidence: npt.ArrayLike,
    si_distr: npt.ArrayLike,
    t_start: npt.ArrayLike | None = None,
    t_end: npt.ArrayLike | None = None,
    *,
    mean_prior: float = 5.0,
    std_prior: float = 5.0,
    imported: npt.ArrayLike | None = None,
    cv_posterior: float = 0.3,
    window: int = 7,
    quantile_levels: tuple[float, ...] = QUANTILE_LEVELS,
    si_sum: Literal["error", "warn"] = "error",
) -> RtResult:
    """Estimate R over windows for every series of a (T × U) incidence panel.

    Args:
        incidence: (T,) or (T, U) counts. Without ``imported`` these are all local cases except
            at the first time point, whose cases are taken as imported. With ``imported`` they
            are the local cases (local cases at the first time point still count as imported).
            ``NaN`` (missing) makes every window whose sums it touches ``NaN``.
        si_distr: discrete serial interval w_0, w_1, … (w_0 must be 0); shorter than T is
            padded with zeros, longer is cut. Use :func:`discrete_si` for a parametric SI.
        t_start, t_end: 1-based inclusive window bounds (arrays of the same length, t_start >= 2);
            default: sliding windows of ``window`` days from t = 2.
        mean_prior, std_prior: Gamma prior of R (default mean 5, sd 5).
        imported: (T,) or (T, U) imported cases, or None.
        cv_posterior: a window is ``reliable`` when its posterior CV is below this.
        window: window length for the default windows.
        quantile_levels: posterior quantiles to compute.
        si_sum: what to do when ``si_distr`` does not sum to 1 within :data:`SI_SUM_TOLERANCE`
            (0.01): ``"error"`` (a given, non-parametric SI; EpiEstim stops with "si_distr must
            sum to 1") or ``"warn"`` (a parametric SI discretised over a short series; EpiEstim
            warns "si_distr does not sum to 1" and goes on). Within the tolerance the SI is used
            as given, never rescaled, in either case (as EpiEstim).
    """
    inc = np.asarray(incidence, dtype=np.float64)
    if inc.ndim == 1:
        inc = inc[:, None]
    if inc.ndim != 2:
        raise ValueError("incidence must be (T,) or (T, U)")
    n_time, n_units = inc.shape
    if n_time < 2:
        raise ValueError(f"incidence has {n_time} time point(s); R needs at least 2 (t_start >= 2)")
    if not all(0.0 < q < 1.0 for q in quantile_levels):
        raise ValueError(f"quantile_levels must lie in (0, 1), got {tuple(quantile_levels)}")
    if imported is None:
        local = inc.copy()
        imp = np.zeros_like(inc)
    else:
        imp = np.asarray(imported, dtype=np.float64)
        if imp.ndim == 1:
            imp = imp[:, None]
        imp = np.broadcast_to(imp, inc.shape).copy()
        local = inc.copy()
    _check_cases("incidence", inc)
    if imported is not None:
        _check_cases("imported", imp)
    imp[0] = imp[0] + local[0]
    local[0] = 0.0

    w = np.asarray(si_distr, dtype=np.float64).ravel()
    if w.size == 0 or np.any(w < 0) or not np.all(np.isfinite(w)):
        raise ValueError("si_distr must be non-negative and finite")
    if w[0] != 0:
        raise ValueError("si_distr[0] must be 0 (no transmission on day 0)")
    if si_sum not in ("error", "warn"):
        raise ValueError(f"si_sum must be 'error' or 'warn', got {si_sum!r}")
    notes: list[str] = []
    if abs(w.sum() - 1.0) > SI_SUM_TOLERANCE:
        msg = f"si_distr must sum to 1 (within {SI_SUM_TOLERANCE:g}), sums to {w.sum():.6g}"
        if si_sum == "error":
            raise ValueError(msg)
        note = f"si_distr does not sum to 1: sums to {w.sum():.6g}; used as given"
        warnings.warn(note, SerialIntervalWarning, stacklevel=2)
        notes.append(note)
    si_mean, si_sd = _si_moments(w)
    w_used = np.zeros(n_time)
    m = min(n_time, w.size)
    w_used[:m] = w[:m]

    if t_start is None and t_end is None:
        ts, te = sliding_windows(n_time, window)
        if not ts.size:
            raise ValueError(
                f"the series has {n_time} time points; windows of {window} days starting on"
                f" day 2 need at least {window + 1}"
            )
    elif t_start is None or t_end is None:
        raise ValueError("give both t_start and t_end, or neither")
    else:
        ts_f = np.asarray(t_start, dtype=np.float64).ravel()
        te_f = np.asarray(t_end, dtype=np.float64).ravel()
        for name, v in (("t_start", ts_f), ("t_end", te_f)):
            if not np.all(np.isfinite(v) & (v == np.round(v))):
                raise ValueError(f"{name} must hold whole numbers (1-based time points)")
        ts, te = ts_f.astype(np.int64), te_f.astype(np.int64)
    if ts.shape != te.shape:
        raise ValueError("t_start and t_end must have the same length")
    if not ts.size:
        raise ValueError("no window: t_start and t_end are empty")
    if ts.size and (ts.min() < 2 or te.max() > n_time or np.any(te < ts)):
        raise ValueError("windows need 2 <= t_start <= t_end <= T (1-based)")
    if not (mean_prior > 0 and std_prior > 0):
        raise ValueError("mean_prior and std_prior must be positive")

    # Infectivity Lambda_t = sum_{s>=1} w_s * total_{t-s}: one (T × T) lower-triangular
    # Toeplitz matrix applied to all series at once.
    total = local + imp
    missing = ~np.isfinite(total)
    total0 = np.where(missing, 0.0, total)
    lag = np.arange(n_time)[:, None] - np.arange(n_time)[None, :]
    conv = np.where(lag >= 1, w_used[np.clip(lag, 0, n_time - 1)], 0.0)
    lam = conv @ total0
    if missing.any():
        touched = (conv > 0).astype(np.float64) @ missing.astype(np.float64)
        lam[touched > 0] = np.nan
        lam[missing] = np.nan

    def window_sums(x: FloatArray) -> FloatArray:
        c = np.vstack([np.zeros((1, n_units)), np.cumsum(x, axis=0)])
        out: FloatArray = c[te] - c[ts - 1]
        return out

    sum_local = window_sums(np.where(np.isfinite(local), local, np.nan))
    sum_lam = window_sums(lam)

    a_prior = (mean_prior / std_prior) ** 2
    b_prior = std_prior**2 / mean_prior
    shape = a_prior + sum_local
    scale = 1.0 / (1.0 / b_prior + sum_lam)
    too_early = te <= si_mean
    shape[too_early] = np.nan
    scale[too_early] = np.nan
    bad = ~(np.isfinite(shape) & np.isfinite(scale))
    shape[bad] = np.nan
    scale[bad] = np.nan

    mean = shape * scale
    std = np.sqrt(shape) * scale
    cv = 1.0 / np.sqrt(shape)
    reliable = np.isfinite(cv) & (cv < cv_posterior)
    first = np.where(reliable.any(axis=0), np.argmax(reliable, axis=0), -1).astype(np.int64)
    quant = _gamma_quantiles(tuple(quantile_levels), shape, scale, a_prior)
    return RtResult(
        t_start=ts,
        t_end=te,
        mean=mean,
        std=std,
        quantiles=quant,
        quantile_levels=tuple(quantile_levels),
        shape=shape,
        scale=scale,
        cv=cv,
        reliable=reliable,
        first_reliable=first,
        si_distr=w_used,
        si_mean=si_mean,
        si_sd=si_sd,
        params={
            "mean_prior": float(mean_prior),
            "std_prior": float(std_prior),
            "cv_posterior": float(cv_posterior),
        },
        warnings=tuple(notes),
    )
