"""The person access log: every read of a person's record (or of a list) is written here."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.utils import timezone

from ruralwatch.keygroups.models import (
    AccessLog,
)


def log_access(user: Any, persons: Iterable[int], purpose: str, *, area_code: str = "") -> None:
    """Record that ``user`` read the records of ``persons`` (ids) for ``purpose``."""
    uid = user.pk if getattr(user, "is_authenticated", False) else None
    ids = list(persons)
    now = timezone.now()
    AccessLog.objects.bulk_create(
        [
            AccessLog(user_id=uid, person_id=pid, purpose=purpose[:60], area_code=area_code, at=now)
            for pid in ids
        ],
        batch_size=2000,
    )


def log_list_access(user: Any, n: int, purpose: str, *, area_code: str = "") -> None:
    """Record that ``user`` read a list of ``n`` persons (one row, no person)."""
    uid = user.pk if getattr(user, "is_authenticated", False) else None
    AccessLog.objects.create(
        user_id=uid, person=None, n_persons=n, purpose=purpose[:60], area_code=area_code
    )
