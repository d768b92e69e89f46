"""The one "as of" date of every page: the dashboard, the key-group pages, the inbox and the
briefing archive show the situation on the same day.

The day is, in order: ``?date=`` of the request (remembered in the session, so that it holds
across navigation until the user picks another day), the day remembered in the session, else
the latest date that has data (the caller passes how to find it, as this module sits below
the apps). ``?date=latest`` (or an empty ``?date=``) forgets the remembered day.

Pages work on data dates, not on the wall clock: after ``make demo`` the data ends on
2023-02-05 and every page opens on that day.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from django.utils import timezone

from ruralwatch.core.dates import request_day

#: The query parameter that names the day, and the session key that remembers it.
PARAM = "date"
SESSION_KEY = "ruralwatch.asof"
#: ``?date=latest`` forgets the remembered day (back to the latest date with data).
LATEST = "latest"
_LATEST_ATTR = "_ruralwatch_asof_latest"


def chosen(request: Any) -> dt.date | None:
    """The day the user chose: ``?date=`` (an ISO day within the span a request may name),
    which the session then remembers, else the session's day; ``None`` for the default.

    A ``?date=`` that is not a day (``bad``, ``latest``, empty) chooses nothing and forgets
    the remembered day.
    """
    session = getattr(request, "session", None)
    raw = request.GET.get(PARAM)
    if raw is not None:
        day = request_day(raw.strip())
        if session is not None:
            if day is None:
                if SESSION_KEY in session:
                    del session[SESSION_KEY]
            elif session.get(SESSION_KEY) != day.isoformat():
                session[SESSION_KEY] = day.isoformat()
        return day
    if session is None:
        return None
    return request_day(str(session.get(SESSION_KEY) or ""))


def latest(request: Any, find_latest: Callable[[], dt.date | None]) -> dt.date | None:
    """The latest date with data, looked up once per request."""
    if not hasattr(request, _LATEST_ATTR):
        setattr(request, _LATEST_ATTR, find_latest())
    found: dt.date | None = getattr(request, _LATEST_ATTR)
    return found


def page_date(request: Any, find_latest: Callable[[], dt.date | None]) -> dt.date:
    """The day a page shows: the chosen day, else the latest date with data, else today
    (an empty system has no data date)."""
    return chosen(request) or latest(request, find_latest) or timezone.localdate()


def moment(day: dt.date) -> dt.datetime:
    """The instant a page "as of" ``day`` is read at: the end of that local day, or now if
    that is earlier (deadlines are overdue or not as they stood on the day)."""
    end = timezone.make_aware(dt.datetime.combine(day, dt.time.max))
    return min(end, timezone.now())


def query(day: dt.date | None) -> str:
    """``?date=…`` for links that carry the day (empty for the default)."""
    return f"?{PARAM}={day.isoformat()}" if day is not None else ""
