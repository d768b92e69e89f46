"""The counts still to come for the last days, added to the panel the assessment judges.

A village's report for a day arrives whole, hours or days later; until the late ones are in,
the roll-ups of the last days are too low and a reporting lag reads as a decline. From the
reporting triangle of the subtree (:func:`ruralwatch.reporting.selectors.delay_triangle`: what
arrived for each day, by delay) :func:`ruralwatch.epi.nowcast.nowcast_panel` estimates, for
every area of levels 1–4, the cases still to come for each of the last ``max_delay`` days;
their predictive mean is added to the area's daily count before judging, and the evidence keeps
the reported and nowcast counts with their intervals. Villages are not nowcast: a village's
report is there or missing, and a missing report is not a zero.

Method and parameters: docs/methods/nowcast.md.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import polars as pl

from ruralwatch.epi.nowcast import NowcastConfig, nowcast_panel, triangle_from_long
from ruralwatch.reporting.selectors import ArrivalsRead, arrival_moment, delay_triangle

#: The defaults of the assessment's nowcast (docs/methods/nowcast.md). 200 draws: the intervals
#: cover as often as with 400 (``python -m bench.nowcast_coverage``) at half the draws' CPU,
#: which is most of the national assessment's nowcast.
DEFAULT = NowcastConfig(max_delay=7, window=28, kappa=0.1, n_samples=200)

METHOD: Literal["bayes.trunc"] = "bayes.trunc"
METHOD_TEXT = (
    "Bayesian nowcast of reporting delays (Höhle & an der Heiden 2014, Biometrics "
    "70:993-1002; R surveillance::nowcast method bayes.trunc): generalised-Dirichlet posterior "
    "of the delay distribution under right truncation, Poisson-gamma predictive of each day's "
    "final count, on the counts divided by the mean size of the village report a case came "
    "in (cases of one report arrive together); the predictive mean is added to the reported "
    "count"
)


@dataclass
class Nowcast:
    """What the nowcast changed: per unit (column of the panel) its evidence."""

    now: dt.datetime | None = None
    evidence: dict[int, dict[str, Any]] = field(default_factory=dict)
    #: Cases added per column over the nowcast days (predictive mean minus reported).
    added: dict[int, float] = field(default_factory=dict)
    seconds: float = 0.0


def _key(code: str) -> int:
    """A stable integer per area code: its draws are the same whatever else is judged."""
    return int.from_bytes(hashlib.blake2b(code.encode(), digest_size=8).digest(), "big")


def _r(x: float) -> float:
    return round(float(x), 1)


#: The moment of the whole tree's data while a part of it is judged (:func:`whole_tree_moment`):
#: (indicator, cycle date, moment or None when the tree has no reports).
_PINNED: ContextVar[tuple[str, dt.date, dt.datetime | None] | None] = ContextVar(
    "nowcast_moment", default=None
)


def _triangle_start(cycle_date: dt.date, config: NowcastConfig) -> dt.date:
    window = config.window if config.window is not None else 28
    return cycle_date - dt.timedelta(days=window + config.max_delay)


def moment(
    root_path: str, cycle_date: dt.date, indicator: str, config: NowcastConfig = DEFAULT
) -> dt.datetime | None:
    """The moment the nowcast of ``root_path``'s subtree for ``cycle_date`` counts delays from
    (its latest arrival of a report in the triangle's days), ``None`` without reports."""
    return arrival_moment(root_path, indicator, _triangle_start(cycle_date, config), cycle_date)


def moment_of(
    root_path: str, cycle_date: dt.date, indicator: str, config: NowcastConfig = DEFAULT
) -> dt.datetime | None:
    """:func:`moment`, or the moment pinned by an enclosing :func:`whole_tree_moment` for
    ``indicator`` and ``cycle_date`` (a subtree judged as a part of a bigger tree)."""
    pinned = _PINNED.get()
    if pinned is not None and pinned[:2] == (indicator, cycle_date):
        return pinned[2]
    return moment(root_path, cycle_date, indicator, config)


@contextmanager
def whole_tree_moment(
    indicator: str, cycle_date: dt.date, now: dt.datetime | None
) -> Iterator[None]:
    """Within the block, :func:`apply` for ``indicator`` and ``cycle_date`` counts delays from
    ``now`` (from :func:`moment` of the whole tree) instead of the moment of the subtree it is
    given: a subtree judged as a part of the tree (the cycle's partitions) then gets the nowcast
    the whole tree's run gives it, as the reports of the other parts move the moment."""
    token = _PINNED.set((indicator, cycle_date, now))
    try:
        yield
    finally:
        _PINNED.reset(token)


def _village_block(
    counts: npt.NDArray[np.float64],
    start: dt.date,
    tri_start: dt.date,
    codes: list[str],
    levels: list[int],
) -> tuple[npt.NDArray[np.float64], list[str]] | None:
    """The villages' reported values from ``tri_start`` on, as the panel holds them (days ×
    villages, and the villages' codes), so that the triangle needs no second read of them;
    ``None`` when the panel starts later than the triangle."""
    offset = (tri_start - start).days
    if offset < 0:
        return None
    cols = [j for j, level in enumerate(levels) if level == 5]
    return counts[offset:, cols], [codes[j] for j in cols]


def apply(
    counts: npt.NDArray[np.float64],
    start: dt.date,
    cycle_date: dt.date,
    codes: list[str],
    levels: list[int],
    *,
    root_path: str,
    indicator: str,
    config: NowcastConfig = DEFAULT,
    arrivals: ArrivalsRead | None = None,
) -> Nowcast:
    """Add the nowcast's expected late cases to ``counts`` (T × U, rows ``start``…``cycle_date``)
    in place for the areas of levels 1–4; return the evidence per column. ``arrivals``: the
    submissions of the days it keeps, for the reporting triangle (:func:`delay_triangle`)."""
    result = Nowcast()
    D = config.max_delay
    tri_start = _triangle_start(cycle_date, config)
    villages = _village_block(counts, start, tri_start, codes, levels)
    pinned = _PINNED.get()
    if pinned is not None and pinned[:2] == (indicator, cycle_date):
        if pinned[2] is None:
            return result  # the whole tree has no reports, so neither has this part
        now, rows = delay_triangle(
            root_path,
            indicator,
            tri_start,
            cycle_date,
            now=pinned[2],
            panel=villages,
            arrivals=arrivals,
        )
    else:
        now, rows = delay_triangle(
            root_path, indicator, tri_start, cycle_date, panel=villages, arrivals=arrivals
        )
    if now is None or rows.is_empty():
        return result
    result.now = now
    now_day = now.date()
    last = min(now_day, cycle_date)
    if (now_day - cycle_date).days >= D:
        return result  # every day judged is complete
    col = {c: i for i, c in enumerate(codes) if levels[i] < 5}
    long = pl.concat(
        [
            rows.group_by(f"l{k}", "date", "delay")
            .agg(pl.col("value", "squares").sum())
            .rename({f"l{k}": "code"})
            for k in (1, 2, 3, 4)
        ]
    ).filter(pl.col("code").is_in(list(col)))
    if long.is_empty():
        return result
    units = long["code"].unique().sort().to_list()
    unit_index = {c: i for i, c in enumerate(units)}
    n_days = (now_day - tri_start).days + 1
    day = (long["date"] - tri_start).dt.total_days().to_numpy()
    # A report cannot have arrived after now; rounding at the boundary is kept inside.
    delay = np.minimum(long["delay"].to_numpy(), n_days - 1 - day)
    triangles = triangle_from_long(
        day,
        delay,
        long["value"].to_numpy(),
        n_days,
        D,
        unit=long["code"].replace_strict(unit_index, return_dtype=pl.Int64).to_numpy(),
        n_units=len(units),
    )
    # Cases arrive in whole village reports: the dispersion of the triangle's counts is the
    # mean size of the report a case came in, sum(v^2) / sum(v), per area.
    sizes = long.group_by("code").agg(pl.col("squares").sum(), pl.col("value").sum())
    size = {
        code: squares / value if value > 0 else 1.0
        for code, squares, value in sizes.select("code", "squares", "value").iter_rows()
    }
    dispersion = np.array([max(1.0, size.get(c, 1.0)) for c in units])
    pn = nowcast_panel(
        triangles,
        METHOD,
        config,
        sum_through=(last - tri_start).days,
        dispersion=dispersion,
        keys=[_key(c) for c in units],
    )
    dates = [tri_start + dt.timedelta(days=int(t)) for t in pn.days]
    keep = [k for k, d in enumerate(dates) if d <= last]
    if not keep:
        return result
    params = {**config.as_dict(), "method": METHOD}
    # The panel's numbers as Python floats, read per unit and day below (the same values).
    observed, mean, lower, upper = (a.tolist() for a in (pn.observed, pn.mean, pn.lower, pn.upper))
    known_share, sum_observed = pn.known_share.tolist(), pn.sum_observed.tolist()
    sum_lower, sum_upper = pn.sum_lower.tolist(), pn.sum_upper.tolist()
    dispersions, shapes = pn.dispersion.tolist(), pn.prior_shape.tolist()
    rates = pn.prior_rate.tolist()
    now_text = now.isoformat(timespec="minutes")
    day_texts = [dates[k].isoformat() for k in keep]
    rows = [(dates[k] - start).days for k in keep]
    for u, code in enumerate(units):
        j = col[code]
        added = 0.0
        seen, expected = observed[u], mean[u]
        for k, t in zip(keep, rows, strict=True):
            more = expected[k] - seen[k]
            if np.isnan(counts[t, j]):
                if more < 0.5:
                    continue
                counts[t, j] = 0.0
            counts[t, j] += more
            added += more
        obs_sum = sum_observed[u]
        result.added[j] = added
        result.evidence[j] = {
            "method": METHOD_TEXT,
            "params": params,
            "now": now_text,
            "days": list(day_texts),
            "reported": [_r(seen[k]) for k in keep],
            "nowcast": [_r(expected[k]) for k in keep],
            "lower": [_r(lower[u][k]) for k in keep],
            "upper": [_r(upper[u][k]) for k in keep],
            "known_share": [round(known_share[u][k], 3) for k in keep],
            "pending": _r(added),
            "pending_interval": [_r(sum_lower[u] - obs_sum), _r(sum_upper[u] - obs_sum)],
            "dispersion": _r(dispersions[u]),
            "prior": {"shape": _r(shapes[u]), "rate": rates[u]},
        }
    return result


def statement(evidence: dict[str, Any] | None) -> dict[str, Any] | None:
    """The nowcast part of a unit's statement, or ``None`` when it adds less than one case."""
    if not evidence or evidence["pending"] < 1:
        return None
    interval = evidence.get("pending_interval")
    return {
        "days": len(evidence["days"]),
        "pending": evidence["pending"],
        "low": interval[0] if interval else None,
        "high": interval[1] if interval else None,
        "level": evidence["params"]["level"],
    }
