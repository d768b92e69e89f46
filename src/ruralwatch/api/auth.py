"""Who am I, and personal API tokens (created with a session, used as bearer tokens)."""

from __future__ import annotations

from typing import Any

from django.http import Http404, HttpRequest
from django.utils.translation import gettext as _
from ninja import Router, Status

from ruralwatch.accounts import access
from ruralwatch.accounts.models import Role
from ruralwatch.api import selectors, services
from ruralwatch.api.common import user_of
from ruralwatch.api.models import ApiToken
from ruralwatch.api.schemas import (
    ErrorOut,
    Id,
    InvalidOut,
    MeOut,
    TokenCreated,
    TokenIn,
    TokenOut,
)
from ruralwatch.api.security import SESSION_ONLY
from ruralwatch.keygroups.access import may_export_identified

router = Router(tags=["auth"])


@router.get("/me", response={200: MeOut, 401: ErrorOut, 422: InvalidOut}, summary="The caller")
def me(request: HttpRequest) -> dict[str, Any]:
    """Your user name, role, jurisdiction and what you may export."""
    user = user_of(request)
    profile = access._profile(user)
    root = access.jurisdiction(user)
    return {
        "username": user.get_username(),
        "role": profile.role if profile else None,
        "role_label": str(Role(profile.role).label) if profile else None,
        "jurisdiction": root,
        "sees_everything": access.sees_everything(user),
        "may_export_identified": may_export_identified(user),
    }


@router.get(
    "/tokens", response={200: list[TokenOut], 401: ErrorOut, 422: InvalidOut}, summary="Your tokens"
)
def list_tokens(request: HttpRequest) -> list[ApiToken]:
    """Your API tokens (never the token text, which is shown only when created)."""
    return list(selectors.user_tokens(user_of(request)))


@router.post(
    "/tokens",
    auth=SESSION_ONLY,
    response={201: TokenCreated, 401: ErrorOut, 403: ErrorOut, 422: InvalidOut},
    summary="Create a token",
)
def create_token(request: HttpRequest, body: TokenIn) -> Status[dict[str, Any]]:
    """A new personal token (needs a logged-in session, not a token). Send it as
    ``Authorization: Bearer <token>``; it acts with your jurisdiction and role."""
    token, plain = services.create_token(
        user_of(request), body.name, expires_in_days=body.expires_in_days
    )
    return Status(201, {**TokenOut.model_validate(token).model_dump(), "token": plain})


@router.delete(
    "/tokens/{token_id}",
    response={200: TokenOut, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 422: InvalidOut},
    summary="Revoke a token",
)
def revoke_token(request: HttpRequest, token_id: Id) -> ApiToken:
    """Revoke one of your tokens; another user's token is answered like a missing one."""
    token = selectors.user_token(user_of(request), token_id)
    if token is None:
        raise Http404(_("No such token."))
    return services.revoke_token(token)
