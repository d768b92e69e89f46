"""The dashboard's choropleth on real outlines: its data over HTTP and the map in chromium.

A county on Yiyang county's real outline (宜阳县, Luoyang, from ``data/geo``) with eight
townships whose seats lie inside it and one village each; the townships' and villages' shapes
are derived (Voronoi cells). Villages report ``new_cases`` for seven days.
"""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import json
import os
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from django.test import Client

from ruralwatch.accounts.services import create_user_with_jurisdiction
from ruralwatch.areas import geometry
from ruralwatch.areas.services import import_areas, import_boundaries
from ruralwatch.reporting.services import import_reports, roll_up
from tests.browser import chromium
from tests.shared import DATA

PROVINCE, PREFECTURE, COUNTY = "410000000000", "410300000000", "410327000000"
TOWNSHIPS = [f"410327{100 + t:03d}000" for t in range(1, 9)]
DAY1, DAY7 = dt.date(2023, 1, 1), dt.date(2023, 1, 7)
NOW = dt.datetime(2023, 2, 1, 12, 0, tzinfo=dt.UTC)
SCREENSHOT = Path(os.environ.get("RURALWATCH_MAP_SCREENSHOT", "/tmp/map-county.png"))


@cache
def _features() -> dict[str, dict[str, Any]]:
    out = {}
    for name in ("cn_provinces", "cn_prefectures", "cn_counties"):
        with gzip.open(DATA / "geo" / f"{name}.geojson.gz", "rt", encoding="utf-8") as fh:
            for f in json.load(fh)["features"]:
                if f["properties"]["code"] in (PROVINCE, PREFECTURE, COUNTY):
                    out[f["properties"]["code"]] = f
    return out


