"""``{% area_map area overview as map %}``: the map card's context, or ``None`` when no child
of the area has a shape (the page then keeps its ranking)."""

from __future__ import annotations

from typing import Any

from django import template

from ruralwatch.dashboard.maps import CASES, map_context

register = template.Library()


@register.simple_tag
def area_map(area: Any, overview: Any) -> dict[str, Any] | None:
    indicator = getattr(overview, "indicator", None)
    return map_context(area, overview.date, indicator.code if indicator is not None else CASES)
