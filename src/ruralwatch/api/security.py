"""Authentication for the API: a Django session (with CSRF on writes) or a bearer token."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja.security import HttpBearer, django_auth

from ruralwatch.api.services import authenticate_token


class BearerToken(HttpBearer):
    """``Authorization: Bearer rwt_…`` — a personal token from ``POST /api/auth/tokens``."""

    def authenticate(self, request: HttpRequest, token: str) -> Any | None:
        user = authenticate_token(token)
        if user is not None:
            request.user = user
        return user


bearer_token = BearerToken()
#: Tried in order: a request without an ``Authorization: Bearer`` header falls through to the
#: session (whose CSRF check applies to writes).
AUTH = [bearer_token, django_auth]
SESSION_ONLY = [django_auth]
