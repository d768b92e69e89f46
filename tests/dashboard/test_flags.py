"""Outlier flags on the area pages (issue 13, item 5): the synthetic demo's injected data
errors (its ``truth.json``) are flagged by the screening through the database, and appear in
the area's flags panel and its export for a user whose jurisdiction holds them and for no
other; on a small tree, the rings of the children's table and of the curve."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from django.test import Client
from django.utils.translation import override
from openpyxl import load_workbook

from ruralwatch.accounts.services import create_user_with_jurisdiction
from ruralwatch.areas.models import Area
from ruralwatch.areas.services import import_areas
from ruralwatch.core.i18n import localized
from ruralwatch.dashboard.flags import area_flags
from ruralwatch.intake import nightly as intake
from ruralwatch.intake.models import FlagStatus, OutlierFlag
from ruralwatch.reporting.models import Indicator
from ruralwatch.reporting.services import import_reports, roll_up
from ruralwatch.synth import ERROR_KINDS, build_demo, truth_to_json
from tests.dashboard import data

pytestmark = pytest.mark.django_db

SEED = 20230122
START, END = dt.date(2022, 12, 1), dt.date(2023, 1, 15)
#: The days screened (the first two weeks are the history the seasonal screen needs).
SCREENED = (dt.date(2022, 12, 15), END)
PASSWORD = "pw-flags-123"


def _login(username: str, code: str, role: str) -> Client:
    create_user_with_jurisdiction(username, PASSWORD, code, role)
    c = Client()
    assert c.login(username=username, password=PASSWORD)
    return c


def _load_demo(tmp_path: Path) -> list[dict[str, Any]]:
    """The demo's county through the importers; its injected errors, as truth.json has them."""
    demo = build_demo(seed=SEED, start=START, end=END)
    areas = tmp_path / "areas.csv"
    demo.region.areas.select("code", "name", "level", "parent_code", "population").write_csv(areas)
    import_areas(areas)
    reports = tmp_path / "reports.csv"
    demo.reports.values.select(
        "area_code",
        "date",
        "indicator",
        "value",
        pl.col("submitted_at").dt.strftime("%Y-%m-%d %H:%M:%S"),
    ).write_csv(reports)
    last = demo.reports.values["submitted_at"].max()
    assert isinstance(last, dt.datetime)
    import_reports(reports, now=last + dt.timedelta(minutes=1))  # as the demo replays it
    roll_up(START, END)
    truth = json.loads(truth_to_json(demo.reports.truth))
    return [t for t in truth if t["kind"] in ERROR_KINDS]


def _csv(client: Client, url: str) -> list[dict[str, str]]:
    r = client.get(url)
    assert r.status_code == 200, r.status_code
    return list(csv.DictReader(io.StringIO(r.content.decode("utf-8-sig"))))


