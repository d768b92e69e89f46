"""Number formats of the printed briefing (a missing value prints as a dash)."""

from __future__ import annotations

from typing import Any

from django import template

register = template.Library()

DASH = "—"


def _f(value: Any) -> float | None:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return v if v == v else None


@register.filter
def num(value: Any, digits: int = 0) -> str:
    """``1,234`` (or ``1,234.5`` with ``digits=1``)."""
    v = _f(value)
    return DASH if v is None else f"{v:,.{int(digits)}f}"


@register.filter
def pct(value: Any, digits: int = 1) -> str:
    """A share as a percentage: ``0.966`` → ``96.6%``."""
    v = _f(value)
    return DASH if v is None else f"{v * 100:.{int(digits)}f}%"


@register.filter
def signed_pct(value: Any) -> str:
    """A relative change: ``-0.25`` → ``−25%``, ``0.1`` → ``+10%``."""
    v = _f(value)
    if v is None:
        return DASH
    text = f"{v * 100:+.0f}%"
    return text.replace("-", "−")


@register.filter
def signed(value: Any, digits: int = 3) -> str:
    """A rate with its sign: ``-0.046`` → ``−0.046``."""
    v = _f(value)
    if v is None:
        return DASH
    return f"{v:+.{int(digits)}f}".replace("-", "−")


@register.filter
def hours(value: Any) -> str:
    """Hours with one decimal (``1.2 h``)."""
    v = _f(value)
    return DASH if v is None else f"{v:.1f} h"
