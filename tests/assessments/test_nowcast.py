"""The assessment nowcasts the last days: a reporting lag is not read as a decline.

The synthetic county (289 villages, the winter 2022-23 epidemic) reports with heavy delays: 90%
of the reports arrive after the next day's noon deadline, a median of two days after it. The
cycle for CYCLE runs the next afternoon (NOW) and sees only what had arrived by then. On CYCLE
the county's epidemic is at its plateau (judged on every report, as the synthetic region knows
them: "plateau", growth rate +1.3%/day); the reported roll-ups fall over the last days only
because the late reports are missing. Without the nowcast the county reads as past its peak and
falling; with it, as on a plateau; and the nowcast's intervals hold the true final counts.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import polars as pl
import pytest
from django.db import transaction

from ruralwatch.areas.models import Area
from ruralwatch.areas.services import import_areas
from ruralwatch.assessments.models import Judgement
from ruralwatch.assessments.nowcasting import DEFAULT
from ruralwatch.assessments.services import assess
from ruralwatch.epi.assess.judgement import judge
from ruralwatch.reporting.selectors import delay_triangle
from ruralwatch.reporting.services import import_reports, roll_up
from ruralwatch.synth import build_region, build_reports, simulate_region
from ruralwatch.synth.reports import ReportParams

SEED = 20230122
START = dt.date(2022, 12, 1)
CYCLE = dt.date(2023, 1, 1)
TZ = ZoneInfo("Asia/Shanghai")
NOW = dt.datetime(2023, 1, 2, 14, 0, tzinfo=TZ)
HEAVY = ReportParams(p_late=0.9, late_median_hours=48, late_log_sd=0.6)
AREA_COLUMNS = ["code", "name", "level", "parent_code", "urban_rural", "population"]
DECLINE = ("peak_passed", "steady_decline")

# Every test here is a database test, so pytest-django runs them all before the transactional
# (browser) tests, which flush the tables the module fixture needs.
pytestmark = pytest.mark.django_db


def scenario(tmp: Path) -> dict[str, Any]:
    """Write the county's areas and the reports that had arrived by NOW as CSV files under
    ``tmp``; return their paths, the county's code and population, the true final county
    counts by date and the reports that had arrived."""
    region = build_region(SEED, scale="county")
    epidemic = simulate_region(region, seed=SEED, start=START, end=CYCLE)
    reports = build_reports(region, epidemic, start=START, end=CYCLE, seed=SEED, params=HEAVY)
    values = reports.values.filter(pl.col("indicator") == "new_cases")
    truth = values.group_by("date").agg(pl.col("value").sum()).sort("date")
    arrived = values.filter(pl.col("submitted_at") <= NOW)
    region.areas.select(AREA_COLUMNS).write_csv(tmp / "areas.csv")
    arrived.with_columns(pl.col("submitted_at").dt.strftime("%Y-%m-%d %H:%M:%S")).select(
        "area_code", "date", "submitted_at", pl.col("value").alias("new_cases")
    ).write_csv(tmp / "reports.csv")
    county_row = region.areas.filter(pl.col("level") == 3)
    return {
        "areas": tmp / "areas.csv",
        "reports": tmp / "reports.csv",
        "code": county_row["code"][0],
        "population": county_row["population"][0],
        "truth": dict(zip(truth["date"].to_list(), truth["value"].to_list(), strict=True)),
        "arrived": arrived,
    }


def load(s: dict[str, Any]) -> None:
    """Load the scenario's files as the daily work does: areas, reports, roll-up."""
    import_areas(s["areas"])
    import_reports(s["reports"], now=NOW)
    roll_up(START, CYCLE)


@pytest.fixture(scope="module")
def county(
    django_db_setup: None, django_db_blocker: Any, tmp_path_factory: pytest.TempPathFactory
) -> Any:
    """The scenario loaded once per module (inside a transaction rolled back at the end)."""
    s = scenario(tmp_path_factory.mktemp("nowcast"))
    with django_db_blocker.unblock():
        outer = transaction.atomic()
        outer.__enter__()
        try:
            load(s)
        except BaseException:
            transaction.set_rollback(True)
            outer.__exit__(None, None, None)
            raise
    yield s
    with django_db_blocker.unblock():
        transaction.set_rollback(True)
        outer.__exit__(None, None, None)


