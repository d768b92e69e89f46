"""Report selectors on the tiny fixture (numbers computed by hand in tests/dashboard/data.py)."""

from __future__ import annotations

import datetime as dt

import pytest

from ruralwatch.areas.models import Area
from ruralwatch.dashboard import charts
from ruralwatch.dashboard.selectors import area_overview, breadcrumb
from ruralwatch.reporting import selectors
from tests.dashboard import data

pytestmark = pytest.mark.usefixtures("tree")


def _area(code: str) -> Area:
    return Area.objects.get(code=code)


def test_latest_date() -> None:
    assert selectors.latest_date() == data.DAY7


def test_village_series_keeps_zeros_and_gaps() -> None:
    series = selectors.daily_series(_area(data.B1), "new_cases", data.DAY1, data.DAY8)
    assert [d for d, _v in series] == [data.DAY1 + dt.timedelta(days=i) for i in range(8)]
    assert [v for _d, v in series] == [0.0, None, 0.0, None, 0.0, None, 4.0, None]


def test_township_series_from_roll_ups() -> None:
    series = selectors.daily_series(_area(data.TOWN_A), "new_cases", data.DAY1, data.DAY8)
    assert [v for _d, v in series] == [3.0] * 6 + [1.0, None]
    county = selectors.daily_series(_area(data.COUNTY), "new_cases", data.DAY7, data.DAY7)
    assert county == [(data.DAY7, 5.0)]


def test_children_incidence_of_county() -> None:
    rows = selectors.children_incidence(_area(data.COUNTY), "new_cases", data.DAY7)
    by_code = {r["code"]: r for r in rows}
    assert list(by_code) == [data.TOWN_A, data.TOWN_B]
    a, b = by_code[data.TOWN_A], by_code[data.TOWN_B]
    assert a["cases"] == 19
    assert a["incidence"] == pytest.approx(19 / 3000 * 100_000)  # 633.3
    assert (a["expected"], a["received"], a["on_time"]) == (2, 1, 0)
    assert a["completeness"] == 0.5
    assert b["cases"] == 4
    assert b["incidence"] == pytest.approx(200.0)
    assert (b["expected"], b["received"], b["on_time"], b["completeness"]) == (1, 1, 1, 1.0)
    assert (a["lon"], a["lat"], a["population"], a["level"]) == (116.30, 39.95, 3000, 4)


def test_children_incidence_of_township_reads_villages() -> None:
    rows = {
        r["code"]: r
        for r in selectors.children_incidence(_area(data.TOWN_A), "new_cases", data.DAY7)
    }
    assert rows[data.A1]["cases"] == 7
    assert rows[data.A1]["incidence"] == pytest.approx(700.0)
    assert rows[data.A1]["days_reported"] == 7
    assert (rows[data.A1]["received"], rows[data.A1]["on_time"]) == (1, 0)  # late
    assert rows[data.A2]["cases"] == 12
    assert rows[data.A2]["incidence"] == pytest.approx(600.0)
    assert (rows[data.A2]["received"], rows[data.A2]["completeness"]) == (0, 0.0)


def test_window_without_reports_is_none_not_zero() -> None:
    later = data.DAY8 + dt.timedelta(days=7)  # window DAY9 … DAY15: nothing reported
    rows = selectors.children_incidence(_area(data.TOWN_B), "new_cases", later)
    assert rows[0]["cases"] is None
    assert rows[0]["incidence"] is None
    assert rows[0]["days_reported"] == 0


def test_window_length() -> None:
    rows = selectors.children_incidence(_area(data.TOWN_A), "new_cases", data.DAY7, days=1)
    assert {r["code"]: r["cases"] for r in rows} == {data.A1: 1.0, data.A2: None}


def test_incidence_needs_population() -> None:
    assert selectors.incidence(5, None) is None
    assert selectors.incidence(5, 0) is None
    assert selectors.incidence(None, 1000) is None
    assert selectors.incidence(0, 1000) == 0.0


