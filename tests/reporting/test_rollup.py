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


def test_max_and_mean_indicators_roll_up_from_partials(tmp_path: Path) -> None:
    """Means are total over count at every level, never a mean of township means."""
    from ruralwatch.reporting.models import Indicator

    Indicator.objects.create(
        code="temp_max",
        name_zh="最低血氧",
        name_en="Lowest SpO2",
        aggregation="max",
        is_count=False,
    )
    Indicator.objects.create(
        code="temp_mean",
        name_zh="平均体温",
        name_en="Mean temperature",
        aggregation="mean",
        is_count=False,
    )
    tree = tmp_path / "tree.csv"
    tree.write_text(
        "code,name,level,parent_code\n990000000000,省,1,\n990100000000,市,2,990000000000\n"
        "990101000000,县,3,990100000000\n990101001000,甲镇,4,990101000000\n"
        "990101002000,乙镇,4,990101000000\n990101001001,村一,5,990101001000\n"
        "990101001002,村二,5,990101001000\n990101002001,村三,5,990101002000\n",
        encoding="utf-8",
    )
    import_areas(tree)
    path = tmp_path / "r.csv"
    path.write_text(
        "area_code,date,temp_max,temp_mean\n990101001001,2023-01-01,38.1,37.0\n"
        "990101001002,2023-01-01,39.2,38.0\n990101002001,2023-01-01,40.1,39.5\n",
        encoding="utf-8",
    )
    import_reports(path, now=dt.datetime(2023, 2, 1, tzinfo=dt.UTC))
    day = dt.date(2023, 1, 1)
    roll_up(day, day)
    got = {
        (a, i): v
        for a, i, v in AggregateValue.objects.filter(date=day).values_list(
            "area_id", "indicator_id", "value"
        )
    }
    assert got[("990101001000", "temp_mean")] == pytest.approx(37.5)
    assert got[("990101000000", "temp_mean")] == pytest.approx((37.0 + 38.0 + 39.5) / 3)
    assert got[("990101000000", "temp_max")] == pytest.approx(40.1)  # max of maxima


def test_every_level_sums_the_values_of_its_descendants_whatever_level_they_report_at(
    tmp_path: Path,
) -> None:
    """Every stored roll-up equals the sum over the values whose area has it as an ancestor
    (its own ``l1``…``l4``), with a township that hangs under a prefecture (no county), an
    indicator reported by townships and one by counties, and a village without any value."""
    from ruralwatch.reporting.models import Indicator, ReportValue

    for code, level in (("beds_free", 4), ("icu_free", 3)):
        Indicator.objects.create(code=code, name_zh=code, name_en=code, level=level)
    tree = tmp_path / "tree.csv"
    tree.write_text(
        "code,name,level,parent_code\n990000000000,省,1,\n990100000000,市,2,990000000000\n"
        "990101000000,县,3,990100000000\n990101001000,甲镇,4,990101000000\n"
        "990101002000,乙镇,4,990101000000\n990100100000,直辖镇,4,990100000000\n"
        "990101001001,村一,5,990101001000\n990101001002,村二,5,990101001000\n"
        "990101002001,村三,5,990101002000\n990100100001,村四,5,990100100000\n"
        "990100100002,村五,5,990100100000\n",
        encoding="utf-8",
    )
    import_areas(tree)
    assert Area.objects.get(code="990100100000").l3 == ""  # no county above it
    now = dt.datetime(2023, 2, 1, tzinfo=dt.UTC)
    villages = tmp_path / "villages.csv"
    villages.write_text(
        "area_code,date,new_cases,fever_visits\n"
        "990101001001,2023-01-01,3,7\n990101001002,2023-01-01,0,2\n"
        "990101002001,2023-01-01,5,1\n990100100001,2023-01-01,2,9\n"
        "990101001001,2023-01-02,1,0\n990100100001,2023-01-02,4,4\n",
        encoding="utf-8",
    )
    townships = tmp_path / "townships.csv"
    townships.write_text(
        "area_code,date,beds_free\n990101001000,2023-01-01,12\n990101002000,2023-01-01,3\n"
        "990100100000,2023-01-01,8\n990100100000,2023-01-02,6\n",
        encoding="utf-8",
    )
    counties = tmp_path / "counties.csv"
    counties.write_text("area_code,date,icu_free\n990101000000,2023-01-01,4\n", encoding="utf-8")
    for path in (villages, townships, counties):
        summary = import_reports(path, now=now)
        assert summary.imported == summary.values > 0
    roll_up(dt.date(2023, 1, 1), dt.date(2023, 1, 2))

    ancestors = {
        code: (l1, l2, l3, l4)
        for code, l1, l2, l3, l4 in Area.objects.values_list("code", "l1", "l2", "l3", "l4")
    }
    expected: dict[tuple[str, int, dt.date, str], list[float]] = {}
    for area, date, indicator, value in ReportValue.objects.values_list(
        "area_id", "date", "indicator_id", "value"
    ):
        for level, code in enumerate(ancestors[area], start=1):
            if code:
                got = expected.setdefault((code, level, date, indicator), [0.0, 0])
                got[0] += value
                got[1] += 1
    stored = {
        (a, lv, d, i): [v, n]
        for a, lv, d, i, v, n in AggregateValue.objects.values_list(
            "area_id", "level", "date", "indicator_id", "value", "n_areas"
        )
    }
    assert stored == expected
    # the township under the prefecture rolls up to it and to the province, not to a county
    assert stored[("990100000000", 2, dt.date(2023, 1, 1), "new_cases")] == [10.0, 4]
    assert stored[("990100100000", 4, dt.date(2023, 1, 2), "beds_free")] == [6.0, 1]
    assert stored[("990000000000", 1, dt.date(2023, 1, 1), "icu_free")] == [4.0, 1]
