"""Built-in calendar of gatherings and mass travel in China, 2004-2035, for the rebound watch.

Lunar festivals and the Qingming solar term move in the Gregorian calendar, so their dates are
kept in a committed table (:data:`LUNAR_TABLE`). The table was generated with two independent
calendar libraries (``lunar-python`` 1.4 and ``lunardate`` 0.3; they agree on every date) and
Qingming was also checked against the 21st-century solar-term formula
``floor(0.2422·Y + 4.81) − floor(Y / 4)`` (Y = year − 2000). Tests compare the table with dates
from the State Council's holiday notices and with calendar invariants, so the epi core needs no
calendar dependency at run time.

Events (one :class:`Event` each; ``day`` is the key day, ``start``..``end`` the span):

* ``spring_festival`` 春节 — key day = Chinese New Year's day (1st day of the 1st lunar month);
  span New Year's Eve (除夕) .. 6th day (the 7-day public holiday). Watched for rebounds.
* ``spring_travel`` 春运 — the Spring Festival travel rush, 15 days before to 24 days after New
  Year's day (40 days; 2023: 7 Jan - 15 Feb). A period, not watched on its own (the
  watch after the Spring Festival covers its return leg).
* ``lantern`` 元宵节 — 15th day of the 1st lunar month. Watched.
* ``qingming`` 清明节 — the Qingming solar term (4 or 5 April); span the day .. +2 (the 3-day
  holiday, approximately). Watched.
* ``may_day`` 劳动节 — 1-5 May (the holiday since 2020; 2008-2019 it was 1-3 May, before 2008 a
  7-day golden week). Watched.
* ``dragon_boat`` 端午节 — 5th day of the 5th lunar month; span the day .. +2. Watched.
* ``mid_autumn`` 中秋节 — 15th day of the 8th lunar month; span the day .. +2. Watched.
* ``national_day`` 国庆节 — the golden week 1-7 October. Watched.

Holiday spans are the usual arrangements; exact make-up working days vary by year and are not
needed for the rebound watch, which anchors on ``start``. Extra events (local fairs, temple
festivals, markets) can be added with :func:`make_event` and passed to :func:`build_calendar`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta

__all__ = [
    "FIRST_YEAR",
    "LAST_YEAR",
    "LUNAR_TABLE",
    "Event",
    "build_calendar",
    "events_between",
    "latest_watchable",
    "make_event",
    "spring_festival",
]

FIRST_YEAR = 2004
LAST_YEAR = 2035

#: year → ((month, day) of Chinese New Year, of Dragon Boat, of Mid-Autumn, April day of Qingming)
LUNAR_TABLE: dict[int, tuple[tuple[int, int], tuple[int, int], tuple[int, int], int]] = {
    2004: ((1, 22), (6, 22), (9, 28), 4),
    2005: ((2, 9), (6, 11), (9, 18), 5),
    2006: ((1, 29), (5, 31), (10, 6), 5),
    2007: ((2, 18), (6, 19), (9, 25), 5),
    2008: ((2, 7), (6, 8), (9, 14), 4),
    2009: ((1, 26), (5, 28), (10, 3), 4),
    2010: ((2, 14), (6, 16), (9, 22), 5),
    2011: ((2, 3), (6, 6), (9, 12), 5),
    2012: ((1, 23), (6, 23), (9, 30), 4),
    2013: ((2, 10), (6, 12), (9, 19), 4),
    2014: ((1, 31), (6, 2), (9, 8), 5),
    2015: ((2, 19), (6, 20), (9, 27), 5),
    2016: ((2, 8), (6, 9), (9, 15), 4),
    2017: ((1, 28), (5, 30), (10, 4), 4),
    2018: ((2, 16), (6, 18), (9, 24), 5),
    2019: ((2, 5), (6, 7), (9, 13), 5),
    2020: ((1, 25), (6, 25), (10, 1), 4),
    2021: ((2, 12), (6, 14), (9, 21), 4),
    2022: ((2, 1), (6, 3), (9, 10), 5),
    2023: ((1, 22), (6, 22), (9, 29), 5),
    2024: ((2, 10), (6, 10), (9, 17), 4),
    2025: ((1, 29), (5, 31), (10, 6), 4),
    2026: ((2, 17), (6, 19), (9, 25), 5),
    2027: ((2, 6), (6, 9), (9, 15), 5),
    2028: ((1, 26), (5, 28), (10, 3), 4),
    2029: ((2, 13), (6, 16), (9, 22), 4),
    2030: ((2, 3), (6, 5), (9, 12), 5),
    2031: ((1, 23), (6, 24), (10, 1), 5),
    2032: ((2, 11), (6, 12), (9, 19), 4),
    2033: ((1, 31), (6, 1), (9, 8), 4),
    2034: ((2, 19), (6, 20), (9, 27), 5),
    2035: ((2, 8), (6, 10), (9, 16), 5),
}


@dataclass(frozen=True, order=True)
class Event:
    """A gathering or mass-travel period.

    Attributes:
        start: first day of the span; the rebound watch fits its pre-event trend on the days
            before ``start`` and watches from ``start`` on.
        end: last day of the span (inclusive).
        day: the key day (the festival itself), ``start <= day <= end``.
        code: short identifier (``spring_festival`` …); events of one code recur yearly.
        name_zh, name_en: the caller's own names for an event of its own (a county fair);
            the code when none is given. The apps name the built-in events themselves
            (``assessments.phrases``, gettext): ``epi`` returns codes, not sentences.
        watch: whether the rebound watch uses this event as an anchor.
    """

    start: date
    end: date
    day: date
    code: str
    name_zh: str
    name_en: str
    watch: bool = True


def make_event(
    code: str,
    start: date,
    end: date | None = None,
    *,
    day: date | None = None,
    name_zh: str | None = None,
    name_en: str | None = None,
    watch: bool = True,
) -> Event:
    """An extra event (e.g. a county fair) for :func:`build_calendar`."""
    end = start if end is None else end
    day = start if day is None else day
    if not start <= day <= end:
        raise ValueError("an event needs start <= day <= end")
    return Event(
        start=start,
        end=end,
        day=day,
        code=code,
        name_zh=code if name_zh is None else name_zh,
        name_en=code if name_en is None else name_en,
        watch=watch,
    )


def spring_festival(year: int) -> date:
    """Chinese New Year's day (1st day of the 1st lunar month) of a Gregorian year."""
    if year not in LUNAR_TABLE:
        raise ValueError(f"the built-in calendar covers {FIRST_YEAR}-{LAST_YEAR}, not {year}")
    m, d = LUNAR_TABLE[year][0]
    return date(year, m, d)


