"""Small shared pieces of the detectors: monitored rows, parameter checks, result assembly."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from ruralwatch.epi.detect.base import DetectionResult, Reason
from ruralwatch.epi.panel import FloatArray, Panel

IntArray = npt.NDArray[np.int64]
Monitor = slice | Sequence[int] | npt.NDArray[np.integer[Any]] | None

__all__ = [
    "IntArray",
    "Monitor",
    "alarm_greater",
    "check_number",
    "invalid_units",
    "make_result",
    "nan_reason",
    "resolve_monitor",
]


def nan_reason(
    undecided: npt.NDArray[np.bool_],
    observed: FloatArray,
    cause: int | npt.NDArray[np.integer[Any]],
) -> npt.NDArray[np.int8]:
    """Reason codes for a result: :attr:`Reason.MISSING` where the observed value is missing,
    else ``cause`` (a code, or an array of codes of the result's shape) where ``undecided``
    (the method gave NaN), else 0."""
    out = np.where(undecided, cause, Reason.OK).astype(np.int8)
    out[np.isnan(observed)] = Reason.MISSING
    return out


def check_number(
    name: str,
    value: Any,
    *,
    lo: float | None = None,
    hi: float | None = None,
    lo_open: bool = False,
    hi_open: bool = False,
    integer: bool = False,
) -> float:
    """``value`` as a float, or a ValueError naming the parameter and the allowed range.

    ``lo``/``hi`` are inclusive bounds unless ``lo_open``/``hi_open``; ``integer`` requires a
    whole number. Booleans, strings, NaN and infinities are refused.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ValueError(f"{name} must be a number, got {value!r}")
    v = float(value)
    rng = (
        f"{'(' if lo_open or lo is None else '['}{'-inf' if lo is None else f'{lo:g}'}, "
        f"{'inf' if hi is None else f'{hi:g}'}{')' if hi_open or hi is None else ']'}"
    )
    ok = not np.isnan(v)
    if ok and lo is not None:
        ok = v > lo if lo_open else v >= lo
    if ok and hi is not None:
        ok = v < hi if hi_open else v <= hi
    if np.isinf(v):
        ok = False
    if not ok:
        raise ValueError(f"{name} must lie in {rng}, got {value!r}")
    if integer and v != np.round(v):
        raise ValueError(f"{name} must be a whole number, got {value!r}")
    return v


def invalid_units(counts: FloatArray) -> tuple[npt.NDArray[np.bool_], dict[int, str]]:
    """Columns holding a value that is not a count (negative or infinite; NaN is missing and
    allowed), and for each such column what its first bad value is, with its 0-based row."""
    bad = (counts < 0) | np.isinf(counts)
    cols = np.flatnonzero(bad.any(axis=0))
    notes: dict[int, str] = {}
    for j in cols:
        row = int(np.argmax(bad[:, j]))
        v = counts[row, j]
        kind = "negative" if v < 0 and np.isfinite(v) else "infinite"
        more = int(bad[:, j].sum()) - 1
        notes[int(j)] = f"row {row}: {kind} count {v:g}" + (f" (and {more} more)" if more else "")
    return np.asarray(bad.any(axis=0), dtype=bool), notes


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
