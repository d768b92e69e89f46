"""Judgement numbers and statement codes for a set of units at a date.

For every unit (its daily series, population, name and parent) :func:`judge` returns the level,
phase, 7-day sum and its change against the previous 7 days, the growth rate with its interval,
R_t with its credible interval, the rebound watch after the latest festival or holiday, a
``statement`` (codes and numbers: level, phase, rebound state, pooling, the 7-day numbers) that
the apps phrase in the reader's language (``ruralwatch.assessments.phrases``), plus an
``evidence`` dict (method, parameters, values, intervals) that serialises to JSON as it is.
This module writes no words for people: it returns codes and numbers.

Pooling rule for small series: when a unit has fewer than ``min_cases_14d`` cases in the 14 days
up to the as-of date, its level, phase, growth rate and R_t are judged on its parent's series
(climbing further up while the parent is small too, stopping at the root), and its statement
says so. Its own 7-day numbers and its own rebound test are still reported: the rebound test's
prediction bound is valid for small counts (it only loses power). See docs/methods/judgement.md.

R_t uses Cori et al. (2013) with a parametric serial interval of mean 3.0 and sd 1.5 days, a
round value for Omicron: Song JS et al., Emerg Infect Dis 2022;28(3):756-759 (mean 2.9 days,
South Korea); Kim D et al., Viruses 2022;14(3):533 (mean 3.78, sd 0.76 days).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from functools import cached_property
from typing import Any

import numpy as np
import numpy.typing as npt

from ruralwatch.epi.assess.calendar import Event, build_calendar, latest_watchable
from ruralwatch.epi.assess.level import (
    LevelResult,
    LevelThresholds,
    RateThresholds,
    epidemic_level,
)
from ruralwatch.epi.assess.phase import PhaseResult, phase
from ruralwatch.epi.assess.rebound import ReboundResult, rebound_watch
from ruralwatch.epi.assess.rt import RtResult, discrete_si, estimate_rt
from ruralwatch.epi.linalg import one_blas_thread

__all__ = [
    "OMICRON_SI",
    "REBOUND_STATES",
    "JudgementConfig",
    "JudgementSet",
    "UnitJudgement",
    "judge",
    "pooling_basis",
]

IntArray = npt.NDArray[np.int64]

#: Parametric serial interval for Omicron (mean, sd in days) and its sources.
OMICRON_SI: dict[str, Any] = {
    "mean": 3.0,
    "sd": 1.5,
    "source": (
        "Song JS et al. Emerg Infect Dis 2022;28(3):756-759 (mean 2.9 d); "
        "Kim D et al. Viruses 2022;14(3):533 (mean 3.78 d, sd 0.76 d)"
    ),
}


#: The rebound part of a statement: no watched event (or not evaluable), a new peak after the
#: event, cases above the projected trend without a significant rise, no new peak.
REBOUND_STATES = ("none", "new_peak", "above_projection", "no_new_peak")


#: The pooling rule and the phase rules as the evidence states them.
BASIS_RULE = (
    "own series if >= min_cases_14d cases in 14 days, else nearest "
    "ancestor that has them (the root otherwise)"
)
PHASE_RULES = (
    "growth if r_low > 0; steady_decline if r_high < 0 on each of the last "
    "sustain_days as-of days and no rebound; low_level if level <= low; "
    "peak_passed if r < 0 and the 7-day sum is >= peak_drop below the season "
    "maximum; plateau otherwise"
)


@dataclass(frozen=True)
class JudgementConfig:
    """Parameters of :func:`judge` (defaults documented in docs/methods/judgement.md)."""

    min_cases_14d: float = 40.0
    rates: RateThresholds = field(default_factory=RateThresholds)
    growth_window: int = 14
    delay: int = 2
    level: float = 0.95
    sustain_days: int = 14
    peak_drop: float = 0.2
    si_mean: float = 3.0
    si_sd: float = 1.5
    rt_window: int = 7
    pre_window: int = 21
    watch_days: int = 28
    watch_min_days: int = 7
    rebound_growth_window: int = 10
    rebound_level: float = 0.975
    min_pre_cases: float = 10.0


@dataclass(frozen=True)
class UnitJudgement:
    """The judgement of one unit; :meth:`to_dict` gives the JSON-ready form."""

    code: str
    name: str
    as_of: date
    level: str
    level_code: int
    phase: str
    sum7: float
    prev7: float
    change: float | None
    per_100k: float
    growth_r: float | None
    growth_low: float | None
    growth_high: float | None
    rt: float | None
    rt_low: float | None
    rt_high: float | None
    rebound: dict[str, Any]
    pooled: bool
    basis_code: str
    basis_name: str
    cases_14d: float
    #: What the sentence says, as codes and numbers (see :func:`statement`).
    statement: dict[str, Any]
    evidence: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "name": self.name,
            "as_of": self.as_of.isoformat(),
            "level": self.level,
            "level_code": self.level_code,
            "phase": self.phase,
            "sum7": self.sum7,
            "prev7": self.prev7,
            "change": self.change,
            "per_100k": self.per_100k,
            "growth": {"r": self.growth_r, "low": self.growth_low, "high": self.growth_high},
            "rt": {"mean": self.rt, "low": self.rt_low, "high": self.rt_high},
            "rebound": self.rebound,
            "pooled": self.pooled,
            "basis_code": self.basis_code,
            "cases_14d": self.cases_14d,
            "statement": self.statement,
            "evidence": self.evidence,
        }


@dataclass(frozen=True)
class UnitColumns:
    """What the judgements of a set are made of, as Python lists: per unit (index ``u``), per
    judged column (index ``at[u]``: growth, phase, R_t) and the unit's basis (``basis[u]``).

    For a caller that writes many judgements (the assessment stores one per area, 50,000 for a
    province) and would otherwise build and take apart a :class:`UnitJudgement` per unit;
    :attr:`JudgementSet.units` builds those from these columns (:attr:`unit`)."""

    as_of: str
    codes: list[str]
    names: list[str]
    basis: list[int]
    at: list[int]
    sum7: list[float]
    prev7: list[float]
    #: (sum7 - prev7) / prev7, None without a previous week
    change: list[float | None]
    cases_14d: list[float]
    per_100k: list[float]
    #: per unit, read at the basis
    level_name: list[str]
    #: per judged column
    phase: list[str]
    #: per judged column: (r, low, high) as a statement says them, None where not estimated
    growth: list[tuple[float | None, float | None, float | None]]
    rt: list[tuple[float | None, float | None, float | None]]
    min_cases_14d: float
    #: The unit's rebound dict (``UnitJudgement.rebound``); ``rebound_columns`` holds, per key
    #: of it that differs between units, the column of values (the other keys are the event's).
    rebound: Callable[[int], dict[str, Any]]
    rebound_columns: dict[str, list[Any]]
    #: The evidence sections of basis unit ``b`` (level, growth, phase, R_t): the same objects
    #: for every call and every unit judged on ``b``.
    sections: Callable[[int], tuple[dict[str, Any], ...]]
    #: The unit's evidence (``UnitJudgement.evidence``) alone, without the rest of the unit.
    evidence: Callable[[int], dict[str, Any]]
    #: The unit's statement (``UnitJudgement.statement``) alone.
    statement: Callable[[int], dict[str, Any]]
    unit: Callable[[int], UnitJudgement]


@dataclass(frozen=True)
class JudgementSet:
    """Judgements of all units plus the panel-wide results they were built from.

    ``level`` and ``rebound`` hold every unit (column); ``phase`` (with its growth rate) and
    ``rt`` hold the columns ``judged`` only (in that order): the units that are some unit's
    basis, the only series whose growth, phase and R_t a judgement reads. ``units`` are built
    from ``columns`` when first read."""

    columns: UnitColumns
    basis: IntArray
    level: LevelResult
    phase: PhaseResult
    rebound: ReboundResult | None
    rt: RtResult
    event: Event | None
    as_of: date
    end: int
    config: JudgementConfig
    judged: IntArray

    @cached_property
    def units(self) -> tuple[UnitJudgement, ...]:
        return tuple(self.columns.unit(u) for u in range(len(self.columns.codes)))

    def by_code(self, code: str) -> UnitJudgement:
        for u in self.units:
            if u.code == code:
                return u
        raise KeyError(code)


# ----------------------------------------------------------------------------- helpers


def _finite(a: npt.ArrayLike) -> list[float | None]:
    """The values of ``a`` as Python floats, None where not finite."""
    arr = np.asarray(a, dtype=np.float64)
    obj = arr.astype(object)
    obj[~np.isfinite(arr)] = None
    out: list[float | None] = obj.tolist()
    return out


def _dates(a: npt.ArrayLike) -> list[str | None]:
    """ISO dates as strings, None for NaT."""
    arr = np.asarray(a, dtype="datetime64[D]")
    obj = arr.astype(str).astype(object)
    obj[np.isnat(arr)] = None
    out: list[str | None] = obj.tolist()
    return out


def pooling_basis(cases_14d: npt.ArrayLike, parent: npt.ArrayLike, minimum: float) -> IntArray:
    """For each unit, the unit whose series judges it: itself if it has ``minimum`` cases in
    14 days, else the nearest ancestor that has (the root if none has). ``parent`` holds the
    index of each unit's parent in the same arrays, -1 for a root."""
    n = np.asarray(cases_14d, dtype=np.float64)
    par = np.asarray(parent, dtype=np.int64)
    U = n.size
    if par.shape != (U,):
        raise ValueError("one parent index per unit is needed")
    if np.any((par < -1) | (par >= U)):
        raise ValueError("parent indices must be -1 or point into the units")
    basis = np.arange(U, dtype=np.int64)
    for _ in range(U + 1):  # at most U steps up any chain
        small = (np.nan_to_num(n[basis], nan=0.0) < minimum) & (par[basis] >= 0)
        if not small.any():
            break
        basis = np.where(small, par[basis], basis)
    else:  # pragma: no cover - only a cycle can get here
        raise ValueError("the parent array has a cycle")
    return basis


