"""Writes for accounts: users with a place in the hierarchy, user management within a
jurisdiction, and failed-login bookkeeping."""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model, password_validation
from django.contrib.auth.models import AbstractUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext as _

from ruralwatch.accounts import access
from ruralwatch.accounts.models import ROLE_LEVEL, AccountEvent, LoginFailure, Profile, Role
from ruralwatch.areas.models import Area, Level

__all__ = ["ROLE_LEVEL"]


class AccountError(ValueError):
    """A user-management request that cannot be done, with a sentence saying why."""


class NotAllowed(AccountError):
    """The acting user may not manage users at all (their role grants nothing)."""


def _check_level(role: str, area: Area | None) -> None:
    """The role's level must be the area's level; the national role has no area."""
    if role == Role.NATIONAL:
        if area is not None:
            raise ValueError(_("the national role covers the whole tree: give no area"))
        return
    if area is None:
        raise ValueError(_("only the national role may have no jurisdiction"))
    if area.level != ROLE_LEVEL[role]:
        raise ValueError(
            _("role %(role)s is for a %(want)s, but %(code)s %(name)s is a %(level)s")
            % {
                "role": Role(role).label,
                "want": Level(ROLE_LEVEL[role]).label,
                "code": area.code,
                "name": area.name,
                "level": Level(area.level).label,
            }
        )


def create_user_with_jurisdiction(
    username: str,
    password: str,
    area_code: str | None,
    role: str,
) -> AbstractUser:
    """Create a user whose profile gives ``role`` over the subtree of ``area_code``.

    ``area_code`` may be ``None`` only for the national role. Raises ``ValueError`` for an
    unknown role or area.
    """
    if role not in Role.values:
        raise ValueError(_("unknown role %(role)s") % {"role": role})
    area: Area | None = None
    if area_code is not None:
        area = Area.objects.filter(code=area_code).first()
        if area is None:
            raise ValueError(_("unknown area code %(code)s") % {"code": area_code})
    _check_level(role, area)
    with transaction.atomic():
        user = get_user_model().objects.create_user(username=username, password=password)
        Profile.objects.create(user=user, jurisdiction=area, role=role)
    return user


def reset_user_with_jurisdiction(
    username: str, password: str, area_code: str | None, role: str
) -> AbstractUser:
    """Like :func:`create_user_with_jurisdiction`, but an existing user of that name gets the
    new password, area and role (and is active again): for repeatable set-ups like the demo."""
    if role not in Role.values:
        raise ValueError(_("unknown role %(role)s") % {"role": role})
    user = get_user_model().objects.filter(username=username).first()
    if user is None:
        return create_user_with_jurisdiction(username, password, area_code, role)
    area = Area.objects.filter(code=area_code).first() if area_code else None
    if area_code and area is None:
        raise ValueError(_("unknown area code %(code)s") % {"code": area_code})
    _check_level(role, area)
    with transaction.atomic():
        user.set_password(password)
        user.is_active = True
        user.save(update_fields=["password", "is_active"])
        Profile.objects.update_or_create(user=user, defaults={"jurisdiction": area, "role": role})
    return user


def _check_username(username: str) -> str:
    """A valid, unused user name (stripped); :class:`AccountError` otherwise."""
    User = get_user_model()
    username = username.strip()
    if not username:
        raise AccountError(_("the user name is empty"))
    try:
        User._meta.get_field("username").run_validators(username)
    except ValidationError as exc:
        raise AccountError(
            _("user name %(name)r: %(reason)s")
            % {"name": username, "reason": " ".join(exc.messages)}
        ) from None
    if User.objects.filter(username=username).exists():
        raise AccountError(_("user %(name)s already exists") % {"name": username})
    return username


def _refusals(username: str, password: str) -> list[str]:
    """Why the password validators refuse ``password`` for ``username`` (empty: accepted)."""
    try:
        password_validation.validate_password(password, get_user_model()(username=username))
    except ValidationError as exc:
        return list(exc.messages)
    return []


def _check_password(username: str, password: str) -> None:
    if refused := _refusals(username, password):
        raise AccountError(_("password refused: %(reason)s") % {"reason": " ".join(refused)})


def _generated_password(username: str) -> str:
    """A random password the validators accept for ``username``: 5 of 20,000 draws of
    ``token_urlsafe(9)`` were refused as too similar to the user name ``api_town``, and an
    administrator who asked for a generated one must not be told it is weak."""
    for _attempt in range(20):
        password = secrets.token_urlsafe(9)
        if not _refusals(username, password):
            return password
    raise AccountError(_("no generated password was accepted; give one"))


