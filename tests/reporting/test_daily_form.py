"""The daily form's store: one report per idempotency key, explicit zero vs not known,
corrections with their history, bad values named, locked days refused."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from ruralwatch.areas.models import Area
from ruralwatch.core.problems import ImportRejected
from ruralwatch.reporting.daily_form import day_form, form_indicators, submit_day
from ruralwatch.reporting.models import (
    FormReport,
    IndicatorAssignment,
    ReportValue,
    RollupPending,
    Submission,
    ValidationPending,
    ValueChange,
)
from ruralwatch.reporting.signoff import Refused, approve_day, locked_problems, unlock_day
from tests.reporting.intake_world import DAY, FAST_HASHERS, NOW, World, build

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(settings: Any) -> World:
    settings.PASSWORD_HASHERS = FAST_HASHERS
    return build()


def _values(world: World, **over: Any) -> dict[str, Any]:
    codes = [i.code for i in form_indicators(world.villages[0])]
    out: dict[str, Any] = {c: 0 for c in codes}
    out.update(over)
    return out


def test_default_form_and_assignment_by_area(world: World) -> None:
    v = world.villages[0]
    codes = [i.code for i in form_indicators(v)]
    assert codes[:4] == ["fever_visits", "antigen_pos", "pcr_pos", "new_cases"]
    assert "kg_registered" not in codes  # computed by the key-group registry, not reported
    # An indicator assigned to one township is on its villages' forms only.
    IndicatorAssignment.objects.filter(indicator_id="kg_contacts").delete()
    IndicatorAssignment.objects.create(indicator_id="kg_contacts", area=world.township)
    assert "kg_contacts" in [i.code for i in form_indicators(v)]
    elsewhere = Area.objects.filter(parent=world.other_township).first()
    assert elsewhere is not None
    assert "kg_contacts" not in [i.code for i in form_indicators(elsewhere)]


def test_one_report_per_key_zero_and_not_known(world: World) -> None:
    v = world.villages[0]
    user = world.users["doctor"]
    values = _values(world, new_cases=3, deaths=None)
    first = submit_day(v, DAY, values, key="k-0000001", user=user, reporter="张医生", now=NOW)
    again = submit_day(v, DAY, values, key="k-0000001", user=user, reporter="张医生", now=NOW)
    assert (first.status, again.status) == ("stored", "duplicate")
    assert again.form_id == first.form_id
    assert FormReport.objects.count() == 1 and Submission.objects.count() == 1
    stored = dict(ReportValue.objects.filter(area=v, date=DAY).values_list("indicator_id", "value"))
    assert stored["new_cases"] == 3 and stored["fever_visits"] == 0  # a zero is a value
    assert "deaths" not in stored  # not known stores nothing
    sub = Submission.objects.get()
    assert sub.reporter == "张医生" and sub.delay_hours == pytest.approx(33.0)
    assert RollupPending.objects.filter(date=DAY).exists()
    assert ValidationPending.objects.filter(date=DAY).exists()
    form = day_form(v, DAY)
    by = {f.indicator.code: f for f in form.fields}
    assert by["deaths"].unknown and by["deaths"].value is None
    assert by["new_cases"].value == 3 and form.reported and form.lock is None


def test_every_problem_named_and_nothing_written(world: World) -> None:
    v = world.villages[0]
    values = _values(world, new_cases="2.5", deaths=-1, fever_visits="", pcr_pos="abc")
    del values["antigen_pos"]
    values["nonsense"] = 1
    with pytest.raises(ImportRejected) as exc:
        submit_day(v, DAY, values, key="k-bad00001", now=NOW)
    columns = {p.column for p in exc.value.problems}
    assert columns == {"new_cases", "deaths", "fever_visits", "pcr_pos", "antigen_pos", "nonsense"}
    with pytest.raises(ImportRejected):
        submit_day(v, DAY + dt.timedelta(days=5), _values(world), key="k-future01", now=NOW)
    with pytest.raises(ImportRejected):
        submit_day(world.township, DAY, _values(world), key="k-township", now=NOW)
    with pytest.raises(ImportRejected):
        submit_day(v, DAY, _values(world), key="short", now=NOW)
    assert not FormReport.objects.exists() and not ReportValue.objects.exists()
    assert not Submission.objects.exists()


def test_corrections_need_a_reason_and_keep_history(world: World) -> None:
    v = world.villages[0]
    doctor = world.users["doctor"]
    submit_day(
        v, DAY, _values(world, new_cases=3, deaths=None), key="k-first001", user=doctor, now=NOW
    )
    later = NOW + dt.timedelta(hours=2)
    with pytest.raises(Refused, match="原因"):
        submit_day(v, DAY, _values(world, new_cases=4, deaths=None), key="k-second01", now=later)
    out = submit_day(
        v,
        DAY,
        _values(world, new_cases=4, deaths=0),
        key="k-second02",
        user=doctor,
        reporter="张医生",
        reason="漏报一例",
        now=later,
    )
    assert out.changed == 2
    changes = {c.indicator_id: c for c in ValueChange.objects.all()}
    assert set(changes) == {"new_cases", "deaths"}
    assert (changes["new_cases"].old_value, changes["new_cases"].new_value) == (3, 4)
    assert (changes["deaths"].old_value, changes["deaths"].new_value) == (None, 0)
    assert changes["new_cases"].reason == "漏报一例" and changes["new_cases"].user == doctor
    assert changes["new_cases"].at == later
    # The first arrival stays the submission time (timeliness is not reset by a correction).
    assert Submission.objects.get().submitted_at == NOW
    # Back to not known: the value is removed, the change kept.
    submit_day(
        v,
        DAY,
        _values(world, new_cases=None, deaths=0),
        key="k-third001",
        reason="核实中",
        now=later,
    )
    assert not ReportValue.objects.filter(area=v, date=DAY, indicator_id="new_cases").exists()
    assert ValueChange.objects.filter(indicator_id="new_cases", new_value=None).count() == 1
    # The same values again change nothing and need no reason.
    same = submit_day(v, DAY, _values(world, new_cases=None, deaths=0), key="k-fourth01", now=later)
    assert same.changed == 0


def test_locked_day_refused_with_reason_and_unlocked_by_the_level_above(world: World) -> None:
    v = world.villages[0]
    submit_day(v, DAY, _values(world), key="k-lock0001", now=NOW)
    approve_day(world.township, DAY, user=world.users["township"], role="township", now=NOW)
    with pytest.raises(Refused) as exc:
        submit_day(v, DAY, _values(world, new_cases=1), key="k-lock0002", reason="x", now=NOW)
    assert world.township.name in exc.value.reason and "2023-01-10" in exc.value.reason
    assert FormReport.objects.count() == 1
    # A retry of the report stored before the approval is still answered as stored.
    assert submit_day(v, DAY, _values(world), key="k-lock0001", now=NOW).status == "duplicate"
    unlock_day(world.township, DAY, user=world.users["county"], reason="乡镇更正", now=NOW)
    out = submit_day(v, DAY, _values(world, new_cases=1), key="k-lock0003", reason="x", now=NOW)
    assert out.status == "stored" and out.changed == 1


def test_import_refuses_locked_rows(world: World) -> None:
    import polars as pl

    v, w = world.villages[0], world.other_township
    approve_day(world.township, DAY, user=None, now=NOW)
    frame = pl.DataFrame(
        {
            "__row__": [2, 3, 4],
            "area_code": [v.code, v.code, w.code],
            "date_parsed": [DAY, DAY + dt.timedelta(days=1), DAY],
        }
    )
    problems = locked_problems(frame, "r.csv")
    assert [p.row for p in problems] == [2]
    assert world.township.name in problems[0].reason
