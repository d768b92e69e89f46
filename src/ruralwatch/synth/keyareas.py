"""Remote key-area villages for the demo: low counts all winter, then a late first case or rise.

In early 2023 the key areas (三区一岛) still had little infection while the rest of the
countryside had been through the wave (DOMAIN.md). The simulated epidemic reaches every
village, so this module rewrites the reports of one remote key-area township after the fact:

- the township is the tagged (key-area) township with the fewest villages (at least 3; ties
  by code), preferring island, pastoral and forest over mountain townships; all its villages
  become key-area villages (tagged with the township's tags);
- every village reports no cases (fever visits at the background rate only) from the start;
- near the end, two villages rise (a first case ``RISE_START_DAYS`` before the end, then the
  fixed pattern ``RISE_PATTERN`` over the last week) and one has a single first case the day
  before the end; the other villages stay at zero;
- reports that were missing stay missing (a missing report is not a zero); injected errors
  (×10, copied days, cases above positives) on the rewritten villages are dropped from the
  truth, as their values are no longer what the truth describes.

The ground truth lists each rewritten village with the status the key-area watch should give
on the last day (``key_area_expected``), so tests score the watch against it.
Framework-free: polars and numpy only.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from typing import Any

import numpy as np
import polars as pl

from ruralwatch.synth import truth as truth_kinds

__all__ = [
    "KEY_AREA_EXPECTED",
    "MIN_DAYS",
    "RISE_PATTERN",
    "RISE_START_DAYS",
    "remote_key_areas",
]

KEY_AREA_EXPECTED = "key_area_expected"
#: New cases over the last seven days of a rising village (oldest first).
RISE_PATTERN = (0, 1, 1, 0, 2, 1, 2)
#: Days before the end of a rising village's first case.
RISE_START_DAYS = 10
#: Days a demo needs for the rewrite (the baseline and the quiet days before the rise);
#: shorter demos are left as they are.
MIN_DAYS = 42
#: Tag preference for the remote township: the rarest kinds of area first.
PREFERENCE = ("island", "pastoral", "forest", "mountain")
CASE_INDICATORS = ("antigen_pos", "pcr_pos", "new_cases", "severe_cases", "deaths", "referrals_up")


def _choose_township(areas: pl.DataFrame) -> tuple[str, str, list[str]]:
    """(code, tags, village codes) of the remote township."""
    towns = areas.filter((pl.col("level") == 4) & (pl.col("key_areas") != ""))
    villages = areas.filter(pl.col("level") == 5)
    best: tuple[int, int, str] | None = None
    chosen: tuple[str, str, list[str]] | None = None
    for code, tags in towns.select("code", "key_areas").iter_rows():
        kids = villages.filter(pl.col("parent_code") == code)["code"].sort().to_list()
        if len(kids) < 3:
            continue
        rank = min(PREFERENCE.index(t) for t in tags.split(",") if t in PREFERENCE)
        key = (rank, len(kids), code)
        if best is None or key < best:
            best, chosen = key, (code, tags, kids)
    if chosen is None:
        raise ValueError("no key-area township with at least 3 villages")
    return chosen


def _roles(values: pl.DataFrame, kids: list[str], start: date, end: date) -> dict[str, str]:
    """Two rising villages and one first case among villages that reported on every day their
    role needs (what is not reported is not seen), the most regular reporters first."""
    present = (
        values.filter(pl.col("area_code").is_in(kids))
        .select("area_code", "date")
        .unique()
        .group_by("area_code")
        .agg(pl.col("date"))
    )
    days = {a: set(d) for a, d in present.iter_rows()}

    def has(code: str, first: date) -> bool:
        need = {first + timedelta(days=i) for i in range((end - first).days + 1)}
        return need <= days.get(code, set())

    ranked = sorted(kids, key=lambda c: (-len(days.get(c, ())), c))
    roles: dict[str, str] = {}
    for code in ranked:
        n_rising = sum(1 for r in roles.values() if r == "rising")
        if n_rising < 2 and has(code, end - timedelta(days=RISE_START_DAYS - 1)):
            roles[code] = "rising"
        elif "first_case" not in roles.values() and has(code, end - timedelta(days=1)):
            roles[code] = "first_case"
    if len(roles) < 3:
        raise ValueError("too few regular reporters in the remote township")
    return roles


def _pattern(n_days: int, role: str) -> np.ndarray:
    cases = np.zeros(n_days, dtype=np.int64)
    if role == "rising":
        cases[n_days - RISE_START_DAYS] = 1
        cases[n_days - len(RISE_PATTERN) :] = RISE_PATTERN
    elif role == "first_case":
        cases[n_days - 2] = 1
    return cases


def remote_key_areas(
    demo: Any, *, start: date, end: date, seed: int
) -> tuple[Any, list[dict[str, Any]]]:
    """A copy of ``demo`` (a :class:`ruralwatch.synth.Demo`) with one remote key-area
    township rewritten as the module says, and the truth entries of the rewritten villages
    (``demo`` itself and no entries for a demo shorter than :data:`MIN_DAYS`)."""
    region, reports = demo.region, demo.reports
    n_days = (end - start).days + 1
    if n_days < MIN_DAYS:
        return demo, []  # too short for a quiet period before the late rise
    town, tags, kids = _choose_township(region.areas)
    roles = _roles(reports.values, kids, start, end)
    rng = np.random.default_rng([seed, 14])
    pops = dict(
        region.areas.filter(pl.col("code").is_in(kids)).select("code", "population").iter_rows()
    )
    frames = []
    for code in kids:
        cases = _pattern(n_days, roles.get(code, "low"))
        background = rng.poisson(pops[code] * 0.4 / 1000, size=n_days)
        dates = [start + timedelta(days=i) for i in range(n_days)]
        frames.append(
            pl.DataFrame(
                {
                    "area_code": [code] * n_days,
                    "date": dates,
                    "new_cases": cases,
                    "antigen_pos": cases,
                    "fever_visits": cases + background,
                }
            )
        )
    rewritten = pl.concat(frames)
    values = reports.values
    values = values.join(
        rewritten.unpivot(
            index=["area_code", "date"], variable_name="indicator", value_name="new_value"
        ),
        on=["area_code", "date", "indicator"],
        how="left",
        maintain_order="left",
    ).with_columns(
        pl.when(pl.col("area_code").is_in(kids) & pl.col("indicator").is_in(CASE_INDICATORS))
        .then(pl.coalesce(pl.col("new_value"), pl.lit(0)))
        .when(pl.col("new_value").is_not_null())
        .then(pl.col("new_value"))
        .otherwise(pl.col("value"))
        .cast(values.schema["value"])
        .alias("value")
    )
    values = values.drop("new_value")
    rewritten_indicators = {*CASE_INDICATORS, "fever_visits"}
    kept = [
        t
        for t in reports.truth
        if not (
            t.get("kind") in truth_kinds.ERROR_KINDS
            and t.get("area") in set(kids)
            and t.get("indicator", "new_cases") in rewritten_indicators
        )
    ]
    epi = reports.epidemic_truth.join(
        rewritten.select("area_code", "date", pl.col("new_cases").alias("cases")),
        on=["area_code", "date"],
        how="left",
        maintain_order="left",
    )
    epi = epi.with_columns(
        [
            pl.when(pl.col("cases").is_not_null())
            .then(pl.col("cases"))
            .otherwise(pl.col(c))
            .cast(epi.schema[c])
            .alias(c)
            for c in ("infections", "symptomatic")
        ]
    ).drop("cases")
    new_reports = replace(reports, values=values, truth=kept, epidemic_truth=epi)
    areas = region.areas.with_columns(
        pl.when(pl.col("code").is_in(kids))
        .then(pl.lit(tags))
        .otherwise(pl.col("key_areas"))
        .alias("key_areas")
    )
    new_region = replace(region, areas=areas)
    truth = []
    for code in kids:
        role = roles.get(code, "low")
        first = None
        if role == "rising":
            first = end - timedelta(days=RISE_START_DAYS - 1)
        elif role == "first_case":
            first = end - timedelta(days=1)
        truth.append(
            {
                "kind": KEY_AREA_EXPECTED,
                "id": truth_kinds.truth_id(KEY_AREA_EXPECTED, code, end.isoformat()),
                "area": code,
                "township": town,
                "date": end.isoformat(),
                "status": role,
                "first_case": first.isoformat() if first else None,
                "tags": tags,
            }
        )
    return replace(demo, region=new_region, reports=new_reports), truth
