"""Walk every page and every API operation as users of every role and level.

The site's URL patterns come from the resolver and the API's operations from its OpenAPI, so a
new page or operation is walked without being listed here (a path parameter this file has no
values for fails the walk, naming it). For each user, every route is requested with objects
inside the jurisdiction, outside it and missing, by GET and by POST (with a valid body where
the route takes one), and:

- no answer is a 5xx (also with ``?date=`` near year 1, far in the future, or not a date);
- no answer names anything outside the user's subtree (codes and names of areas that are not
  the user's ancestors, persons, doctors, campaigns there), in text or JSON-escaped, other
  than the value the request itself named;
- an object outside the jurisdiction and a missing one get the same answer (status and body,
  with the requested value itself blanked, and CSRF tokens blanked);
- nothing is written for a request about an object outside the jurisdiction.

Django's admin is left out: only staff reach it (our users are redirected to its login, which
is checked), and staff there see every row by design.
"""

from __future__ import annotations

import datetime as dt
import functools
import io
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from ruralwatch.api.api import api
from ruralwatch.api.docs import ASSETS
from ruralwatch.api.models import ApiToken
from ruralwatch.dispatch.models import Task
from ruralwatch.intake.models import OutlierFlag
from ruralwatch.keygroups.models import CampaignVillage, Contact, Person, Referral
from ruralwatch.keygroups.selectors import AUDIT_KINDS
from tests.dashboard import data
from tests.scoping.conftest import MISSING_AREA, Walker, World, id_number

MISSING_ID = "999999"
#: ``?date=`` values that are no use to a page (near year 1, far future, not a date).
ODD_DATES = ("0001-01-01", "9999-12-31", "0", "2023-02-30")
#: Path values that name nothing: a NUL byte (refused by PostgreSQL), far too long, -1.
ODD_VALUES = ("%00", "9" * 300, "-1")
#: Routes no inside request of the walk answers without an error, with the reason.
NOT_REACHED: set[str] = {
    # DHIS2 exports need dataSet, period and orgUnit in the query (422 without them); their
    # scope (orgUnit inside, outside, missing) is tested in tests/intake/test_dhis2.py.
    "/api/dataValueSets.json",
    "/api/dataValueSets.csv",
}
#: Routes one walker cannot reach by design, with the reason: a village doctor manages no
#: users, so every user id is a 404 to them (the same as a missing one).
NOT_REACHED_BY: dict[str, set[str]] = {
    "doctor": {
        "accounts/users/<int:user_id>/deactivate/",
        "/api/users/{user_id}/deactivate",
        "accounts/users/<int:user_id>/reactivate/",
        "/api/users/{user_id}/reactivate",
    },
}
#: Routes walked by other means, with the reason.
SKIPPED_PREFIXES = ("admin/",)  # staff only: see test_admin_is_for_staff_only
PARAM = re.compile(r"<(?:(?P<conv>\w+):)?(?P<name>\w+)>")


@dataclass
class Variant:
    """One request: which object (inside, outside or missing) a parameter names."""

    which: str  # "inside", "outside", "missing", "odd"
    param: str
    value: str


# --- the routes --------------------------------------------------------------------------------


def page_routes() -> list[str]:
    """Every URL pattern of the site outside the API and the admin, as ``a/<str:code>/``."""
    out: list[str] = []

    def walk(patterns: list[Any], prefix: str) -> None:
        for p in patterns:
            route = prefix + str(p.pattern)
            if route.startswith(SKIPPED_PREFIXES) or route.startswith("api/"):
                continue
            if isinstance(p, URLResolver):
                walk(p.url_patterns, route)
            elif isinstance(p, URLPattern):
                out.append(route)

    walk(get_resolver().url_patterns, "")
    return sorted(set(out))


@functools.cache
def _openapi_paths() -> dict[str, Any]:
    """The API's OpenAPI paths, generated once per process (0.6 s each time)."""
    paths: dict[str, Any] = api.get_openapi_schema()["paths"]
    return paths


def api_operations() -> list[tuple[str, str]]:
    """Every operation of the OpenAPI as (method, path with ``{name}`` parameters)."""
    paths = _openapi_paths()
    return sorted((m.upper(), p) for p, ops in paths.items() for m in ops)


def _params(route: str) -> list[str]:
    return [m["name"] for m in PARAM.finditer(route)] + re.findall(r"{(\w+)}", route)


