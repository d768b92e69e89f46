"""Issue 12 on the dashboard: one "as of" date across pages, dates outside the data, every
indicator, KPI tiles, the evidence in words, tables that sort, page and export, province views,
thousands separators. The numbers are the hand-computed ones of tests/dashboard/data.py."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse
from django.utils import translation
from openpyxl import load_workbook

from ruralwatch.areas.models import Area
from ruralwatch.assessments.models import Judgement
from ruralwatch.dashboard import tables
from ruralwatch.dashboard.evidence import evidence_blocks, grouped
from ruralwatch.dashboard.selectors import Kpi, _window_sums, area_overview
from ruralwatch.reporting.services import import_reports, roll_up
from tests.dashboard import data


def _url(code: str, query: str = "") -> str:
    return reverse("dashboard:area", args=[code]) + query


def _spec(html: str, name: str) -> dict[str, Any] | None:
    found = re.search(rf'<script id="{name}" type="application/json">(.*?)</script>', html, re.S)
    return json.loads(found.group(1)) if found else None


def _en(client: Any, url: str) -> str:
    response = client.get(url, HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 200, url
    return response.content.decode()


@pytest.fixture
def county_client(client: Any, user_county: Any) -> Any:
    client.force_login(user_county)
    return client


@pytest.fixture
def admin_client(client: Any, tree: None) -> Any:
    client.force_login(get_user_model().objects.create_superuser("root", password="pw-123456"))
    return client


# --- defect 1: one "as of" date, from the data, kept across pages ----------------------------


def test_pages_open_on_the_latest_date_with_data_not_today(county_client: Any) -> None:
    html = _en(county_client, reverse("keygroups:area", args=[data.COUNTY]))
    assert "Key-group monitoring on 2023-01-07" in html  # the data's last day, not the clock
    assert 'name="date" value="2023-01-07"' in html  # the picker in the site frame
    dashboard = _en(county_client, _url(data.COUNTY))
    assert "Last 7 days: 2023-01-01 to 2023-01-07" in dashboard
    assert 'name="date" value="2023-01-07"' in dashboard


def test_a_chosen_date_holds_across_pages_until_latest_is_asked(county_client: Any) -> None:
    html = _en(county_client, _url(data.COUNTY, "?date=2023-01-05"))
    assert "Last 7 days: 2022-12-30 to 2023-01-05" in html
    assert "not the latest date with data (2023-01-07)" in html
    # No ?date= on the next pages: the session remembers the day.
    assert "Key-group monitoring on 2023-01-05" in _en(
        county_client, reverse("keygroups:area", args=[data.COUNTY])
    )
    assert "Last 7 days: 2022-12-30 to 2023-01-05" in _en(county_client, _url(data.TOWN_A))
    briefings = _en(county_client, reverse("briefings:area", args=[data.COUNTY]))
    assert 'value="2023-01-05"' in briefings
    # ?date=latest forgets it.
    assert "Last 7 days: 2023-01-01 to 2023-01-07" in _en(
        county_client, _url(data.COUNTY, "?date=latest")
    )
    assert "Key-group monitoring on 2023-01-07" in _en(
        county_client, reverse("keygroups:area", args=[data.COUNTY])
    )


def test_the_date_changes_the_numbers(county_client: Any) -> None:
    day7 = _en(county_client, _url(data.TOWN_B))
    day6 = _en(county_client, _url(data.TOWN_B, "?date=2023-01-06"))
    tile = re.compile(
        r'data-kpi="new_cases">\s*<span class="kpi-label">[^<]*</span>\s*'
        r'<span class="kpi-value">([^<]*)</span>'
    )
    assert tile.search(day7).group(1) == "4"  # 0 + 0 + 0 + 4 (B1, days 1–7)
    assert tile.search(day6).group(1) == "0"  # days 12-31 … 01-06: three zeros reported


# --- defect 2: dates outside the data -----------------------------------------------------------


@pytest.mark.parametrize("day", ["2031-01-01", "1900-01-01"])
def test_a_date_outside_the_data_says_so(county_client: Any, day: str) -> None:
    html = _en(county_client, _url(data.COUNTY, f"?date={day}"))
    assert f"No data for {day}" in html
    assert "The latest date with data is 2023-01-07." in html
    assert 'id="to-latest"' in html and "?date=2023-01-07" in html
    # Nothing stale shown as current, no chart to draw an empty legend.
    for spec in ("spec-children", "spec-curve", "spec-multiples"):
        assert _spec(html, spec) is None
    assert 'id="kpis"' not in html and "judgement-text" not in html


# --- defect 5: every indicator ----------------------------------------------------------------


def _add_deaths(tmp_path: Path) -> None:
    rows = "area_code,date,indicator,value\n" + "".join(
        f"{data.A1},{(data.DAY1 + dt.timedelta(days=i)).isoformat()},deaths,{i % 2}\n"
        for i in range(7)
    )
    (tmp_path / "deaths.csv").write_text(rows, encoding="utf-8")
    import_reports(tmp_path / "deaths.csv", now=data.NOW)
    roll_up(data.DAY1, data.DAY8)


def test_indicator_parameter_is_honoured(county_client: Any, tmp_path: Path) -> None:
    _add_deaths(tmp_path)
    html = county_client.get(_url(data.TOWN_A, "?indicator=deaths")).content.decode()
    curve = _spec(html, "spec-curve")
    assert curve is not None
    assert [v["value"] for v in curve["data"]["values"]][-7:] == [0, 1, 0, 1, 0, 1, 0]
    assert curve["layer"][0]["encoding"]["y"]["title"] == "死亡数"
    assert '<option value="deaths" selected>' in html
    rows = {
        c["code"]: c
        for c in area_overview(
            Area.objects.get(code=data.TOWN_A), within=None, indicator_code="deaths"
        ).children
    }
    assert rows[data.A1]["cases"] == 3 and rows[data.A2]["cases"] is None
    # Links keep the indicator; an unknown one falls back to new cases.
    assert f'href="{_url(data.A1, "?indicator=deaths")}"' in html
    fallback = county_client.get(_url(data.TOWN_A, "?indicator=purple")).content.decode()
    assert '<option value="new_cases" selected>' in fallback


# --- KPI tiles ----------------------------------------------------------------------------------


def test_window_sums_and_changes() -> None:
    day = dt.date(2023, 1, 14)
    rows = [
        ("x", dt.date(2023, 1, 8), 2.0),
        ("x", dt.date(2023, 1, 7), 5.0),
        ("x", dt.date(2023, 1, 1), 3.0),
        ("y", dt.date(2023, 1, 3), 1.0),
    ]
    assert _window_sums(rows, day) == {"x": (2.0, 8.0), "y": (None, 1.0)}
    assert Kpi("a", "", "count", 2.0, 8.0).change == pytest.approx(-0.75)
    assert Kpi("a", "", "count", 2.0, 8.0).worse is False
    assert Kpi("a", "", "count", 2.0, 0.0).change is None  # no relative change from zero
    assert Kpi("a", "", "rate", 0.9, 0.95).change == pytest.approx(-0.05)
    assert Kpi("a", "", "rate", 0.9, 0.95).worse is True
    assert Kpi("a", "", "count", None, 3.0).change is None


def test_kpi_tiles_of_the_county(tree: None) -> None:
    overview = area_overview(Area.objects.get(code=data.COUNTY), within=None)
    tiles = {k.code: k for k in overview.kpis}
    assert list(tiles) == [
        "new_cases",
        "severe_cases",
        "deaths",
        "fever_visits",
        "completeness",
        "coverage",
    ]
    assert (tiles["new_cases"].value, tiles["new_cases"].previous) == (23, None)
    assert tiles["severe_cases"].value is None  # not reported is not zero
    # Completeness: 2+… of the 3 villages' reports over the 7 days: A1 7, A2 6, B1 4 of 21.
    assert tiles["completeness"].value == pytest.approx(17 / 21)
    later = area_overview(
        Area.objects.get(code=data.COUNTY), within=None, date=data.DAY7 + dt.timedelta(days=7)
    )
    assert later.no_data == "after_latest"


# --- defect 4: the evidence in words -------------------------------------------------------------

EVIDENCE = {
    "as_of": "2023-01-07",
    "basis": {
        "code": data.COUNTY,
        "name": "测试县",
        "pooled": False,
        "cases_14d": 23.0,
        "min_cases_14d": 20.0,
    },
    "level": {
        "method": "incidence per 100,000 over 7 days",
        "value": 23.0,
        "per_100k": 229.99999999999997,
        "days": 7,
        "level": "medium",
        "rates_per_100k": {"epidemic": 20.0, "medium": 200.0, "high": 1000.0, "very_high": 3000.0},
    },
    "growth": {
        "method": "quasi-Poisson log-linear regression with weekday effects",
        "window": ["2022-12-25", "2023-01-05"],
        "delay": 2,
        "r": -0.19526803932325582,
        "ci": [-0.3069589088865949, -0.08357716975991676],
        "doubling_time": None,
        "halving_time": 3.5497216183569966,
    },
    "rt": {
        "method": "Cori et al. 2013",
        "window": ["2022-12-30", "2023-01-05"],
        "mean": 0.46919516816340623,
        "cri95": [0.30920257230123965, 0.6620174231866298],
        "serial_interval": {"mean": 3.0, "sd": 1.5},
    },
    "phase": {
        "phase": "steady_decline",
        "declining_days": 14,
        "sustain_days": 14,
        "sum7": 23.0,
        "max7": 12803.0,
        "drop_from_max": 0.9738480697384807,
    },
    "rebound": {
        "event": "spring_festival",
        "event_zh": "春节",
        "event_en": "the Spring Festival",
        "event_start": "2023-01-21",
        "outcome": "no_new_peak",
        "observed_last": 3.0,
        "projected_last": 41.561120146727674,
        "upper_last": 72.35314578837527,
        "last_watched": "2023-02-03",
        "onset_date": None,
    },
    "sum7": 23.0,
    "prev7": 20.0,
    "change": 0.15,
}


def _judge() -> Judgement:
    return Judgement.objects.create(
        area_id=data.COUNTY,
        indicator_id="new_cases",
        date=data.DAY7,
        level="medium",
        phase="steady_decline",
        text_zh="疫情处于中等水平。",
        text_en="Medium level.",
        evidence=EVIDENCE,
    )


def test_evidence_is_a_readable_panel_in_both_languages(county_client: Any) -> None:
    _judge()
    zh = county_client.get(_url(data.COUNTY)).content.decode()
    panel = zh[zh.index('id="evidence"') : zh.index("</details>", zh.index('id="evidence"'))]
    for raw in ("{'", "None", "False", "0.1952680", "229.99999", "per_100k", "halving_time"):
        assert raw not in panel, raw
    assert "230.0" in panel and "12,803" in panel and "97.4%" in panel
    assert "-19.5% (-30.7% … -8.4%)" in panel and "0.47 (0.31 … 0.66)" in panel
    assert "春节" in panel and "1月21日" in panel and "研判依据" in zh
    assert "中" in panel  # the level's label, not "medium"
    en = _en(county_client, _url(data.COUNTY))
    panel_en = en[en.index('id="evidence"') :]
    assert "Growth rate per day (95% CI)" in panel_en and "the Spring Festival" in panel_en
    assert "Reproduction number" in panel_en and "Halving time (days)" in panel_en


def test_the_evidence_names_the_watched_event() -> None:
    """The rebound watch's evidence holds a built-in event's code as its names (epi returns
    codes): the panel names it in the page's language; an event of the caller's own keeps the
    names it was given."""

    def event_row(rebound: dict[str, Any]) -> str:
        (block,) = evidence_blocks({"rebound": rebound})
        return str(block.rows[0][1])

    built_in = {"event": "spring_festival", "event_zh": "spring_festival",
                "event_en": "spring_festival", "event_start": "2023-01-21"}  # fmt: skip
    own = {"event": "fair", "event_zh": "庙会", "event_en": "the county fair",
           "event_start": "2023-03-01"}  # fmt: skip
    with translation.override("zh-hans"):
        assert event_row(built_in) == "春节 (1月21日)" and event_row(own).startswith("庙会")
    with translation.override("en"):
        assert event_row(built_in).startswith("the Spring Festival")
        assert event_row(own).startswith("the county fair")


def test_evidence_blocks_skip_what_was_not_recorded() -> None:
    assert evidence_blocks({}) == []
    with translation.override("en"):
        assert [b.title for b in evidence_blocks({"sum7": 3.0})] == ["The numbers"]
    assert grouped(1234567.891, 1) == "1,234,567.9" and grouped(None) == "—"


# --- tables: sort, page, colour, role, export --------------------------------------------------


def test_children_table_sorts_pages_and_names_the_role(county_client: Any, tmp_path: Path) -> None:
    data.add_villages(tmp_path, data.TOWN_B, 60)  # 61 villages under township B
    html = _en(county_client, _url(data.TOWN_B, "?sort=name&dir=asc"))
    names = re.findall(r'<th scope="row"><a [^>]*>([^<]+)</a>', html)
    assert len(names) == tables.PAGE_SIZE
    assert names == sorted(names)
    assert "1–50 of 61" in html and "village doctor" in html
    page2 = _en(county_client, _url(data.TOWN_B, "?sort=name&dir=asc&page=2"))
    rest = re.findall(r'<th scope="row"><a [^>]*>([^<]+)</a>', page2)
    assert len(rest) == 11 and set(rest).isdisjoint(names)
    assert 'aria-sort="ascending"' in html


def test_rates_get_colour_classes() -> None:
    assert tables.heat(None, 10) == "heat-none"
    assert tables.heat(0, 10) == "heat-0"
    assert tables.heat(10, 10) == "heat-5" and tables.heat(1, 10) == "heat-1"
    assert tables.completeness_class(0.5) == "cmp-low"
    assert tables.completeness_class(0.9) == "cmp-mid"
    assert tables.completeness_class(1.0) == "cmp-ok"
    rows = tables.sort_rows(
        [
            {"code": "b", "incidence": None},
            {"code": "a", "incidence": 2.0},
            {"code": "c", "incidence": 5.0},
        ],
        "incidence",
        False,
    )
    assert [r["code"] for r in rows] == ["a", "c", "b"]  # no value: last either way


def test_xlsx_export_has_chinese_headers_and_matches_the_table(county_client: Any) -> None:
    response = county_client.get(_url(data.COUNTY, "?table=children&format=xlsx"))
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/vnd.openxmlformats")
    sheet = load_workbook(io.BytesIO(response.content)).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0] == (
        "名称",
        "代码",
        "责任方",
        "人口",
        "7天数量",
        "较前7天变化",
        "每10万人",
        "阶段",
        "报告到达率",
    )
    assert rows[1][:2] == ("甲镇", data.TOWN_A) and rows[2][:2] == ("乙乡", data.TOWN_B)
    assert rows[1][3:5] == (3000, 19) and rows[1][6] == pytest.approx(633.333, abs=1e-3)
    # Nothing reported in the 7 days before the window, and no cycle has judged the day.
    assert rows[1][5] is None and rows[1][7] is None
    assert rows[1][8] == 0.5 and rows[1][2] == "乡镇卫生院"
    html = county_client.get(_url(data.COUNTY)).content.decode()
    shown = re.findall(r'<th scope="row"><a [^>]*>([^<]+)</a>', html)
    assert shown == [r[0] for r in rows[1:]]


def test_csv_export_of_completeness(county_client: Any) -> None:
    response = county_client.get(_url(data.COUNTY, "?table=completeness&format=csv"))
    text = response.content.decode("utf-8-sig")
    table = list(csv.reader(io.StringIO(text)))
    assert table[0][0] == "级别" and len(table) == 3


# --- province views, thousands ----------------------------------------------------------------


def test_province_page_has_the_ranking_and_small_multiples(admin_client: Any) -> None:
    html = admin_client.get(_url(data.PROVINCE)).content.decode()
    spec = _spec(html, "spec-multiples")
    assert spec is not None and spec["facet"]["field"] == "name"
    assert {v["name"] for v in spec["data"]["values"]} == {"测试市"}
    assert "100,000" in html  # the province's population, grouped
    county = admin_client.get(_url(data.PREFECTURE)).content.decode()
    multiples = _spec(county, "spec-multiples")
    assert multiples is not None
    assert [v["value"] for v in multiples["data"]["values"]][-7:] == [3, 3, 3, 3, 3, 3, 5]


def test_print_stylesheet_is_linked(county_client: Any) -> None:
    html = county_client.get(_url(data.COUNTY)).content.decode()
    assert re.search(r'<link rel="stylesheet" href="[^"]*print\.css" media="print">', html)


def test_chart_specs_are_valid_vega_lite(tree: None) -> None:
    """The specs are built without Altair's validation on every page; it is done here."""
    from altair.utils.schemapi import validate_jsonschema
    from altair.vegalite.v6.schema.core import load_schema

    from ruralwatch.dashboard import charts, multiples

    schema = load_schema()
    county = area_overview(Area.objects.get(code=data.COUNTY), within=None)
    province = area_overview(Area.objects.get(code=data.PROVINCE), within=None)
    band = [{"date": "2023-01-06", "reported": 3, "nowcast": 5.0, "lower": 2.0, "upper": 9.0}]
    specs = [
        charts.epicurve(county.series),
        charts.epicurve(county.series, "死亡数", band=band),
        charts.children_ranking(province.children, lambda c: c),
        multiples.small_multiples(county.child_series, "新增病例数"),
    ]
    for spec in specs:
        assert spec is not None
        validate_jsonschema(spec, schema)
    curve = specs[0]
    assert curve["data"]["values"][-1] == {"date": "2023-01-07", "value": 5.0, "mean": 3.29}
    assert len(specs[3]["data"]["values"]) == 7 + 4  # A: days 1–7; B: days 1, 3, 5, 7


def test_the_nowcast_band_is_drawn_on_new_cases_only(county_client: Any, tmp_path: Path) -> None:
    _add_deaths(tmp_path)
    judgement = _judge()
    judgement.evidence = {
        **EVIDENCE,
        "nowcast": {
            "pending": 2.0,
            "days": ["2023-01-06", "2023-01-07"],
            "reported": [3, 5],
            "nowcast": [4.0, 7.0],
            "lower": [3.0, 5.0],
            "upper": [6.0, 11.0],
        },
    }
    judgement.save()
    cases = _spec(county_client.get(_url(data.COUNTY)).content.decode(), "spec-curve")
    deaths = _spec(
        county_client.get(_url(data.COUNTY, "?indicator=deaths")).content.decode(), "spec-curve"
    )
    assert cases is not None and deaths is not None
    assert len(cases["layer"]) > 2 and len(deaths["layer"]) == 2
