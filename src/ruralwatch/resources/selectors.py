"""Reads of the resources app: capacity on a date, coverage gaps, stock status against the
policy minimums, days of supply, and the allocation of a shipment.

Everything works on a subtree (``root_path``, the materialized path of an area) in a few
set-based queries; polars does the per-facility arithmetic. Nothing here walks the tree.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

from ruralwatch.areas.models import Area
from ruralwatch.areas.selectors import subtree_sql
from ruralwatch.core import bulk
from ruralwatch.reporting.models import ReportValue
from ruralwatch.resources.models import (
    Capacity,
    Facility,
    FacilityKind,
    Item,
    MinimumRule,
    StockReport,
)

#: A stock report older than this is no longer the facility's stock (status ``no_report``).
STALE_DAYS = 28
#: Days over which issues are averaged into a daily consumption.
CONSUMPTION_DAYS = 14
#: Days of fever-clinic visits behind the assessed demand (and as many before, for the trend).
DEMAND_DAYS = 7
#: Days of supply an allocation aims at where no rule sets them.
TARGET_DAYS = 14.0
#: The statuses of a facility's item, worst first.
STOCK_OUT = "stock_out"
BELOW_MINIMUM = "below_minimum"
SHORT_DAYS = "short_days_of_supply"
NO_REPORT = "no_report"
OK = "ok"
NO_RULE = "no_rule"
GAP_STATUSES = (STOCK_OUT, BELOW_MINIMUM, SHORT_DAYS)
#: Coverage gaps.
NO_FEVER_CLINIC = "no_fever_clinic"
NO_ICU = "no_icu"
NO_DOCTOR = "clinic_without_doctor"
CAPACITY_GAPS = (NO_FEVER_CLINIC, NO_ICU, NO_DOCTOR)
#: Facilities that receive shipments.
RECIPIENT_KINDS = (FacilityKind.TOWNSHIP_HEALTH_CENTRE, FacilityKind.VILLAGE_CLINIC)
#: Weights of unmet need (docs/resources.md): 1 + red-tier persons per 100 served (capped)
#: + this × the 65+ share + urgency (1 − days of supply / TARGET_DAYS, at least 0).
WEIGHT_RED_CAP = 5.0
WEIGHT_65 = 5.0


def _t(name: type) -> str:
    return str(name._meta.db_table)  # type: ignore[attr-defined]


def facilities(root_path: str, on: dt.date) -> pl.DataFrame:
    """Active facilities under ``root_path`` with their area and the capacity that holds on
    ``on`` (the latest row on or before it; nulls where none)."""
    fac, area, cap = _t(Facility), _t(Area), _t(Capacity)
    sql = (
        f"SELECT f.code, f.name, f.kind, f.area_id, a.name, a.level, a.l3, a.l4, t.name, "
        f"COALESCE(f.population_served, a.population, 0), COALESCE(a.population_65plus, 0), "
        f"COALESCE(a.population, 0), CAST(c.as_of AS TEXT), "
        f"CASE WHEN c.fever_clinic THEN 1 ELSE 0 END, c.fever_clinic_hours, c.beds, "
        f"c.icu_beds, CASE WHEN c.oxygen THEN 1 ELSE 0 END, c.doctors, c.nurses, c.ambulances, "
        f"CASE WHEN c.id IS NULL THEN 0 ELSE 1 END "
        f"FROM {fac} f JOIN {area} a ON a.code = f.area_id "
        f"LEFT JOIN {area} t ON t.code = a.l4 "
        f"LEFT JOIN (SELECT facility_id, MAX(as_of) AS as_of FROM {cap} WHERE as_of <= %s "
        f"GROUP BY facility_id) m ON m.facility_id = f.code "
        f"LEFT JOIN {cap} c ON c.facility_id = f.code AND c.as_of = m.as_of "
        f"WHERE f.active AND a.path LIKE %s ORDER BY f.code"
    )
    schema: dict[str, Any] = {
        "code": pl.String,
        "name": pl.String,
        "kind": pl.String,
        "area": pl.String,
        "area_name": pl.String,
        "level": pl.Int64,
        "county": pl.String,
        "township": pl.String,
        "township_name": pl.String,
        "population_served": pl.Int64,
        "area_65plus": pl.Int64,
        "area_population": pl.Int64,
        "as_of": pl.String,
        "fever_clinic": pl.Int64,
        "fever_clinic_hours": pl.Int64,
        "beds": pl.Int64,
        "icu_beds": pl.Int64,
        "oxygen": pl.Int64,
        "doctors": pl.Int64,
        "nurses": pl.Int64,
        "ambulances": pl.Int64,
        "has_capacity": pl.Int64,
    }
    frame = bulk.fetch_frame(sql, [on.isoformat(), root_path + "%"], schema)
    return frame.with_columns(
        pl.col("as_of").cast(pl.String).str.slice(0, 10).str.to_date(strict=False),
        pl.col("fever_clinic").cast(pl.Boolean),
        pl.col("oxygen").cast(pl.Boolean),
        pl.col("has_capacity").cast(pl.Boolean),
    )


def capacity_gaps(
    root_path: str, on: dt.date, frame: pl.DataFrame | None = None
) -> list[dict[str, Any]]:
    """Coverage gaps on ``on``: townships whose health centres (registered, capacity known)
    have no fever clinic; counties whose county hospitals have no ICU bed; village clinics
    without a doctor. An area with no facility (or no capacity) registered is not a gap: its
    registry is missing, which :func:`resources_summary` counts."""
    f = facilities(root_path, on) if frame is None else frame
    known = f.filter(pl.col("has_capacity"))
    thc = (
        known.filter(pl.col("kind") == FacilityKind.TOWNSHIP_HEALTH_CENTRE)
        .group_by("area", "area_name")
        .agg(
            pl.col("fever_clinic").any().alias("ok"),
            pl.col("code").first().alias("facility"),
            pl.col("name").first().alias("facility_name"),
        )
        .filter(~pl.col("ok"))
        .with_columns(pl.lit(NO_FEVER_CLINIC).alias("kind"))
    )
    icu = (
        known.filter(pl.col("kind") == FacilityKind.COUNTY_HOSPITAL)
        .group_by("area", "area_name")
        .agg(
            (pl.col("icu_beds").fill_null(0) > 0).any().alias("ok"),
            pl.col("code").first().alias("facility"),
            pl.col("name").first().alias("facility_name"),
        )
        .filter(~pl.col("ok"))
        .with_columns(pl.lit(NO_ICU).alias("kind"))
    )
    doctor = (
        known.filter((pl.col("kind") == FacilityKind.VILLAGE_CLINIC) & (pl.col("doctors") == 0))
        .select(
            "area",
            "area_name",
            pl.col("code").alias("facility"),
            pl.col("name").alias("facility_name"),
        )
        .with_columns(pl.lit(NO_DOCTOR).alias("kind"))
    )
    cols = ["kind", "area", "area_name", "facility", "facility_name"]
    out = pl.concat([thc.select(cols), icu.select(cols), doctor.select(cols)])
    return out.sort("kind", "area", "facility").to_dicts()


def _rules() -> pl.DataFrame:
    rows = list(
        MinimumRule.objects.filter(active=True).values_list(
            "item_id", "facility_kind", "units", "population_share", "days"
        )
    )
    return pl.DataFrame(
        rows,
        schema={
            "item": pl.String,
            "kind": pl.String,
            "rule_units": pl.Int64,
            "rule_share": pl.Float64,
            "rule_days": pl.Float64,
        },
        orient="row",
    )


def _items() -> pl.DataFrame:
    rows = list(Item.objects.values_list("code", "consumable", "per_visit", "pack_size", "volume"))
    return pl.DataFrame(
        rows,
        schema={
            "item": pl.String,
            "consumable": pl.Boolean,
            "per_visit": pl.Float64,
            "pack_size": pl.Int64,
            "volume": pl.Float64,
        },
        orient="row",
    )


def _stock(root_path: str, on: dt.date) -> pl.DataFrame:
    """Per facility and item: the latest report within ``STALE_DAYS`` and the mean daily
    issues over the last ``CONSUMPTION_DAYS`` days."""
    st, fac, area = _t(StockReport), _t(Facility), _t(Area)
    since = on - dt.timedelta(days=STALE_DAYS - 1)
    sql = (
        f"SELECT s.facility_id, s.item_id, CAST(s.date AS TEXT), s.on_hand, s.issued FROM {st} s "
        f"JOIN {fac} f ON f.code = s.facility_id JOIN {area} a ON a.code = f.area_id "
        f"WHERE s.date BETWEEN %s AND %s AND a.path LIKE %s"
    )
    schema: dict[str, Any] = {
        "code": pl.String,
        "item": pl.String,
        "date": pl.String,
        "on_hand": pl.Int64,
        "issued": pl.Int64,
    }
    raw = bulk.fetch_frame(sql, [since.isoformat(), on.isoformat(), root_path + "%"], schema)
    raw = raw.with_columns(pl.col("date").cast(pl.String).str.slice(0, 10).str.to_date())
    window = on - dt.timedelta(days=CONSUMPTION_DAYS)
    return raw.group_by("code", "item").agg(
        pl.col("on_hand").sort_by("date").last(),
        pl.col("date").max().alias("reported"),
        (pl.col("issued").filter(pl.col("date") > window).sum() / CONSUMPTION_DAYS).alias(
            "consumption"
        ),
    )


_NO_DEMAND = pl.DataFrame(
    schema={"area": pl.String, "visits_per_day": pl.Float64, "trend": pl.Float64}
)


def _demand(root_path: str, on: dt.date) -> pl.DataFrame:
    """Fever-clinic visits per village and per township: the daily mean of the last
    ``DEMAND_DAYS`` days and the trend (last days / the days before, bounded to ½…2)."""
    rv, area = _t(ReportValue), _t(Area)
    start = on - dt.timedelta(days=2 * DEMAND_DAYS - 1)
    split = on - dt.timedelta(days=DEMAND_DAYS - 1)
    # the subtree's codes as a range of the values' unique key: a province's panel read the
    # whole national table without it (areas.selectors.code_range)
    under, bounds = subtree_sql(root_path, "a", "v.area_id")
    sql = (
        f"SELECT a.code, a.l4, SUM(CASE WHEN v.date >= %s THEN v.value ELSE 0 END), "
        f"SUM(CASE WHEN v.date < %s THEN v.value ELSE 0 END) FROM {rv} v "
        f"JOIN {area} a ON a.code = v.area_id WHERE v.indicator_id = 'fever_visits' "
        f"AND v.date BETWEEN %s AND %s{under} GROUP BY a.code, a.l4"
    )
    schema: dict[str, Any] = {
        "area": pl.String,
        "township": pl.String,
        "last": pl.Float64,
        "before": pl.Float64,
    }
    v = bulk.fetch_frame(
        sql,
        [split.isoformat(), split.isoformat(), start.isoformat(), on.isoformat(), *bounds],
        schema,
    )
    t = v.group_by("township").agg(pl.col("last").sum(), pl.col("before").sum())
    both = pl.concat([v.drop("township"), t.rename({"township": "area"})])
    return both.with_columns(
        (pl.col("last") / DEMAND_DAYS).alias("visits_per_day"),
        ((pl.col("last") + 1) / (pl.col("before") + 1)).clip(0.5, 2.0).alias("trend"),
    ).select("area", "visits_per_day", "trend")


def _red(root_path: str, on: dt.date) -> pl.DataFrame:
    """Red-tier persons per village (the key-group indicator ``kg_red`` of its latest date
    on or before ``on``)."""
    rv, area = _t(ReportValue), _t(Area)
    sql = (
        f"SELECT v.area_id, v.value FROM {rv} v JOIN {area} a ON a.code = v.area_id "
        f"WHERE v.indicator_id = 'kg_red' AND a.path LIKE %s AND v.date = "
        f"(SELECT MAX(w.date) FROM {rv} w WHERE w.indicator_id = 'kg_red' AND w.date <= %s)"
    )
    return bulk.fetch_frame(
        sql, [root_path + "%", on.isoformat()], {"area": pl.String, "red": pl.Float64}
    )


def stock_status(
    root_path: str, on: dt.date, fac: pl.DataFrame | None = None, *, demand: bool = True
) -> pl.DataFrame:
    """Every (facility, item) with a rule or a report under ``root_path`` on ``on``: stock on
    hand, the minimum it must hold, daily consumption and assessed demand, days of supply
    from each, and the status (stock-out, below the minimum, short of days, no report, ok,
    no rule). The status does not depend on the demand: a caller that shows only statuses and
    days of supply by consumption (the summary, the briefing, the stock tasks) passes
    ``demand=False`` and gets nulls for ``demand``, ``trend`` and ``days_demand``, without the
    read of the clinics' visits (with a clinic in every village, every village's values)."""
    f = facilities(root_path, on) if fac is None else fac
    rules = _rules()
    items = _items()
    stock = _stock(root_path, on)
    pairs = (
        f.select("code", "kind")
        .join(rules.select("kind", "item"), on="kind", how="inner")
        .select("code", "item")
    )
    keys = pl.concat([pairs, stock.select("code", "item")]).unique()
    # Demand only where a facility has a rule or a report: without any, the read of every
    # village's fever-clinic visits under the root was for nothing (16 s on the national
    # benchmark, which registers no facilities: the cycle's stock plan asks for it daily).
    visits = _demand(root_path, on) if keys.height and demand else _NO_DEMAND
    out = (
        keys.join(f, on="code", how="left")
        .join(rules, on=["item", "kind"], how="left")
        .join(items, on="item", how="left")
        .join(stock, on=["code", "item"], how="left")
        .with_columns(
            pl.when(pl.col("kind") == FacilityKind.TOWNSHIP_HEALTH_CENTRE)
            .then(pl.col("area"))
            .when(pl.col("kind") == FacilityKind.VILLAGE_CLINIC)
            .then(pl.col("area"))
            .otherwise(None)
            .alias("demand_area")
        )
        .join(visits.rename({"area": "demand_area"}), on="demand_area", how="left")
    )
    has_rule = (
        pl.col("rule_units").is_not_null()
        | pl.col("rule_share").is_not_null()
        | pl.col("rule_days").is_not_null()
    )
    static = pl.max_horizontal(
        pl.col("rule_units").fill_null(0),
        (pl.col("rule_share").fill_null(0.0) * pl.col("population_served") - 1e-9)
        .ceil()
        .cast(pl.Int64),
    )
    demand_per_day = pl.when(pl.col("consumable") & (pl.col("per_visit") > 0)).then(
        pl.col("per_visit") * pl.col("visits_per_day") * pl.col("trend")
    )
    out = out.with_columns(
        static.alias("minimum"),
        demand_per_day.alias("demand"),
        has_rule.alias("has_rule"),
    ).with_columns(
        pl.when(pl.col("consumption") > 0)
        .then(pl.col("on_hand") / pl.col("consumption"))
        .alias("days_consumption"),
        pl.when(pl.col("demand") > 0)
        .then(pl.col("on_hand") / pl.col("demand"))
        .alias("days_demand"),
    )
    need_days = pl.col("rule_days").is_not_null() & (
        pl.col("on_hand") < pl.col("rule_days") * pl.col("consumption").fill_null(0)
    )
    status = (
        pl.when(pl.col("on_hand").is_null())
        .then(pl.lit(NO_REPORT))
        .when(~pl.col("has_rule"))
        .then(pl.lit(NO_RULE))
        .when(
            (pl.col("on_hand") == 0)
            & (
                (pl.col("minimum") > 0)
                | (pl.col("rule_days").fill_null(0) * pl.col("consumption").fill_null(0) > 0)
            )
        )
        .then(pl.lit(STOCK_OUT))
        .when(pl.col("on_hand") < pl.col("minimum"))
        .then(pl.lit(BELOW_MINIMUM))
        .when(need_days)
        .then(pl.lit(SHORT_DAYS))
        .otherwise(pl.lit(OK))
    )
    out = out.with_columns(status.alias("status")).with_columns(
        pl.when((pl.col("status") == NO_REPORT) & ~pl.col("has_rule"))
        .then(pl.lit(NO_RULE))
        .otherwise(pl.col("status"))
        .alias("status")
    )
    return out.select(
        "code",
        "name",
        "kind",
        "area",
        "area_name",
        "county",
        "township",
        "township_name",
        "population_served",
        "area_65plus",
        "item",
        "on_hand",
        "reported",
        "minimum",
        "rule_days",
        "consumption",
        "demand",
        "trend",
        "days_consumption",
        "days_demand",
        "status",
        "pack_size",
        "volume",
    ).sort("code", "item")


def stock_gaps(root_path: str, on: dt.date, *, demand: bool = True) -> pl.DataFrame:
    """The (facility, item) rows that are out of stock, below the minimum or short of days
    (``demand`` as :func:`stock_status`'s)."""
    status = stock_status(root_path, on, demand=demand)
    return status.filter(pl.col("status").is_in(GAP_STATUSES))


def resources_summary(root_path: str, on: dt.date) -> dict[str, Any]:
    """Counts for a page header, the briefing and the demo: facilities by kind, capacity gaps
    by kind, stock statuses by item, and the distribution of days of supply."""
    fac = facilities(root_path, on)
    status = stock_status(root_path, on, fac, demand=False)
    return _summary(on, fac, status, capacity_gaps(root_path, on, fac))


def _summary(
    on: dt.date, fac: pl.DataFrame, status: pl.DataFrame, gaps: list[dict[str, Any]]
) -> dict[str, Any]:
    by_item: dict[str, dict[str, int]] = {}
    for item, st, n in status.group_by("item", "status").len().sort("item", "status").iter_rows():
        by_item.setdefault(item, {})[st] = int(n)
    days = status.filter(pl.col("days_consumption").is_not_null())["days_consumption"]
    bins = [0, 7, 14, 30, 60]
    labels = ["<7", "7-14", "14-30", "30-60", "60+"]
    dist = {lab: 0 for lab in labels}
    if days.len():
        idx = np.searchsorted(np.array(bins[1:]), days.to_numpy(), side="right")
        for i, c in zip(*np.unique(idx, return_counts=True), strict=True):
            dist[labels[int(i)]] = int(c)
    return {
        "date": on.isoformat(),
        "facilities": {k: int(n) for k, n in fac.group_by("kind").len().sort("kind").iter_rows()},
        "without_capacity": int((~fac["has_capacity"]).sum()) if fac.height else 0,
        "capacity_gaps": {k: sum(1 for g in gaps if g["kind"] == k) for k in CAPACITY_GAPS},
        "stock_outs": int((status["status"] == STOCK_OUT).sum()),
        "below_minimum_by_item": {
            item: by.get(STOCK_OUT, 0) + by.get(BELOW_MINIMUM, 0) + by.get(SHORT_DAYS, 0)
            for item, by in by_item.items()
        },
        "status_by_item": by_item,
        "days_of_supply": {
            "median": float(days.median()) if days.len() else None,  # type: ignore[arg-type]
            "distribution": dist,
        },
    }


#: Rows of the briefing's list of facilities out of stock.
BRIEFING_ROWS = 4


def briefing_panel(root_path: str, on: dt.date, language: str) -> dict[str, Any]:
    """The briefing's resources panel under ``root_path`` on ``on``: the summary counts
    (:func:`resources_summary`), per item the facilities below their minimum, the stock-outs
    and the units short of the minimums (what a shipment must at least bring, the
    allocation's first stage), coverage gaps by kind, and the facilities out of stock of the
    most items (at most :data:`BRIEFING_ROWS`). Names in ``language``."""
    fac = facilities(root_path, on)
    status = stock_status(root_path, on, fac, demand=False)
    gaps = capacity_gaps(root_path, on, fac)
    summary = _summary(on, fac, status, gaps)
    names = {i.code: i for i in Item.objects.all()}
    short = (pl.col("minimum").fill_null(0) - pl.col("on_hand").fill_null(0)).clip(0)
    per_item = (
        status.filter(pl.col("status").is_in(GAP_STATUSES))
        .group_by("item")
        .agg(
            pl.len().alias("below"),
            (pl.col("status") == STOCK_OUT).sum().alias("stock_outs"),
            short.sum().alias("short_units"),
        )
        .sort("item")
    )
    items = [
        {
            "item": r["item"],
            "name": names[r["item"]].name(language) if r["item"] in names else r["item"],
            "unit": names[r["item"]].unit(language) if r["item"] in names else "",
            "below": int(r["below"]),
            "stock_outs": int(r["stock_outs"]),
            "short_units": int(r["short_units"] or 0),
            "order": names[r["item"]].order if r["item"] in names else 0,
        }
        for r in per_item.iter_rows(named=True)
    ]
    items.sort(key=lambda r: (r["order"], r["item"]))
    outs = (
        status.filter(pl.col("status") == STOCK_OUT)
        .group_by("code", "name", "area_name")
        .agg(pl.col("item").sort())
        .sort(pl.col("item").list.len(), "code", descending=[True, False])
    )
    out_rows = [
        {
            "code": r["code"],
            "name": r["name"],
            "area_name": r["area_name"],
            "items": [names[i].name(language) if i in names else i for i in r["item"]],
        }
        for r in outs.head(BRIEFING_ROWS).iter_rows(named=True)
    ]
    return {
        **summary,
        "items": items,
        "gaps": [
            {"kind": k, "label": status_label(k), "n": summary["capacity_gaps"][k]}
            for k in CAPACITY_GAPS
        ],
        "gap_total": len(gaps),
        "out_facilities": out_rows,
        "out_facilities_total": outs.height,
        "facility_total": fac.height,
    }


# --- allocation ---------------------------------------------------------------------------------


@dataclass
class Allocation:
    """A shipment allocated under an area: one row per recipient and item, and the totals."""

    area: str
    on: dt.date
    mode: str
    supply: dict[str, int]
    rows: list[dict[str, Any]]
    totals: dict[str, Any]
    transport: float | None = None
    items: list[str] = field(default_factory=list)


def allocation_inputs(
    root_path: str,
    on: dt.date,
    items: list[str],
    *,
    group_level: int = 3,
) -> pl.DataFrame:
    """One row per recipient (health centre, village clinic) and item under ``root_path``:
    what it lacks to its minimum, its need (the target less what it holds) and the weight of
    a unit of its unmet need (docs/resources.md). ``group_level`` names the level whose
    shipment supplies it (the county by default)."""
    fac = facilities(root_path, on).filter(pl.col("kind").is_in([k.value for k in RECIPIENT_KINDS]))
    status = stock_status(root_path, on, fac).filter(pl.col("item").is_in(items))
    grid = fac.select("code").join(pl.DataFrame({"item": items}), how="cross")
    red = _red(root_path, on)
    rows = (
        grid.join(
            status.drop(
                "name",
                "kind",
                "area",
                "area_name",
                "county",
                "township",
                "township_name",
                "population_served",
                "area_65plus",
                "pack_size",
                "volume",
            ),
            on=["code", "item"],
            how="left",
        )
        .join(
            fac.select(
                "code",
                "name",
                "kind",
                "area",
                "area_name",
                "county",
                "township",
                "township_name",
                "population_served",
                "area_65plus",
                "area_population",
            ),
            on="code",
        )
        .join(red, on="area", how="left")
    )
    pace = pl.max_horizontal(pl.col("consumption").fill_null(0), pl.col("demand").fill_null(0))
    target_days = pl.col("rule_days").fill_null(TARGET_DAYS)
    # Health packs go to red-tier persons of the village (no rule sets them).
    packs_target = (
        pl.when((pl.col("item") == "health_pack") & (pl.col("kind") == FacilityKind.VILLAGE_CLINIC))
        .then(pl.col("red").fill_null(0))
        .otherwise(0)
    )
    target = pl.max_horizontal(
        pl.col("minimum").fill_null(0),
        (target_days * pace - 1e-9).ceil().cast(pl.Int64),
        packs_target.cast(pl.Int64),
    )
    have = pl.col("on_hand").fill_null(0)
    days = pl.min_horizontal(
        pl.col("days_consumption").fill_null(float("inf")),
        pl.col("days_demand").fill_null(float("inf")),
    )
    served = pl.col("population_served").cast(pl.Float64)
    weight = (
        1.0
        + pl.when(served > 0)
        .then(100 * pl.col("red").fill_null(0) / served)
        .otherwise(0.0)
        .clip(0, WEIGHT_RED_CAP)
        + WEIGHT_65
        * pl.when(pl.col("area_population") > 0)
        .then(pl.col("area_65plus") / pl.col("area_population"))
        .otherwise(0.0)
        .clip(0, 1)
        + (1 - days / TARGET_DAYS).clip(0, 1)
    )
    group_col = {3: "county", 4: "township"}.get(group_level, "county")
    return rows.with_columns(
        (pl.col("minimum").fill_null(0) - have).clip(0).cast(pl.Int64).alias("short_of_minimum"),
        (target - have).clip(0).cast(pl.Int64).alias("need"),
        weight.alias("weight"),
        pl.col(group_col).alias("supply_group"),
        pl.col("item").replace_strict({c: i for i, c in enumerate(items)}).alias("item_order"),
    ).sort("township", "code", "item_order")


def allocate(
    area: Area,
    on: dt.date,
    supply: dict[str, int],
    *,
    mode: str = "weighted",
    transport: float | None = None,
) -> Allocation:
    """Allocate ``supply`` (units per item, arrived at ``area``) to the health centres and
    village clinics under it by :func:`ruralwatch.resources.allocation.solve`. ``transport``
    is the load one vehicle run to a township (its centre and clinics) can carry (in the
    items' volume units; ``None``: no limit)."""
    from ruralwatch.resources.allocation import AllocationProblem, solve

    items_meta = {i.code: i for i in Item.objects.filter(code__in=list(supply))}
    unknown = sorted(set(supply) - set(items_meta))
    if unknown:
        raise ValueError(f"unknown item(s): {', '.join(unknown)}")
    items = [c for c in sorted(items_meta, key=lambda c: (items_meta[c].order, c))]
    inputs = allocation_inputs(area.path, on, items)
    recipients = inputs.select("code").unique(maintain_order=True)["code"].to_list()
    n, k = len(recipients), len(items)
    wide = {
        col: inputs[col].to_numpy().reshape(n, k) if n else np.zeros((0, k))
        for col in ("short_of_minimum", "need", "weight")
    }
    first = inputs.unique("code", keep="first", maintain_order=True)
    townships = first["township"].fill_null("").to_list()
    t_codes = sorted(set(townships))
    t_index = {c: i for i, c in enumerate(t_codes)}
    problem = AllocationProblem(
        minimum=wide["short_of_minimum"].astype(np.int64),
        need=np.maximum(wide["need"], wide["short_of_minimum"]).astype(np.int64),
        weight=wide["weight"].astype(np.float64),
        supply_group=np.zeros(n, dtype=np.int64),
        supply=np.array([[int(supply[c]) for c in items]], dtype=np.int64),
        pack=np.array([items_meta[c].pack_size for c in items], dtype=np.int64),
        volume=np.array([items_meta[c].volume for c in items], dtype=np.float64),
        transport_group=np.array([t_index[t] for t in townships], dtype=np.int64),
        transport=np.full(len(t_codes), math.inf if transport is None else float(transport)),
    )
    result = solve(problem, "maxmin" if mode == "maxmin" else "weighted")
    flat_units = result.units.reshape(-1)
    flat_packs = result.packs.reshape(-1)
    flat_binding = result.binding.reshape(-1)
    table = inputs.with_columns(
        pl.Series("packs", flat_packs, dtype=pl.Int64),
        pl.Series("units", flat_units, dtype=pl.Int64),
        pl.Series("binding", flat_binding.astype(str), dtype=pl.String),
    ).with_columns(
        pl.when(pl.col("need") > 0)
        .then(pl.min_horizontal(pl.col("units"), pl.col("need")) / pl.col("need"))
        .otherwise(None)
        .alias("fill_rate")
    )
    rows = table.select(
        "code",
        "name",
        "kind",
        "area",
        "area_name",
        "township",
        "township_name",
        "item",
        "on_hand",
        "minimum",
        "short_of_minimum",
        "need",
        "weight",
        "days_consumption",
        "days_demand",
        "packs",
        "units",
        "fill_rate",
        "binding",
    ).to_dicts()
    for r in rows:
        r["binding_label"] = binding_label(r["binding"])
    totals = {
        "recipients": n,
        "units": {c: int(result.units[:, j].sum()) for j, c in enumerate(items)},
        "need": {c: int(problem.need[:, j].sum()) for j, c in enumerate(items)},
        "fill_rate": {c: float(result.fill_rate[j]) for j, c in enumerate(items)},
        "minimum_covered": result.minimum_covered,
        "minimum_total": result.minimum_total,
        "objective": result.weighted_covered,
        "objective_max": result.weighted_total,
        "min_fill_rate": result.min_fill_rate,
        "mip_gap": result.mip_gap,
        "seconds": round(result.seconds, 3),
        "binding": {
            b: int((result.binding[problem.need > 0] == b).sum())
            for b in np.unique(result.binding[problem.need > 0]).tolist()
        },
    }
    return Allocation(
        area=area.code,
        on=on,
        mode=result.mode,
        supply=dict(supply),
        rows=rows,
        totals=totals,
        transport=transport,
        items=items,
    )


def binding_label(code: str) -> str:
    """What stopped an allocation, in the active language."""
    from django.utils.translation import gettext as _

    return {
        "need_met": _("need covered"),
        "no_need": _("nothing needed"),
        "supply": _("shipment used up"),
        "transport": _("vehicle run full"),
        "pack_size": _("whole packs only"),
    }.get(code, code)


def status_label(code: str) -> str:
    from django.utils.translation import gettext as _

    return {
        STOCK_OUT: _("out of stock"),
        BELOW_MINIMUM: _("below the minimum"),
        SHORT_DAYS: _("short of days of supply"),
        NO_REPORT: _("no recent report"),
        OK: _("at or above the minimum"),
        NO_RULE: _("no minimum set"),
        NO_FEVER_CLINIC: _("township without a fever clinic"),
        NO_ICU: _("county hospital without an ICU"),
        NO_DOCTOR: _("village clinic without a doctor"),
    }.get(code) or route_gap_label(code)


def task_sentences(source: str, ev: dict[str, Any], area_name: str) -> list[str]:
    """What made a stock or capacity task (``dispatch`` shows it on the task page), in the
    active language: the facility, each item short with its stock against the minimum, or the
    capacity it lacks."""
    from django.utils.translation import gettext as _

    facility = ev.get("facility_name") or ev.get("facility") or area_name
    if source == "capacity_gap":
        out = [
            _("%(area)s on %(date)s: %(gap)s (%(facility)s).")
            % {
                "area": area_name,
                "date": ev.get("date", ""),
                "gap": status_label(str(ev.get("gap", ""))),
                "facility": facility,
            }
        ]
        if ev.get("route_from"):
            out.append(
                _(
                    "On the referral route from %(source)s: %(received)s received over "
                    "%(days)s days against %(capacity)s."
                )
                % {
                    "source": ev["route_from"],
                    "received": _count(ev.get("received")),
                    "days": ev.get("days", STAY_DAYS),
                    "capacity": _count(ev.get("capacity")),
                }
            )
        return out
    from django.utils.translation import get_language

    codes = [r["item"] for r in ev.get("items", [])]
    names = {i.code: i for i in Item.objects.filter(code__in=codes)}
    language = get_language() or "zh-hans"
    out = [_("%(facility)s on %(date)s:") % {"facility": facility, "date": ev.get("date", "")}]
    for row in ev.get("items", []):
        item = names.get(row["item"])
        days = row.get("days_of_supply")
        out.append(
            _(
                "%(item)s: %(status)s, %(on_hand)s in stock against a minimum of %(minimum)s"
                "%(days)s."
            )
            % {
                "item": item.name(language) if item else row["item"],
                "status": status_label(str(row.get("status", ""))),
                "on_hand": _count(row.get("on_hand")),
                "minimum": _count(row.get("minimum")),
                "days": ""
                if days is None
                else _(", %(days)s days of supply (%(required)s required)")
                % {"days": days, "required": _count(row.get("days_required"))},
            }
        )
    return out


def _count(value: Any) -> str:
    if value is None:
        return "—"
    number = float(value)
    return f"{number:,.0f}" if number.is_integer() else f"{number:,.1f}"


def allocation_columns() -> list[Any]:
    """The dispatch list's columns (labels in the active language), for XLSX and CSV."""
    from django.utils.translation import gettext as _

    from ruralwatch.core.export import Column

    return [
        Column("township_name", _("Township")),
        Column("code", _("Facility code")),
        Column("name", _("Facility")),
        Column("item", _("Item")),
        Column("on_hand", _("On hand")),
        Column("short_of_minimum", _("Short of the minimum")),
        Column("need", _("Need")),
        Column("packs", _("Packs")),
        Column("units", _("Units")),
        Column("fill_rate", _("Fill rate"), number_format="0.0%"),
        Column("binding_label", _("Stopped by")),
    ]


def latest_stock_date(root_path: str) -> dt.date:
    """The date of the latest stock report under ``root_path`` (the page's default date: the
    data's, not the wall clock's); today when there is none."""
    from django.db.models import Max
    from django.utils import timezone

    latest = StockReport.objects.filter(facility__area__path__startswith=root_path).aggregate(
        m=Max("date")
    )["m"]
    return latest if latest is not None else timezone.localdate()


def stock_reports(
    root_path: str,
    start: dt.date,
    end: dt.date,
    *,
    facility: str | None = None,
    item: str | None = None,
) -> Any:
    """Stock reports of facilities under ``root_path`` dated ``start``…``end`` (newest first),
    optionally of one facility and one item, as dicts (the API's list)."""
    qs = StockReport.objects.filter(
        facility__area__path__startswith=root_path, date__gte=start, date__lte=end
    )
    if facility:
        qs = qs.filter(facility_id=facility)
    if item:
        qs = qs.filter(item_id=item)
    return qs.order_by("-date", "facility_id", "item_id").values(
        "facility_id",
        "facility__name",
        "facility__kind",
        "facility__area_id",
        "item_id",
        "date",
        "on_hand",
        "received",
        "issued",
    )


# --- the referral network (docs/resources.md, Referral network) ----------------------------------

#: Days of transfers counted against the beds of their receiving end: the assumed length of a
#: referred patient's stay, so that the patients received over these days approximate the beds
#: they occupy.
STAY_DAYS = 7
#: Gaps of the referral network.
UNPAIRED = "county_unpaired"
OVER_BEDS = "over_beds"
OVER_ICU = "over_icu"
OVER_RESERVED = "over_reserved_beds"
ROUTE_GAPS = (UNPAIRED, OVER_BEDS, OVER_ICU, OVER_RESERVED)
#: Each route gap's measure: (what the receiving end got, what it can take).
_GAP_MEASURE = {
    OVER_BEDS: ("load", "beds"),
    OVER_ICU: ("severe_load", "icu_beds"),
    OVER_RESERVED: ("county_load", "reserved_beds"),
}


def _pairings_on(root_path: str, on: dt.date) -> pl.DataFrame:
    """Pairings active on ``on`` of the counties under ``root_path`` (or of the county above
    it, for a township or village), with the hospital's name, grade and capacity."""
    from ruralwatch.resources.models import CountyPairing

    pair, fac, cap, area = _t(CountyPairing), _t(Facility), _t(Capacity), _t(Area)
    sql = (
        f"SELECT p.county_id, a.name, p.hospital_id, f.name, f.grade, p.reserved_beds, "
        f"CASE WHEN p.green_channel THEN 1 ELSE 0 END, CAST(p.since AS TEXT), c.beds, c.icu_beds "
        f"FROM {pair} p JOIN {area} a ON a.code = p.county_id "
        f"JOIN {fac} f ON f.code = p.hospital_id "
        f"LEFT JOIN (SELECT facility_id, MAX(as_of) AS as_of FROM {cap} WHERE as_of <= %s "
        f"GROUP BY facility_id) m ON m.facility_id = f.code "
        f"LEFT JOIN {cap} c ON c.facility_id = f.code AND c.as_of = m.as_of "
        f"WHERE p.since <= %s AND (p.until IS NULL OR p.until >= %s) "
        f"AND (a.path LIKE %s OR %s LIKE a.path || '%%') ORDER BY p.county_id, p.hospital_id"
    )
    day = on.isoformat()
    return bulk.fetch_frame(
        sql,
        [day, day, day, root_path + "%", root_path],
        {
            "county": pl.String,
            "county_name": pl.String,
            "hospital": pl.String,
            "hospital_name": pl.String,
            "grade": pl.Int64,
            "reserved_beds": pl.Int64,
            "green_channel": pl.Int64,
            "since": pl.String,
            "beds": pl.Int64,
            "icu_beds": pl.Int64,
        },
    ).with_columns(pl.col("green_channel").cast(pl.Boolean))


def _transfers(root_path: str, start: dt.date, end: dt.date) -> pl.DataFrame:
    """Transfers dated ``start``…``end`` summed per route, for the routes whose sender lies
    under ``root_path`` and for every route into a receiving end those routes reach (its
    load counts all its patients)."""
    from ruralwatch.resources.models import Transfer

    tr, fac, area = _t(Transfer), _t(Facility), _t(Area)
    sql = (
        f"SELECT t.source_id, t.target_id, s.area_id, sa.l3, "
        f"CASE WHEN sa.path LIKE %s THEN 1 ELSE 0 END, "
        f"SUM(t.patients), SUM(t.severe), SUM(t.green_channel) "
        f"FROM {tr} t JOIN {fac} s ON s.code = t.source_id JOIN {area} sa ON sa.code = s.area_id "
        f"WHERE t.date >= %s AND t.date <= %s AND t.target_id IN (SELECT t2.target_id FROM {tr} "
        f"t2 JOIN {fac} s2 ON s2.code = t2.source_id JOIN {area} a2 ON a2.code = s2.area_id "
        f"WHERE t2.date >= %s AND t2.date <= %s AND a2.path LIKE %s) "
        f"GROUP BY t.source_id, t.target_id, s.area_id, sa.l3, sa.path"
    )
    a, b, like = start.isoformat(), end.isoformat(), root_path + "%"
    return bulk.fetch_frame(
        sql,
        [like, a, b, a, b, like],
        {
            "source": pl.String,
            "target": pl.String,
            "source_area": pl.String,
            "source_county": pl.String,
            "inside": pl.Int64,
            "patients": pl.Int64,
            "severe": pl.Int64,
            "green_channel": pl.Int64,
        },
    ).with_columns(pl.col("inside").cast(pl.Boolean))


def _facility_names(codes: list[str], on: dt.date) -> pl.DataFrame:
    """Name, kind and the capacity on ``on`` of facilities by code (receiving ends may lie
    outside the subtree: a paired hospital in a city)."""
    rows: list[tuple[Any, ...]] = []
    for start in range(0, len(codes), 900):
        part = codes[start : start + 900]
        latest: dict[str, Any] = {}
        for code, beds, icu in (
            Capacity.objects.filter(facility_id__in=part, as_of__lte=on)
            .order_by("facility_id", "as_of")
            .values_list("facility_id", "beds", "icu_beds")
        ):
            latest[code] = (beds, icu)
        for code, name, kind in Facility.objects.filter(code__in=part).values_list(
            "code", "name", "kind"
        ):
            beds, icu = latest.get(code, (None, None))
            rows.append((code, name, kind, beds, icu))
    return pl.DataFrame(
        rows,
        schema={
            "code": pl.String,
            "name": pl.String,
            "kind": pl.String,
            "beds": pl.Int64,
            "icu_beds": pl.Int64,
        },
        orient="row",
    )


def referral_network(root_path: str, on: dt.date, *, days: int = STAY_DAYS) -> dict[str, Any]:
    """The referral network under ``root_path`` on ``on``: each county's pairings with urban
    hospitals; every route used in the ``days`` up to ``on`` with the patients, severe cases
    and green-channel patients it carried; each receiving end's load (all the patients it
    received over those days) against its beds, ICU beds (severe cases, county and urban
    hospitals) and, on a county's route to its paired hospital, the beds reserved for the
    county; and the gaps: counties without a pairing, and routes whose receiving end is over
    capacity."""
    start = on - dt.timedelta(days=days - 1)
    counties = list(
        Area.objects.filter(level=3)
        .filter(path__startswith=root_path)
        .order_by("code")
        .values_list("code", "name")
    )
    if not counties:  # a township or a village: the county above it
        above = Area.objects.filter(level=3)
        counties = [
            (c, n)
            for c, n, p in above.values_list("code", "name", "path")
            if root_path.startswith(p)
        ]
    pairings = _pairings_on(root_path, on)
    flows = _transfers(root_path, start, on)
    ends = _facility_names(
        sorted(set(flows["target"].to_list()) | set(flows["source"].to_list())), on
    )
    load = flows.group_by("target").agg(
        pl.col("patients").sum().alias("load"), pl.col("severe").sum().alias("severe_load")
    )
    from_county = flows.group_by("target", "source_county").agg(
        pl.col("patients").sum().alias("county_load")
    )
    reserved = pairings.select(
        pl.col("county").alias("source_county"),
        pl.col("hospital").alias("target"),
        "reserved_beds",
    )
    names = ends.select("code", "name", "kind")
    routes = (
        flows.filter(pl.col("inside"))
        .join(load, on="target", how="left")
        .join(from_county, on=["target", "source_county"], how="left")
        .join(reserved, on=["source_county", "target"], how="left")
        .join(
            names.rename({"code": "source", "name": "source_name", "kind": "source_kind"}),
            on="source",
        )
        .join(
            ends.rename({"code": "target", "name": "target_name", "kind": "target_kind"}),
            on="target",
        )
    )
    severe_end = pl.col("target_kind").is_in(
        [FacilityKind.COUNTY_HOSPITAL.value, FacilityKind.URBAN_HOSPITAL.value]
    )
    routes = (
        routes.with_columns(
            (pl.col("beds").is_not_null() & (pl.col("load") > pl.col("beds"))).alias(OVER_BEDS),
            (
                severe_end
                & (pl.col("severe_load") > 0)
                & (pl.col("severe_load") > pl.col("icu_beds").fill_null(0))
            ).alias(OVER_ICU),
            (
                pl.col("reserved_beds").is_not_null()
                & (pl.col("county_load") > pl.col("reserved_beds"))
            ).alias(OVER_RESERVED),
        )
        .with_columns(
            pl.any_horizontal(OVER_BEDS, OVER_ICU, OVER_RESERVED).alias("gap"),
        )
        .sort(["gap", "target", "source"], descending=[True, False, False])
    )
    paired = set(pairings["county"].to_list())
    unpaired = [{"county": c, "county_name": n} for c, n in counties if c not in paired]
    route_rows = routes.to_dicts()
    gaps = [
        {
            "kind": UNPAIRED,
            "area": u["county"],
            "county": u["county"],
            "county_name": u["county_name"],
        }
        for u in unpaired
    ] + [
        {
            "kind": k,
            "area": r["source_area"],
            "source": r["source"],
            "source_name": r["source_name"],
            "target": r["target"],
            "target_name": r["target_name"],
            # What the receiving end got over the days against what it can take.
            "received": r[_GAP_MEASURE[k][0]],
            "capacity": r[_GAP_MEASURE[k][1]] or 0,
        }
        for r in route_rows
        for k in (OVER_BEDS, OVER_ICU, OVER_RESERVED)
        if r[k]
    ]
    receiving = (
        routes.group_by(
            "target", "target_name", "target_kind", "beds", "icu_beds", "load", "severe_load"
        )
        .agg(pl.len().alias("routes"), pl.col("gap").any().alias("gap"))
        .sort(["gap", "load", "target"], descending=[True, True, False])  # same order each run
        .to_dicts()
    )
    return {
        "date": on.isoformat(),
        "start": start.isoformat(),
        "days": days,
        "counties": len(counties),
        "pairings": pairings.to_dicts(),
        "unpaired": unpaired,
        "routes": route_rows,
        "receiving": receiving,
        "gaps": gaps,
        "totals": {
            "patients": int(routes["patients"].sum() or 0),
            "severe": int(routes["severe"].sum() or 0),
            "green_channel": int(routes["green_channel"].sum() or 0),
            "routes": routes.height,
            "routes_over_capacity": int(routes["gap"].sum() or 0),
        },
    }


def route_gap_label(code: str) -> str:
    from django.utils.translation import gettext as _

    return {
        UNPAIRED: _("county without a paired urban hospital"),
        OVER_BEDS: _("receiving end over its beds"),
        OVER_ICU: _("receiving end over its ICU beds"),
        OVER_RESERVED: _("over the beds reserved for the county"),
    }.get(code, code)


def latest_transfer_date(root_path: str) -> dt.date:
    """The date of the latest transfer sent from under ``root_path`` (the referral page's
    default date); else the latest stock report's."""
    from django.db.models import Max

    from ruralwatch.resources.models import Transfer

    latest = Transfer.objects.filter(source__area__path__startswith=root_path).aggregate(
        m=Max("date")
    )["m"]
    return latest if latest is not None else latest_stock_date(root_path)


def route_columns() -> list[Any]:
    """The referral page's export of routes, with the page's labels."""
    from django.utils.translation import gettext as _

    from ruralwatch.core.export import Column

    return [
        Column("source_name", _("From")),
        Column("source_kind_label", _("Kind")),
        Column("target_name", _("To")),
        Column("target_kind_label", _("Kind")),
        Column("patients", _("Patients")),
        Column("severe", _("Of whom severe")),
        Column("green_channel", _("Green channel")),
        Column("load", _("Received over the days")),
        Column("beds", _("Beds")),
        Column("icu_beds", _("ICU beds")),
        Column("reserved_beds", _("Beds reserved for the county")),
        Column("gap_label", _("Gap")),
    ]
