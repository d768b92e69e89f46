"""Evaluation of the temporal detectors on simulated series with known outbreaks.

The simulation (:mod:`ruralwatch.epi.evaluate_sim`) follows Noufaily et al. (2013). For each
scenario and replicate one baseline series is drawn; copies of it get one outbreak of size
``k`` = 2, 3, 5 or 10 baseline standard deviations, starting in a random monitored week (the
same start for every ``k``), and one copy stays outbreak-free. Every detector then runs over all
series at once, monitoring the last ``n_monitor`` weeks.

Metrics (an alarm of ``NaN`` — the method could not judge — counts as no alarm; the share of
such weeks is reported as ``undecided``):

* ``fpr``: alarms / monitored weeks in the outbreak-free series;
* ``pod``: outbreaks with at least one alarm in an outbreak week / outbreaks;
* ``pod_first_week``: outbreaks with an alarm in their first week / outbreaks;
* ``sensitivity``: outbreak weeks with an alarm / outbreak weeks;
* ``specificity``: weeks without outbreak cases and without alarm / weeks without outbreak
  cases, in the series with an outbreak;
* ``ppv``: alarms in outbreak weeks / all alarms, in the series with an outbreak;
* ``median_delay``: median of (first alarm week - first outbreak week) over detected outbreaks.

An *outbreak week* is a week with at least one outbreak case; an outbreak with no case (a
Poisson draw of 0) is not counted.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from ruralwatch.epi.detect import METHODS
from ruralwatch.epi.evaluate_sim import (
    SCENARIOS,
    Scenario,
    baseline_mean,
    inject_outbreak,
    simulate_baseline,
)
from ruralwatch.epi.panel import FloatArray, Panel

BoolArray = npt.NDArray[np.bool_]

__all__ = [
    "DEFAULT_METHODS",
    "METHOD_PARAMS",
    "OUTBREAK_SIZES",
    "SKIPPED_METHODS",
    "EvalCounts",
    "count_outcomes",
    "evaluate_detection",
    "merge_report",
    "pooled",
    "report_markdown",
    "simulate_set",
]

OUTBREAK_SIZES: tuple[float, ...] = (2.0, 3.0, 5.0, 10.0)

# Noufaily et al. (2013) settings of the flexible Farrington method (R farringtonFlexible).
NOUFAILY: dict[str, Any] = {
    "b": 5,
    "w": 3,
    "reweight": True,
    "weights_threshold": 2.58,
    "trend": True,
    "p_threshold_trend": 0.05,
    "alpha": 0.05,
    "limit54": (5, 4),
    "power_trans": "none",
    "population_offset": False,
    "no_periods": 10,
    "past_weeks_not_included": 26,
    "threshold_method": "nbPlugin",
}

# Parameters passed on top of each registered method's defaults.
METHOD_PARAMS: dict[str, dict[str, Any]] = {
    "farrington-flexible": NOUFAILY,
    "cusum": {"m": "glm"},  # a seasonal in-control mean: the series are seasonal
}

# Registered methods not evaluated, and why.
SKIPPED_METHODS: dict[str, str] = {
    "cidars-single-case": "an alert on any single case of a rare disease, not a trend method",
}

DEFAULT_METHODS: tuple[str, ...] = tuple(m for m in METHODS if m not in SKIPPED_METHODS)


@dataclass
class EvalCounts:
    """Counts behind the metrics of one group of series; they add up across groups."""

    clean_weeks: int = 0  # monitored weeks of the outbreak-free series
    clean_alarms: int = 0
    outbreaks: int = 0
    detected: int = 0
    detected_first_week: int = 0
    outbreak_weeks: int = 0
    outbreak_weeks_alarmed: int = 0
    other_weeks: int = 0  # weeks without outbreak cases in the series with an outbreak
    other_weeks_alarmed: int = 0
    undecided: int = 0
    weeks: int = 0
    delays: list[int] = field(default_factory=list)

    def __iadd__(self, other: EvalCounts) -> EvalCounts:
        for name in self.__dataclass_fields__:
            if name != "delays":
                setattr(self, name, getattr(self, name) + getattr(other, name))
        self.delays = self.delays + other.delays
        return self

    def metrics(self) -> dict[str, float]:
        """The metrics (NaN where the denominator is 0)."""

        def ratio(a: int, b: int) -> float:
            return a / b if b else float("nan")

        alarms = self.outbreak_weeks_alarmed + self.other_weeks_alarmed
        return {
            "fpr": ratio(self.clean_alarms, self.clean_weeks),
            "pod": ratio(self.detected, self.outbreaks),
            "pod_first_week": ratio(self.detected_first_week, self.outbreaks),
            "sensitivity": ratio(self.outbreak_weeks_alarmed, self.outbreak_weeks),
            "specificity": ratio(self.other_weeks - self.other_weeks_alarmed, self.other_weeks),
            "ppv": ratio(self.outbreak_weeks_alarmed, alarms),
            "median_delay": float(np.median(self.delays)) if self.delays else float("nan"),
            "undecided": ratio(self.undecided, self.weeks),
        }


def count_outcomes(
    alarm: npt.ArrayLike, outbreak: npt.ArrayLike, *, clean: bool = False
) -> EvalCounts:
    """Counts for the monitored weeks of a group of series.

    Args:
        alarm: (weeks, series) 1.0 / 0.0 / NaN (NaN counts as no alarm, and as undecided).
        outbreak: (weeks, series) outbreak cases (or a boolean mask of outbreak weeks).
        clean: the series are outbreak-free (they give the false positive rate); ``outbreak``
            must then be all zero.
    """
    al = np.asarray(alarm, dtype=np.float64)
    if al.ndim == 1:
        al = al[:, None]
    ob = np.asarray(outbreak, dtype=np.float64).reshape(al.shape) > 0
    hit = al == 1.0
    c = EvalCounts(undecided=int(np.isnan(al).sum()), weeks=int(al.size))
    if clean:
        if ob.any():
            raise ValueError("clean series must have no outbreak weeks")
        c.clean_weeks = int(al.size)
        c.clean_alarms = int(hit.sum())
        return c
    has = ob.any(axis=0)
    c.outbreaks = int(has.sum())
    c.outbreak_weeks = int(ob.sum())
    c.outbreak_weeks_alarmed = int((hit & ob).sum())
    c.other_weeks = int((~ob).sum())
    c.other_weeks_alarmed = int((hit & ~ob).sum())
    for j in np.flatnonzero(has):
        weeks = np.flatnonzero(ob[:, j])
        alarmed = weeks[hit[weeks, j]]
        if alarmed.size:
            c.detected += 1
            c.delays.append(int(alarmed[0] - weeks[0]))
            c.detected_first_week += int(alarmed[0] == weeks[0])
    return c


@dataclass
class SimulatedSet:
    """All series of one evaluation: counts (weeks, series) and, per series, the scenario id,
    outbreak size k (0 = outbreak-free), replicate and outbreak cases."""

    counts: FloatArray
    outbreak: FloatArray
    scenario: npt.NDArray[np.int64]
    k: FloatArray
    replicate: npt.NDArray[np.int64]


def simulate_set(
    scenarios: Sequence[Scenario],
    replicates: int,
    seed: int,
    *,
    n_weeks: int = 624,
    n_monitor: int = 49,
    sizes: Sequence[float] = OUTBREAK_SIZES,
) -> SimulatedSet:
    """Series for every scenario x replicate x (outbreak-free, each k). Deterministic for
    ``seed``: each scenario draws from its own generator, so a subset of scenarios gives the
    same series as the full set."""
    first = n_weeks - n_monitor
    tail = 5  # the outbreak starts at least this many weeks before the end
    if n_monitor <= tail:
        raise ValueError(f"n_monitor must be > {tail}")
    cols, obs, scn_ids, ks, reps = [], [], [], [], []
    for scn in scenarios:
        rng = np.random.default_rng([seed, scn.id])
        base = simulate_baseline(scn, n_weeks, replicates, rng)
        starts = rng.integers(first, n_weeks - tail, size=replicates)
        for r in range(replicates):
            cols.append(base[:, r])
            obs.append(np.zeros(n_weeks))
            scn_ids.append(scn.id)
            ks.append(0.0)
            reps.append(r)
            for k in sizes:
                extra = inject_outbreak(scn, k, int(starts[r]), n_weeks, rng)
                cols.append(base[:, r] + extra)
                obs.append(extra)
                scn_ids.append(scn.id)
                ks.append(float(k))
                reps.append(r)
    return SimulatedSet(
        counts=np.column_stack(cols),
        outbreak=np.column_stack(obs),
        scenario=np.asarray(scn_ids, dtype=np.int64),
        k=np.asarray(ks, dtype=np.float64),
        replicate=np.asarray(reps, dtype=np.int64),
    )


def evaluate_detection(
    *,
    seed: int = 1,
    replicates: int = 20,
    methods: Iterable[str] = DEFAULT_METHODS,
    scenarios: Sequence[Scenario] = SCENARIOS,
    n_weeks: int = 624,
    n_monitor: int = 49,
    sizes: Sequence[float] = OUTBREAK_SIZES,
    method_params: Mapping[str, Mapping[str, Any]] = METHOD_PARAMS,
    progress: Callable[[str], None] | None = None,
) -> tuple[list[dict[str, Any]], dict[str, float]]:
    """Run every method on the simulated set; one row of counts and metrics per method x
    scenario x k (k = 0: the outbreak-free series, which give ``fpr``) and the seconds each
    method took."""
    sim = simulate_set(
        scenarios, replicates, seed, n_weeks=n_weeks, n_monitor=n_monitor, sizes=sizes
    )
    panel = Panel(
        counts=sim.counts,
        units=tuple(f"s{j}" for j in range(sim.counts.shape[1])),
        freq=52,
    )
    monitor = np.arange(n_weeks - n_monitor, n_weeks)
    by_id = {s.id: s for s in scenarios}
    rows: list[dict[str, Any]] = []
    seconds: dict[str, float] = {}
    for name in methods:
        if name not in METHODS:
            raise ValueError(f"unknown detection method {name!r}")
        if progress:
            progress(name)
        t0 = time.perf_counter()
        res = METHODS[name](panel, monitor=monitor, **dict(method_params.get(name, {})))
        seconds[name] = time.perf_counter() - t0
        ob = sim.outbreak[monitor]
        for scn_id in by_id:
            for k in (0.0, *sizes):
                cols = np.flatnonzero((sim.scenario == scn_id) & (sim.k == k))
                c = count_outcomes(res.alarm[:, cols], ob[:, cols], clean=k == 0.0)
                scn = by_id[scn_id]
                rows.append(
                    {
                        "method": name,
                        "scenario": scn_id,
                        "level": scn.level,
                        "theta": scn.theta,
                        "beta": scn.beta,
                        "m": scn.m,
                        "phi": scn.phi,
                        "k": k,
                        "series": int(cols.size),
                        **{f: getattr(c, f) for f in c.__dataclass_fields__ if f != "delays"},
                        "delays": c.delays,
                        **c.metrics(),
                    }
                )
    return rows, seconds


def pooled(rows: Iterable[Mapping[str, Any]]) -> EvalCounts:
    """The counts of several result rows added up."""
    total = EvalCounts()
    for r in rows:
        part = EvalCounts(
            **{f: r[f] for f in EvalCounts.__dataclass_fields__ if f != "delays"},
            delays=list(r["delays"]),
        )
        total += part
    return total


# --------------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------------

BEGIN_MARK = "<!-- evaluate-detection:begin (generated; edit the text outside these marks) -->"
END_MARK = "<!-- evaluate-detection:end -->"


def _fmt(v: float, pct: bool = True) -> str:
    if v != v:  # NaN
        return "–"
    return f"{100 * v:.1f}" if pct else f"{v:g}"


def report_markdown(
    rows: Sequence[Mapping[str, Any]],
    seconds: Mapping[str, float],
    *,
    command: str,
    seed: int,
    replicates: int,
    scenarios: Sequence[Scenario] = SCENARIOS,
    n_weeks: int = 624,
    n_monitor: int = 49,
    sizes: Sequence[float] = OUTBREAK_SIZES,
) -> str:
    """The generated part of ``docs/detection-evaluation.md`` (between the marks)."""
    methods = list(dict.fromkeys(r["method"] for r in rows))

    def pick(method: str, **cond: Any) -> EvalCounts:
        return pooled(
            r
            for r in rows
            if r["method"] == method and all(r[key] == val for key, val in cond.items())
        )

    def pick_outbreaks(method: str, **cond: Any) -> EvalCounts:
        return pooled(
            r
            for r in rows
            if r["method"] == method
            and r["k"] > 0
            and all(r[key] == val for key, val in cond.items())
        )

    n_series = sum(r["series"] for r in rows if r["method"] == methods[0]) if methods else 0
    lines = [
        BEGIN_MARK,
        "",
        f"Command: `{command}` (seed {seed}, {replicates} replicates per scenario; "
        f"{n_series} series of {n_weeks} weeks, the last {n_monitor} monitored; "
        f"{len(scenarios)} scenarios × (1 outbreak-free + {len(sizes)} outbreak sizes)). "
        "All figures are percentages except the delay (weeks) and the time (seconds for all "
        "series, on the machine of the run).",
        "",
        "### Scenarios",
        "",
        "| id | level | θ | β | seasonality (m) | γ1 | γ2 | φ | mean count, monitored weeks |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    weeks = np.arange(n_weeks - n_monitor + 1, n_weeks + 1)
    for s in scenarios:
        mu = baseline_mean(s, weeks)
        lines.append(
            f"| {s.id} | {s.level} | {s.theta:g} | {s.beta:g} | {s.seasonality} ({s.m}) | "
            f"{s.gamma1:g} | {s.gamma2:g} | {s.phi:g} | {mu.min():.1f} – {mu.max():.1f} |"
        )
    head = " | ".join(f"POD k={k:g}" for k in sizes)
    lines += [
        "",
        "### All scenarios pooled",
        "",
        f"| method | FPR | specificity | {head} | POD 1st week | sensitivity | PPV "
        "| median delay | undecided | time (s) |",
        "|---|" + "---|" * (len(sizes) + 8),
    ]
    for m in methods:
        clean = pick(m, k=0.0).metrics()
        ob = pick_outbreaks(m).metrics()
        pods = " | ".join(_fmt(pick(m, k=float(k)).metrics()["pod"]) for k in sizes)
        lines.append(
            f"| {m} | {_fmt(clean['fpr'])} | {_fmt(ob['specificity'])} | {pods} | "
            f"{_fmt(ob['pod_first_week'])} | {_fmt(ob['sensitivity'])} | {_fmt(ob['ppv'])} | "
            f"{_fmt(ob['median_delay'], pct=False)} | {_fmt(pick(m).metrics()['undecided'])} | "
            f"{seconds.get(m, float('nan')):.2f} |"
        )
    ids = [s.id for s in scenarios]
    for title, key, kval in (
        ("False positive rate by scenario", "fpr", 0.0),
        ("Probability of detection by scenario, k = 3", "pod", 3.0),
        ("Probability of detection by scenario, k = 5", "pod", 5.0),
    ):
        if kval and kval not in sizes:
            continue
        lines += [
            "",
            f"### {title}",
            "",
            "| method | " + " | ".join(str(i) for i in ids) + " |",
            "|---|" + "---|" * len(ids),
        ]
        for m in methods:
            vals = " | ".join(_fmt(pick(m, scenario=i, k=kval).metrics()[key]) for i in ids)
            lines.append(f"| {m} | {vals} |")
    lines += ["", END_MARK]
    return "\n".join(lines) + "\n"


def merge_report(existing: str | None, generated: str, title: str) -> str:
    """Put ``generated`` between the marks of ``existing`` (kept otherwise), or make a new
    document with ``title`` if there are no marks."""
    if existing and BEGIN_MARK in existing and END_MARK in existing:
        before = existing.split(BEGIN_MARK, 1)[0]
        after = existing.split(END_MARK, 1)[1]
        return before + generated.rstrip("\n") + after
    return f"# {title}\n\n" + generated
