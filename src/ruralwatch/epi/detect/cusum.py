"""CUSUM on transformed counts (Rossi et al. 1999), for a whole panel at once.

Each count y_t is turned into an approximately standard normal score z_t given the in-control
mean m_t, and S_t = max(0, S_{t-1} + z_t - k) with S before the first monitored row = 0; the alarm
is S_t >= h. The statistic is not reset after an alarm (as R ``algo.cusum``).
"""

from __future__ import annotations

from typing import Any, Literal

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
from ruralwatch.epi.detect._glm import fit_glm_r, predict_r
from ruralwatch.epi.detect.base import DetectionResult, Reason
from ruralwatch.epi.panel import FloatArray, Panel

__all__ = ["TRANSFORMS", "cusum", "transform"]

Trans = Literal["standard", "rossi", "anscombe", "anscombe2nd", "pearsonNegBin"]
TRANSFORMS: tuple[str, ...] = ("standard", "rossi", "anscombe", "anscombe2nd", "pearsonNegBin")


def transform(y: FloatArray, m: FloatArray, trans: str, alpha: float | None = None) -> FloatArray:
    """The standardised score z of count(s) ``y`` given mean(s) ``m``."""
    with np.errstate(invalid="ignore", divide="ignore"):
        if trans == "standard":
            return np.asarray((y - m) / np.sqrt(m))
        if trans == "rossi":
            return np.asarray((y - 3.0 * m + 2.0 * np.sqrt(y * m)) / (2.0 * np.sqrt(m)))
        if trans == "anscombe":
            return np.asarray(1.5 * (y ** (2 / 3) - m ** (2 / 3)) / m ** (1 / 6))
        if trans == "anscombe2nd":
            return np.asarray(
                1.5 * (y ** (2 / 3) - (m ** (2 / 3) - m ** (-1 / 3) / 9)) / m ** (1 / 6)
            )
        if trans == "pearsonNegBin":
            assert alpha is not None
            return np.asarray((y - m) / np.sqrt(m + alpha * m * m))
    raise ValueError(f"trans must be one of {TRANSFORMS}, got {trans!r}")


