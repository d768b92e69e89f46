"""The bulk API's classification of each value (new, changed, unchanged) from one read of the
stored values, and what each class writes: new values inserted with the batch, changed ones
updated with their correction history, unchanged ones left as they were (batch, reporter and
arrival time), conflicts within a request, locked and archived days. A value stored or
changed by someone else between the read and the write is read again, not miscounted."""

from __future__ import annotations

import datetime as dt

import pytest

from ruralwatch.reporting import services as reporting
from ruralwatch.reporting.models import (
    ArchivedPeriod,
    ImportBatch,
    ReportValue,
    Submission,
    ValueChange,
)
from tests.intake import h4world
from tests.intake.h4world import DAY, post, value

pytestmark = pytest.mark.django_db


@pytest.fixture
def world() -> h4world.World:
    return h4world.build()


def _stored() -> dict[tuple[str, str], float]:
    return {
        (a, i): v for a, i, v in ReportValue.objects.values_list("area_id", "indicator_id", "value")
    }


def test_one_request_of_new_changed_and_unchanged_values(world: h4world.World) -> None:
    v1, v2, v3 = world.villages_a[:3]
    first = [
        value(v1, "fever_visits", 12, reporter="甲", submitted_at="2023-01-05T20:00:00+08:00"),
        value(v1, "deaths", 5, reporter="甲", submitted_at="2023-01-05T20:00:00+08:00"),
        value(v2, "fever_visits", 0, reporter="乙", submitted_at="2023-01-05T21:00:00+08:00"),
        value(v2, "deaths", 2.0, reporter="乙", submitted_at="2023-01-05T21:00:00+08:00"),
    ]
    status, body = post(world.county, first)
    assert (status, body["imported"], body["updated"], body["unchanged"]) == (200, 4, 0, 0)
    first_batch = ImportBatch.objects.get().pk
    second = [
        value(v1, "fever_visits", 12, reporter="丙"),  # unchanged
        value(v1, "deaths", 0, reporter="丙"),  # changed: 5 -> 0 (a zero is a value)
        value(v2, "fever_visits", 0, reporter="丙"),  # unchanged zero
        value(v2, "deaths", 3, reporter="丙"),  # changed: 2 -> 3
        value(v3, "deaths", 1, reporter="丙"),  # new (a new area-day)
        value(v1, "pcr_pos", 0, reporter="丙"),  # new (on a stored area-day)
    ]
    status, body = post(world.county, second)
    assert status == 200, body
    assert (body["imported"], body["updated"], body["unchanged"], body["ignored"]) == (2, 2, 2, 0)
    batch = ImportBatch.objects.exclude(pk=first_batch).get()
    assert (batch.imported, batch.updated, batch.unchanged) == (2, 2, 2)
    assert _stored() == {
        (v1, "fever_visits"): 12,
        (v1, "deaths"): 0,
        (v1, "pcr_pos"): 0,
        (v2, "fever_visits"): 0,
        (v2, "deaths"): 3,
        (v3, "deaths"): 1,
    }
    rows = {
        (a, i): (b, r)
        for a, i, b, r in ReportValue.objects.values_list(
            "area_id", "indicator_id", "batch_id", "reporter"
        )
    }
    # Unchanged values keep the batch and reporter that stored them; the others are this batch's.
    assert rows[(v1, "fever_visits")] == (first_batch, "甲")
    assert rows[(v2, "fever_visits")] == (first_batch, "乙")
    for key in [(v1, "deaths"), (v2, "deaths"), (v3, "deaths"), (v1, "pcr_pos")]:
        assert rows[key] == (batch.pk, "丙"), key
    changes = sorted(
        ValueChange.objects.values_list(
            "area_id", "indicator_id", "old_value", "new_value", "batch_id", "reporter", "reason"
        )
    )
    source = f"api:{'h4county'}"
    assert changes == [
        (v1, "deaths", 5.0, 0.0, batch.pk, "丙", source),
        (v2, "deaths", 2.0, 3.0, batch.pk, "丙", source),
    ]
    # The earliest arrival of each area-day stays; the new area-day has one submission.
    subs = {a: s for a, s in Submission.objects.values_list("area_id", "delay_hours")}
    assert subs[v1] == pytest.approx(20.0) and subs[v2] == pytest.approx(21.0)
    assert set(subs) == {v1, v2, v3}