def _record(user: Any, actor: Any, kind: str, now: dt.datetime | None = None) -> None:
    profile = Profile.objects.filter(user_id=user.pk).first()
    AccountEvent.objects.create(
        user=user,
        actor=actor if actor is not None and actor.pk else None,
        kind=kind,
        at=now or timezone.now(),
        role=profile.role if profile else "",
        area_code=(profile.jurisdiction_id or "") if profile else "",
    )


def create_user(username: str, password: str, area_code: str | None, role: str) -> AbstractUser:
    """An operator's new user, checked the way the web would: a valid, unused user name; a
    known role; an area of the role's level (none for the national role); a password that
    passes the configured validators. Raises :class:`AccountError` naming what is wrong."""
    username = _check_username(username)
    if role not in Role.values:
        raise AccountError(
            _("unknown role %(role)s (one of: %(roles)s)")
            % {"role": role, "roles": ", ".join(Role.values)}
        )
    if role == Role.NATIONAL:
        if area_code:
            raise AccountError(_("the national role covers the whole tree: give no area"))
    else:
        if not area_code:
            raise AccountError(_("role %(role)s needs an area code") % {"role": role})
        area = Area.objects.filter(code=area_code).first()
        if area is None:
            raise AccountError(_("unknown area code %(code)s") % {"code": area_code})
        if area.level != ROLE_LEVEL[role]:
            raise AccountError(
                _("role %(role)s is for a %(want)s, but %(code)s %(name)s is a %(level)s")
                % {
                    "role": role,
                    "want": Level(ROLE_LEVEL[role]).label,
                    "code": area.code,
                    "name": area.name,
                    "level": Level(area.level).label,
                }
            )
    _check_password(username, password)
    with transaction.atomic():
        user = create_user_with_jurisdiction(username, password, area_code or None, role)
        _record(user, None, AccountEvent.Kind.CREATED)
    return user


def deactivate_user(user: Any, actor: Any = None, now: dt.datetime | None = None) -> Any:
    """Stop a user from logging in; their API tokens stop working with them (tokens act only
    for active users). Their records and audit trail stay; the deactivation is recorded with
    who (``actor``; ``None`` for an operator's command) and when."""
    if user.is_active:
        with transaction.atomic():
            user.is_active = False
            user.save(update_fields=["is_active"])
            _record(user, actor, AccountEvent.Kind.DEACTIVATED, now)
    return user


def reactivate_user(user: Any, actor: Any = None, now: dt.datetime | None = None) -> Any:
    """Let a deactivated user log in again (their earlier API tokens work again with them);
    recorded with who and when, like the deactivation. Reactivating an active user changes
    nothing."""
    if not user.is_active:
        with transaction.atomic():
            user.is_active = True
            user.save(update_fields=["is_active"])
            _record(user, actor, AccountEvent.Kind.REACTIVATED, now)
    return user


# --- user management within a jurisdiction -----------------------------------------------------


def actor_level(actor: Any) -> int | None:
    """The level ``actor`` manages from (0: the whole tree), or ``None`` if they manage nobody:
    inactive users, users without a profile or jurisdiction, and roles outside
    :data:`~ruralwatch.accounts.models.MANAGING_ROLES`. Superusers manage from the top."""
    return access.manages_from(actor)


def grantable_roles(actor: Any) -> list[str]:
    """The roles ``actor`` may give: those strictly below their own level, never more."""
    level = actor_level(actor)
    if level is None:
        return []
    return [r for r in Role.values if ROLE_LEVEL[r] > level]


def create_user_in_jurisdiction(
    actor: Any,
    username: str,
    role: str,
    area_code: str,
    password: str = "",
    now: dt.datetime | None = None,
) -> tuple[AbstractUser, str]:
    """A new user created by ``actor`` for an area inside the actor's jurisdiction, with a role
    strictly below the actor's own level. An empty ``password`` gets a random one.

    Returns the user and the password if it was generated (else ``""``). Raises
    :class:`NotAllowed` when the actor manages nobody, ``Http404`` for an area that is missing
    or outside the jurisdiction (the same answer), and :class:`AccountError` for anything else
    (a role at or above the actor's level, a role that does not fit the area's level, the user
    name, the password)."""
    level = actor_level(actor)
    if level is None:
        raise NotAllowed(_("Your role does not manage users."))
    if role not in Role.values:
        raise AccountError(
            _("Unknown role %(role)s; one of: %(roles)s.")
            % {"role": role, "roles": ", ".join(grantable_roles(actor))}
        )
    if ROLE_LEVEL[role] <= level:
        raise AccountError(
            _("You may only give roles below your own level: %(roles)s.")
            % {"roles": ", ".join(str(Role(r).label) for r in grantable_roles(actor))}
        )
    area = access.access_area_by_code(actor, area_code.strip())  # Http404: missing or outside
    try:
        _check_level(role, area)
    except ValueError as exc:
        raise AccountError(str(exc)) from None
    username = _check_username(username)
    generated = ""
    if not password:
        password = generated = _generated_password(username)
    _check_password(username, password)
    with transaction.atomic():
        user = get_user_model().objects.create_user(username=username, password=password)
        Profile.objects.create(user=user, jurisdiction=area, role=role)
        _record(user, actor, AccountEvent.Kind.CREATED, now)
    return user, generated


