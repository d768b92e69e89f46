"""Judge every area of a subtree for a cycle date and store the judgements with evidence."""

from __future__ import annotations

import contextlib
import datetime as dt
import gc
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl
from django.db import transaction
from django.db.models import QuerySet
from django.utils.translation import override
from scipy import sparse

from ruralwatch.areas.models import Area
from ruralwatch.areas.selectors import subtree_q
from ruralwatch.assessments import evidence_texts, nowcasting, phrases
from ruralwatch.assessments.models import Judgement
from ruralwatch.assessments.selectors import subtree_series
from ruralwatch.core import bulk
from ruralwatch.epi.assess.judgement import UnitColumns, judge, rebound_state
from ruralwatch.reporting import archive
from ruralwatch.reporting.models import Aggregation, Indicator
from ruralwatch.reporting.selectors import ArrivalsRead, ValuesRead

TOWNSHIP = 4
VILLAGE = 5


COLUMNS = (
    "area_id",
    "indicator_id",
    "date",
    "level",
    "phase",
    "rebound_detected",
    "pooled",
    "text_zh",
    "text_en",
    "evidence",
)
#: The rows' columns as polars types (the date as its ISO text, as the database reads it).
SCHEMA = {
    name: pl.Boolean if name in ("rebound_detected", "pooled") else pl.String for name in COLUMNS
}
#: The evidence's parts that are those of the basis unit, shared by the units judged on it
#: (:func:`ruralwatch.epi.assess.judgement.judge`): stored once per basis and referred to by
#: the rows (:meth:`ruralwatch.assessments.evidence_texts.Packer.dumps`).
SHARED_EVIDENCE = frozenset({"level", "growth", "phase", "rt"})


def _rebounds_below(detected: list[bool], parent: np.ndarray, levels: list[int]) -> list[list[int]]:
    """For every area, the townships under it whose own rebound test fired."""
    below: list[list[int]] = [[] for _ in detected]
    for j, fired in enumerate(detected):
        if levels[j] != TOWNSHIP or not fired:
            continue
        k = int(parent[j])
        while k >= 0:
            below[k].append(j)
            k = int(parent[k])
    return below


def _with_population(areas: pl.DataFrame) -> pl.DataFrame:
    """Fill a missing population with the sum of the children's, level by level, and keep
    only areas with a population: incidence and levels need one."""
    filled = areas.with_columns(pl.col("population").fill_null(0))
    for level in (4, 3, 2, 1):
        sums = (
            filled.filter(pl.col("level") == level + 1)
            .group_by("parent")
            .agg(pl.col("population").sum().alias("children"))
            .rename({"parent": "code"})
        )
        filled = (
            filled.join(sums, on="code", how="left")
            .with_columns(
                pl.when((pl.col("level") == level) & (pl.col("population") <= 0))
                .then(pl.col("children").fill_null(0))
                .otherwise(pl.col("population"))
                .alias("population")
            )
            .drop("children")
        )
    return filled.filter(pl.col("population") > 0)


@dataclass
class AssessmentSummary:
    date: str
    areas: int = 0
    by_phase: dict[str, int] = field(default_factory=dict)
    rebounds: list[str] = field(default_factory=list)
    #: Seconds spent reading the panel, judging and storing (for the cycle's report).
    seconds: dict[str, float] = field(default_factory=dict)
    #: Cases the nowcast added to the last days, per area code (areas it changed).
    nowcast_added: dict[str, float] = field(default_factory=dict)


#: Days of village values up to the cycle date that the assessment reads (the retention of
#: village detail keeps at least these, ``cycle.retention``).
HISTORY_DAYS = 90


