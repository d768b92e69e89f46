"""Dashboard pages: scoping on every endpoint, both languages, bounded queries."""

from __future__ import annotations

import json
import re
from pathlib import Path

from django.contrib.auth import get_user_model
from django.urls import reverse

from ruralwatch.accounts.models import Profile
from tests.dashboard import data


def _area_url(code: str) -> str:
    return reverse("dashboard:area", args=[code])


def _spec(html: str, name: str) -> dict:
    found = re.search(rf'<script id="{name}" type="application/json">(.*?)</script>', html, re.S)
    assert found, name
    return json.loads(found.group(1))


def _same_page(content: bytes) -> str:
    text = re.sub(r'name="csrfmiddlewaretoken" value="[^"]*"', "", content.decode())
    return re.sub(r"/area/[0-9]{12}/", "/area/…/", text)


def test_anonymous_is_sent_to_login(client, tree) -> None:
    for url in (reverse("dashboard:home"), _area_url(data.COUNTY), _area_url(data.MISSING)):
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("login"))


def test_out_of_scope_and_missing_get_the_same_404(client, user_a) -> None:
    client.force_login(user_a)
    responses = [
        client.get(_area_url(code))
        for code in (data.TOWN_B, data.B1, data.COUNTY, data.PROVINCE, data.MISSING)
    ]
    assert {r.status_code for r in responses} == {404}
    # The page names the path asked for and carries a fresh CSRF token: nothing else differs.
    assert len({_same_page(r.content) for r in responses}) == 1
    htmx = client.get(_area_url(data.TOWN_B), HTTP_HX_REQUEST="true")
    assert htmx.status_code == 404
    assert _same_page(htmx.content) == _same_page(responses[0].content)


def test_in_scope_pages(client, user_a) -> None:
    client.force_login(user_a)
    home = client.get(reverse("dashboard:home"))
    assert home.status_code == 200
    html = home.content.decode()
    assert "甲镇" in html and "甲一村" in html and "甲二村" in html
    assert "乙乡" not in html and "测试县" not in html  # nothing above the jurisdiction
    assert client.get(_area_url(data.A1)).status_code == 200


def test_superuser_sees_everything(client, tree) -> None:
    admin = get_user_model().objects.create_superuser("root", password="pw-123456")
    client.force_login(admin)
    for code in (data.PROVINCE, data.COUNTY, data.TOWN_B, data.B1):
        assert client.get(_area_url(code)).status_code == 200
    assert client.get(_area_url(data.MISSING)).status_code == 404
    home = client.get(reverse("dashboard:home"))  # the single root
    assert home.status_code == 200 and "测试省" in home.content.decode()


def test_user_without_jurisdiction_is_denied(client, tree) -> None:
    user = get_user_model().objects.create_user("nobody", password="pw-123456")
    Profile.objects.create(user=user, jurisdiction=None, role="county")
    client.force_login(user)
    assert client.get(reverse("dashboard:home")).status_code == 403
    assert client.get(_area_url(data.COUNTY)).status_code == 404


def test_county_page_in_chinese(client, user_county) -> None:
    client.force_login(user_county)
    response = client.get(_area_url(data.COUNTY))
    html = response.content.decode()
    assert response.status_code == 200
    assert '<html lang="zh-hans">' in html
    assert "流行曲线" in html and "新增病例数" in html and "每10万" in html
    assert "633.3" in html and "200.0" in html
    assert "50%" in html  # township A: 1 of 2 reports on day 7
    spec = _spec(html, "spec-children")
    assert spec["projection"]["type"] == "mercator"
    assert spec["layer"][1]["encoding"]["tooltip"][0]["title"] == "名称"
    # A county is mapped village by village (the table below lists its townships).
    assert {v["url"] for v in spec["data"]["values"]} == {
        _area_url(data.A1),
        _area_url(data.A2),
        _area_url(data.B1),
    }
    assert "每个圆点代表一个村" in html
    curve = _spec(html, "spec-curve")
    assert [v["value"] for v in curve["data"]["values"]][-7:] == [3, 3, 3, 3, 3, 3, 5]
    assert reverse("dashboard:vega_bundle") in html


def test_county_page_in_english(client, user_county) -> None:
    client.force_login(user_county)
    response = client.get(_area_url(data.COUNTY), HTTP_ACCEPT_LANGUAGE="en")
    html = response.content.decode()
    assert '<html lang="en">' in html
    assert "Epidemic curve: New cases" in html
    assert "2 areas below" in html
    tooltip = _spec(html, "spec-children")["layer"][1]["encoding"]["tooltip"]
    assert tooltip[0]["title"] == "Name"


def test_set_language_switches_to_english(client, user_county) -> None:
    client.force_login(user_county)
    url = _area_url(data.COUNTY)
    response = client.post(reverse("set_language"), {"language": "en", "next": url})
    assert response.status_code == 302 and response["Location"] == url
    assert "Epidemic curve" in client.get(url).content.decode()


