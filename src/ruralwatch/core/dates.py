"""The span of dates a user may name in a request (API parameters and bodies, ``?date=`` of
pages): wider than any data the system holds (birth dates included), narrow enough that date
arithmetic on it (windows, baselines, intervals) cannot overflow, as it does near year 1; and
dates as runs of consecutive days (what a roll-up or a read of days takes at a time)."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable

EARLIEST_DATE = dt.date(1900, 1, 1)
LATEST_DATE = dt.date(2099, 12, 31)
_ISO_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def iso_day(text: str) -> dt.date | None:
    """``YYYY-MM-DD`` as a date, or ``None`` if ``text`` is not an ISO calendar day (``0``,
    ``2023-1-5``, ``2023-02-30`` and ``2023-01-05abc`` are not)."""
    if not _ISO_DAY.fullmatch(text):
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        return None


def in_span(day: dt.date) -> bool:
    return EARLIEST_DATE <= day <= LATEST_DATE


def request_day(text: str) -> dt.date | None:
    """A ``?date=`` a page can use: an ISO day within the span, else ``None``."""
    day = iso_day(text)
    return day if day is not None and in_span(day) else None


def consecutive_runs(days: Iterable[dt.date]) -> list[list[dt.date]]:
    """``days`` (any order, repeats allowed) sorted into runs of consecutive days."""
    runs: list[list[dt.date]] = []
    for day in sorted(set(days)):
        if runs and (day - runs[-1][-1]).days == 1:
            runs[-1].append(day)
        else:
            runs.append([day])
    return runs
