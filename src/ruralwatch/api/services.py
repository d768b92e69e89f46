"""Writes for API tokens: create, revoke, and authenticate (which records the last use)."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from typing import Any

from django.db.models import Q
from django.utils import timezone

from ruralwatch.api.models import ApiToken

TOKEN_PREFIX = "rwt_"
#: Record ``last_used_at`` at most this often (not a write on every request).
TOUCH_EVERY = dt.timedelta(minutes=5)


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(
    user: Any, name: str, *, expires_in_days: int | None = None
) -> tuple[ApiToken, str]:
    """A new token for ``user``: the stored row and the token text (shown once, never stored)."""
    plain = TOKEN_PREFIX + secrets.token_urlsafe(32)
    expires = timezone.now() + dt.timedelta(days=expires_in_days) if expires_in_days else None
    token = ApiToken.objects.create(
        user=user,
        name=name.strip()[:80],
        prefix=plain[:12],
        key_hash=digest(plain),
        expires_at=expires,
    )
    return token, plain


def revoke_token(token: ApiToken) -> ApiToken:
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
    return token


def authenticate_token(plain: str) -> Any | None:
    """The active user of an unrevoked, unexpired token, else ``None`` (one query, usually)."""
    if not plain.startswith(TOKEN_PREFIX) or len(plain) > 100:
        return None
    now = timezone.now()
    token = (
        ApiToken.objects.select_related("user")
        .filter(key_hash=digest(plain), revoked_at__isnull=True)
        .filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now))
        .first()
    )
    if token is None or not token.user.is_active:
        return None
    if token.last_used_at is None or now - token.last_used_at > TOUCH_EVERY:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token.user