def assess(
    cycle_date: dt.date,
    *,
    root_path: str = "/",
    indicator: str = "new_cases",
    history_days: int = HISTORY_DAYS,
    nowcast: bool = True,
    report_values: ValuesRead | None = None,
    replace: bool = True,
    arrivals: ArrivalsRead | None = None,
) -> AssessmentSummary:
    """Level, phase, rebound watch and sentences for every area under ``root_path``.

    ``epi`` judges (codes and numbers); :mod:`ruralwatch.assessments.phrases` words the
    sentence in each stored language.

    One panel holds every area of a tree (villages from reported values, the other levels
    from roll-ups), so small village series are judged on their parents' series by the
    pooling rule of :func:`ruralwatch.epi.assess.judgement.judge`. A subtree with several roots (the
    whole country: one per province) is judged one root's tree at a time, so that the panel,
    the judgements and their rows are never those of the nation (issue 15): pooling climbs
    at most to a root, a province's judgement names only the townships under it, and the
    nowcast counts delays from the moment of the whole subtree's latest report (as the
    cycle's Dask partitions do, ``ruralwatch.cycle.distributed``). Every tree's rows are
    written in one transaction with the deletion of the date's earlier rows.

    With ``nowcast`` (the default) the last days of the areas of levels 1–4 carry the cases
    still to come in late reports (:mod:`ruralwatch.assessments.nowcasting`), and the evidence
    and sentence say so. ``report_values`` reads the reported values instead of
    ``values_by_area`` (:func:`ruralwatch.assessments.selectors.subtree_series`), and
    ``arrivals`` the submissions of the days it keeps for the nowcast's reporting triangle
    (:func:`ruralwatch.reporting.selectors.delay_triangle`).

    ``replace=False``: the caller knows that no judgement of ``indicator`` on ``cycle_date``
    lies under ``root_path`` (:func:`judged_on`, asked before the cycle's partitions began),
    so the deletion is left out (see :func:`_judgements_of`).
    """
    summary = AssessmentSummary(cycle_date.isoformat())
    trees = _trees(root_path)
    pinned: contextlib.AbstractContextManager[None] = contextlib.nullcontext()
    if nowcast and len(trees) > 1:
        now = nowcasting.moment_of(root_path, cycle_date, indicator)
        pinned = nowcasting.whole_tree_moment(indicator, cycle_date, now)
    deleted = False
    with transaction.atomic(), pinned, _without_cyclic_gc():
        for path in trees:
            rows = _judged(
                cycle_date,
                path,
                indicator,
                history_days,
                nowcast,
                summary,
                report_values,
                arrivals,
            )
            if rows.is_empty():
                continue
            began = time.perf_counter()
            if not deleted:  # as before: a subtree with nothing to judge keeps its rows
                if replace:
                    _judgements_of(cycle_date, root_path, indicator).delete()
                deleted = True
            bulk.append_text(Judgement._meta.db_table, rows)
            _add_seconds(summary, "store", began)
    summary.areas = sum(summary.by_phase.values())
    return summary


def _judgements_of(cycle_date: dt.date, root_path: str, indicator: str) -> QuerySet[Judgement]:
    """The judgements of ``indicator`` on ``cycle_date`` under ``root_path``.

    For a subtree, the code range too: a day's first run has no statistics for its date, so
    the planner reads every judgement of the date written so far (the other provinces', up to
    713,034) and probed the areas for each one, about 2 s of backend CPU for each of the
    nation's last provinces. Even so, with yesterday's judgements and statistics in the table
    the planner takes the date's index, which the provinces judged before fill as the cycle
    goes: the nation's 31 deletions of nothing took 7.6 s of the database's CPU (session 23),
    which is why the cycle asks :func:`judged_on` once, before its partitions begin, and
    passes ``replace=False`` when the date holds no judgement yet."""
    found = Judgement.objects.filter(date=cycle_date, indicator_id=indicator)
    return found if root_path == "/" else found.filter(subtree_q(root_path))


def judged_on(cycle_date: dt.date, root_path: str = "/", indicator: str = "new_cases") -> bool:
    """Whether some judgement of ``indicator`` on ``cycle_date`` lies under ``root_path``."""
    return _judgements_of(cycle_date, root_path, indicator).exists()


