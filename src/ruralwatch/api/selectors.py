"""Reads of API tokens (always a user's own)."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from ruralwatch.api.models import ApiToken


def user_tokens(user: Any) -> QuerySet[ApiToken]:
    return ApiToken.objects.filter(user_id=user.pk).order_by("-created_at", "-id")


def user_token(user: Any, token_id: int) -> ApiToken | None:
    """One of ``user``'s tokens; ``None`` for a missing token and another user's alike."""
    return ApiToken.objects.filter(user_id=user.pk, pk=token_id).first()
