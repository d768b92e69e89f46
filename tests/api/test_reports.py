"""Report upload: a good file is imported; a bad one is refused whole, with every problem."""

from __future__ import annotations

from typing import Any

from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from ruralwatch.reporting.models import ImportBatch, ReportValue
from tests.api.conftest import World, login
from tests.dashboard import data

URL = "/api/reports/import"


def _csv(*rows: str, name: str = "reports.csv") -> SimpleUploadedFile:
    text = "\n".join(("区划代码,日期,指标,数值", *rows)) + "\n"
    return SimpleUploadedFile(name, text.encode("utf-8"), content_type="text/csv")


def test_good_file_is_imported(world: World, town_a: Any) -> None:
    client = login(town_a)
    before = ReportValue.objects.count()
    upload = _csv(
        f"{data.A1},2023-01-08,new_cases,3", f"{data.A2},2023-01-08,new_cases,0", name="第8天.csv"
    )
    response = client.post(URL, {"file": upload})
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["values"], body["imported"], body["areas"]) == (2, 2, 2)
    assert body["dates"] == ["2023-01-08"]
    assert ReportValue.objects.count() == before + 2
    assert ReportValue.objects.get(area_id=data.A2, date="2023-01-08").value == 0.0
    again = client.post(URL, {"file": _csv(f"{data.A1},2023-01-08,new_cases,3")})
    assert again.json()["unchanged"] == 1  # re-importing changes nothing


def test_bad_file_is_refused_whole(world: World, town_a: Any) -> None:
    values, batches = ReportValue.objects.count(), ImportBatch.objects.count()
    upload = _csv(
        f"{data.A1},2023-01-08,new_cases,3",  # fine, but not stored either
        f"{data.A2},2023-13-40,new_cases,1",
        f"{data.A2},2023-01-08,new_cases,-2",
        f"{data.A2},2023-01-09,no_such_indicator,1",
    )
    response = login(town_a).post(URL, {"file": upload})
    assert response.status_code == 422
    body = response.json()
    assert body["detail"]
    where = {(p["row"], p["column"]) for p in body["problems"]}
    assert {(3, "date"), (4, "value"), (5, "indicator")} <= where
    assert all(p["file"] == "reports.csv" and p["reason"] for p in body["problems"])
    assert (ReportValue.objects.count(), ImportBatch.objects.count()) == (values, batches)


def test_areas_outside_the_jurisdiction_are_refused_like_unknown_ones(
    world: World, town_a: Any
) -> None:
    client = login(town_a)
    values = ReportValue.objects.count()
    outside = client.post(URL, {"file": _csv(f"{data.B1},2023-01-08,new_cases,1")}).json()
    missing = client.post(URL, {"file": _csv(f"{data.MISSING},2023-01-08,new_cases,1")}).json()
    [p_out], [p_missing] = outside["problems"], missing["problems"]
    assert (
        (p_out["row"], p_out["column"])
        == (p_missing["row"], p_missing["column"])
        == (
            2,
            "area_code",
        )
    )
    assert p_out["reason"].replace(data.B1, "X") == p_missing["reason"].replace(data.MISSING, "X")
    mixed = _csv(f"{data.A1},2023-01-08,new_cases,1", f"{data.B1},2023-01-08,new_cases,1")
    response = client.post(URL, {"file": mixed})
    assert response.status_code == 422
    assert [p["row"] for p in response.json()["problems"]] == [3]
    assert ReportValue.objects.count() == values


def test_county_imports_for_every_township(world: World, county: Any) -> None:
    upload = _csv(f"{data.A1},2023-01-08,new_cases,1", f"{data.B1},2023-01-08,new_cases,2")
    assert login(county).post(URL, {"file": upload}).status_code == 200


def test_upload_needs_a_file_and_a_login(world: World, town_a: Any, nobody: Any) -> None:
    assert Client().post(URL, {"file": _csv()}).status_code == 401
    assert login(town_a).post(URL, {}).status_code == 422
    empty = login(town_a).post(URL, {"file": SimpleUploadedFile("x.csv", b"")})
    assert empty.status_code == 422 and empty.json()["problems"]
    refused = login(nobody).post(URL, {"file": _csv(f"{data.A1},2023-01-08,new_cases,1")})
    assert refused.status_code == 422


def test_upload_size_limit(world: World, town_a: Any, settings: Any) -> None:
    settings.RURALWATCH_API_MAX_UPLOAD_MB = 0
    response = login(town_a).post(URL, {"file": _csv(f"{data.A1},2023-01-08,new_cases,1")})
    assert response.status_code == 413 and response.json()["detail"]
