"""The inbox badge for the site's navigation: the user's unread task notifications."""

from __future__ import annotations

from typing import Any

from django import template
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.translation import ngettext

from ruralwatch.dispatch.selectors import unread_count

register = template.Library()


@register.simple_tag(takes_context=True)
def unread_badge(context: Any) -> SafeString | str:
    """A small count after the "Inbox" link (nothing when all is read). One query."""
    request = context.get("request")
    user = getattr(request, "user", None)
    n = unread_count(user) if user is not None else 0
    if not n:
        return ""
    label = ngettext("%(n)d unread notification", "%(n)d unread notifications", n) % {"n": n}
    return format_html(
        '<span class="inbox-badge" title="{}" aria-label="{}" style="display:inline-block;'
        "min-width:1.4em;margin-left:.3em;padding:0 .35em;border-radius:999px;background:#fff;"
        'color:#b8322a;font-weight:700;font-size:.8rem;text-align:center">{}</span>',
        label,
        label,
        n if n < 100 else "99+",
    )


@register.filter
def method_name(method: str) -> str:
    """A detection method by its human name (``ears-c2`` → EARS C2)."""
    from ruralwatch.dispatch.evidence import method_name as name

    return name(method)


@register.filter
def has_baseline(method: str) -> bool:
    """Whether the method's threshold and score mean something (not the single-case rule,
    where every case is a signal)."""
    return method != "cidars-single-case"