def test_the_same_request_twice_is_unchanged_and_writes_nothing(world: h4world.World) -> None:
    v1 = world.villages_a[0]
    values = [value(v1, "deaths", 1), value(v1, "fever_visits", 7)]
    assert post(world.county, values)[1]["imported"] == 2
    before = list(ReportValue.objects.order_by("pk").values_list("pk", "value", "batch_id"))
    status, body = post(world.county, values)
    assert (status, body["imported"], body["updated"], body["unchanged"]) == (200, 0, 0, 2)
    assert list(ReportValue.objects.order_by("pk").values_list("pk", "value", "batch_id")) == before
    assert not ValueChange.objects.exists()


def test_an_earlier_arrival_of_unchanged_values_moves_the_submission(world: h4world.World) -> None:
    v1 = world.villages_a[0]
    late = [value(v1, "deaths", 1, submitted_at="2023-01-06T10:00:00+08:00")]
    early = [value(v1, "deaths", 1, submitted_at="2023-01-05T09:00:00+08:00")]
    post(world.county, late)
    assert Submission.objects.get(area_id=v1).delay_hours == pytest.approx(34.0)
    status, body = post(world.county, early)
    assert (status, body["unchanged"]) == (200, 1)
    assert Submission.objects.get(area_id=v1).delay_hours == pytest.approx(9.0)
    post(world.county, late)  # a later sending does not move it back
    assert Submission.objects.get(area_id=v1).delay_hours == pytest.approx(9.0)


def test_dry_run_classifies_without_writing(world: h4world.World) -> None:
    v1, v2 = world.villages_a[:2]
    post(world.county, [value(v1, "deaths", 1), value(v1, "fever_visits", 4)])
    before = _stored()
    status, body = post(
        world.county,
        [value(v1, "deaths", 1), value(v1, "fever_visits", 5), value(v2, "deaths", 0)],
        dry_run="true",
    )
    assert (status, body["imported"], body["updated"], body["unchanged"]) == (200, 1, 1, 1)
    assert _stored() == before and not ValueChange.objects.exists()
    assert not Submission.objects.filter(area_id=v2).exists()


def test_a_key_twice_in_one_request_is_a_conflict(world: h4world.World) -> None:
    v1, v2 = world.villages_a[:2]
    values = [value(v1, "deaths", 1), value(v2, "deaths", 0), value(v1, "deaths", 2)]
    status, body = post(world.county, values)
    assert status == 422
    assert [(c["index"], c["field"]) for c in body["conflicts"]] == [(2, "indicator")]
    assert "0" in body["conflicts"][0]["reason"]  # names the first row (in any language)
    assert not ReportValue.objects.exists() and not Submission.objects.exists()
    status, body = post(world.county, values, mode="partial")
    assert (status, body["imported"], body["ignored"]) == (200, 2, 1)
    assert _stored() == {(v1, "deaths"): 1, (v2, "deaths"): 0}


def test_locked_and_archived_days_are_refused_and_nothing_is_classified(
    world: h4world.World,
) -> None:
    from ruralwatch.areas.models import Area
    from ruralwatch.reporting.signoff import approve_day

    v1, b1 = world.villages_a[0], world.villages_b[0]
    post(world.county, [value(v1, "deaths", 1), value(b1, "deaths", 1)])
    approve_day(Area.objects.get(code=h4world.TOWN_A), DAY, user=None, role="township")
    # A change (v1) on the locked day and a change (b1) on an open one: all or nothing.
    values = [value(v1, "deaths", 4), value(b1, "deaths", 4)]
    status, body = post(world.county, values)
    assert status == 422 and [c["index"] for c in body["conflicts"]] == [0]
    assert "建北街道办事处" in body["conflicts"][0]["reason"]  # the approving township
    assert _stored() == {(v1, "deaths"): 1, (b1, "deaths"): 1}
    status, body = post(world.county, values, mode="partial")
    assert (status, body["updated"], body["ignored"]) == (200, 1, 1)
    assert _stored() == {(v1, "deaths"): 1, (b1, "deaths"): 4}
    assert list(ValueChange.objects.values_list("area_id", flat=True)) == [b1]

    old = DAY - dt.timedelta(days=30)
    ArchivedPeriod.objects.create(
        start=old, end=old, file="x.parquet", sha256="0" * 64, values=0, submissions=0
    )
    status, body = post(world.county, [value(b1, "deaths", 1, day=old)])
    assert status == 422 and body["conflicts"][0]["field"] == "date"
    assert old.isoformat() in body["conflicts"][0]["reason"]
    assert "reports restore" in body["conflicts"][0]["reason"]  # how to get it back
    assert not ReportValue.objects.filter(date=old).exists()


