"""Bulk intake for systems (hospital and township information systems), rule checks for the
form, and the nightly lists of rule violations and outlier flags.

``POST /api/intake/values`` takes up to 10,000 values per request, authenticated by an API
token (``Authorization: Bearer rwt_…``) or a session, rate-limited per token (429 with
``Retry-After``). All-or-nothing by default; ``?mode=partial`` stores the good rows and lists
the refused ones.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from typing import Any, Literal

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.utils.translation import gettext as _
from ninja import Query, Router, Schema, Status
from ninja.errors import HttpError
from pydantic import Field

from ruralwatch.accounts import access
from ruralwatch.api.common import date_range, root_path, scope_root, user_of
from ruralwatch.api.schemas import Day, ErrorOut, InvalidOut
from ruralwatch.api.services import digest
from ruralwatch.core.problems import ImportRejected, Problem
from ruralwatch.intake import nightly, selectors, services

router = Router(tags=["intake"])

DEFAULT_DAYS = 7


# --- rate limits ---------------------------------------------------------------------------------


def caller_key(request: HttpRequest) -> str:
    """The rate-limit key: the token (by a digest prefix, never the token) or the user."""
    header = request.headers.get("Authorization", "")
    if header.lower().startswith("bearer "):
        return "token:" + digest(header[7:].strip())[:32]
    return f"user:{getattr(request.user, 'pk', '')}"


def over_limit(request: HttpRequest) -> HttpResponse | None:
    """Count the request against the caller's per-minute budget; a 429 with ``Retry-After``
    beyond it, else ``None``. Called first by every intake and DHIS2 operation."""
    wait = services.take_request(caller_key(request))
    if not wait:
        return None
    message = _("Too many requests: at most %(n)d a minute per token; retry in %(s)d s.") % {
        "n": services.rate_limit(),
        "s": wait,
    }
    response = HttpResponse(
        json.dumps({"detail": message}, ensure_ascii=False),
        status=429,
        content_type="application/json",
    )
    response["Retry-After"] = str(wait)
    return response


def read_body(request: HttpRequest) -> bytes:
    """The request body, refused with 413 beyond ``RURALWATCH_API_MAX_UPLOAD_MB``."""
    limit = settings.RURALWATCH_API_MAX_UPLOAD_MB * 1024 * 1024
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length > limit:
        raise HttpError(413, _("The request body is too large."))
    body = request.read(limit + 1) if not hasattr(request, "_body") else request.body
    if len(body) > limit:
        raise HttpError(413, _("The request body is too large."))
    return body


# --- bulk values ---------------------------------------------------------------------------------


class ConflictOut(Schema):
    index: int | None = Field(description="Position of the value in ``values`` (from 0).")
    field: str | None
    reason: str


class ViolationOut(Schema):
    rule: str
    area: str
    date: str
    left: float | None
    right: float | None


class BulkSummaryOut(Schema):
    status: Literal["success", "partial", "rejected"]
    mode: str
    dry_run: bool
    received: int
    imported: int
    updated: int
    unchanged: int
    ignored: int
    conflicts: list[ConflictOut]
    violations: list[ViolationOut]


def conflict_rows(problems: list[Problem]) -> list[dict[str, Any]]:
    return [{"index": p.row, "field": p.column, "reason": p.reason} for p in problems]


def summary_out(summary: services.IntakeSummary) -> dict[str, Any]:
    return {
        "status": summary.status,
        "mode": summary.mode,
        "dry_run": summary.dry_run,
        "received": summary.received,
        "imported": summary.imported,
        "updated": summary.updated,
        "unchanged": summary.unchanged,
        "ignored": summary.ignored,
        "conflicts": conflict_rows(summary.conflicts),
        "violations": summary.violations,
    }


def _items(body: bytes) -> list[Any]:
    try:
        data = json.loads(body or b"null")
    except (ValueError, UnicodeDecodeError):
        raise HttpError(422, _("The request body is not valid JSON.")) from None
    if isinstance(data, dict) and set(data) <= {"values"}:
        data = data.get("values")
    if not isinstance(data, list):
        raise HttpError(
            422, _('Send {"values": [...]}: a list of objects with area, date, indicator, value.')
        )
    if not data:
        raise HttpError(422, _("values: the list is empty."))
    if len(data) > services.MAX_VALUES:
        raise HttpError(
            422,
            _("values: at most %(n)d values per request, got %(got)d; split them.")
            % {"n": services.MAX_VALUES, "got": len(data)},
        )
    return data


@router.post(
    "/values",
    response={
        200: BulkSummaryOut,
        401: ErrorOut,
        403: ErrorOut,
        413: ErrorOut,
        422: BulkSummaryOut | InvalidOut,
        429: ErrorOut,
    },
    summary="Store report values in bulk",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {
                        "type": "object",
                        "required": ["values"],
                        "properties": {
                            "values": {
                                "type": "array",
                                "maxItems": services.MAX_VALUES,
                                "items": {
                                    "type": "object",
                                    "required": ["area", "date", "indicator", "value"],
                                    "properties": {
                                        "area": {"type": "string", "example": "990101001001"},
                                        "date": {"type": "string", "format": "date"},
                                        "indicator": {"type": "string", "example": "new_cases"},
                                        "value": {"type": "number"},
                                        "reporter": {"type": "string"},
                                        "submitted_at": {"type": "string", "format": "date-time"},
                                    },
                                },
                            }
                        },
                    }
                }
            },
        }
    },
)
def post_values(
    request: HttpRequest,
    mode: Literal["all_or_nothing", "partial"] = "all_or_nothing",
    dry_run: bool = False,
) -> Any:
    """Up to 10,000 village values in one request: ``{"values": [{"area", "date",
    "indicator", "value", "reporter"?, "submitted_at"?}, …]}``.

    Every value is checked as a report file is (area in your jurisdiction and of the
    indicator's level, date, indicator, a whole non-negative count below the indicator's
    maximum, one value per area, date and indicator) and against the validation rules.
    ``mode=all_or_nothing`` (default): any conflict refuses the whole request (422, nothing
    stored). ``mode=partial``: the conflicting values are left out and listed, the rest is
    stored (200, ``status`` "partial"; 422 if every value conflicts). Sending the same
    values again changes nothing (``unchanged``). ``dry_run=true`` checks and counts
    without storing.
    """
    if (refused := over_limit(request)) is not None:
        return refused
    body = read_body(request)
    items = _items(body)
    user = user_of(request)
    source = f"api:{user.get_username()}"[:255]
    frame, problems = services.frame_from_items(items, "values")
    try:
        summary = services.import_values(
            frame,
            source=source,
            mode=mode,
            allowed=access.scope_areas(user),
            dry_run=dry_run,
            problems=problems,
            digest=hashlib.sha256(body).hexdigest(),
            user=user,
        )
    except ImportRejected as exc:
        rejected = services.IntakeSummary(
            source=source, mode=mode, received=len(items), dry_run=dry_run
        )
        rejected.conflicts = exc.problems
        rejected.ignored = len({p.row for p in exc.problems})
        return Status(422, summary_out(rejected))
    # Partial mode with every value refused stored nothing: a refusal like all-or-nothing's.
    return Status(422 if summary.status == "rejected" else 200, summary_out(summary))


# --- the form's check ----------------------------------------------------------------------


class CheckIn(Schema):
    area: str = Field(max_length=12)
    date: Day
    values: dict[str, float | None] = Field(
        description="indicator → value (null: not known); stored values fill the rest"
    )


class CheckOut(Schema):
    rule: str
    severity: str
    left: float | None
    right: float | None
    message: str


@router.post(
    "/check",
    response={
        200: list[CheckOut],
        401: ErrorOut,
        403: ErrorOut,
        404: ErrorOut,
        422: InvalidOut,
        429: ErrorOut,
    },
    summary="The rules a report would fail",
)
def check(request: HttpRequest, body: CheckIn) -> Any:
    """What the form shows before sending: each validation rule the village's values for the
    date (over what is already stored) would fail, with both sides and a sentence."""
    if (refused := over_limit(request)) is not None:
        return refused
    area = access.access_area_by_code(user_of(request), body.area)
    known = set(services.indicator_codes())
    unknown = sorted(set(body.values) - known)
    if unknown:
        raise HttpError(422, _("Unknown indicator %(code)s.") % {"code": unknown[0][:40]})
    return services.check_values(area, body.date, body.values)


# --- nightly lists -----------------------------------------------------------------------------


class WindowIn(Schema):
    area: str | None = Field(None, max_length=12)
    start: Day | None = None
    end: Day | None = None


class AreaViolationsOut(Schema):
    area: str
    violations: int
    rules: dict[str, int]


class ViolationsOut(Schema):
    start: dt.date
    end: dt.date
    areas: list[AreaViolationsOut]
    items: list[ViolationOut]


@router.get(
    "/violations",
    response={200: ViolationsOut, 401: ErrorOut, 404: ErrorOut, 422: InvalidOut},
    summary="Rule violations per area",
)
def violations(request: HttpRequest, window: Query[WindowIn]) -> dict[str, Any]:
    """Violations found on import and by the nightly run, for ``area`` (default: your
    jurisdiction) and below, dated ``start``…``end`` (default: the last 7 days reported):
    counts per area and rule, and the first 500 violations."""
    root = scope_root(user_of(request), window.area)
    start, end = date_range(window.start, window.end, DEFAULT_DAYS)
    path = root_path(root)
    items = [
        {
            "rule": v.rule_id,
            "area": v.area_id,
            "date": v.date.isoformat(),
            "left": v.left_value,
            "right": v.right_value,
        }
        for v in selectors.violations_in(path, start, end)[:500]
    ]
    return {
        "start": start,
        "end": end,
        "areas": selectors.violations_per_area(path, start, end),
        "items": items,
    }


class FlagOut(Schema):
    id: int
    area: str = Field(validation_alias="area_id")
    date: dt.date
    indicator: str
    value: float | None
    method: str
    score: float
    baseline: float | None
    scale: float | None
    status: str


class FlagsIn(WindowIn):
    status: Literal["open", "confirmed", "corrected"] | None = None


@router.get(
    "/flags",
    response={200: list[FlagOut], 401: ErrorOut, 404: ErrorOut, 422: InvalidOut},
    summary="Outlier flags",
)
def flags(request: HttpRequest, window: Query[FlagsIn]) -> Any:
    """Values the screening flagged (never dropped: the value stays as reported), for
    ``area`` and below, ``start``…``end``, optionally of one ``status``; at most 1,000."""
    root = scope_root(user_of(request), window.area)
    start, end = date_range(window.start, window.end, DEFAULT_DAYS)
    return list(selectors.flags_in(root_path(root), start, end, window.status)[:1000])


class FlagStatusIn(Schema):
    status: Literal["confirmed", "corrected"]


@router.post(
    "/flags/{flag_id}",
    response={200: FlagOut, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 422: InvalidOut},
    summary="Confirm or mark corrected a flagged value",
)
def set_flag(request: HttpRequest, flag_id: int, body: FlagStatusIn) -> Any:
    """The reporter confirms the value as reported, or says it was corrected."""
    root = scope_root(user_of(request), None)
    if not 0 < flag_id < 2**63:
        raise Http404(_("No such flag."))
    flag = selectors.flag_in(root_path(root), flag_id)
    if flag is None:
        raise Http404(_("No such flag."))
    return nightly.set_flag_status(flag, body.status)
