"""Key-group pages: scoping, access logging, contacts, registering, both languages, queries.

The world (``build_world``) is a county with two townships and three villages, a village
doctor with a login in village A1, and persons whose last contacts put them overdue, due
or not due on the real today (the pages work on ``timezone.localdate()``).
"""

from __future__ import annotations

import csv
import datetime as dt
import re
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from ruralwatch.accounts.services import create_user_with_jurisdiction
from ruralwatch.areas.models import Area
from ruralwatch.areas.services import import_areas
from ruralwatch.keygroups import crypto, services
from ruralwatch.keygroups.models import AccessLog, Contact, Person, Referral, Responsible

COUNTY = "110101000000"
TOWN_A = "110101001000"
TOWN_B = "110101002000"
A1 = "110101001001"
A2 = "110101001002"
B1 = "110101002001"
MISSING_REF = "110101001001-Knotthere00"

AREAS = [
    ("code", "name", "level", "parent_code", "population", "population_65plus"),
    ("110000000000", "测试省", 1, "", 100000, ""),
    ("110100000000", "测试市", 2, "110000000000", 50000, ""),
    (COUNTY, "测试县", 3, "110100000000", 10000, ""),
    (TOWN_A, "甲镇", 4, COUNTY, 3000, ""),
    (TOWN_B, "乙乡", 4, COUNTY, 2000, ""),
    (A1, "甲一村", 5, TOWN_A, 1000, 5),
    (A2, "甲二村", 5, TOWN_A, 2000, 1),
    (B1, "乙一村", 5, TOWN_B, 2000, 1),
]

PASSWORD = "pw-kg-pages-123"


def id_number(birth: dt.date, seq: int) -> str:
    first = "990101" + birth.strftime("%Y%m%d") + f"{seq:03d}"
    return first + crypto.id_check_char(first)


def _person(
    village: Area,
    name: str,
    birth: dt.date,
    seq: int,
    *,
    doctor: Responsible | None,
    comorbidity: int = 0,
    vaccination: int = 0,
    last_contact_days: int | None = None,
    registered_days: int = 30,
) -> Person:
    today = timezone.localdate()
    person = services.register_person(
        name=name,
        sex="M" if seq % 2 else "F",
        birth_date=birth,
        id_number=id_number(birth, seq),
        village=village,
        groups=["age65"],
        phone=f"1380000{seq:04d}",
        doctor=doctor,
        comorbidity=comorbidity,
        vaccination=vaccination,
        registered_on=today - dt.timedelta(days=registered_days),
    )
    if last_contact_days is not None:
        services.record_contact(
            person,
            date=today - dt.timedelta(days=last_contact_days),
            method="phone",
            status="well",
        )
        person.refresh_from_db()
    return person


def add_doctor_persons(doctor: Responsible, n: int, *, start: int = 500) -> None:
    """``n`` more overdue green persons for ``doctor`` (for query-count tests)."""
    for i in range(n):
        _person(
            doctor.area,
            f"加{i}",
            dt.date(1950, 1, 1) + dt.timedelta(days=i),
            start + i,
            doctor=doctor,
            last_contact_days=9,
        )


