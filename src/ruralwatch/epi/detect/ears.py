"""CDC EARS C1, C2 and C3 (Hutwagner et al. 2003), for a whole panel at once.

C1 compares each count with the mean and standard deviation of the ``baseline`` points just
before it; C2 uses the same window moved two points further back (a guard band of two); C3 adds
the C2 excesses of the two previous points. Missing values are left out of the baseline; fewer
than two baseline values, or a missing count, give ``NaN`` bound and alarm.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from scipy.stats import norm

from ruralwatch.epi.detect._common import (
    Monitor,
    alarm_greater,
    make_result,
    monitor_param,
    resolve_monitor,
)
from ruralwatch.epi.detect.base import DetectionResult
from ruralwatch.epi.panel import FloatArray, Panel

__all__ = ["DEFAULT_ALPHA", "ears"]

Variant = Literal["C1", "C2", "C3"]
DEFAULT_ALPHA: dict[str, float] = {"C1": 0.001, "C2": 0.001, "C3": 0.025}
_LAG = {"C1": 0, "C2": 2, "C3": 2}
_FIRST_EXTRA = {"C1": 0, "C2": 2, "C3": 4}


def _window_stats(counts: FloatArray, baseline: int, lag: int) -> tuple[FloatArray, FloatArray]:
    """Mean and sd (denominator n-1) of rows t-lag-baseline .. t-lag-1 for every row t.

    Rows without a full window get NaN. Missing values are skipped.
    """
    n_time, n_units = counts.shape
    mean = np.full((n_time, n_units), np.nan)
    sd = np.full((n_time, n_units), np.nan)
    first = baseline + lag
    if n_time <= first:
        return mean, sd
    win = sliding_window_view(counts, baseline, axis=0)  # (n_time-baseline+1, U, baseline)
    win = win[: n_time - first]  # window j ends at row j+baseline-1, used at t = j+first
    have = ~np.isnan(win)
    cnt = have.sum(axis=-1)
    x = np.where(have, win, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        m = x.sum(axis=-1) / cnt
        dev = np.where(have, win - m[..., None], 0.0)
        v = (dev * dev).sum(axis=-1) / (cnt - 1)
    m = np.where(cnt >= 2, m, np.nan)
    v = np.where(cnt >= 2, v, np.nan)
    mean[first:] = m
    sd[first:] = np.sqrt(v)
    return mean, sd


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
    if int(baseline) != baseline or baseline < 2:
        raise ValueError("baseline must be an integer >= 2")
    baseline = int(baseline)
    a = DEFAULT_ALPHA[method] if alpha is None else float(alpha)
    if not 0.0 < a < 1.0:
        raise ValueError("alpha must lie in (0, 1)")
    if min_sigma < 0:
        raise ValueError("min_sigma must be >= 0")
    counts = panel.counts
    idx = resolve_monitor(monitor, panel.n_time, baseline + _FIRST_EXTRA[method])
    if idx.size and idx.min() < baseline + _FIRST_EXTRA[method]:
        raise ValueError(
            f"EARS {method} needs {baseline + _FIRST_EXTRA[method]} earlier rows; "
            f"monitor starts at row {int(idx.min())}"
        )
    z = float(norm.ppf(1.0 - a))
    mean, sd = _window_stats(counts, baseline, _LAG[method])
    sigma = np.maximum(sd, min_sigma)
    with np.errstate(invalid="ignore", divide="ignore"):
        stat = (counts - mean) / sigma  # C1 or C2 statistic at every row
        if method == "C3":
            prev = np.full_like(stat, np.nan)
            prev[1:] = np.maximum(0.0, stat[:-1] - 1.0)
            prev2 = np.full_like(stat, np.nan)
            prev2[2:] = np.maximum(0.0, stat[:-2] - 1.0)
            excess = prev + prev2
            bound = np.maximum(counts + sigma * (z - excess), 0.0)
            # R's C3 bound is anchored on the count itself: a missing count leaves it missing.
            score = stat + excess
        else:
            bound = mean + z * sigma
            score = stat
    params: dict[str, Any] = {
        "method": method,
        "alpha": a,
        "baseline": baseline,
        "min_sigma": float(min_sigma),
        "monitor": monitor_param(idx),
    }
    ub = bound[idx]
    return make_result(
        f"ears-{method.lower()}",
        params,
        panel,
        idx,
        expected=mean[idx],
        upperbound=ub,
        alarm=alarm_greater(counts[idx], ub),
        score=score[idx],
        extra={"sd": sd[idx]},
    )
