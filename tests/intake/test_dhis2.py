"""DHIS2 dataValueSets: periods, DHIS2's documented examples (adapted to our codes and to
daily periods) with their summary counts, CSV and ADX, id schemes, export filters, scope and
a lossless round trip."""

from __future__ import annotations

import datetime as dt
import json
import xml.etree.ElementTree as ET
from typing import Any

import pytest
from django.test import Client

from ruralwatch.intake.dhis2 import PeriodError, parse_period
from ruralwatch.intake.models import IdMapping
from ruralwatch.reporting.models import ReportValue, Submission
from tests.intake import h4world
from tests.intake.h4world import DAY, post, value

URL = "/api/dataValueSets"


def test_periods() -> None:
    assert parse_period("20230105") == parse_period("2023-01-05/P1D")
    week = parse_period("2023W1")
    assert (week.start, week.end, week.kind) == (dt.date(2023, 1, 2), dt.date(2023, 1, 8), "weekly")
    assert parse_period("2020W53").end == dt.date(2021, 1, 3)
    assert parse_period("2023-01-02/P7D") == week
    month = parse_period("202302")
    assert (month.start, month.end, month.kind) == (
        dt.date(2023, 2, 1),
        dt.date(2023, 2, 28),
        "monthly",
    )
    assert parse_period("2023-02-01/P1M") == month
    for bad in ("2021W53", "202313", "20230230", "2023W0", "2023-01-03/P7D", "2023", "", "x"):
        with pytest.raises(PeriodError):
            parse_period(bad)


@pytest.fixture
def world(db: None) -> h4world.World:
    w = h4world.build()
    IdMapping.objects.bulk_create(
        [
            IdMapping(kind="dataSet", uid="pBOMPrpg1QX", code="village_daily"),
            IdMapping(kind="orgUnit", uid="DiszpKrYNg8", code=w.villages_a[0]),
            IdMapping(kind="orgUnit", uid="BdfsJfj87js", code=w.villages_a[1]),
            IdMapping(kind="dataElement", uid="f7n9E0hX8qk", code="fever_visits"),
            IdMapping(kind="dataElement", uid="Ix2HsbDMLea", code="antigen_pos"),
            IdMapping(kind="dataElement", uid="eY5ehpbEsB7", code="new_cases"),
        ]
    )
    return w


def _post(
    client: Client, body: Any, content_type: str = "application/json", **params: str
) -> tuple[int, dict[str, Any]]:
    query = "&".join(f"{k}={v}" for k, v in params.items())
    data = json.dumps(body) if content_type == "application/json" else body
    r = client.post(URL + (f"?{query}" if query else ""), data=data, content_type=content_type)
    return r.status_code, r.json()


def _counts(summary: dict[str, Any]) -> tuple[str, int, int, int, int]:
    c = summary["importCount"]
    return summary["status"], c["imported"], c["updated"], c["ignored"], c["deleted"]


#: DHIS2's documented JSON example (three values of one data set, org unit and period in the
#: envelope), with a daily period.
DOC_JSON = {
    "dataSet": "pBOMPrpg1QX",
    "completeDate": "2023-01-06",
    "period": "20230105",
    "orgUnit": "DiszpKrYNg8",
    "dataValues": [
        {"dataElement": "f7n9E0hX8qk", "value": "1", "comment": "comment1"},
        {"dataElement": "Ix2HsbDMLea", "value": "2", "comment": "comment2"},
        {"dataElement": "eY5ehpbEsB7", "value": "2", "comment": "comment3"},
    ],
}


@pytest.mark.django_db
def test_documented_json_example_then_resend(world: h4world.World) -> None:
    status, summary = _post(world.county, DOC_JSON)
    assert status == 200, summary
    assert summary["responseType"] == "ImportSummary"
    assert _counts(summary) == ("SUCCESS", 3, 0, 0, 0)
    assert summary["conflicts"] == []
    assert summary["importOptions"]["idSchemes"]["orgUnitIdScheme"] == "UID"
    stored = dict(
        ReportValue.objects.filter(area_id=world.villages_a[0], date=DAY).values_list(
            "indicator_id", "value"
        )
    )
    assert stored == {"fever_visits": 1, "antigen_pos": 2, "new_cases": 2}
    # Sent again, DHIS2 counts each value as updated.
    assert _counts(_post(world.county, DOC_JSON)[1]) == ("SUCCESS", 0, 3, 0, 0)


