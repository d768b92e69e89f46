"""Typed readers of the environment and the secrets RuralWatch needs, failing safe.

The settings module is the only caller. Every reader names the variable in its error, so a
wrong value stops start-up with a message an operator can act on (``ImproperlyConfigured``),
never a traceback from deep inside a request.

Secrets (``SECRET_KEY``, ``RURALWATCH_FIELD_KEY``, ``RURALWATCH_HASH_KEY``) come from the
environment. In production (the default) a missing or weak one stops start-up. In the explicit
development mode (``RURALWATCH_ENV=development``, or ``DEBUG=true``) the missing ones are read
from ``<RURALWATCH_VAR>/secrets.env``, which is created once with random keys (mode 0600) and
never rewritten, so data encrypted in a development database stays readable across runs.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import os
import secrets
import tempfile
from collections.abc import Mapping
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

TRUE = frozenset({"1", "true", "yes", "on"})
FALSE = frozenset({"0", "false", "no", "off", ""})

#: The secrets and how to make one (shown in the refusal message).
SECRET_NAMES = ("SECRET_KEY", "RURALWATCH_FIELD_KEY", "RURALWATCH_HASH_KEY")
GENERATE = {
    "SECRET_KEY": "python3 -c 'import secrets; print(secrets.token_urlsafe(50))'",
    "RURALWATCH_FIELD_KEY": (
        "python3 -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'"
    ),
    "RURALWATCH_HASH_KEY": "python3 -c 'import secrets; print(secrets.token_urlsafe(32))'",
}
#: Django's own ``check --deploy`` threshold for SECRET_KEY; the hash key gets 32 bytes' worth.
MIN_LENGTH = {"SECRET_KEY": 50, "RURALWATCH_HASH_KEY": 32}
DEV_SECRETS_FILE = "secrets.env"


def env_str(name: str, default: str = "", environ: Mapping[str, str] | None = None) -> str:
    env = os.environ if environ is None else environ
    return env.get(name, default).strip()


def env_bool(name: str, default: bool, environ: Mapping[str, str] | None = None) -> bool:
    env = os.environ if environ is None else environ
    raw = env.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in TRUE:
        return True
    if value in FALSE:
        return False
    raise ImproperlyConfigured(f"{name}={raw!r} is not a boolean: use true or false.")


def env_int(
    name: str,
    default: int,
    *,
    minimum: int | None = None,
    maximum: int | None = None,
    environ: Mapping[str, str] | None = None,
) -> int:
    env = os.environ if environ is None else environ
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r} is not a whole number.") from None
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        raise ImproperlyConfigured(
            f"{name}={value} is out of range ({minimum if minimum is not None else '…'} to "
            f"{maximum if maximum is not None else '…'})."
        )
    return value


def env_float(
    name: str,
    default: float,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
    environ: Mapping[str, str] | None = None,
) -> float:
    env = os.environ if environ is None else environ
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r} is not a number.") from None
    if value != value or (minimum is not None and value < minimum):  # NaN or too small
        raise ImproperlyConfigured(f"{name}={raw!r} must be a number of at least {minimum}.")
    if maximum is not None and value > maximum:
        raise ImproperlyConfigured(f"{name}={raw!r} must be at most {maximum}.")
    return value


def env_list(
    name: str, default: list[str] | None = None, environ: Mapping[str, str] | None = None
) -> list[str]:
    env = os.environ if environ is None else environ
    raw = env.get(name)
    if raw is None:
        return list(default or [])
    return [part.strip() for part in raw.split(",") if part.strip()]


def env_choice(
    name: str, choices: tuple[str, ...], default: str, environ: Mapping[str, str] | None = None
) -> str:
    value = env_str(name, default, environ).lower() or default
    if value not in choices:
        raise ImproperlyConfigured(f"{name}={value!r} must be one of {', '.join(choices)}.")
    return value


def env_clock(name: str, default: str, environ: Mapping[str, str] | None = None) -> tuple[int, int]:
    """A time of day written ``HH:MM`` (24-hour clock), as (hour, minute)."""
    raw = env_str(name, default, environ) or default
    hour, sep, minute = raw.partition(":")
    if sep and hour.isdigit() and minute.isdigit() and len(minute) == 2:
        h, m = int(hour), int(minute)
        if 0 <= h <= 23 and 0 <= m <= 59:
            return h, m
    raise ImproperlyConfigured(f"{name}={raw!r} is not a time of day: use HH:MM, e.g. 06:00.")


# --------------------------------------------------------------------------------------------
# Secrets
# --------------------------------------------------------------------------------------------


def generate_secrets() -> dict[str, str]:
    """A fresh set of the three secrets (random, in the formats the readers accept)."""
    from cryptography.fernet import Fernet

    return {
        "SECRET_KEY": secrets.token_urlsafe(50),
        "RURALWATCH_FIELD_KEY": Fernet.generate_key().decode(),
        "RURALWATCH_HASH_KEY": secrets.token_urlsafe(32),
    }


def read_env_file_text(text: str, source: str = "environment file") -> dict[str, str]:
    """``NAME=value`` lines (``#`` comments and blank lines skipped), as systemd reads them."""
    values: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, value = line.partition("=")
        if not sep or not name.strip():
            raise ImproperlyConfigured(f"{source}, line {number}: expected NAME=value.")
        values[name.strip()] = value.strip().strip("'\"")
    return values


def read_env_file(path: Path) -> dict[str, str]:
    return read_env_file_text(path.read_text(encoding="utf-8"), str(path))


def development_secrets(var_dir: Path) -> dict[str, str]:
    """The development secrets stored in ``var_dir/secrets.env``, created once if missing.

    Creation is atomic (a private temporary file hard-linked into place), so processes that
    start together agree on one set of keys; an existing file is never rewritten.
    """
    path = var_dir / DEV_SECRETS_FILE
    if not path.exists():
        var_dir.mkdir(parents=True, exist_ok=True)
        body = (
            "# RuralWatch development secrets, generated once; do not use in production.\n"
            "# Deleting this file makes personal data encrypted with these keys unreadable.\n"
            + "".join(f"{k}={v}\n" for k, v in generate_secrets().items())
        )
        fd, tmp = tempfile.mkstemp(dir=var_dir, prefix=".secrets-", text=True)  # mode 0600
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(body)
            with contextlib.suppress(FileExistsError):  # another process was first: use its
                os.link(tmp, path)
        finally:
            os.unlink(tmp)
    return read_env_file(path)


def _fernet_problem(spec: str) -> str | None:
    keys = [k.strip() for k in spec.split(",") if k.strip()]
    if not keys:
        return "it holds no key"
    for i, key in enumerate(keys, start=1):
        try:
            raw = base64.urlsafe_b64decode(key.encode())
        except (binascii.Error, ValueError):
            return f"key {i} is not urlsafe base64"
        if len(raw) != 32:
            return f"key {i} decodes to {len(raw)} bytes, not 32"
    return None


def resolve_secrets(
    *, development: bool, var_dir: Path, environ: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The three secrets, checked. The environment wins; in development mode the missing ones
    come from ``var_dir/secrets.env``; in production a missing or weak one is refused."""
    env = os.environ if environ is None else environ
    values = {name: env.get(name, "").strip() for name in SECRET_NAMES}
    if development and not all(values.values()):
        stored = development_secrets(var_dir)
        values = {name: values[name] or stored.get(name, "") for name in SECRET_NAMES}
    for name in SECRET_NAMES:
        value = values[name]
        if not value:
            raise ImproperlyConfigured(
                f"{name} is not set. Production refuses to start without it. Generate one with\n"
                f"    {GENERATE[name]}\n"
                "and put it in the environment file (see docs/deploy.md). A development "
                "checkout can run with RURALWATCH_ENV=development instead, which keeps "
                f"generated keys in {var_dir / DEV_SECRETS_FILE}."
            )
        if len(value) < MIN_LENGTH.get(name, 0):
            raise ImproperlyConfigured(
                f"{name} is too short ({len(value)} characters, at least "
                f"{MIN_LENGTH[name]}). Generate one with\n    {GENERATE[name]}"
            )
    problem = _fernet_problem(values["RURALWATCH_FIELD_KEY"])
    if problem:
        raise ImproperlyConfigured(
            f"RURALWATCH_FIELD_KEY is not a list of Fernet keys ({problem}). Generate one with\n"
            f"    {GENERATE['RURALWATCH_FIELD_KEY']}\n"
            "Several keys may be given separated by commas: the first encrypts, all decrypt."
        )
    return values
