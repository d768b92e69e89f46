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
    "ROUTE_KINDS",
    "STOCK_KINDS",
    "Referrals",
    "Resources",
    "build_referrals",
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
            _yes_no("fever_clinic"),
            _yes_no("oxygen"),
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


def _yes_no(column: str) -> pl.Expr:
    """A boolean column as the importers' yes/no cells."""
    return pl.col(column).replace_strict({True: "yes", False: "no"}, return_dtype=pl.String)


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


# --- the referral network: urban hospitals, pairings, transfers (issue 14, items 4 and 6) ------

#: Truth kind of a route whose receiving end is over capacity; the resources app names the
#: same gap ``over_reserved_beds`` (a county sent its paired hospital more patients than the
#: beds kept for it).
OVER_RESERVED = "over_reserved_beds"
ROUTE_KINDS = (OVER_RESERVED,)
#: Days of transfers before and including ``on``: the app's assumed length of stay, so that
#: every synthetic transfer counts in the load of its receiving end on ``on``.
REFERRAL_DAYS = 7
#: Days the pairings have run before ``on``.
PAIRED_DAYS = 90


@dataclass(frozen=True)
class Referrals:
    """Urban hospitals (grade 3, in the prefectures), each county's pairing with one of them,
    a week of transfers along the chain and the route gaps injected (the truth)."""

    hospitals: pl.DataFrame
    pairings: pl.DataFrame
    transfers: pl.DataFrame
    truth: list[dict[str, Any]]
    on: dt.date

    def pairings_frame(self) -> pl.DataFrame:
        """The pairings as the importer reads them."""
        return self.pairings.with_columns(
            pl.col("since").cast(pl.String),
            _yes_no("green_channel"),
        )

    def transfers_frame(self) -> pl.DataFrame:
        """The transfers as the importer reads them."""
        return self.transfers.with_columns(pl.col("date").cast(pl.String))


def _spread(rng: np.random.Generator, total: int, days: list[dt.date]) -> list[tuple[dt.date, int]]:
    """``total`` patients spread over ``days`` (the days with none are left out)."""
    counts = rng.multinomial(total, np.full(len(days), 1 / len(days)))
    return [(d, int(c)) for d, c in zip(days, counts, strict=True) if c > 0]


