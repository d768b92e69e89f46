"""The bulk JSON API: summary counts, all-or-nothing and partial modes, idempotence, scope,
bad input with the field and reason, the size limit and per-token rate limits."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client

from ruralwatch.intake.models import Violation
from ruralwatch.reporting.models import (
    ReportValue,
    RollupPending,
    Submission,
    ValidationPending,
)
from tests.intake import h4world
from tests.intake.h4world import DAY, post, value

pytestmark = pytest.mark.django_db


@pytest.fixture
def world() -> h4world.World:
    return h4world.build()


def test_import_then_idempotent_then_update(world: h4world.World) -> None:
    v1, v2 = world.villages_a[:2]
    values = [
        value(v1, "fever_visits", 12, reporter="医生甲", submitted_at="2023-01-05T20:00:00+08:00"),
        value(v1, "new_cases", 3),
        value(v2, "new_cases", 0),
    ]
    status, body = post(world.county, values)
    assert status == 200, body
    assert (body["status"], body["imported"], body["updated"], body["unchanged"]) == (
        "success",
        3,
        0,
        0,
    )
    assert ReportValue.objects.count() == 3
    assert ReportValue.objects.get(area_id=v2, indicator_id="new_cases").value == 0
    sub = Submission.objects.get(area_id=v1, date=DAY)
    assert sub.delay_hours == pytest.approx(20.0)
    assert RollupPending.objects.filter(date=DAY).exists()
    assert ValidationPending.objects.filter(date=DAY).exists()
    status, body = post(world.county, values)
    assert (status, body["imported"], body["updated"], body["unchanged"]) == (200, 0, 0, 3)
    values[1]["value"] = 4
    status, body = post(world.county, values)
    assert (body["imported"], body["updated"], body["unchanged"]) == (0, 1, 2)


def test_all_or_nothing_lists_every_conflict_and_writes_nothing(world: h4world.World) -> None:
    v1 = world.villages_a[0]
    values = [
        value(v1, "fever_visits", 12),
        value(v1, "new_cases", -1),
        value("999999999999", "new_cases", 1),
        value(v1, "no_such", 1),
        value(v1, "deaths", 1.5),
        {"area": v1, "date": "2023-02-30", "indicator": "deaths", "value": 1},
        value(v1, "fever_visits", 13),
        value(h4world.TOWN_A, "new_cases", 1),
        {"area": v1, "date": "2023-01-05", "indicator": "pcr_pos", "value": 1, "colour": "red"},
        "not an object",
    ]
    status, body = post(world.county, values)
    assert status == 422
    assert body["status"] == "rejected" and body["imported"] == 0
    by_index = {(c["index"], c["field"]) for c in body["conflicts"]}
    assert {(1, "value"), (2, "area_code"), (3, "indicator"), (4, "value"), (5, "date")} <= by_index
    assert (6, "indicator") in by_index  # duplicate of row 0
    assert (7, "area_code") in by_index  # a township: the indicator is reported by villages
    assert (8, "colour") in by_index and (9, None) in by_index
    reasons = " ".join(c["reason"] for c in body["conflicts"])
    assert "999999999999" in reasons and "no_such" in reasons
    assert ReportValue.objects.count() == 0 and Submission.objects.count() == 0


def test_partial_mode_stores_the_rest(world: h4world.World) -> None:
    v1, v2 = world.villages_a[:2]
    values = [value(v1, "fever_visits", 12), value(v1, "new_cases", "x"), value(v2, "deaths", 0)]
    status, body = post(world.county, values, mode="partial")
    assert status == 200
    assert (body["status"], body["imported"], body["ignored"]) == ("partial", 2, 1)
    assert body["conflicts"] == [
        {"index": 1, "field": "value", "reason": body["conflicts"][0]["reason"]}
    ]
    assert "x" in body["conflicts"][0]["reason"]
    assert ReportValue.objects.count() == 2
    status, body = post(world.county, [value(v1, "deaths", -1)], mode="partial")
    assert (status, body["status"], body["ignored"]) == (422, "rejected", 1)


def test_dry_run_counts_without_storing(world: h4world.World) -> None:
    status, body = post(world.county, [value(world.villages_a[0], "deaths", 0)], dry_run="true")
    assert (status, body["imported"], body["dry_run"]) == (200, 1, True)
    assert ReportValue.objects.count() == 0 and Submission.objects.count() == 0


def test_areas_outside_the_jurisdiction_are_unknown(world: h4world.World) -> None:
    inside, outside = world.villages_a[0], world.villages_b[0]
    status, body = post(world.town_a, [value(inside, "deaths", 0), value(outside, "deaths", 0)])
    assert status == 422
    assert body["conflicts"] == [
        {"index": 1, "field": "area_code", "reason": body["conflicts"][0]["reason"]}
    ]
    assert outside in body["conflicts"][0]["reason"]
    assert ReportValue.objects.count() == 0


def test_warning_rules_are_stored_and_returned(world: h4world.World) -> None:
    v1 = world.villages_a[0]
    values = [value(v1, "new_cases", 9), value(v1, "antigen_pos", 2), value(v1, "pcr_pos", 1)]
    status, body = post(world.county, values)
    assert status == 200 and body["imported"] == 3
    assert [v["rule"] for v in body["violations"]] == ["cases_le_positives"]
    assert Violation.objects.get().left_value == 9
    # The correction clears the violation of that area-day.
    status, body = post(world.county, [value(v1, "new_cases", 3)])
    assert body["violations"] == [] and not Violation.objects.exists()


def test_refusing_rule_refuses_the_area_day(world: h4world.World) -> None:
    from ruralwatch.intake.models import ValidationRule

    ValidationRule.objects.filter(code="cases_le_positives").update(severity="refuse")
    v1, v2 = world.villages_a[:2]
    values = [
        value(v1, "new_cases", 9),
        value(v1, "antigen_pos", 2),
        value(v2, "new_cases", 1),
        value(v2, "antigen_pos", 2),
    ]
    status, body = post(world.county, values)
    assert status == 422
    assert {c["index"] for c in body["conflicts"]} == {0, 1}
    assert "cases_le_positives" in body["conflicts"][0]["reason"]
    status, body = post(world.county, values, mode="partial")
    assert (status, body["imported"], body["ignored"]) == (200, 2, 2)
    assert set(ReportValue.objects.values_list("area_id", flat=True)) == {v2}


def test_request_shape_errors(world: h4world.World) -> None:
    client = world.county
    r = client.post("/api/intake/values", data=b"{", content_type="application/json")
    assert r.status_code == 422 and "JSON" in r.json()["detail"]
    status, body = post(client, [])
    assert status == 422 and body["detail"].startswith("values")  # the list is empty
    too_many = [value(world.villages_a[0], "deaths", 0)] * 10_001
    status, body = post(client, too_many)
    assert status == 422 and "10000" in body["detail"].replace(",", "")
    status, body = post(client, [value(world.villages_a[0], "deaths", 0)], mode="sometimes")
    assert status == 422
    anonymous = Client().post("/api/intake/values", data="[]", content_type="application/json")
    assert anonymous.status_code == 401


def test_ten_thousand_values_in_one_request(world: h4world.World) -> None:
    villages = world.villages_a + world.villages_b
    indicators = ["fever_visits", "antigen_pos", "pcr_pos", "new_cases", "severe_cases"]
    values = []
    day = dt.date(2022, 12, 1)
    while len(values) < 10_000:
        for v in villages:
            for k in indicators:
                values.append(value(v, k, (len(values) * 7) % 5, day=day))
        day += dt.timedelta(days=1)
    values = values[:10_000]
    status, body = post(world.county, values)
    assert (status, body["imported"]) == (200, 10_000)
    assert ReportValue.objects.count() == 10_000


def test_rate_limit_answers_429_with_retry_after(world: h4world.World, settings) -> None:  # type: ignore[no-untyped-def]
    settings.RURALWATCH_INTAKE_RATE_PER_MINUTE = 2
    one = [value(world.villages_a[0], "deaths", 0)]
    codes = [post(world.county, one)[0] for _ in range(2)]
    assert codes == [200, 200]
    r = world.county.post(
        "/api/intake/values", data='{"values": []}', content_type="application/json"
    )
    assert r.status_code == 429
    assert 1 <= int(r["Retry-After"]) <= 60
    assert "2" in r.json()["detail"]
    # Another token has its own budget.
    assert post(world.town_a, one)[0] == 200


def test_a_signed_off_day_is_refused_with_the_reason(world: h4world.World) -> None:
    from ruralwatch.areas.models import Area
    from ruralwatch.reporting.signoff import approve_day

    v1, b1 = world.villages_a[0], world.villages_b[0]
    approve_day(Area.objects.get(code=h4world.TOWN_A), DAY, user=None, role="township")
    status, body = post(world.county, [value(v1, "deaths", 0), value(b1, "deaths", 0)])
    assert status == 422
    [conflict] = body["conflicts"]
    assert (conflict["index"], conflict["field"]) == (0, "date")
    status, body = post(
        world.county, [value(v1, "deaths", 0), value(b1, "deaths", 0)], mode="partial"
    )
    assert (status, body["imported"], body["ignored"]) == (200, 1, 1)
    assert not ReportValue.objects.filter(area_id=v1).exists()
