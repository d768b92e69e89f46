"""Synthetic key-group persons: the injected problems are observable in the generated data."""

from __future__ import annotations

from datetime import date, timedelta

import polars as pl

from ruralwatch.synth import build_region
from ruralwatch.synth.persons import STALE_DECEASED, STALE_MOVED, build_persons

SEED = 20230122
ON = date(2023, 2, 5)
START = ON - timedelta(days=20)


def test_every_stale_person_has_a_last_contact_that_says_so() -> None:
    """A person listed as stale (died / moved away but still active) must have a last contact
    with that status. With a short contact history (three weeks, as the key-group benchmark
    generates) the drawn 'gone' day was usually not a scheduled contact day, so random misses
    could remove all of a person's few contacts, and the audit rightly missed them."""
    region = build_region(SEED, scale="county")
    county = region.areas.filter(pl.col("level") == 3)["code"][0]
    rates = {"stale_deceased": 0.05, "stale_moved": 0.05}
    people = build_persons(region, SEED, on=ON, start=START, within=county, rates=rates)
    last = (
        people.contacts.sort("date")
        .group_by("ref", maintain_order=True)
        .agg(pl.col("status").last())
    )
    status = dict(zip(last["ref"], last["status"], strict=True))
    stale = [t for t in people.truth if t["kind"] in (STALE_DECEASED, STALE_MOVED)]
    assert len(stale) > 100
    want = {STALE_DECEASED: "died", STALE_MOVED: "moved_away"}
    wrong = [t["person"] for t in stale if status.get(t["person"]) != want[t["kind"]]]
    assert not wrong, wrong[:5]
