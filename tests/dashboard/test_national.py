"""The national overview: the home page of users who see the whole tree when the tree has
several roots (the provinces of a national deployment). Its figures are the sums of the roots'
roll-ups, computed here by hand from the reports."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from ruralwatch.areas.services import import_areas
from ruralwatch.reporting.services import import_reports, roll_up
from tests.dashboard import data

SECOND = "120000000000"
SECOND_VILLAGE = "120101001001"
DAY = "2023-01-07"


def _write(path: Path, rows: list[tuple[object, ...]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows(rows)
    return path


def add_second_province(tmp_path: Path) -> None:
    """Beside the dashboard's tree (测试省, 23 cases in the 7 days to DAY7, 100,000 people), a
    second province whose one village reports 10 cases on DAY7 (40,000 people)."""
    areas: list[tuple[object, ...]] = [
        ("code", "name", "level", "parent_code", "population"),
        (SECOND, "另一省", 1, "", 40000),
        ("120100000000", "另一市", 2, SECOND, 20000),
        ("120101000000", "另一县", 3, "120100000000", 5000),
        ("120101001000", "另一镇", 4, "120101000000", 2000),
        (SECOND_VILLAGE, "另一村", 5, "120101001000", 1000),
    ]
    import_areas(_write(tmp_path / "second.csv", areas))
    reports = [("area_code", "date", "indicator", "value"), (SECOND_VILLAGE, DAY, "new_cases", 10)]
    import_reports(_write(tmp_path / "second-reports.csv", reports), now=data.NOW)
    roll_up(data.DAY1, data.DAY8)


@pytest.fixture
def two_provinces(tree: None, tmp_path: Path) -> None:
    add_second_province(tmp_path)


@pytest.fixture
def national_client(client, two_provinces: None):
    client.force_login(get_user_model().objects.create_superuser("root", password="pw-123456"))
    return client


def _kpi(html: str, code: str) -> str:
    found = re.search(rf'data-kpi="{code}">.*?<span class="kpi-value">([^<]*)</span>', html, re.S)
    assert found, code
    return found.group(1).strip()


def _spec(html: str, name: str) -> dict:
    import json

    found = re.search(rf'<script id="{name}" type="application/json">(.*?)</script>', html, re.S)
    assert found, name
    return json.loads(found.group(1))


def test_home_is_the_national_overview(national_client) -> None:
    html = national_client.get(reverse("dashboard:home"), {"date": DAY}).content.decode()
    assert re.search(r'<h1 id="national">全国 <small>2 个省', html), html[:2000]
    # 7-day sums of both provinces: 7 + 12 + 4 in 测试省, 10 in 另一省.
    assert _kpi(html, "new_cases") == "33"
    assert _kpi(html, "incidence") == f"{33 / 140000 * 100000:.1f}"
    # The ranking: 另一省 (25.0 per 100,000) above 测试省 (23.0), each linked to its page.
    rows = re.findall(r'<tr data-href="/area/(\d{12})/', html)
    assert rows == [SECOND, data.PROVINCE]
    # The national curve is the sum of the roots' roll-ups: on DAY7 1 (A1) + 4 (B1) + 10.
    curve = _spec(html, "spec-curve")
    values = {r["date"]: r["value"] for r in curve["data"]["values"]}
    assert values[DAY] == 15
    assert values["2023-01-01"] == 3  # 1 (A1) + 2 (A2) + 0 (B1)
    # No links that need an area code (briefings, panels of one area).
    assert 'id="briefings-link"' not in html and 'id="panels"' not in html


def test_national_overview_in_english_and_its_export(national_client) -> None:
    national_client.post(reverse("set_language"), {"language": "en", "next": "/"})
    html = national_client.get(reverse("dashboard:home"), {"date": DAY}).content.decode()
    assert re.search(r'<h1 id="national">National <small>2 provinces', html)
    exported = national_client.get(
        reverse("dashboard:home"), {"date": DAY, "table": "children", "format": "csv"}
    )
    assert exported.status_code == 200
    rows = list(csv.reader(io.StringIO(exported.content.decode("utf-8-sig"))))
    codes = [r[1] for r in rows[1:]]
    assert codes == [SECOND, data.PROVINCE], rows


def test_province_breadcrumb_starts_at_the_national_overview(national_client, client) -> None:
    html = national_client.get(reverse("dashboard:area", args=[data.COUNTY])).content.decode()
    crumbs = re.search(r'<nav class="crumbs".*?</nav>', html, re.S)
    assert crumbs
    assert '<a href="/" data-drill>全国</a>' in crumbs.group(0)
    assert f"/area/{data.PROVINCE}/" in crumbs.group(0)


def test_a_single_root_is_still_the_home_page(client, tree) -> None:
    client.force_login(get_user_model().objects.create_superuser("root", password="pw-123456"))
    html = client.get(reverse("dashboard:home")).content.decode()
    assert 'id="national"' not in html and "测试省" in html
    crumbs = re.search(r'<nav class="crumbs".*?</nav>', html, re.S)
    assert crumbs and "全国" not in crumbs.group(0)


def test_jurisdiction_users_never_see_the_national_overview(
    client, user_county, two_provinces
) -> None:
    client.force_login(user_county)
    html = client.get(reverse("dashboard:home")).content.decode()
    assert 'id="national"' not in html and "另一省" not in html
    crumbs = re.search(r'<nav class="crumbs".*?</nav>', html, re.S)
    assert crumbs and "全国" not in crumbs.group(0)
