"""Epidemic phase per unit at a date: growth, plateau, peak passed, steady decline, low level.

Rules, applied in this order to every unit of a (T × U) panel at the as-of row ``end`` (the
first that holds wins; docs/methods/phase.md gives the reasons for each parameter):

1. ``growth`` — the growth rate (:func:`growth.growth_rate`, ``window`` days ending ``delay``
   days before ``end``) is significantly positive: ``r_low > 0``.
2. ``steady_decline`` — the growth rate was significantly negative (``r_high < 0``) at every
   one of the last ``sustain_days`` as-of rows (``end − sustain_days + 1 .. end``, each with its
   own window), and no rebound was detected (``rebound`` argument).
3. ``low_level`` — the epidemic level is below the epidemic threshold or low (``low`` argument,
   e.g. :attr:`level.LevelResult.is_low`).
4. ``peak_passed`` — the point estimate r < 0 and the 7-day sum is at least ``peak_drop``
   (default 20 %) below the largest 7-day sum since ``season_start``. "r < 0" means below
   ``-R_ROUNDING`` (1e-9 per day): a rate that is 0 up to rounding (e.g. the same counts at
   both ends of the window) must not decide the phase by the sign of its last digits.
5. ``plateau`` — otherwise (growth not significant either way at a level that is not low, or
   a decline too close to the top to call the peak passed).

``undetermined`` is given when the growth rate cannot be estimated (no case in the window) and
the level is not low.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from ruralwatch.epi.assess.growth import GrowthResult, growth_rate
from ruralwatch.epi.assess.level import rolling_sum
from ruralwatch.epi.panel import FloatArray

__all__ = ["PHASES", "R_ROUNDING", "PhaseResult", "phase"]

#: Growth rates within this of 0 (per day) count as 0 in the phase rules.
R_ROUNDING = 1e-9

IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]
StrArray = npt.NDArray[np.str_]

PHASES: tuple[str, ...] = (
    "growth",
    "plateau",
    "peak_passed",
    "steady_decline",
    "low_level",
    "undetermined",
)


@dataclass(frozen=True)
class PhaseResult:
    """Phase of every unit (arrays of shape (U,)).

    Attributes:
        phase: one of :data:`PHASES`.
        growth: the growth-rate fit at ``end``.
        declining_days: consecutive as-of rows up to ``end`` with a significantly negative
            growth rate (counted back at most ``sustain_days`` rows).
        sum7, max7: the 7-day sum at ``end`` and the largest since ``season_start``.
        drop_from_max: ``1 − sum7 / max7``.
        low, rebound: the inputs used.
        params: parameters used.
    """

    phase: StrArray
    growth: GrowthResult
    declining_days: IntArray
    sum7: FloatArray
    max7: FloatArray
    drop_from_max: FloatArray
    low: BoolArray
    rebound: BoolArray
    end: int
    params: dict[str, Any] = field(default_factory=dict)


def phase(
    counts: npt.ArrayLike,
    *,
    end: int | None = None,
    low: npt.ArrayLike | None = None,
    rebound: npt.ArrayLike | None = None,
    window: int = 14,
    delay: int = 2,
    sustain_days: int = 14,
    peak_drop: float = 0.2,
    season_start: int = 0,
    level: float = 0.95,
) -> PhaseResult:
    """Classify the phase of every unit at row ``end`` (default the last row).

    Args:
        counts: (T,) or (T, U) daily counts, NaN = missing report.
        end: as-of row.
        low: (U,) bool, the unit is at a low level (below threshold or low); default all False.
        rebound: (U,) bool, a rebound was detected; default all False.
        window, delay, level: growth-rate fit (see :func:`growth.growth_rate`).
        sustain_days: as-of rows the decline must have held for ``steady_decline``.
        peak_drop: share below the season's largest 7-day sum for ``peak_passed``.
        season_start: first row of the season (for the largest 7-day sum).
    """
    y = np.asarray(counts, dtype=np.float64)
    if y.ndim == 1:
        y = y[:, None]
    T, U = y.shape
    e = T - 1 if end is None else (end + T if end < 0 else end)
    if not 0 <= e < T:
        raise ValueError(f"end {end} outside 0..{T - 1}")
    if sustain_days < 1:
        raise ValueError("sustain_days must be >= 1")
    if not 0.0 < peak_drop < 1.0:
        raise ValueError("peak_drop must be in (0, 1)")
    low_b = np.zeros(U, bool) if low is None else np.broadcast_to(np.asarray(low, bool), (U,))
    reb_b = (
        np.zeros(U, bool) if rebound is None else np.broadcast_to(np.asarray(rebound, bool), (U,))
    )

    g = growth_rate(y, window=window, delay=delay, end=e, level=level)
    # Count back consecutive as-of rows with a significant decline.
    declining_days = np.zeros(U, dtype=np.int64)
    still = np.ones(U, dtype=bool)
    first_possible = window + delay - 1
    for k in range(sustain_days):
        row = e - k
        if row < first_possible:
            break
        if k == 0:
            dec = g.r_high < 0  # NaN compares False
        else:  # only the units whose streak is still running need the earlier fits
            dec = np.zeros(U, dtype=bool)
            cols = np.flatnonzero(still)
            gk = growth_rate(y[:, cols], window=window, delay=delay, end=row, level=level)
            dec[cols] = gk.r_high < 0
        still &= dec
        declining_days += still
        if not still.any():
            break

    s7 = rolling_sum(y, 7)
    sum7 = s7[e]
    seas = s7[max(season_start, 6) : e + 1]
    max7 = np.nanmax(seas, axis=0) if seas.shape[0] else np.full(U, np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        drop = np.where(max7 > 0, 1.0 - sum7 / max7, 0.0)

    out = np.full(U, "plateau", dtype="<U14")
    insufficient = g.status == "insufficient"
    r = np.nan_to_num(g.r, nan=0.0)
    peak = (r < -R_ROUNDING) & (drop >= peak_drop)
    out[peak] = "peak_passed"
    out[insufficient & ~low_b] = "undetermined"
    out[low_b] = "low_level"
    steady = (declining_days >= sustain_days) & ~reb_b
    out[steady] = "steady_decline"
    out[g.r_low > 0] = "growth"
    return PhaseResult(
        phase=out,
        growth=g,
        declining_days=declining_days,
        sum7=sum7,
        max7=max7,
        drop_from_max=drop,
        low=low_b.copy(),
        rebound=reb_b.copy(),
        end=e,
        params={
            "window": window,
            "delay": delay,
            "sustain_days": sustain_days,
            "peak_drop": peak_drop,
            "season_start": season_start,
            "level": level,
        },
    )