def test_demo_errors_are_flagged_and_shown_to_their_jurisdiction_only(tmp_path: Path) -> None:
    errors = _load_demo(tmp_path)
    intake.screen_outliers(*SCREENED)
    lo, hi = (d.isoformat() for d in SCREENED)
    errors = [e for e in errors if lo <= e["date"] <= hi]
    assert len(errors) > 30
    # The screening flags the injected errors (a whole-day error on its day).
    flags = list(OutlierFlag.objects.values_list("area_id", "date", "indicator"))
    keys = {(a, d.isoformat(), k) for a, d, k in flags}
    days = {(a, d) for a, d, _k in keys}

    def flagged(e: dict[str, Any]) -> bool:
        if e.get("indicator"):
            return (e["area"], e["date"], e["indicator"]) in keys
        return (e["area"], e["date"]) in days

    found = [e for e in errors if flagged(e)]
    assert len(found) >= 0.95 * len(errors), (len(found), len(errors))
    truth_days = {(e["area"], e["date"]) for e in errors}
    true_flags = sum(1 for a, d, _k in keys if (a, d) in truth_days)
    assert true_flags >= 0.8 * len(keys), (true_flags, len(keys))

    # The county's panel for a week: every flagged error of that week is listed, in the
    # export, with the village's code, date and indicator.
    county = Area.objects.get(level=3)
    day = dt.date(2023, 1, 10)
    week = {(day - dt.timedelta(days=i)).isoformat() for i in range(7)}
    in_week = [e for e in found if e["date"] in week]
    assert in_week
    boss = _login("flags_county", county.code, "county")
    boss.post("/i18n/setlang/", {"language": "en", "next": "/"})
    rows = _csv(boss, f"/area/{county.code}/flags/?date={day}&format=csv")
    listed = {(r["Code"], r["Date"]) for r in rows}
    assert {(e["area"], e["date"]) for e in in_week} <= listed
    assert {r["Date"] for r in rows} <= week
    assert (
        len(rows)
        == OutlierFlag.objects.filter(date__range=(day - dt.timedelta(days=6), day)).count()
    )
    # The area page shows the panel with the first of them.
    page = boss.get(f"/area/{county.code}/?date={day}").content.decode()
    assert 'id="flags-panel"' in page
    village = Area.objects.get(code=in_week[0]["area"])
    assert village.name in page
    assert "Flagged values" in page and "to be confirmed" in page

    # A township's user sees its own villages' flags, not the others'.
    town = Area.objects.get(code=village.parent_id)
    other = Area.objects.filter(level=4, parent_id=county.code).exclude(code=town.code).first()
    assert other is not None
    mine = _login("flags_town", town.code, "township")
    # XLSX in the session's language (Chinese by default): Chinese headers.
    x = mine.get(f"/area/{town.code}/flags/?date={day}&format=xlsx")
    sheet = list(load_workbook(io.BytesIO(x.content)).active.iter_rows(values_only=True))
    assert "村" in sheet[0] and "状态" in sheet[0]
    mine.post("/i18n/setlang/", {"language": "en", "next": "/"})
    own = _csv(mine, f"/area/{town.code}/flags/?date={day}&format=csv")
    assert len(sheet) == len(own) + 1
    assert {r["Code"] for r in own} == {
        r["Code"] for r in rows if r["Code"].startswith(town.code[:9])
    }
    assert (village.code, in_week[0]["date"]) in {(r["Code"], r["Date"]) for r in own}
    for path in (
        f"/area/{other.code}/flags/?date={day}&format=csv",
        f"/area/{county.code}/flags/?date={day}",
        f"/area/{other.code}/?date={day}",
    ):
        assert mine.get(path).status_code == 404, path
    # The other township's user does not see this village's flag anywhere.
    theirs = _login("flags_other", other.code, "township")
    page = theirs.get(f"/area/{other.code}/?date={day}").content.decode()
    assert village.code not in page and village.name not in page
    assert theirs.get(f"/area/{village.code}/flags/?date={day}").status_code == 404
    # A confirmed flag stays listed as confirmed; a corrected one leaves the panel.
    first = OutlierFlag.objects.filter(area_id=village.code).first()
    assert first is not None
    intake.set_flag_status(first, FlagStatus.CORRECTED)
    after = _csv(mine, f"/area/{town.code}/flags/?date={day}&format=csv")
    assert len(after) == len(own) - 1


def _flag(area: str, day: dt.date, indicator: str, value: float, status: str = "open") -> None:
    OutlierFlag.objects.create(
        area_id=area,
        date=day,
        indicator=indicator,
        value=value,
        method="seasonal",
        score=7.5,
        baseline=1.2,
        scale=1.0,
        status=status,
        flagged_at=data.NOW,
    )


