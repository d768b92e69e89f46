"""Key rotation for personal fields at rest.

Every model field whose name ends in ``_enc`` holds a Fernet token made with
``RURALWATCH_FIELD_KEY`` (see :mod:`ruralwatch.keygroups.crypto`); a field ``<x>_hash`` beside
an ``<x>_enc`` holds the keyed hash of the decrypted value. Found through the app registry, so
a new encrypted column is rotated without being listed here.

- :func:`rotate_field_keys` re-encrypts every token with the first key of
  ``RURALWATCH_FIELD_KEY`` (``MultiFernet.rotate``); tokens already under it are left alone,
  so a run can be interrupted and started again.
- with ``rehash=True`` it also recomputes each ``<x>_hash`` under the current
  ``RURALWATCH_HASH_KEY``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from django.apps import apps
from django.conf import settings
from django.db import models, transaction

from ruralwatch.keygroups import crypto

BATCH = 2000


@dataclass
class RotationSummary:
    #: ``"app.Model.field"`` → values re-encrypted with the first key.
    rotated: dict[str, int] = field(default_factory=dict)
    #: ``"app.Model.field"`` → keyed hashes that changed.
    rehashed: dict[str, int] = field(default_factory=dict)
    #: Tokens that no configured key opens (left as they are).
    unreadable: dict[str, int] = field(default_factory=dict)


def encrypted_fields() -> list[tuple[type[models.Model], list[str], list[str]]]:
    """(model, its ``*_enc`` fields, its ``*_hash`` fields paired with an ``*_enc``)."""
    found = []
    for model in apps.get_models():
        names = {f.name for f in model._meta.concrete_fields}
        enc = sorted(n for n in names if n.endswith("_enc"))
        hashes = sorted(n[:-4] + "_hash" for n in enc if n[:-4] + "_hash" in names)
        if enc:
            found.append((model, enc, hashes))
    return found


def _primary() -> Fernet:
    first = settings.RURALWATCH_FIELD_KEY.split(",")[0].strip()
    return Fernet(first.encode())


def rotate_field_keys(
    *, rehash: bool = False, progress: Callable[[str, int, int], None] | None = None
) -> RotationSummary:
    summary = RotationSummary()
    primary, multi = _primary(), crypto.fernet()
    hash_key = crypto.hash_key()
    for model, enc_fields, hash_fields in encrypted_fields():
        label = f"{model._meta.app_label}.{model.__name__}"
        manager: Any = model._default_manager
        total = manager.count()
        last_pk = None
        while True:
            qs = manager.order_by("pk").only("pk", *enc_fields, *hash_fields)
            if last_pk is not None:
                qs = qs.filter(pk__gt=last_pk)
            rows = list(qs[:BATCH])
            if not rows:
                break
            changed: set[str] = set()
            dirty = []
            for row in rows:
                touched = False
                for name in enc_fields:
                    token = getattr(row, name) or ""
                    if not token:
                        continue
                    key = f"{label}.{name}"
                    try:
                        primary.decrypt(token.encode())  # already under the first key
                    except InvalidToken:
                        try:
                            setattr(row, name, multi.rotate(token.encode()).decode())
                        except InvalidToken:
                            summary.unreadable[key] = summary.unreadable.get(key, 0) + 1
                            continue
                        summary.rotated[key] = summary.rotated.get(key, 0) + 1
                        changed.add(name)
                        touched = True
                if rehash:
                    for name in hash_fields:
                        plain = crypto.decrypt(getattr(row, name[:-5] + "_enc") or "")
                        if not plain:
                            continue
                        value = crypto.keyed_hash(plain, hash_key)
                        if value != getattr(row, name):
                            setattr(row, name, value)
                            key = f"{label}.{name}"
                            summary.rehashed[key] = summary.rehashed.get(key, 0) + 1
                            changed.add(name)
                            touched = True
                if touched:
                    dirty.append(row)
            if dirty:
                with transaction.atomic():
                    manager.bulk_update(dirty, sorted(changed), batch_size=500)
            last_pk = rows[-1].pk
            if progress:
                progress(label, len(rows), total)
    return summary


def pending_old_tokens() -> int:
    """Tokens not under the first key (0 when a rotation is complete)."""
    primary = _primary()
    left = 0
    for model, enc_fields, _hashes in encrypted_fields():
        for row in model._default_manager.values_list(*enc_fields).iterator(chunk_size=BATCH):
            for token in row:
                if token:
                    try:
                        primary.decrypt(token.encode())
                    except InvalidToken:
                        left += 1
    return left