def _fill(route: str, values: dict[str, str]) -> str:
    route = PARAM.sub(lambda m: values[m["name"]], route)
    return "/" + re.sub(r"{(\w+)}", lambda m: values[m[1]], route).lstrip("/")


# --- values of path parameters -------------------------------------------------------------------


def inside_values(w: Walker, world: World) -> dict[str, list[str]]:
    # Not the token the walk authenticates with (revoking that one would end the walk).
    token = ApiToken.objects.filter(user=w.user, name="spare").order_by("pk").first()
    assert token is not None
    return {
        "code": sorted({w.root.code, data.A1}),
        "ref": [world.persons[data.A1].ref],
        "referral_id": [str(world.referrals[data.A1])],
        # A campaign over the jurisdiction, and one over the whole province: the user may
        # report their villages in it, and must see nothing else of it.
        "campaign_id": [str(world.campaigns[w.root.code]), str(world.campaigns[data.PROVINCE])],
        "token_id": [str(token.pk)],
        "task_id": [_task(data.A1)],
        "user_id": [str(world.cadres[data.A1])],
        "briefing_id": [str(world.briefings[w.root.code])],
        "flag_id": [_flag(data.A1)],
        "kind": list(AUDIT_KINDS),
        "name": sorted(ASSETS)[:1],
        "field": ["village", "doctor", "cadre"],  # the register form's pickers
    }


def outside_values(w: Walker, world: World, walkers: list[Walker]) -> dict[str, list[str]]:
    other = next(x for x in walkers if x is not w)
    token = ApiToken.objects.filter(user=other.user).order_by("pk").first()
    assert token is not None
    return {
        "code": [w.outside_area, w.outside_village],
        "ref": [world.persons[w.outside_village].ref],
        "referral_id": [str(world.referrals[w.outside_village])],
        "campaign_id": [str(world.campaigns[w.outside_area])],
        "token_id": [str(token.pk)],
        "task_id": [_task(w.outside_village)],
        "user_id": [str(world.cadres[w.outside_village])],
        "briefing_id": [str(world.briefings[w.outside_area])],
        "flag_id": [_flag(w.outside_village)],
        "kind": [],  # not an object of a jurisdiction
        "name": [],
        "field": [],
    }


MISSING = {
    "code": MISSING_AREA,
    "ref": f"{data.A1}-Knothere000",
    "referral_id": MISSING_ID,
    "campaign_id": MISSING_ID,
    "token_id": MISSING_ID,
    "task_id": MISSING_ID,
    "user_id": MISSING_ID,
    "briefing_id": MISSING_ID,
    "flag_id": MISSING_ID,
    "kind": "nothere",
    "name": "nothere.js",
    "field": "nothere",
}


def _flag(village: str) -> str:
    """An outlier flag on ``village``'s value (intake API), made on first use."""
    flag, _new = OutlierFlag.objects.get_or_create(
        area_id=village,
        date=data.DAY7,
        indicator="new_cases",
        method="seasonal",
        defaults={"value": 9.0, "score": 6.0, "flagged_at": data.NOW},
    )
    return str(flag.pk)


def _task(village: str) -> str:
    """The task of ``village`` the world made for the walk (dispatch pages and API)."""
    return str(Task.objects.get(source_key=f"walk:{village}").pk)


def variants(route: str, w: Walker, world: World) -> Iterator[tuple[dict[str, str], Variant]]:
    """Each request of a route: every parameter inside; then one parameter outside or
    missing at a time (the others inside)."""
    names = _params(route)
    inside = inside_values(w, world)
    outside = outside_values(w, world, world.walkers)
    unknown = [n for n in names if n not in inside]
    assert not unknown, f"{route}: the walk has no values for {unknown}; add them"
    base = {n: inside[n][0] for n in names}
    if not names:
        yield {}, Variant("inside", "", "")
    for n in names:
        for value in ODD_VALUES:  # names nothing: never an error page, never a database error
            yield {**base, n: value}, Variant("odd", n, value)
        for value in inside[n]:
            yield {**base, n: value}, Variant("inside", n, value)
        for value in outside[n]:
            yield {**base, n: value}, Variant("outside", n, value)
        yield {**base, n: MISSING[n]}, Variant("missing", n, MISSING[n])


# --- bodies of writes ----------------------------------------------------------------------------

