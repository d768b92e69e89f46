"""CDC EARS C1, C2 and C3 (Hutwagner et al. 2003), for a whole panel at once.

C1 compares each count with the mean and standard deviation of the ``baseline`` points just
before it; C2 uses the same window moved two points further back (a guard band of two); C3 adds
the C2 excesses of the two previous points. Missing values are left out of the baseline; fewer
than two baseline values, or a missing count, give ``NaN`` bound and alarm.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from scipy.special import ndtri

from ruralwatch.epi.detect._common import (
    IntArray,
    Monitor,
    alarm_greater,
    check_number,
    make_result,
    monitor_param,
    nan_reason,
    resolve_monitor,
)
from ruralwatch.epi.detect.base import DetectionResult, Reason
from ruralwatch.epi.panel import FloatArray, Panel

__all__ = ["DEFAULT_ALPHA", "ears"]

Variant = Literal["C1", "C2", "C3"]
DEFAULT_ALPHA: dict[str, float] = {"C1": 0.001, "C2": 0.001, "C3": 0.025}
_LAG = {"C1": 0, "C2": 2, "C3": 2}
_FIRST_EXTRA = {"C1": 0, "C2": 2, "C3": 4}


def _window_stats(
    counts: FloatArray, rows: IntArray, baseline: int, lag: int
) -> tuple[FloatArray, FloatArray]:
    """Mean and sd (denominator n-1) of rows t-lag-baseline .. t-lag-1 for each row t in ``rows``.

    Only the windows of ``rows`` are computed (``rows`` must have a full window): one pass over
    the ``baseline`` offsets for the sums and counts, a second for the squared deviations from
    the window mean (two-pass, as R's ``sd``: exact zero spread stays exactly zero). Memory is
    a few arrays of shape (len(rows), n_units). Missing values are skipped; fewer than two
    values give NaN.
    """
    n_units = counts.shape[1]
    shape = (rows.size, n_units)
    if rows.size == 0:
        return np.full(shape, np.nan), np.full(shape, np.nan)
    lo, hi = int(rows.min()) - lag - baseline, int(rows.max()) - lag
    has_nan = bool(np.isnan(counts[lo:hi]).any())
    contiguous = rows.size == int(rows[-1] - rows[0]) + 1

    def window_row(k: int) -> FloatArray:
        """counts at row t - lag - k for every t in rows (a view when rows are contiguous)."""
        if contiguous:
            a = int(rows[0]) - lag - k
            return counts[a : a + rows.size]
        return counts[rows - lag - k]

    total = np.zeros(shape)
    if has_nan:
        cnt = np.zeros(shape)
        for k in range(baseline, 0, -1):
            v = window_row(k)
            ok = ~np.isnan(v)
            np.add(total, v, out=total, where=ok)
            cnt += ok
    else:
        cnt = np.full(shape, float(baseline))
        for k in range(baseline, 0, -1):
            total += window_row(k)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = total / cnt
    ss = np.zeros(shape)
    dev = np.empty(shape)
    for k in range(baseline, 0, -1):
        np.subtract(window_row(k), mean, out=dev)
        np.multiply(dev, dev, out=dev)
        if has_nan:
            np.add(ss, dev, out=ss, where=~np.isnan(dev))
        else:
            ss += dev
    few = cnt < 2
    with np.errstate(invalid="ignore", divide="ignore"):
        ss /= cnt - 1.0
    np.sqrt(ss, out=ss)
    mean[few] = np.nan
    ss[few] = np.nan
    return mean, ss


def ears(
    panel: Panel,
    *,
    method: Variant = "C1",
    alpha: float | None = None,
    baseline: int = 7,
    min_sigma: float = 0.0,
    monitor: Monitor = None,
) -> DetectionResult:
    """EARS C1/C2/C3 over every column of ``panel``.

    Args:
        method: ``"C1"``, ``"C2"`` or ``"C3"`` (R ``method``).
        alpha: one-sided level; the bound uses the standard normal quantile ``z(1-alpha)``.
            Default 0.001 for C1 and C2, 0.025 for C3 (as R).
        baseline: number of baseline points (R ``baseline``).
        min_sigma: lower limit for the baseline sd (R ``minSigma``).
        monitor: 0-based rows to judge; default every row with enough history
            (from row ``baseline`` for C1, ``baseline+2`` for C2, ``baseline+4`` for C3).

    ``score`` is the standardised statistic (C1/C2: (y - mean)/max(sd, min_sigma); C3: the C2
    statistic plus the excesses over 1 of the two previous C2 statistics); ``expected`` the
    baseline mean; ``extra["sd"]`` the baseline sd. ``alarm`` = observed > upperbound.
    """
    if method not in ("C1", "C2", "C3"):
        raise ValueError(f"method must be 'C1', 'C2' or 'C3', got {method!r}")
    baseline = int(check_number("baseline", baseline, lo=2, integer=True))
    a = DEFAULT_ALPHA[method] if alpha is None else float(alpha)
    check_number("alpha", a, lo=0.0, hi=1.0, lo_open=True, hi_open=True)
    check_number("min_sigma", min_sigma, lo=0.0, hi=None)
    need = baseline + _FIRST_EXTRA[method]
    if monitor is None and panel.n_time <= need:
        raise ValueError(
            f"EARS {method} with baseline={baseline} needs more than {need} rows; "
            f"the panel has {panel.n_time}"
        )
    counts = panel.counts
    idx = resolve_monitor(monitor, panel.n_time, baseline + _FIRST_EXTRA[method])
    if idx.size and idx.min() < baseline + _FIRST_EXTRA[method]:
        raise ValueError(
            f"EARS {method} needs {baseline + _FIRST_EXTRA[method]} earlier rows; "
            f"monitor starts at row {int(idx.min())}"
        )
    z = float(ndtri(1.0 - a))  # the standard normal quantile
    lag = _LAG[method]
    if method == "C3":
        # the C2 statistics of rows t, t-1 and t-2 for every monitored t
        rows = np.unique(np.concatenate([idx - 2, idx - 1, idx])) if idx.size else idx
    else:
        rows = idx
    mean_r, sd_r = _window_stats(counts, rows, baseline, lag)
    obs_r = counts[rows]
    sigma_r = np.maximum(sd_r, min_sigma)
    with np.errstate(invalid="ignore", divide="ignore"):
        stat_r = (obs_r - mean_r) / sigma_r  # C1 or C2 statistic at the needed rows
    if method == "C3":
        pos = np.searchsorted(rows, idx)
        mean, sd, sigma, obs = mean_r[pos], sd_r[pos], sigma_r[pos], obs_r[pos]
        with np.errstate(invalid="ignore"):
            excess = np.maximum(0.0, stat_r[pos - 1] - 1.0) + np.maximum(0.0, stat_r[pos - 2] - 1.0)
            # R's C3 bound is anchored on the count itself: a missing count leaves it missing.
            ub = np.maximum(obs + sigma * (z - excess), 0.0)
            score = stat_r[pos] + excess
    else:
        mean, sd, obs = mean_r, sd_r, obs_r
        ub = mean + z * sigma_r
        score = stat_r
    params: dict[str, Any] = {
        "method": method,
        "alpha": a,
        "baseline": baseline,
        "min_sigma": float(min_sigma),
        "monitor": monitor_param(idx),
    }
    # NaN only from a missing count, fewer than 2 baseline values, or (C3) a baseline without
    # spread, where R's C2 statistic is 0/0 or x/0 and the bound 0 * inf.
    cause = np.where(
        np.isnan(mean), Reason.MISSING, np.where(mean == 0.0, Reason.ALL_ZERO, Reason.CONSTANT)
    )
    return make_result(
        f"ears-{method.lower()}",
        params,
        panel,
        idx,
        expected=mean,
        upperbound=ub,
        alarm=alarm_greater(obs, ub),
        score=score,
        extra={"sd": sd},
        observed=obs,
        reason=nan_reason(np.isnan(ub), obs, cause),
    )