@pytest.mark.django_db
def test_documented_ignored_value_example(world: h4world.World) -> None:
    """Four values: one sent before (updated), one for an org unit that does not exist
    (ignored, with a conflict naming it), two new."""
    _post(world.county, {**DOC_JSON, "dataValues": DOC_JSON["dataValues"][:1]})
    body = {
        "dataSet": "pBOMPrpg1QX",
        "period": "20230105",
        "dataValues": [
            {"dataElement": "f7n9E0hX8qk", "orgUnit": "DiszpKrYNg8", "value": "5"},
            {"dataElement": "Ix2HsbDMLea", "orgUnit": "DiszpKrYNg8", "value": "2"},
            {"dataElement": "f7n9E0hX8qk", "orgUnit": "BdfsJfj87js", "value": "4"},
            {"dataElement": "f7n9E0hX8qk", "orgUnit": "invalid1234", "value": "9"},
        ],
    }
    status, summary = _post(world.county, body)
    assert status == 422 and _counts(summary) == ("ERROR", 0, 0, 4, 0)
    assert ReportValue.objects.count() == 1  # all or nothing (atomicMode=ALL)
    status, summary = _post(world.county, body, atomicMode="NONE")
    assert status == 200
    assert _counts(summary) == ("WARNING", 2, 1, 1, 0)
    [conflict] = summary["conflicts"]
    assert conflict["object"] == "invalid1234" and conflict["indexes"] == [3]
    assert conflict["property"] == "orgUnit" and "invalid1234" in conflict["value"]


@pytest.mark.django_db
def test_bad_values_name_the_field(world: h4world.World) -> None:
    a1 = world.villages_a[0]
    body = {
        "dataValues": [
            {"dataElement": "new_cases", "period": "202301", "orgUnit": a1, "value": "1"},
            {"dataElement": "new_cases", "period": "2023W1", "orgUnit": a1, "value": "1"},
            {"dataElement": "new_cases", "period": "20230230", "orgUnit": a1, "value": "1"},
            {"dataElement": "nope", "period": "20230105", "orgUnit": a1, "value": "1"},
            {"dataElement": "new_cases", "period": "20230105", "orgUnit": a1, "value": "-3"},
            {"dataElement": "deaths", "period": "20230105", "orgUnit": a1, "value": "abc"},
            {
                "dataElement": "deaths",
                "period": "20230106",
                "orgUnit": a1,
                "value": "1",
                "categoryOptionCombo": "Prlt0C1RF0s",
            },
            {"dataElement": "deaths", "period": "20230107", "orgUnit": a1, "value": "0"},
        ]
    }
    status, summary = _post(world.county, body, idScheme="CODE", atomicMode="NONE")
    assert status == 200 and _counts(summary) == ("WARNING", 1, 0, 7, 0)
    by_index = {c["indexes"][0]: c for c in summary["conflicts"]}
    assert "monthly" in by_index[0]["value"] and by_index[0]["property"] == "period"
    assert "weekly" in by_index[1]["value"]
    assert by_index[2]["property"] == "period"
    assert by_index[3]["property"] == "dataElement" and by_index[3]["object"] == "nope"
    assert by_index[4]["property"] == "value" and by_index[4]["object"] == "-3"
    assert "abc" in by_index[5]["value"]
    assert by_index[6]["property"] == "categoryOptionCombo"
    assert ReportValue.objects.count() == 1
    r = world.county.post(URL, data="{", content_type="application/json")
    assert r.status_code == 422 and "JSON" in r.json()["conflicts"][0]["value"]
    r = world.county.post(URL, data="x", content_type="text/plain")
    assert r.status_code == 415


@pytest.mark.django_db
def test_documented_csv_example(world: h4world.World) -> None:
    a1 = world.villages_a[0]
    csv = (
        '"dataelement","period","orgunit","catoptcombo","attroptcombo","value","storedby",'
        '"timestamp","comment","followup"\n'
        f'"fever_visits","20230105","{a1}",,,"7","bombali","2023-01-05",,"false"\n'
        f'"new_cases","20230105","{a1}",,,"2","bombali","2023-01-05",,"false"\n'
    )
    status, summary = _post(world.county, csv, "application/csv", idScheme="CODE")
    assert status == 200 and _counts(summary) == ("SUCCESS", 2, 0, 0, 0)
    assert ReportValue.objects.get(indicator_id="fever_visits").reporter == "bombali"


