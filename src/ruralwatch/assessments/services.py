"""Judge every area of a subtree for a cycle date and store the judgements with evidence."""

from __future__ import annotations

import contextlib
import datetime as dt
import gc
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl
from django.db import transaction
from django.utils.translation import override

from ruralwatch.areas.models import Area
from ruralwatch.assessments import evidence_texts, nowcasting, phrases
from ruralwatch.assessments.models import Judgement
from ruralwatch.assessments.selectors import subtree_series
from ruralwatch.core import bulk
from ruralwatch.epi.assess import judge
from ruralwatch.epi.panel import Panel

TOWNSHIP = 4


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
#: The evidence's parts that are those of the basis unit, shared by the units judged on it
#: (:func:`ruralwatch.epi.assess.judge`): stored once per basis and referred to by the rows
#: (:meth:`ruralwatch.assessments.evidence_texts.Packer.dumps`).
SHARED_EVIDENCE = frozenset({"level", "growth", "phase", "rt"})


def _rebounds_below(
    rebounds: list[dict[str, Any]], parent: np.ndarray, levels: list[int]
) -> list[list[int]]:
    """For every area, the townships under it whose own rebound test fired."""
    below: list[list[int]] = [[] for _ in rebounds]
    for j, r in enumerate(rebounds):
        if levels[j] != TOWNSHIP or not (r or {}).get("detected"):
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


def assess(
    cycle_date: dt.date,
    *,
    root_path: str = "/",
    indicator: str = "new_cases",
    history_days: int = 90,
    nowcast: bool = True,
) -> AssessmentSummary:
    """Level, phase, rebound watch and sentences for every area under ``root_path``.

    ``epi`` judges (codes and numbers); :mod:`ruralwatch.assessments.phrases` words the
    sentence in each stored language.

    One panel holds every area of a tree (villages from reported values, the other levels
    from roll-ups), so small village series are judged on their parents' series by the
    pooling rule of :func:`ruralwatch.epi.assess.judge`. A subtree with several roots (the
    whole country: one per province) is judged one root's tree at a time, so that the panel,
    the judgements and their rows are never those of the nation (issue 15): pooling climbs
    at most to a root, a province's judgement names only the townships under it, and the
    nowcast counts delays from the moment of the whole subtree's latest report (as the
    cycle's Dask partitions do, ``ruralwatch.cycle.distributed``). Every tree's rows are
    written in one transaction with the deletion of the date's earlier rows.

    With ``nowcast`` (the default) the last days of the areas of levels 1–4 carry the cases
    still to come in late reports (:mod:`ruralwatch.assessments.nowcasting`), and the evidence
    and sentence say so.
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
            rows = _judged(cycle_date, path, indicator, history_days, nowcast, summary)
            if not rows:
                continue
            began = time.perf_counter()
            if not deleted:  # as before: a subtree with nothing to judge keeps its rows
                old = Judgement.objects.filter(date=cycle_date, indicator_id=indicator)
                if root_path != "/":
                    old = old.filter(area__path__startswith=root_path)
                old.delete()
                deleted = True
            bulk.insert_rows(Judgement._meta.db_table, COLUMNS, rows)
            _add_seconds(summary, "store", began)
    summary.areas = sum(summary.by_phase.values())
    return summary


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
) -> list[tuple[Any, ...]]:
    """The rows of the judgements of ``root_path``'s tree (adds to ``summary``)."""
    began = time.perf_counter()
    start = cycle_date - dt.timedelta(days=history_days)
    areas, values = subtree_series(root_path, indicator, start, cycle_date)
    areas = _with_population(areas)
    if areas.is_empty():
        return []
    codes = areas["code"].to_list()
    n_time = (cycle_date - start).days + 1
    known = values.filter(pl.col("area").is_in(codes))
    panel = Panel.from_long(
        known["area"].to_numpy(),
        (known["date"] - start).dt.total_days().to_numpy(),
        known["value"].to_numpy(),
        unit_order=tuple(codes),
        n_time=n_time,
        dates=np.datetime64(start) + np.arange(n_time),
    )
    counts = np.array(panel.counts, dtype=np.float64)
    index = {c: i for i, c in enumerate(codes)}
    parent = np.array([index.get(p, -1) if p else -1 for p in areas["parent"].to_list()])
    population = areas["population"].fill_null(0).to_numpy().astype(np.float64)
    _add_seconds(summary, "read", began)
    began = time.perf_counter()
    levels = areas["level"].to_list()
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
    units = result.units
    for j, ev in late.evidence.items():
        units[j].evidence["nowcast"] = ev
        said = nowcasting.statement(ev)
        if said is not None:
            units[j].statement["nowcast"] = said
    names = areas["name"].to_list()
    rebounds = [u.rebound for u in units]
    below = _rebounds_below(rebounds, parent, levels)
    # The texts every area's evidence repeats (method names, rules, sources) are stored once:
    # read off the first areas of each level, where all of them occur.
    firsts: dict[int, list[Any]] = {}
    for u, lv in zip(units, levels, strict=True):
        if len(firsts.setdefault(lv, [])) < 20:
            firsts[lv].append(u.evidence)
    packer = evidence_texts.Packer(
        evidence_texts.long_texts(e for group in firsts.values() for e in group)
    )
    texts = phrases.in_stored_languages([u.statement for u in units])
    text_zh, text_en = texts["zh-hans"], texts["en"]
    date_text = cycle_date.isoformat()
    rows = []
    for i, u in enumerate(units):
        rebound = dict(u.rebound or {})
        if below[i]:
            first = min(
                str(rebounds[j].get("onset_date") or rebounds[j].get("first_date"))
                for j in below[i]
            )
            rebound["areas"] = [
                {"code": codes[j], "name": names[j], "from": rebounds[j].get("onset_date")}
                for j in below[i]
            ]
            rebound["detected"] = True
            risen = [names[j] for j in below[i]]
            with override("zh-hans"):
                text_zh[i] = phrases.appended(text_zh[i], phrases.rise_below(risen, first))
            with override("en"):
                text_en[i] = phrases.appended(text_en[i], phrases.rise_below(risen, first))
        rows.append(
            (
                u.code,
                indicator,
                date_text,
                u.level,
                u.phase,
                bool(rebound.get("detected")),
                bool(u.pooled),
                text_zh[i],
                text_en[i],
                packer.dumps(
                    u.evidence
                    | {
                        "rebound": rebound,
                        "sum7": u.sum7,
                        "prev7": u.prev7,
                        "change": u.change,
                        "per_100k": u.per_100k,
                    },
                    shared=SHARED_EVIDENCE,
                ),
            )
        )
        summary.by_phase[u.phase] = summary.by_phase.get(u.phase, 0) + 1
    packer.save()
    summary.rebounds += [
        codes[i]
        for i, r in enumerate(rebounds)
        if (r or {}).get("detected") and levels[i] == TOWNSHIP
    ]
    _add_seconds(summary, "store", began)
    return rows
