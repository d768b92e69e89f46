"""Epidemic level per unit: below threshold / low / medium / high / very high.

Four thresholds cut the value of each unit (the count summed over the last ``days`` periods) into
five levels, as MEM's intensity levels do (Vega et al. 2015):

    value <  epidemic                 → 0 below the epidemic threshold
    epidemic  <= value < medium       → 1 low
    medium    <= value < high         → 2 medium
    high      <= value < very_high    → 3 high
    very_high <= value                → 4 very high

Thresholds come from a fitted MEM model when the unit has the history for one
(:func:`thresholds_from_mem`: epidemic = MEM's pre-epidemic threshold, medium/high/very high =
MEM's intensity thresholds at 40 / 90 / 97.5 %), else from configured incidences per 100,000
population over ``days`` days (:class:`RateThresholds`, :func:`thresholds_from_rates`).
Intensity thresholds lower than the one before are raised to it, so the cut points never
decrease (MEM can give a medium threshold below the epidemic threshold in mild seasons).
See docs/methods/phase.md for the default rates and where they come from.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from ruralwatch.epi.assess.mem import MemModel
from ruralwatch.epi.panel import FloatArray

__all__ = [
    "BELOW",
    "HIGH",
    "LEVELS",
    "LOW",
    "MEDIUM",
    "VERY_HIGH",
    "LevelResult",
    "LevelThresholds",
    "RateThresholds",
    "classify",
    "epidemic_level",
    "rolling_sum",
    "thresholds_from_mem",
    "thresholds_from_rates",
]

IntArray = npt.NDArray[np.int64]
StrArray = npt.NDArray[np.str_]

BELOW, LOW, MEDIUM, HIGH, VERY_HIGH = 0, 1, 2, 3, 4
#: Level codes in order.
LEVELS: tuple[str, ...] = ("below_threshold", "low", "medium", "high", "very_high")


@dataclass(frozen=True)
class RateThresholds:
    """Level thresholds as incidences per ``per`` population over ``days`` days.

    Defaults (per 100,000 over 7 days) are RuralWatch's choice for daily case counts of an acute
    respiratory epidemic, anchored on the winter of 2022-23 (docs/methods/phase.md): township
    fever-clinic visits peaked near 1,300 per 100,000 rural residents per week (high) and the
    task force called about 70 per 100,000 per week on 23 Jan 2023 a low level (low).
    """

    epidemic: float = 20.0
    medium: float = 400.0
    high: float = 1000.0
    very_high: float = 3000.0
    per: float = 100_000.0
    days: int = 7

    def as_tuple(self) -> tuple[float, float, float, float]:
        return (self.epidemic, self.medium, self.high, self.very_high)


@dataclass(frozen=True)
class LevelThresholds:
    """Per-unit cut points on the ``days``-period sum (arrays of shape (U,)).

    ``source`` is ``"mem"`` or ``"rate"`` per unit; ``days`` is the number of periods summed
    (7 for daily data with weekly rates, 1 for MEM on monthly or weekly values).
    """

    epidemic: FloatArray
    medium: FloatArray
    high: FloatArray
    very_high: FloatArray
    source: StrArray
    days: int

    def matrix(self) -> FloatArray:
        """(U, 4) cut points, made non-decreasing along each row."""
        m = np.column_stack([self.epidemic, self.medium, self.high, self.very_high])
        out: FloatArray = np.maximum.accumulate(m, axis=1)
        return out


@dataclass(frozen=True)
class LevelResult:
    """Level of every unit at one row.

    ``value`` is the sum over the last ``thresholds.days`` rows; ``per_100k`` the same per
    100,000 population (over those rows); ``code`` 0-4 (-1 unknown), ``name`` from LEVELS.
    """

    code: IntArray
    name: StrArray
    value: FloatArray
    per_100k: FloatArray
    thresholds: LevelThresholds
    end: int

    @property
    def is_low(self) -> npt.NDArray[np.bool_]:
        """Below the epidemic threshold or low (the "low level" of the phase rules)."""
        out: npt.NDArray[np.bool_] = (self.code >= 0) & (self.code <= LOW)
        return out


def thresholds_from_rates(
    population: npt.ArrayLike, rates: RateThresholds | None = None
) -> LevelThresholds:
    """Cut points in counts over ``rates.days`` days from incidences per ``rates.per``."""
    r = RateThresholds() if rates is None else rates
    pop = np.atleast_1d(np.asarray(population, dtype=np.float64))
    if np.any(~(pop > 0)):
        j = int(np.flatnonzero(~(pop > 0))[0])
        raise ValueError(
            f"population must be positive: unit {j} (column {j}) has {pop[j]:g}; an area "
            "without a population cannot have an incidence level"
        )
    scale = pop / r.per
    e, m, h, v = (scale * t for t in r.as_tuple())
    return LevelThresholds(
        epidemic=e,
        medium=m,
        high=h,
        very_high=v,
        source=np.full(pop.size, "rate", dtype="<U4"),
        days=r.days,
    )


def thresholds_from_mem(
    models: Sequence[MemModel | None], fallback: LevelThresholds | None = None, *, days: int = 1
) -> LevelThresholds:
    """Cut points from one MEM model per unit; ``None`` (or NaN thresholds) uses ``fallback``.

    MEM thresholds are in the units of the model's data (e.g. monthly counts), so ``days`` is
    the number of periods summed before comparing (1: the value of one period). A fallback must
    be given when some unit has no usable model, and must have the same ``days``.
    """
    n = len(models)
    cols = np.full((n, 4), np.nan)
    for i, m in enumerate(models):
        if m is not None:
            s = m.summary
            cols[i] = (
                s["pre_threshold"],
                s["medium_threshold"],
                s["high_threshold"],
                s["veryhigh_threshold"],
            )
    usable = np.all(np.isfinite(cols), axis=1)
    source = np.where(usable, "mem", "rate").astype("<U4")
    if not usable.all():
        if fallback is None:
            raise ValueError("some units have no usable MEM model and no fallback was given")
        if fallback.days != days:
            raise ValueError("the fallback thresholds must sum over the same number of periods")
        cols[~usable] = np.column_stack(
            [fallback.epidemic, fallback.medium, fallback.high, fallback.very_high]
        )[~usable]
    return LevelThresholds(
        epidemic=cols[:, 0],
        medium=cols[:, 1],
        high=cols[:, 2],
        very_high=cols[:, 3],
        source=source,
        days=days,
    )


def classify(values: npt.ArrayLike, thresholds: LevelThresholds) -> IntArray:
    """Level codes 0-4 for values of shape (U,) or (T, U); ``-1`` where the value is NaN."""
    v = np.asarray(values, dtype=np.float64)
    cuts = thresholds.matrix()  # (U, 4)
    code = (v[..., None] >= cuts).sum(axis=-1).astype(np.int64)
    out: IntArray = np.where(np.isnan(v), -1, code)
    return out


def rolling_sum(counts: npt.ArrayLike, days: int) -> FloatArray:
    """Trailing sums over ``days`` rows of a (T,) or (T, U) array; NaN until the first full
    window, and NaN (missing) values count as 0 inside a window."""
    y = np.asarray(counts, dtype=np.float64)
    if y.ndim == 1:
        y = y[:, None]
    c = np.vstack([np.zeros((1, y.shape[1])), np.cumsum(np.nan_to_num(y), axis=0)])
    out = np.full(y.shape, np.nan)
    if days <= y.shape[0]:
        out[days - 1 :] = c[days:] - c[:-days]
    return out


def epidemic_level(
    counts: npt.ArrayLike,
    population: npt.ArrayLike,
    *,
    end: int | None = None,
    thresholds: LevelThresholds | None = None,
    rates: RateThresholds | None = None,
) -> LevelResult:
    """Level of every unit at row ``end`` (default the last) of a (T, U) panel.

    The value is the sum over the last ``thresholds.days`` rows (missing reports count as 0);
    thresholds default to :func:`thresholds_from_rates` with ``rates``.
    """
    y = np.asarray(counts, dtype=np.float64)
    if y.ndim == 1:
        y = y[:, None]
    pop = np.broadcast_to(np.asarray(population, dtype=np.float64), (y.shape[1],))
    th = thresholds_from_rates(pop, rates) if thresholds is None else thresholds
    T = y.shape[0]
    e = T - 1 if end is None else (end + T if end < 0 else end)
    if not 0 <= e < T:
        raise ValueError(f"end {end} outside 0..{T - 1}")
    if e + 1 < th.days:
        raise ValueError(f"{th.days} rows are needed before row {e}")
    value = np.nansum(y[e - th.days + 1 : e + 1], axis=0)
    code = classify(value, th)
    with np.errstate(divide="ignore", invalid="ignore"):
        per_100k = value / pop * 1e5
    names = np.array([LEVELS[c] if c >= 0 else "unknown" for c in code], dtype="<U16")
    return LevelResult(code=code, name=names, value=value, per_100k=per_100k, thresholds=th, end=e)
