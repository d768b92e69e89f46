"""Synthetic regions: a county (or a province) with codes, names, people, key groups, facilities.

Everything is generated set-wise with numpy and polars from one seed. Codes follow the 12-digit
NBS layout under the synthetic province ``99`` (not used by NBS): digits 1–2 province, 3–4
prefecture, 5–6 county, 7–9 township (101… towns 镇, 201… townships 乡), 10–12 village (201…
villagers' committees). See ``docs/synthetic-data.md`` for the numbers and their sources.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt
import polars as pl

from ruralwatch.synth import names

__all__ = [
    "KEYGROUPS",
    "KEY_AREAS",
    "PROVINCE_CODE",
    "RURAL_65PLUS_SHARE",
    "Region",
    "build_region",
    "tier_shares",
]

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
Scale = Literal["county", "province"]

PROVINCE_CODE = "99"
PROVINCE_NAME = "守望省"
#: Share of the rural population aged 65+ in the 7th national census (2020).
RURAL_65PLUS_SHARE = 0.1772
KEY_AREAS = ("mountain", "pastoral", "forest", "island")
KEYGROUPS = ("age65", "living_alone", "nursing_home", "left_behind_child", "disabled", "pregnant")
TIERS = ("red", "yellow", "green")

# Assumed shares behind the tier scoring rule (DOMAIN.md): age 65–79 → 1 point, 80+ → 2;
# comorbidity none / stable / unstable → 0 / 1 / 2; vaccination complete / incomplete / none
# → 0 / 1 / 2; total 0–1 green, 2–3 yellow, 4–6 red.
SHARE_80PLUS = 0.19
COMORBIDITY = (0.35, 0.50, 0.15)
VACCINATION_65_79 = (0.60, 0.20, 0.20)
VACCINATION_80PLUS = (0.40, 0.20, 0.40)

COUNTY_POPULATION = 300_000
PROVINCE_PREFECTURES = 8
PROVINCE_COUNTIES_PER_PREFECTURE = 10


def tier_shares(age_points: int, vaccination: tuple[float, float, float]) -> FloatArray:
    """(red, yellow, green) shares for one age band under the published scoring rule."""
    score = np.zeros(7)
    for c, pc in enumerate(COMORBIDITY):
        for v, pv in enumerate(vaccination):
            score[age_points + c + v] += pc * pv
    return np.array([score[4:].sum(), score[2:4].sum(), score[:2].sum()])


@dataclass(frozen=True)
class Region:
    """A synthetic region as polars frames (see the module doc for the layout).

    Attributes:
        areas: code, name, level (1–5), parent_code, urban_rural, population, key_areas,
            population_65plus; sorted by level then code.
        keygroups: area_code (village), group, tier (age65 only), count.
        facilities: code, name, kind, area_code, capacity, pulse_oximeters,
            oxygen_concentrators.
        seed, scale: how it was built.
    """

    areas: pl.DataFrame
    keygroups: pl.DataFrame
    facilities: pl.DataFrame
    seed: int
    scale: Scale

    @property
    def villages(self) -> pl.DataFrame:
        """Level-5 rows in code order (the patch order of the epidemic)."""
        return self.areas.filter(pl.col("level") == 5).sort("code")

    @property
    def townships(self) -> pl.DataFrame:
        """Level-4 rows in code order."""
        return self.areas.filter(pl.col("level") == 4).sort("code")

    def village_groups(self) -> tuple[IntArray, IntArray]:
        """(township index, county index) of each village, indices into the sorted level rows."""
        v = self.villages
        tw = self.townships["code"].to_list()
        counties = self.areas.filter(pl.col("level") == 3).sort("code")["code"].to_list()
        tw_idx = pl.Series(tw).str.slice(0, 9).to_list()
        frame = v.select(
            pl.col("code").str.slice(0, 9).alias("t"), pl.col("code").str.slice(0, 6).alias("c")
        )
        t_map = pl.DataFrame({"t": tw_idx, "ti": np.arange(len(tw), dtype=np.int64)})
        c_map = pl.DataFrame(
            {
                "c": pl.Series(counties).str.slice(0, 6).to_list(),
                "ci": np.arange(len(counties), dtype=np.int64),
            }
        )
        joined = frame.join(t_map, on="t", how="left", maintain_order="left").join(
            c_map, on="c", how="left", maintain_order="left"
        )
        return (
            joined["ti"].to_numpy().astype(np.int64),
            joined["ci"].to_numpy().astype(np.int64),
        )


def _rank_within(group: IntArray, key: npt.NDArray[np.generic] | None = None) -> IntArray:
    """0-based rank of each element inside its group (by ``key``, then by position)."""
    n = group.size
    pos = np.arange(n)
    order = np.lexsort((pos, group)) if key is None else np.lexsort((pos, key, group))
    sorted_group = group[order]
    first = np.r_[0, np.flatnonzero(np.diff(sorted_group)) + 1]
    starts = np.repeat(first, np.diff(np.r_[first, n]))
    rank = np.empty(n, dtype=np.int64)
    rank[order] = pos - starts
    return rank


def _allocate(
    rng: np.random.Generator, totals: IntArray, parent: IntArray, minimum: int, spread: float
) -> IntArray:
    """Split ``totals[p]`` over the children of each parent p (at least ``minimum`` each)."""
    weights = rng.gamma(spread, 1.0, size=parent.size)
    wsum = np.bincount(parent, weights=weights)
    n_children = np.bincount(parent)
    free = totals - minimum * n_children
    if (free < 0).any():
        raise ValueError("too few units to give every child the minimum")
    raw = minimum + weights / wsum[parent] * free[parent]
    base = np.floor(raw).astype(np.int64)
    deficit = totals - np.bincount(parent, weights=base, minlength=totals.size).astype(np.int64)
    rank = _rank_within(parent, -(raw - base))
    out: IntArray = base + (rank < deficit[parent]).astype(np.int64)
    return out


def _codes(*parts: tuple[IntArray | int, int]) -> pl.Series:
    """12-digit codes from (value, multiplier) parts."""
    total: IntArray | int = 0
    for value, mult in parts:
        total = total + np.asarray(value, dtype=np.int64) * mult
    arr = np.asarray(total, dtype=np.int64)
    return pl.Series("code", arr).cast(pl.String)


def build_region(
    seed: int = 20230122,
    *,
    n_townships: int | None = None,
    n_villages: int | None = None,
    scale: Scale = "county",
    population: int | None = None,
) -> Region:
    """Build a synthetic county (default) or province.

    Args:
        seed: seed of the random generator; the same seed gives the same region.
        n_townships: townships per county (county: default 12–20; province: 13–17 each).
        n_villages: villages in total (county: default 200–400; province: default about
            20,400–21,200, spread over the counties in proportion to their townships).
        scale: ``"county"`` (one prefecture with one county) or ``"province"`` (8 prefectures
            × 10 counties).
        population: people per county (default about 300,000; a small county for quick
            tests of the whole demo, whose key-group registry grows with the population).
    """
    if scale not in ("county", "province"):
        raise ValueError(f"unknown scale {scale!r}")
    rng = np.random.default_rng(seed)

    # --- structure: prefectures › counties › townships › villages ----------------------------
    if scale == "county":
        n_pref, n_county = 1, 1
        tw_per_county = np.array(
            [n_townships if n_townships is not None else int(rng.integers(12, 21))]
        )
        v_total = n_villages if n_villages is not None else int(rng.integers(200, 401))
        v_per_county = np.array([v_total], dtype=np.int64)
    else:
        n_pref = PROVINCE_PREFECTURES
        n_county = n_pref * PROVINCE_COUNTIES_PER_PREFECTURE
        tw_per_county = (
            np.full(n_county, n_townships)
            if n_townships is not None
            else rng.integers(13, 18, size=n_county)
        )
        v_total = n_villages if n_villages is not None else 20_400 + int(rng.integers(0, 800))
        v_per_county = _allocate(
            rng,
            np.array([v_total], dtype=np.int64),
            np.zeros(n_county, dtype=np.int64),
            minimum=int(tw_per_county.max()) * 5,
            spread=float(tw_per_county.mean()) * 4,
        )
    tw_per_county = tw_per_county.astype(np.int64)
    if (v_per_county < 5 * tw_per_county).any():
        raise ValueError("need at least 5 villages per township")

    county_pref = np.repeat(np.arange(n_pref), n_county // n_pref).astype(np.int64)
    county_rank = _rank_within(county_pref)
    tw_county = np.repeat(np.arange(n_county), tw_per_county).astype(np.int64)
    tw_rank = _rank_within(tw_county)
    n_tw = tw_county.size
    v_per_tw = _allocate(rng, v_per_county, tw_county, minimum=5, spread=4.0)
    if v_per_tw.max() > 199:
        raise ValueError("more than 199 villages in a township do not fit the code layout")
    v_tw = np.repeat(np.arange(n_tw), v_per_tw).astype(np.int64)
    v_rank = _rank_within(v_tw)
    n_v = v_tw.size

    # --- townships: kind, key areas ------------------------------------------------------------
    county_seat_tw = tw_rank == 0
    is_town = county_seat_tw | (rng.random(n_tw) < 0.6)
    # A mountainous group: the last 2–4 townships of a county (always in a single county).
    has_mountain = (
        np.ones(n_county, dtype=bool) if scale == "county" else rng.random(n_county) < 0.5
    )
    block = rng.integers(2, 5, size=n_county)
    tw_from_end = tw_per_county[tw_county] - 1 - tw_rank
    mountain = has_mountain[tw_county] & (tw_from_end < block[tw_county]) & ~county_seat_tw
    forest = mountain & (rng.random(n_tw) < 0.4)
    pastoral = ~mountain & ~county_seat_tw & (rng.random(n_tw) < 0.05)
    island_tw = ~mountain & ~pastoral & ~county_seat_tw & (rng.random(n_tw) < 0.03)
    # Township numbers: towns 101…, townships 201… inside each county.
    kind_rank = _rank_within(tw_county * 2 + is_town.astype(np.int64))
    tw_num = np.where(is_town, 101, 201) + kind_rank

    # --- villages ------------------------------------------------------------------------------
    seat = v_rank == 0
    v_island = island_tw[v_tw] & (rng.random(n_v) < 0.35)
    v_mountain = mountain[v_tw]
    weight = rng.lognormal(0.0, 0.45, size=n_v)
    weight *= np.where(seat, 2.5, 1.0) * np.where(county_seat_tw[v_tw] & seat, 1.6, 1.0)
    weight *= np.where(v_mountain, 0.8, 1.0)
    v_county = tw_county[v_tw]
    target = np.clip(rng.normal(COUNTY_POPULATION, 15_000, size=n_county), 255_000, 345_000)
    if population is not None:
        target = np.full(n_county, float(population))
    elif scale == "province":
        target = target * v_per_county / 255.0  # keep the village size, not the county size
    county_w = np.bincount(v_county, weights=weight)
    pop = np.maximum(np.round(weight / county_w[v_county] * target[v_county]), 120).astype(np.int64)
    town_seat = seat & is_town[v_tw]
    u = rng.random(n_v)
    urban_rural = np.where(
        town_seat,
        np.where(u < 0.6, "121", "210"),
        np.where(seat, "210", np.where(is_town[v_tw] & (u < 0.06), "122", "220")),
    )
    share65 = np.full(n_v, RURAL_65PLUS_SHARE)
    share65 *= np.where(v_mountain, 1.15, 1.0) * np.where(seat, 0.8, 1.0)
    share65 /= np.average(share65, weights=pop) / RURAL_65PLUS_SHARE
    share65 = rng.beta(share65 * 150, (1 - share65) * 150)
    pop65 = rng.binomial(pop, share65).astype(np.int64)

    # --- codes and names -----------------------------------------------------------------------
    prov = int(PROVINCE_CODE)
    pref_codes = _codes((prov, 10**10), (np.arange(1, n_pref + 1), 10**8))
    county_codes = _codes((prov, 10**10), (county_pref + 1, 10**8), (county_rank + 1, 10**6))
    tw_codes = _codes(
        (prov, 10**10),
        (county_pref[tw_county] + 1, 10**8),
        (county_rank[tw_county] + 1, 10**6),
        (tw_num, 10**3),
    )
    v_codes = _codes(
        (prov, 10**10),
        (county_pref[v_county] + 1, 10**8),
        (county_rank[v_county] + 1, 10**6),
        (tw_num[v_tw], 10**3),
        (201 + v_rank, 1),
    )
    pref_names = names.prefecture_names(rng, n_pref)
    county_names = names.county_names(rng, county_pref, county_rank)
    tw_names = names.township_names(rng, tw_county, tw_rank, is_town)
    v_names = names.village_names(rng, v_tw, v_rank, rng.random(n_v) < 0.8)

    # --- populations up the tree -------------------------------------------------------------
    tw_pop = np.bincount(v_tw, weights=pop, minlength=n_tw).astype(np.int64)
    tw_pop65 = np.bincount(v_tw, weights=pop65, minlength=n_tw).astype(np.int64)
    c_pop = np.bincount(tw_county, weights=tw_pop, minlength=n_county).astype(np.int64)
    c_pop65 = np.bincount(tw_county, weights=tw_pop65, minlength=n_county).astype(np.int64)
    p_pop = np.bincount(county_pref, weights=c_pop, minlength=n_pref).astype(np.int64)
    p_pop65 = np.bincount(county_pref, weights=c_pop65, minlength=n_pref).astype(np.int64)

    def tags(m: BoolArray, f: BoolArray, p: BoolArray, i: BoolArray) -> pl.Series:
        flags = pl.DataFrame({"mountain": m, "pastoral": p, "forest": f, "island": i})
        return flags.select(
            pl.concat_str(
                [pl.when(pl.col(k)).then(pl.lit(k)) for k in KEY_AREAS],
                separator=",",
                ignore_nulls=True,
            ).alias("key_areas")
        ).to_series()

    def level_frame(
        code: pl.Series,
        name: pl.Series,
        level: int,
        parent: pl.Series | None,
        population: IntArray,
        pop_65: IntArray,
        key_areas: pl.Series | None = None,
        ur: npt.NDArray[np.str_] | None = None,
    ) -> pl.DataFrame:
        n = code.len()
        return pl.DataFrame(
            {
                "code": code,
                "name": name.alias("name"),
                "level": pl.Series([level] * n, dtype=pl.Int8),
                "parent_code": parent.alias("parent_code")
                if parent is not None
                else pl.Series([None] * n, dtype=pl.String),
                "urban_rural": pl.Series(ur.tolist(), dtype=pl.String)
                if ur is not None
                else pl.Series([None] * n, dtype=pl.String),
                "population": pl.Series(population, dtype=pl.Int64),
                "key_areas": key_areas.alias("key_areas")
                if key_areas is not None
                else pl.Series([""] * n, dtype=pl.String),
                "population_65plus": pl.Series(pop_65, dtype=pl.Int64),
            }
        )

    prov_code = _codes((np.array([prov]), 10**10))
    areas = pl.concat(
        [
            level_frame(
                prov_code,
                pl.Series([PROVINCE_NAME]),
                1,
                None,
                np.array([pop.sum()]),
                np.array([pop65.sum()]),
            ),
            level_frame(
                pref_codes,
                pref_names,
                2,
                pl.Series([prov_code[0]] * n_pref),
                p_pop,
                p_pop65,
            ),
            level_frame(
                county_codes, county_names, 3, pref_codes.gather(county_pref), c_pop, c_pop65
            ),
            level_frame(
                tw_codes,
                tw_names,
                4,
                county_codes.gather(tw_county),
                tw_pop,
                tw_pop65,
                tags(mountain, forest, pastoral, island_tw),
            ),
            level_frame(
                v_codes,
                v_names,
                5,
                tw_codes.gather(v_tw),
                pop,
                pop65,
                tags(v_mountain, forest[v_tw], pastoral[v_tw], v_island),
                urban_rural,
            ),
        ]
    ).sort("level", "code")

    # --- facilities ----------------------------------------------------------------------------
    remote = (mountain | forest | pastoral | island_tw)[v_tw] | v_island
    thc_short = rng.random(n_tw) < 0.12
    thc_ox = np.where(
        thc_short, rng.integers(6, 20, size=n_tw), 20 + rng.poisson(8, size=n_tw)
    ).astype(np.int64)
    u_conc = rng.random(n_tw)
    thc_conc = np.where(u_conc < 0.08, 0, np.where(u_conc < 0.85, 1, rng.integers(2, 4, n_tw)))
    thc_beds = (rng.integers(15, 61, size=n_tw) * np.where(county_seat_tw, 2, 1)).astype(np.int64)
    vc_short = rng.random(n_v) < np.where(remote, 0.2, 0.08)
    vc_ox = np.where(vc_short, rng.integers(0, 2, size=n_v), 2 + rng.poisson(1.2, size=n_v))
    vc_conc = (rng.random(n_v) < 0.05).astype(np.int64)
    has_nh = county_seat_tw | (rng.random(n_tw) < 0.45)
    nh_tw = np.flatnonzero(has_nh)
    nh_cap = rng.integers(30, 151, size=nh_tw.size).astype(np.int64)
    seat_village = np.flatnonzero(seat)  # one per township, in township order
    nh_village = seat_village[nh_tw]
    nh_res = np.minimum(
        rng.binomial(nh_cap, rng.uniform(0.5, 0.9, size=nh_tw.size)), pop65[nh_village]
    ).astype(np.int64)
    nh_ox = (1 + rng.poisson(3, size=nh_tw.size)).astype(np.int64)
    nh_conc = (rng.random(nh_tw.size) < 0.6).astype(np.int64)
    clinic_stem = v_names.str.replace("委会$", "")
    facilities = pl.concat(
        [
            pl.DataFrame(
                {
                    "code": "thc-" + tw_codes,
                    "name": tw_names + "卫生院",
                    "kind": pl.Series(["township_health_centre"] * n_tw),
                    "area_code": tw_codes,
                    "capacity": pl.Series(thc_beds, dtype=pl.Int64),
                    "pulse_oximeters": pl.Series(thc_ox, dtype=pl.Int64),
                    "oxygen_concentrators": pl.Series(thc_conc, dtype=pl.Int64),
                }
            ),
            pl.DataFrame(
                {
                    "code": "vc-" + v_codes,
                    "name": clinic_stem + "卫生室",
                    "kind": pl.Series(["village_clinic"] * n_v),
                    "area_code": v_codes,
                    "capacity": pl.Series([None] * n_v, dtype=pl.Int64),
                    "pulse_oximeters": pl.Series(vc_ox, dtype=pl.Int64),
                    "oxygen_concentrators": pl.Series(vc_conc, dtype=pl.Int64),
                }
            ),
            pl.DataFrame(
                {
                    "code": "nh-" + tw_codes.gather(nh_tw),
                    "name": tw_names.gather(nh_tw) + "敬老院",
                    "kind": pl.Series(["nursing_home"] * nh_tw.size),
                    "area_code": v_codes.gather(nh_village),
                    "capacity": pl.Series(nh_cap, dtype=pl.Int64),
                    "pulse_oximeters": pl.Series(nh_ox, dtype=pl.Int64),
                    "oxygen_concentrators": pl.Series(nh_conc, dtype=pl.Int64),
                }
            ),
        ]
    )

    # --- key groups ----------------------------------------------------------------------------
    tiers_young = tier_shares(1, VACCINATION_65_79)
    tiers_old = tier_shares(2, VACCINATION_80PLUS)
    s80 = rng.beta(SHARE_80PLUS * 60, (1 - SHARE_80PLUS) * 60, size=n_v)
    p_tier = s80[:, None] * tiers_old[None, :] + (1 - s80)[:, None] * tiers_young[None, :]
    tier_counts = rng.multinomial(pop65, p_tier)  # (V, 3) red, yellow, green
    alone = rng.binomial(pop65, rng.beta(12, 88, size=n_v) * np.where(v_mountain, 1.3, 1.0))
    nursing = np.zeros(n_v, dtype=np.int64)
    nursing[nh_village] = nh_res
    lbc = rng.binomial(pop, 0.012 * np.where(remote, 1.3, 1.0))
    disabled = rng.binomial(pop, 0.025)
    pregnant = rng.binomial(pop, 0.006)
    counts = np.column_stack([tier_counts, alone, nursing, lbc, disabled, pregnant]).astype(
        np.int64
    )  # (V, 8)
    groups = ["age65"] * 3 + list(KEYGROUPS[1:])
    tiers: list[str | None] = [*TIERS, None, None, None, None, None]
    n_g = len(groups)
    keygroups = pl.DataFrame(
        {
            "area_code": v_codes.gather(np.repeat(np.arange(n_v), n_g)),
            "group": pl.Series(groups * n_v, dtype=pl.String),
            "tier": pl.Series(tiers * n_v, dtype=pl.String),
            "count": pl.Series(counts.reshape(-1), dtype=pl.Int64),
        }
    ).sort("area_code", maintain_order=True)

    return Region(areas=areas, keygroups=keygroups, facilities=facilities, seed=seed, scale=scale)
