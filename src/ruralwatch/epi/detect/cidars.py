"""CIDARS methods (China Infectious Disease Automated-alert and Response System; Yang et al.
2011): the moving percentile method and the single-case method, for a whole panel at once.

Moving percentile method: the current ``window``-period sum (daily data: the 7 days ending at t)
is compared with the ``percentile`` of the sums of the windows at the same time of year in each
of the previous ``years`` years, together with the ``k`` windows before and the ``k`` after it
(whole windows apart). Percentiles use linear interpolation (numpy's default, R type 7).
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import numpy.typing as npt

from ruralwatch.epi.detect._common import (
    IntArray,
    Monitor,
    check_number,
    make_result,
    monitor_param,
    nan_reason,
    resolve_monitor,
)
from ruralwatch.epi.detect.base import DetectionResult, Reason
from ruralwatch.epi.panel import FloatArray, Panel

__all__ = ["cidars_mpm", "cidars_single_case", "rolling_sum", "same_day_years_back"]


def rolling_sum(counts: FloatArray, window: int) -> FloatArray:
    """Sum of rows r-window+1 .. r for every row r; NaN if the window is incomplete or has a
    missing value."""
    out = np.full(counts.shape, np.nan)
    if counts.shape[0] >= window:
        c = np.cumsum(np.vstack([np.zeros((1, counts.shape[1])), counts]), axis=0)
        out[window - 1 :] = c[window:] - c[:-window]
    return out


def same_day_years_back(
    dates: npt.NDArray[np.datetime64], years: int
) -> npt.NDArray[np.datetime64]:
    """The same calendar day ``years`` years earlier (29 February becomes 28 February)."""
    d = dates.astype("datetime64[D]")
    y = d.astype("datetime64[Y]")
    month_start = d.astype("datetime64[M]")
    month = (month_start - y.astype("datetime64[M]")).astype(np.int64)
    day = (d - month_start.astype("datetime64[D]")).astype(np.int64)
    target_month = (y - years).astype("datetime64[M]") + month
    next_month = target_month + 1
    last_day = (next_month.astype("datetime64[D]") - target_month.astype("datetime64[D]")).astype(
        np.int64
    )
    return np.asarray(target_month.astype("datetime64[D]") + np.minimum(day, last_day - 1))


def _reference_rows(panel: Panel, years: int) -> IntArray:
    """(T, years): the row of the same time i = 1..years years earlier, -1 if not in the panel."""
    n = panel.n_time
    rows = np.arange(n, dtype=np.int64)
    ref = np.empty((n, years), dtype=np.int64)
    for i in range(1, years + 1):
        if panel.freq == 365 and panel.dates is not None:
            target = same_day_years_back(panel.dates, i)
            pos = np.searchsorted(panel.dates, target)
            found = (pos < n) & (panel.dates[np.minimum(pos, n - 1)] == target)
            ref[:, i - 1] = np.where(found, pos, -1)
        else:
            ref[:, i - 1] = rows - i * panel.freq
    return ref


def cidars_mpm(
    panel: Panel,
    *,
    percentile: float = 80.0,
    years: int = 3,
    k: int = 2,
    min_cases: float = 1.0,
    window: int | None = None,
    monitor: Monitor = None,
) -> DetectionResult:
    """CIDARS moving percentile method over every column.

    Args:
        percentile: threshold percentile of the historical sums, 50..90 (default 80).
        years: number of previous years (default 3).
        k: windows taken before and after the same-time window in each year (default 2, so
            5 windows per year, 15 values with 3 years).
        min_cases: the current sum must also be >= this (default 1).
        window: periods per window; default 7 for daily data, 1 otherwise (weekly/monthly).
        monitor: 0-based rows; default every row whose historical windows are all in the panel.

    Daily data use calendar dates when the panel has them (same day i years earlier, 29 Feb ->
    28 Feb), else row t - 365 i; weekly and monthly data use row t - freq i. ``observed`` is the
    current window sum, ``upperbound`` the percentile threshold, ``alarm`` = observed >
    threshold (strictly) and observed >= min_cases, ``expected`` the mean of the historical sums,
    ``score`` = observed / threshold (inf for a positive sum over a zero threshold),
    ``extra["count"]`` the count at t. Missing values in a historical window drop that value;
    no historical value left, or a missing value in the current window, gives NaN.
    """
    check_number("percentile", percentile, lo=50.0, hi=90.0)
    years = int(check_number("years", years, lo=1, integer=True))
    k = int(check_number("k", k, lo=0, integer=True))
    check_number("min_cases", min_cases, lo=0.0)
    if window is not None:
        check_number("window", window, lo=1, integer=True)
    win = (7 if panel.freq == 365 else 1) if window is None else int(window)
    counts = panel.counts
    sums = rolling_sum(counts, win)
    ref = _reference_rows(panel, years)  # (T, years)
    shifts = np.arange(-k, k + 1, dtype=np.int64) * win
    hist_rows = ref[:, :, None] + shifts[None, None, :]  # (T, years, 2k+1)
    inside = (ref[:, :, None] >= 0) & (hist_rows - (win - 1) >= 0) & (hist_rows < panel.n_time)
    full = inside.reshape(panel.n_time, -1).all(axis=1)
    if monitor is None and not full.any():
        raise ValueError(
            f"CIDARS MPM with years={years}, k={k}, window={win} needs the same time of year "
            f"{years} year(s) back and {k} window(s) either side; the panel has {panel.n_time} "
            "rows"
        )
    first = int(np.argmax(full)) if full.any() else panel.n_time
    idx = resolve_monitor(monitor, panel.n_time, first)
    hr = hist_rows[idx].reshape(idx.size, -1)
    ok = inside[idx].reshape(idx.size, -1)
    hist = sums[np.where(ok, hr, 0)]  # (n, H, U)
    hist[~ok] = np.nan
    with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN slices give NaN, as wanted
        threshold = np.nanpercentile(hist, percentile, axis=1) if hist.shape[1] else None
        expected = np.nanmean(hist, axis=1)
    if threshold is None:
        threshold = np.full((idx.size, panel.n_units), np.nan)
    obs = sums[idx]
    with np.errstate(invalid="ignore", divide="ignore"):
        alarm = ((obs > threshold) & (obs >= min_cases)).astype(np.float64)
        score = obs / threshold
    alarm[np.isnan(obs) | np.isnan(threshold)] = np.nan
    params: dict[str, Any] = {
        "percentile": float(percentile),
        "years": int(years),
        "k": int(k),
        "min_cases": float(min_cases),
        "window": win,
        "monitor": monitor_param(idx),
    }
    return make_result(
        "cidars-mpm",
        params,
        panel,
        idx,
        expected=np.asarray(expected, np.float64),
        upperbound=np.asarray(threshold, np.float64),
        alarm=alarm,
        score=np.asarray(score, np.float64),
        extra={"count": counts[idx].copy()},
        observed=obs,
        reason=nan_reason(np.isnan(alarm), obs, Reason.MISSING),
    )


def cidars_single_case(
    panel: Panel, *, min_cases: float = 1.0, monitor: Monitor = None
) -> DetectionResult:
    """CIDARS single-case method (Class A and diseases managed as Class A): alarm whenever
    the count reaches ``min_cases`` (default 1).

    ``upperbound`` = min_cases, alarm = observed >= upperbound (note: not strict), ``score`` =
    observed / min_cases, ``expected`` = 0. Every row by default; a missing count gives NaN.
    """
    check_number("min_cases", min_cases, lo=0.0, lo_open=True)
    idx = resolve_monitor(monitor, panel.n_time, 0)
    obs = panel.counts[idx]
    bound = np.full(obs.shape, float(min_cases))
    with np.errstate(invalid="ignore"):
        alarm = (obs >= bound).astype(np.float64)
    alarm[np.isnan(obs)] = np.nan
    params: dict[str, Any] = {"min_cases": float(min_cases), "monitor": monitor_param(idx)}
    return make_result(
        "cidars-single-case",
        params,
        panel,
        idx,
        expected=np.zeros(obs.shape),
        upperbound=bound,
        alarm=alarm,
        score=obs / float(min_cases),
        reason=nan_reason(np.isnan(alarm), obs, Reason.MISSING),
    )
