"""The nightly validation's copies of the days it read (intake.screen_days): taking the marks
waits for the writers still marking, so that the read after it sees their values; a kept day
reads back as it was given and is forgotten once no night reads it. (What the copies of a
night hold and when they are read again: tests/intake/test_nightly_scale.py.)"""

from __future__ import annotations

import contextlib
import datetime as dt
import threading
from typing import Any

import polars as pl
import pytest
from django.db import connection, connections, transaction

from ruralwatch.intake import screen_days
from ruralwatch.intake.models import ScreenDay
from ruralwatch.reporting.models import ValidationPending
from ruralwatch.reporting.services import mark_changed

DAY = dt.date(2023, 1, 12)


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_taking_the_marks_waits_for_a_writer_that_marked_before_it() -> None:
    """A writer marks a date already marked (its insert then does nothing and holds no row)
    and has not committed yet: the marks are taken only after it commits, so the night's read
    that follows sees its values; its mark is taken with the others."""
    if connection.vendor != "postgresql":
        pytest.skip("SQLite takes one writer at a time: a night's marks wait for it anyway")
    ValidationPending.objects.create(date=DAY)
    marked, commit = threading.Event(), threading.Event()
    taken: list[list[dt.date]] = []

    def writer() -> None:
        try:
            with transaction.atomic():
                mark_changed([DAY])
                marked.set()
                commit.wait(10)
        finally:
            connections.close_all()

    def night() -> None:
        try:
            taken.append(screen_days.take_changed().dates)
        finally:
            connections.close_all()

    w = threading.Thread(target=writer)
    w.start()
    assert marked.wait(10)
    n = threading.Thread(target=night)
    n.start()
    n.join(1.0)
    assert n.is_alive() and not taken  # waiting for the writer's commit
    commit.set()
    w.join(10)
    n.join(10)
    assert taken == [[DAY]]
    assert not ValidationPending.objects.exists()


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_two_partitions_taking_the_marks_at_once_take_them_one_after_the_other(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The partitions of one night on two workers take the marks at the same moment: the
    second waits for the first (a lock both could hold, then upgrade, deadlocked one of them
    on the national benchmark). Each holds the lock up to two seconds before going on, so
    that both would hold it together if they could."""
    if connection.vendor != "postgresql":
        pytest.skip("SQLite takes one writer at a time")
    ValidationPending.objects.create(date=DAY)
    together = threading.Barrier(2, timeout=2)
    real = screen_days.bulk.execute

    def execute(sql: str, params: Any = ()) -> int:
        n = real(sql, params)
        if sql.startswith("LOCK TABLE"):
            with contextlib.suppress(threading.BrokenBarrierError):
                together.wait()
        return n

    monkeypatch.setattr(screen_days.bulk, "execute", execute)
    taken: list[list[dt.date]] = []
    errors: list[BaseException] = []

    def night() -> None:
        try:
            taken.append(screen_days.take_changed().dates)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    nights = [threading.Thread(target=night) for _ in range(2)]
    for n in nights:
        n.start()
    for n in nights:
        n.join(20)
    assert not errors, errors
    assert sorted(taken) == [[], [DAY]]


@pytest.mark.django_db
def test_kept_days_read_back_and_are_forgotten() -> None:
    """A day kept is read back as it was given (a day with nothing reported as an empty
    frame), only for the areas it was made of; keeping a partition's days drops its own
    earlier ones and, a month earlier still, those of any other partition."""
    frame = pl.DataFrame(
        {
            "area_code": ["410102001001", "410102001002"],
            "date": [DAY, DAY],
            "new_cases": [3.0, None],
        }
    )
    empty = frame.clear().select("area_code", "date")
    day_before = DAY - dt.timedelta(days=1)
    screen_days.keep("/41/", True, 7, {DAY: frame, day_before: empty}, since=0)
    got = screen_days.read("/41/", True, [DAY, day_before, DAY + dt.timedelta(days=1)], 7)
    assert sorted(got) == [day_before, DAY]
    assert got[DAY].equals(frame) and got[day_before].equals(empty)
    assert screen_days.read("/41/", True, [DAY], 8) == {}  # other areas
    assert screen_days.read("/41/", False, [DAY], 7) == {}  # not only those under a county
    old = DAY - dt.timedelta(days=screen_days.FORGET_DAYS + 2)
    screen_days.keep("/42/", True, 7, {old: frame, day_before: frame}, since=0)
    later = DAY + dt.timedelta(days=1)
    screen_days.keep("/41/", True, 7, {later: frame}, since=0, older_than=DAY)
    kept = set(ScreenDay.objects.values_list("partition", "date"))
    assert kept == {("/41/", DAY), ("/41/", later), ("/42/", day_before)}


@pytest.mark.django_db
def test_a_day_another_partition_took_since_is_not_kept() -> None:
    """Partition A takes the marks and reads a date from the values; a writer changes that
    date and marks it; partition B takes the mark (and drops the copies of every partition)
    before A keeps what it read. A must not keep that date, which may predate the change (its
    mark is gone, so nothing would drop the copy): the next night reads it from the values.
    The days nobody took since are kept; takes are logged, and the log is forgotten after a
    day."""
    from ruralwatch.intake.models import ScreenTake

    frame = pl.DataFrame({"area_code": ["410102001001"], "date": [DAY], "new_cases": [3.0]})
    day_before = DAY - dt.timedelta(days=1)
    a = screen_days.take_changed()  # partition A, before its read
    assert a.dates == []
    mark_changed([DAY])  # a writer, after A's read
    b = screen_days.take_changed()  # partition B
    assert b.dates == [DAY] and b.since > a.since
    screen_days.keep("/41/", True, 7, {DAY: frame, day_before: frame.clear()}, since=a.since)
    assert set(ScreenDay.objects.values_list("date", flat=True)) == {day_before}
    # B read after its own take: it keeps the day
    screen_days.keep("/42/", True, 7, {DAY: frame}, since=b.since)
    assert set(ScreenDay.objects.values_list("partition", "date")) == {
        ("/41/", day_before),
        ("/42/", DAY),
    }
    assert list(ScreenTake.objects.values_list("date", flat=True)) == [DAY]
    ScreenTake.objects.update(taken_at=ScreenTake.objects.get().taken_at - dt.timedelta(days=2))
    screen_days.keep("/41/", True, 7, {DAY: frame}, since=b.since)
    assert not ScreenTake.objects.exists() and ScreenDay.objects.filter(partition="/41/", date=DAY)