def build_world(tmp_path: Path) -> dict[str, Any]:
    """Areas, users, a doctor with three persons in A1, persons in A2 and B1, a campaign."""
    path = tmp_path / "areas.csv"
    with path.open("w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows(AREAS)
    import_areas(path)
    today = timezone.localdate()
    a1, a2, b1 = (Area.objects.get(code=c) for c in (A1, A2, B1))
    doc_user = create_user_with_jurisdiction("doc_a1", PASSWORD, A1, "village_doctor")
    doctor = Responsible.objects.create(
        code="DOC-A1", kind="doctor", name="李医生", area=a1, user=doc_user
    )
    other_doctor = Responsible.objects.create(code="DOC-B1", kind="doctor", name="赵医生", area=b1)
    # 84 y + stable + incomplete = 4: red (every day); last seen 4 days ago: overdue.
    overdue = _person(
        a1,
        "王大爷",
        dt.date(today.year - 84, 1, 1),
        11,
        doctor=doctor,
        comorbidity=1,
        vaccination=1,
        last_contact_days=4,
    )
    # 70 y + incomplete = 2: yellow (every 3 days); last seen 3 days ago: due today.
    due = _person(
        a1,
        "张奶奶",
        dt.date(today.year - 70, 1, 1),
        22,
        doctor=doctor,
        vaccination=1,
        last_contact_days=3,
    )
    # 66 y = 1: green (every 7 days); last seen 2 days ago: not due.
    fine = _person(
        a1, "刘爷爷", dt.date(today.year - 66, 1, 1), 33, doctor=doctor, last_contact_days=2
    )
    a2_person = _person(
        a2, "陈奶奶", dt.date(today.year - 75, 1, 1), 44, doctor=None, last_contact_days=10
    )
    b1_person = _person(
        b1, "孙大爷", dt.date(today.year - 81, 1, 1), 55, doctor=other_doctor, last_contact_days=1
    )
    campaign = services.create_campaign(
        name="春节后重新摸排",
        area=Area.objects.get(code=COUNTY),
        start=today - dt.timedelta(days=10),
        deadline=today + dt.timedelta(days=5),
        groups=["age65"],
    )
    services.complete_campaign_village(campaign, a1, today, surveyed=12)
    return {
        "doctor": doctor,
        "doc_user": doc_user,
        "town_user": create_user_with_jurisdiction("town_a", PASSWORD, TOWN_A, "township"),
        "county_user": create_user_with_jurisdiction("county", PASSWORD, COUNTY, "county"),
        "overdue": overdue,
        "due": due,
        "fine": fine,
        "a2": a2_person,
        "b1": b1_person,
        "campaign": campaign,
    }


FAST_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def world(db: None, tmp_path: Path, settings: Any) -> dict[str, Any]:
    settings.PASSWORD_HASHERS = FAST_HASHERS  # test users only; the pages do not care
    return build_world(tmp_path)


def _login(client: Client, user: Any) -> Client:
    client.force_login(user)
    return client


def _contact(client: Client, ref: str, fetch: bool = True, **data: Any) -> Any:
    extra = {"HTTP_HX_REQUEST": "true"} if fetch else {}
    return client.post(reverse("keygroups:contact", args=[ref]), data, **extra)


def _register_data(**overrides: Any) -> dict[str, Any]:
    birth = dt.date(1948, 5, 6)
    data = {
        "name": "新发现",
        "sex": "M",
        "birth_date": birth.isoformat(),
        "id_number": id_number(birth, 77),  # odd sequence: male
        "phone": "13900001111",
        "village": A1,
        "household": "3组12号",
        "groups": ["age65", "living_alone"],
        "comorbidity": "0",
        "vaccination": "2",
    }
    data.update(overrides)
    return data


# --- access --------------------------------------------------------------------------------


def test_anonymous_is_sent_to_login(client: Client, world: dict[str, Any]) -> None:
    urls = [
        reverse("keygroups:home"),
        reverse("keygroups:today"),
        reverse("keygroups:register"),
        reverse("keygroups:person", args=[world["overdue"].ref]),
        reverse("keygroups:area", args=[COUNTY]),
        reverse("keygroups:audit", args=[COUNTY, "contact_overdue"]),
    ]
    for url in urls:
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("login"))
    response = _contact(client, world["overdue"].ref, status="well")
    assert response.status_code == 302
    assert not Contact.objects.filter(person=world["overdue"], status="well").exclude(
        date__lt=timezone.localdate()
    )


def test_doctor_cannot_open_persons_of_another_village(
    client: Client, world: dict[str, Any]
) -> None:
    _login(client, world["doc_user"])
    outside = client.get(reverse("keygroups:person", args=[world["b1"].ref]))
    missing = client.get(reverse("keygroups:person", args=[MISSING_REF]))
    assert outside.status_code == missing.status_code == 404
    assert outside.content == missing.content
    before = Contact.objects.count()
    posted = _contact(client, world["b1"].ref, status="positive")
    assert posted.status_code == 404
    assert posted.content == _contact(client, MISSING_REF, status="positive").content
    assert Contact.objects.count() == before
    assert not AccessLog.objects.filter(person=world["b1"]).exists()
    # Areas outside the village: the same 404 as a missing area.
    for code in (TOWN_A, B1, COUNTY):
        assert client.get(reverse("keygroups:area", args=[code])).status_code == 404
    assert client.get(reverse("keygroups:person", args=[world["due"].ref])).status_code == 200


