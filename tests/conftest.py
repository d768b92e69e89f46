"""Test-wide fixtures. Tests run on SQLite by default and on PostgreSQL with DATABASE_URL."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from django.conf import settings
from django.test import override_settings
from django.utils import translation

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@pytest.fixture(autouse=True, scope="session")
def _briefings_archive(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Briefings issued by tests (pages, API fuzzing) are archived in a temporary directory,
    never in the checkout's var/."""
    settings.RURALWATCH_BRIEFINGS_DIR = tmp_path_factory.mktemp("briefings")


#: Test users' passwords are hashed with MD5: PBKDF2's million rounds cost 0.3 CPU s per user
#: created and per password login, hundreds of times a run. PBKDF2 stays in the list, so a
#: password that a subprocess (the CLI, ``serve``) hashed with the production settings is still
#: checked. No test is about the hasher; modules may still set their own.
TEST_HASHERS = [
    "django.contrib.auth.hashers.MD5PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher",
]


@pytest.fixture(autouse=True, scope="session")
def _fast_password_hashers() -> Iterator[None]:
    with override_settings(PASSWORD_HASHERS=TEST_HASHERS):
        yield


@pytest.fixture(autouse=True)
def _default_language():  # type: ignore[no-untyped-def]
    """Each test starts in the default language (zh-Hans): a request served in English by an
    earlier test must not leak into the next one through the thread's active language."""
    translation.activate(settings.LANGUAGE_CODE)
    yield
    translation.deactivate()


def pytest_addoption(parser: pytest.Parser) -> None:
    from tests.fixtures import dbonly

    dbonly.addoption(parser)


def pytest_configure(config: pytest.Config) -> None:
    from tests.fixtures import cputime, dbonly, order, vacuum

    order.register(config)
    vacuum.register(config)  # before cputime: its teardown's figures include the VACUUM
    cputime.register(config)
    dbonly.register(config)