@pytest.fixture
def judged(county: Any, db: None) -> Any:
    def run(nowcast: bool) -> Judgement:
        summary = assess(CYCLE, nowcast=nowcast)
        assert summary.areas > 0
        return Judgement.objects.get(area_id=county["code"], date=CYCLE)

    return run


def _judged_truth(county: Any) -> Any:
    days = [CYCLE - dt.timedelta(days=i) for i in range((CYCLE - START).days, -1, -1)]
    y = np.array([[county["truth"][d]] for d in days], dtype=float)
    return judge(y, np.array(days, dtype="datetime64[D]"), [county["population"]], ["c"]).units[0]


def test_the_scenario_has_a_reporting_lag(county: Any) -> None:
    """What the test stands on: judged on every report the county is on a plateau and still
    growing a little, while the reports that had arrived by NOW make the last days look far
    lower than the days before."""
    truth = _judged_truth(county)
    assert truth.phase == "plateau" and truth.growth_r > 0
    seen = county["arrived"].group_by("date").agg(pl.col("value").sum())
    seen_by_day = dict(zip(seen["date"].to_list(), seen["value"].to_list(), strict=True))
    final = county["truth"]
    assert seen_by_day.get(CYCLE, 0) < 0.25 * final[CYCLE]
    assert seen_by_day[CYCLE - dt.timedelta(days=3)] < 0.85 * final[CYCLE - dt.timedelta(days=3)]


def test_delay_triangle_reads_the_arrivals(county: Any, db: None) -> None:
    now, rows = delay_triangle("/", "new_cases", START, CYCLE)
    assert now is not None and now <= NOW and now > NOW - dt.timedelta(hours=3)
    county_rows = rows.group_by("l3", "date", "delay").agg(pl.col("value").sum())
    assert county_rows["l3"].unique().to_list() == [county["code"]]
    total = county["arrived"]["value"].sum()
    assert county_rows["value"].sum() == total
    # nothing is in a cell that is not complete yet (date + delay <= now's date)
    late = county_rows.filter(
        (pl.col("date") + pl.duration(days=pl.col("delay"))) > pl.lit(now.date())
    )
    assert late.is_empty()
    assert rows["delay"].min() >= 0 and rows["delay"].max() >= 3
    # a subtree reads the same rows for its own areas
    path = Area.objects.get(code=county["code"]).path
    now_sub, sub = delay_triangle(path, "new_cases", START, CYCLE)
    assert now_sub == now and sub.sort(sub.columns).equals(rows.sort(rows.columns))


def _panel_values(start: dt.date, end: dt.date, path: str = "/") -> tuple[np.ndarray, list[str]]:
    """The villages' values as the assessment's panel holds them (days × villages, NaN where
    none), and the villages it holds."""
    from ruralwatch.reporting.models import ReportValue

    villages = list(
        Area.objects.filter(level=5, path__startswith=path)
        .order_by("code")
        .values_list("code", flat=True)
    )
    column = {code: j for j, code in enumerate(villages)}
    block = np.full(((end - start).days + 1, len(villages)), np.nan)
    for code, day, value in ReportValue.objects.filter(
        indicator_id="new_cases", date__range=(start, end), area__path__startswith=path
    ).values_list("area_id", "date", "value"):
        block[(day - start).days, column[code]] = value
    return block, villages


