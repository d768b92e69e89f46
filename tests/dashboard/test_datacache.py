"""The dashboard's cache (ruralwatch.dashboard.datacache): parts are served from the cache
while the data stays the same, every write to the data changes the version so no stale
number is shown, and nothing of one user leaks to another.

Run on SQLite by default and on PostgreSQL with ``DATABASE_URL`` (the triggers differ).
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest
from django.db import connection, transaction
from django.test import Client
from django.urls import reverse
from django.utils import translation

from ruralwatch.accounts.services import create_user_with_jurisdiction
from ruralwatch.core.problems import ImportRejected
from ruralwatch.dashboard import datacache
from ruralwatch.reporting.services import import_reports, roll_up
from ruralwatch.resources.services import import_facilities
from tests.dashboard import data


def _write(path: Path, rows: list[tuple[object, ...]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows(rows)
    return path


def _client(username: str, area: str, role: str) -> Client:
    create_user_with_jurisdiction(username, f"pw-{username}-123", area, role)
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    assert client.login(username=username, password=f"pw-{username}-123")
    return client


def _row(html: str, code: str) -> str:
    """The children table's row of ``code``."""
    match = re.search(rf'<tr data-href="/area/{code}/[^"]*">(.*?)</tr>', html, re.S)
    assert match, code
    return match.group(1)


def _town_b_cases_to(tmp_path: Path, value: int) -> None:
    """Village B1's report of day 7 corrected to ``value`` cases, rolled up again."""
    rows = [
        ("area_code", "date", "indicator", "value", "submitted_at"),
        (data.B1, data.DAY7.isoformat(), "new_cases", str(value), f"{data.DAY7} 21:00"),
    ]
    import_reports(_write(tmp_path / f"fix-{value}.csv", rows), now=data.NOW)
    roll_up(data.DAY1, data.DAY8)


def _county_page(client: Client) -> str:
    response = client.get(reverse("dashboard:area", args=[data.COUNTY]), {"date": data.DAY7})
    assert response.status_code == 200
    return response.content.decode()


def test_every_table_of_the_apps_has_its_trigger(tree: None) -> None:
    tables = datacache.tracked_tables()
    assert "reporting_reportvalue" in tables and "resources_stockreport" in tables
    assert "keygroups_accesslog" not in tables
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT c.relname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
                "WHERE t.tgname = %s",
                [datacache.TRIGGER],
            )
            with_trigger = {r[0] for r in cursor.fetchall()}
        else:
            cursor.execute(
                "SELECT tbl_name FROM sqlite_master WHERE type = 'trigger' AND name LIKE %s",
                [f"{datacache.TRIGGER}_%"],
            )
            with_trigger = {r[0] for r in cursor.fetchall()}
    assert set(tables) == with_trigger


