# ruff: noqa: F811  (fixtures imported from the resources and key-area tests, used by name)
"""The area page's resources and key-area panels (a fragment the page fetches after it is
shown): the numbers against the synthetic truth, the "as of" day, both languages, scoping."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import Any

from django.test import Client

from ruralwatch.accounts.services import create_user_with_jurisdiction
from ruralwatch.synth.resources import Resources
from tests.keyareas.conftest import COUNTY as KA_COUNTY
from tests.keyareas.conftest import (  # noqa: F401  (fixtures)
    DAY,
    P1,
    P2,
    P3,
    PASTURE,
    _module_world,
    tag_pasture,
    users,
    world,
)
from tests.resources.conftest import ON, county, loaded, region, synthetic  # noqa: F401

PASSWORD = "pw-panels-123"


def _client(username: str, area: str, role: str, language: str = "zh-hans") -> Client:
    create_user_with_jurisdiction(username, PASSWORD, area, role)
    client = Client(HTTP_ACCEPT_LANGUAGE=language)
    assert client.login(username=username, password=PASSWORD)
    return client


def _kpi(text: str, name: str) -> str:
    match = re.search(rf'data-kpi="{name}".*?class="kpi-value[^"]*">([^<]*)<', text, re.S)
    assert match, f"no {name} tile"
    return match[1].strip()


def _item_row(text: str, item: str) -> list[str]:
    match = re.search(rf"<th scope=\"row\">{re.escape(item)}</th>(.*?)</tr>", text, re.S)
    assert match, f"no row for {item}"
    return re.findall(r">([\d,]+)</td>", match[1])


def test_resources_panel_counts_what_the_truth_holds(loaded: Resources, region: Any) -> None:
    code = county(region).code
    client = _client("panel_county", code, "county")
    page = client.get(f"/area/{code}/?date={ON.isoformat()}").content.decode()
    # The page does not wait for the panels: it names the fragment to fetch.
    assert f'data-lazy="/area/{code}/panels/?date={ON.isoformat()}"' in page
    text = client.get(f"/area/{code}/panels/", HTTP_HX_REQUEST="true").content.decode()
    assert "2023-02-05 药品与器械" in text  # the "as of" day the session remembers
    truth = [t for t in loaded.truth if t.get("date", ON.isoformat()) == ON.isoformat()]
    stock_outs = [t for t in truth if t["kind"] == "stock_out"]
    assert stock_outs and _kpi(text, "stock-outs") == f"{len(stock_outs):,}"
    # Per item: the stock-outs and the facilities below the minimum, as the truth has them.
    from ruralwatch.resources.models import Item

    by_item = Counter(t["item"] for t in stock_outs)
    below = Counter(t["item"] for t in truth if t["kind"] == "below_minimum")
    for item in Item.objects.all():
        if by_item[item.code] or below[item.code]:
            cells = _item_row(text, item.name_zh)
            assert int(cells[0].replace(",", "")) == by_item[item.code], item.code
            assert int(cells[1].replace(",", "")) == below[item.code], item.code
    gaps = Counter(
        t["kind"] for t in truth if t["kind"] in ("no_fever_clinic", "clinic_without_doctor")
    )
    if gaps["clinic_without_doctor"]:
        assert f"村卫生室无村医: <strong>{gaps['clinic_without_doctor']}</strong>" in text
    assert f'/resources/area/{code}/?date=2023-02-05"' in text
    # English, and a day with no stock report yet (the gap list says so, nothing made up).
    en = _client("panel_county_en", code, "county", "en")
    english = en.get(f"/area/{code}/panels/?date={ON.isoformat()}").content.decode()
    assert "Medicines and equipment on 2023-02-05" in english and "Out of stock" in english
    early = en.get(f"/area/{code}/panels/?date=2022-06-01").content.decode()
    assert _kpi(early, "stock-outs") == "0" and "No recent report" in early


def test_panels_are_scoped_as_the_page(loaded: Resources, region: Any) -> None:
    code = county(region).code
    township = region.areas.filter(region.areas["level"] == 4)["code"]
    mine, other = township[0], township[1]
    client = _client("panel_town", mine, "township")
    assert client.get(f"/area/{mine}/panels/").status_code == 200
    for forbidden in (code, other, "990199999999"):
        assert client.get(f"/area/{forbidden}/panels/").status_code == 404
    assert Client().get(f"/area/{mine}/panels/").status_code == 302  # the login first


def test_key_area_panel_puts_the_rising_first(
    users: dict[str, Any],
    tmp_path: Path,
    settings: Any,
) -> None:
    tag_pasture(tmp_path)
    client = Client(HTTP_ACCEPT_LANGUAGE="zh-hans")
    client.force_login(users["county"])
    text = client.get(f"/area/{KA_COUNTY}/panels/?date={DAY.isoformat()}").content.decode()
    assert f"{DAY.isoformat()} 重点地区监测" in text
    rows = re.findall(r'<a href="/keyareas/area/(\d+)/[^"]*">', text)
    assert set(rows) == {PASTURE, P1, P2, P3}
    badges = re.findall(r'<span class="ka-badge ka-(\w+)">', text)
    status = dict(zip(rows, badges, strict=True))
    # P2's three cases are a rise, P1's one case after 48 quiet days a first case, P3 low;
    # the most urgent come first.
    assert (status[P2], status[P1], status[P3]) == ("rising", "first_case", "low")
    order = ("rising", "first_case", "no_reports", "low")
    assert [order.index(b) for b in badges] == sorted(order.index(b) for b in badges)
    counts = dict(re.findall(r'<li class="ka-(\w+)[^"]*">[^<]*<strong>(\d+)</strong>', text))
    assert {k: int(v) for k, v in counts.items()} == {s: badges.count(s) for s in order}
    assert "无待处理的支援请求" in text
    en = Client(HTTP_ACCEPT_LANGUAGE="en")
    en.force_login(users["county"])
    english = en.get(f"/area/{KA_COUNTY}/panels/?date={DAY.isoformat()}").content.decode()
    assert "Key areas under watch on 2023-02-18" in english and "rising" in english
    # A township without key areas says so; another county is missing.
    town = Client(HTTP_ACCEPT_LANGUAGE="en")
    town.force_login(users["town"])
    own = users["town"].profile.jurisdiction_id
    assert "No key area" in town.get(f"/area/{own}/panels/").content.decode()
    outside = Client()
    outside.force_login(users["outside"])
    assert outside.get(f"/area/{KA_COUNTY}/panels/").status_code == 404
