"""Number formatting for the dashboard tables; missing values show as a dash."""

from __future__ import annotations

from django import template
from django.template.defaultfilters import floatformat
from django.utils.formats import number_format

register = template.Library()

MISSING = "—"


@register.filter
def number(value: float | None, digits: int = 0) -> str:
    if value is None:
        return MISSING
    return str(floatformat(value, f"{digits}g"))


@register.filter
def percent(value: float | None) -> str:
    if value is None:
        return MISSING
    return f"{number_format(round(value * 100), 0)}%"
