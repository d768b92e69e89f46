"""Reads of the area tree shared by the pages and the API."""

from __future__ import annotations

from ruralwatch.areas.models import Area


def breadcrumb(area: Area, within: Area | None) -> list[Area]:
    """The ancestors of ``area`` from the top down, not above ``within`` (None: no bound)."""
    codes = [c for c in area.path.strip("/").split("/") if c and c != area.code]
    if not codes:
        return []
    ancestors = Area.objects.filter(code__in=codes)
    if within is not None:
        ancestors = ancestors.filter(path__startswith=within.path)
    return list(ancestors.order_by("level"))
