"""Users managed from the level above: the users below me, create one, deactivate one.

Scoped like every other router: only users bound to an area of the caller's jurisdiction,
with a role below the caller's level, are listed or named; any other user id is a 404, the
same as a missing one. The rules (no role at or above your own, no area outside your
jurisdiction, the role's level is the area's) are :mod:`ruralwatch.accounts.services`'s.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from django.core.exceptions import ValidationError
from django.http import HttpRequest
from ninja import Field, Query, Router, Schema, Status
from ninja.errors import HttpError

from ruralwatch.accounts import access, selectors, services
from ruralwatch.accounts.models import Role
from ruralwatch.api.common import page_fields, paginate, user_of
from ruralwatch.api.schemas import AreaRef, Code, ErrorOut, Id, InvalidOut, PageParams

router = Router(tags=["users"])

ERRORS: dict[int, Any] = {401: ErrorOut, 404: ErrorOut, 422: InvalidOut}
#: Writes also answer 403: to a session without its CSRF token, and to a role that manages
#: nobody (the village roles, the county leader).
WRITE_ERRORS: dict[int, Any] = {**ERRORS, 403: ErrorOut}


class UserOut(Schema):
    id: int
    username: str
    role: str
    role_label: str
    area: AreaRef | None
    active: bool
    last_login: dt.datetime | None
    deactivated_at: dt.datetime | None = Field(None, description="The last deactivation.")
    deactivated_by: str | None = Field(None, description="Who deactivated the user.")


class UserCreated(UserOut):
    password: str = Field(
        description="The generated password when none was given (shown only now), else empty."
    )


class UserPage(Schema):
    count: int
    limit: int
    offset: int
    items: list[UserOut]


class UserIn(Schema):
    username: Annotated[str, Field(min_length=1, max_length=150)]
    role: Annotated[str, Field(min_length=1, max_length=20, description="A role below yours.")]
    area: Code
    password: Annotated[
        str, Field(max_length=128, description="Empty: a random one, returned once.")
    ] = ""


def _out(user: Any) -> dict[str, Any]:
    profile = user.profile
    return {
        "id": user.pk,
        "username": user.get_username(),
        "role": profile.role,
        "role_label": str(Role(profile.role).label) if profile.role in Role.values else "",
        "area": profile.jurisdiction,
        "active": user.is_active,
        "last_login": user.last_login,
        "deactivated_at": getattr(user, "deactivated_at", None),
        "deactivated_by": getattr(user, "deactivated_by", None),
    }


def _one(actor: Any, pk: int) -> dict[str, Any]:
    return _out(selectors.managed_users(actor).get(pk=pk))


@router.get("", response={200: UserPage, **ERRORS}, summary="Users below me")
def list_users(request: HttpRequest, page: Query[PageParams]) -> dict[str, Any]:
    """The users you manage: bound to an area of your jurisdiction with a role below your
    level (active and deactivated), in tree order. Empty for roles that manage nobody."""
    items, count = paginate(selectors.managed_users(user_of(request)), page)
    return {**page_fields(page, count), "items": [_out(u) for u in items]}


@router.post("", response={201: UserCreated, **WRITE_ERRORS}, summary="Create a user below me")
def create_user(request: HttpRequest, body: UserIn) -> Status[dict[str, Any]]:
    """A new user with a role below yours over an area of your jurisdiction (of the role's
    level). 404 for an area that is missing or outside your jurisdiction; 422 for a role at or
    above yours, a role that does not fit the area, a taken user name or a weak password."""
    actor = user_of(request)
    try:
        user, generated = services.create_user_in_jurisdiction(
            actor, body.username, body.role, body.area, body.password
        )
    except services.NotAllowed as exc:
        raise HttpError(403, str(exc)) from None
    except services.AccountError as exc:
        raise ValidationError(str(exc)) from None
    return Status(201, {**_one(actor, user.pk), "password": generated})


@router.post(
    "/{user_id}/deactivate", response={200: UserOut, **WRITE_ERRORS}, summary="Deactivate a user"
)
def deactivate_user(request: HttpRequest, user_id: Id) -> dict[str, Any]:
    """Stop a user you manage from logging in (their tokens stop too); recorded with who and
    when. Deactivating again changes nothing. 404 for anyone you do not manage."""
    actor = user_of(request)
    target = access.access_user_by_id(actor, user_id)
    try:
        services.deactivate_user_in_jurisdiction(actor, target)
    except services.NotAllowed as exc:
        raise HttpError(403, str(exc)) from None
    return _one(actor, target.pk)


@router.post(
    "/{user_id}/reactivate", response={200: UserOut, **WRITE_ERRORS}, summary="Reactivate a user"
)
def reactivate_user(request: HttpRequest, user_id: Id) -> dict[str, Any]:
    """Let a deactivated user you manage log in again; recorded with who and when.
    Reactivating an active user changes nothing. 404 for anyone you do not manage."""
    actor = user_of(request)
    target = access.access_user_by_id(actor, user_id)
    try:
        services.reactivate_user_in_jurisdiction(actor, target)
    except services.NotAllowed as exc:
        raise HttpError(403, str(exc)) from None
    return _one(actor, target.pk)