@contextlib.contextmanager
def _without_cyclic_gc() -> Iterator[None]:
    """Python's cyclic garbage collector paused for the block (as it was before, after it).

    Judging a tree makes a few dicts and strings per area (statements, evidence, sentences,
    rows: millions of objects for a province), none of them in reference cycles. Each time the
    young objects outnumber the collector's threshold it walks them, and every few times
    every object the process holds: on 河南's panel ``judge`` took 2.4-3.3 s of CPU with the
    collector and 1.6 s without (load 12). Objects are still freed as their last reference
    goes; a cycle made meanwhile waits for the next collection after the block."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _trees(root_path: str) -> list[str]:
    """The paths of the roots of the trees under ``root_path`` (code order): the subtree
    itself unless it is the whole country of several roots."""
    if root_path != "/":
        return [root_path]
    roots = list(
        Area.objects.filter(parent__isnull=True).order_by("code").values_list("path", flat=True)
    )
    return roots if len(roots) > 1 else [root_path]


def _add_seconds(summary: AssessmentSummary, part: str, began: float) -> None:
    total = summary.seconds.get(part, 0.0) + time.perf_counter() - began
    summary.seconds[part] = round(total, 3)


def _judged(
    cycle_date: dt.date,
    root_path: str,
    indicator: str,
    history_days: int,
    nowcast: bool,
    summary: AssessmentSummary,
    report_values: ValuesRead | None = None,
    arrivals: ArrivalsRead | None = None,
) -> pl.DataFrame:
    """The rows of the judgements of ``root_path``'s tree (adds to ``summary``): a frame of
    :data:`COLUMNS`."""
    began = time.perf_counter()
    start = cycle_date - dt.timedelta(days=history_days)
    summed = _sums_of_reports(indicator, start, cycle_date)
    areas, values = subtree_series(
        root_path, indicator, start, cycle_date, report_values, rolled=not summed
    )
    areas = _with_population(areas)
    if areas.is_empty():
        return pl.DataFrame(schema=SCHEMA)
    codes = areas["code"].to_list()
    n_time = (cycle_date - start).days + 1
    counts = panel(areas, values, start, n_time)
    parent = parents(areas)
    population = areas["population"].fill_null(0).to_numpy().astype(np.float64)
    levels = areas["level"].to_list()
    if summed:
        counts = _rolled_up(counts, parent, levels)
    _add_seconds(summary, "read", began)
    began = time.perf_counter()
    late = nowcasting.Nowcast()
    if nowcast:
        late = nowcasting.apply(
            counts,
            start,
            cycle_date,
            codes,
            levels,
            root_path=root_path,
            indicator=indicator,
            arrivals=arrivals,
        )
        _add_seconds(summary, "nowcast", began)
        summary.nowcast_added |= {codes[j]: round(v, 1) for j, v in late.added.items()}
        began = time.perf_counter()
    result = judge(
        counts,
        np.datetime64(start) + np.arange(n_time),
        population,
        areas["name"].to_list(),
        parent,
        codes=codes,
        as_of=cycle_date,
        season_start=start,
    )
    _add_seconds(summary, "judge", began)
    began = time.perf_counter()
    rows = _rows(result.columns, late, codes, levels, parent, indicator, cycle_date, summary)
    _add_seconds(summary, "store", began)
    return rows


def panel(areas: pl.DataFrame, values: pl.DataFrame, start: dt.date, n_time: int) -> np.ndarray:
    """The values (``area``, ``date``, ``value``) as a panel of ``n_time`` days from ``start``
    × the ``areas`` in their order, NaN where none; where an area has two values of a day
    (a roll-up and its own report, read in that order), the last. Each value's column is
    found by a join (a sort of millions of codes as numpy strings cost more than the read)."""
    known = values.join(
        areas.select(pl.col("code").alias("area"), pl.int_range(pl.len()).alias("column")),
        on="area",
        maintain_order="left",
    )
    counts = np.full((n_time, areas.height), np.nan)
    days = (known["date"] - start).dt.total_days().to_numpy()
    counts[days, known["column"].to_numpy()] = known["value"].to_numpy()
    return counts


def parents(areas: pl.DataFrame) -> np.ndarray:
    """Each area's parent as its index in ``areas`` (-1: none, or outside them)."""
    index = {c: i for i, c in enumerate(areas["code"].to_list())}
    return np.array([index.get(p, -1) if p else -1 for p in areas["parent"].to_list()])


def reads_reports_only(
    cycle_date: dt.date, indicator: str = "new_cases", history_days: int = HISTORY_DAYS
) -> bool:
    """Whether :func:`assess` of ``cycle_date`` reads the village reports alone (it sums them
    up itself) and no roll-up: then it need not wait for the day's roll-up (the cycle starts
    it beside the roll-up)."""
    return _sums_of_reports(indicator, cycle_date - dt.timedelta(days=history_days), cycle_date)


