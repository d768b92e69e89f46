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


def pytest_configure(config: pytest.Config) -> None:
    from tests.fixtures import cputime

    cputime.register(config)


#: The modules that take longest, longest first (CPU and wall seconds of whole modules,
#: measured with tests/fixtures/cputime.py; docs/testing.md). ``make test`` hands whole
#: modules to its workers (``--dist loadscope``, so a module's shared fixtures are built once)
#: in collection order: starting with these keeps one long module from running alone at the
#: end while the other worker idles. Only the order changes; every test still runs.
LONGEST_FIRST = [
    "tests/cycle/test_demo.py",
    "tests/scoping/test_walk.py",
    "tests/cycle/test_distributed.py",
    "tests/areas/test_import.py",
    "tests/accounts/test_throttle.py",
    "tests/config/test_serve.py",
    "tests/keygroups/test_masking.py",
    "tests/badinput/test_corpus.py",
    "tests/api/test_schema.py",
    "tests/cli/test_demo_rerun.py",
    "tests/areas/test_boundaries.py",
    "tests/briefings/test_demo_briefing.py",
    "tests/accounts/test_users_cli.py",
    "tests/dashboard/test_browser_issue12.py",
    "tests/dashboard/test_flags_browser.py",
    "tests/dispatch/test_browser.py",
    "tests/areas/test_map.py",
    "tests/config/test_settings.py",
    "tests/keyareas/test_demo.py",
    "tests/accounts/test_users_browser.py",
    "tests/cycle/test_worker.py",
    "tests/keygroups/test_forms_browser.py",
    "tests/dashboard/test_browser_panels.py",
    "tests/keygroups/test_browser_pages.py",
    "tests/resources/test_demo_referrals.py",
]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {module: i for i, module in enumerate(LONGEST_FIRST)}
    last = len(rank)
    # sorted() is stable: the other modules, and the tests inside each module, keep their order
    items.sort(key=lambda item: rank.get(item.nodeid.split("::")[0], last))
