"""A file or system import that changes a stored value keeps it in the correction history, as
the daily form does: who, when, old, new and the batch it came in; re-imports lose nothing and
add nothing; the form's history shows the import's corrections."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from ruralwatch.reporting.models import ImportBatch, ReportValue, ValueChange
from ruralwatch.reporting.services import import_reports
from tests.intake import h4world
from tests.reporting.intake_world import DAY, FAST_HASHERS, NOW, PASSWORD, World, build

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(settings: Any) -> World:
    settings.PASSWORD_HASHERS = FAST_HASHERS
    return build()


def _file(path: Path, world: World, fever: int, cases: int) -> Path:
    a, b = world.villages[0].code, world.villages[1].code
    path.write_text(
        "区划代码,日期,发热门诊（诊室）就诊人次,新增病例数,报告人,提交时间\n"
        f"{a},{DAY.isoformat()},{fever},{cases},王医生,{DAY.isoformat()} 21:30\n"
        f"{b},{DAY.isoformat()},4,0,李医生,{DAY.isoformat()} 20:00\n",
        encoding="utf-8",
    )
    return path


def _history() -> list[tuple[Any, ...]]:
    return list(
        ValueChange.objects.order_by("id").values_list(
            "area_id", "indicator_id", "old_value", "new_value", "reporter", "batch__source"
        )
    )


def test_a_changed_value_keeps_its_history_and_reimports_lose_nothing(
    world: World, tmp_path: Path
) -> None:
    a = world.villages[0].code
    first = import_reports(_file(tmp_path / "day.csv", world, 9, 2), now=NOW)
    assert (first.imported, first.updated, first.unchanged) == (4, 0, 0)
    assert not ValueChange.objects.exists()  # a first value is not a correction

    county = world.users["county"]
    fixed = _file(tmp_path / "fixed.csv", world, 9, 5)
    changed = import_reports(fixed, now=NOW + dt.timedelta(hours=3), user=county)
    assert (changed.imported, changed.updated, changed.unchanged) == (0, 1, 3)
    assert _history() == [(a, "new_cases", 2.0, 5.0, "王医生", "fixed.csv")]
    change = ValueChange.objects.get()
    assert change.user == county
    assert change.form_id is None
    assert change.batch == ImportBatch.objects.get(source="fixed.csv")
    # "when" is the new value's arrival: the row's submission time (Shanghai 21:30)
    assert change.at == dt.datetime(2023, 1, 10, 13, 30, tzinfo=dt.UTC)

    again = import_reports(fixed, now=NOW + dt.timedelta(hours=4), user=county)
    assert (again.imported, again.updated, again.unchanged) == (0, 0, 4)
    assert len(_history()) == 1  # the same file twice: nothing new to keep

    back = import_reports(tmp_path / "day.csv", now=NOW + dt.timedelta(hours=5))
    assert (back.imported, back.updated, back.unchanged) == (0, 1, 3)
    assert _history() == [
        (a, "new_cases", 2.0, 5.0, "王医生", "fixed.csv"),
        (a, "new_cases", 5.0, 2.0, "王医生", "day.csv"),
    ]
    assert ReportValue.objects.get(area_id=a, indicator_id="new_cases").value == 2.0


def test_the_form_shows_the_corrections_an_import_made(world: World, tmp_path: Path) -> None:
    v = world.villages[0]
    import_reports(_file(tmp_path / "day.csv", world, 9, 2), now=NOW)
    import_reports(
        _file(tmp_path / "县里更正.csv", world, 11, 2), now=NOW, user=world.users["county"]
    )
    doctor = Client()
    assert doctor.login(username="doc1", password=PASSWORD)
    page = doctor.get(reverse("intake:report", kwargs={"code": v.code}), {"date": DAY})
    html = page.content.decode()
    assert page.status_code == 200
    assert "县里更正.csv" in html and "王医生" in html
    history = html[html.index("in-history") :]
    assert ">9<" in history and ">11<" in history


def test_the_bulk_api_keeps_its_corrections_with_the_token_user() -> None:
    world = h4world.build()
    v1 = world.villages_a[0]
    values = [h4world.value(v1, "new_cases", 3, reporter="医生甲")]
    assert h4world.post(world.county, values)[0] == 200
    assert not ValueChange.objects.exists()
    values[0]["value"] = 6
    status, body = h4world.post(world.county, values)
    assert (status, body["updated"]) == (200, 1)
    change = ValueChange.objects.get()
    assert (change.old_value, change.new_value, change.reporter) == (3.0, 6.0, "医生甲")
    assert change.user is not None and change.user.get_username() == "h4county"
    assert change.batch is not None and change.batch.source == "api:h4county"
    assert change.reason == "api:h4county"
    status, body = h4world.post(world.county, values, dry_run="true")
    assert (status, body["unchanged"]) == (200, 1)
    values[0]["value"] = 7
    assert h4world.post(world.county, values, dry_run="true")[1]["updated"] == 1
    assert ValueChange.objects.count() == 1  # a dry run keeps nothing


def test_a_value_stored_after_the_file_was_read_is_read_again(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The daily form does not take the import lock. A value it stores between the file
    importer's read of the stored values and its write makes the new values' insert fail:
    the importer reads again and counts that value as changed, with its correction, instead
    of failing or storing it twice; nothing of the failed attempt stays."""
    from ruralwatch.reporting import services

    a = world.villages[0].code
    import_reports(_file(tmp_path / "day.csv", world, 9, 2), now=NOW)
    ReportValue.objects.filter(area_id=a, indicator_id="new_cases").delete()
    real = services.stored_values_of_days
    reads: list[int] = []

    def the_form_writes_after_the_first_read() -> Any:
        found = real()
        reads.append(found.height)
        if len(reads) == 1:  # what the form stores meanwhile
            ReportValue.objects.create(
                area_id=a,
                date=DAY,
                indicator_id="new_cases",
                value=7,
                reporter="form",
                submitted_at=NOW,
            )
        return found

    monkeypatch.setattr(services, "stored_values_of_days", the_form_writes_after_the_first_read)
    fixed = import_reports(_file(tmp_path / "fixed.csv", world, 9, 5), now=NOW)
    assert reads == [3, 4]
    assert (fixed.imported, fixed.updated, fixed.unchanged) == (0, 1, 3)
    assert _history() == [(a, "new_cases", 7.0, 5.0, "王医生", "fixed.csv")]
    assert ReportValue.objects.count() == 4
    assert ReportValue.objects.get(area_id=a, indicator_id="new_cases").value == 5.0
