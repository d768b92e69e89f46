"""Judge every area of a subtree for a cycle date and store the judgements with evidence."""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl
from django.db import transaction
from django.utils.translation import override

from ruralwatch.assessments import evidence_texts, nowcasting, phrases
from ruralwatch.assessments.models import Judgement
from ruralwatch.assessments.selectors import subtree_series
from ruralwatch.core import bulk
from ruralwatch.epi.assess import judge
from ruralwatch.epi.panel import Panel

TOWNSHIP = 4


def _rebounds_below(
    dicts: list[dict[str, Any]], parent: np.ndarray, levels: list[int]
) -> list[list[int]]:
    """For every area, the townships under it whose own rebound test fired."""
    below: list[list[int]] = [[] for _ in dicts]
    for j, d in enumerate(dicts):
        if levels[j] != TOWNSHIP or not (d.get("rebound") or {}).get("detected"):
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

    One panel holds every area of the subtree (villages from reported values, the other
    levels from roll-ups), so small village series are judged on their parents' series by the
    pooling rule of :func:`ruralwatch.epi.assess.judge`.

    With ``nowcast`` (the default) the last days of the areas of levels 1–4 carry the cases
    still to come in late reports (:mod:`ruralwatch.assessments.nowcasting`), and the evidence
    and sentence say so.
    """
    began = time.perf_counter()
    start = cycle_date - dt.timedelta(days=history_days)
    areas, values = subtree_series(root_path, indicator, start, cycle_date)
    summary = AssessmentSummary(cycle_date.isoformat())
    areas = _with_population(areas)
    if areas.is_empty():
        return summary
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
    summary.seconds["read"] = round(time.perf_counter() - began, 3)
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
        summary.seconds["nowcast"] = round(time.perf_counter() - began, 3)
        summary.nowcast_added = {codes[j]: round(v, 1) for j, v in late.added.items()}
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
    summary.seconds["judge"] = round(time.perf_counter() - began, 3)
    began = time.perf_counter()
    dicts = [unit.to_dict() for unit in result.units]
    for j, ev in late.evidence.items():
        dicts[j]["evidence"]["nowcast"] = ev
        said = nowcasting.statement(ev)
        if said is not None:
            dicts[j]["statement"]["nowcast"] = said
    names = areas["name"].to_list()
    below = _rebounds_below(dicts, parent, levels)
    # The texts every area's evidence repeats (method names, rules, sources) are stored once:
    # read off the first areas of each level, where all of them occur.
    firsts: dict[int, list[Any]] = {}
    for d, lv in zip(dicts, levels, strict=True):
        if len(firsts.setdefault(lv, [])) < 20:
            firsts[lv].append(d["evidence"])
    packer = evidence_texts.Packer(
        evidence_texts.long_texts(e for group in firsts.values() for e in group)
    )
    texts = phrases.in_stored_languages([d["statement"] for d in dicts])
    text_zh, text_en = texts["zh-hans"], texts["en"]
    rows = []
    for i, d in enumerate(dicts):
        rebound = dict(d.get("rebound") or {})
        if below[i]:
            first = min(
                str(dicts[j]["rebound"].get("onset_date") or dicts[j]["rebound"].get("first_date"))
                for j in below[i]
            )
            rebound["areas"] = [
                {"code": codes[j], "name": names[j], "from": dicts[j]["rebound"].get("onset_date")}
                for j in below[i]
            ]
            rebound["detected"] = True
            risen = [names[j] for j in below[i]]
            with override("zh-hans"):
                text_zh[i] = phrases.appended(text_zh[i], phrases.rise_below(risen, first))
            with override("en"):
                text_en[i] = phrases.appended(text_en[i], phrases.rise_below(risen, first))
        d["rebound"] = rebound
        rows.append(
            (
                d["code"],
                indicator,
                cycle_date.isoformat(),
                d["level"],
                d["phase"],
                bool(rebound.get("detected")),
                bool(d.get("pooled")),
                text_zh[i],
                text_en[i],
                packer.dumps(
                    d["evidence"]
                    | {
                        "rebound": rebound,
                        "sum7": d.get("sum7"),
                        "prev7": d.get("prev7"),
                        "change": d.get("change"),
                        "per_100k": d.get("per_100k"),
                    }
                ),
            )
        )
        summary.by_phase[d["phase"]] = summary.by_phase.get(d["phase"], 0) + 1
    summary.areas = len(rows)
    summary.rebounds = [
        codes[i]
        for i, d in enumerate(dicts)
        if (d["rebound"] or {}).get("detected") and levels[i] == TOWNSHIP
    ]
    table = Judgement._meta.db_table
    cols = [
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
    ]
    with transaction.atomic():
        old = Judgement.objects.filter(date=cycle_date, indicator_id=indicator)
        if root_path != "/":
            old = old.filter(area__path__startswith=root_path)
        old.delete()
        bulk.insert_rows(table, cols, rows)
    summary.seconds["store"] = round(time.perf_counter() - began, 3)
    return summary