def _sums_of_reports(indicator: str, start: dt.date, end: dt.date) -> bool:
    """Whether the roll-ups of ``indicator`` over ``start``…``end`` are the sums of its
    reported values, which :func:`_rolled_up` makes from the panel: its aggregation is a sum
    and no date's village reports are archived (their roll-ups are kept; a cycle run again
    for an old date reads them)."""
    return Indicator.objects.filter(
        code=indicator, aggregation=Aggregation.SUM
    ).exists() and not archive.archived_dates(start, end)


def _rolled_up(own: np.ndarray, parent: np.ndarray, levels: list[int]) -> np.ndarray:
    """The panel of a tree from its areas' own reports (``own``: days × areas, NaN where an
    area reported nothing): each area of levels 1–4 holds the sum of the reports of its
    subtree, itself included, NaN where none of them reported (what the roll-up stores,
    ``reporting.services.roll_up``, for an indicator summed up), unless it reported itself
    that day: then its own report, as when the roll-ups were read with the reports (the
    reports came last). Villages keep their own.

    The roll-ups' read was the assessment's largest query after the villages' (6 s of the
    database's CPU for the nation's cycle, issue 15); the sums are one sparse product here:
    each report counted in its own column and its ancestors'."""
    U = own.shape[1]
    reported = ~np.isnan(own)
    members, ancestors = [np.arange(U)], [np.arange(U)]
    up = parent.copy()
    while (up >= 0).any():
        has = up >= 0
        members.append(np.flatnonzero(has))
        ancestors.append(up[has])
        up = np.where(has, parent[np.where(has, up, 0)], -1)
    rows, cols = np.concatenate(members), np.concatenate(ancestors)
    tree = sparse.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(U, U))
    sums = np.asarray((tree.T @ np.where(reported, own, 0.0).T).T)
    seen = np.asarray((tree.T @ reported.T.astype(np.float64)).T)
    rolled = np.where(seen > 0, sums, np.nan)
    upper = np.array([lv < VILLAGE for lv in levels], dtype=bool)
    return np.where(upper[None, :] & ~reported, rolled, own)


