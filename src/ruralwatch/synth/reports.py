"""Village daily reports derived from a simulated epidemic, with injected problems.

The reports are what village doctors would send: fever-clinic visits, antigen and PCR positives,
new cases, severe cases, deaths, referrals up and key-group contacts, one set per village and
day, with a submission time. Some village-days are missing, some arrive late, and a few values
are wrong in ways that pass format validation. Every injected problem is listed in the truth.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt
import polars as pl

from ruralwatch.synth import truth as truth_kinds
from ruralwatch.synth.epidemic import DEFAULT_END, DEFAULT_START, RegionEpidemic
from ruralwatch.synth.region import Region

__all__ = ["INDICATORS", "ReportParams", "Reports", "build_reports", "deadline_of"]

TZ = ZoneInfo("Asia/Shanghai")
UTC_OFFSET_HOURS = 8  # Asia/Shanghai has had no daylight saving time since 1991
INDICATORS = (
    "fever_visits",
    "antigen_pos",
    "pcr_pos",
    "new_cases",
    "severe_cases",
    "deaths",
    "referrals_up",
    "kg_contacts",
)
_IX = {k: i for i, k in enumerate(INDICATORS)}
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class ReportParams:
    """Observation and injection rates (see docs/synthetic-data.md)."""

    # observation
    fever_per_symptomatic: float = 0.8
    fever_background_per_1000: float = 0.4
    p_tested: float = 0.65
    p_antigen_pos: float = 0.85
    p_pcr_pos: float = 0.12
    p_asymptomatic_antigen: float = 0.03
    p_case_counted: float = 0.8
    p_referral_mild: float = 0.01
    contact_compliance_start: float = 0.3
    contact_compliance_full: float = 0.92
    contact_ramp_end: date = date(2023, 1, 1)
    # missing reports
    p_missing: float = 0.02
    laggard_share: float = 0.03
    laggard_missing: tuple[float, float] = (0.3, 0.6)
    # timeliness: same evening / next morning / late (after next day 12:00)
    p_same_evening: float = 0.58
    p_late: float = 0.065
    laggard_p_late: float = 0.25
    late_median_hours: float = 5.0
    late_log_sd: float = 1.0
    deadline_hour: int = 12
    p_cadre_reporter: float = 0.08
    # errors, as shares of report rows
    rate_value_x10: float = 0.0005
    rate_cases_exceed: float = 0.0003
    rate_copied_rows: float = 0.0004


@dataclass(frozen=True)
class Reports:
    """Report rows, the truth of injected problems and the true epidemic per village.

    Attributes:
        values: area_code, date, indicator, value, submitted_at (aware, Asia/Shanghai),
            reporter; one row per village, date and indicator for every village-day received.
        truth: list of dicts, see :mod:`ruralwatch.synth.truth`.
        epidemic_truth: area_code, date, infections, symptomatic (true, per village and day).
        params: the parameters used and the seed.
    """

    values: pl.DataFrame
    truth: list[dict[str, Any]]
    epidemic_truth: pl.DataFrame
    params: dict[str, Any] = field(default_factory=dict)


def _choose(rng: np.random.Generator, mask: npt.NDArray[np.bool_], k: int) -> IntArray:
    idx = np.flatnonzero(mask.reshape(-1))
    k = min(k, idx.size)
    if k <= 0:
        return np.zeros(0, dtype=np.int64)
    return np.sort(rng.choice(idx, size=k, replace=False)).astype(np.int64)


def _keygroup_matrix(region: Region, codes: list[str]) -> dict[str, IntArray]:
    kg = region.keygroups.with_columns(
        pl.when(pl.col("tier").is_null())
        .then(pl.col("group"))
        .otherwise(pl.col("group") + "_" + pl.col("tier"))
        .alias("key")
    )
    wide = kg.pivot(on="key", index="area_code", values="count", aggregate_function="sum")
    wide = pl.DataFrame({"area_code": codes}).join(
        wide, on="area_code", how="left", maintain_order="left"
    )
    return {c: wide[c].fill_null(0).to_numpy().astype(np.int64) for c in wide.columns[1:]}


def build_reports(
    region: Region,
    epidemic: RegionEpidemic,
    *,
    start: date = DEFAULT_START,
    end: date = DEFAULT_END,
    seed: int | None = None,
    params: ReportParams | None = None,
) -> Reports:
    """Village daily reports for ``start``…``end`` with missing, late and wrong reports.

    ``seed`` defaults to the region's seed; the same inputs and seed give the same output.
    """
    prm = params if params is not None else ReportParams()
    seed = region.seed if seed is None else seed
    rng = np.random.default_rng([seed, 2])
    sim = epidemic.sim
    sim_start: date = sim.dates[0].item()
    i0 = (start - sim_start).days
    i1 = (end - sim_start).days + 1
    if i0 < 0 or i1 > sim.dates.size or i1 <= i0:
        raise ValueError("the report window must lie inside the simulated window")
    codes = epidemic.village_codes
    n_v = len(codes)
    n_d = i1 - i0
    days = np.datetime64(start, "D") + np.arange(n_d)
    pop = region.villages["population"].to_numpy().astype(np.int64)

    # --- true values (D × V) ---------------------------------------------------------------
    sym = sim.symptomatic[i0:i1]
    asym = np.maximum(sim.infections[i0:i1] - sym, 0)
    tested = rng.binomial(sym, prm.p_tested)
    antigen = rng.binomial(tested, prm.p_antigen_pos) + rng.binomial(
        asym, prm.p_asymptomatic_antigen
    )
    pcr = rng.binomial(tested, prm.p_pcr_pos)
    cases = rng.binomial(antigen + pcr, prm.p_case_counted)
    fever = rng.poisson(
        prm.fever_per_symptomatic * sym + pop[None, :] * prm.fever_background_per_1000 / 1000
    )
    severe = sim.severe[i0:i1]
    deaths = sim.deaths[i0:i1]
    referrals = severe + rng.binomial(sym, prm.p_referral_mild)
    kg = _keygroup_matrix(region, codes)
    zero = np.zeros(n_v, dtype=np.int64)
    due = (
        kg.get("age65_red", zero)
        + kg.get("age65_yellow", zero) / 3
        + kg.get("age65_green", zero) / 14
        + (kg.get("left_behind_child", zero) + kg.get("disabled", zero) + kg.get("pregnant", zero))
        / 7
    )
    key_people = sum(v for k, v in kg.items() if k not in ("nursing_home", "living_alone"))
    ramp_days = max((prm.contact_ramp_end - start).days, 1)
    ramp = np.clip(np.arange(n_d) / ramp_days, 0.0, 1.0)
    compliance = prm.contact_compliance_start + ramp * (
        prm.contact_compliance_full - prm.contact_compliance_start
    )
    village_compliance = rng.beta(19, 1, size=n_v)
    contacts = np.minimum(
        rng.poisson(compliance[:, None] * village_compliance[None, :] * due[None, :]),
        np.asarray(key_people)[None, :],
    )
    true = np.stack([fever, antigen, pcr, cases, severe, deaths, referrals, contacts]).astype(
        np.int64
    )  # (K, D, V)
    reported = true.copy()

    # --- missing reports -------------------------------------------------------------------
    n_lag = max(1, round(prm.laggard_share * n_v))
    laggard = np.zeros(n_v, dtype=bool)
    laggard[rng.choice(n_v, size=min(n_lag, n_v), replace=False)] = True
    lo, hi = prm.laggard_missing
    p_miss = np.where(laggard, rng.uniform(lo, hi, size=n_v), prm.p_missing)
    missing = rng.random((n_d, n_v)) < p_miss[None, :]
    present = ~missing

    # --- submission times (seconds after local midnight of the report date) ----------------
    p_late = np.where(laggard, prm.laggard_p_late, prm.p_late)[None, :]
    u = rng.random((n_d, n_v))
    evening = 17 * 3600 + rng.integers(0, int(6.5 * 3600), size=(n_d, n_v))
    morning = 31 * 3600 + rng.integers(0, int(4.9 * 3600), size=(n_d, n_v))
    late_after = np.maximum(
        rng.lognormal(np.log(prm.late_median_hours * 3600), prm.late_log_sd, size=(n_d, n_v)),
        60,
    ).astype(np.int64)
    deadline_s = (24 + prm.deadline_hour) * 3600
    is_late = u < p_late
    offset = np.where(
        is_late,
        deadline_s + late_after,
        np.where(u < p_late + prm.p_same_evening * (1 - p_late), evening, morning),
    ).astype(np.int64)
    day_epoch_s = (
        days.astype("datetime64[s]").astype(np.int64) - UTC_OFFSET_HOURS * 3600
    )  # local midnight in UTC seconds
    submitted_s = day_epoch_s[:, None] + offset

    # --- errors ------------------------------------------------------------------------------
    n_rows = int(present.sum()) * len(INDICATORS)
    nonzero = (true > 0).sum(axis=0)  # (D, V)
    prev_present = np.zeros_like(present)
    prev_present[1:] = present[:-1]
    differs = np.zeros_like(present)
    differs[1:] = (true[:, 1:] != true[:, :-1]).any(axis=0)
    prev_nonzero = np.zeros_like(nonzero)
    prev_nonzero[1:] = nonzero[:-1]
    copy_ok = present & prev_present & differs & (prev_nonzero >= 3)
    n_copy = max(1, round(prm.rate_copied_rows * n_rows / len(INDICATORS)))
    copy_flat = _choose(rng, copy_ok, n_copy)
    copy_mask = np.zeros((n_d, n_v), dtype=bool)
    copy_mask.reshape(-1)[copy_flat] = True
    # keep other errors off copied days and their source days
    blocked = copy_mask.copy()
    blocked[:-1] |= copy_mask[1:]
    free = present & ~blocked
    cd, cv = np.divmod(copy_flat, n_v)
    reported[:, cd, cv] = true[:, cd - 1, cv]

    exceed_ok = free & (true[_IX["fever_visits"]] > true[_IX["antigen_pos"]] + true[_IX["pcr_pos"]])
    n_exceed = max(1, round(prm.rate_cases_exceed * n_rows))
    ex_flat = _choose(rng, exceed_ok, n_exceed)
    ed, ev = np.divmod(ex_flat, n_v)
    reported[_IX["new_cases"], ed, ev] = true[_IX["fever_visits"], ed, ev]
    free.reshape(-1)[ex_flat] = False

    typo_kinds = np.array(
        [_IX[k] for k in ("fever_visits", "antigen_pos", "new_cases", "kg_contacts")]
    )
    typo_ok = free[None, :, :] & (true[typo_kinds] > 0)  # (4, D, V)
    n_typo = max(1, round(prm.rate_value_x10 * n_rows))
    typo_flat = _choose(rng, typo_ok, n_typo)
    tk, rest = np.divmod(typo_flat, n_d * n_v)
    td, tv = np.divmod(rest, n_v)
    tk = typo_kinds[tk]
    reported[tk, td, tv] = true[tk, td, tv] * 10

    # --- long format -----------------------------------------------------------------------
    v_idx, d_idx = np.nonzero(present.T)  # village-major order: by village, then date
    n_present = d_idx.size
    n_k = len(INDICATORS)
    rows_v = np.repeat(v_idx, n_k)
    rows_d = np.repeat(d_idx, n_k)
    rows_k = np.tile(np.arange(n_k), n_present)
    cadre = rng.random((n_d, n_v)) < prm.p_cadre_reporter
    code_s = pl.Series("area_code", codes, dtype=pl.String)
    vd = pl.DataFrame(
        {
            "area_code": code_s.gather(v_idx),
            "date": pl.Series(days[d_idx]).cast(pl.Date),
            "submitted_at": pl.Series(submitted_s[d_idx, v_idx] * 1_000_000)
            .cast(pl.Datetime("us", "UTC"))
            .dt.convert_time_zone("Asia/Shanghai"),
            "cadre": cadre[d_idx, v_idx],
        }
    ).select(
        "area_code",
        "date",
        "submitted_at",
        (
            pl.when(pl.col("cadre")).then(pl.lit("cadre-")).otherwise(pl.lit("doctor-"))
            + pl.col("area_code")
        ).alias("reporter"),
    )
    values = vd[np.repeat(np.arange(n_present), n_k)].select(
        "area_code",
        "date",
        pl.Series("indicator", list(INDICATORS), dtype=pl.String).gather(rows_k),
        pl.Series("value", reported[rows_k, rows_d, rows_v], dtype=pl.Int64),
        "submitted_at",
        "reporter",
    )

    # --- truth -------------------------------------------------------------------------------
    truth = _truth(
        codes=code_s,
        days=days,
        missing=missing,
        laggard=laggard,
        late=is_late & present,
        submitted_s=submitted_s,
        deadline_hour=prm.deadline_hour,
        copy=(cd, cv),
        exceed=(ed, ev),
        typo=(tk, td, tv),
        true=true,
        reported=reported,
    )
    used = {k: (v.isoformat() if isinstance(v, date) else v) for k, v in vars(prm).items()}
    used["seed"] = seed
    used["start"] = start.isoformat()
    used["end"] = end.isoformat()
    return Reports(
        values=values,
        truth=truth,
        epidemic_truth=epidemic.truth_frame().filter(pl.col("date").is_between(start, end)),
        params=used,
    )


def _iso_local(seconds: IntArray) -> pl.Series:
    return (
        pl.Series(seconds * 1_000_000)
        .cast(pl.Datetime("us", "UTC"))
        .dt.convert_time_zone("Asia/Shanghai")
        .dt.to_string("%Y-%m-%dT%H:%M:%S%:z")
    )


def _truth(
    *,
    codes: pl.Series,
    days: npt.NDArray[np.datetime64],
    missing: npt.NDArray[np.bool_],
    laggard: npt.NDArray[np.bool_],
    late: npt.NDArray[np.bool_],
    submitted_s: IntArray,
    deadline_hour: int,
    copy: tuple[IntArray, IntArray],
    exceed: tuple[IntArray, IntArray],
    typo: tuple[IntArray, IntArray, IntArray],
    true: IntArray,
    reported: IntArray,
) -> list[dict[str, Any]]:
    day_str = pl.Series(days).cast(pl.Date).dt.to_string("%Y-%m-%d")
    deadline_s = (
        days.astype("datetime64[s]").astype(np.int64)
        - UTC_OFFSET_HOURS * 3600
        + (24 + deadline_hour) * 3600
    )
    entries: list[dict[str, Any]] = []

    def base(
        kind: str, d: IntArray, v: IntArray, indicator: pl.Series | None = None
    ) -> pl.DataFrame:
        frame = pl.DataFrame(
            {"kind": pl.Series([kind] * d.size), "area": codes.gather(v), "date": day_str.gather(d)}
        )
        ident = pl.concat_str([pl.col("kind"), pl.col("area"), pl.col("date")], separator=":")
        if indicator is not None:
            frame = frame.with_columns(indicator.alias("indicator"))
            ident = pl.concat_str([ident, pl.col("indicator")], separator=":")
        return frame.select(ident.alias("id"), pl.all())

    md, mv = np.nonzero(missing)
    entries += (
        base(truth_kinds.MISSING, md, mv).with_columns(pl.Series("laggard", laggard[mv])).to_dicts()
    )
    ld, lv = np.nonzero(late)
    entries += (
        base(truth_kinds.LATE, ld, lv)
        .with_columns(
            _iso_local(submitted_s[ld, lv]).alias("submitted_at"),
            _iso_local(deadline_s[ld]).alias("deadline"),
        )
        .to_dicts()
    )

    cd, cv = copy
    copied = (
        base(truth_kinds.COPIED, cd, cv)
        .with_columns(day_str.gather(np.maximum(cd - 1, 0)).alias("copied_from"))
        .to_dicts()
    )
    for i, entry in enumerate(copied):  # a handful of entries; values per indicator
        diff = {
            k: (int(true[j, cd[i], cv[i]]), int(reported[j, cd[i], cv[i]]))
            for j, k in enumerate(INDICATORS)
            if true[j, cd[i], cv[i]] != reported[j, cd[i], cv[i]]
        }
        entry["indicators"] = list(diff)
        entry["true_values"] = {k: t for k, (t, _) in diff.items()}
        entry["reported_values"] = {k: r for k, (_, r) in diff.items()}
    entries += copied

    ed, ev = exceed
    k_cases = _IX["new_cases"]
    entries += (
        base(truth_kinds.CASES_EXCEED, ed, ev, pl.Series(["new_cases"] * ed.size, dtype=pl.String))
        .with_columns(
            pl.Series("true_value", true[k_cases, ed, ev]),
            pl.Series("reported_value", reported[k_cases, ed, ev]),
            pl.Series("antigen_pos", reported[_IX["antigen_pos"], ed, ev]),
            pl.Series("pcr_pos", reported[_IX["pcr_pos"], ed, ev]),
        )
        .to_dicts()
    )

    tk, td, tv = typo
    entries += (
        base(truth_kinds.VALUE_X10, td, tv, pl.Series(list(INDICATORS)).gather(tk))
        .with_columns(
            pl.Series("true_value", true[tk, td, tv]),
            pl.Series("reported_value", reported[tk, td, tv]),
        )
        .to_dicts()
    )

    entries.sort(key=lambda e: str(e["id"]))
    return entries


def deadline_of(day: date, hour: int = 12) -> datetime:
    """The reporting deadline for a report date: the next day at ``hour``:00, Asia/Shanghai."""
    return datetime.combine(day + timedelta(days=1), datetime.min.time(), TZ).replace(hour=hour)
