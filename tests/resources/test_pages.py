"""The gap list and the allocation pages: scoped, in Chinese and English, exportable."""

from __future__ import annotations

import io

import pytest
from django.test import Client
from django.utils import translation
from openpyxl import load_workbook

from ruralwatch.accounts.services import create_user_with_jurisdiction
from ruralwatch.synth.resources import Resources
from tests.resources.conftest import county

PASSWORD = "pw-resources-123"


def _client(username: str, area: str, role: str) -> Client:
    create_user_with_jurisdiction(username, PASSWORD, area, role)
    c = Client()
    assert c.login(username=username, password=PASSWORD)
    return c


@pytest.fixture
def county_client(loaded: Resources, region) -> Client:
    return _client("res_county", county(region).code, "county")


def test_gap_page_lists_gaps_in_both_languages(
    county_client: Client, loaded: Resources, region
) -> None:
    code = county(region).code
    r = county_client.get("/resources/")
    assert r.status_code == 302 and r["Location"].endswith(f"/resources/area/{code}/")
    page = county_client.get(f"/resources/area/{code}/?date=2023-02-05")
    assert page.status_code == 200
    text = page.content.decode()
    out = next(t for t in loaded.truth if t["kind"] == "stock_out")
    name = loaded.facilities.filter(loaded.facilities["code"] == out["facility"])["name"][0]
    assert name in text and "缺货" in text
    county_client.post("/i18n/setlang/", {"language": "en", "next": "/"})
    en = county_client.get(f"/resources/area/{code}/?date=2023-02-05").content.decode()
    assert "out of stock" in en and "Coverage gaps" in en
    x = county_client.get(f"/resources/area/{code}/?date=2023-02-05&format=xlsx")
    assert x.status_code == 200
    ws = load_workbook(io.BytesIO(x.content)).active
    n_gaps = sum(
        1
        for t in loaded.truth
        if t["kind"] in ("stock_out", "below_minimum", "short_days_of_supply")
    )
    assert ws.max_row == n_gaps + 1  # the header and every gap


def test_allocation_page_allocates_and_exports(county_client: Client, region) -> None:
    code = county(region).code
    url = (
        f"/resources/area/{code}/allocate/?date=2023-02-05&supply_antigen_kit=2000"
        "&supply_pulse_oximeter=100&mode=weighted"
    )
    page = county_client.get(url)
    assert page.status_code == 200
    text = page.content.decode()
    assert "抗原检测试剂" in text and "分配结果" in text
    x = county_client.get(url + "&format=xlsx")
    ws = load_workbook(io.BytesIO(x.content)).active
    rows = list(ws.iter_rows(values_only=True))
    header, body = rows[0], rows[1:]
    # "Item" is one msgid across the catalogs (Django merges them; the first app's wins).
    with translation.override("zh-hans"):
        item_label = translation.gettext("Item")
    col, item = header.index("单位数"), header.index(item_label)
    assert body and all(isinstance(r[col], int) and r[col] > 0 for r in body)
    kits = sum(r[col] for r in body if r[item] == "抗原检测试剂")
    oximeters = sum(r[col] for r in body if r[item] == "指夹式脉搏血氧仪")
    assert 0 < kits <= 2000 and kits % 50 == 0  # whole packs of 50, within the shipment
    assert 0 < oximeters <= 100
    bad = county_client.get(f"/resources/area/{code}/allocate/?supply_antigen_kit=abc")
    assert bad.status_code == 200 and "数量须为 0 到" in bad.content.decode()


def test_outside_and_missing_areas_are_the_same_404(loaded: Resources, region) -> None:
    townships = region.townships["code"].to_list()
    c = _client("res_township", townships[0], "township")
    for path in ("/resources/area/{}/", "/resources/area/{}/allocate/?supply_antigen_kit=10"):
        outside = c.get(path.format(townships[1]))
        missing = c.get(path.format("990199999000"))
        assert outside.status_code == missing.status_code == 404
    inside = c.get(f"/resources/area/{townships[0]}/")
    assert inside.status_code == 200
    assert region.townships["name"][1] not in inside.content.decode()


def test_pages_of_an_area_without_a_registry(db: None, region, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from tests.resources.conftest import load_tree

    load_tree(region, tmp_path)
    c = _client("res_empty", county(region).code, "county")
    code = county(region).code
    assert c.get(f"/resources/area/{code}/").status_code == 200
    page = c.get(f"/resources/area/{code}/allocate/?supply_antigen_kit=100")
    assert page.status_code == 200
