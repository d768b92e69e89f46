"""Personal fields at rest: Fernet encryption, keyed hashes, masking, ID-number checks.

Keys:

- ``RURALWATCH_FIELD_KEY`` (setting, from the environment): the Fernet key (urlsafe base64 of
  32 bytes) for ID numbers and phones. Several keys may be given separated by commas; the
  first encrypts, all decrypt (key rotation with ``MultiFernet``).
- ``RURALWATCH_HASH_KEY`` (setting, from the environment): the HMAC-SHA256 key for the
  de-duplication hash of ID numbers. Keep it apart from the Fernet key.

The settings always provide both: production refuses to start without them, and the
development mode keeps generated ones in ``var/secrets.env`` (``ruralwatch.config.env``).
Settings configured by hand without them get :class:`MissingKey` on the first use, never a
key made up from something else. Rotation: ``ruralwatch keys rotate``
(``ruralwatch.config.keys``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK_CHARS = "10X98765432"
_PHONE = re.compile(r"\+?\d+(?:[ -]\d+)*")


def id_check_char(first17: str) -> str:
    """The GB 11643-1999 check character (ISO 7064 MOD 11-2) of the first 17 digits."""
    total = sum(int(d) * w for d, w in zip(first17, _ID_WEIGHTS, strict=True))
    return _CHECK_CHARS[total % 11]


def id_number_ok(value: str) -> bool:
    """Whether ``value`` is 17 digits plus the right check character (X upper or lower)."""
    if len(value) != 18 or not value[:17].isdigit():
        return False
    return value[17].upper() == id_check_char(value[:17])


def normalise_id(value: str) -> str:
    return value.strip().upper()


class MissingKey(ImproperlyConfigured):
    """A key for personal fields is not configured (or is not a usable key)."""


def _missing(name: str, detail: str = "is not set") -> MissingKey:
    return MissingKey(
        f"{name} {detail}: personal fields cannot be encrypted or hashed without it. "
        "Set it in the environment (`ruralwatch keys generate` prints new keys)."
    )


@lru_cache(maxsize=4)
def _fernet(spec: str) -> MultiFernet:
    keys = [k.strip() for k in spec.split(",") if k.strip()]
    if not keys:
        raise _missing("RURALWATCH_FIELD_KEY")
    try:
        return MultiFernet([Fernet(k.encode()) for k in keys])
    except (ValueError, TypeError) as exc:
        raise _missing("RURALWATCH_FIELD_KEY", f"is not a list of Fernet keys ({exc})") from exc


def fernet() -> MultiFernet:
    """The field cipher from ``RURALWATCH_FIELD_KEY``; :class:`MissingKey` if it is unset."""
    return _fernet(getattr(settings, "RURALWATCH_FIELD_KEY", "") or "")


def hash_key() -> bytes:
    """The HMAC key from ``RURALWATCH_HASH_KEY``; :class:`MissingKey` if it is unset."""
    spec = getattr(settings, "RURALWATCH_HASH_KEY", "") or ""
    if not spec.strip():
        raise _missing("RURALWATCH_HASH_KEY")
    return spec.encode()


def encrypt(value: str) -> str:
    """A Fernet token for ``value``; empty stays empty."""
    if not value:
        return ""
    return fernet().encrypt(value.encode()).decode()


def decrypt(token: str) -> str:
    """The plaintext of a token; empty stays empty; an unreadable token gives ``""``."""
    if not token:
        return ""
    try:
        return fernet().decrypt(token.encode()).decode()
    except InvalidToken:
        return ""


def keyed_hash(value: str, key: bytes | None = None) -> str:
    """HMAC-SHA256 (hex) of a normalised ID number."""
    return hmac.new(key or hash_key(), normalise_id(value).encode(), hashlib.sha256).hexdigest()


#: What the stored mask of an ID number shows: the region (6 digits) and the last two
#: characters. With the birth month (the only part of the birth date stored in clear) and the
#: sex, the day of birth (28–31 values) and the two sequence digits before the sex digit (100
#: values) stay unknown: about 270 numbers with the right check character fit every stored
#: row (``tests/keygroups/test_masking.py`` counts them). The former mask kept the last four
#: characters, which with a clear birth date gave the whole number back.
MASK_HEAD = 6
MASK_TAIL = 2


def mask_id(value: str) -> str:
    """Region and last two characters: ``990101**********3X``."""
    value = normalise_id(value)
    if len(value) < MASK_HEAD + MASK_TAIL + 4:
        return "*" * len(value)
    return value[:MASK_HEAD] + "*" * (len(value) - MASK_HEAD - MASK_TAIL) + value[-MASK_TAIL:]


def id_birth_date(value: str) -> dt.date | None:
    """The date of birth written in an ID number (digits 7–14), or None if it is not a date."""
    try:
        return dt.date(int(value[6:10]), int(value[10:12]), int(value[12:14]))
    except ValueError:
        return None


def phone_ok(value: str) -> bool:
    """A phone number: 7 to 15 digits (E.164 allows 15), optionally a leading ``+``, with
    single spaces or dashes between digit groups. Refuses ``-------``, 20 digits and markup."""
    return bool(_PHONE.fullmatch(value.strip())) and 7 <= sum(c.isdigit() for c in value) <= 15


def mask_phone(value: str) -> str:
    return value[:3] + "****" + value[-4:] if len(value) >= 11 else "*" * len(value)


def mask_name(value: str) -> str:
    """First character and stars: ``王**``."""
    return value[:1] + "*" * max(len(value) - 1, 1) if value else ""


def pseudonym(ref: str, key: bytes | None = None) -> str:
    """A stable pseudonym for exports (keyed, so it cannot be reversed without the key)."""
    digest = hmac.new(key or hash_key(), b"export\x00" + ref.encode(), hashlib.sha256)
    return "P" + digest.hexdigest()[:12]
