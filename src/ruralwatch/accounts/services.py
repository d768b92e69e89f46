"""Writes for accounts: users with a place in the hierarchy, and failed-login bookkeeping."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model, password_validation
from django.contrib.auth.models import AbstractUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from ruralwatch.accounts.models import LoginFailure, Profile, Role
from ruralwatch.areas.models import Area, Level

#: The level of the area each role is responsible for (the national role has no area).
ROLE_LEVEL: dict[str, int] = {
    Role.VILLAGE_DOCTOR: Level.VILLAGE,
    Role.TOWNSHIP: Level.TOWNSHIP,
    Role.COUNTY: Level.COUNTY,
    Role.PREFECTURE: Level.PREFECTURE,
    Role.PROVINCE: Level.PROVINCE,
}


class AccountError(ValueError):
    """A user-management request that cannot be done, with a sentence saying why."""


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
    elif role != Role.NATIONAL:
        raise ValueError(_("only the national role may have no jurisdiction"))
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
    with transaction.atomic():
        user.set_password(password)
        user.is_active = True
        user.save(update_fields=["password", "is_active"])
        Profile.objects.update_or_create(user=user, defaults={"jurisdiction": area, "role": role})
    return user


def create_user(username: str, password: str, area_code: str | None, role: str) -> AbstractUser:
    """An operator's new user, checked the way the web would: a valid, unused user name; a
    known role; an area of the role's level (none for the national role); a password that
    passes the configured validators. Raises :class:`AccountError` naming what is wrong."""
    User = get_user_model()
    username = username.strip()
    try:
        User._meta.get_field("username").run_validators(username)
    except ValidationError as exc:
        raise AccountError(
            _("user name %(name)r: %(reason)s")
            % {"name": username, "reason": " ".join(exc.messages)}
        ) from None
    if not username:
        raise AccountError(_("the user name is empty"))
    if User.objects.filter(username=username).exists():
        raise AccountError(_("user %(name)s already exists") % {"name": username})
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
    try:
        password_validation.validate_password(password, User(username=username))
    except ValidationError as exc:
        raise AccountError(
            _("password refused: %(reason)s") % {"reason": " ".join(exc.messages)}
        ) from None
    return create_user_with_jurisdiction(username, password, area_code or None, role)


def deactivate_user(user: Any) -> Any:
    """Stop a user from logging in; their API tokens stop working with them (tokens act only
    for active users). Their records and audit trail stay."""
    if user.is_active:
        user.is_active = False
        user.save(update_fields=["is_active"])
    return user


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
