"""Synthetic village reports on the real 2016 division tree, from one county up to the nation.

The synthetic region of :mod:`ruralwatch.synth.region` invents its own tree (one county or one
province under code 99). National scale needs the real one: 666,655 villages and residents'
committees under 34 provincial units (``../shared/data/admin``). This module cuts that tree to a
scale, gives every village a synthetic population and draws each day's eight form indicators
for every village, one day at a time, so that a year of the nation never sits in memory.

Scales (``SCALES``): ``county`` 宜阳县 (410327, 362 villages), ``province`` 河南省 (41, 50,757),
``provinces4`` 河南, 湖北, 湖南 and 江西 (41, 42, 43, 36), ``nation`` the whole tree. Any one
province is also a scale by its two-digit code, ``province:NN`` (``province:64`` 宁夏, 2,884
villages: the benchmark of a year of history uses a small province, where 365 days fit).

The epidemic is a wave per province: per-capita daily fever visits follow a Gaussian-shaped
curve in time (peak day and width drawn per province, peak 0.3–0.5 % of the population a
day) over a small floor, times a log-normal multiplier per village. Counts are Poisson, and
each later indicator a binomial thinning of an earlier one, so that after the peak most
villages report zeros most days, as real village reports do. About 2 % of village-days are
not reported. Everything follows from ``seed`` and the day's index: a day can be drawn again
without drawing the days before it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import numpy.typing as npt
import polars as pl

from ruralwatch.synth.reports import INDICATORS

__all__ = ["SCALES", "NationalScale", "Tree", "day_values", "load_tree", "scale_prefixes"]

#: The named scales; ``province:NN`` (one province by its code) is a scale too, see
#: :func:`scale_prefixes`.
NationalScale = Literal["county", "province", "provinces4", "nation"]
#: Code prefixes of each scale (empty: the whole tree).
SCALES: dict[str, tuple[str, ...]] = {
    "county": ("410327",),
    "province": ("41",),
    "provinces4": ("41", "42", "43", "36"),
    "nation": (),
}
#: Median population of a rural village (村委会) and of an urban residents' committee (居委会).
#: China's 2020 census counts about 510 million rural residents in about 490,000 villages, and
#: urban committees are larger; the spread is assumed.
RURAL_MEDIAN, URBAN_MEDIAN, POP_LOG_SD = 1_000, 2_500, 0.6
SHARE_65PLUS = 0.177  # rural share aged 65+ in the 2020 census
P_MISSING = 0.02
FLOOR_RATE = 2e-5  # fever visits per person and day between waves

IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class Tree:
    """The cut tree (``areas``: code, name, level, parent_code, urban_rural, population,
    population_65plus; parents before children) and its villages' arrays for drawing days."""

    areas: pl.DataFrame
    village_codes: pl.Series
    population: IntArray
    province: IntArray  # index of each village's province in ``provinces``
    provinces: list[str]
    multiplier: npt.NDArray[np.float64]
    peak_day: npt.NDArray[np.float64]  # per province, in days from the first day
    width: npt.NDArray[np.float64]
    height: npt.NDArray[np.float64]
    seed: int


def scale_prefixes(scale: str) -> tuple[str, ...]:
    """The code prefixes of ``scale``: a named scale of ``SCALES`` or ``province:NN``."""
    if scale in SCALES:
        return SCALES[scale]
    kind, _, code = scale.partition(":")
    if kind == "province" and len(code) == 2 and code.isdigit() and code != "00":
        return (code,)
    raise ValueError(f"unknown scale {scale!r}: one of {', '.join(SCALES)} or province:NN")