def test_township_sees_only_its_villages(client: Client, world: dict[str, Any]) -> None:
    _login(client, world["town_user"])
    assert client.get(reverse("keygroups:home"))["Location"] == reverse(
        "keygroups:area", args=[TOWN_A]
    )
    page = client.get(reverse("keygroups:area", args=[TOWN_A]))
    html = page.content.decode()
    assert page.status_code == 200
    assert "甲一村" in html and "甲二村" in html
    assert "乙一村" not in html and "乙乡" not in html and "测试县" not in html
    missing = client.get(reverse("keygroups:area", args=["110101009999"]))
    for code in (TOWN_B, B1, COUNTY):
        response = client.get(reverse("keygroups:area", args=[code]))
        assert response.status_code == 404 and response.content == missing.content
    assert client.get(reverse("keygroups:person", args=[world["a2"].ref])).status_code == 200
    assert client.get(reverse("keygroups:person", args=[world["b1"].ref])).status_code == 404
    audit = client.get(reverse("keygroups:audit", args=[TOWN_B, "contact_overdue"]))
    assert audit.status_code == 404


def test_user_without_jurisdiction_is_denied(client: Client, world: dict[str, Any]) -> None:
    from django.contrib.auth import get_user_model

    from ruralwatch.accounts.models import Profile

    user = get_user_model().objects.create_user("nobody", password=PASSWORD)
    Profile.objects.create(user=user, jurisdiction=None, role="county")
    _login(client, user)
    assert client.get(reverse("keygroups:home")).status_code == 403
    assert client.get(reverse("keygroups:register")).status_code == 403
    assert client.get(reverse("keygroups:person", args=[world["a2"].ref])).status_code == 404
    today = client.get(reverse("keygroups:today"))
    assert today.status_code == 200 and "王大爷" not in today.content.decode()


def test_csrf_is_enforced(world: dict[str, Any]) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(world["doc_user"])
    assert _contact(client, world["overdue"].ref, status="well").status_code == 403
    assert client.post(reverse("keygroups:register"), _register_data()).status_code == 403
    page = client.get(reverse("keygroups:today")).content.decode()
    assert page.count('name="csrfmiddlewaretoken"') >= 3  # language, logout, each row


# --- the doctor's day ----------------------------------------------------------------------


def test_today_lists_overdue_first_and_logs_the_list(client: Client, world: dict[str, Any]) -> None:
    _login(client, world["doc_user"])
    assert client.get(reverse("keygroups:home"))["Location"] == reverse("keygroups:today")
    to_area = client.get(reverse("keygroups:home") + "?to=area")
    assert to_area["Location"] == reverse("keygroups:area", args=[A1])
    response = client.get(reverse("keygroups:today"))
    html = response.content.decode()
    assert response.status_code == 200
    overdue, due, fine = world["overdue"], world["due"], world["fine"]
    assert f'id="row-{overdue.ref}"' in html and f'id="row-{due.ref}"' in html
    assert f'id="row-{fine.ref}"' not in html  # contacted 2 days ago, green: not due
    assert world["b1"].name not in html and world["a2"].name not in html
    assert html.index(f"row-{overdue.ref}") < html.index('id="due"') < html.index(f"row-{due.ref}")
    assert 'class="kg-row tier-red"' in html and 'class="kg-row tier-yellow"' in html
    assert "tel:13800000011" in html
    log = AccessLog.objects.get(purpose="today's contact list")
    assert log.user == world["doc_user"] and log.n_persons == 2 and log.person is None
    assert log.area_code == A1


