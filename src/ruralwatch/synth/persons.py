"""Synthetic key-group persons, their doctors and cadres, contacts, referrals and the truth.

Framework-free and vectorised (numpy, polars): a province of ten million persons is built
without a loop over persons. From ``region.keygroups`` (per-village counts by group and tier)::

    people = build_persons(region, seed)
    people.persons        # one row per registered person (plaintext; the loader encrypts)
    people.memberships    # ref, group
    people.responsible    # doctors and pairing cadres per village
    people.contacts       # contact history, DEFAULT_START … on, with gaps
    people.referrals      # referrals after a positive test or a low SpO₂
    people.expected       # expected counts from outside sources (nursing homes, schools)
    people.truth          # every problem an audit on ``on`` must find

Synthetic ID numbers start with the region code of the synthetic province ``99`` (not used
by any real ID), carry the birth date, a sequence whose parity is the sex, and the GB
11643-1999 check character. Phones start with ``100``, which no mobile number does.

Truth kinds (see :data:`PERSON_TRUTH_KINDS`) and ids ``kind:area:date:person-or-group``:

- ``no_responsible_doctor`` / ``no_pairing_cadre``: an active person without one.
- ``contact_overdue``: the last contact is older than the tier's interval on ``on`` (gaps
  injected on purpose plus ordinary missed slots; ``injected`` says which).
- ``duplicate_person``: the same ID number active in two villages (both rows are listed).
- ``stale_deceased`` / ``stale_moved``: the last contact says died / moved away but the
  registry still lists the person as active.
- ``unregistered_expected``: a village registers fewer people of a group than expected
  (65+ from the census, nursing-home residents, left-behind children on school rosters).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl

from ruralwatch.synth.region import (
    COMORBIDITY,
    SHARE_80PLUS,
    VACCINATION_65_79,
    VACCINATION_80PLUS,
    Region,
    _rank_within,
)

__all__ = [
    "DEFAULT_ON",
    "DEFAULT_START",
    "PERSON_TRUTH_KINDS",
    "Persons",
    "build_persons",
    "check_char",
    "tier_from_score",
]

IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

DEFAULT_START = date(2022, 12, 1)
DEFAULT_ON = date(2023, 2, 5)
#: Re-survey after the Spring Festival: people found in it are registered in this window.
RESURVEY_START = date(2023, 1, 28)

NO_DOCTOR = "no_responsible_doctor"
NO_CADRE = "no_pairing_cadre"
OVERDUE = "contact_overdue"
DUPLICATE = "duplicate_person"
STALE_MOVED = "stale_moved"
STALE_DECEASED = "stale_deceased"
UNREGISTERED = "unregistered_expected"
PERSON_TRUTH_KINDS = (
    NO_DOCTOR,
    NO_CADRE,
    OVERDUE,
    DUPLICATE,
    STALE_MOVED,
    STALE_DECEASED,
    UNREGISTERED,
)

# Published scoring rule (DOMAIN.md); the database applies the active rule set, which by
# default is the same.
INTERVAL_DAYS = {"red": 1, "yellow": 3, "green": 7}
TIER_NAMES = np.array(["red", "yellow", "green"])
_INTERVALS = np.array([1, 3, 7], dtype=np.int64)

_SURNAMES = (
    "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗梁宋郑谢韩唐冯于董萧程曹袁邓许傅沈曾彭吕苏卢蒋蔡贾丁魏薛叶阎"
    "余潘杜戴夏钟汪田任姜范方石姚谭廖邹熊金陆郝孔白崔康毛邱秦江史顾侯邵孟龙万段雷钱汤尹黎易常武乔贺赖龚文"
)
_GIVEN_M = "国建明华军平志伟林强永海春立金德成福庆生文山兴有学宝荣富贵忠"
_GIVEN_F = "秀英兰桂芳玉珍凤华丽淑琴翠梅红云霞莲春燕荣美娟彩爱菊花银金"
_GIVEN_CHILD = "子涵宇轩浩然梓欣怡雨萱晨阳俊杰思佳嘉诗语博文一诺可馨若曦"
_WEIGHTS = np.array([7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2], dtype=np.int64)
_CHECK = np.array(list("10X98765432"))


@dataclass(frozen=True)
class Persons:
    """Synthetic registry content and the ground truth of its problems (module doc)."""

    persons: pl.DataFrame
    memberships: pl.DataFrame
    responsible: pl.DataFrame
    contacts: pl.DataFrame
    referrals: pl.DataFrame
    expected: pl.DataFrame
    truth: list[dict[str, Any]]
    on: date
    start: date
    params: dict[str, Any] = field(default_factory=dict)


def check_char(first17: npt.NDArray[np.int64]) -> npt.NDArray[np.str_]:
    """GB 11643-1999 check characters for an (N, 17) array of digits."""
    out: npt.NDArray[np.str_] = _CHECK[(first17 @ _WEIGHTS) % 11]
    return out


def tier_from_score(score: IntArray, yellow_from: int = 2, red_from: int = 4) -> IntArray:
    """0 red, 1 yellow, 2 green."""
    return np.where(score >= red_from, 0, np.where(score >= yellow_from, 1, 2)).astype(np.int64)


def _pick(rng: np.random.Generator, pool: str, n: int) -> npt.NDArray[np.str_]:
    return np.array(list(pool))[rng.integers(0, len(pool), size=n)]


def _names(rng: np.random.Generator, male: BoolArray, child: BoolArray) -> pl.Series:
    n = male.size
    sur = _pick(rng, _SURNAMES, n)
    g1 = np.where(male, _pick(rng, _GIVEN_M, n), _pick(rng, _GIVEN_F, n))
    g1 = np.where(child, _pick(rng, _GIVEN_CHILD, n), g1)
    g2 = np.where(
        child,
        _pick(rng, _GIVEN_CHILD, n),
        np.where(male, _pick(rng, _GIVEN_M, n), _pick(rng, _GIVEN_F, n)),
    )
    two = rng.random(n) < 0.7
    return pl.Series("name", np.char.add(np.char.add(sur, g1), np.where(two, g2, "")).tolist())


def _phones(rng: np.random.Generator, n: int) -> pl.Series:
    digits = rng.integers(0, 100_000_000, size=n)
    return ("100" + pl.Series("phone", digits).cast(pl.String).str.zfill(8)).alias("phone")


def _days_between(a: date, b: date) -> int:
    return (b - a).days


def _birth_dates(rng: np.random.Generator, age: IntArray, on: date) -> npt.NDArray[Any]:
    """Birth dates giving exactly ``age`` whole years on ``on`` (as datetime64[D])."""
    on_d = np.datetime64(on, "D")
    anniv_year = on.year - age
    # The age-th birthday is on or before ``on``; the next one is after it.
    anniv = (anniv_year - 1970).astype("datetime64[Y]").astype("datetime64[D]") + (
        on_d - np.datetime64(f"{on.year}-01-01", "D")
    )
    back = rng.integers(1, 364, size=age.size)
    out: npt.NDArray[Any] = anniv - back.astype("timedelta64[D]")
    return out


def _ids(
    rng: np.random.Generator,
    county6: npt.NDArray[np.int64],
    birth: npt.NDArray[Any],
    male: BoolArray,
) -> pl.Series:
    ymd_int = _ymd_int(birth)
    key = (county6 * 100_000_000 + ymd_int) * 2 + male.astype(np.int64)
    rank = _rank_within(_dense(key))
    if rank.size and int(rank.max()) > 499:
        raise ValueError("too many people born on one day in one county for 3-digit sequences")
    seq = rank * 2 + male.astype(np.int64)  # odd for men, even for women
    first17 = county6 * 10**11 + ymd_int * 10**3 + seq
    digits = (first17[:, None] // (10 ** np.arange(16, -1, -1, dtype=np.int64))) % 10
    check = check_char(digits)
    return pl.Series("id_number", first17).cast(pl.String) + pl.Series(check.tolist())


def _ymd_int(birth: npt.NDArray[Any]) -> IntArray:
    y = birth.astype("datetime64[Y]").astype(np.int64) + 1970
    m = birth.astype("datetime64[M]").astype(np.int64) % 12 + 1
    d = (birth - birth.astype("datetime64[M]")).astype(np.int64) + 1
    out: IntArray = (y * 10000 + m * 100 + d).astype(np.int64)
    return out


def _null_where(mask: BoolArray, values: pl.Series) -> pl.Series:
    """``values`` with nulls where ``mask`` holds."""
    return values.clone().scatter(np.flatnonzero(mask), None)


def _dense(key: IntArray) -> IntArray:
    _, inv = np.unique(key, return_inverse=True)
    return inv.astype(np.int64)


def _subset(rng: np.random.Generator, mask: BoolArray, share: float) -> BoolArray:
    """A random subset (about ``share``) of the ``True`` positions of ``mask``."""
    return mask & (rng.random(mask.size) < share)


def build_persons(
    region: Region,
    seed: int = 20230122,
    *,
    on: date = DEFAULT_ON,
    start: date = DEFAULT_START,
    within: str | None = None,
    contacts: bool = True,
    rates: dict[str, float] | None = None,
) -> Persons:
    """Generate the key-group registry of ``region`` (or of the subtree ``within``).

    Args:
        seed: random seed (the same seed gives the same persons).
        on: the audit date; contacts run from ``start`` to ``on``.
        within: an area code; only its villages get persons (fast tests).
        contacts: ``False`` skips the contact history (benchmarks of the registry alone).
        rates: overrides of the injection rates (keys as in ``DEFAULT_RATES``).
    """
    rng = np.random.default_rng(seed + 4)
    r = {**DEFAULT_RATES, **(rates or {})}
    kg = region.keygroups
    villages = region.villages.select("code", "name", "population_65plus")
    if within is not None:
        level = int(region.areas.filter(pl.col("code") == within)["level"][0])
        prefix = within[: {1: 2, 2: 4, 3: 6, 4: 9, 5: 12}[level]]
        villages = villages.filter(pl.col("code").str.starts_with(prefix))
        kg = kg.filter(pl.col("area_code").str.starts_with(prefix))
    v_codes = villages["code"]
    n_v = v_codes.len()
    vmap = pl.DataFrame({"area_code": v_codes, "vi": np.arange(n_v, dtype=np.int64)})
    kg = kg.join(vmap, on="area_code", how="inner")

    def counts(group: str, tier: str | None = None) -> IntArray:
        f = kg.filter(pl.col("group") == group)
        if tier is not None:
            f = f.filter(pl.col("tier") == tier)
        out = np.zeros(n_v, dtype=np.int64)
        np.add.at(out, f["vi"].to_numpy(), f["count"].to_numpy())
        return out

    # --- elderly (65+) by tier: age band, comorbidity, vaccination consistent with it -------
    combos = []  # (age_points, comorbidity, vaccination, probability, tier)
    for ap, share, vshares in (
        (1, 1 - SHARE_80PLUS, VACCINATION_65_79),
        (2, SHARE_80PLUS, VACCINATION_80PLUS),
    ):
        for c, pc in enumerate(COMORBIDITY):
            for v, pv in enumerate(vshares):
                combos.append(
                    (ap, c, v, share * pc * pv, int(tier_from_score(np.array([ap + c + v]))[0]))
                )
    combo_arr = np.array(combos)
    eld_tier_counts = np.column_stack([counts("age65", t) for t in ("red", "yellow", "green")])
    expected65 = eld_tier_counts.sum(axis=1)
    # Omitted elderly (never registered) in some villages: unregistered_expected.
    nursing = counts("nursing_home")
    alone = counts("living_alone")
    omit_try = np.maximum(1, np.round(expected65 * 0.03)).astype(np.int64)
    omit_village = (
        (rng.random(n_v) < r["unregistered_village"])
        & (expected65 >= 20)
        & (expected65 - omit_try >= nursing + alone)
    )
    omit_n = np.where(omit_village, omit_try, 0).astype(np.int64)
    e_vi = np.repeat(np.repeat(np.arange(n_v), 3), eld_tier_counts.reshape(-1))
    e_tier = np.repeat(np.tile(np.arange(3), n_v), eld_tier_counts.reshape(-1))
    e_rank = _rank_within(e_vi, rng.random(e_vi.size))
    keep = e_rank >= omit_n[e_vi]
    e_vi, e_tier, e_rank = e_vi[keep], e_tier[keep], e_rank[keep] - omit_n[e_vi[keep]]
    n_e = e_vi.size
    # Combination given the tier: inverse CDF inside each tier.
    e_combo = np.empty(n_e, dtype=np.int64)
    u = rng.random(n_e)
    for t in range(3):
        idx = np.flatnonzero(combo_arr[:, 4] == t)
        p = combo_arr[idx, 3] / combo_arr[idx, 3].sum()
        sel = e_tier == t
        e_combo[sel] = idx[np.minimum(np.searchsorted(np.cumsum(p), u[sel]), idx.size - 1)]
    e_ap = combo_arr[e_combo, 0].astype(np.int64)
    e_age = np.where(
        e_ap == 2, 80 + np.minimum(rng.geometric(0.13, n_e) - 1, 22), rng.integers(65, 80, n_e)
    ).astype(np.int64)
    e_male = rng.random(n_e) < np.where(e_age >= 80, 0.42, 0.48)
    # Nursing-home residents first, then people living alone, among a village's elderly.
    e_nursing = e_rank < nursing[e_vi]
    e_alone = (e_rank >= nursing[e_vi]) & (e_rank < nursing[e_vi] + alone[e_vi])

    # --- other groups: left-behind children, disabled adults, pregnant women --------------------
    lbc = counts("left_behind_child")
    omit_lbc = (rng.random(n_v) < r["unregistered_village"]) & (lbc >= 3) & ~omit_village
    lbc_reg = lbc - omit_lbc.astype(np.int64)
    dis = counts("disabled")
    preg = counts("pregnant")
    c_vi = np.repeat(np.arange(n_v), lbc_reg)
    d_vi = np.repeat(np.arange(n_v), dis)
    p_vi = np.repeat(np.arange(n_v), preg)
    n_c, n_d, n_p = c_vi.size, d_vi.size, p_vi.size
    vi = np.concatenate([e_vi, c_vi, d_vi, p_vi])
    group = np.concatenate([np.zeros(n_e), np.ones(n_c), np.full(n_d, 2), np.full(n_p, 3)]).astype(
        np.int64
    )  # 0 elderly, 1 child, 2 disabled, 3 pregnant
    age = np.concatenate(
        [e_age, rng.integers(3, 16, n_c), rng.integers(20, 65, n_d), rng.integers(20, 41, n_p)]
    ).astype(np.int64)
    male = np.concatenate(
        [e_male, rng.random(n_c) < 0.53, rng.random(n_d) < 0.55, np.zeros(n_p, dtype=bool)]
    )
    n = vi.size
    comorb = np.concatenate(
        [
            combo_arr[e_combo, 1].astype(np.int64),
            (rng.random(n_c) < 0.04).astype(np.int64),
            rng.choice(3, n_d, p=[0.6, 0.3, 0.1]),
            (rng.random(n_p) < 0.1).astype(np.int64),
        ]
    )
    vacc = np.concatenate(
        [
            combo_arr[e_combo, 2].astype(np.int64),
            rng.choice(3, n_c, p=[0.7, 0.2, 0.1]),
            rng.choice(3, n_d, p=[0.7, 0.2, 0.1]),
            rng.choice(3, n_p, p=[0.6, 0.2, 0.2]),
        ]
    )
    age_points = np.where(age >= 80, 2, np.where(age >= 65, 1, 0))
    tier = tier_from_score(age_points + comorb + vacc)
    birth = _birth_dates(rng, age, on)

    # --- identity: refs, names, ID numbers, phones, households ---------------------------------
    seq = _rank_within(vi)
    code_s = v_codes.gather(vi)
    ref = code_s + "-" + pl.Series(seq + 1).cast(pl.String).str.zfill(5)
    county6 = code_s.str.slice(0, 6).cast(pl.Int64).to_numpy()
    ids = _ids(rng, county6, birth, male)
    child = group == 1
    name = _names(rng, male, child)
    phone = _phones(rng, n)
    phone = _null_where(child, phone)
    hh = _rank_within(vi, rng.random(n)) // 2
    household = (
        pl.Series(hh // 40 + 1).cast(pl.String)
        + "组"
        + pl.Series(hh % 40 + 1).cast(pl.String)
        + "号"
    )
    g_male = rng.random(n) < 0.45
    guardian_name = _null_where(
        ~child, name.str.slice(0, 1) + pl.Series(_pick(rng, _GIVEN_M + _GIVEN_F, n).tolist())
    ).alias("guardian_name")
    guardian_relation = _null_where(
        ~child, pl.Series("guardian_relation", np.where(g_male, "祖父", "祖母").tolist())
    )
    guardian_phone = _null_where(~child, _phones(rng, n)).alias("guardian_phone")

    # --- registration: before the period, or found in the post-festival re-survey -----------
    found = rng.random(n) < r["found_in_resurvey"]
    window = max(_days_between(RESURVEY_START, on), 1)
    reg_day = np.where(
        found,
        np.datetime64(RESURVEY_START, "D") + rng.integers(0, window, n).astype("timedelta64[D]"),
        np.datetime64(start, "D") - rng.integers(1, 60, n).astype("timedelta64[D]"),
    )

    # --- doctors and cadres per village ---------------------------------------------------------
    per_v = np.bincount(vi, minlength=n_v)
    n_doc = np.maximum(1, np.ceil(per_v / 400)).astype(np.int64)
    n_cad = np.maximum(1, np.ceil(per_v / 25)).astype(np.int64)
    doc_v = np.repeat(np.arange(n_v), n_doc)
    cad_v = np.repeat(np.arange(n_v), n_cad)
    doc_rank = _rank_within(doc_v)
    cad_rank = _rank_within(cad_v)
    doc_code = (
        "D" + v_codes.gather(doc_v) + "-" + pl.Series(doc_rank + 1).cast(pl.String).str.zfill(2)
    )
    cad_code = (
        "C" + v_codes.gather(cad_v) + "-" + pl.Series(cad_rank + 1).cast(pl.String).str.zfill(3)
    )
    doc_first = np.r_[0, np.cumsum(n_doc)[:-1]]
    cad_first = np.r_[0, np.cumsum(n_cad)[:-1]]
    person_doc = doc_first[vi] + seq % n_doc[vi]
    person_cad = cad_first[vi] + (seq // 1) % n_cad[vi]
    responsible = pl.DataFrame(
        {
            "code": pl.concat([doc_code, cad_code]),
            "kind": ["doctor"] * doc_v.size + ["cadre"] * cad_v.size,
            "name": pl.concat(
                [
                    _names(rng, rng.random(doc_v.size) < 0.6, np.zeros(doc_v.size, bool)),
                    _names(rng, rng.random(cad_v.size) < 0.6, np.zeros(cad_v.size, bool)),
                ]
            ),
            "phone": pl.concat([_phones(rng, doc_v.size), _phones(rng, cad_v.size)]),
            "area_code": pl.concat([v_codes.gather(doc_v), v_codes.gather(cad_v)]),
        }
    )

    # --- injected registry problems (disjoint sets of persons) --------------------------------
    free = np.ones(n, dtype=bool)

    def take(share: float) -> BoolArray:
        chosen = _subset(rng, free, share)
        free[chosen] = False
        return chosen

    no_doc = take(r["no_doctor"])
    no_cad = take(r["no_cadre"])
    dead = take(r["stale_deceased"]) & ~found
    moved = take(r["stale_moved"]) & ~found
    dup_src = take(r["duplicate"]) & ~found if n_v > 1 else np.zeros(n, dtype=bool)
    gap = take(r["contact_gap"])
    doctor_code = _null_where(no_doc, doc_code.gather(person_doc)).alias("doctor")
    cadre_code = _null_where(no_cad, cad_code.gather(person_cad)).alias("cadre")

    persons = pl.DataFrame(
        {
            "ref": ref,
            "name": name,
            "sex": np.where(male, "M", "F"),
            "birth_date": pl.Series(birth).cast(pl.Date),
            "id_number": ids,
            "phone": phone,
            "village": code_s,
            "household": household,
            "doctor": doctor_code,
            "cadre": cadre_code,
            "guardian_name": guardian_name,
            "guardian_relation": guardian_relation,
            "guardian_phone": guardian_phone,
            "comorbidity": comorb,
            "vaccination": vacc,
            "registered_on": pl.Series(reg_day).cast(pl.Date),
            "found_in_resurvey": found,
        }
    )
    group_names = np.array(["age65", "left_behind_child", "disabled", "pregnant"])
    mem = [pl.DataFrame({"ref": ref, "group": group_names[group]})]
    for mask, gname in ((e_nursing, "nursing_home"), (e_alone, "living_alone")):
        full = np.zeros(n, dtype=bool)
        full[:n_e] = mask
        mem.append(pl.DataFrame({"ref": ref.filter(full), "group": [gname] * int(full.sum())}))
    mem.append(
        pl.DataFrame(
            {"ref": ref.filter(comorb > 0), "group": ["chronic"] * int((comorb > 0).sum())}
        )
    )

    # --- contacts ------------------------------------------------------------------------------
    days = _days_between(start, on) + 1
    reg_off = np.maximum((reg_day - np.datetime64(start, "D")).astype(np.int64), 0)
    # Infection: a share test positive, mostly around the late-December peak.
    infected = (rng.random(n) < r["positive"]) & ~found & ~dead & ~moved
    peak = _days_between(start, date(2022, 12, 23))
    inf_day = np.clip(np.round(rng.normal(peak, 9, n)), 2, days - 8).astype(np.int64)
    low_spo2 = infected & (rng.random(n) < np.where(age >= 65, 0.15, 0.03))
    end_day = np.full(n, days - 1, dtype=np.int64)  # last day with a scheduled contact
    gone_day = rng.integers(10, max(days - 14, 11), n)
    end_day = np.where(dead | moved, gone_day, end_day)
    gap_len = _INTERVALS[tier] + rng.integers(1, 6, n)
    end_day = np.where(gap, days - 1 - gap_len, end_day)

    base_k = _INTERVALS[tier]
    phase = rng.integers(0, base_k)
    first = reg_off + phase
    # The died / moved away are last contacted on a scheduled day on or after their first one,
    # so that the last contact, the one that says so, exists and is never missed; a person
    # registered too late for any contact cannot be stale (the truth must be observable).
    reachable = first <= days - 1
    dead &= reachable
    moved &= reachable
    last_slot = first + np.maximum(0, (end_day - first) // base_k) * base_k
    end_day = np.where(dead | moved, last_slot, end_day)
    base_until = np.where(infected, np.minimum(inf_day - 1, end_day), end_day)
    n_base = np.maximum(0, (base_until - first) // base_k + 1)
    pi = np.repeat(np.arange(n), n_base)
    k = _rank_within(pi)
    cday = first[pi] + k * base_k[pi]
    # After a positive test: daily contacts (red) from the test day on.
    n_red = np.where(infected, np.maximum(0, end_day - inf_day + 1), 0)
    pj = np.repeat(np.arange(n), n_red)
    rday = inf_day[pj] + _rank_within(pj)
    c_person = np.concatenate([pi, pj])
    c_day = np.concatenate([cday, rday])
    after = np.concatenate([np.full(pi.size, -1), rday - inf_day[pj]])
    # Ordinary misses, but never the key contacts (test day, the day after, last of the gone).
    miss = rng.random(c_day.size) < r["miss"]
    keep_c = ~miss | (after == 0) | (after == 1) | (c_day == end_day[c_person])
    keep_c &= c_day <= days - 1
    c_person, c_day, after = c_person[keep_c], c_day[keep_c], after[keep_c]
    order = np.lexsort((c_day, c_person))
    c_person, c_day, after = c_person[order], c_day[order], after[order]
    nc = c_person.size
    status = np.full(nc, "well", dtype=object)
    spo2 = np.full(nc, -1, dtype=np.int64)
    reading = (tier[c_person] <= 1) & (rng.random(nc) < 0.15)
    status[reading] = "spo2"
    spo2[reading] = rng.integers(94, 100, int(reading.sum()))
    symptoms = (after >= 1) & (after <= 5)
    status[symptoms] = "symptoms"
    status[after == 0] = "positive"
    low = (after == 1) & low_spo2[c_person]
    status[low] = "referred"
    spo2[low] = rng.integers(86, 93, int(low.sum()))
    last_of = np.r_[c_person[1:] != c_person[:-1], True] if nc else np.zeros(0, bool)
    status[last_of & dead[c_person]] = "died"
    status[last_of & moved[c_person]] = "moved_away"
    method = np.where(
        rng.random(nc) < 0.6, "phone", np.where(rng.random(nc) < 0.75, "visit", "message")
    )
    method = np.where((status == "referred") | (status == "died"), "visit", method)
    day0 = np.datetime64(start, "D")
    contact_frame = pl.DataFrame(
        {
            "ref": ref.gather(c_person),
            "date": pl.Series(day0 + c_day.astype("timedelta64[D]")).cast(pl.Date),
            "method": method.astype(str),
            "status": status.astype(str),
            "spo2": _null_where(spo2 < 0, pl.Series(spo2, dtype=pl.Int64)),
            "responsible": doctor_code.gather(c_person),
        }
    )

    # --- referrals: every positive test and every low reading -----------------------------------
    ref_mask = (status == "positive") | (status == "referred")
    rp, rd = c_person[ref_mask], c_day[ref_mask]
    low_ref = status[ref_mask] == "referred"
    u_out = rng.random(rp.size)
    outcome = np.where(
        low_ref,
        np.where(u_out < 0.6, "admitted", np.where(u_out < 0.9, "discharged", "transferred")),
        np.where(u_out < 0.7, "home_care", "outpatient"),
    )
    recent = (rd >= days - 10) & (rng.random(rp.size) < 0.3)
    outcome = np.where(recent, "pending", outcome)
    referrals = pl.DataFrame(
        {
            "ref": ref.gather(rp),
            "date": pl.Series(day0 + rd.astype("timedelta64[D]")).cast(pl.Date),
            "destination": np.where(low_ref, "county_hospital", "township_health_centre"),
            "reason": np.where(low_ref, "low_spo2", "positive"),
            "outcome": outcome,
            "outcome_date": pl.Series(
                np.where(recent, np.datetime64("NaT"), day0 + (rd + 2).astype("timedelta64[D]"))
            ).cast(pl.Date),
        }
    )

    # --- duplicates: a copy of a person registered again in another village ------------------
    src = np.flatnonzero(dup_src)
    if src.size:
        other = (vi[src] + 1 + rng.integers(0, n_v - 1, src.size)) % n_v
        copies = persons[src].with_columns(
            pl.Series("village", v_codes.gather(other)),
            (
                v_codes.gather(other)
                + "-D"
                + pl.Series(np.arange(src.size) + 1).cast(pl.String).str.zfill(4)
            ).alias("ref"),
            pl.Series("doctor", doc_code.gather(doc_first[other]), dtype=pl.String),
            pl.Series("cadre", cad_code.gather(cad_first[other]), dtype=pl.String),
            pl.Series(
                "registered_on", day0 + rng.integers(0, days, src.size).astype("timedelta64[D]")
            ).cast(pl.Date),
        )
        copy_groups = pl.DataFrame({"ref": copies["ref"], "group": group_names[group[src]]})
        persons = pl.concat([persons, copies])
        mem.append(copy_groups)
        all_tier = np.concatenate([tier, tier[src]])
    else:
        all_tier = tier
    memberships = pl.concat(mem)

    # --- expected counts from outside sources ----------------------------------------------------
    expected = pl.concat(
        [
            pl.DataFrame(
                {
                    "area_code": v_codes,
                    "group": "nursing_home",
                    "source": "nursing_home",
                    "count": nursing,
                }
            ),
            pl.DataFrame(
                {
                    "area_code": v_codes,
                    "group": "left_behind_child",
                    "source": "school_roster",
                    "count": lbc,
                }
            ),
        ]
    ).filter(pl.col("count") > 0)

    # --- truth ----------------------------------------------------------------------------------
    on_s = on.isoformat()
    n_all = persons.height
    last = np.full(n_all, -1, dtype=np.int64)
    if nc:
        np.maximum.at(last, c_person, c_day)
    # Tier on ``on``: the score, or red after a positive test or a low reading.
    escalated = np.zeros(n_all, dtype=bool)
    escalated[c_person[(status == "positive") | ((spo2 >= 0) & (spo2 < 93))]] = True
    final_tier = np.where(escalated, 0, all_tier)
    interval = _INTERVALS[final_tier]
    reg_all = persons["registered_on"].cast(pl.Int64).to_numpy() - (on - date(1970, 1, 1)).days
    on_idx = days - 1
    overdue = np.where(
        last < 0,
        reg_all < 0,
        last < on_idx - interval,
    )
    gap_all = np.r_[gap, np.zeros(n_all - n, dtype=bool)]
    doc_all = persons["doctor"].is_null().to_numpy()
    cad_all = persons["cadre"].is_null().to_numpy()
    area_all = persons["village"]
    refs_all = persons["ref"]
    truth: list[dict[str, Any]] = []

    def add(kind: str, mask: BoolArray, **extra: npt.NDArray[Any]) -> None:
        frame = pl.DataFrame(
            {
                "kind": [kind] * int(mask.sum()),
                "person": refs_all.filter(mask),
                "area": area_all.filter(mask),
            }
        )
        frame = frame.with_columns(pl.lit(on_s).alias("date"))
        for key, values in extra.items():
            frame = frame.with_columns(pl.Series(key, values[mask].tolist()))
        ident = pl.concat_str(
            [pl.col("kind"), pl.col("area"), pl.col("date"), pl.col("person")], separator=":"
        )
        truth.extend(frame.select(ident.alias("id"), pl.all()).to_dicts())

    add(NO_DOCTOR, doc_all)
    add(NO_CADRE, cad_all)
    add(OVERDUE, overdue, injected=gap_all | np.r_[np.zeros(n, bool), np.ones(n_all - n, bool)])
    dup_mask = np.zeros(n_all, dtype=bool)
    dup_mask[src] = True
    dup_mask[n:] = True
    add(DUPLICATE, dup_mask)
    dead_all = np.r_[dead, np.zeros(n_all - n, bool)]
    moved_all = np.r_[moved, np.zeros(n_all - n, bool)]
    add(STALE_DECEASED, dead_all)
    add(STALE_MOVED, moved_all)
    # Area findings: fewer registered than expected.
    registered = (
        memberships.join(persons.select("ref", "village"), on="ref")
        .group_by("village", "group")
        .agg(pl.len().cast(pl.Int64).alias("registered"))
        .rename({"village": "area"})
    )
    wanted = pl.concat(
        [
            pl.DataFrame({"area": v_codes, "group": "age65", "expected": expected65}),
            expected.select(
                pl.col("area_code").alias("area"), "group", pl.col("count").alias("expected")
            ),
        ]
    )
    short = (
        wanted.join(registered, on=["area", "group"], how="left")
        .with_columns(pl.col("registered").fill_null(0))
        .filter(pl.col("registered") < pl.col("expected"))
        .sort("area", "group")
    )
    truth.extend(
        short.select(
            pl.format("{}:{}:{}:{}", pl.lit(UNREGISTERED), "area", pl.lit(on_s), "group").alias(
                "id"
            ),
            pl.lit(UNREGISTERED).alias("kind"),
            pl.lit(None, pl.String).alias("person"),
            "area",
            pl.lit(on_s).alias("date"),
            "group",
            "expected",
            "registered",
        ).to_dicts()
    )
    if not contacts:
        contact_frame = contact_frame.clear()
        referrals = referrals.clear()
    return Persons(
        persons=persons,
        memberships=memberships,
        responsible=responsible,
        contacts=contact_frame,
        referrals=referrals,
        expected=expected,
        truth=truth,
        on=on,
        start=start,
        params={"seed": seed, "within": within, **r},
    )


DEFAULT_RATES: dict[str, float] = {
    "no_doctor": 0.004,
    "no_cadre": 0.003,
    "stale_deceased": 0.002,
    "stale_moved": 0.002,
    "duplicate": 0.002,
    "contact_gap": 0.01,
    "miss": 0.03,
    "positive": 0.08,
    "found_in_resurvey": 0.01,
    "unregistered_village": 0.05,
}