def test_a_part_is_served_from_the_cache_while_the_version_stays(
    tree: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the version frozen, a corrected report is not seen: the page really comes from
    the cache (so the next test's fresh number is the invalidation's doing)."""
    client = _client("county_frozen", data.COUNTY, "county")
    monkeypatch.setattr(datacache, "data_version", lambda using="default": "frozen")
    assert ">4<" in _row(_county_page(client), data.TOWN_B)  # B1's 4 cases of day 7
    _town_b_cases_to(tmp_path, 9)
    assert ">4<" in _row(_county_page(client), data.TOWN_B)  # stale: the version did not move


def test_an_import_changes_the_version_and_the_page_shows_the_new_value(
    tree: None, tmp_path: Path
) -> None:
    client = _client("county_fresh", data.COUNTY, "county")
    before = datacache.data_version()
    row = _row(_county_page(client), data.TOWN_B)
    assert ">4<" in row and "200.0" in row  # 4 cases per 2,000 people
    assert datacache.data_version() == before  # reading changes nothing
    _town_b_cases_to(tmp_path, 9)
    assert datacache.data_version() != before
    row = _row(_county_page(client), data.TOWN_B)
    assert ">9<" in row and "450.0" in row
    # The village's page and the map's data follow as well.
    village = client.get(reverse("dashboard:area", args=[data.B1]), {"date": data.DAY7})
    assert '"value": 9' in village.content.decode() or '"value":9' in village.content.decode()


def test_a_refused_import_leaves_the_version(tree: None, tmp_path: Path) -> None:
    before = datacache.data_version()
    bad = f"code,name,kind,area_code\nf1,甲一村卫生室,hospital,{data.A1}\n"
    with pytest.raises(ImportRejected):
        import_facilities(_write_text(tmp_path / "bad.csv", bad), today=data.DAY7)
    assert datacache.data_version() == before


def _write_text(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_panels_follow_a_facility_import(tree: None, tmp_path: Path) -> None:
    client = _client("county_panels", data.COUNTY, "county")
    url = reverse("dashboard:panels", args=[data.COUNTY]) + f"?date={data.DAY7}"
    with translation.override("en"):
        assert "No health facility is registered here." in client.get(url).content.decode()
        good = f"code,name,kind,area_code\nf1,甲一村卫生室,village_clinic,{data.A1}\n"
        import_facilities(_write_text(tmp_path / "good.csv", good), today=data.DAY7)
        text = client.get(url).content.decode()
    assert "No health facility is registered here." not in text
    assert re.search(r'data-kpi="facilities">.*?kpi-value">1<', text, re.S)


def test_a_write_by_any_means_changes_the_version(tree: None) -> None:
    """Not only the importers: a statement of any writer (here raw SQL) moves it, and a
    transaction rolled back leaves it."""
    before = datacache.data_version()
    with transaction.atomic():
        sid = transaction.savepoint()
        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE reporting_aggregatevalue SET value = value + 1 WHERE area_id = %s",
                [data.TOWN_B],
            )
        assert datacache.data_version() != before
        transaction.savepoint_rollback(sid)
    assert datacache.data_version() == before


def test_no_user_bit_leaks_between_users_of_different_jurisdictions(tree: None) -> None:
    county = _client("county_user", data.COUNTY, "county")
    town_a = _client("town_a_user", data.TOWN_A, "township")
    town_b = _client("town_b_user", data.TOWN_B, "township")
    url = reverse("dashboard:area", args=[data.TOWN_A])
    first = county.get(url).content.decode()  # fills the cache
    assert "county_user" in first
    assert f'href="/area/{data.COUNTY}/' in first  # the county user's breadcrumb
    response = town_a.get(url)
    second = response.content.decode()
    assert response.status_code == 200
    assert "town_a_user" in second and "county_user" not in second
    # The breadcrumb starts at the user's own jurisdiction, not the county's.
    assert f'href="/area/{data.COUNTY}/' not in second
    # The CSRF token of the page is the user's own (it matches the user's cookie).
    from django.middleware.csrf import _does_token_match

    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', second)
    assert token and _does_token_match(token[1], town_a.cookies["csrftoken"].value)
    assert not _does_token_match(token[1], county.cookies["csrftoken"].value)
    # The cached page, map and panels of township A stay out of township B's reach.
    for name in ("dashboard:area", "dashboard:map_data", "dashboard:panels"):
        assert county.get(reverse(name, args=[data.TOWN_A])).status_code == 200
        assert town_b.get(reverse(name, args=[data.TOWN_A])).status_code == 404


def test_each_language_has_its_own_part(tree: None) -> None:
    client = _client("county_lang", data.COUNTY, "county")
    url = reverse("dashboard:area", args=[data.COUNTY])
    english = client.get(url, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    client.cookies.pop("django_language", None)
    chinese = client.get(url, HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "Epidemic curve" in english and "Epidemic curve" not in chinese


def test_the_cycle_changes_the_version_and_the_page_shows_its_judgement(tree: None) -> None:
    from ruralwatch.assessments.models import Judgement
    from ruralwatch.cycle.services import run_cycle

    client = _client("county_cycle", data.COUNTY, "county")
    before = _county_page(client)  # cached without a judgement
    assert 'id="judgement-text"' not in before
    run_cycle(data.DAY7, root=data.COUNTY, start=data.DAY1)
    judgement = Judgement.objects.get(area_id=data.COUNTY, date=data.DAY7)
    after = _county_page(client)
    assert 'id="judgement-text"' in after and judgement.text_en in after
