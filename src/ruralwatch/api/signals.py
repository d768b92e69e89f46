"""Signals raised by the detection rules, for an area's subtree."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja import Query, Router

from ruralwatch.api.common import (
    date_range,
    page_fields,
    paginate,
    root_path,
    scope_root,
    user_of,
)
from ruralwatch.api.schemas import ErrorOut, InvalidOut, SignalFilters, SignalPage
from ruralwatch.signals.selectors import signals_in

router = Router(tags=["signals"])

DEFAULT_DAYS = 7


@router.get(
    "",
    response={200: SignalPage, 401: ErrorOut, 404: ErrorOut, 422: InvalidOut},
    summary="Signals in an area's subtree",
)
def list_signals(request: HttpRequest, filters: Query[SignalFilters]) -> dict[str, Any]:
    """Signals for ``area`` (default: your jurisdiction) and every area below it, dated
    ``start``…``end`` (default: the 7 days up to the latest reported date), optionally of one
    detection ``method``; newest and highest score first, with the method's evidence."""
    root = scope_root(user_of(request), filters.area)
    start, end = date_range(filters.start, filters.end, DEFAULT_DAYS)
    items, count = paginate(signals_in(root_path(root), start, end, filters.method), filters)
    return {**page_fields(filters, count), "start": start, "end": end, "items": items}