def _year_events(year: int) -> list[Event]:
    ny_md, db_md, ma_md, qm_day = LUNAR_TABLE[year]
    ny = date(year, *ny_md)
    db = date(year, *db_md)
    ma = date(year, *ma_md)
    qm = date(year, 4, qm_day)
    lantern = ny + timedelta(days=14)
    plus = timedelta
    return [
        make_event("spring_travel", ny - plus(days=15), ny + plus(days=24), day=ny, watch=False),
        make_event("spring_festival", ny - plus(days=1), ny + plus(days=6), day=ny),
        make_event("lantern", lantern),
        make_event("qingming", qm, qm + plus(days=2)),
        make_event("may_day", date(year, 5, 1), date(year, 5, 5)),
        make_event("dragon_boat", db, db + plus(days=2)),
        make_event("mid_autumn", ma, ma + plus(days=2)),
        make_event("national_day", date(year, 10, 1), date(year, 10, 7)),
    ]


def build_calendar(
    years: Iterable[int] | None = None,
    extra: Sequence[Event] = (),
    *,
    exclude: Iterable[str] = (),
) -> tuple[Event, ...]:
    """Built-in events of ``years`` (default 2004-2035) plus ``extra``, sorted by start date.

    ``exclude`` drops built-in events by code (e.g. ``("qingming",)``).
    """
    ys = range(FIRST_YEAR, LAST_YEAR + 1) if years is None else years
    drop = set(exclude)
    out: list[Event] = []
    for y in ys:
        if y not in LUNAR_TABLE:
            raise ValueError(f"the built-in calendar covers {FIRST_YEAR}-{LAST_YEAR}, not {y}")
        out.extend(e for e in _year_events(y) if e.code not in drop)
    out.extend(extra)
    return tuple(sorted(out))


def events_between(events: Sequence[Event], first: date, last: date) -> tuple[Event, ...]:
    """Events whose span overlaps ``first``..``last`` (inclusive)."""
    return tuple(e for e in events if e.start <= last and e.end >= first)


def latest_watchable(
    events: Sequence[Event], as_of: date, *, min_days: int = 7, watch_days: int = 28
) -> Event | None:
    """The most recent watched event whose watch window is open at ``as_of``.

    An event qualifies when ``start + min_days <= as_of`` (enough days to watch) and
    ``as_of < start + watch_days + min_days`` (its watch is recent enough to speak of); the
    latest such start wins, ties broken by the longer span.
    """
    best: Event | None = None
    for e in events:
        if not e.watch:
            continue
        elapsed = (as_of - e.start).days
        if min_days <= elapsed < watch_days + min_days and (
            best is None or e.start > best.start or (e.start == best.start and e.end > best.end)
        ):
            best = e
    return best