def test_the_triangle_from_the_panel_is_the_triangle_of_the_database(county: Any, db: None) -> None:
    """With the villages' values given (the assessment's panel), the submissions are read
    alone and each one's value read off the panel: the same rows as the join in the database,
    for the tree and a subtree; a panel that leaves a village out falls back to the database's
    join."""

    def same(a: pl.DataFrame, b: pl.DataFrame) -> bool:
        keys = ["l1", "l2", "l3", "l4", "date", "delay"]
        a, b = (x.group_by(keys).agg(pl.col("value", "squares", "reports").sum()) for x in (a, b))
        return a.sort(keys).equals(b.sort(keys).select(a.columns))

    block, villages = _panel_values(START, CYCLE)
    now, joined = delay_triangle("/", "new_cases", START, CYCLE)
    now_mem, in_memory = delay_triangle("/", "new_cases", START, CYCLE, panel=(block, villages))
    assert now_mem == now and in_memory.height > 0 and same(in_memory, joined)
    town = Area.objects.filter(level=4).order_by("code").first()
    assert town is not None
    sub_panel = _panel_values(START, CYCLE, town.path)
    _n, sub = delay_triangle(town.path, "new_cases", START, CYCLE)
    _n, sub_mem = delay_triangle(town.path, "new_cases", START, CYCLE, panel=sub_panel)
    assert sub.height > 0 and same(sub_mem, sub)
    # a village missing from the panel: the database's rows, not the panel's
    _n, fallback = delay_triangle(
        "/", "new_cases", START, CYCLE, panel=(block[:, 1:], villages[1:])
    )
    assert same(fallback, joined)
    # the panel's columns in another order: the same rows
    _n, shuffled = delay_triangle(
        "/", "new_cases", START, CYCLE, panel=(block[:, ::-1], villages[::-1])
    )
    assert same(shuffled, joined)


def test_without_nowcast_the_lag_reads_as_a_decline(judged: Any) -> None:
    j = judged(False)
    assert "nowcast" not in j.evidence
    assert j.phase in DECLINE, (j.phase, j.text_en)
    assert j.evidence["growth"]["r"] < 0 and j.evidence["change"] < -0.3


def test_with_nowcast_the_rise_is_seen(judged: Any, county: Any) -> None:
    j = judged(True)
    truth = _judged_truth(county)
    assert j.phase == truth.phase == "plateau", (j.phase, j.text_en)
    assert j.evidence["growth"]["r"] > 0
    assert abs(j.evidence["change"] - truth.change) < 0.05
    nc = j.evidence["nowcast"]
    # now is the next day: the days from now - 6 to CYCLE are incomplete
    assert nc["days"] == [(CYCLE - dt.timedelta(days=i)).isoformat() for i in range(5, -1, -1)]
    assert nc["pending"] > 0.5 * sum(nc["reported"])
    # the truth (every report, late ones included) lies in the nowcast's intervals
    truth = [county["truth"][dt.date.fromisoformat(d)] for d in nc["days"]]
    inside = [lo <= t <= hi for lo, t, hi in zip(nc["lower"], truth, nc["upper"], strict=True)]
    # (95% intervals of six days that share one delay distribution: one miss is allowed)
    assert sum(inside) >= 5, list(zip(nc["lower"], truth, nc["upper"], strict=True))
    total_true = sum(truth) - sum(nc["reported"])
    low, high = nc["pending_interval"]
    assert low <= total_true <= high
    assert "nowcast" in j.text_en and "即时预测" in j.text_zh
    assert f"{nc['pending']:.0f} cases estimated still to come" in j.text_en


def test_villages_are_not_nowcast(judged: Any, county: Any) -> None:
    judged(True)
    village = Judgement.objects.filter(date=CYCLE, area__level=5).first()
    assert village is not None and "nowcast" not in village.evidence


def test_the_nowcast_is_the_same_twice(judged: Any, county: Any) -> None:
    """Run again, or for the county alone instead of the whole tree: the same numbers (the
    cycle's idempotence; an area's draws do not depend on the other areas judged)."""
    first = judged(True)
    again = judged(True)
    assert first.evidence["nowcast"] == again.evidence["nowcast"]
    assert first.text_zh == again.text_zh
    assess(CYCLE, root_path=Area.objects.get(code=county["code"]).path)
    alone = Judgement.objects.get(area_id=county["code"], date=CYCLE)
    assert alone.evidence == first.evidence and alone.text_en == first.text_en


