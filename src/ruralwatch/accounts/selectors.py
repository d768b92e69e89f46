"""Reads for accounts: users for operators and for the level above, and whether a login is
being refused."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models import OuterRef, Q, QuerySet, Subquery
from django.utils import timezone

from ruralwatch.accounts.access import manages_from, scope_areas, scope_users
from ruralwatch.accounts.models import AccountEvent, LoginFailure
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


def managed_users(actor: Any, q: str = "") -> QuerySet[Any]:
    """The users ``actor`` manages (see :func:`ruralwatch.accounts.access.scope_users`), with
    profile and area, by place in the tree, role and name; each with ``deactivated_at`` and
    ``deactivated_by`` (the last deactivation, if any). ``q`` keeps the users whose name or
    area name contains it, or whose area code starts with it. One query."""
    qs = scope_users(actor)
    q = q.strip()[:100]
    if q:
        qs = qs.filter(
            Q(username__icontains=q)
            | Q(profile__jurisdiction__name__icontains=q)
            | Q(profile__jurisdiction__code__startswith=q)
        )
    last = AccountEvent.objects.filter(
        user_id=OuterRef("pk"), kind=AccountEvent.Kind.DEACTIVATED
    ).order_by("-at", "-pk")
    found: QuerySet[Any] = (
        qs.select_related("profile__jurisdiction")
        .annotate(
            deactivated_at=Subquery(last.values("at")[:1]),
            deactivated_by=Subquery(last.values("actor__username")[:1]),
        )
        .order_by("profile__jurisdiction__path", "profile__role", "username")
    )
    return found


def assignable_areas(actor: Any, limit: int = 2000) -> list[Area]:
    """Areas ``actor`` may bind a new user to: inside the jurisdiction, below the actor's level
    (at most ``limit``, in tree order, for the form's list; any code in scope is accepted)."""
    level = manages_from(actor)
    if level is None:
        return []
    return list(
        scope_areas(actor)
        .filter(level__gt=max(level, 0))
        .only("code", "name", "level", "path")
        .order_by("path")[:limit]
    )
