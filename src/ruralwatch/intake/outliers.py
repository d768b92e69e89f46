"""Outlier screening of village values against each area's own history (no database).

Three screens, each a whole-panel numpy computation over every (area, indicator) series:

- ``robust_z``: the value against the median and MAD of the same series over the previous
  ``trailing`` days (Hampel's identifier on a trailing window; Hampel 1974, Pearson 2002).
- ``seasonal``: the value against the series' own seasonal curve — the median of the
  ``half_window`` days on each side (the day itself left out), so a rise that persists (an
  epidemic wave, a weekly or yearly season) is the expectation, while a one-day jump is not;
  the residual scale is the MAD of the series' residuals over its whole history. Where the
  history holds earlier years, the same days of those years join the neighbours.
- ``repeat``: a day whose values are all exactly the previous day's (with at least
  ``repeat_min_nonzero`` nonzero values): a report copied forward.

Counts are discrete and small in a village, so each scale has a Poisson floor
(``sqrt(baseline)``, at least ``min_scale``), and a value is flagged only if it is also
``min_ratio`` times its baseline (or more) and at least ``min_value``.
Rules of the validation set that fail are a fourth screen (``rule``).
"""

from __future__ import annotations

import datetime as dt
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import polars as pl

from ruralwatch.intake import rules as engine

HISTORY_DAYS = 56
FlagArray = npt.NDArray[np.float64]
SCHEMA = {
    "area_code": pl.String,
    "date": pl.Date,
    "indicator": pl.String,
    "value": pl.Float64,
    "method": pl.String,
    "score": pl.Float64,
    "baseline": pl.Float64,
    "scale": pl.Float64,
}


@dataclass(frozen=True)
class Params:
    z: float = 5.0
    trailing: int = 28
    half_window: int = 7
    min_neighbours: int = 5
    min_scale: float = 1.0
    min_ratio: float = 3.0
    min_value: float = 5.0
    repeat_min_nonzero: int = 4
    active_baseline: float = 1.0
    #: robust_z is left out by default: its trailing window reads every epidemic rise as an
    #: outlier (precision 0.01 on the synthetic region, see docs/intake.md).
    methods: tuple[str, ...] = ("seasonal", "repeat", "rule")
    block: int = 2_000


def _panel(long: pl.DataFrame) -> tuple[list[str], list[str], list[dt.date], FlagArray]:
    """long (area_code, date, indicator, value) → areas, indicators, days and an
    (areas × indicators × days) array with NaN where nothing was reported."""
    first, last = long["date"].min(), long["date"].max()
    assert isinstance(first, dt.date) and isinstance(last, dt.date)
    days = [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]
    areas = long["area_code"].unique().sort()
    indicators = long["indicator"].unique().sort()
    keyed = long.select(
        "area_code",
        "indicator",
        (pl.col("date") - pl.lit(first)).dt.total_days().alias("d"),
        "value",
    )
    a_ix = {c: i for i, c in enumerate(areas.to_list())}
    k_ix = {c: i for i, c in enumerate(indicators.to_list())}
    a = keyed["area_code"].replace_strict(a_ix, return_dtype=pl.Int64).to_numpy()
    k = keyed["indicator"].replace_strict(k_ix, return_dtype=pl.Int64).to_numpy()
    cube = np.full((len(a_ix), len(k_ix), len(days)), np.nan)
    cube[a, k, keyed["d"].to_numpy()] = keyed["value"].to_numpy()
    return areas.to_list(), indicators.to_list(), days, cube


def _shifted(cube: FlagArray, offsets: Sequence[int]) -> FlagArray:
    """(… × days × offsets): the value ``offset`` days away (NaN outside the panel)."""
    d = cube.shape[-1]
    out = np.full((*cube.shape, len(offsets)), np.nan)
    for j, k in enumerate(offsets):
        if k < 0 and -k < d:
            out[..., -k:, j] = cube[..., : d + k]
        elif k > 0 and k < d:
            out[..., : d - k, j] = cube[..., k:]
    return out