def _rows(
    cols: UnitColumns,
    late: nowcasting.Nowcast,
    codes: list[str],
    levels: list[int],
    parent: np.ndarray,
    indicator: str,
    cycle_date: dt.date,
    summary: AssessmentSummary,
) -> pl.DataFrame:
    """The stored rows of the judgements in ``cols`` (one per area, in their order), as a
    frame of :data:`COLUMNS`: the sentences and evidence come out of polars as columns, and
    the frame goes to the database as it is (:func:`_write`), with no tuple per area.

    Most areas are villages judged on a parent's series: their sentences and evidence differ
    from their basis's only by their own 7-day numbers, pooled cases and rebound test. Those
    ("plain": all but those with a township's rebound below) are written from their group's
    first sentence and their basis's evidence template, filled with their own numbers (and
    nowcast)
    (:func:`phrases.in_stored_languages_grouped`, :class:`_Templates`); the others from their
    whole :class:`~ruralwatch.epi.assess.UnitJudgement`. Both write what the whole judgement
    would (tests/assessments/test_rows.py)."""
    U = len(codes)
    rebound_cols = cols.rebound_columns
    detected = rebound_cols.get("detected") or [False] * U
    below = _rebounds_below(detected, parent, levels)
    states = _rebound_states(rebound_cols, U)
    nowcast_said = {j: nowcasting.statement(ev) for j, ev in late.evidence.items()}

    def evidence_of(u: int) -> tuple[Any, dict[str, Any]]:
        unit = cols.unit(u)
        if u in late.evidence:
            unit.evidence["nowcast"] = late.evidence[u]
            if nowcast_said[u] is not None:
                unit.statement["nowcast"] = nowcast_said[u]
        return unit, unit.evidence

    # The texts every area's evidence repeats (method names, rules, sources) are stored once:
    # read off the first areas of each level, where all of them occur.
    firsts: dict[int, list[Any]] = {}
    for u, lv in enumerate(levels):
        if len(firsts.setdefault(lv, [])) < 20:
            firsts[lv].append(evidence_of(u)[1])
    packer = evidence_texts.Packer(
        evidence_texts.long_texts(e for group in firsts.values() for e in group)
    )
    date_text = cycle_date.isoformat()
    whole = [u for u in range(U) if below[u]]
    whole_set = set(whole)
    whole_rows = _whole_rows(whole, evidence_of, below, cols, indicator, date_text, packer)

    # The plain units, grouped by basis, rebound state and pooling.
    templates = _Templates(cols, packer)
    group_of: dict[tuple[int, ...], int] = {}
    groups: list[dict[str, Any]] = []
    items: list[tuple[int, float, float, float | None, float | None, dict[str, Any] | None]] = []
    plain = [u for u in range(U) if u not in whole_set]
    basis, at, c14 = cols.basis, cols.at, cols.cases_14d
    s7, p7, change = cols.sum7, cols.prev7, cols.change
    for u in plain:
        b = basis[u]
        pooled = b != u
        # A rebound state with numbers says the unit's own: a group of its own.
        state = states[u]
        key: tuple[int, ...] = (b, 0, pooled) if state == "none" else (b, 1, pooled)
        if state not in ("none", "no_new_peak"):
            key = (b, 2, pooled, u)
        g = group_of.get(key)
        if g is None:
            g = group_of[key] = len(groups)
            groups.append(cols.statement(u))
        nowcast = nowcast_said.get(u)
        items.append((g, s7[u], p7[u], change[u], c14[u] if pooled else None, nowcast))
    # Compact rows (evidence_texts): all plain ones but those with a nowcast of their own or
    # a rebound detected (SQL reads those rows' evidence by key: the rebound tasks).
    compact = [u not in late.evidence and not detected[u] for u in plain]
    texts = phrases.grouped_columns(
        groups,
        items,
        compact=packer.sentence_head,
        whole=[i for i, c in enumerate(compact) if not c],
    )
    units = pl.Series(plain, dtype=pl.Int64)
    on = pl.Series(basis, dtype=pl.Int64).gather(units)
    frame = pl.DataFrame(
        {
            "unit": units,
            "area_id": pl.Series(codes, dtype=pl.String).gather(units),
            "indicator_id": pl.repeat(indicator, len(plain), dtype=pl.String, eager=True),
            "date": pl.repeat(date_text, len(plain), dtype=pl.String, eager=True),
            "level": pl.Series(cols.level_name, dtype=pl.String).gather(on),
            "phase": pl.Series(cols.phase, dtype=pl.String).gather(
                pl.Series(at, dtype=pl.Int64).gather(units)
            ),
            "rebound_detected": pl.Series([bool(d) for d in detected], dtype=pl.Boolean).gather(
                units
            ),
            "pooled": on != units,
            "text_zh": texts["zh-hans"],
            "text_en": texts["en"],
            "evidence": templates.evidence(plain, late.evidence, compact),
        }
    )
    if whole_rows:
        whole_frame = pl.DataFrame(whole_rows, schema=SCHEMA, orient="row")
        frame = pl.concat(
            [frame, whole_frame.insert_column(0, pl.Series("unit", whole, dtype=pl.Int64))]
        ).sort("unit")
    packer.save()
    for phase_name, n in frame.group_by("phase", maintain_order=True).len().iter_rows():
        summary.by_phase[phase_name] = summary.by_phase.get(phase_name, 0) + n
    summary.rebounds += [
        codes[i] for i, fired in enumerate(detected) if fired and levels[i] == TOWNSHIP
    ]
    return frame.drop("unit")


def _rebound_states(columns: dict[str, list[Any]], n: int) -> list[str]:
    """Each unit's rebound state (:func:`ruralwatch.epi.assess.judgement.rebound_state`)."""
    if not columns:
        return [rebound_state({"outcome": "no_event"})] * n
    return [
        rebound_state({"outcome": o, "detected": d, "above_projection": a})
        for o, d, a in zip(
            columns["outcome"], columns["detected"], columns["above_projection"], strict=True
        )
    ]


