"""Moving Epidemic Method (MEM): epidemic thresholds, intensity levels and season timing.

Vega T, Lozano JE, Meerhoff T, et al. Influenza surveillance in Europe: establishing epidemic
thresholds by the Moving Epidemic Method. Influenza Other Respir Viruses 2013;7(4):546-558.
Vega T, Lozano JE, Meerhoff T, et al. Influenza surveillance in Europe: comparing intensity
levels calculated using the moving epidemic method. Influenza Other Respir Viruses
2015;9(5):234-246.

Input: a (periods × seasons) matrix of rates or counts, ``NaN`` = missing, one column a season
(oldest first). For each season the *maximum accumulated percentage* (MAP) curve gives, for
every window length s, the largest share of the season's total that s consecutive periods
hold; the optimum epidemic length is where that curve flattens. The values before, inside and
after each season's epidemic are pooled across seasons to give the epidemic threshold (from
the pre-epidemic values), the post-epidemic threshold and the intensity thresholds.

Rows, ``start`` and ``end`` are **1-based** (as in mem) so results compare line by line with
R. The functions here work on one model at a time: an MEM model is a handful of seasons of
a few dozen periods, and the cost is negligible.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import optimize, stats

from ruralwatch.epi.panel import FloatArray

__all__ = [
    "MemError",
    "MemModel",
    "SeasonTiming",
    "confidence_interval",
    "fill_missing",
    "h_select_df",
    "local_linear",
    "map_curve",
    "memevolution",
    "memmodel",
    "memtiming",
    "r_round",
]


class MemError(ValueError):
    """The model cannot be built (e.g. the mean epidemic runs past the end of the season)."""


# --------------------------------------------------------------------------- small helpers


def r_round(x: float) -> int:
    """R's ``round`` to an integer: half to even (2.5 -> 2, 3.5 -> 4)."""
    return int(np.round(x))


def local_linear(x: FloatArray, y: FloatArray, at: FloatArray, h: float) -> FloatArray:
    """Local-linear regression with a Gaussian kernel of bandwidth ``h``, evaluated at ``at``."""
    d = x[None, :] - at[:, None]
    w = np.exp(-0.5 * (d / h) ** 2)
    s0 = w.sum(axis=1)
    s1 = (w * d).sum(axis=1)
    s2 = (w * d * d).sum(axis=1)
    t0 = (w * y[None, :]).sum(axis=1)
    t1 = (w * d * y[None, :]).sum(axis=1)
    out: FloatArray = (s2 * t0 - s1 * t1) / (s0 * s2 - s1 * s1)
    return out


def _trace(x: FloatArray, h: float) -> float:
    d = x[None, :] - x[:, None]
    w = np.exp(-0.5 * (d / h) ** 2)
    s0 = w.sum(axis=1)
    s1 = (w * d).sum(axis=1)
    s2 = (w * d * d).sum(axis=1)
    # weight of y_i in the fit at x_i: w_ii * (s2 - s1 * 0) / (s0 s2 - s1^2), w_ii = 1
    return float(np.sum(s2 / (s0 * s2 - s1 * s1)))


def _brent_min(f: Any, a: float, b: float, tol: float) -> float:
    """Brent's minimisation without derivatives (golden section + parabolic steps)."""
    res = optimize.minimize_scalar(f, bounds=(a, b), method="bounded", options={"xatol": tol})
    return float(res.x)


def h_select_df(x: npt.ArrayLike, df: float = 6.0) -> float:
    """Bandwidth whose local-linear smoother has ``df`` degrees of freedom (trace of S_h).

    Minimises (trace(S_h) - df)^2 over log h in [log(sd/16), log(2 sd)], sd the standard
    deviation of the x values, with Brent's method at tolerance eps^(1/4) (as R's optimise).
    """
    xx = np.asarray(x, dtype=np.float64)
    sd = float(np.std(xx, ddof=1))
    tol = float(np.finfo(np.float64).eps ** 0.25)
    lh = _brent_min(
        lambda t: (_trace(xx, math.exp(t)) - df) ** 2, math.log(sd / 16), math.log(2 * sd), tol
    )
    return math.exp(lh)