def test_the_curve_shows_the_nowcast_band(judged: Any) -> None:
    from django.utils.translation import override

    from ruralwatch.assessments.selectors import nowcast_band
    from ruralwatch.dashboard.charts import epicurve

    j = judged(True)
    band = nowcast_band(j)
    assert [b["date"] for b in band] == j.evidence["nowcast"]["days"]
    assert all(b["lower"] <= b["nowcast"] <= b["upper"] for b in band)
    assert all(b["reported"] <= b["nowcast"] for b in band)
    series = [(CYCLE - dt.timedelta(days=i), 100.0) for i in range(20, -1, -1)]
    with override("en"):
        spec = epicurve(series, band=band)
    assert spec is not None
    marks = [layer["mark"]["type"] for layer in spec["layer"]]
    assert marks == ["bar", "line", "area", "line"]
    assert spec["layer"][2]["data"]["values"] == band
    titles = [t["title"] for t in spec["layer"][2]["encoding"]["tooltip"]]
    assert "Nowcast (late reports included)" in titles
    with override("zh-hans"):
        spec_zh = epicurve(series, band=band)
    assert "即时预测（含估计迟报）" in str(spec_zh)
    # without a nowcast (every report in), no band
    assert nowcast_band(judged(False)) == []
    assert len(epicurve(series, band=[])["layer"]) == 2


def test_a_correction_up_is_a_late_arrival(county: Any, db: None) -> None:
    """Cases a correction adds arrived when it was made (ValueChange), not with the report;
    a correction down stays with the report's first arrival."""
    from ruralwatch.reporting.models import ReportValue, Submission, ValueChange

    day = CYCLE - dt.timedelta(days=3)
    _now, before = delay_triangle("/", "new_cases", START, CYCLE)
    early = Submission.objects.filter(date=day, delay_hours__lt=30).values_list("area_id")
    up, down = (
        ReportValue.objects.filter(
            date=day, indicator_id="new_cases", value__gte=1, area_id__in=early
        )
        .order_by("area_id")
        .values_list("area_id", flat=True)[:2]
    )
    at = NOW - dt.timedelta(hours=2)  # today, before now's time of day: delay 4 on `day`
    for code, change in ((up, 7.0), (down, -1.0)):
        value = ReportValue.objects.get(area_id=code, date=day, indicator_id="new_cases")
        old, value.value = value.value, value.value + change
        value.save(update_fields=["value"])
        ValueChange.objects.create(
            area_id=code,
            date=day,
            indicator_id="new_cases",
            old_value=old,
            new_value=value.value,
            at=at,
            reason="test",
        )
    now, after = delay_triangle("/", "new_cases", START, CYCLE)
    assert now is not None and (now.date() - day).days == 4

    def cells(rows: pl.DataFrame) -> dict[int, float]:
        c = rows.filter((pl.col("l3") == county["code"]) & (pl.col("date") == day))
        c = c.group_by("delay").agg(pl.col("value").sum())
        return dict(zip(c["delay"].to_list(), c["value"].to_list(), strict=True))

    b, a = cells(before), cells(after)
    diff = {d: a.get(d, 0.0) - b.get(d, 0.0) for d in set(a) | set(b)}
    assert diff[4] == pytest.approx(7.0)  # the cases added, at the correction's delay
    # the first arrival keeps what the report first said: only the fix down changes it
    assert diff[1] == pytest.approx(-1.0)
    assert diff[2] == diff[3] == 0
    assert sum(diff.values()) == pytest.approx(6.0)
    assert after["value"].min() >= 0


@pytest.mark.parametrize("base", [3.0, 300.0])
def test_the_assessments_draws_cover_the_truth_at_few_and_many_cases(base: float) -> None:
    """With the assessment's defaults (``nowcasting.DEFAULT``, its number of draws included)
    the 95% intervals hold the final counts of simulated series about 95% of the time, for
    townships of a few cases a day and for prefectures of hundreds (each day, the least known
    last day, and the sum of the days)."""
    from bench.nowcast_coverage import coverage

    found = coverage(base, DEFAULT.n_samples, seeds=2)
    assert found["days"][0] >= 0.92 and found["days"][1] <= 0.99, found
    assert found["last_day"][0] >= 0.88, found
    assert found["sum"][0] >= 0.88 and found["sum"][1] <= 0.995, found