def test_htmx_request_gets_the_fragment(client, user_county) -> None:
    client.force_login(user_county)
    response = client.get(_area_url(data.TOWN_A), HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in html and 'data-title="甲镇' in html
    assert "HX-Request" in response["Vary"]


def test_village_page_has_curve_without_children(client, user_county) -> None:
    client.force_login(user_county)
    html = client.get(_area_url(data.B1)).content.decode()
    assert "spec-curve" in html and "spec-children" not in html


def test_ranking_when_children_lack_coordinates(client, tree) -> None:
    admin = get_user_model().objects.create_superuser("root", password="pw-123456")
    client.force_login(admin)
    html = client.get(_area_url(data.PROVINCE)).content.decode()  # prefecture has no lon/lat
    assert _spec(html, "spec-children")["mark"]["type"] == "bar"


def test_date_parameter(client, user_county) -> None:
    client.force_login(user_county)
    html = client.get(_area_url(data.TOWN_B) + "?date=2023-01-06").content.decode()
    assert "2022-12-31" in html  # window 12-31 … 01-06
    assert client.get(_area_url(data.TOWN_B) + "?date=bad").status_code == 200


def test_query_count_does_not_grow_with_children(
    client, user_county, tmp_path: Path, django_assert_max_num_queries
) -> None:
    client.force_login(user_county)
    # 21: one of them lists the detection rules the last cycle did not run, one counts the
    # unread notifications for the inbox badge in the navigation, two read the KPI tiles, one
    # counts the map's boundaries, one reads the data version (the dashboard's cache), one
    # reads the outlier flags standing in the curve's days, two read the children's previous
    # 7 days and their phases
    with django_assert_max_num_queries(23) as few:
        assert client.get(_area_url(data.TOWN_B)).status_code == 200
    data.add_villages(tmp_path, data.TOWN_B, 60)
    with django_assert_max_num_queries(23) as many:
        response = client.get(_area_url(data.TOWN_B))
    assert response.status_code == 200
    html = response.content.decode()
    assert html.count('<tr data-href="') == 50  # one page of the 61 villages
    assert "1–50 of 61" in html or "1–50，共 61" in html or "61" in html
    assert len(many.captured_queries) == len(few.captured_queries)


def test_vega_bundle_is_local_and_cached(client) -> None:
    response = client.get(reverse("dashboard:vega_bundle"))
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/javascript")
    assert "max-age" in response["Cache-Control"]
    body = response.content.decode()
    assert "window.vegaEmbed" in body and "drawCharts" in body
    again = client.get(reverse("dashboard:vega_bundle"), HTTP_IF_NONE_MATCH=response["ETag"])
    assert again.status_code == 304


def test_judgement_and_signals_shown_in_both_languages(client, user_county) -> None:
    """After the daily cycle, the county page shows its stored judgement and the signals."""
    from ruralwatch.assessments.models import Judgement
    from ruralwatch.cycle.services import run_cycle
    from ruralwatch.signals.models import DetectionRule, Signal

    DetectionRule.objects.filter(method="cidars-single-case").update(active=False)
    DetectionRule.objects.create(
        indicator_id="new_cases", level=5, method="cidars-single-case", params={"min_cases": 4}
    )
    run_cycle(data.DAY7, root=data.COUNTY, start=data.DAY1)
    judgement = Judgement.objects.get(area_id=data.COUNTY, date=data.DAY7)
    client.force_login(user_county)
    html = client.get(_area_url(data.COUNTY)).content.decode()
    assert judgement.text_zh in html
    assert Signal.objects.filter(area_id=data.B1, date=data.DAY7).exists()  # 4 cases on day 7
    assert "乙一村" in html and "cidars-single-case" in html
    assert ">CIDARS 单病例预警</td>" in html  # the method by its name (the id in its title)
    client.post(reverse("set_language"), {"language": "en", "next": "/"})
    html_en = client.get(_area_url(data.COUNTY)).content.decode()
    assert judgement.text_en in html_en and "Signals in the last 7 days" in html_en
    # A village's judgement is stored compact (its group's sentence and its own numbers:
    # assessments.evidence_texts) and reads whole on its page.
    from ruralwatch.core import bulk

    compact = [
        code
        for code, stored in bulk.rows(
            f"SELECT area_id, text_en FROM {Judgement._meta.db_table} WHERE date = %s",
            [data.DAY7.isoformat()],
        )
        if stored.startswith("§s:")
    ]
    assert compact
    village = Judgement.objects.get(area_id=compact[0], date=data.DAY7)
    html_village = client.get(_area_url(compact[0])).content.decode()
    assert village.text_en in html_village and "§" not in html_village
    assert "new cases in the last 7 days" in village.text_en