def test_today_queries_do_not_grow_with_the_list(
    client: Client, world: dict[str, Any], django_assert_max_num_queries: Any
) -> None:
    _login(client, world["doc_user"])
    url = reverse("keygroups:today")
    client.get(url)  # warm the session
    with CaptureQueriesContext(connection) as small:
        client.get(url)
    add_doctor_persons(world["doctor"], 25)
    # 14: two find the latest date with data, the pages' default "as of" day (core.asof)
    with django_assert_max_num_queries(14), CaptureQueriesContext(connection) as large:
        html = client.get(url).content.decode()
    assert html.count('class="kg-row ') == 27
    assert len(large.captured_queries) == len(small.captured_queries)


def test_quick_well_moves_the_row_out_of_overdue(client: Client, world: dict[str, Any]) -> None:
    _login(client, world["doc_user"])
    person = world["overdue"]
    # htmx sends the chosen method as kg-method; the answer is the day's three sections.
    response = _contact(client, person.ref, status="well", method="phone", **{"kg-method": "visit"})
    html = response.content.decode()
    assert response.status_code == 200
    assert html.startswith("<section") and "<html" not in html
    done = html[html.index('id="done"') :]
    assert f'id="row-{person.ref}"' in done and 'data-due="ok"' in done
    assert f'kg-updated" id="row-{person.ref}"' in html
    assert re.search(r'id="overdue-title">[^<]*<span class="count">0<', html)  # was 1
    person.refresh_from_db()
    assert person.last_contact == timezone.localdate() and person.last_status == "well"
    contact = Contact.objects.filter(person=person).latest("id")
    assert contact.method == "visit" and contact.responsible == world["doctor"]
    assert contact.recorded_by == world["doc_user"]
    assert AccessLog.objects.filter(person=person, purpose="record contact").count() == 1
    today = client.get(reverse("keygroups:today")).content.decode()
    assert today.index('id="done"') < today.index(f"row-{person.ref}")


def test_positive_and_low_spo2_turn_red_and_refer(client: Client, world: dict[str, Any]) -> None:
    _login(client, world["doc_user"])
    fine = world["fine"]
    assert fine.tier == "green"
    html = _contact(client, fine.ref, status="positive").content.decode()
    fine.refresh_from_db()
    assert fine.tier == "red" and fine.tier_reason == "positive"
    assert f'class="kg-row tier-red kg-updated" id="row-{fine.ref}"' in html
    referral = Referral.objects.get(person=fine)
    assert referral.destination == "township_health_centre" and referral.outcome == "pending"

    due = world["due"]
    response = _contact(client, due.ref, fetch=False, status="spo2", spo2="90", method="phone")
    assert response.status_code == 302
    assert response["Location"] == reverse("keygroups:person", args=[due.ref])
    due.refresh_from_db()
    assert due.tier == "red" and due.tier_reason == "low_spo2" and due.last_status == "spo2"
    assert Referral.objects.get(person=due).destination == "county_hospital"
    page = client.get(response["Location"]).content.decode()
    assert "县级医院" in page and "待处理" in page  # the referral in the history, in Chinese

    # A normal reading changes nothing about the tier.
    _contact(client, world["overdue"].ref, status="spo2", spo2="97")
    assert not Referral.objects.filter(person=world["overdue"]).exists()


def test_contact_form_errors_are_clear(client: Client, world: dict[str, Any]) -> None:
    _login(client, world["doc_user"])
    ref = world["overdue"].ref
    before = Contact.objects.count()
    missing = _contact(client, ref, status="spo2")
    assert missing.status_code == 400 and "请输入血氧饱和度读数" in missing.content.decode()
    # htmx puts the message into the row's error box, not into the sections.
    assert missing["HX-Retarget"] == f"#row-{ref} .kg-error"
    assert missing["HX-Reswap"] == "outerHTML"
    assert missing.content.decode().startswith('<div class="kg-error" role="alert">')
    high = _contact(client, ref, status="spo2", spo2="120")
    assert high.status_code == 400
    future = (timezone.localdate() + dt.timedelta(days=2)).isoformat()
    later = _contact(client, ref, fetch=False, status="well", method="phone", date=future)
    assert later.status_code == 400 and "联系日期不能晚于今天" in later.content.decode()
    assert Contact.objects.count() == before