def _write(path: Path, rows: list[tuple[object, ...]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows(rows)
    return path


def build(tmp_path: Path) -> None:
    outline = geometry.parse(_features()[COUNTY]["geometry"])
    rng = np.random.default_rng(5)
    seats = geometry.sample_inside(outline, len(TOWNSHIPS), rng)
    rows: list[tuple[object, ...]] = [
        ("code", "name", "level", "parent_code", "population", "lon", "lat"),
        (PROVINCE, "河南省", 1, "", 90_000_000, "", ""),
        (PREFECTURE, "洛阳市", 2, PROVINCE, 7_000_000, "", ""),
        (COUNTY, "宜阳县", 3, PREFECTURE, 80_000, "", ""),
    ]
    reports: list[tuple[object, ...]] = [
        ("area_code", "date", "indicator", "value", "submitted_at")
    ]
    for t, (code, (x, y)) in enumerate(zip(TOWNSHIPS, seats, strict=True)):
        village = code[:9] + "201"
        rows.append((code, f"第{t + 1}镇", 4, COUNTY, 10_000, float(x), float(y)))
        rows.append((village, f"第{t + 1}村", 5, code, 10_000, float(x), float(y)))
        for i in range(7):
            day = DAY1 + dt.timedelta(days=i)
            reports.append((village, day.isoformat(), "new_cases", str(t + i % 2), f"{day} 20:00"))
    import_areas(_write(tmp_path / "areas.csv", rows))
    path = tmp_path / "b.geojson"
    path.write_text(
        json.dumps({"type": "FeatureCollection", "features": list(_features().values())}),
        encoding="utf-8",
    )
    import_boundaries(path)
    import_reports(_write(tmp_path / "reports.csv", reports), now=NOW)
    roll_up(DAY1, DAY7)


@pytest.mark.django_db
def test_map_data_has_one_feature_per_township_with_its_measures(tmp_path: Path) -> None:
    build(tmp_path)
    create_user_with_jurisdiction("county", "pw-county-123", COUNTY, "county")
    create_user_with_jurisdiction("town", "pw-town-123", TOWNSHIPS[0], "township")
    client = Client()
    client.login(username="county", password="pw-county-123")
    response = client.get(f"/area/{COUNTY}/map.json?date={DAY7}")
    assert response.status_code == 200
    features = response.json()["features"]
    assert sorted(f["properties"]["code"] for f in features) == TOWNSHIPS
    first = next(f for f in features if f["properties"]["code"] == TOWNSHIPS[0])
    # Village of township 1 reports 0, 1, 0, 1, 0, 1, 0: 3 cases per 10,000 people.
    assert first["properties"]["cases"] == 3
    assert first["properties"]["incidence"] == pytest.approx(30.0)
    assert first["properties"]["completeness"] == 100.0
    assert first["properties"]["derived"] is True
    assert first["url"].startswith(f"/area/{TOWNSHIPS[0]}/")
    assert all(f["geometry"]["type"] == "MultiPolygon" for f in features)
    assert len(response.content) < 100_000
    # A township user cannot read the county's map: the same 404 as an unknown area.
    other = Client()
    other.login(username="town", password="pw-town-123")
    assert other.get(f"/area/{COUNTY}/map.json").status_code == 404
    assert other.get("/area/419999000000/map.json").status_code == 404
    assert other.get(f"/area/{TOWNSHIPS[0]}/map.json").status_code == 200
    assert client.get(f"/area/{COUNTY}/map.json?indicator=nope").status_code == 404


@pytest.mark.browser
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_county_map_draws_one_shape_per_township_and_drills_down(
    live_server, transactional_db, tmp_path: Path
) -> None:
    build(tmp_path)
    create_user_with_jurisdiction("county", "pw-county-123", COUNTY, "county")
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1440, "height": 900})
        page.set_default_timeout(60_000)
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.on(
            "console", lambda m: errors.append(m.text) if m.type in ("error", "warning") else None
        )
        page.goto(f"{live_server.url}/accounts/login/")
        page.fill("input[name=username]", "county")
        page.fill("input[name=password]", "pw-county-123")
        page.click("button[type=submit].primary")
        page.goto(f"{live_server.url}/area/{COUNTY}/?date={DAY7}")
        page.wait_for_selector("#map[data-rendered='true'] svg")
        shapes = "#map svg g.mark-shape.role-mark path"
        assert page.locator(shapes).count() == len(TOWNSHIPS)
        assert page.locator("#map-derived").count() == 1  # the map says the shapes are derived
        page.locator("#map-card").screenshot(path=str(SCREENSHOT))
        for measure in ("change", "level", "completeness", "coverage", "incidence"):
            page.select_option("#map-measure", measure)
            page.wait_for_function(
                "m => document.querySelector('#map').dataset.spec === 'spec-map-' + m", arg=measure
            )
            page.wait_for_selector("#map[data-rendered='true'] svg g.mark-shape path")
            assert page.locator(shapes).count() == len(TOWNSHIPS)
        # Click a township's shape: its page opens, with its village's shape.
        page.locator(shapes).first.click(force=True)
        page.wait_for_selector("h1:has-text('镇')")
        page.wait_for_selector("#map[data-rendered='true'] svg g.mark-shape path")
        assert "/area/410327" in page.url and page.url.split("/area/")[1][:12] in TOWNSHIPS
        assert page.locator(shapes).count() == 1
        assert errors == []


@pytest.mark.django_db
def test_briefing_map_draws_the_township_shapes_as_vectors(tmp_path: Path) -> None:
    import base64
    import re

    from ruralwatch.areas.models import Area
    from ruralwatch.briefings.selectors import briefing_content
    from ruralwatch.briefings.services import render_html

    build(tmp_path)
    content = briefing_content(Area.objects.get(code=COUNTY), DAY7, "zh-hans", now=NOW)
    html = render_html(content, issue=1)
    svgs = [
        base64.b64decode(u).decode("utf-8")
        for u in re.findall(r'src="data:image/svg\+xml;base64,([^"]+)"', html)
    ]
    svg = next(s for s in svgs if "mark-shape" in s)
    group = re.search(r'<g class="mark-shape role-mark[^"]*"[^>]*>(.*?)</g>', svg, re.S)
    assert group is not None
    assert group.group(1).count("<path") == len(TOWNSHIPS)
    assert "第1镇" in svg  # names as text, in the CJK font
    assert "泰森多边形" in html  # the note says the boundaries are derived (Voronoi cells)
