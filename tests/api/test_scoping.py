"""Every endpoint: in scope → 2xx; out of scope and missing → the same 404; anonymous → 401."""

from __future__ import annotations

import datetime as dt
import itertools
from dataclasses import dataclass
from typing import Any

import pytest
from django.test import Client

from ruralwatch.keygroups.models import AccessLog, Contact, Person
from tests.api import conftest as _fixtures
from tests.api.conftest import World, id_number, login
from tests.dashboard import data

#: Every database test here uses the world: built once for the module (tests.fixtures.shared_db).
world = _fixtures.shared_world

_seq = itertools.count(100)


@dataclass
class Case:
    name: str
    method: str
    inside: str
    outside: str
    missing: str
    body: Any = None
    ok: int = 200


def _person(village: str) -> dict[str, Any]:
    birth = dt.date(1945, 1, 1)
    seq = next(_seq)
    return {
        "name": "赵大娘",
        "sex": "M" if seq % 2 else "F",
        "birth_date": birth.isoformat(),
        "id_number": id_number(birth, seq),
        "village": village,
        "groups": ["age65"],
    }


def cases(w: World) -> list[Case]:
    a, b, m = data.TOWN_A, data.TOWN_B, data.MISSING
    day = f"date={data.DAY7.isoformat()}"
    span = f"start={data.DAY1.isoformat()}&end={data.DAY7.isoformat()}"
    ref_a, ref_b = w.person_a.ref, w.person_b.ref
    contact = {"date": w.today.isoformat(), "method": "phone", "status": "well"}
    kg = "/api/keygroups"
    return [
        Case("area", "get", f"/api/areas/{data.A1}", f"/api/areas/{b}", f"/api/areas/{m}"),
        Case(
            "series",
            "get",
            f"/api/areas/{a}/series?{span}",
            f"/api/areas/{data.B1}/series?{span}",
            f"/api/areas/{m}/series?{span}",
        ),
        Case(
            "completeness",
            "get",
            f"/api/areas/{a}/completeness?{day}",
            f"/api/areas/{data.COUNTY}/completeness?{day}",
            f"/api/areas/{m}/completeness?{day}",
        ),
        Case(
            "judgement",
            "get",
            f"/api/judgements/{a}?{day}",
            f"/api/judgements/{b}?{day}",
            f"/api/judgements/{m}?{day}",
        ),
        Case(
            "signals",
            "get",
            f"/api/signals?area={a}&{span}",
            f"/api/signals?area={b}&{span}",
            f"/api/signals?area={m}&{span}",
        ),
        Case(
            "persons",
            "get",
            f"{kg}/persons?area={data.A1}",
            f"{kg}/persons?area={b}",
            f"{kg}/persons?area={m}",
        ),
        Case(
            "person",
            "get",
            f"{kg}/persons/{ref_a}",
            f"{kg}/persons/{ref_b}",
            f"{kg}/persons/{data.A1}-Knothere000",
        ),
        Case(
            "referral outcome",
            "post",
            f"{kg}/referrals/{w.referral_a}/outcome",
            f"{kg}/referrals/{w.referral_b}/outcome",
            f"{kg}/referrals/999999/outcome",
            body={"outcome": "outpatient", "date": w.today.isoformat()},
        ),
        Case(
            "contact",
            "post",
            f"{kg}/persons/{ref_a}/contacts",
            f"{kg}/persons/{ref_b}/contacts",
            f"{kg}/persons/nothere/contacts",
            body=contact,
            ok=201,
        ),
        Case(
            "register",
            "post",
            f"{kg}/persons",
            f"{kg}/persons",
            f"{kg}/persons",
            body=lambda which: _person((data.A2, data.B1, m)[which]),  # a new person each time
            ok=201,
        ),
        Case(
            "overdue",
            "get",
            f"{kg}/overdue?area={a}",
            f"{kg}/overdue?area={b}",
            f"{kg}/overdue?area={m}",
        ),
        Case(
            "audit", "get", f"{kg}/audit?area={a}", f"{kg}/audit?area={b}", f"{kg}/audit?area={m}"
        ),
        Case(
            "coverage",
            "get",
            f"{kg}/coverage?area={a}",
            f"{kg}/coverage?area={b}",
            f"{kg}/coverage?area={m}",
        ),
        Case(
            "export",
            "get",
            f"{kg}/export?area={a}",
            f"{kg}/export?area={b}",
            f"{kg}/export?area={m}",
        ),
    ]


