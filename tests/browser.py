"""Debian's chromium driven by Playwright, for the browser tests.

``make test`` installs chromium; a missing browser is a failure with a clear message, not a
skip, so CI cannot pass without running these tests.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = "/usr/bin/chromium"
# Without the background-networking flags chromium keeps trying hosts this machine cannot reach.
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@contextmanager
def chromium() -> Iterator[Any]:
    """A launched browser. Enter it only after the test's database work: Playwright's sync API
    runs an event loop of its own, and ORM access inside would open a second (leaked)
    connection."""
    if not shutil.which(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs Debian's chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield browser
        finally:
            browser.close()


def logged_in_page(
    browser: Any,
    base: str,
    username: str,
    password: str,
    *,
    locale: str = "zh-CN",
    viewport: dict[str, int] | None = None,
) -> tuple[Any, Any, list[str]]:
    """A new context and page of ``browser`` logged in as ``username`` through the login
    form at ``base``; the third item collects the page's script errors."""
    context = browser.new_context(
        locale=locale, viewport=viewport or {"width": 1200, "height": 1000}
    )
    page = context.new_page()
    page.set_default_timeout(60_000)  # CI machines can be busy
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{base}/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit].primary")
    return context, page, errors