_seq = iter(range(300, 100_000))


def api_body(path: str, values: dict[str, str], world: World) -> tuple[Any, str]:
    """A valid body for a write operation (as JSON or multipart), or ``None``."""
    today = world.today.isoformat()
    if path == "/api/keygroups/persons":
        birth = dt.date(1950, 1, 1)
        seq = next(_seq)
        body = {
            "name": "新登记",
            "sex": "M" if seq % 2 else "F",
            "birth_date": birth.isoformat(),
            "id_number": id_number(birth, seq % 1000),
            "village": values.get("_village", data.A1),
            "groups": ["age65"],
        }
        return json.dumps(body), "application/json"
    if path.endswith("/contacts"):
        return json.dumps({"date": today, "method": "phone", "status": "well"}), "application/json"
    if path.endswith("/outcome"):
        return json.dumps({"outcome": "outpatient", "date": today}), "application/json"
    if "/villages/" in path:
        return json.dumps({"completed_on": today, "surveyed": 3}), "application/json"
    if path == "/api/auth/tokens":
        return json.dumps({"name": "walk"}), "application/json"
    if path == "/api/users":
        area = values.get("_village", data.A1)
        body = {"username": f"walk{next(_seq)}", "role": "village_cadre", "area": area}
        return json.dumps(body), "application/json"
    if path == "/api/briefings":  # HTML: the walk checks the scope, not the rendering
        area = values.get("_village", data.A1)
        return json.dumps({"area": area, "date": today, "format": "html"}), "application/json"
    if path.endswith("/act"):  # a comment: allowed in every status of a task
        return json.dumps({"action": "comment", "comment": "walk"}), "application/json"
    if path == "/api/reports/import":
        return None, "multipart"
    if path == "/api/intake/values":
        value = {"area": data.A1, "date": data.DAY7.isoformat(), "indicator": "deaths", "value": 0}
        return json.dumps({"values": [value]}), "application/json"
    if path == "/api/intake/check":
        body = {"area": data.A1, "date": data.DAY7.isoformat(), "values": {"deaths": 0}}
        return json.dumps(body), "application/json"
    if path.startswith("/api/intake/flags/"):
        return json.dumps({"status": "confirmed"}), "application/json"
    if path == "/api/stock":
        report = {"facility": f"vc-{data.A1}", "item": "antigen_kit", "date": today, "on_hand": 3}
        return json.dumps({"reports": [report]}), "application/json"
    if path == "/api/dataValueSets":
        value = {"dataElement": "deaths", "period": data.DAY7.strftime("%Y%m%d"), "value": "0"}
        body = {"idScheme": "CODE", "dataValues": [{**value, "orgUnit": data.A1}]}
        return json.dumps(body), "application/json"
    return None, ""


def report_file(code: str) -> io.BytesIO:
    handle = io.BytesIO(
        f"area_code,date,indicator,value\n{code},{data.DAY7.isoformat()},new_cases,1\n".encode()
    )
    handle.name = "reports.csv"
    return handle


def page_body(route: str, values: dict[str, str], world: World) -> dict[str, Any]:
    if route == "keygroups/register/":
        birth = dt.date(1951, 1, 1)
        seq = next(_seq)
        return {
            "name": "页面登记",
            "sex": "M" if seq % 2 else "F",
            "birth_date": birth.isoformat(),
            "id_number": id_number(birth, seq % 1000),
            "village": values.get("_village", data.A1),
            "groups": ["age65"],
            "comorbidity": 0,
            "vaccination": 2,
        }
    if route == "accounts/users/":
        area = values.get("_village", data.A1)
        return {"username": f"page{next(_seq)}", "role": "village_cadre", "area": area}
    if route.endswith("/act/"):
        return {"action": "comment", "comment": "walk"}
    if route.startswith("briefings/area/"):
        return {"date": world.today.isoformat(), "language": "zh-hans", "format": "html"}
    if route.endswith("/contact/"):
        return {"status": "well", "method": "phone", "date": world.today.isoformat()}
    if route == "intake/report/<str:code>/check/":  # the form's rule check before sending
        from ruralwatch.reporting.models import IndicatorAssignment

        codes = IndicatorAssignment.objects.values_list("indicator_id", flat=True).distinct()
        return {"date": world.today.isoformat()} | {f"v_{code}": "0" for code in codes}
    return {}


