"""Number formatting for the dashboard (and the pages that load it): thousands separators in
every language (``317,502``; Django's zh-Hans format has none), missing values as a dash."""

from __future__ import annotations

from typing import Any

from django import template

register = template.Library()

MISSING = "—"


def _float(value: Any) -> float | None:
    if value is None or value == "":
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if number != number else number


@register.filter
def number(value: Any, digits: int = 0) -> str:
    """``317502`` → ``317,502``; ``633.333`` with ``:1`` → ``633.3``."""
    got = _float(value)
    if got is None:
        return MISSING if value is None or value == "" else str(value)
    return f"{got:,.{int(digits)}f}"


@register.filter
def percent(value: float | None) -> str:
    """A share as a whole percentage: ``0.973`` → ``97%``."""
    got = _float(value)
    if got is None:
        return MISSING
    return f"{round(got * 100):,}%"


@register.filter
def signed_percent(value: float | None) -> str:
    """A relative change: ``-0.853`` → ``-85%``, ``0.1`` → ``+10%``."""
    got = _float(value)
    if got is None:
        return MISSING
    return f"{got * 100:+,.0f}%"


@register.filter
def points(value: float | None) -> str:
    """A change of a share in percentage points: ``0.012`` → ``+1.2 pp``."""
    got = _float(value)
    if got is None:
        return MISSING
    return f"{got * 100:+.1f} pp"