def test_person_page_is_logged_and_shows_history(client: Client, world: dict[str, Any]) -> None:
    _login(client, world["town_user"])
    person = world["overdue"]
    response = client.get(reverse("keygroups:person", args=[person.ref]))
    html = response.content.decode()
    assert response.status_code == 200
    assert person.name in html and person.id_masked in html
    assert id_number(person.birth_date, 11) not in html  # the full ID number is never shown
    assert "逾期" in html and "65岁及以上老年人" in html
    log = AccessLog.objects.get(person=person, purpose="view record")
    assert log.user == world["town_user"] and log.area_code == A1
    assert 'name="csrfmiddlewaretoken"' in html and 'name="status"' in html


# --- registering ---------------------------------------------------------------------------


def test_register_rejects_a_bad_check_digit(client: Client, world: dict[str, Any]) -> None:
    _login(client, world["doc_user"])
    good = _register_data()["id_number"]
    bad = good[:-1] + ("0" if good[-1] != "0" else "1")
    before = Person.objects.count()
    response = client.post(reverse("keygroups:register"), _register_data(id_number=bad))
    html = response.content.decode()
    assert response.status_code == 400
    assert "身份证号无效（校验码错误）" in html
    assert re.search(r'id="id_number-error">[^<]*校验码', html)  # next to the field
    assert Person.objects.count() == before
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    english = client.post(reverse("keygroups:register"), _register_data(id_number=bad))
    assert "the resident ID number is invalid (check digit)" in english.content.decode()
    short = client.post(reverse("keygroups:register"), _register_data(id_number="1234"))
    assert "18 characters" in short.content.decode()
    no_group = client.post(reverse("keygroups:register"), _register_data(groups=[]))
    assert "Choose at least one key group." in no_group.content.decode()
    assert Person.objects.count() == before


def test_register_links_the_open_campaign(client: Client, world: dict[str, Any]) -> None:
    _login(client, world["doc_user"])
    form = client.get(reverse("keygroups:register")).content.decode()
    assert "乙一村" not in form and "赵医生" not in form  # only the user's own village, doctor
    response = client.post(reverse("keygroups:register"), _register_data(doctor=world["doctor"].pk))
    assert response.status_code == 302
    person = Person.objects.get(name="新发现")
    assert response["Location"] == reverse("keygroups:person", args=[person.ref])
    assert person.campaign == world["campaign"] and person.village_id == A1
    assert person.doctor == world["doctor"] and person.registered_on == timezone.localdate()
    assert set(person.memberships.values_list("group_id", flat=True)) == {"age65", "living_alone"}
    assert crypto.decrypt(person.phone_enc) == "13900001111"
    again = client.post(reverse("keygroups:register"), _register_data())
    assert again.status_code == 400 and "此人已在本村登记" in again.content.decode()
    child = client.post(
        reverse("keygroups:register"),
        _register_data(
            id_number=id_number(dt.date(2015, 2, 3), 99),
            birth_date="2015-02-03",
            groups=["left_behind_child"],
        ),
    )
    assert child.status_code == 400 and "儿童须登记监护人" in child.content.decode()
    # A village outside the user's jurisdiction is not a valid choice.
    outside = client.post(reverse("keygroups:register"), _register_data(village=B1))
    assert outside.status_code == 400
    assert Person.objects.filter(village_id=B1).count() == 1


# --- township and county -------------------------------------------------------------------