def load_tree(path: str | Path, scale: NationalScale | str, *, seed: int = 20230122) -> Tree:
    """The real tree of ``scale`` (a named scale or ``province:NN``) with synthetic populations
    (villages drawn, parents summed)."""
    prefixes = scale_prefixes(scale)
    frame = pl.read_csv(
        path,
        columns=["code", "name", "level", "parent_code", "urban_rural"],
        schema_overrides={"code": pl.String, "parent_code": pl.String, "urban_rural": pl.String},
    )
    if prefixes:
        keep = pl.any_horizontal(pl.col("code").str.starts_with(p) for p in prefixes)
        # The ancestors of a county cut (its prefecture and province) come along.
        ancestors = pl.any_horizontal(
            pl.lit(p).str.starts_with(pl.col("code").str.strip_chars_end("0")) for p in prefixes
        )
        frame = frame.filter(keep | ancestors)
    frame = frame.sort("level", "code")
    if prefixes and frame.filter(pl.col("level") == 5).is_empty():
        raise ValueError(f"scale {scale!r} has no villages in {path}")
    rng = np.random.default_rng([seed, 7])
    villages = frame.filter(pl.col("level") == 5)
    urban = villages["urban_rural"].fill_null("220").str.starts_with("1").to_numpy()
    median = np.where(urban, URBAN_MEDIAN, RURAL_MEDIAN)
    pop = np.maximum(np.round(median * rng.lognormal(0.0, POP_LOG_SD, villages.height)), 50).astype(
        np.int64
    )
    village_pop = pl.DataFrame({"code": villages["code"], "population": pop})
    # Parents' populations: each village adds to its four ancestors (code prefixes).
    sums = []
    for digits in (2, 4, 6, 9):
        pad = "0" * (12 - digits)
        sums.append(
            village_pop.group_by(pl.col("code").str.slice(0, digits) + pl.lit(pad)).agg(
                pl.col("population").sum()
            )
        )
    population = pl.concat([village_pop, *sums])
    areas = frame.join(population, on="code", how="left").with_columns(
        pl.col("population").fill_null(0),
        (pl.col("population").fill_null(0) * SHARE_65PLUS)
        .round()
        .cast(pl.Int64)
        .alias("population_65plus"),
    )
    codes = villages["code"]
    provinces = sorted(codes.str.slice(0, 2).unique().to_list())
    province = codes.str.slice(0, 2).replace_strict(
        {p: i for i, p in enumerate(provinces)}, return_dtype=pl.Int64
    )
    n = len(provinces)
    return Tree(
        areas=areas,
        village_codes=codes,
        population=pop,
        province=province.to_numpy(),
        provinces=provinces,
        multiplier=rng.lognormal(-0.5 * 0.7**2, 0.7, villages.height),
        peak_day=rng.uniform(-10.0, 25.0, n),
        width=rng.uniform(8.0, 16.0, n),
        height=rng.uniform(0.003, 0.005, n),
        seed=seed,
    )


def day_values(tree: Tree, day: int) -> tuple[npt.NDArray[np.bool_], dict[str, IntArray]]:
    """Day ``day``'s reports (0 = the first day): which villages reported, and the eight
    indicators' counts for every village (zero where not reported)."""
    rng = np.random.default_rng([tree.seed, 11, day])
    z = (day - tree.peak_day) / tree.width
    rate = tree.height * np.exp(-0.5 * z * z) + FLOOR_RATE
    lam = tree.population * rate[tree.province] * tree.multiplier * 0.25
    reported = rng.random(lam.size) >= P_MISSING
    fever = rng.poisson(lam)
    antigen = rng.binomial(fever, 0.5)
    pcr = rng.binomial(fever - antigen, 0.1)
    cases = antigen + pcr
    severe = rng.binomial(cases, 0.02)
    deaths = rng.binomial(severe, 0.05)
    referrals = rng.binomial(severe, 0.6) + rng.binomial(cases - severe, 0.005)
    contacts = rng.poisson(tree.population * 0.004)
    values = dict(
        zip(
            INDICATORS,
            (fever, antigen, pcr, cases, severe, deaths, referrals, contacts),
            strict=True,
        )
    )
    return reported, {k: np.where(reported, v, 0).astype(np.int64) for k, v in values.items()}