# --- checks -------------------------------------------------------------------------------------

CSRF = re.compile(
    r'(name="csrfmiddlewaretoken" value=")[^"]*|(csrfToken["\']?\s*[:=]\s*["\'])[^"\']*'
)


def text_of(response: Any) -> str:
    if getattr(response, "streaming", False):
        return b"".join(response.streaming_content).decode("utf-8", "replace")
    body = response.content.decode("utf-8", "replace")
    if response.get("Content-Type", "").startswith("application/json"):
        try:
            return json.dumps(json.loads(body), ensure_ascii=False)
        except ValueError:
            return body
    return body


def leaks(text: str, w: Walker) -> list[str]:
    found = []
    for marker in w.foreign:
        escaped = json.dumps(marker)[1:-1]
        if marker in text or escaped in text:
            found.append(marker)
    return sorted(found)


def normalised(text: str, value: str) -> str:
    text = CSRF.sub(lambda m: (m.group(1) or m.group(2) or "") + "…", text)
    return text.replace(value, "<value>") if value else text


@dataclass
class Answer:
    route: str
    method: str
    variant: Variant
    status: int
    text: str


def _api_call(
    client: Client, w: Walker, method: str, path: str, values: dict[str, str], world: World
) -> Any:
    url = _fill(path, values)
    headers = {} if path == "/api/auth/tokens" else {"HTTP_AUTHORIZATION": f"Bearer {w.token}"}
    if method == "GET":
        return client.get(url, **headers)
    if method == "DELETE":
        return client.delete(url, **headers)
    body, kind = api_body(path, values, world)
    if kind == "multipart":
        return client.post(url, {"file": report_file(values.get("_village", data.A1))}, **headers)
    return client.post(url, body or "{}", content_type="application/json", **headers)


def _query_variants(w: Walker) -> list[Variant]:
    return [
        Variant("inside", "area", w.root.code),
        Variant("outside", "area", w.outside_area),
        Variant("missing", "area", MISSING_AREA),
    ]


def walk_user(w: Walker, world: World) -> list[Answer]:
    client = Client(raise_request_exception=False)  # a 500 is an answer to collect
    client.force_login(w.user)
    answers: list[Answer] = []
    for route in page_routes():
        for values, variant in variants(route, w, world):
            url = _fill(route, values)
            for method in ("GET", "POST"):
                if method == "GET":
                    response = client.get(url)
                else:
                    response = client.post(url, page_body(route, values, world))
                    client.force_login(w.user)  # after a POST to the logout page
                answers.append(
                    Answer(route, method, variant, response.status_code, text_of(response))
                )
            if variant.which == "inside":
                # Dates a page cannot use: never an error page.
                for day in ODD_DATES:
                    response = client.get(f"{url}?date={day}")
                    odd = Variant("inside", "date", day)
                    answers.append(
                        Answer(route, "GET", odd, response.status_code, text_of(response))
                    )
        if route in ("keygroups/register/", "accounts/users/"):  # the body names a village
            same = page_body(route, {}, world)  # one person or user, in each of three villages
            key = "village" if route == "keygroups/register/" else "area"
            for which, code in (
                ("outside", w.outside_village),
                ("missing", MISSING_AREA),
                ("inside", data.A1),
            ):
                body = {**same, key: code}
                response = client.post("/" + route, body)
                variant = Variant(which, "village", code)
                answers.append(
                    Answer(route, "POST", variant, response.status_code, text_of(response))
                )
    for method, path in api_operations():
        for values, variant in variants(path, w, world):
            response = _api_call(client, w, method, path, values, world)
            answers.append(Answer(path, method, variant, response.status_code, text_of(response)))
        if method == "GET" and "area" in _query_names(method, path):
            for variant in _query_variants(w):
                url = _fill(path, {n: v[0] for n, v in inside_values(w, world).items()})
                response = client.get(
                    f"{url}?area={variant.value}", HTTP_AUTHORIZATION=f"Bearer {w.token}"
                )
                answers.append(
                    Answer(path, method, variant, response.status_code, text_of(response))
                )
        if method == "POST" and path in (
            "/api/keygroups/persons",
            "/api/reports/import",
            "/api/users",
            "/api/briefings",
        ):
            for which, code in (
                ("inside", data.A1),
                ("outside", w.outside_village),
                ("missing", MISSING_AREA),
            ):
                response = _api_call(client, w, method, path, {"_village": code}, world)
                variant = Variant(which, "village", code)
                answers.append(
                    Answer(path, method, variant, response.status_code, text_of(response))
                )
    return answers


