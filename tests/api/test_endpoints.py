"""Payloads on the small fixture, the access log, pseudonymisation, writes, bounded queries."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from ruralwatch.keygroups import crypto
from ruralwatch.keygroups.models import AccessLog, Contact, Person, Referral, Responsible
from ruralwatch.signals.models import DetectionRule, Signal
from tests.api import conftest as _fixtures
from tests.api.conftest import World, id_number, login
from tests.dashboard import data

#: Every database test here uses the world: built once for the module (tests.fixtures.shared_db).
world = _fixtures.shared_world

DAY7 = data.DAY7.isoformat()


# --- areas -------------------------------------------------------------------------------------


def test_area_with_children(world: World, town_a: Any) -> None:
    body = login(town_a).get(f"/api/areas/{data.TOWN_A}?date={DAY7}").json()
    assert (body["code"], body["name"], body["level"], body["date"]) == (
        data.TOWN_A,
        "甲镇",
        4,
        DAY7,
    )
    assert body["breadcrumb"] == []  # nothing above the jurisdiction
    children = {c["code"]: c for c in body["children"]}
    assert set(children) == {data.A1, data.A2}
    assert (children[data.A1]["cases"], children[data.A1]["incidence"]) == (7.0, 700.0)
    assert (children[data.A2]["cases"], children[data.A2]["days_reported"]) == (12.0, 6)
    assert (children[data.A2]["received"], children[data.A2]["completeness"]) == (0, 0.0)
    village = login(town_a).get(f"/api/areas/{data.A1}").json()
    assert [a["code"] for a in village["breadcrumb"]] == [data.TOWN_A]
    assert village["children"] == []


def test_series_keeps_missing_days_missing(world: World, town_a: Any) -> None:
    client = login(town_a)
    body = client.get(f"/api/areas/{data.A2}/series?start=2023-01-05&end=2023-01-08").json()
    assert [v["value"] for v in body["values"]] == [2.0, 2.0, None, None]
    township = client.get(f"/api/areas/{data.TOWN_A}/series?start={DAY7}&end={DAY7}").json()
    assert township["values"] == [{"date": DAY7, "value": 1.0}]
    bad = client.get(f"/api/areas/{data.A2}/series?start=2023-01-08&end=2023-01-05")
    assert bad.status_code == 422 and bad.json()["detail"]
    unknown = client.get(f"/api/areas/{data.A2}/series?indicator=nope")
    assert unknown.status_code == 422
    assert client.get(f"/api/areas/{data.A2}/series?start=not-a-date").status_code == 422
    long = client.get(f"/api/areas/{data.A2}/series?start=2000-01-01&end=2023-01-01")
    assert long.status_code == 422


def test_completeness_by_level(world: World, county: Any) -> None:
    body = login(county).get(f"/api/areas/{data.COUNTY}/completeness?date={DAY7}").json()
    levels = {row["level"]: row for row in body["levels"]}
    assert (levels[3]["expected"], levels[3]["received"], levels[3]["on_time"]) == (3, 2, 1)
    assert (levels[4]["units"], levels[4]["complete_units"]) == (2, 1)


# --- judgements and signals ---------------------------------------------------------------------


def test_judgement(world: World, town_a: Any) -> None:
    client = login(town_a)
    body = client.get(f"/api/judgements/{data.TOWN_A}?date={DAY7}").json()
    assert body["date"] == DAY7 and body["level"] and body["phase"]
    assert body["text"] == body["text_zh"] and body["text_en"]
    assert body["rebound"]["detected"] is False
    assert "level" in body["evidence"] and "basis" in body["evidence"]
    later = client.get(f"/api/judgements/{data.TOWN_A}?date=2023-01-20").json()
    assert later["date"] == DAY7  # the latest judgement before the date
    english = client.get(f"/api/judgements/{data.TOWN_A}?date={DAY7}", HTTP_ACCEPT_LANGUAGE="en")
    assert english.json()["text"] == body["text_en"]
    none = client.get(f"/api/judgements/{data.TOWN_A}?date=2022-12-01")
    assert none.status_code == 404


def test_signals_filters_and_pages(world: World, county: Any, town_a: Any) -> None:
    client = login(county)
    url = f"/api/signals?start={data.DAY1}&end={DAY7}"
    body = client.get(url).json()
    assert body["count"] == 3
    assert [(s["area"], s["date"]) for s in body["items"]] == [
        (data.TOWN_B, DAY7),  # newest first, highest score first
        (data.TOWN_A, DAY7),
        (data.TOWN_A, data.DAY1.isoformat()),
    ]
    first = body["items"][0]
    assert first["area_name"] == "乙乡" and first["params"] == {"baseline": 7}
    assert (first["observed"], first["threshold"], first["method"]) == (4.0, 2.5, "ears-c1")
    page = client.get(url + "&limit=1&offset=1").json()
    assert (page["count"], [s["area"] for s in page["items"]]) == (3, [data.TOWN_A])
    assert client.get(url + "&method=cusum").json()["count"] == 0
    assert client.get(f"/api/signals?start={DAY7}&end={DAY7}").json()["count"] == 2
    assert client.get(url + "&limit=0").status_code == 422
    assert login(town_a).get(url).json()["count"] == 2


# --- key groups --------------------------------------------------------------------------------


def test_person_list_is_pseudonymised_and_logged(world: World, town_a: Any) -> None:
    client = login(town_a)
    body = client.get("/api/keygroups/persons").json()
    [item] = body["items"]
    assert item["ref"] == world.person_a.ref
    assert (item["name"], item["birth_year"], item["tier"]) == ("王**", 1940, "red")
    assert item["due_status"] == "overdue"  # never contacted
    text = str(body)
    for secret in ("王大爷", "13800000000", id_number(dt.date(1940, 3, 1), 11), "1940-03-01"):
        assert secret not in text
    log = AccessLog.objects.get()
    assert (log.user_id, log.person_id, log.n_persons) == (town_a.pk, None, 1)
    assert (log.purpose, log.area_code) == ("api", data.TOWN_A)
    assert client.get("/api/keygroups/persons?due=due").json()["count"] == 0
    assert client.get("/api/keygroups/persons?due=overdue").json()["count"] == 1
    assert client.get("/api/keygroups/persons?due=soon").status_code == 422


def test_person_detail_is_logged(world: World, town_a: Any) -> None:
    body = login(town_a).get(f"/api/keygroups/persons/{world.person_a.ref}").json()
    assert (body["name"], body["phone"]) == ("王大爷", "13800000000")
    assert body["id_number"] == id_number(dt.date(1940, 3, 1), 11)
    assert body["groups"] == ["age65", "living_alone"] and body["doctor"] == "甲医生"
    log = AccessLog.objects.get()
    assert (log.user_id, log.person_id, log.purpose) == (town_a.pk, world.person_a.pk, "api")


def test_record_contacts(world: World, town_a: Any) -> None:
    client = login(town_a)
    # An invalid body is refused before any lookup: the same 422 in and out of scope.
    answers = {
        client.post(
            f"/api/keygroups/persons/{ref}/contacts", {}, content_type="application/json"
        ).content
        for ref in (world.person_b.ref, "missing")
    }
    assert len(answers) == 1
    url = f"/api/keygroups/persons/{world.person_a.ref}/contacts"
    today = world.today.isoformat()
    well = client.post(
        url, {"date": today, "method": "visit", "status": "well"}, content_type="application/json"
    )
    assert well.status_code == 201, well.content
    assert well.json()["referral"] is None
    low = client.post(
        url,
        {"date": today, "method": "phone", "status": "symptoms", "spo2": 90, "note": "气短"},
        content_type="application/json",
    )
    assert low.status_code == 201
    body = low.json()
    assert body["tier"] == "red" and body["referral"]["destination"] == "county_hospital"
    assert Referral.objects.filter(person=world.person_a).exclude(pk=world.referral_a).count() == 1
    contact = Contact.objects.get(pk=body["id"])
    assert (contact.recorded_by_id, contact.spo2, contact.note) == (town_a.pk, 90, "气短")
    assert client.get("/api/keygroups/persons?due=overdue").json()["count"] == 0
    # Refused by the service or by the schema: 422 with a message, nothing stored.
    n = Contact.objects.count()
    future = (world.today + dt.timedelta(days=2)).isoformat()
    for bad in (
        {"date": today, "method": "phone", "status": "well", "spo2": 30},
        {"date": future, "method": "phone", "status": "well"},
        {"date": today, "method": "pigeon", "status": "well"},
        {"date": today, "method": "phone"},
    ):
        response = client.post(url, bad, content_type="application/json")
        assert response.status_code == 422, bad
        assert response.json()["detail"] and response.json()["errors"]
    assert Contact.objects.count() == n
    logs = AccessLog.objects.filter(purpose="api_contact", person=world.person_a).count()
    # Each fetch of the record is logged: the two accepted contacts and the future date
    # (refused by the service); the schema refuses SpO₂ 30, the pigeon and the missing
    # status before anything is fetched.
    assert logs == 3


def test_register_person(world: World, town_a: Any) -> None:
    client = login(town_a)
    birth = dt.date(1950, 7, 7)
    body = {
        "name": "孙大爷",
        "sex": "M",
        "birth_date": birth.isoformat(),
        "id_number": id_number(birth, 31),
        "village": data.A2,
        "groups": ["age65", "chronic"],
        "phone": "13700000000",
        "doctor": "DA1",
        "comorbidity": 2,
        "vaccination": 0,
    }
    created = client.post("/api/keygroups/persons", body, content_type="application/json")
    assert created.status_code == 201, created.content
    out = created.json()
    person = Person.objects.get(ref=out["ref"])
    assert (out["village"], out["tier"]) == (data.A2, person.tier)
    assert person.doctor == world.doctor_a and "13700000000" not in person.phone_enc
    assert crypto.decrypt(person.id_enc) == id_number(birth, 31)
    again = client.post("/api/keygroups/persons", body, content_type="application/json")
    assert again.status_code == 422 and again.json()["errors"]
    # A doctor outside the jurisdiction is answered like a missing one.
    other = {**body, "id_number": id_number(birth, 33), "doctor": "DB1"}
    missing = {**body, "id_number": id_number(birth, 33), "doctor": "NOPE"}
    r1 = client.post("/api/keygroups/persons", other, content_type="application/json")
    r2 = client.post("/api/keygroups/persons", missing, content_type="application/json")
    assert (r1.status_code, r1.json()) == (r2.status_code, r2.json()) == (404, r1.json())
    town = {**body, "id_number": id_number(birth, 35), "village": data.TOWN_A}
    refused = client.post("/api/keygroups/persons", town, content_type="application/json")
    assert refused.status_code == 422
    assert Person.objects.count() == 3


def test_overdue_coverage_audit(world: World, county: Any) -> None:
    client = login(county)
    overdue = client.get("/api/keygroups/overdue").json()
    assert {r["code"]: r["overdue"] for r in overdue["items"]} == {"DA1": 1, "DB1": 1}
    assert client.get("/api/keygroups/overdue?kind=cadre").json()["count"] == 0
    coverage = client.get("/api/keygroups/coverage").json()
    assert coverage["level"] == 4
    assert {r["area"]: r["registered"] for r in coverage["items"]} == {
        data.TOWN_A: 1,
        data.TOWN_B: 1,
    }
    villages = client.get(f"/api/keygroups/coverage?area={data.TOWN_A}&level=5").json()
    assert [r["area"] for r in villages["items"]] == [data.A1]
    audit = client.get(f"/api/keygroups/audit?date={world.today}").json()
    assert audit["summary"]["contact_overdue"] == 2 and audit["summary"]["no_pairing_cadre"] == 2
    assert audit["count"] == sum(audit["summary"].values())
    one = client.get("/api/keygroups/audit?kind=contact_overdue&limit=1").json()
    assert (one["count"], len(one["items"])) == (2, 1)
    assert one["items"][0]["kind"] == "contact_overdue"
    assert client.get("/api/keygroups/audit?kind=nope").status_code == 422
    log = AccessLog.objects.filter(purpose="api_audit").order_by("id").first()
    assert log is not None and log.area_code == data.COUNTY


def test_export_pseudonymised_unless_allowed(world: World, town_a: Any, county: Any) -> None:
    town = login(town_a).get("/api/keygroups/export").json()
    assert town["identified"] is False
    [row] = town["items"]
    assert row["pseudonym"].startswith("P") and row["ref"] is None
    assert row["id_number"] is None and row["phone"] is None and row["name"] == "王**"
    assert AccessLog.objects.get().n_persons == 1
    full = login(county).get("/api/keygroups/export").json()
    assert full["identified"] is True and full["count"] == 2
    assert {r["id_number"] for r in full["items"]} == {
        id_number(dt.date(1940, 3, 1), 11),
        id_number(dt.date(1950, 5, 2), 22),
    }
    per_person = AccessLog.objects.filter(purpose="api_export", user=county)
    assert set(per_person.values_list("person_id", flat=True)) == {
        world.person_a.pk,
        world.person_b.pk,
    }


def test_superuser_without_area_sees_the_whole_tree(world: World, root: Any) -> None:
    client = login(root)
    assert client.get(f"/api/signals?start={data.DAY1}&end={DAY7}").json()["count"] == 3
    assert client.get("/api/keygroups/persons").json()["count"] == 2
    assert client.get("/api/keygroups/coverage").json()["level"] == 1
    response = client.get("/api/keygroups/audit")  # the audit needs an area
    assert response.status_code == 422 and response.json()["detail"]


# --- bounded queries ---------------------------------------------------------------------------


@pytest.fixture
def more(world: World) -> None:
    """Twenty more signals and twelve more persons in township A."""
    rules = list(DetectionRule.objects.order_by("pk")[:2])
    combos = [
        (rule, area, data.DAY1 + dt.timedelta(days=d))
        for rule in rules
        for area in (data.A1, data.A2)
        for d in range(1, 6)
    ]
    Signal.objects.bulk_create(
        Signal(
            rule=rule,
            area_id=area,
            indicator_id=rule.indicator_id,
            date=day,
            method=rule.method,
            observed=float(i),
            params={},
        )
        for i, (rule, area, day) in enumerate(combos)
    )
    from ruralwatch.areas.models import Area
    from ruralwatch.keygroups import services

    a2 = Area.objects.get(code=data.A2)
    doctor = Responsible.objects.create(code="DA2", kind="doctor", name="丙医生", area=a2)
    for i in range(12):
        birth = dt.date(1930 + i, 1, 2)
        services.register_person(
            name=f"村民{i}",
            sex="M",
            birth_date=birth,
            id_number=id_number(birth, 2 * i + 1),
            village=a2,
            groups=["age65"],
            doctor=doctor,
        )


LISTS = [
    "/api/signals?start=2023-01-01&end=2023-01-07",
    "/api/keygroups/persons",
    "/api/keygroups/persons?due=overdue",
    "/api/keygroups/overdue",
    "/api/keygroups/coverage",
    f"/api/keygroups/audit?area={data.TOWN_A}",
    "/api/keygroups/export",
    f"/api/areas/{data.TOWN_A}",
    f"/api/areas/{data.TOWN_A}/series",
]


@pytest.mark.parametrize("url", LISTS)
def test_list_queries_are_bounded(
    url: str, more: None, county: Any, django_assert_max_num_queries: Any
) -> None:
    client = login(county)
    with django_assert_max_num_queries(16):
        response = client.get(url)
    assert response.status_code == 200
    body = response.json()
    if url.endswith(("/persons", "/export")) or "signals" in url:
        assert body["count"] >= 13 and len(body["items"]) >= 13


@pytest.mark.parametrize("url", LISTS)
def test_token_requests_are_bounded_too(
    url: str, more: None, county: Any, django_assert_max_num_queries: Any
) -> None:
    from ruralwatch.api.services import create_token

    _token, plain = create_token(county, "bench")
    from django.test import Client

    client = Client(HTTP_AUTHORIZATION=f"Bearer {plain}")
    client.get("/api/auth/me")  # records the first use
    with django_assert_max_num_queries(16):
        response = client.get(url)
    assert response.status_code == 200


def test_referred_contact_opens_a_referral_and_its_outcome_is_recorded(world, town_a) -> None:  # type: ignore[no-untyped-def]
    from ruralwatch.keygroups import services
    from ruralwatch.keygroups.models import Referral

    Referral.objects.filter(pk=world.referral_a).delete()
    contact = services.record_contact(
        world.person_a, date=world.today, method="visit", status="referred"
    )
    referral = contact.referrals.get()
    assert (referral.reason, referral.destination, referral.outcome) == (
        "clinical",
        "township_health_centre",
        "pending",
    )
    again = services.record_contact(
        world.person_a, date=world.today, method="phone", status="referred"
    )
    assert not again.referrals.exists()  # one open referral at a time
    world.referral_a = referral.pk
    client = login(town_a)
    response = client.post(
        f"/api/keygroups/referrals/{world.referral_a}/outcome",
        data={"outcome": "admitted", "date": world.today.isoformat(), "note": "county hospital"},
        content_type="application/json",
    )
    assert response.status_code == 200, response.content
    assert response.json()["outcome"] == "admitted"
    referral.refresh_from_db()
    assert (referral.outcome, referral.outcome_date) == ("admitted", world.today)
    bad = client.post(
        f"/api/keygroups/referrals/{world.referral_a}/outcome",
        data={"outcome": "teleported", "date": world.today.isoformat()},
        content_type="application/json",
    )
    assert bad.status_code == 422