def test_county_page_coverage_audit_campaign(client: Client, world: dict[str, Any]) -> None:
    _login(client, world["county_user"])
    response = client.get(reverse("keygroups:area", args=[COUNTY]))
    html = response.content.decode()
    assert response.status_code == 200
    assert "甲镇" in html and "乙乡" in html
    assert reverse("keygroups:area", args=[TOWN_A]) in html
    # 5 persons; overdue: 王大爷 (red, 4 days) and 陈奶奶 (green, 10 days); no doctor: 陈奶奶.
    assert re.search(r'id="kpi-overdue">2<', html)
    assert re.search(r'data-kind="contact_overdue">2<', html)
    assert re.search(r'data-kind="no_responsible_doctor">1<', html)
    assert "春节后重新摸排" in html and "1 / 2" in html  # township A: 1 of 2 villages done
    fragment = client.get(
        reverse("keygroups:area", args=[TOWN_A]),
        HTTP_HX_REQUEST="true",
        HTTP_HX_TARGET="kg-content",
    )
    assert fragment.status_code == 200 and "<html" not in fragment.content.decode()
    assert "甲一村" in fragment.content.decode()
    # A boosted drill-down link gets the whole page (language switch and title follow).
    boosted = client.get(
        reverse("keygroups:area", args=[TOWN_A]), HTTP_HX_REQUEST="true", HTTP_HX_BOOSTED="true"
    )
    assert "<html" in boosted.content.decode() and "甲一村" in boosted.content.decode()
    assert not AccessLog.objects.filter(purpose="key-group village list").exists()
    village = client.get(reverse("keygroups:area", args=[A1])).content.decode()
    assert "王大爷" in village and "刘爷爷" not in village
    assert AccessLog.objects.get(purpose="key-group village list").n_persons == 2


def test_audit_list_names_and_logs(client: Client, world: dict[str, Any]) -> None:
    _login(client, world["county_user"])
    response = client.get(reverse("keygroups:audit", args=[COUNTY, "contact_overdue"]))
    html = response.content.decode()
    assert response.status_code == 200
    assert "王大爷" in html and "陈奶奶" in html and "张奶奶" not in html
    assert AccessLog.objects.get(purpose="audit list contact_overdue").n_persons == 2
    expected = client.get(reverse("keygroups:audit", args=[COUNTY, "unregistered_expected"]))
    assert "65岁及以上老年人" in expected.content.decode()  # A1 expects 5, has 3
    assert client.get(reverse("keygroups:audit", args=[COUNTY, "nope"])).status_code == 404


def test_area_queries_are_bounded(
    client: Client, world: dict[str, Any], django_assert_max_num_queries: Any
) -> None:
    _login(client, world["county_user"])
    url = reverse("keygroups:area", args=[COUNTY])
    client.get(url)
    with CaptureQueriesContext(connection) as small:
        client.get(url)
    add_doctor_persons(world["doctor"], 20)
    with django_assert_max_num_queries(40), CaptureQueriesContext(connection) as large:
        assert client.get(url).status_code == 200
    assert len(large.captured_queries) == len(small.captured_queries)
    audit_url = reverse("keygroups:audit", args=[COUNTY, "contact_overdue"])
    with django_assert_max_num_queries(15):
        assert client.get(audit_url).status_code == 200


# --- languages -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("lang", "expected"),
    [
        ("zh-hans", ["今日联系", "逾期", "今日应联系", "身体良好", "登记新发现人员", "覆盖率"]),
        ("en", ["Today's contacts", "Overdue", "Due today", "Well", "Register a new", "Coverage"]),
    ],
)
def test_pages_in_both_languages(
    client: Client, world: dict[str, Any], lang: str, expected: list[str]
) -> None:
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = lang
    _login(client, world["doc_user"])
    today = client.get(reverse("keygroups:today")).content.decode()
    register = client.get(reverse("keygroups:register")).content.decode()
    person = client.get(reverse("keygroups:person", args=[world["due"].ref])).content.decode()
    _login(client, world["county_user"])
    area = client.get(reverse("keygroups:area", args=[COUNTY])).content.decode()
    text = today + register + person + area
    assert f'<html lang="{lang}">' in today
    for word in expected:
        assert word in text, word
    if lang == "en":
        for page in (today, register, person, area):
            body = page.split("<main", 1)[1]
            # No Chinese left but names of people, places, groups and campaigns.
            leftovers = set(re.findall(r"[\u4e00-\u9fff]+", re.sub(r"<[^>]+>", " ", body)))
            names = {"王大爷", "张奶奶", "测试县", "甲镇", "乙乡", "甲一村", "甲二村", "乙一村"}
            names |= {"李医生", "赵医生", "春节后重新摸排", "测试省", "测试市"}
            assert leftovers <= names, leftovers
