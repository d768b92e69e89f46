"""Issue 12's defects on the key-group pages, one test (or more) each; each failed on the main
before the fix:

6. long lists are paged on the server (a village account's cards, audit lists) and every
   list exports to XLSX and CSV, the XLSX matching the list;
7. the register form's pickers list only what is needed (the chosen village's doctors and
   cadres), the rest comes from a search (htmx), and the page stays small;
8. every validation error shows at once, each once;
11. each role lands on its own work page after logging in;
12. numbers in Chinese pages have thousands separators.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from django.test import Client
from django.urls import reverse
from django.utils import translation

from ruralwatch.accounts.services import create_user_with_jurisdiction
from ruralwatch.areas.models import Area
from ruralwatch.keygroups.models import AccessLog, Person, Responsible
from tests.keygroups.test_pages import (
    A1,
    A2,
    COUNTY,
    FAST_HASHERS,
    PASSWORD,
    TOWN_A,
    _register_data,
    add_doctor_persons,
    build_world,
    id_number,
)

#: Persons added to A1 so that its lists need two pages (PAGE_SIZE is 50).
EXTRA = 56


@pytest.fixture
def world(db: None, tmp_path: Path, settings: Any) -> dict[str, Any]:
    settings.PASSWORD_HASHERS = FAST_HASHERS
    return build_world(tmp_path)


@pytest.fixture
def big_world(world: dict[str, Any]) -> dict[str, Any]:
    add_doctor_persons(world["doctor"], EXTRA)
    world["village_user"] = create_user_with_jurisdiction(
        "vil_a1", PASSWORD, A1, "village_cadre"
    )  # bound to A1, not linked to a doctor or cadre row: sees the whole village
    return world


def _client(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _cards(html: str) -> list[str]:
    return re.findall(r'<li class="kg-row[^"]*" id="row-([^"]+)"', html)


# --- 6: paging and export ------------------------------------------------------------------


def test_the_village_accounts_cards_are_paged(big_world: dict[str, Any]) -> None:
    client = _client(big_world["village_user"])
    listed = Person.objects.filter(village_id=A1, status="active").count()
    first = client.get(reverse("keygroups:today"))
    html = first.content.decode()
    assert first.status_code == 200
    cards = _cards(html)
    assert len(cards) == 50  # was every person of the village on one page
    assert 'rel="next"' in html and "?page=2" in html
    # The counts are the whole list's, not the page's.
    overdue = re.search(r'id="overdue-title">[^<]*<span class="count">([\d,]+)<', html)
    assert overdue is not None and int(overdue.group(1).replace(",", "")) >= EXTRA
    second = client.get(reverse("keygroups:today") + "?page=2").content.decode()
    rest = _cards(second)
    assert rest and not set(rest) & set(cards)
    assert 'rel="prev"' in second
    # Together the pages hold the list once (contacted long ago or never: every one listed
    # here is overdue, due, or done today).
    far = client.get(reverse("keygroups:today") + "?page=99").content.decode()
    assert _cards(far) == rest  # past the end: the last page
    assert len(cards) + len(rest) <= listed
    # The access log counts the persons each page showed.
    logged = AccessLog.objects.filter(user=big_world["village_user"]).order_by("-id").first()
    assert logged is not None and logged.n_persons == len(rest)


def test_the_day_list_exports_to_xlsx_and_csv_matching_the_list(
    big_world: dict[str, Any],
) -> None:
    client = _client(big_world["village_user"])
    pages = []
    for page in (1, 2):
        pages += _cards(client.get(reverse("keygroups:today") + f"?page={page}").content.decode())
    response = client.get(reverse("keygroups:today") + "?format=xlsx")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/vnd.openxmlformats")
    sheet = openpyxl.load_workbook(io.BytesIO(response.content)).active
    assert sheet is not None
    rows = list(sheet.iter_rows(values_only=True))
    header = rows[0]
    assert header[:4] == ("档案号", "姓名", "风险等级", "状态")
    assert [r[0] for r in rows[1:]] == pages  # same persons, same order as the pages
    names = dict(Person.objects.filter(ref__in=pages).values_list("ref", "name"))
    assert all(r[1] == names[r[0]] for r in rows[1:])
    text = client.get(reverse("keygroups:today") + "?format=csv").content.decode("utf-8-sig")
    parsed = list(csv.reader(io.StringIO(text)))
    assert [r[0] for r in parsed[1:]] == pages and parsed[0][1] == "姓名"


def test_audit_lists_are_paged_and_export(big_world: dict[str, Any]) -> None:
    # A1's added persons have no cadre: more "no pairing cadre" findings than one page.
    client = _client(big_world["county_user"])
    url = reverse("keygroups:audit", args=[COUNTY, "no_pairing_cadre"])
    html = client.get(url).content.decode()
    total = Person.objects.filter(status="active", cadre__isnull=True).count()
    assert total > 50
    shown = re.findall(r'href="/keygroups/persons/([^/"]+)/"', html)
    assert len(shown) == 50
    second = re.findall(
        r'href="/keygroups/persons/([^/"]+)/"', client.get(url + "?page=2").content.decode()
    )
    assert len(second) == total - 50 and not set(second) & set(shown)
    response = client.get(url + "?format=xlsx")
    sheet = openpyxl.load_workbook(io.BytesIO(response.content)).active
    assert sheet is not None
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0] == ("村代码", "村", "档案号", "人员", "风险等级", "最近联系")
    assert [r[2] for r in rows[1:]] == shown + second
    assert len(rows) == total + 1
    csv_response = client.get(url + "?format=csv")
    assert csv_response["Content-Disposition"].startswith("attachment;")
    assert len(list(csv.reader(io.StringIO(csv_response.content.decode("utf-8-sig"))))) == total + 1


def test_area_tables_export(world: dict[str, Any]) -> None:
    client = _client(world["county_user"])
    html = client.get(reverse("keygroups:area", args=[COUNTY])).content.decode()
    assert "format=xlsx&amp;table=children" in html
    response = client.get(reverse("keygroups:area", args=[COUNTY]) + "?format=xlsx&table=children")
    sheet = openpyxl.load_workbook(io.BytesIO(response.content)).active
    assert sheet is not None
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][:3] == ("代码", "名称", "登记人数")
    assert {r[0] for r in rows[1:]} == {TOWN_A, "110101002000"}
    registered = {r[0]: r[2] for r in rows[1:]}
    assert registered[TOWN_A] == Person.objects.filter(village__parent_id=TOWN_A).count()


def test_every_area_table_exports(world: dict[str, Any]) -> None:
    client = _client(world["county_user"])
    url = reverse("keygroups:area", args=[COUNTY])

    def sheet(table: str) -> list[tuple[Any, ...]]:
        response = client.get(url, {"format": "xlsx", "table": table})
        assert response.status_code == 200, table
        active = openpyxl.load_workbook(io.BytesIO(response.content)).active
        assert active is not None
        return list(active.iter_rows(values_only=True))

    doctors = sheet("responsibles")
    assert doctors[0][:2] == ("代码", "医生")
    assert {r[0] for r in doctors[1:]} == {"DOC-A1", "DOC-B1"}  # every doctor, not a top 10
    a1 = next(r for r in doctors[1:] if r[0] == "DOC-A1")
    assert a1[4] == Person.objects.filter(doctor__code="DOC-A1", status="active").count()
    campaigns = sheet("campaigns")
    assert campaigns[0][0] == "重新摸排活动" or campaigns[0][0] == "Re-survey campaign"
    assert {r[0] for r in campaigns[1:]} == {"春节后重新摸排"}
    assert {r[1] for r in campaigns[1:]} == {TOWN_A, "110101002000"}
    village = _client(world["doc_user"]).get(
        reverse("keygroups:area", args=[A1]), {"format": "csv", "table": "persons"}
    )
    listed = list(csv.reader(io.StringIO(village.content.decode("utf-8-sig"))))
    assert {r[0] for r in listed[1:]} == {world["overdue"].ref, world["due"].ref}


# --- 7: pickers ----------------------------------------------------------------------------


def _many_responsible(n: int) -> None:
    a2 = Area.objects.get(code=A2)
    Responsible.objects.bulk_create(
        [Responsible(code=f"CAD-{i}", kind="cadre", name=f"干部{i:03d}", area=a2) for i in range(n)]
    )


def _options(html: str, name: str) -> list[str]:
    select = re.search(rf'<select name="{name}"[^>]*>(.*?)</select>', html, re.S)
    assert select is not None, name
    return re.findall(r'<option value="([^"]*)"', select.group(1))


def test_register_pickers_list_only_what_is_needed(world: dict[str, Any]) -> None:
    _many_responsible(120)
    client = _client(world["county_user"])
    html = client.get(reverse("keygroups:register")).content.decode()
    # Before: all 120 cadres of the county in one flat list.
    assert len(_options(html, "cadre")) <= 31
    assert 'hx-get="/keygroups/register/options/cadre/"' in html
    assert 'name="village_q"' in html and 'hx-trigger="input changed delay:250ms, search"' in html
    # The doctor list follows the chosen village.
    a1_doctors = client.get(
        reverse("keygroups:register_options", args=["doctor"]), {"village": A1}
    ).content.decode()
    assert "李医生" in a1_doctors and "赵医生" not in a1_doctors
    # Another village chosen: its doctors, and the doctor chosen before is dropped.
    a2_doctors = client.get(
        reverse("keygroups:register_options", args=["doctor"]),
        {"village": A2, "doctor": str(world["doctor"].pk)},
    ).content.decode()
    assert "李医生" not in a2_doctors
    a2_cadres = client.get(
        reverse("keygroups:register_options", args=["cadre"]),
        {"village": A2, "cadre_q": "干部11"},
    ).content.decode()
    found = re.findall(r">(干部\d+) ·", a2_cadres)
    assert found and all(name.startswith("干部11") for name in found)
    villages = client.get(
        reverse("keygroups:register_options", args=["village"]), {"village_q": "甲二"}
    ).content.decode()
    assert A2 in villages and A1 not in villages
    # Outside the jurisdiction: nothing, and an unknown picker is a 404.
    town = _client(world["town_user"])
    outside = town.get(
        reverse("keygroups:register_options", args=["village"]), {"village_q": "乙"}
    ).content.decode()
    assert "乙一村" not in outside
    assert town.get(reverse("keygroups:register_options", args=["groups"])).status_code == 404


def test_a_choice_not_listed_on_the_page_is_still_accepted(world: dict[str, Any]) -> None:
    _many_responsible(60)
    client = _client(world["county_user"])
    late = Responsible.objects.get(code="CAD-59")
    html = client.get(reverse("keygroups:register")).content.decode()
    assert str(late.pk) not in _options(html, "cadre")
    response = client.post(reverse("keygroups:register"), _register_data(village=A2, cadre=late.pk))
    assert response.status_code == 302
    assert Person.objects.get(name="新发现").cadre == late


def test_register_page_weight(world: dict[str, Any]) -> None:
    _many_responsible(2000)
    client = _client(world["county_user"])
    size = len(client.get(reverse("keygroups:register")).content)
    assert size < 30_000, size  # 2,000 cadres in a flat list: about 150 KB


# --- 8: every error at once, each once ------------------------------------------------------


def _errors(html: str) -> list[str]:
    return re.findall(r'<p class="errors" id="([a-z_]+)-error">([^<]+)</p>', html)


def test_bad_phone_and_bad_id_are_shown_together(world: dict[str, Any]) -> None:
    client = _client(world["doc_user"])
    good = id_number(dt.date(1948, 5, 6), 77)
    bad_id = good[:-1] + ("0" if good[-1] != "0" else "1")  # wrong check digit
    response = client.post(
        reverse("keygroups:register"), _register_data(phone="12ab", id_number=bad_id)
    )
    assert response.status_code == 400
    errors = _errors(response.content.decode())
    fields = [f for f, _ in errors]
    assert "phone" in fields and "id_number" in fields  # before: only the phone's
    assert len(errors) == len(set(errors))


def test_id_that_contradicts_sex_and_birth_is_shown_with_other_errors(
    world: dict[str, Any],
) -> None:
    client = _client(world["doc_user"])
    response = client.post(
        reverse("keygroups:register"), _register_data(sex="F", birth_date="1948-05-07", phone="x")
    )
    messages = [m for _, m in _errors(response.content.decode())]
    assert "性别与身份证号不符" in messages or "sex does not match the ID number" in messages
    assert any("出生日期" in m or "date of birth" in m for m in messages)
    assert any("电话" in m or "phone" in m.lower() for m in messages)
    assert len(messages) == len(set(messages))


def test_spo2_200_is_one_error(world: dict[str, Any]) -> None:
    client = _client(world["doc_user"])
    ref = world["due"].ref
    response = client.post(
        reverse("keygroups:contact", args=[ref]),
        {"status": "spo2", "spo2": "200"},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 400
    items = re.findall(r"<li>([^<]+)</li>", response.content.decode())
    assert len(items) == 1, items  # before: "at most 100" and "enter the reading"
    page = client.post(reverse("keygroups:contact", args=[ref]), {"status": "spo2", "spo2": "200"})
    assert len(re.findall(r'<p class="errors">', page.content.decode())) == 1


# --- 11: landing ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("user", "lands"),
    [
        ("doc_user", "/keygroups/today/"),
        ("town_user", "/dispatch/"),
        ("county_user", "/"),
    ],
)
def test_each_role_lands_on_its_work_page(world: dict[str, Any], user: str, lands: str) -> None:
    client = Client()
    response = client.post(
        reverse("login"), {"username": world[user].get_username(), "password": PASSWORD}
    )
    assert response.status_code == 302
    final = client.get(response["Location"])
    assert final.status_code == 302 and final["Location"] == lands
    # "next" still wins.
    again = Client().post(
        reverse("login") + "?next=/keygroups/register/",
        {"username": world[user].get_username(), "password": PASSWORD},
    )
    assert again["Location"] == "/keygroups/register/"


# --- 12: thousands separators ---------------------------------------------------------------


def test_numbers_have_thousands_separators_in_chinese() -> None:
    from django.template import Context, Template

    template = Template("{% load dashboard_format %}{{ n|number }} {{ x|number:1 }}")
    for language in ("zh-hans", "en"):
        with translation.override(language):
            assert template.render(Context({"n": 317502, "x": 1234.56})) == "317,502 1,234.6"
