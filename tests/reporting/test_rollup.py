"""Roll-ups and completeness against an independent computation on real division codes."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from ruralwatch.areas.models import Area
from ruralwatch.areas.services import import_areas
from ruralwatch.reporting.models import AggregateValue, Completeness
from ruralwatch.reporting.services import import_reports, roll_up
from tests.shared import DATA

pytestmark = pytest.mark.django_db

COUNTY = "130102000000"  # 长安区, 石家庄市 (2016 tree)


def test_rollup_and_completeness_match_independent_sums(tmp_path: Path) -> None:
    import_areas(DATA / "admin" / "cn_divisions_2016_village.csv.gz", root=COUNTY)
    villages = pl.DataFrame(
        list(Area.objects.filter(level=5).values_list("code", "l4")),
        schema=["code", "l4"],
        orient="row",
    )
    rng = np.random.default_rng(7)
    days = [dt.date(2023, 1, 1) + dt.timedelta(days=i) for i in range(5)]
    rows = []
    for d in days:
        for code in villages["code"]:
            if rng.random() < 0.1:  # missing report: no row at all
                continue
            late = rng.random() < 0.2
            sub = dt.datetime.combine(d + dt.timedelta(days=2 if late else 0), dt.time(19, 0))
            rows.append(
                (code, d.isoformat(), int(rng.poisson(3)), int(rng.poisson(1)), sub.isoformat(" "))
            )
    frame = pl.DataFrame(
        rows,
        schema=["area_code", "date", "fever_visits", "new_cases", "submitted_at"],
        orient="row",
    )
    path = tmp_path / "reports.csv"
    frame.write_csv(path)
    import_reports(path, now=dt.datetime(2023, 2, 1, tzinfo=dt.UTC))
    roll_up(days[0], days[-1])
    roll_up(days[0], days[-1])  # idempotent
    expected = (
        frame.join(villages, left_on="area_code", right_on="code")
        .group_by("l4", "date")
        .agg(pl.col("new_cases").sum(), pl.len().alias("n"))
    )
    stored = {
        (a, d.isoformat()): (v, n)
        for a, d, v, n in AggregateValue.objects.filter(
            level=4, indicator_id="new_cases"
        ).values_list("area_id", "date", "value", "n_areas")
    }
    assert len(stored) == expected.height
    for l4, d, cases, n in expected.iter_rows():
        assert stored[(l4, d)] == (cases, n)
    county_total = AggregateValue.objects.get(
        area_id=COUNTY, date=days[2], indicator_id="fever_visits"
    )
    assert (
        county_total.value
        == frame.filter(pl.col("date") == days[2].isoformat())["fever_visits"].sum()
    )
    comp = Completeness.objects.get(area_id=COUNTY, date=days[2])
    day = frame.filter(pl.col("date") == days[2].isoformat())
    assert comp.expected == villages.height
    assert comp.received == day.height
    on_time = day.filter(pl.col("submitted_at").str.slice(0, 10) == days[2].isoformat()).height
    assert comp.on_time == on_time
    assert AggregateValue.objects.filter(level=1).count() == 2 * len(days)
