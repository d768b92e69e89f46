"""The choke point for reading areas a user can name: scoped to the jurisdiction subtree.

Deny by default: anonymous or inactive users, users without a profile and profiles without a
jurisdiction see nothing. Superusers and the national role see the whole tree. A missing
area and an area out of scope raise the same ``Http404``.
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.http import Http404
from django.utils.translation import gettext as _

from ruralwatch.accounts.models import Profile, Role
from ruralwatch.areas.models import Area

_CACHE = "_ruralwatch_profile"


def _profile(user: Any) -> Profile | None:
    """The user's profile with its jurisdiction (one query, cached on the user object)."""
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return None
    if not hasattr(user, _CACHE):
        setattr(
            user,
            _CACHE,
            Profile.objects.select_related("jurisdiction").filter(user_id=user.pk).first(),
        )
    profile: Profile | None = getattr(user, _CACHE)
    return profile


def sees_everything(user: Any) -> bool:
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return False
    if user.is_superuser:
        return True
    profile = _profile(user)
    return profile is not None and profile.role == Role.NATIONAL and profile.jurisdiction is None


def jurisdiction(user: Any) -> Area | None:
    """The root of the user's subtree, or ``None`` (no access, or the whole tree)."""
    profile = _profile(user)
    return profile.jurisdiction if profile is not None else None


def scope_areas(user: Any) -> QuerySet[Area]:
    """The areas ``user`` may see: the jurisdiction subtree (one range scan on ``path``)."""
    if sees_everything(user):
        return Area.objects.all()
    root = jurisdiction(user)
    if root is not None:
        return Area.objects.filter(path__startswith=root.path)
    return Area.objects.none()


def lookup_safe(value: str, max_length: int) -> bool:
    """Whether ``value`` can name a row of a column ``max_length`` long. A longer value or one
    with a NUL byte (which PostgreSQL refuses in a query) names nothing: the caller answers
    as for a missing row, without asking the database."""
    return 0 < len(value) <= max_length and "\x00" not in value


def access_area_by_code(user: Any, code: str) -> Area:
    """The area ``code`` if ``user`` may see it; ``Http404`` if missing or out of scope."""
    if not lookup_safe(code, Area._meta.get_field("code").max_length or 0):
        raise Http404(_("No such area."))
    area = scope_areas(user).filter(code=code).first()
    if area is None:
        raise Http404(_("No such area."))
    return area
