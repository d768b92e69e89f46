"""The date picker of the site frame: the one "as of" day of every page (core.asof).

A GET form to the page itself (no ``action``: the document's URL, which stays right after a
drill-down swaps the content and pushes the new URL, and error pages stay alike). It keeps the
page's other parameters (indicator, filters) but not its page number; the chosen day is
remembered in the session, so the next page opens on it as well. "Latest" forgets it.
"""

from __future__ import annotations

from typing import Any

from django import template

from ruralwatch.core import asof
from ruralwatch.reporting.selectors import latest_date

register = template.Library()

#: Parameters the picker does not carry over (the day itself; a page number of another day).
_DROPPED = {asof.PARAM, "page", "format", "table"}


@register.inclusion_tag("dashboard/_asof.html", takes_context=True)
def asof_picker(context: Any) -> dict[str, Any]:
    request = context.get("request")
    user = getattr(request, "user", None)
    if request is None or not getattr(user, "is_authenticated", False):
        return {"show": False}
    latest = asof.latest(request, latest_date)
    chosen = asof.chosen(request)
    keep = [(k, v) for k, values in request.GET.lists() if k not in _DROPPED for v in values]
    return {
        "show": True,
        "keep": keep,
        "day": chosen or latest,
        "latest": latest,
        "chosen": chosen,
    }
