"""The resources' figures that do not use the assessed demand (the summary of the dashboard's
panels, the briefing, the stock tasks) skip its read (every village's fever-clinic visits under
the root: 700,000 values for a province) and stay those of the status with the demand; and the
demand, where it is read, is the villages' sums, per village and per township (checked against
the townships' roll-ups as well), on the synthetic region with its facilities and 14 days of
visits, some village-days and some villages missing."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pytest
from django.db.models import Sum
from django.utils import timezone

from ruralwatch.reporting.models import AggregateValue, ReportValue
from ruralwatch.reporting.services import roll_up
from ruralwatch.resources import selectors
from ruralwatch.synth.resources import Resources
from tests.resources.conftest import ON, province

DAYS = 2 * selectors.DEMAND_DAYS


def _visits(region) -> pl.DataFrame:
    """Fever-clinic visits of the region's villages for the demand's days and the day before
    them (which the demand must leave out); a village in ten never reports, and a tenth of the
    other village-days are missing (no row, not a zero)."""
    rng = np.random.default_rng(7)
    villages = region.areas.filter(pl.col("level") == 5)["code"].to_list()
    rows = []
    for i, code in enumerate(villages):
        if i % 10 == 3:
            continue
        for d in range(DAYS + 1):
            if rng.random() < 0.1:
                continue
            day = ON - dt.timedelta(days=d)
            rows.append((code, day, float(rng.poisson(3 + i % 7))))
    return pl.DataFrame(
        rows, schema={"area": pl.String, "date": pl.Date, "value": pl.Float64}, orient="row"
    )


def _expected(values: pl.DataFrame, region) -> pl.DataFrame:
    """(area, visits_per_day, trend) per village and per township, summed from the villages'
    values here (the definition the reads must meet)."""
    first = ON - dt.timedelta(days=DAYS - 1)
    split = ON - dt.timedelta(days=selectors.DEMAND_DAYS - 1)
    township = region.areas.filter(pl.col("level") == 5).select(
        pl.col("code").alias("area"), pl.col("parent_code").alias("township")
    )
    v = (
        values.filter(pl.col("date") >= first)
        .join(township, on="area")
        .with_columns(
            pl.when(pl.col("date") >= split).then(pl.col("value")).otherwise(0.0).alias("last"),
            pl.when(pl.col("date") < split).then(pl.col("value")).otherwise(0.0).alias("before"),
        )
    )
    sums = pl.concat(
        [
            v.group_by("area").agg(pl.col("last").sum(), pl.col("before").sum()),
            v.group_by(pl.col("township").alias("area")).agg(
                pl.col("last").sum(), pl.col("before").sum()
            ),
        ]
    )
    return sums.select(
        "area",
        (pl.col("last") / selectors.DEMAND_DAYS).alias("visits_per_day"),
        ((pl.col("last") + 1) / (pl.col("before") + 1)).clip(0.5, 2.0).alias("trend"),
    )


def test_summary_without_demand_and_demand_from_villages(loaded: Resources, region) -> None:
    values = _visits(region)
    now = timezone.now()
    ReportValue.objects.bulk_create(
        ReportValue(
            area_id=a, date=d, indicator_id="fever_visits", value=x, reporter="t", submitted_at=now
        )
        for a, d, x in values.iter_rows()
    )
    roll_up(ON - dt.timedelta(days=DAYS), ON)
    root = province(region)
    fac = selectors.facilities(root.path, ON)
    served = fac.filter(pl.col("kind").is_in(list(selectors.RECIPIENT_KINDS)))
    assert set(served["level"].to_list()) == {4, 5}  # townships' centres and village clinics

    got = selectors._demand(root.path, ON).sort("area")
    want = _expected(values, region).filter(pl.col("area").is_in(served["area"].implode()))
    assert want.height > 50  # most facilities' areas have visits; the missing village has none
    # every facility's area with visits, with the same numbers (counts: exact sums)
    assert (
        got.filter(pl.col("area").is_in(served["area"].implode()))
        .sort("area")
        .equals(want.sort("area"))
    )
    # the townships' roll-ups hold the same sums of the last days
    split = ON - dt.timedelta(days=selectors.DEMAND_DAYS - 1)
    rolled = dict(
        AggregateValue.objects.filter(indicator_id="fever_visits", level=4, date__range=(split, ON))
        .values("area_id")
        .annotate(s=Sum("value"))
        .values_list("area_id", "s")
    )
    townships = got.filter(pl.col("area").is_in(list(rolled)))
    assert townships.height == len(rolled) > 5
    for area, per_day in townships.select("area", "visits_per_day").iter_rows():
        assert per_day == pytest.approx(rolled[area] / selectors.DEMAND_DAYS, rel=1e-15)
    # and the stock status carries them: the demand of a consumable item with visits
    status = selectors.stock_status(root.path, ON).join(want, on="area", how="left")
    with_demand = status.filter(pl.col("demand").is_not_null())
    assert with_demand.height and (with_demand["trend"] == with_demand["trend_right"]).all()
    kinds = set(with_demand["kind"].to_list())
    assert kinds >= {"township_health_centre", "village_clinic"}

    # The summary, the briefing and the stock tasks skip the demand (demand=False): their
    # figures are those of the status with the demand read.
    full = selectors.stock_status(root.path, ON)
    bare = selectors.stock_status(root.path, ON, demand=False)
    assert bare["demand"].null_count() == bare.height
    kept = [c for c in full.columns if c not in ("demand", "trend", "days_demand")]
    assert bare.select(kept).equals(full.select(kept))
    gaps = selectors.capacity_gaps(root.path, ON, fac)
    assert selectors.resources_summary(root.path, ON) == selectors._summary(ON, fac, full, gaps)
    stock = selectors.stock_gaps(root.path, ON, demand=False).select(kept)
    assert stock.height and stock.equals(selectors.stock_gaps(root.path, ON).select(kept))