def rebound_state(rebound: dict[str, Any]) -> str:
    """The rebound part of a statement, one of :data:`REBOUND_STATES`."""
    if rebound.get("outcome") in (None, "no_event", "not_evaluable"):
        return "none"
    if rebound.get("detected"):
        return "new_peak"
    if rebound.get("above_projection"):
        return "above_projection"
    return "no_new_peak"


def statement(
    level: str,
    phase_name: str,
    rebound: dict[str, Any],
    numbers: dict[str, Any],
    pooled: dict[str, Any] | None,
) -> dict[str, Any]:
    """The content of a judgement sentence, without words: level and phase codes, the rebound
    state with the event and the numbers it names, the pooling (cases here, the minimum, the
    area whose series judged it) or None, and the 7-day numbers, growth rate and R_t (None
    where not estimated)."""
    state = rebound_state(rebound)
    said: dict[str, Any] = {"state": state}
    if state != "none":
        said |= {
            "event": rebound.get("event"),
            "event_names": {"zh": rebound.get("event_zh"), "en": rebound.get("event_en")},
            "onset_date": rebound.get("onset_date"),
            "last_watched": rebound.get("last_watched"),
            "observed_last": rebound.get("observed_last"),
            "projected_last": rebound.get("projected_last"),
            "upper_last": rebound.get("upper_last"),
        }
    return {
        "level": level,
        "phase": phase_name,
        "rebound": said,
        "pooled": pooled,
        "numbers": dict(numbers),
    }


