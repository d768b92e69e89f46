"""Test-wide fixtures. Tests run on SQLite by default and on PostgreSQL with DATABASE_URL."""

from __future__ import annotations

import os

import pytest
from django.conf import settings
from django.utils import translation

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@pytest.fixture(autouse=True, scope="session")
def _briefings_archive(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Briefings issued by tests (pages, API fuzzing) are archived in a temporary directory,
    never in the checkout's var/."""
    settings.RURALWATCH_BRIEFINGS_DIR = tmp_path_factory.mktemp("briefings")


@pytest.fixture(autouse=True)
def _default_language():  # type: ignore[no-untyped-def]
    """Each test starts in the default language (zh-Hans): a request served in English by an
    earlier test must not leak into the next one through the thread's active language."""
    translation.activate(settings.LANGUAGE_CODE)
    yield
    translation.deactivate()
