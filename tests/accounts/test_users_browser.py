"""User management in a real browser (Debian's chromium driven by Playwright): a county user
finds the page from the top bar, creates a village cadre with a generated password and
deactivates a village doctor, on a desktop and on a phone, in zh-Hans and English."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth import get_user_model

from tests.accounts.conftest import PASSWORD
from tests.browser import chromium
from tests.dashboard import data

SHOTS = Path(os.environ.get("RURALWATCH_SCREENSHOTS", "/tmp/ruralwatch-users"))
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1366, "height": 900}

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


def _login(browser: Any, base: str, locale: str, viewport: dict[str, int]) -> Any:
    context = browser.new_context(locale=locale, viewport=viewport)
    page = context.new_page()
    page.set_default_timeout(60_000)
    page.goto(f"{base}/accounts/login/")
    page.fill("input[name=username]", "county")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit].primary")
    page.wait_for_load_state()
    return page


def test_create_and_deactivate_on_desktop_and_phone(
    live_server: Any, people: dict[str, Any]
) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    doctor_b1 = people["doctor_b1"].pk
    with chromium() as browser:
        # Desktop, zh-Hans: from the top bar to the page; create a cadre with a generated password.
        page = _login(browser, live_server.url, "zh-CN", DESKTOP)
        page.click("header a:has-text('用户')")
        page.wait_for_selector("h1:has-text('用户')")
        assert page.locator("li.acc-user").count() == 5
        page.click("summary:has-text('创建用户')")
        page.fill("input[name=username]", "new_cadre")
        page.select_option("select[name=role]", "village_cadre")
        page.fill("input[name=area]", data.A2)
        page.click("form button.primary:has-text('创建')")
        page.wait_for_selector("code.acc-password")
        password = page.inner_text("code.acc-password").strip()
        assert "已创建 new_cadre" in page.inner_text(".acc-created")
        assert page.locator("li.acc-user").count() == 6
        page.screenshot(path=str(SHOTS / "desktop-zh.png"), full_page=True)

        # Phone, English: deactivate a village doctor in two taps.
        page = _login(browser, live_server.url, "en-US", PHONE)
        page.goto(f"{live_server.url}/accounts/users/")
        card = page.locator("li.acc-user", has_text="doctor_b1")
        card.locator("summary").click()
        card.locator("button.danger").click()
        page.wait_for_selector(".acc-messages li:has-text('doctor_b1 is deactivated')")
        card = page.locator("li.acc-user", has_text="doctor_b1")
        assert "deactivated" in card.inner_text() and "by county" in card.inner_text()
        page.screenshot(path=str(SHOTS / "phone-en.png"), full_page=True)
        # Nothing on the page is wider than the phone.
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]

        # Phone, zh-Hans, with an error kept in the form; desktop, English.
        page = _login(browser, live_server.url, "zh-CN", PHONE)
        page.goto(f"{live_server.url}/accounts/users/")
        page.click("summary:has-text('创建用户')")
        page.fill("input[name=username]", "far")
        page.select_option("select[name=role]", "village_doctor")
        page.fill("input[name=area]", "110102001001")
        page.click("form button.primary")
        page.wait_for_selector(".acc-create .errors")
        assert "没有这个地区" in page.inner_text(".acc-create")
        page.screenshot(path=str(SHOTS / "phone-zh.png"), full_page=True)
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        page = _login(browser, live_server.url, "en-US", DESKTOP)
        page.goto(f"{live_server.url}/accounts/users/")
        page.screenshot(path=str(SHOTS / "desktop-en.png"), full_page=True)

    User = get_user_model()
    assert User.objects.get(username="new_cadre").check_password(password)
    assert not User.objects.get(pk=doctor_b1).is_active
    assert not User.objects.filter(username="far").exists()
