"""The judgement panels whose sentences were recorded before the phrasing moved from ``epi`` to
the assessments app (``data/sentences.json``): the demo's two scenarios, a rising series and
seeded random panels around the 2023 Spring Festival that reach every branch of the sentence
(rebound found, above the projection, no new peak, no event, pooled, missing numbers)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta

import numpy as np
import polars as pl

from ruralwatch.epi.assess.judgement import JudgementSet, judge
from ruralwatch.synth import build_demo

COUNTY = "990101000000"


def demo(scenario: str) -> JudgementSet:
    built = build_demo(scenario=scenario)
    areas = built.region.areas
    towns = areas.filter(pl.col("level") == 4).sort("code")
    v = (
        built.reports.values.filter(pl.col("indicator") == "new_cases")
        .with_columns((pl.col("area_code").str.slice(0, 9) + "000").alias("town"))
        .group_by("town", "date")
        .agg(pl.col("value").sum())
    )
    days = pl.DataFrame({"date": pl.date_range(v["date"].min(), v["date"].max(), eager=True)})
    wide = days.join(v.pivot(on="town", index="date", values="value"), on="date", how="left")
    codes = towns["code"].to_list()
    m = wide.select(codes).to_numpy().astype(float)
    counts = np.column_stack([m, np.nansum(m, axis=1)])
    all_codes = [*codes, COUNTY]
    info = dict(
        zip(areas["code"], zip(areas["name"], areas["population"], strict=True), strict=True)
    )
    names = [info[c][0] for c in all_codes]
    pop = [info[c][1] for c in all_codes]
    parent = [len(codes)] * len(codes) + [-1]
    return judge(
        counts, wide["date"].to_numpy(), pop, names, parent, codes=all_codes, as_of=date(2023, 2, 5)
    )


def rising() -> JudgementSet:
    t = np.arange(70, dtype=float)
    y = np.column_stack([20.0 * np.exp(0.08 * t)])
    dates = np.arange(np.datetime64("2023-03-01"), np.datetime64("2023-03-01") + 70)
    return judge(y, dates, [1e6], ["甲县"], events=())


def random_panel(seed: int, as_of: date, people: int = 1) -> JudgementSet:
    """Twelve units under one root: declining, rising after the festival, flat, tiny, gappy."""
    rng = np.random.default_rng(seed)
    start = date(2022, 11, 15)
    T = (as_of - start).days + 1
    t = np.arange(T, dtype=float)
    festival = (date(2023, 1, 21) - start).days
    cols = []
    for u in range(11):
        base = rng.uniform(0.5, 400.0) * np.exp(rng.uniform(-0.06, 0.02) * t)
        if u % 4 == 1:  # a rise after the festival
            base = base + np.where(
                t > festival + 4, rng.uniform(5, 60) * np.exp(0.12 * (t - festival - 4)), 0.0
            )
        if u % 5 == 3:
            base = base * 0.02  # tiny: pooled
        y = rng.poisson(base).astype(float)
        if u % 6 == 5:
            y[rng.random(T) < 0.3] = np.nan  # missing reports
        if u == 7:
            y[:] = 0.0
        cols.append(y)
    m = np.column_stack(cols)
    counts = np.column_stack([m, np.nansum(m, axis=1)])
    names = [f"乡{u}" for u in range(11)] + ["县"]
    codes = [f"U{u:02d}" for u in range(11)] + ["ROOT"]
    parent = [11] * 11 + [-1]
    pop = [int(rng.integers(2_000, 60_000)) * people for _ in range(11)] + [300_000 * people]
    dates = np.datetime64(start) + np.arange(T)
    return judge(counts, dates, pop, names, parent, codes=codes, as_of=as_of)


def cases() -> Iterator[tuple[str, JudgementSet]]:
    yield "baseline", demo("baseline")
    yield "rebound", demo("rebound")
    yield "rising", rising()
    for seed in (1, 2, 3):
        for offset in (10, 18, 26, 60):
            as_of = date(2023, 1, 21) + timedelta(days=offset)
            yield f"random-{seed}-{as_of.isoformat()}", random_panel(seed, as_of)
    # Many more people: incidences below the epidemic threshold.
    yield "sparse", random_panel(4, date(2023, 2, 8), people=2_000)


def unit_key(case: str, code: str) -> str:
    return f"{case}/{code}"