def fill_missing(y: npt.ArrayLike) -> tuple[FloatArray, float | None]:
    """Fill inner missing values with a local-linear kernel smoother of the observed ones.

    Returns the filled season (leading and trailing ``NaN`` stay) and the bandwidth used
    (``None`` when nothing was filled).
    """
    v = np.asarray(y, dtype=np.float64).copy()
    obs = np.flatnonzero(np.isfinite(v))
    if obs.size < 2:
        return v, None
    inner = np.arange(obs[0], obs[-1] + 1)
    gaps = inner[~np.isfinite(v[inner])]
    if gaps.size == 0:
        return v, None
    x = (obs + 1).astype(np.float64)
    h = h_select_df(x)
    est = local_linear(x, v[obs], (gaps + 1).astype(np.float64), h)
    v[gaps] = np.maximum(est, 0.0)
    return v, h


def map_curve(y: npt.ArrayLike) -> tuple[FloatArray, npt.NDArray[np.int64], float]:
    """MAP curve: for s = 0..n the largest sum of s consecutive values and its first start.

    Sums are exactly rounded (``math.fsum``) so that equal windows tie exactly and the
    earliest wins. ``NaN`` counts as 0. Returns (sums, 1-based starts, season total).
    """
    v = np.nan_to_num(np.asarray(y, dtype=np.float64), nan=0.0)
    n = v.size
    sums = np.zeros(n + 1)
    starts = np.zeros(n + 1, dtype=np.int64)
    vals = v.tolist()
    for s in range(1, n + 1):
        best, where = -math.inf, 0
        for i in range(n - s + 1):
            t = math.fsum(vals[i : i + s])
            if t > best:
                best, where = t, i
        sums[s], starts[s] = best, where + 1
    return sums, starts, math.fsum(vals)


# ------------------------------------------------------------------------------ loess (R)


def _loess_local(x: FloatArray, y: FloatArray, x0: float, span: float) -> tuple[float, float]:
    """Local quadratic fit with tricube weights at x0: (value, slope) of the local polynomial."""
    n = x.size
    q = math.floor(n * span)
    d = np.abs(x - x0)
    dq = np.sort(d)[q - 1]
    if span > 1:
        dq *= span
    w = np.where(d < dq, (1 - (d / dq) ** 3) ** 3, 0.0)
    X = np.c_[np.ones(n), x - x0, (x - x0) ** 2]
    sw = np.sqrt(w)
    beta = np.linalg.lstsq(X * sw[:, None], y * sw, rcond=None)[0]
    return float(beta[0]), float(beta[1])


