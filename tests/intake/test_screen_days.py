"""The nightly validation's copies of the days it read (intake.screen_days): taking the marks
waits for the writers still marking, so that the read after it sees their values. (What the
copies hold and when they are read again: tests/intake/test_nightly_scale.py.)"""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from django.db import connection, connections, transaction

from ruralwatch.intake import screen_days
from ruralwatch.reporting.models import ValidationPending
from ruralwatch.reporting.services import mark_changed

DAY = dt.date(2023, 1, 12)


@pytest.mark.django_db(transaction=True)
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
            taken.append(screen_days.take_changed())
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