def deactivate_user_in_jurisdiction(actor: Any, user: Any, now: dt.datetime | None = None) -> Any:
    """Deactivate ``user`` on behalf of ``actor``, who must manage them (their area lies in
    the actor's jurisdiction and their role is below the actor's level); the caller obtained
    ``user`` through :func:`ruralwatch.accounts.access.access_user_by_id`, and this checks
    again. ``Http404`` if the actor may not manage the user (the same as a missing user)."""
    if actor_level(actor) is None:
        raise NotAllowed(_("Your role does not manage users."))
    if not access.scope_users(actor).filter(pk=user.pk).exists():
        raise Http404(_("No such user."))
    return deactivate_user(user, actor=actor, now=now)


def reactivate_user_in_jurisdiction(actor: Any, user: Any, now: dt.datetime | None = None) -> Any:
    """Reactivate ``user`` on behalf of ``actor``, under the same rule as
    :func:`deactivate_user_in_jurisdiction` (``Http404`` for a user the actor does not
    manage)."""
    if actor_level(actor) is None:
        raise NotAllowed(_("Your role does not manage users."))
    if not access.scope_users(actor).filter(pk=user.pk).exists():
        raise Http404(_("No such user."))
    return reactivate_user(user, actor=actor, now=now)


@dataclass(frozen=True)
class DemoLogin:
    """One demo user as the demo prints it."""

    username: str
    password: str
    role: str
    role_label: str
    area_code: str
    area_name: str


#: The demo's users: (user name, role, which area). ``county`` is the demo's own county; the
#: township is its first township (by code) and the village that township's first village.
DEMO_USERS: list[tuple[str, str, str]] = [
    ("demo_doctor", Role.VILLAGE_DOCTOR, "village"),
    ("demo_cadre", Role.VILLAGE_CADRE, "village"),
    ("demo_township", Role.TOWNSHIP, "township"),
    ("demo", Role.COUNTY, "county"),
    ("demo_leader", Role.COUNTY_LEADER, "county"),
    ("demo_prefecture", Role.PREFECTURE, "prefecture"),
    ("demo_province", Role.PROVINCE, "province"),
    ("demo_national", Role.NATIONAL, ""),
]


def demo_users(county_code: str, village_code: str | None = None) -> list[DemoLogin]:
    """One user per role and level over the demo county's line of areas (a village, its
    township, the county, its prefecture and province; national: none), each with a new
    random password; existing demo users get the new password and are active again. For the
    demo only: the passwords are printed. ``village_code`` chooses the village (and so the
    township) of the line; default the first of the first township."""
    county = Area.objects.get(code=county_code)
    chosen = Area.objects.filter(code=village_code or "", l3=county.code, level=5).first()
    township: Area | None
    village: Area | None
    if chosen is not None:
        village, township = chosen, Area.objects.filter(code=chosen.l4).first()
    else:
        township = Area.objects.filter(parent=county).order_by("code").first()
        village = (
            Area.objects.filter(parent=township).order_by("code").first() if township else None
        )
    areas: dict[str, Area | None] = {
        "village": village,
        "township": township,
        "county": county,
        "prefecture": Area.objects.filter(code=county.l2).first(),
        "province": Area.objects.filter(code=county.l1).first(),
        "": None,
    }
    logins = []
    for username, role, which in DEMO_USERS:
        area = areas[which]
        if which and area is None:
            continue  # a demo region without that level
        password = secrets.token_urlsafe(9)
        reset_user_with_jurisdiction(username, password, area.code if area else None, role)
        logins.append(
            DemoLogin(
                username=username,
                password=password,
                role=role,
                role_label=str(Role(role).label),
                area_code=area.code if area else "",
                area_name=area.name if area else "",
            )
        )
    return logins


def login_window() -> dt.timedelta:
    return dt.timedelta(minutes=settings.RURALWATCH_LOGIN_WINDOW_MINUTES)


def record_login_failure(username: str, ip: str | None) -> None:
    """Count one failed login; forget failures older than the window."""
    now = timezone.now()
    LoginFailure.objects.filter(at__lt=now - login_window()).delete()
    LoginFailure.objects.create(username=username[:150], ip=ip, at=now)


def clear_login_failures(username: str) -> None:
    """A successful login forgives the user name's earlier failures."""
    LoginFailure.objects.filter(username=username[:150]).delete()
