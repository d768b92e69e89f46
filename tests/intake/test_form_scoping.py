"""The intake routes walked as the scoping walk does (tests/scoping/test_walk.py), for every
user of every level: inside, outside and missing areas, by GET and POST (the daily form's
JSON for a report), odd dates. No 5xx, nothing from outside the jurisdiction in an answer,
the same answer for an area outside and a missing one, and nothing written about an area
outside."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from ruralwatch.areas.models import Area
from ruralwatch.reporting.daily_form import form_indicators
from ruralwatch.reporting.models import ApprovalEvent, DayApproval, FormReport, ReportValue
from tests.dashboard import data
from tests.scoping.conftest import (  # noqa: F401  (the walk's world, built once here)
    World,
    _module_world,
    world,
)
from tests.scoping.test_walk import (
    ODD_DATES,
    Answer,
    _fill,
    leaks,
    normalised,
    page_routes,
    text_of,
    variants,
)

ROUTES = [r for r in page_routes() if r.startswith("intake/")]


def _form_body(the_world: World, code: str) -> str:
    village = Area.objects.get(code=data.A1)
    values = {i.code: 1 for i in form_indicators(village)}
    day = the_world.today.isoformat()
    return json.dumps({"key": f"walk-{code}-{len(values)}", "date": day, "values": values})


def _counts() -> tuple[int, ...]:
    return (
        FormReport.objects.count(),
        ReportValue.objects.count(),
        DayApproval.objects.count(),
        ApprovalEvent.objects.count(),
    )


def test_intake_routes_are_walked() -> None:
    assert set(ROUTES) >= {
        "intake/",
        "intake/report/<str:code>/",
        "intake/missing/<str:code>/",
        "intake/signoff/<str:code>/",
    }


@pytest.mark.parametrize("who", ["doctor", "township", "county", "prefecture", "province"])
def test_intake_routes_keep_to_the_jurisdiction(who: str, world: World) -> None:  # noqa: F811
    w = next(x for x in world.walkers if x.name == who)
    client = Client(raise_request_exception=False)
    client.force_login(w.user)
    answers: list[Answer] = []
    for route in ROUTES:
        for values, variant in variants(route, w, world):
            url = _fill(route, values)
            before = _counts()
            for method in ("GET", "POST", "JSON", "APPROVE"):
                if method == "GET":
                    response = client.get(url)
                elif method == "POST":
                    response = client.post(url, {"date": world.today.isoformat()})
                elif method == "JSON":
                    response = client.post(
                        url, _form_body(world, variant.value[:12]), content_type="application/json"
                    )
                else:
                    response = client.post(
                        url, {"action": "approve", "date": world.today.isoformat()}
                    )
                answers.append(
                    Answer(route, method, variant, response.status_code, text_of(response))
                )
            if variant.which in ("outside", "missing"):
                assert _counts() == before, (who, route, variant)
            if variant.which == "inside":
                for day in ODD_DATES:
                    response = client.get(f"{url}?date={day}")
                    answers.append(
                        Answer(route, "GET", variant, response.status_code, text_of(response))
                    )
    errors = [(a.method, a.route, a.variant, a.status) for a in answers if a.status >= 500]
    assert not errors, errors
    leaked = [
        (a.method, a.route, a.variant.value, found)
        for a in answers
        if (found := [m for m in leaks(a.text, w) if m != a.variant.value])
    ]
    assert not leaked, leaked
    pairs: dict[tuple[str, str, str], dict[str, Answer]] = {}
    for a in answers:
        if a.variant.which in ("outside", "missing"):
            pairs.setdefault((a.method, a.route, a.variant.param), {}).setdefault(
                a.variant.which, a
            )
    differ = [
        (key, p["outside"].status, p["missing"].status)
        for key, p in pairs.items()
        if set(p) == {"outside", "missing"}
        and (
            p["outside"].status != p["missing"].status
            or normalised(p["outside"].text, p["outside"].variant.value)
            != normalised(p["missing"].text, p["missing"].variant.value)
        )
    ]
    assert not differ, differ
    reached = {a.route for a in answers if a.variant.which == "inside" and a.status < 400}
    assert set(ROUTES) - {"intake/"} <= reached