@pytest.mark.django_db
def test_documented_adx_example(world: h4world.World) -> None:
    a1, a2 = world.villages_a[:2]
    adx = f"""<?xml version="1.0" encoding="UTF-8"?>
<adx xmlns="urn:ihe:qrph:adx:2015" exported="2023-01-06T19:30:00Z">
  <group orgUnit="{a1}" period="2023-01-05/P1D" completeDate="2023-01-06" dataSet="village_daily">
    <dataValue dataElement="fever_visits" value="32"/>
    <dataValue dataElement="antigen_pos" value="20"/>
  </group>
  <group orgUnit="{a2}" period="2023-01-05/P1D" dataSet="village_daily">
    <dataValue dataElement="fever_visits" value="12"/>
    <dataValue dataElement="new_cases" GENDER="FMLE" value="4"/>
  </group>
</adx>"""
    status, summary = _post(world.county, adx, "application/adx+xml", idScheme="CODE")
    assert status == 422 and "GENDER" in summary["conflicts"][0]["value"]
    status, summary = _post(
        world.county, adx, "application/adx+xml", idScheme="CODE", atomicMode="NONE"
    )
    assert _counts(summary) == ("WARNING", 3, 0, 1, 0)
    bomb = (
        '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><adx xmlns="urn:ihe:qrph:adx:2015"/>'
    )
    status, summary = _post(world.county, bomb, "application/adx+xml")
    assert status == 422 and "实体" in summary["conflicts"][0]["value"]  # entity


@pytest.mark.django_db
def test_scope_is_enforced(world: h4world.World) -> None:
    outside = world.villages_b[0]
    body = {
        "dataValues": [
            {"dataElement": "deaths", "period": "20230105", "orgUnit": outside, "value": "0"}
        ]
    }
    status, summary = _post(world.town_a, body, idScheme="CODE")
    assert status == 422 and outside in summary["conflicts"][0]["value"]
    r = world.town_a.get(
        URL,
        {
            "dataSet": "village_daily",
            "period": "20230105",
            "orgUnit": h4world.TOWN_B,
            "idScheme": "CODE",
        },
    )
    assert r.status_code == 404
    assert Client().get(URL).status_code == 401


def _load_history(world: h4world.World) -> None:
    values = []
    for i, v in enumerate(world.villages_a[:3] + world.villages_b[:2]):
        for d in range(10):
            day = dt.date(2023, 1, 1) + dt.timedelta(days=d)
            sent = f"{(day + dt.timedelta(days=d % 2)).isoformat()}T{18 + i}:15:30+08:00"
            for k, n in (("fever_visits", 3 + d), ("new_cases", d % 3), ("deaths", 0)):
                values.append(value(v, k, n, day=day, reporter=f"doc-{i}", submitted_at=sent))
    status, body = post(world.county, values)
    assert status == 200 and body["imported"] == len(values)


def _snapshot() -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    vals = list(
        ReportValue.objects.order_by("area_id", "date", "indicator_id").values_list(
            "area_id", "date", "indicator_id", "value", "reporter", "submitted_at"
        )
    )
    subs = list(
        Submission.objects.order_by("area_id", "date").values_list(
            "area_id", "date", "submitted_at", "delay_hours", "reporter"
        )
    )
    return vals, subs


