"""The watch of sparse counts in key areas (三区一岛): exact Poisson limits and the first case.

Remote mountain, pastoral, forest and island areas report few cases: a village may report zero
for weeks. Methods built for large counts (normal approximations, regression on a unit's own
history) have nothing to fit there, so each key area is watched with three simple, exact pieces,
over a (T × U) matrix of daily counts (NaN = no report; a missing report is not a zero):

1. **Garwood limits.** For a Poisson count ``x`` the exact (Garwood 1936) limits of its mean are
   ``L = ½ χ²(α; 2x)`` (0 when x = 0) and ``U = ½ χ²(1 − α; 2x + 2)`` at one-sided level
   ``1 − α``; the two-sided interval at confidence ``c`` uses ``α = (1 − c)/2`` on each side
   (Garwood F. Fiducial limits for the Poisson distribution. Biometrika 1936;28:437–442; Ulm K.
   A simple method to calculate the confidence interval of a standardized mortality ratio.
   Am J Epidemiol 1990;131:373–375). R's ``poisson.test(x)$conf.int`` gives the same numbers.
2. **Pooled baseline.** A unit's own baseline is mostly zeros, so the baseline rate is pooled
   over the units of a pool (e.g. the key areas of a county) and over the ``baseline`` days
   before the current window (after ``guard`` days): ``λ̂ = ΣB / ΣE``, with ``B`` the reported
   counts and ``E = population × reported days``. Its upper Garwood limit ``λ_U = U(ΣB) / ΣE``
   is what a unit is compared with, so a baseline of zero cases does not make one case a
   rise (with ΣB = 0, λ_U is the "rule of three", ``−ln α / ΣE``).
3. **Rise.** Over the ``window`` days ending at the watched day, a unit with ``x`` cases on its
   reported days ``e`` (exposure ``pop × e``) is *rising* when the lower Garwood limit of its
   count exceeds the pooled baseline's upper limit at its exposure, ``L(x) > λ_U · pop · e``.
   By the duality of the exact test and its interval this is the one-sided exact Poisson test
   ``P(X ≥ x | μ = λ_U · pop · e) < α`` (Fay MP. Two-sided exact tests and matching confidence
   intervals for discrete data. R Journal 2010;2:53–58); ``threshold`` is the smallest count
   that would be a rise. Both limits are one-sided at ``α``, so the rule is conservative.
4. **First case.** A case on a day preceded by ``quiet_days`` days without a reported case, of
   which at least ``quiet_min_reported`` (a share) were reported at all (days before the data
   begin are unknown, never quiet): the single-case signal CIDARS uses for rare diseases
   (Yang W et al. Chinese Infectious Disease Automated-alert and Response System. Chin Med J
   2011), here for an area that had been free of the disease.

Status of each unit on the watched day: ``rising`` (3) before ``first_case`` (2: a first case in
the window) before ``low`` (1: still low); ``no_reports`` (0) when the unit reported on none of
the window's days. ``days_since_first`` counts from the first case of the current episode (the
last first case at or before the day; else the earliest case in the data, flagged as censored).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import stats

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

__all__ = [
    "STATUS_CODES",
    "SparseParams",
    "SparseWatch",
    "first_cases",
    "garwood",
    "garwood_lower",
    "garwood_upper",
    "rise_threshold",
    "watch",
]

#: Status codes, in order of severity.
STATUS_CODES = ("no_reports", "low", "first_case", "rising")
NO_REPORTS, LOW, FIRST_CASE, RISING = 0, 1, 2, 3


@dataclass(frozen=True)
class SparseParams:
    """Parameters of the key-area watch, stored verbatim with every result.

    Attributes:
        window: days summed for the current count (ending at the watched day).
        baseline: days of the pooled baseline, before the window.
        guard: days left out between the baseline and the window.
        alpha: one-sided level of each Garwood limit (and of the exact test).
        quiet_days: days without a case before a first case.
        quiet_min_reported: share of the quiet days that must have a report.
    """

    window: int = 7
    baseline: int = 28
    guard: int = 0
    alpha: float = 0.05
    quiet_days: int = 14
    quiet_min_reported: float = 0.5

    def __post_init__(self) -> None:
        if self.window < 1 or self.baseline < 1 or self.guard < 0 or self.quiet_days < 1:
            raise ValueError("window, baseline and quiet_days must be ≥ 1 and guard ≥ 0")
        if not 0.0 < self.alpha < 0.5:
            raise ValueError("alpha must lie in (0, 0.5)")
        if not 0.0 <= self.quiet_min_reported <= 1.0:
            raise ValueError("quiet_min_reported must lie in [0, 1]")

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def garwood_lower(x: npt.ArrayLike, alpha: float) -> FloatArray:
    """One-sided lower Garwood limit of a Poisson mean at level ``1 − alpha`` (0 for x = 0)."""
    xs = np.asarray(x, dtype=np.float64)
    out = np.zeros_like(xs)
    pos = xs > 0
    out[pos] = stats.chi2.ppf(alpha, 2.0 * xs[pos]) / 2.0
    return out


def garwood_upper(x: npt.ArrayLike, alpha: float) -> FloatArray:
    """One-sided upper Garwood limit of a Poisson mean at level ``1 − alpha``."""
    xs = np.asarray(x, dtype=np.float64)
    return np.asarray(stats.chi2.isf(alpha, 2.0 * xs + 2.0) / 2.0, dtype=np.float64)


def garwood(x: npt.ArrayLike, conf: float = 0.95) -> tuple[FloatArray, FloatArray]:
    """Two-sided exact (Garwood) interval of a Poisson mean at confidence ``conf``."""
    a = (1.0 - conf) / 2.0
    return garwood_lower(x, a), garwood_upper(x, a)


def rise_threshold(mu: npt.ArrayLike, alpha: float) -> FloatArray:
    """The smallest count ``k`` with ``P(X ≥ k | μ) < alpha`` (NaN where μ is NaN): the count
    from which :func:`watch` calls a unit rising at expected ``μ``."""
    m = np.asarray(mu, dtype=np.float64)
    out = np.full_like(m, np.nan)
    ok = np.isfinite(m) & (m >= 0)
    # P(X ≥ k) < α  ⇔  P(X ≤ k − 1) > 1 − α: k − 1 is the (1 − α) quantile, one more where
    # the distribution function reaches 1 − α exactly.
    q = stats.poisson.ppf(1.0 - alpha, m[ok])
    q = np.where(stats.poisson.cdf(q, m[ok]) > 1.0 - alpha, q, q + 1.0)
    out[ok] = q + 1.0
    return out


def first_cases(counts: npt.ArrayLike, quiet_days: int, quiet_min_reported: float) -> BoolArray:
    """(T × U) True where a case follows ``quiet_days`` days without a reported case, at least
    ``quiet_min_reported`` of them reported. The first ``quiet_days`` rows are never first
    cases: what came before the data is unknown."""
    y = np.asarray(counts, dtype=np.float64)
    if y.ndim != 2:
        raise ValueError("counts must be a (T × U) matrix")
    reported = ~np.isnan(y)
    positive = reported & (np.nan_to_num(y) > 0)
    n = y.shape[0]
    zero = np.zeros((1, y.shape[1]), dtype=np.int64)
    cpos = np.vstack([zero, np.cumsum(positive, axis=0, dtype=np.int64)])
    crep = np.vstack([zero, np.cumsum(reported, axis=0, dtype=np.int64)])
    out = np.zeros(y.shape, dtype=bool)
    if n <= quiet_days:
        return out
    t = np.arange(quiet_days, n)
    prev_pos = cpos[t] - cpos[t - quiet_days]
    prev_rep = crep[t] - crep[t - quiet_days]
    need = int(np.ceil(quiet_min_reported * quiet_days - 1e-9))
    out[quiet_days:] = positive[quiet_days:] & (prev_pos == 0) & (prev_rep >= need)
    return out


@dataclass
class SparseWatch:
    """The watch of every unit on one day (arrays of length U) and the parameters used."""

    params: dict[str, Any]
    index: int
    observed: FloatArray
    reported_days: IntArray
    completeness: FloatArray
    exposure: FloatArray
    baseline_cases: FloatArray  # of the unit's pool
    baseline_exposure: FloatArray  # of the unit's pool
    baseline_rate: FloatArray
    baseline_upper: FloatArray
    expected: FloatArray
    limit: FloatArray
    lower: FloatArray
    p_value: FloatArray
    threshold: FloatArray
    rising: BoolArray
    first_case: BoolArray  # a first case inside the window
    first_case_index: IntArray  # row of the current episode's first case, −1 if none
    first_case_censored: BoolArray
    days_since_first: IntArray  # −1 if no case
    status: IntArray
    extra: dict[str, Any] = field(default_factory=dict)

    def status_names(self) -> list[str]:
        return [STATUS_CODES[int(s)] for s in self.status]


def watch(
    counts: npt.ArrayLike,
    population: npt.ArrayLike,
    index: int,
    *,
    pool: npt.ArrayLike | None = None,
    params: SparseParams | None = None,
) -> SparseWatch:
    """Watch every unit of a (T × U) daily count matrix on row ``index``.

    Args:
        counts: daily counts, NaN where a unit did not report.
        population: per unit (the exposure per reported day).
        index: the watched row (the window is ``index − window + 1 .. index``).
        pool: an integer pool per unit for the baseline (default: one pool of all units).
        params: :class:`SparseParams` (defaults when omitted).
    """
    p = params or SparseParams()
    y = np.asarray(counts, dtype=np.float64)
    if y.ndim != 2:
        raise ValueError("counts must be a (T × U) matrix")
    n, u = y.shape
    if not 0 <= index < n:
        raise ValueError(f"index {index} outside 0 … {n - 1}")
    if np.any(y[~np.isnan(y)] < 0):
        raise ValueError("counts must not be negative")
    pop = np.asarray(population, dtype=np.float64)
    if pop.shape != (u,) or np.any(~np.isfinite(pop)) or np.any(pop <= 0):
        raise ValueError("population must be positive, one per unit")
    groups = np.zeros(u, dtype=np.int64) if pool is None else np.asarray(pool, dtype=np.int64)
    if groups.shape != (u,) or np.any(groups < 0):
        raise ValueError("pool must be a non-negative integer per unit")

    reported = ~np.isnan(y)
    filled = np.nan_to_num(y)
    w0 = max(index - p.window + 1, 0)
    win = slice(w0, index + 1)
    observed = filled[win].sum(axis=0)
    rep_days = reported[win].sum(axis=0).astype(np.int64)
    exposure = pop * rep_days

    b1 = w0 - p.guard  # baseline rows b0 .. b1 − 1
    b0 = max(b1 - p.baseline, 0)
    if b1 > b0:
        b_cases = filled[b0:b1].sum(axis=0)
        b_expo = pop * reported[b0:b1].sum(axis=0)
    else:
        b_cases = np.zeros(u)
        b_expo = np.zeros(u)
    k = int(groups.max()) + 1 if u else 0
    pool_cases: FloatArray = np.bincount(groups, weights=b_cases, minlength=k)[groups].astype(
        np.float64
    )
    pool_expo: FloatArray = np.bincount(groups, weights=b_expo, minlength=k)[groups].astype(
        np.float64
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        rate = np.where(pool_expo > 0, pool_cases / pool_expo, np.nan)
        upper = np.where(pool_expo > 0, garwood_upper(pool_cases, p.alpha) / pool_expo, np.nan)
    expected = rate * exposure
    limit = upper * exposure
    lower = garwood_lower(observed, p.alpha)
    p_value = np.full(u, np.nan)
    ok = np.isfinite(limit) & (rep_days > 0)
    # P(X ≥ x | μ): the survival function at x − 1 (1 for x = 0).
    p_value[ok] = stats.poisson.sf(observed[ok] - 1.0, limit[ok])
    threshold = rise_threshold(np.where(ok, limit, np.nan), p.alpha)
    rising = ok & (observed > 0) & (lower > limit)

    first = first_cases(y[: index + 1], p.quiet_days, p.quiet_min_reported)
    rows = np.arange(index + 1)[:, None]
    last_first = np.where(first, rows, -1).max(axis=0) if index >= 0 else np.full(u, -1)
    positive = reported[: index + 1] & (filled[: index + 1] > 0)
    any_pos = positive.any(axis=0)
    earliest = np.where(any_pos, positive.argmax(axis=0), -1)
    censored = (last_first < 0) & any_pos
    episode = np.where(last_first >= 0, last_first, earliest).astype(np.int64)
    days_since = np.where(episode >= 0, index - episode, -1).astype(np.int64)
    first_in_window = (last_first >= w0) & (last_first >= 0)

    status = np.full(u, LOW, dtype=np.int64)
    status[first_in_window] = FIRST_CASE
    status[rising] = RISING
    status[rep_days == 0] = NO_REPORTS
    return SparseWatch(
        params=p.as_dict(),
        index=index,
        observed=observed,
        reported_days=rep_days,
        completeness=rep_days / float(index + 1 - w0),
        exposure=exposure,
        baseline_cases=pool_cases,
        baseline_exposure=pool_expo,
        baseline_rate=rate,
        baseline_upper=upper,
        expected=expected,
        limit=limit,
        lower=lower,
        p_value=p_value,
        threshold=threshold,
        rising=rising,
        first_case=first_in_window,
        first_case_index=last_first.astype(np.int64),
        first_case_censored=censored,
        days_since_first=days_since,
        status=status,
    )
