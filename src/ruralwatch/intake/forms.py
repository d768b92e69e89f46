"""Parsing what the daily form and the sign-off page send (JSON from the phone's queue, or
a plain form post without JavaScript) into what the reporting services take."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from typing import Any

from django.http import HttpRequest
from django.utils.translation import gettext as _

from ruralwatch.core.dates import iso_day
from ruralwatch.core.problems import ImportRejected, Problem
from ruralwatch.reporting.daily_form import form_name

MAX_BODY = 64 * 1024


@dataclass
class Sending:
    """One sending of the daily form."""

    key: str
    date: dt.date
    values: dict[str, Any] = field(default_factory=dict)
    reporter: str = ""
    comment: str = ""
    reason: str = ""


def wants_json(request: HttpRequest) -> bool:
    return request.content_type == "application/json" or "application/json" in request.headers.get(
        "Accept", ""
    )


def _text(value: Any, name: str, limit: int, problems: list[Problem]) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        problems.append(Problem(form_name(), None, name, _("must be text")))
        return ""
    if len(value) > limit:
        problems.append(
            Problem(
                form_name(),
                None,
                name,
                _("too long: at most %(n)d characters") % {"n": limit},
            )
        )
    return value.strip()


def parse_sending(request: HttpRequest) -> Sending:
    """The sending in ``request`` (JSON or form-encoded), or :class:`ImportRejected` naming
    each field that is malformed. Values are checked against the indicators later."""
    file = form_name()
    problems: list[Problem] = []
    if request.content_type == "application/json":
        if len(request.body) > MAX_BODY:
            raise ImportRejected([Problem(file, None, None, _("the report is too large"))])
        try:
            body = json.loads(request.body or b"{}")
        except (ValueError, UnicodeDecodeError):
            raise ImportRejected([Problem(file, None, None, _("not valid JSON"))]) from None
        if not isinstance(body, dict):
            raise ImportRejected([Problem(file, None, None, _("expected a JSON object"))])
        values = body.get("values", {})
        if not isinstance(values, dict):
            problems.append(Problem(file, None, "values", _("expected an object of values")))
            values = {}
    else:
        body = request.POST.dict()
        values = {}
        codes = {k[2:] for k in request.POST if k.startswith(("v_", "u_"))}
        for code in codes:
            values[code] = None if request.POST.get(f"u_{code}") else request.POST.get(f"v_{code}")
    day = iso_day(str(body.get("date") or ""))
    if day is None:
        problems.append(
            Problem(
                file,
                None,
                "date",
                _("not a date: %(v)s (use YYYY-MM-DD)") % {"v": str(body.get("date"))[:20]},
            )
        )
    key = _text(body.get("key"), "key", 64, problems)
    sending = Sending(
        key=key,
        date=day or dt.date.min,
        values=values,
        reporter=_text(body.get("reporter"), "reporter", 64, problems),
        comment=_text(body.get("comment"), "comment", 500, problems),
        reason=_text(body.get("reason"), "reason", 200, problems),
    )
    if problems:
        raise ImportRejected(problems)
    return sending


@dataclass
class SignoffAction:
    action: str
    date: dt.date
    reason: str = ""


def parse_signoff(request: HttpRequest) -> SignoffAction:
    """``action`` (approve or unlock), ``date`` and, to unlock, ``reason``."""
    file = _("sign-off")
    problems: list[Problem] = []
    action = request.POST.get("action", "")
    if action not in ("approve", "unlock"):
        problems.append(Problem(file, None, "action", _("choose approve or unlock")))
    day = iso_day(request.POST.get("date", ""))
    if day is None:
        problems.append(Problem(file, None, "date", _("not a date (use YYYY-MM-DD)")))
    reason = _text(request.POST.get("reason", ""), "reason", 200, problems)
    if problems:
        raise ImportRejected(problems)
    assert day is not None
    return SignoffAction(action, day, reason)