def test_a_value_stored_after_the_read_is_read_again(
    world: h4world.World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The daily form does not take the import lock: a value it stores between the bulk
    request's read and its write makes the insert fail; the request reads again and counts
    the value as unchanged or updated, with its correction, instead of failing or doubling."""
    v1 = world.villages_a[0]
    post(world.county, [value(v1, "deaths", 1), value(v1, "fever_visits", 3)])
    real = reporting.stored_values_of_days
    reads = []

    def first_read_sees_nothing() -> object:
        found = real()
        reads.append(found.height)
        return found.clear() if len(reads) == 1 else found

    monkeypatch.setattr(reporting, "stored_values_of_days", first_read_sees_nothing)
    status, body = post(world.county, [value(v1, "deaths", 1), value(v1, "fever_visits", 4)])
    assert status == 200, body
    assert reads == [2, 2]
    assert (body["imported"], body["updated"], body["unchanged"]) == (0, 1, 1)
    assert ReportValue.objects.count() == 2
    assert _stored() == {(v1, "deaths"): 1, (v1, "fever_visits"): 4}
    assert list(ValueChange.objects.values_list("old_value", "new_value")) == [(3.0, 4.0)]


def test_a_value_changed_after_the_read_is_read_again(
    world: h4world.World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A stored value changed between the read and the write: the update finds another value
    than it read, and the correction history must show the value it really replaced."""
    import polars as pl

    v1 = world.villages_a[0]
    post(world.county, [value(v1, "deaths", 1)])
    real = reporting.stored_values_of_days
    reads = []

    def first_read_is_stale() -> pl.DataFrame:
        found = real()
        reads.append(found.height)
        if len(reads) == 1:
            return found.with_columns(pl.lit(9.0).alias("value"))
        return found

    monkeypatch.setattr(reporting, "stored_values_of_days", first_read_is_stale)
    status, body = post(world.county, [value(v1, "deaths", 2)])
    assert status == 200, body
    assert len(reads) == 2 and body["updated"] == 1
    assert list(ValueChange.objects.values_list("old_value", "new_value")) == [(1.0, 2.0)]
    assert _stored() == {(v1, "deaths"): 2}


def test_the_classification_against_the_stored_values() -> None:
    """``reporting.classify`` on frames: no database, every class and a float compared
    exactly."""
    import polars as pl

    stage = pl.DataFrame(
        {
            "area_code": ["a", "a", "a", "b", "b"],
            "date": ["2023-01-05"] * 4 + ["2023-01-06"],
            "indicator": ["x", "y", "z", "x", "x"],
            "value": [1.0, 0.0, 0.5, 7.0, 2.0],
            "reporter": ["r"] * 5,
            "submitted_at": ["2023-01-05 12:00:00.000000"] * 5,
        }
    )
    stored = pl.DataFrame(
        {
            "area_code": ["a", "a", "a", "b", "c"],
            "date": ["2023-01-05", "2023-01-05", "2023-01-05", "2023-01-05", "2023-01-05"],
            "indicator": ["x", "y", "z", "x", "x"],
            "value": [1.0, 3.0, 0.5000001, 7.0, 1.0],
        }
    )
    found = reporting.classify(stage, stored)
    assert (found.imported, found.updated, found.unchanged) == (1, 2, 2)
    rows = {
        (a, d, i): (v, o)
        for a, d, i, v, o in found.write.select(
            "area_code", "date", "indicator", "value", "old_value"
        ).iter_rows()
    }
    assert rows == {
        ("a", "2023-01-05", "y"): (0.0, 3.0),
        ("a", "2023-01-05", "z"): (0.5, 0.5000001),
        ("b", "2023-01-06", "x"): (2.0, None),
    }
