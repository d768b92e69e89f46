"""Stock reports of facilities (on hand, received, issued) by facility and item: sent by a
system or a person in bulk, and listed, both within the caller's jurisdiction.

``POST /api/stock`` stores up to :data:`MAX_REPORTS` reports all-or-nothing; a report that
names a facility outside the caller's jurisdiction is refused like an unknown facility (422,
with the field's path ``["body", "reports", i, "facility"]``), so nothing tells the two apart.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Query, Router, Schema, Status
from pydantic import Field

from ruralwatch.api.common import (
    date_range,
    page_fields,
    paginate,
    root_path,
    scope_root,
    user_of,
)
from ruralwatch.api.schemas import CODE_PATTERN, Code, Day, ErrorOut, InvalidOut, PageParams
from ruralwatch.core.problems import ImportRejected
from ruralwatch.resources import selectors, services

router = Router(tags=["resources"])

#: Reports one request may carry.
MAX_REPORTS = 1000
#: Days a list spans by default (up to the latest stock report in the area).
DEFAULT_DAYS = 28

#: A facility code as the registry stores it (at most 40 characters).
FacilityCode = Annotated[str, Field(min_length=1, max_length=40, pattern=CODE_PATTERN)]
#: An item code (``resources.Item.code``); which items exist is data (a 422 lists them).
ItemCode = Annotated[str, Field(min_length=1, max_length=30, pattern=r"^[A-Za-z0-9_.-]+$")]
Count = Annotated[int, Field(ge=0, le=services.MAX_COUNT)]


class StockIn(Schema):
    facility: FacilityCode = Field(description="Facility code, in your jurisdiction.")
    item: ItemCode = Field(description="Item code, e.g. antigen_kit.")
    date: Day = Field(description="The day the stock was counted (end of day); not after today.")
    on_hand: Count = Field(description="Units on hand at the end of the day.")
    received: Count = Field(0, description="Units received since the previous report.")
    issued: Count = Field(0, description="Units issued since the previous report.")


class StockBatchIn(Schema):
    reports: list[StockIn] = Field(min_length=1, max_length=MAX_REPORTS)


class StockSummaryOut(Schema):
    received: int = Field(description="Reports in the request.")
    inserted: int
    updated: int
    unchanged: int


class StockFilters(PageParams):
    area: Code | None = Field(None, description="Area code; default: your jurisdiction.")
    facility: FacilityCode | None = Field(None, description="Only this facility's reports.")
    item: ItemCode | None = Field(None, description="Only this item's reports.")
    start: Day | None = Field(None, description="Default: 27 days before ``end``.")
    end: Day | None = Field(None, description="Default: the latest stock report in the area.")


class StockOut(Schema):
    facility: str
    facility_name: str
    facility_kind: str
    area: str
    item: str
    date: dt.date
    on_hand: int
    received: int
    issued: int


class StockPage(Schema):
    count: int
    limit: int
    offset: int
    start: dt.date
    end: dt.date
    items: list[StockOut]


@router.post(
    "",
    response={200: StockSummaryOut, 401: ErrorOut, 403: ErrorOut, 422: InvalidOut},
    summary="Report stock, receipts and issues",
)
def post_stock(request: HttpRequest, body: StockBatchIn) -> Any:
    """Up to 1,000 stock reports, each of one facility and item on one day: units on hand at
    the end of the day, and units received and issued since the facility's previous report
    of the item. A report of the same facility, item and day replaces the stored one, so
    sending a batch again changes nothing.

    All or nothing: if any report is refused, nothing is stored and the answer (422) lists
    every problem with its path (``["body", "reports", 3, "item"]``). A facility outside
    your jurisdiction is refused as an unknown facility."""
    root = scope_root(user_of(request), None)
    reports = [r.dict() for r in body.reports]
    try:
        summary = services.record_stock_batch(reports, within=root_path(root))
    except ImportRejected as exc:
        errors = [
            {
                "type": "value_error",
                "loc": ["body", "reports", p.row, p.column],
                "msg": p.reason,
            }
            for p in exc.problems
        ]
        return Status(422, {"detail": _("The request is not valid."), "errors": errors})
    return summary.__dict__


@router.get(
    "",
    response={200: StockPage, 401: ErrorOut, 404: ErrorOut, 422: InvalidOut},
    summary="Stock reports in an area's subtree",
)
def list_stock(request: HttpRequest, filters: Query[StockFilters]) -> dict[str, Any]:
    """Stock reports of the facilities in ``area`` (default: your jurisdiction) and below,
    dated ``start``…``end`` (default: the 28 days up to the area's latest stock report),
    optionally of one ``facility`` and one ``item``; newest first."""
    root = scope_root(user_of(request), filters.area)
    path = root_path(root)
    end = filters.end or selectors.latest_stock_date(path)
    start, end = date_range(filters.start, end, DEFAULT_DAYS)
    rows = selectors.stock_reports(path, start, end, facility=filters.facility, item=filters.item)
    items, count = paginate(rows, filters)
    return {
        **page_fields(filters, count),
        "start": start,
        "end": end,
        "items": [
            {
                "facility": r["facility_id"],
                "facility_name": r["facility__name"],
                "facility_kind": r["facility__kind"],
                "area": r["facility__area_id"],
                "item": r["item_id"],
                "date": r["date"],
                "on_hand": r["on_hand"],
                "received": r["received"],
                "issued": r["issued"],
            }
            for r in items
        ],
    }