def _bound(m: FloatArray, c: FloatArray, trans: str, alpha: float | None) -> FloatArray:
    """The count whose score is ``c`` (R's formulas, incl. its anscombe2nd variant)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        if trans == "standard":
            b = np.ceil(m + c * np.sqrt(m))
        elif trans == "rossi":
            b = (np.sqrt(4.0 * m + 2.0 * c * np.sqrt(m)) - np.sqrt(m)) ** 2
        elif trans == "anscombe":
            b = (m ** (2 / 3) + (2 / 3) * c * m ** (1 / 6)) ** 1.5
        elif trans == "anscombe2nd":
            # R's bound uses m^(1/3)/9 where its statistic uses m^(-1/3)/9; kept for parity.
            b = (m ** (2 / 3) - m ** (1 / 3) / 9 + (2 / 3) * c * m ** (1 / 6)) ** 1.5
        else:
            assert alpha is not None
            b = m + c * np.sqrt(m + alpha * m * m)
    b = np.asarray(b, dtype=np.float64)
    return np.where(np.isnan(b) | (b < 0), 0.0, b)


def _harmonic_design(tt: FloatArray, freq: int) -> FloatArray:
    w = 2.0 * np.pi / freq * tt
    return np.column_stack([np.ones_like(tt), np.cos(w), np.sin(w)])


def _reference_mean(
    panel: Panel, idx: IntArray, m: float | str | npt.ArrayLike | None
) -> FloatArray:
    counts = panel.counts
    first = int(idx[0]) if idx.size else panel.n_time
    shape = (idx.size, panel.n_units)
    if m is None:
        if first < 1:
            raise ValueError("m=None needs rows before the first monitored row")
        pre = counts[:first]
        have = ~np.isnan(pre)
        n_have = have.sum(axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            # missing values left out; a unit with none gets NaN (reason MISSING)
            mean = np.where(have, pre, 0.0).sum(axis=0) / n_have
        return np.broadcast_to(mean, shape).astype(np.float64)
    if isinstance(m, str):
        if m != "glm":
            raise ValueError(f"m must be None, 'glm', a number or an array, got {m!r}")
        if first < 3:
            raise ValueError("m='glm' needs at least 3 rows before the first monitored row")
        tt = panel.start[1] + np.arange(panel.n_time, dtype=np.float64)
        beta, _ = fit_glm_r(_harmonic_design(tt[:first], panel.freq), counts[:first])
        return predict_r(_harmonic_design(tt[idx], panel.freq), beta)
    arr = np.asarray(m, dtype=np.float64)
    if arr.ndim == 0:
        return np.full(shape, float(arr))
    if arr.ndim in (1, 2) and arr.shape[0] == panel.n_time:
        arr = arr[idx]
    return np.broadcast_to(arr.reshape(idx.size, -1), shape).astype(np.float64)


def cusum(
    panel: Panel,
    *,
    k: float = 1.04,
    h: float = 2.26,
    m: float | str | npt.ArrayLike | None = None,
    trans: Trans = "standard",
    alpha: float | None = None,
    monitor: Monitor = None,
) -> DetectionResult:
    """CUSUM over every column of ``panel`` (R ``algo.cusum``).

    Args:
        k: reference value subtracted at each step (R ``k``).
        h: decision interval; alarm when S_t >= h (R ``h``).
        m: in-control mean. ``None``: mean of the rows before the first monitored row;
            ``"glm"``: Poisson GLM ``1 + cos(2 pi t/freq) + sin(2 pi t/freq)`` with
            t = start period + row, fitted on the rows before the first monitored row;
            a number, or an array with one value per panel row or per monitored row
            (optionally per unit).
        trans: ``"standard"``, ``"rossi"``, ``"anscombe"``, ``"anscombe2nd"`` or
            ``"pearsonNegBin"`` (R ``trans``).
        alpha: NB dispersion for ``pearsonNegBin`` (variance m + alpha m^2).
        monitor: 0-based rows to monitor, in order; default every row from ``freq`` on
            (one year of history).

    ``score`` and ``extra["cusum"]`` are S_t; ``expected`` and ``extra["m"]`` the mean m_t;
    ``upperbound`` the count that would have given S_t = h (``NaN``/negative -> 0). A missing
    count leaves S unchanged and gets alarm ``NaN``.
    """
    if trans not in TRANSFORMS:
        raise ValueError(f"trans must be one of {TRANSFORMS}, got {trans!r}")
    check_number("k", k)
    check_number("h", h, lo=0.0, lo_open=True)
    if trans == "pearsonNegBin":
        if alpha is None:
            raise ValueError("trans='pearsonNegBin' needs alpha >= 0")
        check_number("alpha", alpha, lo=0.0)
    if monitor is None and panel.n_time < 2:
        raise ValueError(f"cusum needs at least 2 rows; the panel has {panel.n_time}")
    first_default = min(panel.freq, panel.n_time - 1)
    idx = resolve_monitor(monitor, panel.n_time, max(first_default, 1))
    mm = _reference_mean(panel, idx, m)
    y = panel.counts[idx]
    z = transform(y, mm, trans, alpha)
    n, u = y.shape
    stat = np.zeros((n, u))
    bound = np.zeros((n, u))
    prev = np.zeros(u)
    missing = np.isnan(y)
    for i in range(n):
        bound[i] = _bound(mm[i], h + k - prev, trans, alpha)
        # A missing count leaves S as it was. A score that cannot be formed for a count that
        # is there (a reference mean of 0 or missing: 0/0) makes S NaN from then on, as in R.
        cur = np.where(missing[i], prev, np.maximum(0.0, prev + z[i] - k))
        stat[i] = cur
        prev = cur
    alarm = (stat >= h).astype(np.float64)
    alarm[missing | np.isnan(stat)] = np.nan
    # the first row where S became NaN decides the cause for the rest of the unit
    broke = np.isnan(stat) & ~np.isnan(np.vstack([np.zeros((1, u)), stat[:-1]]))
    cause_at = np.where(
        np.isnan(mm), Reason.MISSING, np.where(mm == 0.0, Reason.ALL_ZERO, Reason.NON_FINITE)
    )
    cause = np.full((n, u), Reason.OK, dtype=np.int8)
    for j in np.flatnonzero(broke.any(axis=0)):
        i0 = int(np.argmax(broke[:, j]))
        cause[i0:, j] = cause_at[i0, j]
    m_param: Any = m if (m is None or isinstance(m, (str, float, int))) else "array"
    params: dict[str, Any] = {
        "k": float(k),
        "h": float(h),
        "m": m_param,
        "trans": trans,
        "alpha": None if alpha is None else float(alpha),
        "monitor": monitor_param(idx),
    }
    return make_result(
        "cusum",
        params,
        panel,
        idx,
        expected=mm,
        upperbound=bound,
        alarm=alarm,
        score=stat,
        extra={"cusum": stat, "m": mm},
        reason=nan_reason(np.isnan(stat), y, cause),
    )
