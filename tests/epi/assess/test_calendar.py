"""Calendar: dates from the State Council's holiday notices and calendar invariants."""

from __future__ import annotations

import itertools
from datetime import date, timedelta

import pytest

from ruralwatch.epi.assess.calendar import (
    FIRST_YEAR,
    LAST_YEAR,
    build_calendar,
    events_between,
    latest_watchable,
    make_event,
    spring_festival,
)


def _day(code: str, year: int) -> date:
    (e,) = [e for e in build_calendar([year]) if e.code == code]
    return e.day


@pytest.mark.parametrize(
    ("year", "expected"),
    [
        (2008, date(2008, 2, 7)),
        (2020, date(2020, 1, 25)),
        (2023, date(2023, 1, 22)),
        (2024, date(2024, 2, 10)),
        (2025, date(2025, 1, 29)),
    ],
)
def test_spring_festival_known_dates(year: int, expected: date) -> None:
    assert spring_festival(year) == expected
    assert _day("spring_festival", year) == expected


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("lantern", date(2023, 2, 5)),
        ("lantern", date(2024, 2, 24)),
        ("qingming", date(2023, 4, 5)),
        ("qingming", date(2024, 4, 4)),
        ("qingming", date(2025, 4, 4)),
        ("dragon_boat", date(2023, 6, 22)),
        ("dragon_boat", date(2024, 6, 10)),
        ("dragon_boat", date(2025, 5, 31)),
        ("mid_autumn", date(2023, 9, 29)),
        ("mid_autumn", date(2024, 9, 17)),
        ("mid_autumn", date(2025, 10, 6)),
        ("national_day", date(2023, 10, 1)),
        ("may_day", date(2024, 5, 1)),
    ],
)
def test_festival_known_dates(code: str, expected: date) -> None:
    assert _day(code, expected.year) == expected


def test_travel_rush_matches_official_periods() -> None:
    # 2023: 7 Jan - 15 Feb (DOMAIN.md); 2024: 26 Jan - 5 Mar (Ministry of Transport).
    for year, first, last in [
        (2023, date(2023, 1, 7), date(2023, 2, 15)),
        (2024, date(2024, 1, 26), date(2024, 3, 5)),
    ]:
        (e,) = [e for e in build_calendar([year]) if e.code == "spring_travel"]
        assert (e.start, e.end) == (first, last)
        assert not e.watch


def test_calendar_invariants_2004_2035() -> None:
    years = range(FIRST_YEAR, LAST_YEAR + 1)
    ny = [spring_festival(y) for y in years]
    for d in ny:
        assert date(d.year, 1, 21) <= d <= date(d.year, 2, 20)
    # a lunar year has 12 or 13 months of 29/30 days: 353-355 or 383-385 days
    gaps = {(b - a).days for a, b in itertools.pairwise(ny)}
    assert gaps <= {353, 354, 355, 383, 384, 385}
    for y in years:
        d = spring_festival(y)
        db = _day("dragon_boat", y)
        ma = _day("mid_autumn", y)
        # 4 (or 5 with a leap month) lunar months + 4 days; 7 (or 8) months + 14 days
        assert 4 * 29 + 4 <= (db - d).days <= 5 * 30 + 4
        assert 7 * 29 + 14 <= (ma - d).days <= 8 * 30 + 14
        assert _day("qingming", y).day in (4, 5)
        assert _day("lantern", y) == d + timedelta(days=14)


def test_out_of_range_year() -> None:
    with pytest.raises(ValueError):
        spring_festival(2036)
    with pytest.raises(ValueError):
        build_calendar([2003])


def test_extra_events_and_exclusion() -> None:
    fair = make_event(
        "fair", date(2023, 3, 3), date(2023, 3, 5), name_zh="庙会", name_en="the fair"
    )
    cal = build_calendar([2023], [fair], exclude=("qingming",))
    codes = [e.code for e in cal]
    assert "fair" in codes and "qingming" not in codes
    assert list(cal) == sorted(cal)
    assert [e.code for e in events_between(cal, date(2023, 3, 4), date(2023, 3, 4))] == ["fair"]
    with pytest.raises(ValueError):
        make_event("x", date(2023, 3, 3), date(2023, 3, 1))


def test_latest_watchable() -> None:
    cal = build_calendar([2022, 2023])
    ev = latest_watchable(cal, date(2023, 2, 5))
    assert ev is not None and ev.code == "spring_festival" and ev.day == date(2023, 1, 22)
    # four days after the festival began: too early to watch, and the autumn holidays are old
    assert latest_watchable(cal, date(2023, 1, 25)) is None
    ev = latest_watchable(cal, date(2023, 2, 14))
    assert ev is not None and ev.code == "lantern"
