"""Small shared pieces of the detectors: monitored rows, parameter checks, result assembly."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from ruralwatch.epi.detect.base import DetectionResult
from ruralwatch.epi.panel import FloatArray, Panel

IntArray = npt.NDArray[np.int64]
Monitor = slice | Sequence[int] | npt.NDArray[np.integer[Any]] | None

__all__ = ["IntArray", "Monitor", "alarm_greater", "make_result", "resolve_monitor"]


def resolve_monitor(monitor: Monitor, n_time: int, first: int) -> IntArray:
    """0-based monitored rows.

    ``None`` gives every row from ``first`` (the first row with enough history) to the end; a
    slice or a sequence of 0-based row indices is taken as given (negative indices count from the
    end) and must be strictly increasing and inside the panel.
    """
    if monitor is None:
        idx = np.arange(max(first, 0), n_time, dtype=np.int64)
    elif isinstance(monitor, slice):
        idx = np.arange(n_time, dtype=np.int64)[monitor]
    else:
        idx = np.asarray(monitor, dtype=np.int64).ravel()
        idx = np.where(idx < 0, idx + n_time, idx)
    if idx.size and (idx.min() < 0 or idx.max() >= n_time):
        raise ValueError(f"monitor rows must lie in 0..{n_time - 1}")
    if idx.size > 1 and np.any(np.diff(idx) <= 0):
        raise ValueError("monitor rows must be strictly increasing")
    return idx


def alarm_greater(observed: FloatArray, bound: FloatArray, *, strict: bool = True) -> FloatArray:
    """1.0 where observed exceeds the bound (``>``, or ``>=`` if not strict), 0.0 otherwise, NaN
    where either is missing."""
    with np.errstate(invalid="ignore"):
        hit = observed > bound if strict else observed >= bound
    out = hit.astype(np.float64)
    out[np.isnan(observed) | np.isnan(bound)] = np.nan
    return out


def make_result(
    method: str,
    params: dict[str, Any],
    panel: Panel,
    index: IntArray,
    *,
    expected: FloatArray,
    upperbound: FloatArray,
    alarm: FloatArray,
    score: FloatArray,
    extra: dict[str, FloatArray] | None = None,
    scalars: dict[str, FloatArray] | None = None,
    observed: FloatArray | None = None,
    reason: npt.NDArray[np.int8] | None = None,
) -> DetectionResult:
    """Assemble a :class:`DetectionResult` for the monitored rows ``index`` (``observed``
    defaults to the panel's counts at those rows)."""
    dates = None if panel.dates is None else panel.dates[index]
    return DetectionResult(
        method=method,
        params=params,
        index=index,
        units=panel.units,
        observed=panel.counts[index].copy() if observed is None else observed,
        expected=expected,
        upperbound=upperbound,
        alarm=alarm,
        score=score,
        extra=extra or {},
        scalars=scalars or {},
        dates=dates,
        reason=reason,
    )


def monitor_param(index: IntArray) -> list[int]:
    """The monitored rows as recorded in ``params`` (plain ints, JSON-friendly)."""
    return [int(i) for i in index]