def _whole_rows(
    whole: list[int],
    evidence_of: Callable[[int], tuple[Any, dict[str, Any]]],
    below: list[list[int]],
    cols: UnitColumns,
    indicator: str,
    date_text: str,
    packer: evidence_texts.Packer,
) -> list[tuple[Any, ...]]:
    """The rows of the units ``whole`` from their whole judgements (in that order)."""
    judged = [evidence_of(u) for u in whole]
    texts = phrases.in_stored_languages([unit.statement for unit, _ in judged])
    text_zh, text_en = texts["zh-hans"], texts["en"]
    codes, names = cols.codes, cols.names
    rows = []
    for i, (u, (unit, evidence)) in enumerate(zip(whole, judged, strict=True)):
        rebound = dict(unit.rebound or {})
        theirs = {j: cols.rebound(j) for j in below[u]}  # ``whole``: units with some below
        first = min(
            str(theirs[j].get("onset_date") or theirs[j].get("first_date")) for j in below[u]
        )
        rebound["areas"] = [
            {"code": codes[j], "name": names[j], "from": theirs[j].get("onset_date")}
            for j in below[u]
        ]
        rebound["detected"] = True
        risen = [names[j] for j in below[u]]
        with override("zh-hans"):
            text_zh[i] = phrases.appended(text_zh[i], phrases.rise_below(risen, first))
        with override("en"):
            text_en[i] = phrases.appended(text_en[i], phrases.rise_below(risen, first))
        rows.append(
            (
                unit.code,
                indicator,
                date_text,
                unit.level,
                unit.phase,
                bool(rebound.get("detected")),
                bool(unit.pooled),
                text_zh[i],
                text_en[i],
                packer.dumps(
                    evidence
                    | {
                        "rebound": rebound,
                        "sum7": unit.sum7,
                        "prev7": unit.prev7,
                        "change": unit.change,
                        "per_100k": unit.per_100k,
                    },
                    shared=SHARED_EVIDENCE,
                ),
            )
        )
    return rows


def _json_column(values: list[Any]) -> list[str]:
    """Each value as ``json.dumps`` writes it, encoded in one call for the whole column."""
    if not values:
        return []
    parts = evidence_texts.to_json(values)[1:-1].split(", ")
    if len(parts) != len(values):  # a string holding ", ": one at a time
        parts = [evidence_texts.to_json(v) for v in values]
    return parts


def _slot(name: str) -> str:
    """A placeholder value whose JSON text occurs nowhere else in an evidence."""
    return f"\x00{name}\x00"


