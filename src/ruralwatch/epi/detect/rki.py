"""The RKI methods 1, 2 and 3 (Robert Koch Institute; as in R ``algo.rki``), whole panel at once.

The baseline of row t is the ``w`` rows before t (if ``act_y``) plus, for i = 1..b, the rows
t - i*freq - w .. t - i*freq + w (by row index). With baseline mean > 20 the bound is
mean + 2*sd (sd with denominator n-1); otherwise it is the upper 95% Poisson confidence limit of
Crow & Gardner (1959), rounded to 3 decimals as tabulated, for the count floor(mean).
"""

from __future__ import annotations

from functools import cache
from typing import Any

import numpy as np
from scipy.optimize import brentq
from scipy.stats import poisson

from ruralwatch.epi.detect._common import (
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

__all__ = ["RKI_SETTINGS", "crow_gardner_limits", "rki"]

RKI_SETTINGS: dict[int, dict[str, Any]] = {
    1: {"b": 0, "w": 6, "act_y": True},
    2: {"b": 1, "w": 6, "act_y": True},
    3: {"b": 2, "w": 4, "act_y": False},
}


# The one entry where the published 3-decimal table differs from rounding the exact limit:
# x = 11 is 19.050510... (1e-5 above the rounding midpoint); Crow & Gardner print 19.050.
_PUBLISHED_UPPER: dict[int, float] = {11: 19.050}


def _acceptance(mu: FloatArray, conf: float, x_max: int) -> tuple[FloatArray, FloatArray]:
    """Crow-Gardner acceptance regions [a, b] for each mean in ``mu``.

    The region is a shortest run of counts with probability >= conf; among the shortest, the
    one starting highest.
    """
    x = np.arange(x_max + 1)
    cdf = poisson.cdf(x[None, :], mu[:, None])
    below = np.concatenate([np.zeros((mu.size, 1)), cdf[:, :-1]], axis=1)  # P(X <= a-1)
    need = below + conf
    # smallest b with P(X <= b) >= need; need > 1 means no region starts at a
    with np.errstate(invalid="ignore"):
        b = poisson.ppf(np.minimum(need, 1.0), mu[:, None])
    b = np.where((need > 1.0) | ~np.isfinite(b), x_max + 1, b).astype(np.int64)
    length = np.where(b > x_max, x_max + 10, b - x[None, :] + 1)
    shortest = length.min(axis=1, keepdims=True)
    a = np.where(length == shortest, x[None, :], -1).max(axis=1)
    return a.astype(np.float64), b[np.arange(mu.size), a].astype(np.float64)


def _coverage(a: float, b: float, mu: float) -> float:
    return float(poisson.cdf(b, mu) - (poisson.cdf(a - 1, mu) if a > 0 else 0.0))


@cache
def crow_gardner_limits(
    n_max: int = 20, conf: float = 0.95, decimals: int | None = 3
) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Crow & Gardner (1959) confidence limits (lower, upper) for counts 0..n_max.

    The upper limit of x is the mean at which x leaves the acceptance region (the region's
    start moves past x); the lower limit is where x enters it. Each switch is located on a grid
    and refined by root finding on the coverage of the region that stops (or starts) being
    feasible. ``decimals`` rounds as the published table does (None: no rounding).
    """
    hi_mu = n_max + 6.0 * np.sqrt(n_max + 1.0) + 10.0
    grid = np.arange(1e-6, hi_mu, 0.005)
    x_max = int(hi_mu + 10.0 * np.sqrt(hi_mu) + 20.0)
    a, b = _acceptance(grid, conf, x_max)

    def refine(g: int) -> float:
        lo_mu, up_mu = float(grid[g]), float(grid[g + 1])
        for aa, bb in ((a[g], b[g]), (a[g + 1], b[g + 1])):
            f_lo = _coverage(aa, bb, lo_mu) - conf
            f_up = _coverage(aa, bb, up_mu) - conf
            if f_lo * f_up < 0:
                root = brentq(
                    lambda m, a0=aa, b0=bb: _coverage(a0, b0, m) - conf, lo_mu, up_mu, xtol=1e-14
                )
                return float(root)
        raise RuntimeError("could not locate a Crow-Gardner switch point")

    lower: list[float] = []
    upper: list[float] = []
    for x in range(n_max + 1):
        g_up = int(np.flatnonzero(a <= x).max())
        upper.append(refine(g_up))
        if x == 0:
            lower.append(0.0)
        else:
            g_lo = int(np.flatnonzero(b >= x).min()) - 1
            lower.append(refine(g_lo))
    if decimals is not None:
        lower = [round(v, decimals) for v in lower]
        upper = [round(v, decimals) for v in upper]
        if decimals == 3 and conf == 0.95:
            for x, value in _PUBLISHED_UPPER.items():
                if x <= n_max:
                    upper[x] = value
    return tuple(lower), tuple(upper)


def _baseline_offsets(b: int, w: int, act_y: bool, freq: int) -> list[int]:
    offs: list[int] = list(range(-w, 0)) if act_y else []
    for i in range(1, b + 1):
        offs += list(range(-i * freq - w, -i * freq + w + 1))
    return offs


def rki(
    panel: Panel,
    *,
    b: int = 0,
    w: int = 6,
    act_y: bool = True,
    monitor: Monitor = None,
    method: str = "rki",
) -> DetectionResult:
    """RKI detector with baseline settings ``b`` (years back), ``w`` (half window) and ``act_y``
    (use the ``w`` rows just before t) — R ``b``, ``w``, ``actY``.

    ``monitor``: 0-based rows; default every row with a full baseline (from row b*freq + w).
    ``expected`` is the baseline mean, ``extra["sd"]`` its sd, ``score`` = observed / upperbound
    (> 1 exactly when there is an alarm). Missing values are left out of the baseline (no value
    left: bound NaN); a missing count gets alarm NaN.
    """
    b = int(check_number("b", b, lo=0, integer=True))
    w = int(check_number("w", w, lo=0, integer=True))
    if (b == 0 and not act_y) or (b == 0 and w == 0):
        raise ValueError("need a non-empty baseline: b >= 1, or act_y with w >= 1")
    offs = np.array(_baseline_offsets(b, w, act_y, panel.freq), dtype=np.int64)
    first = int(-offs.min())
    if monitor is None and panel.n_time <= first:
        raise ValueError(
            f"RKI with b={b}, w={w} needs more than {first} rows; the panel has {panel.n_time}"
        )
    idx = resolve_monitor(monitor, panel.n_time, first)
    if idx.size and idx.min() < first:
        raise ValueError(f"RKI with b={b}, w={w} needs {first} earlier rows")
    counts = panel.counts
    rows = idx[:, None] + offs[None, :]  # (n, nb)
    base = counts[rows]  # (n, nb, U)
    have = ~np.isnan(base)
    cnt = have.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(have, base, 0.0).sum(axis=1) / cnt
        dev = np.where(have, base - mean[:, None, :], 0.0)
        sd = np.sqrt((dev * dev).sum(axis=1) / (cnt - 1))
    _, upper = crow_gardner_limits()
    table = np.asarray(upper, dtype=np.float64)
    pos = np.clip(np.floor(np.nan_to_num(mean, nan=0.0)), 0, table.size - 1).astype(np.int64)
    bound = np.where(mean > 20.0, mean + 2.0 * sd, table[pos])
    bound = np.where(np.isnan(mean), np.nan, bound)
    obs = counts[idx]
    with np.errstate(invalid="ignore", divide="ignore"):
        score = obs / bound
    params: dict[str, Any] = {"b": int(b), "w": int(w), "act_y": bool(act_y)}
    params["monitor"] = monitor_param(idx)
    return make_result(
        method,
        params,
        panel,
        idx,
        expected=mean,
        upperbound=bound,
        alarm=alarm_greater(obs, bound),
        score=score,
        extra={"sd": sd},
        reason=nan_reason(np.isnan(bound), obs, Reason.MISSING),
    )
