"""The national overview in a real browser: a national user on a desktop and a phone, in
Chinese and English, drills from the nation to a province and back through the breadcrumb."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth import get_user_model

from tests.browser import chromium, logged_in_page
from tests.dashboard import data
from tests.dashboard.test_national import SECOND, add_second_province

SHOTS = Path(os.environ.get("RURALWATCH_SCREENSHOT_DIR", "/tmp"))

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


def test_national_overview_desktop_and_phone(live_server, transactional_db, tmp_path: Path) -> None:
    data.build_tree(tmp_path)
    add_second_province(tmp_path)
    get_user_model().objects.create_superuser("nation", password="pw-nation-123")
    with chromium() as browser:
        for locale, viewport in (
            ("zh-CN", {"width": 1200, "height": 1000}),
            ("en-US", {"width": 390, "height": 844}),
        ):
            _walk(browser, live_server.url, locale, viewport)


def _walk(browser: Any, base: str, locale: str, viewport: dict[str, int]) -> None:
    context, page, errors = logged_in_page(
        browser, base, "nation", "pw-nation-123", locale=locale, viewport=viewport
    )
    english = locale.startswith("en")
    # The browser's language decides the first page's (Accept-Language); the switch in the
    # header changes it.
    page.wait_for_selector(
        "h1#national:has-text('National')" if english else "h1#national:has-text('全国')"
    )
    if not english:
        page.click("form.lang button[value=en]")
        page.wait_for_selector("h1#national:has-text('National')")
        page.click("form.lang button[value=zh-hans]")
        page.wait_for_selector("h1#national:has-text('全国')")
    for chart in ("#map", "#curve"):
        page.wait_for_selector(f"{chart}[data-rendered='true'] svg", timeout=30_000)
    # The ranking lists both provinces, the higher 7-day incidence first.
    rows = page.locator("table.children tbody tr")
    assert rows.count() == 2
    assert SECOND in rows.nth(0).inner_text()
    # Nothing wider than the window, on the phone as on the desktop.
    overflow = page.evaluate("document.scrollingElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, overflow
    page.screenshot(path=str(SHOTS / f"national-{locale}-{viewport['width']}.png"), full_page=True)
    # Drill down to a province and back up through the breadcrumb.
    page.click(f"tr[data-href$='/area/{data.PROVINCE}/'] th a")
    page.wait_for_selector("h1:has-text('测试省')")
    page.click("nav.crumbs a[href^='/']:first-child")
    page.wait_for_selector("h1#national")
    assert not errors, errors
    context.close()
