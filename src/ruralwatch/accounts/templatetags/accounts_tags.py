"""``{% users_link %}``: the link to user management, shown only to users who manage someone."""

from __future__ import annotations

from typing import Any

from django import template
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.translation import gettext as _

from ruralwatch.accounts.access import manages_from

register = template.Library()


@register.simple_tag(takes_context=True)
def users_link(context: dict[str, Any]) -> SafeString | str:
    request = context.get("request")
    user = getattr(request, "user", None)
    if user is None or manages_from(user) is None:
        return ""
    return format_html(
        '<a class="who" style="color:#fff" href="{}">{}</a>', reverse("users"), _("Users")
    )