def _kd_vertices(x: FloatArray, fc: int) -> FloatArray:
    """Cell boundaries of the 1-D k-d tree of loess (Cleveland & Grosse 1991).

    The bounding interval of x, widened by 0.5 % of its length on each side, is cut
    recursively at the lower median of the points in a cell (points <= cut go left) until a
    cell holds at most ``fc`` points. The widening and the median rule were calibrated on R's
    loess outputs (oracle ``smoothed`` values agree to ~1e-13).
    """
    lo, hi = float(x.min()), float(x.max())
    margin = 0.005 * (hi - lo)
    cuts = {lo - margin, hi + margin}
    stack = [np.sort(x)]
    while stack:
        pts = stack.pop()
        if pts.size <= fc:
            continue
        cut = float(pts[(pts.size + 1) // 2 - 1])
        left, right = pts[pts <= cut], pts[pts > cut]
        cuts.add(cut)
        if left.size == pts.size:  # all points equal: cannot be split further
            continue
        stack.extend((left, right))
    return np.array(sorted(cuts))


def _loess_interpolate(
    x: FloatArray, y: FloatArray, span: float = 0.75, cell: float = 0.2
) -> FloatArray:
    """loess fitted values with R's default ``surface = "interpolate"`` (1-D).

    The local fit (value and slope) is computed only at the k-d tree vertices; inside each cell
    the surface is the cubic Hermite polynomial matching the values and slopes at both ends.
    """
    fc = math.floor(x.size * span * cell)
    v = _kd_vertices(x, fc)
    fit = np.array([_loess_local(x, y, float(v0), span) for v0 in v])
    j = np.clip(np.searchsorted(v, x, side="right") - 1, 0, v.size - 2)
    h = v[j + 1] - v[j]
    t = (x - v[j]) / h
    f0, s0, f1, s1 = fit[j, 0], fit[j, 1], fit[j + 1, 0], fit[j + 1, 1]
    out: FloatArray = (
        (2 * t**3 - 3 * t**2 + 1) * f0
        + (t**3 - 2 * t**2 + t) * h * s0
        + (3 * t**2 - 2 * t**3) * f1
        + (t**3 - t**2) * h * s1
    )
    return out


# -------------------------------------------------------------------------------- timing


@dataclass(frozen=True)
class SeasonTiming:
    """memtiming for one season (rows 1-based)."""

    length: int
    start: int
    end: int
    sum: float
    percent: float
    total: float
    slope_threshold: float
    n_pre: int
    n_epi: int
    n_post: int
    pre_values: FloatArray
    epi_values: FloatArray
    post_values: FloatArray
    full_values: FloatArray
    pre_sum: float
    post_sum: float
    map_sum: FloatArray
    map_start: npt.NDArray[np.int64]
    map_percent: FloatArray
    smoothed: FloatArray | None
    slope: FloatArray
    h_method1: float | None
    h_fill: float | None
    decision_margin: float
    data: FloatArray


def _top(values: FloatArray, k: int) -> FloatArray:
    """The k largest values in decreasing order, NaN last, padded with NaN."""
    v = values[np.isfinite(values)]
    v = -np.sort(-v)
    out = np.full(k, np.nan)
    m = min(k, v.size)
    out[:m] = v[:m]
    return out


def memtiming(
    season: npt.ArrayLike, n_values: int = 5, method: int = 2, param: float = 2.8
) -> SeasonTiming:
    """Epidemic timing of one season (mem's ``memtiming``; methods 1-4, default 2)."""
    data, h_fill = fill_missing(season)
    n = data.size
    sums, starts, total = map_curve(data)
    percent = np.zeros(n + 1) if total == 0 else 100.0 * sums / total
    s_axis = np.arange(n + 1, dtype=np.float64)
    smoothed: FloatArray | None = None
    h1: float | None = None
    if method == 2:
        xs = np.arange(1, n + 2, dtype=np.float64)
        smoothed = np.maximum(local_linear(xs, percent, xs, 1.0), 0.0)
        slope = np.diff(smoothed)
        below = np.flatnonzero(slope < param)
        length = max(1, int(below[0])) if below.size else n  # (first s with d<delta) - 1
        upto = below[0] + 1 if below.size else n
        margin = float(np.min(np.abs(slope[:upto] - param)))
        threshold = float(param)
    elif method == 1:
        xs = np.arange(1, n + 1, dtype=np.float64)
        h1 = h_select_df(xs)
        slope = np.maximum(local_linear(xs, np.diff(percent), xs, h1), 0.0)
        xn = (xs - xs.min()) / (xs.max() - xs.min())
        rng = slope.max() - slope.min()
        yn = (slope - slope.min()) / rng if rng > 0 else np.zeros_like(slope)
        u = (xn - yn) / math.sqrt(2.0)
        v = np.sqrt(np.maximum(xn**2 + yn**2 - u**2, 0.0))
        length = int(np.argmin(v)) + 1
        sv = np.sort(v)
        margin = float(sv[1] - sv[0]) if sv.size > 1 else math.inf
        threshold = math.nan
    elif method in (3, 4):
        smoothed = _loess_interpolate(s_axis, percent)
        d = np.diff(smoothed)
        if method == 3:
            p = (percent.max() - percent.min()) / (s_axis.max() - s_axis.min())
            dist = np.abs(d - p)
            length = int(np.argmin(dist))  # s index of diff i is i+1; L = first argmin (1-based)
            length = length + 1
            sd = np.sort(dist)
            margin = float(sd[1] - sd[0]) if sd.size > 1 else math.inf
            threshold = float(p)
            slope = d
        else:
            d2 = np.diff(d)
            c = np.abs(np.diff(np.sign(d2)))
            length = 1 + int(np.argmax(c)) + 1 if np.any(c != 0) else n - 1
            margin = float(np.min(np.abs(d2)))
            threshold = 0.0
            slope = d2
    else:
        raise ValueError(f"i.method must be 1, 2, 3 or 4, got {method}")
    length = int(min(max(length, 1), n))
    start = int(starts[length])
    end = start + length - 1
    idx = np.arange(1, n + 1)
    pre = data[idx < start]
    epi = data[(idx >= start) & (idx <= end)]
    post = data[idx > end]
    return SeasonTiming(
        length=length,
        start=start,
        end=end,
        sum=float(sums[length]),
        percent=float(percent[length]),
        total=total,
        slope_threshold=threshold,
        n_pre=int(np.isfinite(pre).sum()),
        n_epi=int(np.isfinite(epi).sum()),
        n_post=int(np.isfinite(post).sum()),
        pre_values=_top(pre, n_values),
        epi_values=_top(epi, n_values),
        post_values=_top(post, n_values),
        full_values=_top(data, n_values),
        pre_sum=math.fsum(np.nan_to_num(pre).tolist()),
        post_sum=math.fsum(np.nan_to_num(post).tolist()),
        map_sum=sums,
        map_start=starts,
        map_percent=percent,
        smoothed=smoothed,
        slope=slope,
        h_method1=h1,
        h_fill=h_fill,
        decision_margin=margin,
        data=data,
    )


# ------------------------------------------------------------------- confidence intervals


def _binom_cdf(k: int, n: int, p: float) -> float:
    if k < 0:
        return 0.0
    if k >= n:
        return 1.0
    return float(stats.binom.cdf(k, n, p))


def _interp_lambda(k: int, n: int, p: float, frac: float) -> float:
    """Nyblom (1992) interpolation weight towards the inner order statistic."""
    if frac == 0:
        return 0.0
    return 1.0 / (1.0 + (k * (1 - p) * (1 - frac)) / ((n - k) * p * frac))


def _median_ci(x: FloatArray, level: float, tails: int) -> tuple[float, float, float]:
    """Median with an interpolated order-statistic interval (Hettmansperger-Sheather/Nyblom)."""
    xs = np.sort(x)
    n = xs.size
    center = float(np.quantile(xs, 0.5))
    p = 0.5
    if np.unique(xs).size < 2:
        return center, center, center

    def ge(r: int) -> float:  # P(X_(r) <= median) = P(B >= r)
        return 1.0 - _binom_cdf(r - 1, n, p)

    def le(s: int) -> float:  # P(X_(s) >= median) = P(B <= s - 1)
        return _binom_cdf(s - 1, n, p)

    def lower_at(r: int, target: float) -> float:
        frac = (ge(r) - target) / (ge(r) - ge(r + 1))
        lam = _interp_lambda(r, n, p, frac)
        return float(xs[r - 1] + lam * (xs[r] - xs[r - 1]))

    def upper_at(s: int, target: float) -> float:
        frac = (le(s) - target) / (le(s) - le(s - 1))
        k = n + 1 - s
        lam = _interp_lambda(k, n, 1 - p, frac)
        return float(xs[s - 1] + lam * (xs[s - 2] - xs[s - 1]))

    if tails == 2:
        return _median_ci_two_sided(xs, level)
    # one tail: lower limit of the lower one-sided interval, upper of the upper one
    rs = [r for r in range(1, n) if ge(r) >= level]
    ss = [s for s in range(2, n + 1) if le(s) >= level]
    if rs and ss:
        return lower_at(max(rs), level), center, upper_at(min(ss), level)
    z = float(stats.norm.ppf(level))
    return _median_ci_normal(xs, z, z)


def _nyblom_lambda(beta: float, w: int, n: int, p: float = 0.5) -> float:
    """Nyblom's (1992) weight of x_(w+1) against x_(w) for the one-sided upper limit of
    confidence ``beta``: [1 + w(1-p)(pi_{w+1} - beta) / ((n-w) p (beta - pi_w))]^-1 with
    pi_w = F_B(n,p)(w - 1). Used as written, also when it falls outside [0, 1]."""
    if w <= 0 or w >= n:
        return 0.0
    pw, pw1 = _binom_cdf(w - 1, n, p), _binom_cdf(w, n, p)
    if beta == pw:
        return 0.0
    return 1.0 / (1.0 + w * (1 - p) * (pw1 - beta) / ((n - w) * p * (beta - pw)))


def _median_ci_two_sided(xs: FloatArray, level: float) -> tuple[float, float, float]:
    """Two-sided interpolated interval for the median (EnvStats ``eqnpar``,
    ``ci.method = "interpolate"``, as its help page describes it).

    Ranks (r, s): start from the smallest r with F(r-1) >= alpha/2 and the largest s with
    F(s-1) <= 1 - alpha/2 (F the Binomial(n, 1/2) CDF, alpha = 1 - level), try each within 2
    of them (1 <= r < s <= n) and keep the pair whose coverage F(s-1) - F(r-1) is the smallest
    one >= level (the first such pair, r ascending, on a tie). The limits are
    (1-l) x_(r) + l x_(r+1) with l = Nyblom's weight at beta = alpha/2, w = r, and
    (1-l) x_(s-1) + l x_(s) with beta = 1 - alpha/2, w = s - 1. Without such a pair, or when
    r and s are neighbours (the interpolation needs [x_(r+1), x_(s-1)]), the normal
    approximation of the ranks (``ci.method = "normal.approx"``), which mem falls back to.
    """
    n = xs.size
    center = float(np.quantile(xs, 0.5))
    a = 1.0 - level
    r0 = next((r for r in range(1, n + 1) if _binom_cdf(r - 1, n, 0.5) >= a / 2), None)
    s0 = next((s for s in range(n, 0, -1) if _binom_cdf(s - 1, n, 0.5) <= 1 - a / 2), None)
    best: tuple[float, int, int] | None = None
    if r0 is not None and s0 is not None:
        for r in range(r0 - 2, r0 + 3):
            for s in range(s0 - 2, s0 + 3):
                if r < 1 or s > n or r >= s:
                    continue
                cov = _binom_cdf(s - 1, n, 0.5) - _binom_cdf(r - 1, n, 0.5)
                if cov >= level and (best is None or cov - level < best[0]):
                    best = (cov - level, r, s)
    if best is None or best[2] - best[1] < 2:
        lo, up = _median_ranks_normal(xs, level)
        return lo, center, up
    _, r, s = best
    lam_lo = _nyblom_lambda(a / 2, r, n)
    lam_up = _nyblom_lambda(1 - a / 2, s - 1, n)
    lo = (1 - lam_lo) * xs[r - 1] + lam_lo * xs[r]
    up = (1 - lam_up) * xs[s - 2] + lam_up * xs[s - 1]
    return float(lo), center, float(up)


def _median_ranks_normal(xs: FloatArray, level: float) -> tuple[float, float]:
    """EnvStats' two-sided ``normal.approx`` ranks: r = floor(n/2 - h), s = ceiling(n/2 + h),
    h = t_{n-1, 1-alpha/2} sqrt(n/4), within 1..n; s + 1 if that coverage is still <= level,
    then r - 1 likewise. The limits are x_(r), x_(s)."""
    n = xs.size
    if n < 2:
        return float(xs[0]), float(xs[-1])
    a = 1.0 - level
    h = float(stats.t.ppf(1 - a / 2, n - 1)) * math.sqrt(n * 0.25)
    r = max(1, math.floor(n * 0.5 - h))
    s = min(n, math.ceil(n * 0.5 + h))

    def cov(r_: int, s_: int) -> float:
        return _binom_cdf(s_ - 1, n, 0.5) - _binom_cdf(r_ - 1, n, 0.5)

    if s + 1 <= n and cov(r, s + 1) <= level:
        s += 1
    if r - 1 >= 1 and cov(r - 1, s) <= level:
        r -= 1
    return float(xs[r - 1]), float(xs[s - 1])


def _median_ci_normal(xs: FloatArray, zl: float, zu: float) -> tuple[float, float, float]:
    """Normal approximation to the order-statistic ranks, interpolated linearly."""
    n = xs.size
    center = float(np.quantile(xs, 0.5))
    half = math.sqrt(n * 0.25)
    rl = min(max(n * 0.5 - zl * half, 1.0), float(n))
    ru = min(max(n * 0.5 + 1 + zu * half, 1.0), float(n))

    def at(r: float) -> float:
        lo = math.floor(r)
        hi = min(lo + 1, n)
        return float(xs[lo - 1] + (r - lo) * (xs[hi - 1] - xs[lo - 1]))

    return at(rl), center, at(ru)


def confidence_interval(
    values: npt.ArrayLike, ci_type: int, level: float, tails: int = 2, use_t: bool = False
) -> tuple[float, float, float]:
    """(lower, center, upper) of mem's interval types 1, 2, 3, 5, 6.

    1: arithmetic mean ± z·sd/√n; 5: mean ± z·sd (point interval); 2, 6: the same on log x
    (log(x+1) if any x is 0), back-transformed; 3: median with an interpolated order-statistic
    interval. z = Φ⁻¹(1 - (1-level)/tails), or with ``use_t`` t_{n-1} quantile × √(1+1/n).
    """
    x = np.asarray(values, dtype=np.float64)
    x = x[np.isfinite(x)]
    n = x.size
    if n == 0:
        return math.nan, math.nan, math.nan
    if ci_type == 3:
        return _median_ci(x, level, tails)
    if ci_type not in (1, 2, 5, 6):
        raise ValueError(f"unsupported interval type {ci_type} (1, 2, 3, 5, 6)")
    q = 1 - (1 - level) / tails
    if use_t:
        z = float(stats.t.ppf(q, n - 1)) * math.sqrt(1 + 1 / n) if n > 1 else math.nan
    else:
        z = float(stats.norm.ppf(q))
    shift = 0.0
    if ci_type in (2, 6):
        shift = 1.0 if np.any(x == 0) else 0.0
        x = np.log(x + shift)
    m = float(np.mean(x))
    sd = float(np.std(x, ddof=1)) if n > 1 else math.nan
    half = z * sd / math.sqrt(n) if ci_type in (1, 2) else z * sd
    lo, ce, up = m - half, m, m + half
    if ci_type in (2, 6):
        lo, ce, up = math.exp(lo) - shift, math.exp(ce) - shift, math.exp(up) - shift
    if n < 2:
        lo = up = math.nan
    return lo, ce, up


# -------------------------------------------------------------------------------- memmodel


@dataclass(frozen=True)
class MemModel:
    """A fitted MEM model: thresholds, intensity levels, timing and typical curve."""

    seasons: tuple[str, ...]
    data: FloatArray
    timings: tuple[SeasonTiming, ...]
    summary: dict[str, float]
    values: dict[str, FloatArray]
    centered: tuple[tuple[int, int, float, float], ...]
    meanlen: tuple[tuple[int, int, float, float], ...]
    curve: FloatArray
    moving: FloatArray
    filled: dict[str, float]
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def epidemic_thresholds(self) -> tuple[float, float]:
        return self.summary["pre_threshold"], self.summary["post_threshold"]

    @property
    def intensity_thresholds(self) -> tuple[float, float, float]:
        s = self.summary
        return s["medium_threshold"], s["high_threshold"], s["veryhigh_threshold"]


MEMMODEL_DEFAULTS: dict[str, Any] = {
    "i.seasons": 10,
    "i.type.threshold": 5,
    "i.level.threshold": 0.95,
    "i.tails.threshold": 1,
    "i.type.intensity": 6,
    "i.level.intensity": (0.40, 0.90, 0.975),
    "i.tails.intensity": 1,
    "i.type.curve": 2,
    "i.level.curve": 0.95,
    "i.type.other": 3,
    "i.level.other": 0.95,
    "i.method": 2,
    "i.param": 2.8,
    "i.centering": -1,
    "i.n.max": -1,
    "i.use.t": False,
}


def _window(data: FloatArray, length: int) -> tuple[int, int, float, float]:
    sums, starts, total = map_curve(data)
    st = int(starts[length])
    pct = 0.0 if total == 0 else 100.0 * sums[length] / total
    return st, st + length - 1, float(sums[length]), float(pct)


def _week_label(i: float, first: int) -> float:
    if not math.isfinite(i):
        return math.nan
    return i + first - 1 if i <= 53 - first else i + first - 53


def memmodel(
    data: npt.ArrayLike,
    season_names: tuple[str, ...] | list[str] | None = None,
    *,
    start_label: int = 1,
    **params: Any,
) -> MemModel:
    """Build an MEM model from a (periods × seasons) matrix.

    Parameters use mem's names with dots replaced by underscores, or the R names verbatim in
    ``params`` (e.g. ``**{"i.method": 2}``): seasons (number of most recent seasons, None or
    <= 0: all), type_threshold, level_threshold, tails_threshold, type_intensity,
    level_intensity (3 levels), tails_intensity, type_curve, level_curve, type_other,
    level_other, method, param, centering, n_max, use_t. See docs/methods/mem.md.
    """
    p = dict(MEMMODEL_DEFAULTS)
    for k, v in params.items():
        key = k if k.startswith("i.") else "i." + k.replace("_", ".")
        if key not in p:
            raise MemError(
                f"unknown memmodel parameter {k!r}; accepted: "
                + ", ".join(n[2:].replace(".", "_") for n in MEMMODEL_DEFAULTS)
            )
        p[key] = v
    for key in ("i.level.threshold", "i.level.curve", "i.level.other"):
        lv = float(p[key])
        if not 0.0 < lv < 1.0:
            raise MemError(f"{key[2:].replace('.', '_')} must lie in (0, 1), got {p[key]!r}")
    for lv in np.atleast_1d(np.asarray(p["i.level.intensity"], dtype=np.float64)):
        if not 0.0 < lv < 1.0:
            raise MemError(
                f"level_intensity values must lie in (0, 1), got {p['i.level.intensity']!r}"
            )
    mat = np.asarray(data, dtype=np.float64)
    if mat.ndim == 1:
        mat = mat[:, None]
    if mat.ndim != 2:
        raise MemError(f"data must be a (periods x seasons) matrix, got shape {mat.shape}")
    bad = (mat < 0) | np.isinf(mat)
    if bad.any():
        r0, c0 = (int(v[0]) for v in np.nonzero(bad))
        raise MemError(
            f"season {c0 + 1} (column {c0}), period {r0 + 1} (row {r0}): "
            f"{mat[r0, c0]:g} is not a rate or count (negative or infinite)"
        )
    names = (
        tuple(season_names)
        if season_names is not None
        else tuple(str(i + 1) for i in range(mat.shape[1]))
    )
    if len(names) != mat.shape[1]:
        raise ValueError("one name per season (column) is needed")
    keep = [j for j in range(mat.shape[1]) if np.nansum(mat[:, j]) != 0]
    ns = p["i.seasons"]
    if ns is not None and not (isinstance(ns, float) and math.isnan(ns)) and ns > 0:
        keep = keep[-int(ns) :]
    if not keep:
        raise MemError("no season with cases")
    if len(keep) < 2:
        # mem stops too ("at least two seasons of valid data (non-zero values) required"):
        # thresholds and the typical curve are intervals over seasons.
        raise MemError(
            f"MEM needs at least two seasons with cases; {len(keep)} used "
            f"(of {mat.shape[1]}, seasons={ns!r})"
        )
    names = tuple(names[j] for j in keep)
    n_seasons = len(keep)
    n_periods = mat.shape[0]
    filled: dict[str, float] = {}
    cols = []
    for j, name in zip(keep, names, strict=True):
        col, h = fill_missing(mat[:, j])
        if h is not None:
            filled[name] = h
        cols.append(col)
    used = np.column_stack(cols)
    nmax_arg = int(p["i.n.max"])
    if nmax_arg == -1:
        n_max = max(1, r_round(30 / n_seasons))
    elif nmax_arg == 0:
        n_max = n_periods
    else:
        n_max = nmax_arg
    method, param = int(p["i.method"]), float(p["i.param"])
    timings = tuple(memtiming(used[:, j], n_max, method, param) for j in range(n_seasons))

    pool = {
        "pre": np.concatenate([t.pre_values for t in timings]),
        "post": np.concatenate([t.post_values for t in timings]),
        "epi": np.concatenate([t.epi_values for t in timings]),
        "epi_full": np.concatenate([t.full_values for t in timings]),
    }
    use_t = bool(p["i.use.t"])
    s: dict[str, float] = {
        "n_max": n_max,
        "n_seasons": n_seasons,
        "n_periods": n_periods,
        "start_label": start_label,
    }
    for kind, nm in (("pre", "pre"), ("post", "post")):
        lo, ce, up = confidence_interval(
            pool[kind], p["i.type.threshold"], p["i.level.threshold"], p["i.tails.threshold"], use_t
        )
        s[f"{nm}_threshold"], s[f"{nm}_lower"], s[f"{nm}_center"] = up, lo, ce
    for kind in ("pre", "post", "epi", "epi_full"):
        s[f"n_{kind}_values"] = int(np.isfinite(pool[kind]).sum())
    levels = tuple(float(v) for v in p["i.level.intensity"])
    for prefix, kind in (("", "epi"), ("full_", "epi_full")):
        for name, lev in zip(("medium", "high", "veryhigh"), levels, strict=True):
            lo, ce, up = confidence_interval(
                pool[kind], p["i.type.intensity"], lev, p["i.tails.intensity"], use_t
            )
            if not prefix:
                s[f"{name}_level"] = lev
            s[f"{prefix}{name}_lower"], s[f"{prefix}{name}_center"] = lo, ce
            s[f"{prefix}{name}_threshold"] = up
    for nm, vals in (
        ("length", [t.length for t in timings]),
        ("percent", [t.percent for t in timings]),
        ("start", [t.start for t in timings]),
    ):
        lo, ce, up = confidence_interval(vals, p["i.type.other"], p["i.level.other"], 2, use_t)
        s[f"{nm}_lower"], s[f"{nm}_center"], s[f"{nm}_upper"] = lo, ce, up
        if nm != "percent":
            s[f"{nm}_lower_int"] = math.floor(lo) if math.isfinite(lo) else math.nan
            s[f"{nm}_center_int"] = r_round(ce) if math.isfinite(ce) else math.nan
            s[f"{nm}_upper_int"] = math.ceil(up) if math.isfinite(up) else math.nan
    for which in ("lower", "center", "upper"):
        s[f"start_{which}_label"] = _week_label(s[f"start_{which}_int"], start_label)
    mean_length = r_round(s["length_center"])
    mean_start = r_round(s["start_center"])
    s["mean_length"], s["mean_start"] = mean_length, mean_start
    centering = int(p["i.centering"])
    centered_length = centering if centering > 0 else mean_length
    s["centered_length"] = centered_length
    centered = tuple(_window(used[:, j], centered_length) for j in range(n_seasons))
    meanlen = tuple(_window(used[:, j], mean_length) for j in range(n_seasons))
    c_starts = [c[0] for c in centered]
    _, cs_center, _ = confidence_interval(c_starts, p["i.type.other"], p["i.level.other"], 2, use_t)
    centered_start = r_round(cs_center)
    s["centered_start"] = centered_start
    if mean_start + mean_length - 1 > n_periods + centered_start - min(c_starts):
        raise MemError(
            "the mean epidemic runs past the end of the season "
            "(mem stops here with 'subscript out of bounds')"
        )
    moving = np.full((n_periods, n_seasons), np.nan)
    rows = np.arange(1, n_periods + 1)
    for j, cj in enumerate(c_starts):
        src = rows + cj - centered_start
        ok = (src >= 1) & (src <= n_periods)
        moving[ok, j] = used[src[ok] - 1, j]
    curve = np.full((n_periods, 3), np.nan)
    for i in range(n_periods):
        curve[i] = confidence_interval(moving[i], p["i.type.curve"], p["i.level.curve"], 2, use_t)
    return MemModel(
        seasons=names,
        data=used,
        timings=timings,
        summary=s,
        values=pool,
        centered=centered,
        meanlen=meanlen,
        curve=curve,
        moving=moving,
        filled=filled,
        params=p,
    )


# ---------------------------------------------------------------------------- memevolution


def memevolution(
    data: npt.ArrayLike,
    seasons: tuple[str, ...] | list[str],
    *,
    evolution_seasons: int = 10,
    evolution_method: str = "sequential",
    **params: Any,
) -> tuple[list[str], list[dict[str, float]], list[list[int]]]:
    """Models fitted on moving sets of seasons (mem's ``memevolution``).

    ``sequential``: for k = 3..S+1 a model on the (up to ``evolution_seasons``) seasons before
    k, named after season k (``next`` for S+1). ``cross``: for each season the model on the
    ``evolution_seasons`` other seasons closest in time (ties: the earlier), then ``next``.
    Returns model names, a row of results per model and the 0/1 season-use flags.
    """
    mat = np.asarray(data, dtype=np.float64)
    names = list(seasons)
    n = len(names)
    sets: list[tuple[str, list[int]]] = []
    if evolution_method == "sequential":
        for k in range(3, n + 2):
            lo = max(1, k - evolution_seasons)
            sets.append((names[k - 1] if k <= n else "next", list(range(lo - 1, k - 1))))
    elif evolution_method == "cross":
        for k in range(n):
            others = sorted((j for j in range(n) if j != k), key=lambda j: (abs(j - k), j))
            sets.append((names[k], sorted(others[:evolution_seasons])))
        sets.append(("next", list(range(max(0, n - evolution_seasons), n))))
    else:
        raise ValueError("evolution_method must be 'sequential' or 'cross'")
    params = dict(params)
    params.setdefault("i.seasons", None)
    out_names, rows, flags = [], [], []
    for name, idx in sets:
        m = memmodel(mat[:, idx], [names[j] for j in idx], **params)
        s = m.summary
        rows.append(
            {
                "number": float(s["n_seasons"]),  # seasons with cases, as mem counts them
                "durationll": s["length_lower"],
                "duration": s["length_center"],
                "durationul": s["length_upper"],
                "startll": s["start_lower_int"],
                "start": s["start_center_int"],
                "startul": s["start_upper_int"],
                "percentagell": s["percent_lower"],
                "percentage": s["percent_center"],
                "percentageul": s["percent_upper"],
                "epidemic": s["pre_threshold"],
                "postepidemic": s["post_threshold"],
                "medium": s["medium_threshold"],
                "high": s["high_threshold"],
                "veryhigh": s["veryhigh_threshold"],
            }
        )
        out_names.append(name)
        flags.append([1 if j in idx else 0 for j in range(n)])
    return out_names, rows, flags