def test_completeness_by_level() -> None:
    rows = selectors.completeness_by_level(_area(data.COUNTY), data.DAY7)
    assert [r["level"] for r in rows] == [3, 4]
    county, towns = rows
    assert (county["units"], county["expected"], county["received"], county["on_time"]) == (
        1,
        3,
        2,
        1,
    )
    assert county["complete_units"] == 0
    assert (towns["units"], towns["complete_units"], towns["expected"]) == (2, 1, 3)
    assert towns["completeness"] == pytest.approx(2 / 3)


def test_breadcrumb_bounded_by_jurisdiction() -> None:
    village = _area(data.A1)
    assert [a.code for a in breadcrumb(village, None)] == [
        data.PROVINCE,
        data.PREFECTURE,
        data.COUNTY,
        data.TOWN_A,
    ]
    assert [a.code for a in breadcrumb(village, _area(data.TOWN_A))] == [data.TOWN_A]


def test_area_overview_sorts_by_incidence_and_sums_window() -> None:
    overview = area_overview(_area(data.COUNTY), within=None)
    assert overview.date == data.DAY7
    assert [c["code"] for c in overview.children] == [data.TOWN_A, data.TOWN_B]
    assert overview.cases_window == 23
    assert overview.incidence_window == pytest.approx(230.0)
    assert overview.children_have_coordinates


def test_children_change_against_the_previous_7_days() -> None:
    """On DAY8 the window is DAY2–DAY8 and the 7 days before end on DAY1: township A had 3
    cases on DAY1 (A1 1, A2 2) and 16 in the window (A1 6, A2 10); township B had 0 on DAY1,
    so its change from zero is undefined, not infinite."""
    overview = area_overview(_area(data.COUNTY), within=None, date=data.DAY8, latest=data.DAY8)
    rows = {c["code"]: c for c in overview.children}
    assert rows[data.TOWN_A]["cases"] == 16 and rows[data.TOWN_A]["previous"] == 3
    assert rows[data.TOWN_A]["change"] == pytest.approx(13 / 3)
    assert rows[data.TOWN_B]["previous"] == 0 and rows[data.TOWN_B]["change"] is None
    # Villages: their own reports (B1 reported 0 on DAY1).
    villages = area_overview(_area(data.TOWN_B), within=None, date=data.DAY8, latest=data.DAY8)
    assert [(c["code"], c["previous"], c["change"]) for c in villages.children] == [
        (data.B1, 0, None)
    ]


def test_children_phase_is_the_cycle_judgement_of_the_day() -> None:
    from ruralwatch.assessments.models import PHASE_LABELS, Judgement
    from ruralwatch.cycle.services import run_cycle

    overview = area_overview(_area(data.COUNTY), within=None)
    assert {c["phase"] for c in overview.children} == {None}  # not judged yet
    run_cycle(data.DAY7, root=data.COUNTY, start=data.DAY1)
    judged = dict(
        Judgement.objects.filter(
            area_id__in=[data.TOWN_A, data.TOWN_B], date=data.DAY7
        ).values_list("area_id", "phase")
    )
    assert len(judged) == 2
    overview = area_overview(_area(data.COUNTY), within=None)
    assert {c["code"]: c["phase"] for c in overview.children} == {
        code: str(PHASE_LABELS[phase]) for code, phase in judged.items()
    }


def test_trailing_mean_skips_missing_days() -> None:
    assert charts.trailing_mean([1.0, None, 3.0, None], window=2) == [1.0, 1.0, 3.0, 3.0]
    assert charts.trailing_mean([None, None], window=7) == [None, None]


def test_chart_specs() -> None:
    overview = area_overview(_area(data.COUNTY), within=None)
    spec = charts.children_chart(overview.children, lambda c: f"/area/{c}/", True)
    assert spec is not None
    assert spec["projection"]["type"] == "mercator"
    values = spec["data"]["values"]
    assert {v["code"]: v["incidence"] for v in values} == {data.TOWN_A: 633.33, data.TOWN_B: 200.0}
    ranking = charts.children_chart(overview.children, lambda c: c, False)
    assert ranking is not None and ranking["mark"]["type"] == "bar"
    curve = charts.epicurve(overview.series)
    assert curve is not None and len(curve["layer"]) == 2
    assert charts.epicurve([(data.DAY1, None)]) is None
