"""Writes for accounts."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractUser
from django.db import transaction
from django.utils.translation import gettext as _

from ruralwatch.accounts.models import Profile, Role
from ruralwatch.areas.models import Area


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