def _nanmedian(a: FlagArray, axis: int) -> FlagArray:
    """``np.nanmedian`` along ``axis``, the same numbers, several times faster on these
    short axes: a sort puts the NaNs last, the median is the mean of the two middle values
    of the non-NaN ones (one value twice for an odd count: (x + x) / 2 is x exactly), NaN
    where every value is NaN. numpy computes it the same way (a masked sort, then the two
    middle values summed and halved); tests compare the two (equal numbers; only the sign
    of a zero median may differ where the data holds both -0.0 and 0.0)."""
    if a.shape[axis] == 0:
        return _nanmedian_numpy(a, axis)
    ordered = np.sort(a, axis=axis)
    n = np.sum(~np.isnan(a), axis=axis, keepdims=True)
    lo = np.take_along_axis(ordered, np.maximum(n - 1, 0) // 2, axis=axis)
    hi = np.take_along_axis(ordered, np.minimum(n // 2, a.shape[axis] - 1), axis=axis)
    out = (lo + hi) / 2.0
    out[n == 0] = np.nan
    return np.squeeze(out, axis=axis)


def _nanmedian_numpy(a: FlagArray, axis: int) -> FlagArray:
    """numpy's own, the reference of :func:`_nanmedian`."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.asarray(np.nanmedian(a, axis=axis))


def _scale(baseline: FlagArray, mad: FlagArray, prm: Params) -> FlagArray:
    """1.4826 MAD with a Poisson floor (sqrt of the baseline) and an absolute floor."""
    scale = np.maximum(1.4826 * mad, np.sqrt(np.maximum(baseline, 0.0)))
    return np.maximum(scale, prm.min_scale)


def robust_z(cube: FlagArray, prm: Params) -> tuple[FlagArray, FlagArray, FlagArray]:
    """(score, baseline, scale) of every cell against the median and MAD of its trailing
    window (areas × indicators × days)."""
    near = _shifted(cube, list(range(-prm.trailing, 0)))
    baseline = _nanmedian(near, axis=-1)
    count = np.sum(~np.isnan(near), axis=-1)
    mad = _nanmedian(np.abs(near - baseline[..., None]), axis=-1)
    baseline[count < prm.min_neighbours] = np.nan
    scale = _scale(baseline, mad, prm)
    return (cube - baseline) / scale, baseline, scale


def seasonal_baseline(cube: FlagArray, prm: Params, days: Sequence[dt.date]) -> FlagArray:
    """The centred median of each cell's neighbouring days (NaN with fewer than
    ``min_neighbours``): the seasonal expectation before the day's common factor. It reads
    only the cell's own series."""
    near = _shifted(cube, seasonal_offsets(prm, len(days)))
    baseline = _nanmedian(near, axis=-1)
    count = np.sum(~np.isnan(near), axis=-1)
    baseline[count < prm.min_neighbours] = np.nan
    return baseline


def seasonal_expected(cube: FlagArray, prm: Params, days: Sequence[dt.date]) -> FlagArray:
    """The seasonal screen's expectation of every cell (areas × indicators × days): the
    centred median of the neighbouring days, raised by the day's common factor across the
    area's indicators (a real surge moves them together; a typing error moves one). A cell's
    expectation reads only the ``half_window`` days on each side of it (and, with more than a
    year of days, the same weeks a year before), for every indicator of its area."""
    baseline = seasonal_baseline(cube, prm, days)
    # The day's common factor: the median over the area's active indicators of
    # (value + 1) / (baseline + 1), never below 1 (a quiet day makes nothing more suspect).
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = (cube + 1.0) / (baseline + 1.0)
    ratio[~(baseline >= prm.active_baseline)] = np.nan
    factor = np.ones_like(cube)
    for k in range(cube.shape[1]):  # leave the indicator itself out
        others = np.delete(ratio, k, axis=1)
        factor[:, k, :] = np.maximum(np.nan_to_num(_nanmedian(others, axis=1), nan=1.0), 1.0)
    return np.asarray(baseline * factor)


def seasonal_z(
    cube: FlagArray, prm: Params, days: Sequence[dt.date]
) -> tuple[FlagArray, FlagArray, FlagArray]:
    """(score, baseline, scale) against the series' own seasonal curve (see module doc and
    :func:`seasonal_expected`); the residual scale is the MAD of the series' residuals over
    every day of the panel."""
    expected = seasonal_expected(cube, prm, days)
    resid = cube - expected
    centre = _nanmedian(resid, axis=-1)[..., None]
    mad = _nanmedian(np.abs(resid - centre), axis=-1)[..., None]
    scale = _scale(expected, mad, prm)
    return resid / scale, expected, scale


def seasonal_may_flag(cube: FlagArray, expected: FlagArray, prm: Params) -> npt.NDArray[np.bool_]:
    """Cells the seasonal screen may flag, knowing only their expectation: the residual
    scale is at least ``max(sqrt(expected), min_scale)`` whatever the series' MAD, so a
    score computed with that floor is an upper bound of the real one. A cell outside this
    mask is never flagged (tests check it against the full screen); one inside is flagged
    or not by the full screen, which needs the whole history for the MAD."""
    floor = np.maximum(np.sqrt(np.maximum(expected, 0.0)), prm.min_scale)
    with np.errstate(invalid="ignore"):
        return _flagged(cube, (cube - expected) / floor, expected, prm)


def seasonal_may_flag_series(
    cube: FlagArray, baseline: FlagArray, prm: Params
) -> npt.NDArray[np.bool_]:
    """:func:`seasonal_may_flag` knowing only the series' own baseline: the expectation is
    the baseline times the day's common factor, never below 1, so it is at least the
    baseline where that is not negative, and every test of the bound only loosens with a
    smaller expectation. A NaN baseline makes a NaN expectation (never flagged); a negative
    one cannot be bounded this way and is kept."""
    with np.errstate(invalid="ignore"):
        return seasonal_may_flag(cube, baseline, prm) | (baseline < 0)


def seasonal_offsets(prm: Params, days: int) -> list[int]:
    """The neighbours of a cell in the seasonal baseline: the ``half_window`` days on each
    side, and with more than a year of days the same weeks a year before."""
    h = prm.half_window
    offsets = [k for k in range(-h, h + 1) if k != 0]
    if days > 365 + h:
        offsets += [k - 364 for k in range(-h, h + 1)]  # the same weeks a year before
    return offsets


def seasonal_may_flag_neighbours(cube: FlagArray, prm: Params) -> npt.NDArray[np.bool_]:
    """Cells the seasonal screen may flag, knowing only which neighbours are small: a flag
    needs ``value >= min_value`` and ``value >= min_ratio * expectation``; the expectation
    is at least the baseline where that is not negative (never below 1 times it), the
    baseline (a median of n >= ``min_neighbours`` neighbours, the mean of the two middle
    ones) at least the lower middle one, so at least ``(n - 1) // 2 + 1`` neighbours x
    have ``min_ratio * x <= value`` (floating point rounding is monotone, so each step
    holds for the computed numbers too); with a negative baseline that many are negative.
    So the test needs only the neighbours of at most ``value / min_ratio``, which a
    database can select row by row (intake.nightly reads no others of the week before)."""
    need = (prm.min_neighbours - 1) // 2 + 1
    small = np.zeros(cube.shape, dtype=np.int64)
    with np.errstate(invalid="ignore"):
        for k in seasonal_offsets(prm, cube.shape[-1]):
            near = _shifted(cube, [k])[..., 0]
            small += prm.min_ratio * near <= cube
        return (small >= need) & (cube >= prm.min_value)


def _flagged(
    cube: FlagArray, score: FlagArray, baseline: FlagArray, prm: Params
) -> npt.NDArray[np.bool_]:
    with np.errstate(invalid="ignore"):
        return (
            (score >= prm.z)
            & (cube >= prm.min_value)
            & (cube >= prm.min_ratio * np.maximum(baseline, 0.5))
        )


def screen(
    long: pl.DataFrame,
    start: dt.date,
    end: dt.date,
    *,
    rules: Sequence[engine.Rule] = (),
    params: Params | None = None,
) -> pl.DataFrame:
    """Flags for the values dated in [start, end] (``long`` may reach further back, as the
    history, and further on: a later day helps judge a day in the seasonal screen).
    Columns: area_code, date, indicator ("" for a whole day), value, method, score,
    baseline, scale."""
    prm = params or Params()
    if long.is_empty():
        return pl.DataFrame(schema=SCHEMA)
    long = long.select(
        pl.col("area_code").cast(pl.String),
        pl.col("date").cast(pl.Date),
        pl.col("indicator").cast(pl.String),
        pl.col("value").cast(pl.Float64),
    )
    areas, indicators, days, cube = _panel(long)
    day_arr = np.array(days, dtype="datetime64[D]")
    in_span = (day_arr >= np.datetime64(start)) & (day_arr <= np.datetime64(end))
    parts = [pl.DataFrame(schema=SCHEMA)]
    for method in ("robust_z", "seasonal"):
        if method not in prm.methods:
            continue
        for lo in range(0, cube.shape[0], prm.block):
            block = cube[lo : lo + prm.block]
            if method == "robust_z":
                score, baseline, scale = robust_z(block, prm)
            else:
                score, baseline, scale = seasonal_z(block, prm, days)
            hit = _flagged(block, score, baseline, prm) & in_span[None, None, :]
            ai, ki, di = np.nonzero(hit)
            parts.append(
                pl.DataFrame(
                    {
                        "area_code": [areas[lo + i] for i in ai],
                        "date": [days[j] for j in di],
                        "indicator": [indicators[k] for k in ki],
                        "value": block[ai, ki, di],
                        "method": [method] * ai.size,
                        "score": score[ai, ki, di],
                        "baseline": baseline[ai, ki, di],
                        "scale": scale[ai, ki, di],
                    },
                    schema=SCHEMA,
                )
            )
    if "repeat" in prm.methods:
        parts.append(repeats(long, start, end, prm))
    if "rule" in prm.methods and rules:
        parts.append(rule_flags(long, start, end, rules))
    return pl.concat(parts).sort("area_code", "date", "indicator", "method")


def repeats(long: pl.DataFrame, start: dt.date, end: dt.date, prm: Params) -> pl.DataFrame:
    """Days whose every value equals the previous day's, with enough nonzero values."""
    day = long.group_by("area_code", "date").agg(
        pl.struct("indicator", "value").sort_by("indicator").alias("vals"),
        (pl.col("value") != 0).sum().alias("nonzero"),
    )
    prev = day.select(
        "area_code",
        (pl.col("date") + pl.duration(days=1)).alias("date"),
        pl.col("vals").alias("prev"),
    )
    same = day.join(prev, on=["area_code", "date"]).filter(
        (pl.col("vals") == pl.col("prev"))
        & (pl.col("nonzero") >= prm.repeat_min_nonzero)
        & pl.col("date").is_between(start, end)
    )
    return repeat_flags(same)


def repeat_flags(same: pl.DataFrame) -> pl.DataFrame:
    """The flag rows of repeated days (``area_code``, ``date``, ``nonzero``): a repeat names
    the day, not an indicator, and its score is the count of nonzero values repeated."""
    return same.select(
        "area_code",
        "date",
        pl.lit("").alias("indicator"),
        pl.lit(None, pl.Float64).alias("value"),
        pl.lit("repeat").alias("method"),
        pl.col("nonzero").cast(pl.Float64).alias("score"),
        pl.lit(None, pl.Float64).alias("baseline"),
        pl.lit(None, pl.Float64).alias("scale"),
    )


def rule_flags(
    long: pl.DataFrame, start: dt.date, end: dt.date, rules: Sequence[engine.Rule]
) -> pl.DataFrame:
    """A flag for each failing rule, on its left side's indicator when that is a single one."""
    window = long.filter(pl.col("date").is_between(start, end))
    if window.is_empty():
        return pl.DataFrame(schema=SCHEMA)
    wide = window.pivot(on="indicator", index=["area_code", "date"], values="value")
    return rule_flags_of_wide(wide, rules)


def rule_flags_of_wide(wide: pl.DataFrame, rules: Sequence[engine.Rule]) -> pl.DataFrame:
    """:func:`rule_flags` on a wide frame (one row per area and day, a column per indicator)."""
    found = engine.evaluate(rules, wide)
    target = {r.code: (r.left.items[0] if len(r.left.items) == 1 else "") for r in rules}
    return found.select(
        "area_code",
        "date",
        pl.col("rule").replace_strict(target, return_dtype=pl.String).alias("indicator"),
        pl.col("left").alias("value"),
        pl.lit("rule").alias("method"),
        (pl.col("left") - pl.col("right")).alias("score"),
        pl.col("right").alias("baseline"),
        pl.lit(None, pl.Float64).alias("scale"),
    )


@dataclass(frozen=True)
class Agreement:
    """Recall and precision of flags against the injected errors of a synthetic region."""

    errors: int
    found: int
    flags: int
    true_flags: int
    by_kind: dict[str, tuple[int, int]]

    @property
    def recall(self) -> float:
        return self.found / self.errors if self.errors else 1.0

    @property
    def precision(self) -> float:
        return self.true_flags / self.flags if self.flags else 1.0


def agreement(
    flags: pl.DataFrame, truth: Sequence[dict[str, object]], kinds: Sequence[str]
) -> Agreement:
    """A flag is a distinct (area, date, indicator); it is true if an injected error of
    ``kinds`` is at that value (or, for a whole-day error such as a copied day, that day).
    An error is found if a flag is on its value (or, for a whole-day error, on its day)."""
    errors = [e for e in truth if e["kind"] in kinds]
    by_value = {(e["area"], e["date"], e["indicator"]) for e in errors if e.get("indicator")}
    by_day = {(e["area"], e["date"]) for e in errors if not e.get("indicator")}
    keys = {
        (a, d.isoformat(), k)
        for a, d, k in flags.select("area_code", "date", "indicator").unique().iter_rows()
    }
    flagged_days = {(a, d) for a, d, _k in keys}
    true_flags = sum(1 for a, d, k in keys if (a, d, k) in by_value or (a, d) in by_day)
    by_kind: dict[str, tuple[int, int]] = {}
    found = 0
    for e in errors:
        hit = (
            (e["area"], e["date"], e["indicator"]) in keys
            if e.get("indicator")
            else (e["area"], e["date"]) in flagged_days
        )
        n, f = by_kind.get(str(e["kind"]), (0, 0))
        by_kind[str(e["kind"])] = (n + 1, f + int(hit))
        found += int(hit)
    return Agreement(len(errors), found, len(keys), true_flags, by_kind)