# ------------------------------------------------------------------------------- judge


@one_blas_thread()
def judge(
    counts: npt.ArrayLike,
    dates: npt.ArrayLike,
    population: npt.ArrayLike,
    names: Sequence[str],
    parent: npt.ArrayLike | None = None,
    *,
    codes: Sequence[str] | None = None,
    as_of: date | None = None,
    events: Sequence[Event] | None = None,
    event: Event | None = None,
    thresholds: LevelThresholds | None = None,
    season_start: date | None = None,
    config: JudgementConfig | None = None,
) -> JudgementSet:
    """Judge every unit of a (T × U) daily panel at ``as_of`` (default the last date).

    Args:
        counts: (T, U) daily counts, NaN = missing report.
        dates: (T,) consecutive dates.
        population: (U,) population of each unit.
        names: (U,) display names; ``codes`` (U,) codes (default the names).
        parent: (U,) index of each unit's parent among the units, -1 for none (default: none).
        as_of: the date judged.
        events: calendar for the rebound watch (default the built-in 2004-2035 calendar); the
            latest watched event whose watch is open at ``as_of`` is used, unless ``event`` is
            given.
        thresholds: level cut points per unit (e.g. from MEM, on 7-day sums); default the
            configured incidences per 100,000 (``config.rates``).
        season_start: first date of the season for "peak passed" (default the first date).
        config: the other parameters.
    """
    cfg = JudgementConfig() if config is None else config
    y = np.asarray(counts, dtype=np.float64)
    if y.ndim == 1:
        y = y[:, None]
    T, U = y.shape
    dd = np.asarray(dates, dtype="datetime64[D]")
    if dd.shape != (T,):
        raise ValueError("one date per row is needed")
    if T > 1 and np.any(np.diff(dd).astype(np.int64) != 1):
        raise ValueError("dates must be consecutive days")
    pop = np.broadcast_to(np.asarray(population, dtype=np.float64), (U,))
    if len(names) != U:
        raise ValueError("one name per unit is needed")
    code_list = list(names) if codes is None else [str(c) for c in codes]
    if len(code_list) != U:
        raise ValueError("one code per unit is needed")
    par = np.full(U, -1, dtype=np.int64) if parent is None else np.asarray(parent, np.int64)
    day0: date = dd[0].astype(date)
    if as_of is None:
        e = T - 1
        as_of = dd[-1].astype(date)
    else:
        e = (as_of - day0).days
        if not 0 <= e < T:
            raise ValueError(f"as_of {as_of} outside the dates given")
    need = cfg.growth_window + cfg.delay + cfg.sustain_days - 1
    if e + 1 < need:
        raise ValueError(f"at least {need} days up to as_of are needed")

    filled = np.nan_to_num(y)
    cases14 = filled[max(0, e - 13) : e + 1].sum(axis=0)
    basis = pooling_basis(cases14, par, cfg.min_cases_14d)
    # Growth rate, phase and R_t are read only off basis columns: most villages are pooled on a
    # few thousand parents, so only those series are fitted (each column's fit is its own; the
    # batch only shares the matrix products, see tests/epi/assess/test_judgement.py).
    judged = np.unique(basis)
    at = np.searchsorted(judged, basis)  # unit -> its basis's place among the judged

    # ---- level, rebound, phase on every column; units read their basis column.
    lev = epidemic_level(y, pop, end=e, thresholds=thresholds, rates=cfg.rates)
    cal = build_calendar() if events is None else events
    ev = (
        event
        if event is not None
        else latest_watchable(cal, as_of, min_days=cfg.watch_min_days, watch_days=cfg.watch_days)
    )
    reb: ReboundResult | None = None
    if ev is not None:
        start = (ev.start - day0).days
        if start - min(cfg.pre_window, 7) >= 0 and start <= e:
            reb = rebound_watch(
                y,
                start,
                end=e,
                dates=dd,
                event=ev,
                pre_window=cfg.pre_window,
                watch_days=cfg.watch_days,
                delay=cfg.delay,
                growth_window=cfg.rebound_growth_window,
                level=cfg.rebound_level,
                min_pre_cases=cfg.min_pre_cases,
            )
    detected = np.zeros(U, bool) if reb is None else reb.detected
    ss = 0 if season_start is None else max(0, (season_start - day0).days)
    y_judged = y[:, judged]
    ph_all = phase(
        y_judged,
        end=e,
        low=lev.is_low[judged],
        rebound=detected[judged],
        window=cfg.growth_window,
        delay=cfg.delay,
        sustain_days=cfg.sustain_days,
        peak_drop=cfg.peak_drop,
        season_start=ss,
        level=cfg.level,
    )

    # ---- Rt over the rt_window days ending delay days before as_of (1-based t for EpiEstim).
    si = discrete_si(np.arange(T + 1), cfg.si_mean, cfg.si_sd)
    si = si / si.sum()
    t_end = e - cfg.delay + 1
    t_start = max(2, t_end - cfg.rt_window + 1)
    # Days before a unit's first value are before its surveillance began: no incidence, as
    # EpiEstim's series starts at day 1. A missing report after that stays missing (NaN makes
    # the windows it touches NaN). Without this a panel that starts before the data would have
    # no Rt anywhere, through the long tail of the serial interval.
    began = np.cumsum(~np.isnan(y_judged), axis=0) > 0
    rt = estimate_rt(np.where(began, y_judged, 0.0), si, [t_start], [t_end])
    rt_mean = rt.mean[0]
    rt_lo, rt_hi = rt.quantile(0.025)[0], rt.quantile(0.975)[0]

    sum7 = filled[max(0, e - 6) : e + 1].sum(axis=0)
    prev7 = filled[max(0, e - 13) : max(0, e - 6)].sum(axis=0)
    g = ph_all.growth
    first_date = dd[0] + np.timedelta64(e - cfg.delay - cfg.growth_window + 1, "D")

    # Per-unit values as Python lists, converted once: indexing numpy arrays unit by unit
    # (and converting each scalar) costs more than everything else in the loop.
    th = lev.thresholds
    s7, p7, c14 = sum7.tolist(), prev7.tolist(), cases14.tolist()
    with np.errstate(divide="ignore", invalid="ignore"):
        per100k = (sum7 / pop * 1e5).tolist()
    lev_name, lev_code = lev.name.astype(str).tolist(), lev.code.astype(int).tolist()
    lev_value, lev_100k = lev.value.astype(float).tolist(), _finite(lev.per_100k)
    th_src = np.asarray(th.source).astype(str).tolist()
    th_ep, th_med = _finite(th.epidemic), _finite(th.medium)
    th_high, th_vh = _finite(th.high), _finite(th.very_high)
    rates = list(
        zip(("epidemic", "medium", "high", "very_high"), cfg.rates.as_tuple(), strict=True)
    )
    ph_name = ph_all.phase.astype(str).tolist()
    ph_days = ph_all.declining_days.astype(int).tolist()
    ph_s7, ph_m7, ph_drop = (
        _finite(ph_all.sum7),
        _finite(ph_all.max7),
        _finite(ph_all.drop_from_max),
    )
    det = detected.astype(bool).tolist()
    g_r, g_lo, g_hi = _finite(g.r), _finite(g.r_low), _finite(g.r_high)
    g_dbl, g_hlv, g_disp = _finite(g.doubling_time), _finite(g.halving_time), _finite(g.dispersion)
    g_status = g.status.astype(str).tolist()
    rt_m, rt_l, rt_h = _finite(rt_mean), _finite(rt_lo), _finite(rt_hi)
    growth_window = [
        str(first_date),
        str(first_date + np.timedelta64(cfg.growth_window - 1, "D")),
    ]
    rt_window = [
        str(dd[0] + np.timedelta64(t_start - 1, "D")),
        str(dd[0] + np.timedelta64(t_end - 1, "D")),
    ]
    rb_cols: dict[str, list[Any]] = {}
    last_watched: str | None = None
    if reb is not None:
        watched = reb.watch_rows.size > 0
        last_watched = str(dd[int(reb.watch_rows[-1])]) if watched else None
        none: list[Any] = [None] * U
        rb_cols = {
            "detected": reb.detected.astype(bool).tolist(),
            "outcome": reb.outcome.astype(str).tolist(),
            "first_date": _dates(reb.first_date),
            "onset_date": _dates(reb.onset_date),
            "observed": _finite(reb.observed_at),
            "projected": _finite(reb.projected_at),
            "upper": _finite(reb.upper_at),
            "observed_last": _finite(reb.observed[-1]) if watched else none,
            "projected_last": _finite(reb.projected[-1]) if watched else none,
            "upper_last": _finite(reb.upper[-1]) if watched else none,
            "above_projection": reb.exceed[-1].astype(bool).tolist() if watched else [False] * U,
            "pre_r": _finite(reb.pre_r),
            "pre_r_low": _finite(reb.pre_r_low),
            "pre_r_high": _finite(reb.pre_r_high),
            "pre_dispersion": _finite(reb.pre_dispersion),
            "pre_total": reb.pre_total.astype(float).tolist(),
            "pre_trend_ok": reb.pre_trend_ok.astype(bool).tolist(),
        }

    def _basis_sections(b: int, k: int) -> tuple[dict[str, Any], ...]:
        """The evidence of the level, growth rate, phase and R_t of basis unit ``b`` (``k``
        among the judged columns): the same for every unit judged on ``b``'s series, so built
        once per basis and shared (most villages are pooled on a few parents: 50,000 units, a
        few thousand bases)."""
        mem = th_src[b] == "mem"
        return (
            {
                "method": "MEM thresholds (Vega 2013, 2015)"
                if mem
                else "incidence per 100,000 over 7 days",
                "source": th_src[b],
                "value": lev_value[b],
                "per_100k": lev_100k[b],
                "days": th.days,
                "thresholds": {
                    "epidemic": th_ep[b],
                    "medium": th_med[b],
                    "high": th_high[b],
                    "very_high": th_vh[b],
                },
                "rates_per_100k": None if mem else dict(rates),
                "level": lev_name[b],
            },
            {
                "method": "quasi-Poisson log-linear regression with weekday effects "
                "(Wallinga & Lipsitch 2007)",
                "window": growth_window,
                "delay": cfg.delay,
                "level": cfg.level,
                "r": g_r[k],
                "ci": [g_lo[k], g_hi[k]],
                "doubling_time": g_dbl[k],
                "halving_time": g_hlv[k],
                "dispersion": g_disp[k],
                "status": g_status[k],
            },
            {
                "phase": ph_name[k],
                "rules": PHASE_RULES,
                "declining_days": ph_days[k],
                "sustain_days": cfg.sustain_days,
                "sum7": ph_s7[k],
                "max7": ph_m7[k],
                "drop_from_max": ph_drop[k],
                "peak_drop": cfg.peak_drop,
                "rebound_used": det[b],
            },
            {
                "method": "Cori et al. 2013 (instantaneous R, Gamma prior mean 5 sd 5)",
                "serial_interval": {
                    "mean": cfg.si_mean,
                    "sd": cfg.si_sd,
                    "source": OMICRON_SI["source"],
                },
                "window": rt_window,
                "mean": rt_m[k],
                "cri95": [rt_l[k], rt_h[k]],
            },
        )

    # Evidence sections per basis unit; a unit's evidence refers to its basis's (shared).
    by_basis: dict[int, tuple[dict[str, Any], ...]] = {}
    as_of_text = as_of.isoformat()
    basis_list, at_list = basis.tolist(), at.tolist()
    changes = [(a - b) / b if b > 0 else None for a, b in zip(s7, p7, strict=True)]
    growth_said = [
        (r if lo is not None and hi is not None else None, lo, hi)
        for r, lo, hi in zip(g_r, g_lo, g_hi, strict=True)
    ]
    rt_said = [
        (m if lo is not None and hi is not None else None, lo, hi)
        for m, lo, hi in zip(rt_m, rt_l, rt_h, strict=True)
    ]
    rb_keys = (
        "detected", "outcome", "first_date", "onset_date", "observed", "projected", "upper",
        "observed_last", "projected_last", "upper_last", "above_projection",
    )  # fmt: skip
    rebound_columns = {} if reb is None or ev is None else {k: rb_cols[k] for k in rb_keys}

    def sections_of(b: int) -> tuple[dict[str, Any], ...]:
        sections = by_basis.get(b)
        if sections is None:
            sections = by_basis[b] = _basis_sections(b, at_list[b])
        return sections

    def rebound_of(u: int) -> dict[str, Any]:
        if reb is None or ev is None:
            return {"outcome": "no_event", "detected": False}
        return {
            "event": ev.code,
            "event_zh": ev.name_zh,
            "event_en": ev.name_en,
            "event_start": ev.start.isoformat(),
            "detected": rb_cols["detected"][u],
            "outcome": rb_cols["outcome"][u],
            "first_date": rb_cols["first_date"][u],
            "onset_date": rb_cols["onset_date"][u],
            "observed": rb_cols["observed"][u],
            "projected": rb_cols["projected"][u],
            "upper": rb_cols["upper"][u],
            "last_watched": last_watched,
            "observed_last": rb_cols["observed_last"][u],
            "projected_last": rb_cols["projected_last"][u],
            "upper_last": rb_cols["upper_last"][u],
            "above_projection": rb_cols["above_projection"][u],
        }

    def statement_of(u: int, rb: dict[str, Any] | None = None) -> dict[str, Any]:
        b, k = basis_list[u], at_list[u]
        (growth_r, growth_low, growth_high), (rt_u, rt_low, rt_high) = growth_said[k], rt_said[k]
        vals: dict[str, Any] = {
            "sum7": s7[u],
            "prev7": p7[u],
            "change": changes[u],
            "growth_r": growth_r,
            "growth_low": growth_low,
            "growth_high": growth_high,
            "rt": rt_u,
            "rt_low": rt_low,
            "rt_high": rt_high,
        }
        return statement(
            lev_name[b],
            ph_name[k],
            rebound_of(u) if rb is None else rb,
            vals,
            {
                "cases_14d": c14[u],
                "min_cases_14d": cfg.min_cases_14d,
                "basis_code": code_list[b],
                "basis_name": names[b],
            }
            if b != u
            else None,
        )

    def evidence_of(u: int, rb: dict[str, Any] | None = None) -> dict[str, Any]:
        b = basis_list[u]
        rb = rebound_of(u) if rb is None else rb
        sections = sections_of(b)
        return {
            "as_of": as_of_text,
            "basis": {
                "code": code_list[b],
                "name": names[b],
                "pooled": b != u,
                "cases_14d": c14[u],
                "min_cases_14d": cfg.min_cases_14d,
                "rule": BASIS_RULE,
            },
            "level": sections[0],
            "growth": sections[1],
            "phase": sections[2],
            "rt": sections[3],
            "rebound": {
                **rb,
                "method": "pre-event quasi-Poisson log-linear trend projected with a "
                "Farrington (1996) 2/3-power prediction bound on 7-day sums, plus a "
                "significantly positive post-event growth rate",
                "params": {} if reb is None else reb.params,
                "pre_trend": None
                if reb is None
                else {
                    "r": rb_cols["pre_r"][u],
                    "ci": [rb_cols["pre_r_low"][u], rb_cols["pre_r_high"][u]],
                    "dispersion": rb_cols["pre_dispersion"][u],
                    "cases": rb_cols["pre_total"][u],
                    "trend_estimated": rb_cols["pre_trend_ok"][u],
                },
                "own_series": True,
            },
        }

    def unit_of(u: int) -> UnitJudgement:
        b, k = basis_list[u], at_list[u]
        pooled = b != u
        level_name = lev_name[b]
        phase_name = ph_name[k]
        change = changes[u]
        rb = rebound_of(u)
        (growth_r, growth_low, growth_high), (rt_u, rt_low, rt_high) = growth_said[k], rt_said[k]
        said = statement_of(u, rb)
        evidence = evidence_of(u, rb)
        return UnitJudgement(
            code=code_list[u],
            name=names[u],
            as_of=as_of,
            level=level_name,
            level_code=lev_code[b],
            phase=phase_name,
            sum7=s7[u],
            prev7=p7[u],
            change=change,
            per_100k=per100k[u],
            growth_r=growth_r,
            growth_low=growth_low,
            growth_high=growth_high,
            rt=rt_u,
            rt_low=rt_low,
            rt_high=rt_high,
            rebound=rb,
            pooled=pooled,
            basis_code=code_list[b],
            basis_name=names[b],
            cases_14d=c14[u],
            statement=said,
            evidence=evidence,
        )

    columns = UnitColumns(
        as_of=as_of_text,
        codes=code_list,
        names=list(names),
        basis=basis_list,
        at=at_list,
        sum7=s7,
        prev7=p7,
        change=changes,
        cases_14d=c14,
        per_100k=per100k,
        level_name=lev_name,
        phase=ph_name,
        growth=growth_said,
        rt=rt_said,
        min_cases_14d=cfg.min_cases_14d,
        rebound=rebound_of,
        rebound_columns=rebound_columns,
        sections=sections_of,
        evidence=evidence_of,
        statement=statement_of,
        unit=unit_of,
    )
    return JudgementSet(
        columns=columns,
        basis=basis,
        level=lev,
        phase=ph_all,
        rebound=reb,
        rt=rt,
        event=ev,
        as_of=as_of,
        end=e,
        config=cfg,
        judged=judged,
    )