def test_rings_in_the_table_and_on_the_curve(tmp_path: Path) -> None:
    data.build_tree(tmp_path)
    roll_up(data.DAY1, data.DAY7)
    _flag(data.B1, data.DAY7, "new_cases", 4)
    _flag(data.A1, data.DAY1 + dt.timedelta(days=2), "fever_visits", 90)  # another indicator
    _flag(data.A2, data.DAY7 - dt.timedelta(days=1), "new_cases", 2, status="corrected")
    c = _login("rings_county", data.COUNTY, "county")
    c.post("/i18n/setlang/", {"language": "en", "next": "/"})
    page = c.get(f"/area/{data.COUNTY}/?date={data.DAY7}").content.decode()
    town_b = c.get(f"/area/{data.TOWN_B}/?date={data.DAY7}").content.decode()
    village = c.get(f"/area/{data.B1}/?date={data.DAY7}").content.decode()
    quiet = c.get(f"/area/{data.A1}/?date={data.DAY7}").content.decode()
    # The county's table: a ring on township B's row only (A's flags are of another
    # indicator, or corrected); the panel lists both standing flags.
    rows = page.split('<table class="children sortable">')[1].split("</table>")[0]
    b_row = rows.split(f'data-href="/area/{data.TOWN_B}/')[1].split("</tr>")[0]
    a_row = rows.split(f'data-href="/area/{data.TOWN_A}/')[1].split("</tr>")[0]
    assert 'class="flag-mark"' in b_row and 'class="flag-mark"' not in a_row
    assert "乙一村" in b_row.split('class="flag-mark"')[1].split(">")[0]  # in the tooltip
    panel = page.split('id="flags-panel"')[1].split("</section>")[0]
    assert panel.count("<tr class=") == 2 and "2 to be confirmed" in panel
    # The township page's village table and the curves: a ring layer on day 7 only.
    assert 'class="flag-mark"' in town_b.split('<table class="children sortable">')[1]

    def rings(html: str) -> list[dict[str, Any]]:
        spec = json.loads(html.split('id="spec-curve" type="application/json">')[1].split("<")[0])
        layers = [
            layer
            for layer in spec["layer"]
            if isinstance(layer.get("mark"), dict) and layer["mark"].get("shape") == "circle"
        ]
        return [v for layer in layers for v in layer["data"]["values"]]

    assert [(r["date"], r["value"]) for r in rings(village)] == [(data.DAY7.isoformat(), 4)]
    assert "expected about 1.2" in rings(village)[0]["flag"]
    assert [r["date"] for r in rings(town_b)] == [data.DAY7.isoformat()]
    assert rings(quiet) == []  # A1's flag is of fever visits, not the curve's new cases
    # The reporter corrects B1's value: the cached page shows it at once (the flags table
    # moves the dashboard's data version like every table of the apps).
    flag = OutlierFlag.objects.get(area_id=data.B1)
    intake.set_flag_status(flag, FlagStatus.CORRECTED)
    again = c.get(f"/area/{data.COUNTY}/?date={data.DAY7}").content.decode()
    rows = again.split('<table class="children sortable">')[1].split("</table>")[0]
    assert 'class="flag-mark"' not in rows
    assert rings(c.get(f"/area/{data.B1}/?date={data.DAY7}").content.decode()) == []


def test_each_kind_of_flag_in_words_in_both_languages(tmp_path: Path) -> None:
    """The panel's rows and the rings' notes of a seasonal flag (to be confirmed), a repeated
    day (the whole report, confirmed) and a rule's (confirmed), as written in each language:
    the words every flag repeats are translated once per page (``flags._Words``)."""
    data.build_tree(tmp_path)
    _flag(data.B1, data.DAY7, "new_cases", 4)
    common = {"scale": 1.0, "flagged_at": data.NOW, "status": "confirmed"}
    day = data.DAY7 - dt.timedelta(days=1)
    OutlierFlag.objects.create(
        area_id=data.A1, date=day, indicator="", value=None, method="repeat", score=3,
        baseline=None, **common,
    )  # fmt: skip
    day = data.DAY7 - dt.timedelta(days=2)
    OutlierFlag.objects.create(
        area_id=data.A2, date=day, indicator="new_cases", value=950, method="rule", score=2.5,
        baseline=500, **common,
    )  # fmt: skip
    county = Area.objects.get(code=data.COUNTY)
    cases = Indicator.objects.get(code="new_cases")
    expected = {
        "en": (
            "乙一村 2023-01-07: {i} 4, expected about 1.2 (robust z 7.5); seasonal robust z; "
            "to be confirmed",
            "甲一村 2023-01-06: every value repeats the previous day's report; repeats the "
            "previous day; confirmed as reported",
            "甲二村 2023-01-05: {i} 950 breaks a validation rule (limit 500); validation rule; "
            "confirmed as reported",
        ),
        "zh-hans": (
            "乙一村 2023-01-07：{i} 4，预期约 1.2（稳健 z 7.5）; 季节性稳健 z; 待报告人确认",
            "甲一村 2023-01-06：各项数值与前一天的报告完全相同; 与前一天完全相同; 已确认无误",
            "甲二村 2023-01-05：{i} 950 不符合校验规则（限值 500）; 校验规则; 已确认无误",
        ),
    }
    for language, notes in expected.items():
        with override(language):
            found = area_flags(county, data.DAY1, data.DAY7)
            name = localized(cases, "name")
        by_village = {r["village"]: r for r in found.rows}
        assert [by_village[v]["note"] for v in ("乙一村", "甲一村", "甲二村")] == [
            n.format(i=name) for n in notes
        ], language
        assert by_village["甲一村"]["indicator"] == (
            "the whole day's report" if language == "en" else "当日整份报告"
        )
