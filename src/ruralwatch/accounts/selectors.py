"""Reads for accounts: users for operators, and whether a login is being refused."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models import QuerySet
from django.utils import timezone

from ruralwatch.accounts.models import LoginFailure
from ruralwatch.accounts.services import login_window
from ruralwatch.areas.models import Area

#: A client address may fail this many times the per-user limit (many users behind one NAT).
IP_FACTOR = 10


def users(area: Area | None = None) -> QuerySet[Any]:
    """Users with their profile and jurisdiction, by name; within ``area``'s subtree if given."""
    qs = get_user_model().objects.select_related("profile__jurisdiction").order_by("username")
    if area is not None:
        qs = qs.filter(profile__jurisdiction__path__startswith=area.path)
    return qs


def login_refused(username: str, ip: str | None) -> bool:
    """Whether a login for ``username`` from ``ip`` must be refused: too many failures for the
    user name, or from the address, within the window."""
    since = timezone.now() - login_window()
    limit = settings.RURALWATCH_LOGIN_MAX_FAILURES
    recent = LoginFailure.objects.filter(at__gte=since)
    if recent.filter(username=username[:150]).count() >= limit:
        return True
    return ip is not None and recent.filter(ip=ip).count() >= limit * IP_FACTOR