NAMES = [
    "area",
    "series",
    "completeness",
    "judgement",
    "signals",
    "persons",
    "person",
    "contact",
    "register",
    "overdue",
    "audit",
    "coverage",
    "export",
]


def _call(client: Client, case: Case, url: str, which: int) -> Any:
    if case.method == "get":
        return client.get(url)
    body = case.body(which) if callable(case.body) else case.body
    return client.post(url, body, content_type="application/json")


@pytest.mark.parametrize("name", NAMES)
def test_scoping(name: str, world: World, town_a: Any, nobody: Any, root: Any) -> None:
    case = next(c for c in cases(world) if c.name == name)
    client = login(town_a)
    inside = _call(client, case, case.inside, 0)
    assert inside.status_code == case.ok, inside.content
    logs = AccessLog.objects.count()
    contacts = Contact.objects.count()
    persons = Person.objects.count()
    outside = _call(client, case, case.outside, 1)
    missing = _call(client, case, case.missing, 2)
    # Out of scope and missing: the same 404, byte for byte.
    assert (outside.status_code, missing.status_code) == (404, 404)
    assert outside.content == missing.content
    assert outside["Content-Type"] == "application/json; charset=utf-8"
    assert set(outside.json()) == {"detail"} and outside.json()["detail"]
    # Nothing written, nothing logged, for a refused request.
    assert AccessLog.objects.count() == logs
    assert (Contact.objects.count(), Person.objects.count()) == (contacts, persons)

    # Anonymous: 401 with a message, whatever the object.
    anonymous = _call(Client(), case, case.inside, 0)
    assert anonymous.status_code == 401 and anonymous.json()["detail"]

    # No jurisdiction: the 404 of a missing object, also without an area ("everything").
    no_access = login(nobody)
    assert _call(no_access, case, case.inside, 0).status_code == 404
    if case.method == "get" and "?area=" in case.inside:
        assert no_access.get(case.inside.split("?")[0]).status_code == 404

    # A superuser sees both townships; a missing object is still 404.
    admin = login(root)
    assert _call(admin, case, case.inside, 0).status_code == case.ok
    assert _call(admin, case, case.outside, 1).status_code == case.ok
    assert _call(admin, case, case.missing, 2).status_code == 404


def test_names_cover_every_endpoint(world: World) -> None:
    from ruralwatch.api.api import api

    paths = set(api.get_openapi_schema()["paths"])
    covered = {c.inside.split("?")[0] for c in cases(world)}
    covered = {p.replace(world.person_a.ref, "{ref}") for p in covered}
    covered = {p.replace(f"/{world.referral_a}/", "/{referral_id}/") for p in covered}
    covered = {p.replace(data.A1, "{code}").replace(data.TOWN_A, "{code}") for p in covered}
    # Auth, reports and campaigns have their own tests; tasks, briefings and users theirs
    # (tests/dispatch, tests/briefings, tests/accounts) and tests/scoping walks every route.
    own_tests = (
        "/api/auth",
        "/api/reports",
        "/api/keygroups/campaigns",
        "/api/tasks",
        "/api/briefings",
        "/api/users",
        "/api/intake",  # tests/intake (scope of values, checks, violations, flags)
        "/api/dataValueSets",  # tests/intake/test_dhis2.py (import and export scope)
        "/api/stock",  # tests/resources/test_api_stock.py (facilities inside, outside, missing)
    )
    expected = {p for p in paths if not p.startswith(own_tests)}
    assert expected <= covered


def test_lists_without_area_default_to_the_jurisdiction(world: World, town_a: Any) -> None:
    client = login(town_a)
    signals = client.get(f"/api/signals?start={data.DAY1}&end={data.DAY7}").json()
    assert {s["area"] for s in signals["items"]} == {data.TOWN_A}
    persons = client.get("/api/keygroups/persons").json()
    assert [p["ref"] for p in persons["items"]] == [world.person_a.ref]


def test_inactive_user_is_refused(world: World, town_a: Any) -> None:
    client = login(town_a)
    town_a.is_active = False
    town_a.save()
    assert client.get(f"/api/areas/{data.TOWN_A}").status_code == 401
