"""``/api/stock``: stock, receipts and issues by facility and item, scoped by the token's
area; refusals as 422 with each field's path; listed in the OpenAPI document."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.test import Client

from ruralwatch.accounts.services import create_user_with_jurisdiction
from ruralwatch.api.services import create_token
from ruralwatch.areas.models import Area
from ruralwatch.resources.models import Facility, StockReport
from ruralwatch.synth.resources import Resources
from tests.resources.conftest import ON, county


def _token_client(name: str, area: str, role: str) -> Client:
    user = create_user_with_jurisdiction(name, "pw-stock-123", area, role)
    _token, plain = create_token(user, "system")
    return Client(HTTP_AUTHORIZATION=f"Bearer {plain}")


@pytest.fixture
def towns(loaded: Resources, region: Any) -> tuple[Area, Area]:
    c = county(region)
    first, second = Area.objects.filter(parent=c).order_by("code")[:2]
    return first, second


def _clinic(town: Area) -> Facility:
    fac = Facility.objects.filter(kind="village_clinic", area__path__startswith=town.path)
    found = fac.order_by("code").first()
    assert found is not None
    return found


def _report(fac: Facility, **kw: Any) -> dict[str, Any]:
    body = {"facility": fac.code, "item": "antigen_kit", "date": ON.isoformat(), "on_hand": 7}
    return {**body, **kw}


def _post(client: Client, reports: list[dict[str, Any]]) -> Any:
    return client.post("/api/stock", {"reports": reports}, content_type="application/json")


def test_post_stores_a_batch_and_again_changes_nothing(towns: tuple[Area, Area]) -> None:
    town, _other = towns
    client = _token_client("stock_town", town.code, "township")
    fac = _clinic(town)
    reports = [
        _report(fac, on_hand=7, received=10, issued=3),
        _report(fac, item="pulse_oximeter", on_hand=2),
        _report(fac, date=(ON - dt.timedelta(days=1)).isoformat(), on_hand=0),
    ]
    r = _post(client, reports)
    assert r.status_code == 200, r.content
    before = r.json()
    assert before["received"] == 3 and before["inserted"] + before["updated"] >= 1
    row = StockReport.objects.get(facility=fac, item_id="antigen_kit", date=ON)
    assert (row.on_hand, row.received, row.issued) == (7, 10, 3)
    again = _post(client, reports).json()
    assert again == {"received": 3, "inserted": 0, "updated": 0, "unchanged": 3}
    changed = _post(client, [_report(fac, on_hand=5, received=10, issued=3)]).json()
    assert changed == {"received": 1, "inserted": 0, "updated": 1, "unchanged": 0}
    assert StockReport.objects.get(facility=fac, item_id="antigen_kit", date=ON).on_hand == 5


def test_a_facility_outside_is_refused_like_a_missing_one(towns: tuple[Area, Area]) -> None:
    town, other = towns
    client = _token_client("stock_town2", town.code, "township")
    inside, outside = _clinic(town), _clinic(other)
    count = StockReport.objects.count()
    answers = {}
    for which, code in (("outside", outside.code), ("missing", "vc-nothere")):
        r = _post(
            client, [_report(inside), {**_report(inside, item="pulse_oximeter"), "facility": code}]
        )
        assert r.status_code == 422
        errors = r.json()["errors"]
        assert [e["loc"] for e in errors] == [["body", "reports", 1, "facility"]]
        answers[which] = errors[0]["msg"].replace(code, "X")
    assert answers["outside"] == answers["missing"]
    assert StockReport.objects.count() == count  # all or nothing: the good report is not stored


def test_bad_fields_get_their_paths(towns: tuple[Area, Area]) -> None:
    town, _other = towns
    client = _token_client("stock_town3", town.code, "township")
    fac = _clinic(town)
    tomorrow = (dt.date.today() + dt.timedelta(days=2)).isoformat()
    r = _post(
        client,
        [
            _report(fac, item="unicorn"),
            _report(fac, date=tomorrow),
            _report(fac),
            _report(fac),
        ],
    )
    assert r.status_code == 422
    locs = {tuple(e["loc"]) for e in r.json()["errors"]}
    assert locs == {
        ("body", "reports", 0, "item"),
        ("body", "reports", 1, "date"),
        ("body", "reports", 3, "date"),  # the duplicate of report 2
    }
    shape = _post(client, [_report(fac, on_hand=-1, date="2023-02-30")])
    assert shape.status_code == 422
    locs = {tuple(e["loc"][-2:]) for e in shape.json()["errors"]}
    assert locs == {(0, "on_hand"), (0, "date")}
    assert _post(client, []).status_code == 422
    assert client.post("/api/stock", "{", content_type="application/json").status_code == 422


def test_list_is_scoped_and_filtered(towns: tuple[Area, Area]) -> None:
    town, other = towns
    client = _token_client("stock_town4", town.code, "township")
    r = client.get("/api/stock?limit=500")
    assert r.status_code == 200, r.content
    page = r.json()
    assert page["end"] == ON.isoformat() and page["count"] > 0
    assert all(Area.objects.get(code=i["area"]).path.startswith(town.path) for i in page["items"])
    expected = StockReport.objects.filter(
        facility__area__path__startswith=town.path,
        date__gte=ON - dt.timedelta(days=27),
        date__lte=ON,
    ).count()
    assert page["count"] == expected
    fac = _clinic(town)
    one = client.get(f"/api/stock?facility={fac.code}&item=antigen_kit").json()
    assert one["count"] >= 1 and {(i["facility"], i["item"]) for i in one["items"]} == {
        (fac.code, "antigen_kit")
    }
    outside = client.get(f"/api/stock?area={other.code}")
    missing = client.get("/api/stock?area=990000000000")
    assert outside.status_code == missing.status_code == 404
    assert outside.json() == missing.json()
    # A facility outside named as a filter: nothing, as for a facility that does not exist.
    assert client.get(f"/api/stock?facility={_clinic(other).code}").json()["count"] == 0
    assert Client().get("/api/stock").status_code == 401


def test_openapi_documents_the_route() -> None:
    from ruralwatch.api.api import api

    ops = api.get_openapi_schema()["paths"]["/api/stock"]
    assert {"get", "post"} <= set(ops)
    assert 422 in ops["post"]["responses"] and "requestBody" in ops["post"]