@pytest.mark.django_db
def test_export_filters_and_formats(world: h4world.World) -> None:
    _load_history(world)
    base = {"orgUnit": "130102000000", "children": "true", "idScheme": "CODE"}
    r = world.county.get(URL, {**base, "dataSet": "village_daily", "period": "2023W1"})
    assert r.status_code == 200
    rows = r.json()["dataValues"]
    assert {x["period"] for x in rows} == {f"202301{d:02d}" for d in range(2, 9)}
    assert len(rows) == 5 * 7 * 3
    r = world.county.get(
        URL,
        {**base, "dataElement": "new_cases", "startDate": "2023-01-09", "endDate": "2023-01-31"},
    )
    assert {(x["dataElement"], x["period"][:8]) for x in r.json()["dataValues"]} == {
        ("new_cases", "20230109"),
        ("new_cases", "20230110"),
    }
    r = world.county.get(
        URL,
        {
            **base,
            "dataElement": "new_cases",
            "period": "202301",
            "orgUnit": h4world.TOWN_A,
            "children": "false",
        },
    )
    assert r.json()["dataValues"] == []  # a township has no values of its own
    r = world.county.get(URL + ".csv", {**base, "dataElement": "deaths", "period": "20230101"})
    lines = r.content.decode().strip().splitlines()
    assert lines[0].startswith("dataelement,period,orgunit") and len(lines) == 6
    r = world.county.get(
        URL,
        {**base, "dataSet": "village_daily", "period": "20230101"},
        HTTP_ACCEPT="application/adx+xml",
    )
    root = ET.fromstring(r.content)
    groups = root.findall("{urn:ihe:qrph:adx:2015}group")
    assert len(groups) == 5 and groups[0].get("period") == "2023-01-01/P1D"
    for params, word in (
        ({"dataSet": "nope", "period": "20230101"}, "nope"),
        ({"period": "20230101"}, "dataSet"),
        ({"dataSet": "village_daily"}, "period"),
        ({"dataSet": "village_daily", "period": "2023W60"}, "2023W60"),
    ):
        r = world.county.get(URL, {**base, **params})
        assert r.status_code == 422 and word in r.json()["message"], params
    r = world.county.get(
        URL, {**base, "dataSet": "village_daily", "period": "20230101", "idScheme": "UID"}
    )
    assert r.status_code == 404  # the county's code is not a uid
    r = world.county.get(
        URL, {**base, "dataSet": "village_daily", "period": "20230101", "colour": "x"}
    )
    assert r.status_code == 422


@pytest.mark.django_db
@pytest.mark.parametrize("scheme", ["CODE", "UID"])
def test_round_trip_loses_nothing(world: h4world.World, scheme: str) -> None:
    _load_history(world)
    if scheme == "UID":
        IdMapping.objects.all().delete()
        codes = world.villages_a + world.villages_b + ["130102000000"]
        IdMapping.objects.bulk_create(
            [IdMapping(kind="orgUnit", uid=f"OU{i:09d}", code=c) for i, c in enumerate(codes)]
            + [
                IdMapping(kind="dataElement", uid=f"DE{i:09d}", code=k)
                for i, k in enumerate(["fever_visits", "new_cases", "deaths"])
            ]
            + [IdMapping(kind="dataSet", uid="DS000000001", code="village_daily")]
        )
        county, data_set = f"OU{len(codes) - 1:09d}", "DS000000001"
    else:
        county, data_set = "130102000000", "village_daily"
    before = _snapshot()
    params = {
        "dataSet": data_set,
        "startDate": "2023-01-01",
        "endDate": "2023-01-10",
        "orgUnit": county,
        "children": "true",
        "idScheme": scheme,
    }
    exported = world.county.get(URL + ".json", params).json()
    assert len(exported["dataValues"]) == len(before[0])
    ReportValue.objects.all().delete()
    Submission.objects.all().delete()
    status, summary = _post(world.county, exported, idScheme=scheme)
    assert status == 200 and _counts(summary) == ("SUCCESS", len(before[0]), 0, 0, 0)
    assert _snapshot() == before
    csv = world.county.get(URL + ".csv", params).content.decode()
    ReportValue.objects.all().delete()
    Submission.objects.all().delete()
    status, summary = _post(world.county, csv, "application/csv", idScheme=scheme)
    assert _counts(summary)[:2] == ("SUCCESS", len(before[0]))
    assert _snapshot() == before


@pytest.mark.django_db
def test_id_schemes_named_in_the_payload(world: h4world.World) -> None:
    body = {
        "idScheme": "CODE",
        "dataValues": [
            {
                "dataElement": "deaths",
                "period": "20230105",
                "orgUnit": world.villages_a[0],
                "value": "0",
            }
        ],
    }
    status, summary = _post(world.county, body)
    assert status == 200 and _counts(summary) == ("SUCCESS", 1, 0, 0, 0)
    assert summary["importOptions"]["idSchemes"]["orgUnitIdScheme"] == "CODE"