def _query_names(method: str, path: str) -> set[str]:
    op = _openapi_paths()[path][method.lower()]
    return {p["name"] for p in op.get("parameters", []) if p["in"] == "query"}


def _counts() -> tuple[int, ...]:
    return (
        Person.objects.count(),
        Contact.objects.count(),
        Referral.objects.exclude(outcome="pending").count(),
        CampaignVillage.objects.exclude(completed_on=None).count(),
        get_user_model().objects.filter(is_active=True).count(),
    )


# --- the tests ----------------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["doctor", "township", "county", "prefecture", "province"])
def test_every_route_keeps_to_the_jurisdiction(who: str, world: World) -> None:
    w = next(x for x in world.walkers if x.name == who)
    answers = walk_user(w, world)
    assert len(answers) > 100

    errors = [(a.method, a.route, a.variant, a.status) for a in answers if a.status >= 500]
    assert not errors, errors

    # The value a request itself named may come back (an import's problem names the row's
    # area code); nothing else from outside may.
    leaked = [
        (a.method, a.route, a.variant.which, a.variant.value, found)
        for a in answers
        if (found := [m for m in leaks(a.text, w) if m != a.variant.value])
    ]
    assert not leaked, leaked

    # Outside and missing: the same answer.
    by_request: dict[tuple[str, str, str], dict[str, Answer]] = {}
    for a in answers:
        if a.variant.which in ("outside", "missing"):
            key = (a.method, a.route, a.variant.param)
            by_request.setdefault(key, {})
            # Keep the first outside (nearest area) and the missing answer of each parameter.
            by_request[key].setdefault(a.variant.which, a)
    differ = []
    for key, pair in by_request.items():
        if set(pair) != {"outside", "missing"}:
            continue
        out, miss = pair["outside"], pair["missing"]
        if out.status != miss.status or normalised(out.text, out.variant.value) != normalised(
            miss.text, miss.variant.value
        ):
            differ.append((key, out.status, miss.status, out.text[:300], miss.text[:300]))
    assert not differ, differ

    # The walk reached the real code: every route answered an inside request without an error.
    reached = {a.route for a in answers if a.variant.which == "inside" and a.status < 400}
    routes = set(page_routes()) | {p for _, p in api_operations()}
    assert routes - reached - NOT_REACHED - NOT_REACHED_BY.get(who, set()) == set()


def test_writes_about_objects_outside_change_nothing(world: World) -> None:
    """Each write of the walk, aimed at an object outside, leaves the registry as it was."""
    for w in world.walkers:
        client = Client()
        client.force_login(w.user)
        outside = outside_values(w, world, world.walkers)
        inside = {n: v[0] for n, v in inside_values(w, world).items()}
        for method, path in api_operations():
            if method != "POST":
                continue
            for name in _params(path):
                for value in outside[name]:
                    before = _counts()
                    response = _api_call(client, w, method, path, {**inside, name: value}, world)
                    assert response.status_code == 404, (w.name, path, value, response.content)
                    assert _counts() == before, (w.name, path, value)
        for path in ("/api/keygroups/persons",):
            before = _counts()
            response = _api_call(client, w, "POST", path, {"_village": w.outside_village}, world)
            assert response.status_code == 404 and _counts() == before


def test_every_page_and_operation_is_walked(world: World) -> None:
    routes = page_routes()
    assert {"keygroups/area/<str:code>/audit/<str:kind>/", "area/<str:code>/", ""} <= set(routes)
    ops = api_operations()
    assert ("POST", "/api/keygroups/campaigns/{campaign_id}/villages/{code}") in ops
    assert len(ops) >= 20
    w = world.walkers[0]
    for route in routes + [p for _, p in ops]:
        list(variants(route, w, world))  # fails naming a parameter without values


def test_admin_is_for_staff_only(world: World) -> None:
    for w in world.walkers:
        client = Client()
        client.force_login(w.user)
        response = client.get("/admin/keygroups/person/")
        assert response.status_code in (302, 404)
        response = client.get("/admin/")
        assert response.status_code == 302 and "/admin/login/" in response["Location"]