def build_referrals(region: Region, res: Resources, seed: int) -> Referrals:
    """One or two grade-3 urban hospitals per prefecture, each county paired with one, and
    transfers over :data:`REFERRAL_DAYS` days up to ``res.on``: village clinics to their
    township's health centre, centres to their county hospital, county hospitals to the paired
    hospital. Every receiving end gets at most half its beds (and severe cases within half its
    ICU beds) except one county's route to its paired hospital, which carries more patients
    than the beds reserved for the county: the one route gap, in the truth."""
    rng = np.random.default_rng([seed, 14, 4])
    on = res.on
    areas = region.areas
    prefectures = areas.filter(pl.col("level") == 2).sort("code")
    counties = areas.filter(pl.col("level") == 3).sort("code")
    rows: list[dict[str, Any]] = []
    for code, name in prefectures.select("code", "name").iter_rows():
        for k in range(1 if counties.height <= 2 else 2):
            rows.append(
                {
                    "code": f"uh-{code}-{k + 1}",
                    "name": name + ("第一人民医院", "中心医院")[k],
                    "kind": "urban_hospital",
                    "area_code": code,
                    "grade": "3",
                    "beds": int(rng.integers(1200, 3001)),
                    "icu_beds": int(rng.integers(40, 121)),
                    "doctors": int(rng.integers(400, 1200)),
                    "nurses": int(rng.integers(800, 2400)),
                    "ambulances": int(rng.integers(10, 31)),
                }
            )
    hospitals = pl.DataFrame(rows).with_columns(
        pl.lit(on.isoformat()).alias("as_of"),
        pl.lit("yes").alias("fever_clinic"),
        pl.lit(24, dtype=pl.Int64).alias("fever_clinic_hours"),
        pl.lit("yes").alias("oxygen"),
    )
    # Each county with a hospital of its prefecture, in turn.
    by_pref: dict[str, list[dict[str, Any]]] = {}
    for h in rows:
        by_pref.setdefault(h["area_code"], []).append(h)
    pairs = []
    for i, (county, pref) in enumerate(counties.select("code", "parent_code").iter_rows()):
        h = by_pref[pref][i % len(by_pref[pref])]
        pairs.append((county, h["code"], int(rng.integers(10, 31))))
    pairings = pl.DataFrame(
        {
            "county_code": [p[0] for p in pairs],
            "hospital_code": [p[1] for p in pairs],
            "since": pl.Series([on - dt.timedelta(days=PAIRED_DAYS)] * len(pairs), dtype=pl.Date),
            "reserved_beds": pl.Series([p[2] for p in pairs], dtype=pl.Int64),
            "green_channel": [True] * len(pairs),
        }
    )

    days = [on - dt.timedelta(days=d) for d in range(REFERRAL_DAYS - 1, -1, -1)]
    cap = res.capacity.filter(pl.col("as_of") == on).join(
        res.facilities.select("code", "kind", "area_code"), on="code"
    )
    township_of = dict(
        zip(areas["code"].to_list(), areas["parent_code"].to_list(), strict=True)
    )  # a village's township
    transfers: list[tuple[dt.date, str, str, int, int, int]] = []

    def send(source: str, target: str, total: int, severe: int) -> None:
        left = severe
        for day, n in _spread(rng, total, days):
            s = min(left, n)
            left -= s
            transfers.append((day, source, target, n, s, s))

    centres = cap.filter(pl.col("kind") == "township_health_centre")
    centre_of = {a: (c, b) for c, a, b in centres.select("code", "area_code", "beds").iter_rows()}
    clinics = cap.filter(pl.col("kind") == "village_clinic").sort("code")
    budget = {c: b // 2 for c, b in centre_of.values()}
    for code, village in clinics.select("code", "area_code").iter_rows():
        centre = centre_of.get(township_of[village])
        if centre is None or rng.random() >= 0.25:
            continue
        n = min(int(rng.integers(1, 4)), budget[centre[0]])
        if n > 0:
            budget[centre[0]] -= n
            send(code, centre[0], n, 0)
    hospital_of = {
        a: (c, b, icu)
        for c, a, b, icu in cap.filter(pl.col("kind") == "county_hospital")
        .select("code", "area_code", "beds", "icu_beds")
        .iter_rows()
    }
    beds_left = {c: b // 2 for c, b, _ in hospital_of.values()}
    icu_left = {c: icu // 2 for c, _, icu in hospital_of.values()}
    for centre, town in centres.sort("code").select("code", "area_code").iter_rows():
        ch = hospital_of.get(township_of[town])
        if ch is None:
            continue
        n = min(int(rng.integers(1, 6)), beds_left[ch[0]])
        severe = min(int(rng.integers(0, 2)), icu_left[ch[0]], n)
        if n > 0:
            beds_left[ch[0]] -= n
            icu_left[ch[0]] -= severe
            send(centre, ch[0], n, severe)
    over = int(rng.integers(len(pairs))) if pairs else -1
    truth: list[dict[str, Any]] = []
    urban_beds = {h["code"]: h["beds"] // 2 for h in rows}
    urban_icu = {h["code"]: h["icu_beds"] // 2 for h in rows}
    for i, (county, hospital, reserved) in enumerate(pairs):
        ch = hospital_of.get(county)
        if ch is None:
            continue
        n = reserved + int(rng.integers(2, 7)) if i == over else int(rng.integers(1, reserved))
        n = min(n, urban_beds[hospital])
        severe = min(n // 3, urban_icu[hospital])
        urban_beds[hospital] -= n
        urban_icu[hospital] -= severe
        send(ch[0], hospital, n, severe)
        if n > reserved:
            truth.append(
                {
                    "id": f"{OVER_RESERVED}:{ch[0]}>{hospital}:{on.isoformat()}",
                    "kind": OVER_RESERVED,
                    "facility": hospital,
                    "source": ch[0],
                    "area": county,
                    "received": n,
                    "capacity": reserved,
                    "date": on.isoformat(),
                }
            )
    frame = pl.DataFrame(
        transfers,
        schema={
            "date": pl.Date,
            "from_facility": pl.String,
            "to_facility": pl.String,
            "patients": pl.Int64,
            "severe": pl.Int64,
            "green_channel": pl.Int64,
        },
        orient="row",
    ).sort("date", "from_facility", "to_facility")
    return Referrals(hospitals=hospitals, pairings=pairings, transfers=frame, truth=truth, on=on)
