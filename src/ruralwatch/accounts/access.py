"""The choke point for reading areas a user can name: scoped to the jurisdiction subtree.

Deny by default: anonymous or inactive users, users without a profile and profiles without a
jurisdiction see nothing. Superusers and the national role see the whole tree. A missing
area and an area out of scope raise the same ``Http404``.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import QuerySet
from django.http import Http404
from django.utils.translation import gettext as _

from ruralwatch.accounts.models import MANAGING_ROLES, ROLE_LEVEL, Profile, Role
from ruralwatch.areas.models import Area

_CACHE = "_ruralwatch_profile"


def _read_profile(user_id: int) -> Profile | None:
    """The profile of ``user_id`` with its jurisdiction, in one query.

    Every request of a signed-in user asks for it, and compiling the ORM's join cost several
    times the query: the area is read as a raw query of its own model (Django converts its
    columns) carrying the profile's columns, which are integers and text that need no
    conversion on either database. A profile without a jurisdiction (or none at all) is read
    by the ORM."""
    cols = ", ".join(f"p.{f.column} AS _p_{f.attname}" for f in Profile._meta.concrete_fields)
    found = list(
        Area.objects.raw(
            f"SELECT a.*, {cols} FROM {Profile._meta.db_table} p "
            f"JOIN {Area._meta.db_table} a ON a.code = p.jurisdiction_id "
            "WHERE p.user_id = %s ORDER BY p.id LIMIT 1",
            [user_id],
        )
    )
    if not found:
        return Profile.objects.select_related("jurisdiction").filter(user_id=user_id).first()
    area = found[0]
    names = [f.attname for f in Profile._meta.concrete_fields]
    profile = Profile.from_db(
        Profile.objects.db, names, [area.__dict__.pop(f"_p_{n}") for n in names]
    )
    profile.jurisdiction = area
    return profile


def _profile(user: Any) -> Profile | None:
    """The user's profile with its jurisdiction (one query, cached on the user object)."""
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return None
    if not hasattr(user, _CACHE):
        setattr(user, _CACHE, _read_profile(user.pk))
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
    root = jurisdiction(user)
    if root is not None and root.code == code:
        return root  # the root of the user's own subtree, read with the profile already
    area = scope_areas(user).filter(code=code).first()
    if area is None:
        raise Http404(_("No such area."))
    return area


# --- users a user manages ------------------------------------------------------------------

#: The level a superuser manages from: above the national role.
SUPERUSER_LEVEL = -1


def manages_from(user: Any) -> int | None:
    """The level ``user`` manages users from (they manage the levels strictly below it), or
    ``None`` if they manage nobody. Deny by default: anonymous or inactive users, users
    without a profile, a profile without a jurisdiction (except the national role) and roles
    that grant nothing (the village roles, the county leader)."""
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return None
    if user.is_superuser:
        return SUPERUSER_LEVEL
    profile = _profile(user)
    if profile is None or profile.role not in MANAGING_ROLES:
        return None
    if profile.jurisdiction is None and profile.role != Role.NATIONAL:
        return None
    return ROLE_LEVEL[profile.role]


def scope_users(user: Any) -> QuerySet[Any]:
    """The users ``user`` manages: bound to an area of their jurisdiction, with a role strictly
    below their level; never a superuser, never themselves. Deny by default."""
    level = manages_from(user)
    users = get_user_model().objects.all()
    if level is None:
        return users.none()
    below = [r for r, lv in ROLE_LEVEL.items() if lv > level]
    qs = users.filter(profile__role__in=below, is_superuser=False).exclude(pk=user.pk)
    root = jurisdiction(user)
    if root is not None:
        qs = qs.filter(profile__jurisdiction__path__startswith=root.path)
    return qs


def access_user_by_id(user: Any, user_id: int | str) -> Any:
    """The user ``user_id`` if ``user`` manages them; ``Http404`` if missing or out of scope."""
    try:
        pk = int(user_id)
    except (TypeError, ValueError):
        raise Http404(_("No such user.")) from None
    if not 0 < pk < 2**63:
        raise Http404(_("No such user."))
    found = scope_users(user).select_related("profile__jurisdiction").filter(pk=pk).first()
    if found is None:
        raise Http404(_("No such user."))
    return found