class _Templates:
    """The stored evidence of plain units (see :func:`_rows`) as text: per basis, the JSON the
    packer writes for a unit judged on it, with slots for what is the unit's own (pooled,
    cases in 14 days, rebound, 7-day numbers, incidence), filled with each unit's values as
    ``json.dumps`` writes them; the pieces are joined column-wise by polars."""

    OWN = ("pooled", "cases_14d", "rebound", "nowcast", "sum7", "prev7", "change", "per_100k")
    #: The nowcast member, in the rows that have one, is its slot's filler with its key.
    NOWCAST = ', "nowcast": '

    def __init__(self, cols: UnitColumns, packer: evidence_texts.Packer) -> None:
        self.cols, self.packer = cols, packer
        rebound = cols.rebound(0) if cols.codes else {}
        self.rebound_keys = [k for k in rebound if k in cols.rebound_columns]
        self.rebound = _pieces(
            packer.dumps(rebound | {k: _slot(k) for k in self.rebound_keys}), self.rebound_keys
        )

    def evidence(
        self, units: list[int], nowcast: dict[int, dict[str, Any]], compact: list[bool]
    ) -> pl.Series:
        """The evidence texts of ``units`` (in that order), with the ``nowcast`` evidence of
        those that have one; compact (``evidence_texts``) where ``compact`` says (a unit with
        a nowcast never is)."""
        if not units:
            return pl.Series([], dtype=pl.String)
        cols = self.cols
        at = pl.Series(units, dtype=pl.Int64)

        def own(values: list[Any]) -> pl.Series:
            return pl.Series(_json_column(values), dtype=pl.String).gather(at)

        rebound_values = [own(cols.rebound_columns[k]) for k in self.rebound_keys]
        rebound = _joined(self.rebound, rebound_values, len(units))
        basis = pl.Series(cols.basis, dtype=pl.Int64).gather(at)
        bases = basis.unique().sort().to_list()
        # a template only for the bases of two compact rows or more (a village judged on its
        # own series names its basis alone)
        with_compact = evidence_texts.named_twice(basis, pl.Series(compact, dtype=pl.Boolean))
        rows = []
        for b in bases:
            p = self._for_basis(b)
            rows.append([*p, self._head(p) if b in with_compact else None])
        pieces = pl.DataFrame(
            rows,
            schema=[*(f"p{i}" for i in range(len(self.OWN) + 1)), "head"],
            orient="row",
        ).with_columns(pl.Series("basis", bases, dtype=pl.Int64))
        frame = pl.DataFrame(
            {
                "basis": basis,
                "compact": pl.Series(compact, dtype=pl.Boolean),
                "pooled": pl.Series(
                    ["true" if b != u else "false" for u, b in zip(units, basis, strict=True)],
                    dtype=pl.String,
                ),
                "cases_14d": own(cols.cases_14d),
                "rebound": rebound,
                **{f"r{i}": v for i, v in enumerate(rebound_values)},
                "nowcast": pl.Series(
                    [
                        self.NOWCAST + self.packer.dumps(nowcast[u]) if u in nowcast else ""
                        for u in units
                    ],
                    dtype=pl.String,
                ),
                "sum7": own(cols.sum7),
                "prev7": own(cols.prev7),
                "change": own(cols.change),
                "per_100k": own(cols.per_100k),
            }
        ).join(pieces, on="basis", how="left", maintain_order="left")
        parts: list[pl.Expr] = [pl.col("p0")]
        for i, name in enumerate(self.OWN):
            parts += [pl.col(name), pl.col(f"p{i + 1}")]
        # a compact row: its basis's head, then its own values in the template's order
        values = ["pooled", "cases_14d", *(f"r{i}" for i in range(len(rebound_values)))]
        values += ["sum7", "prev7", "change", "per_100k"]
        short: list[pl.Expr] = [pl.col("head")]
        for name in values:
            short += [pl.lit(", "), pl.col(name)]
        short.append(pl.lit("]"))
        whole = pl.col("head").is_null() | ~pl.col("compact")
        texts: pl.Series = frame.select(
            pl.when(whole)
            .then(pl.concat_str(parts))
            .otherwise(pl.concat_str(short))
            .alias("evidence")
        )["evidence"]
        return texts

    def _head(self, pieces: list[str]) -> str | None:
        """The head of a compact row judged on the basis whose pieces are ``pieces``
        (:meth:`_for_basis`; with no nowcast): its template holds a slot for each own value,
        the rebound's members among them."""
        k = self.OWN.index("rebound")
        # the rebound's own pieces, the first after the basis's piece before it, the last
        # before the (empty) nowcast's piece and the one after it
        middle = [pieces[k] + self.rebound[0], *self.rebound[1:]]
        middle[-1] += pieces[k + 1] + pieces[k + 2]
        template = [*pieces[:k], *middle, *pieces[k + 3 :]]
        return self.packer.template_head(template)

    def _for_basis(self, b: int) -> list[str]:
        evidence = self.cols.evidence(b)
        slots = {name: _slot(name) for name in self.OWN}
        basis = evidence["basis"] | {"pooled": slots["pooled"], "cases_14d": slots["cases_14d"]}
        own = {k: slots[k] for k in self.OWN[2:]}
        text = self.packer.dumps(evidence | {"basis": basis} | own, shared=SHARED_EVIDENCE)
        pieces = _pieces(text, self.OWN)
        # the nowcast's key goes with its value (rows without one have neither)
        k = self.OWN.index("nowcast")
        if pieces[k] != self.NOWCAST:
            raise ValueError("the nowcast's slot is not after the rebound's")
        pieces[k] = ""
        return pieces


def _joined(pieces: list[str], values: list[pl.Series], n: int) -> pl.Series:
    """``pieces[0] + values[0] + pieces[1] + …`` for each of ``n`` rows (the pieces are
    constant, ``values`` columns of ``n``)."""
    if not values:
        return pl.Series([pieces[0]] * n, dtype=pl.String)
    frame = pl.DataFrame({f"v{i}": v for i, v in enumerate(values)})
    parts: list[pl.Expr] = [pl.lit(pieces[0])]
    for i in range(len(values)):
        parts += [pl.col(f"v{i}"), pl.lit(pieces[i + 1])]
    out: pl.Series = frame.select(pl.concat_str(parts).alias("s"))["s"]
    return out


def _pieces(text: str, names: Sequence[str]) -> list[str]:
    """``text`` cut at the slots of ``names`` (each once, in that order): the text before the
    first, between each two, after the last."""
    out: list[str] = []
    rest = text
    for name in names:
        slot = evidence_texts.to_json(_slot(name))
        if rest.count(slot) != 1 or text.count(slot) != 1:
            raise ValueError(f"slot {name} is not where a template needs it")
        before, rest = rest.split(slot)
        out.append(before)
    out.append(rest)
    return out
