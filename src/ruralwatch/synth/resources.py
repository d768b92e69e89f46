"""Synthetic facilities, capacity and stock, with the ground truth of every gap injected.

Built on a :class:`~ruralwatch.synth.region.Region` (its township health centres, village
clinics and nursing homes, with their pulse oximeters and oxygen concentrators) plus one
county hospital per county; framework-free (numpy, polars) like the rest of ``synth``::

    res = build_resources(region, seed, on=date(2023, 2, 5))
    res.registry_frame()   # one row per facility and capacity date (the importer's columns)
    res.stock              # facility_code, item, date, on_hand, received, issued
    res.truth              # every stock-out, shortfall and capacity gap on ``on``

Gaps are injected on purpose and nowhere else: a facility that is not listed in the truth
holds its minimums with a margin, so an audit on ``on`` must find exactly the truth (recall
and precision 1.0). The minimums used to inject are the published defaults (DOMAIN.md), the
same numbers the resources app loads as rules.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl

from ruralwatch.synth.region import Region

__all__ = [
    "CAPACITY_KINDS",
    "ITEMS",
    "STOCK_KINDS",
    "Resources",
    "build_resources",
]

IntArray = npt.NDArray[np.int64]

ITEMS = ("antipyretic", "antigen_kit", "pulse_oximeter", "oxygen_concentrator", "health_pack")
#: Truth kinds of stock (per facility and item) and of capacity (per area or facility).
STOCK_OUT = "stock_out"
BELOW_MINIMUM = "below_minimum"
SHORT_DAYS = "short_days_of_supply"
NO_FEVER_CLINIC = "no_fever_clinic"
NO_ICU = "no_icu"
NO_DOCTOR = "clinic_without_doctor"
STOCK_KINDS = (STOCK_OUT, BELOW_MINIMUM, SHORT_DAYS)
CAPACITY_KINDS = (NO_FEVER_CLINIC, NO_ICU, NO_DOCTOR)

#: Published minimums (DOMAIN.md): drugs and tests for 15 % of the population served,
#: 2 weeks of drugs in a village clinic.
DRUG_SHARE = 0.15
VILLAGE_DRUG_DAYS = 14
#: Shares of facilities given each injected gap.
P_NO_FEVER_CLINIC = 0.04
P_NO_ICU = 0.15
P_NO_DOCTOR = 0.04
P_NO_DOCTOR_REMOTE = 0.10
P_STOCK_OUT = 0.03
P_BELOW = 0.06
P_SHORT_DAYS = 0.05
#: Days between the two stock reports of each facility and item (weekly reporting).
REPORT_EVERY = 7
#: Days between the earlier capacity row and the current one (history).
CAPACITY_HISTORY_DAYS = 28


@dataclass(frozen=True)
class Resources:
    """Facilities, capacity (two dates each), stock (two reports) and the truth on ``on``."""

    facilities: pl.DataFrame
    capacity: pl.DataFrame
    stock: pl.DataFrame
    truth: list[dict[str, Any]]
    on: dt.date

    def registry_frame(self) -> pl.DataFrame:
        """The facility registry as the importer reads it: one row per capacity date."""
        cap = self.capacity.with_columns(
            pl.col("as_of").cast(pl.String),
            pl.col("fever_clinic").replace_strict(
                {True: "yes", False: "no"}, return_dtype=pl.String
            ),
            pl.col("oxygen").replace_strict({True: "yes", False: "no"}, return_dtype=pl.String),
        )
        return (
            self.facilities.join(cap, on="code", how="inner")
            .sort("code", "as_of")
            .select(
                "code",
                "name",
                "kind",
                "area_code",
                "population_served",
                "as_of",
                "fever_clinic",
                "fever_clinic_hours",
                "beds",
                "icu_beds",
                "oxygen",
                "doctors",
                "nurses",
                "ambulances",
            )
        )


def _truth_rows(kind: str, frame: pl.DataFrame, on: dt.date) -> list[dict[str, Any]]:
    day = on.isoformat()
    rows = []
    for r in frame.iter_rows(named=True):
        item = r.get("item")
        # Stock and clinics are per facility; fever clinics per township, ICUs per county.
        key = r["facility"] if item or kind == NO_DOCTOR else r["area"]
        ident = f"{kind}:{key}:{item}:{day}" if item else f"{kind}:{key}:{day}"
        rows.append({"id": ident, "kind": kind, **r, "date": day})
    return rows


def build_resources(region: Region, seed: int, *, on: dt.date) -> Resources:
    """Facilities with capacity, stock with injected gaps and the truth (module doc)."""
    rng = np.random.default_rng([seed, 14])
    areas = region.areas
    pop = dict(zip(areas["code"].to_list(), areas["population"].to_list(), strict=True))
    remote_codes = set(areas.filter(pl.col("key_areas") != "")["code"].to_list())
    counties = areas.filter(pl.col("level") == 3).sort("code")
    base = region.facilities
    hospitals = pl.DataFrame(
        {
            "code": "ch-" + counties["code"],
            "name": counties["name"] + "人民医院",
            "kind": pl.Series(["county_hospital"] * counties.height),
            "area_code": counties["code"],
            "capacity": pl.Series(rng.integers(200, 601, counties.height), dtype=pl.Int64),
            "pulse_oximeters": pl.Series(rng.integers(60, 200, counties.height), dtype=pl.Int64),
            "oxygen_concentrators": pl.Series(rng.integers(5, 20, counties.height), dtype=pl.Int64),
        }
    )
    fac = pl.concat([base, hospitals]).sort("code")
    n = fac.height
    kind = fac["kind"].to_numpy()
    area_code = fac["area_code"].to_list()
    served = np.array(
        [
            int(cap) if k == "nursing_home" else int(pop.get(a) or 0)
            for k, a, cap in zip(kind, area_code, fac["capacity"].to_list(), strict=True)
        ],
        dtype=np.int64,
    )
    facilities = fac.select("code", "name", "kind", "area_code").with_columns(
        pl.Series("population_served", served, dtype=pl.Int64)
    )
    thc = kind == "township_health_centre"
    vc = kind == "village_clinic"
    ch = kind == "county_hospital"
    nh = kind == "nursing_home"
    remote = np.array([a in remote_codes for a in area_code])

    # --- capacity now (``on``) and four weeks before --------------------------------------------
    no_fever = thc & (rng.random(n) < P_NO_FEVER_CLINIC)
    if thc.any() and not no_fever.any():  # every region shows the gap at least once
        no_fever[rng.choice(np.flatnonzero(thc))] = True
    no_icu = ch & (rng.random(n) < P_NO_ICU)
    no_doctor = vc & (rng.random(n) < np.where(remote, P_NO_DOCTOR_REMOTE, P_NO_DOCTOR))
    if vc.any() and not no_doctor.any():
        no_doctor[rng.choice(np.flatnonzero(vc))] = True
    late_fever = thc & ~no_fever & (rng.random(n) < 0.15)  # set up since the earlier date
    beds = np.where(vc, 0, fac["capacity"].fill_null(0).to_numpy()).astype(np.int64)
    doctors = np.select(
        [thc, vc, ch, nh],
        [
            rng.integers(6, 31, n),
            rng.integers(1, 4, n),
            rng.integers(60, 250, n),
            rng.integers(0, 3, n),
        ],
    ).astype(np.int64)
    doctors[no_doctor] = 0
    nurses = np.select(
        [thc, vc, ch, nh],
        [
            rng.integers(8, 40, n),
            rng.integers(0, 2, n),
            rng.integers(100, 400, n),
            rng.integers(1, 6, n),
        ],
    ).astype(np.int64)
    icu = np.where(ch & ~no_icu, rng.integers(6, 31, n), 0).astype(np.int64)
    fever_now = (thc & ~no_fever) | ch
    hours = np.where(fever_now, np.where(rng.random(n) < 0.7, 24, rng.integers(8, 13, n)), 0)
    ambulances = np.select([thc, ch], [rng.integers(1, 4, n), rng.integers(5, 13, n)], 0)
    oxygen = thc | ch | (nh & (rng.random(n) < 0.6))

    def capacity_frame(
        as_of: dt.date, fever: npt.NDArray[np.bool_], docs: IntArray
    ) -> pl.DataFrame:
        return pl.DataFrame(
            {
                "code": fac["code"],
                "as_of": pl.Series([as_of] * n, dtype=pl.Date),
                "fever_clinic": pl.Series(fever, dtype=pl.Boolean),
                "fever_clinic_hours": pl.Series(np.where(fever, hours, 0), dtype=pl.Int64),
                "beds": pl.Series(beds, dtype=pl.Int64),
                "icu_beds": pl.Series(icu, dtype=pl.Int64),
                "oxygen": pl.Series(oxygen, dtype=pl.Boolean),
                "doctors": pl.Series(docs, dtype=pl.Int64),
                "nurses": pl.Series(nurses, dtype=pl.Int64),
                "ambulances": pl.Series(ambulances, dtype=pl.Int64),
            }
        )

    before = on - dt.timedelta(days=CAPACITY_HISTORY_DAYS)
    docs_before = np.where(no_doctor, 1, doctors)  # the clinic's doctor left since
    capacity = pl.concat(
        [
            capacity_frame(before, fever_now & ~late_fever, docs_before),
            capacity_frame(on, fever_now, doctors),
        ]
    )

    # --- stock -----------------------------------------------------------------------------------
    frames = []
    truth: list[dict[str, Any]] = []
    codes = fac["code"].to_numpy()
    areas_np = np.array(area_code)
    prev_day = on - dt.timedelta(days=REPORT_EVERY)

    def add(mask: npt.NDArray[np.bool_], item: str, now: IntArray, issued: IntArray) -> None:
        idx = np.flatnonzero(mask)
        if not idx.size:
            return
        got = rng.integers(0, issued[idx] + 1)
        prev = now[idx] + issued[idx] - got
        received_prev = rng.integers(0, issued[idx] + 1)
        for day, on_hand, received in ((prev_day, prev, received_prev), (on, now[idx], got)):
            frames.append(
                pl.DataFrame(
                    {
                        "facility_code": codes[idx],
                        "item": [item] * idx.size,
                        "date": pl.Series([day] * idx.size, dtype=pl.Date),
                        "on_hand": pl.Series(on_hand, dtype=pl.Int64),
                        "received": pl.Series(received, dtype=pl.Int64),
                        "issued": pl.Series(issued[idx], dtype=pl.Int64),
                    }
                )
            )

    def record(kind_: str, mask: npt.NDArray[np.bool_], item: str) -> None:
        idx = np.flatnonzero(mask)
        frame = pl.DataFrame(
            {"facility": codes[idx], "area": areas_np[idx], "item": [item] * idx.size},
            schema={"facility": pl.String, "area": pl.String, "item": pl.String},
        )
        truth.extend(_truth_rows(kind_, frame, on))

    zero = np.zeros(n, dtype=np.int64)
    # Devices: the region's own counts (its short centres and clinics are the gaps).
    ox = fac["pulse_oximeters"].fill_null(0).to_numpy().astype(np.int64)
    conc = fac["oxygen_concentrators"].fill_null(0).to_numpy().astype(np.int64)
    add(np.ones(n, dtype=bool), "pulse_oximeter", ox, zero)
    add(thc | ch | nh | (conc > 0), "oxygen_concentrator", conc, zero)
    ox_min = np.select([thc, vc], [20, 2], 0)
    record(STOCK_OUT, (thc | vc) & (ox == 0), "pulse_oximeter")
    record(BELOW_MINIMUM, (thc | vc) & (ox > 0) & (ox < ox_min), "pulse_oximeter")
    record(STOCK_OUT, thc & (conc == 0), "oxygen_concentrator")
    # Drugs and tests at health centres and clinics: 15 % of the population served.
    minimum = np.ceil(DRUG_SHARE * served - 1e-9).astype(np.int64)
    for item in ("antipyretic", "antigen_kit"):
        base_mask = (thc | vc) & (minimum > 0)
        u = rng.random(n)
        out = base_mask & (u < P_STOCK_OUT)
        below = base_mask & (u >= P_STOCK_OUT) & (u < P_STOCK_OUT + P_BELOW) & (minimum > 1)
        short = (
            vc
            & base_mask
            & (item == "antipyretic")
            & (u >= P_STOCK_OUT + P_BELOW)
            & (u < P_STOCK_OUT + P_BELOW + P_SHORT_DAYS)
        )
        normal = base_mask & ~out & ~below & ~short
        now = np.zeros(n, dtype=np.int64)
        now[normal] = np.maximum(np.ceil(minimum[normal] * rng.uniform(1.3, 2.5, normal.sum())), 3)
        now[below] = np.clip(
            np.floor(minimum[below] * rng.uniform(0.1, 0.9, below.sum())), 1, minimum[below] - 1
        )
        now[short] = np.ceil(minimum[short] * rng.uniform(1.0, 1.3, short.sum()))
        # Daily use: ample days of supply (≥ 30) except where short (4–10 days). A week's
        # issues are reported with each report; the consumption read back is their mean.
        days = np.where(short, rng.uniform(4, 10, n), rng.uniform(30, 60, n))
        daily = np.where(now > 0, now / days, served * 0.002)
        issued = np.maximum(np.rint(daily * REPORT_EVERY), 1).astype(np.int64)
        add(base_mask, item, now, issued)
        record(STOCK_OUT, out, item)
        record(BELOW_MINIMUM, below, item)
        record(SHORT_DAYS, short, item)
    packs = np.where(vc, rng.integers(0, 40, n), rng.integers(0, 200, n)).astype(np.int64)
    add(thc | vc, "health_pack", packs, rng.integers(0, 5, n).astype(np.int64))
    stock = pl.concat(frames).sort("facility_code", "item", "date")

    # --- capacity truth ---------------------------------------------------------------------------
    for kind_, mask in ((NO_FEVER_CLINIC, no_fever), (NO_ICU, no_icu), (NO_DOCTOR, no_doctor)):
        idx = np.flatnonzero(mask)
        frame = pl.DataFrame(
            {"facility": codes[idx], "area": areas_np[idx]},
            schema={"facility": pl.String, "area": pl.String},
        )
        truth.extend(_truth_rows(kind_, frame, on))
    return Resources(facilities=facilities, capacity=capacity, stock=stock, truth=truth, on=on)
