"""The key-area pages in a real browser (Debian's chromium driven by Playwright).

The pasture's township health centre, on a phone, reads its key areas (two rising, a first
case, one still low) and sends a request for oxygen to its paired unit; the paired township,
at a desk in English, finds it on its own page and answers it. No script error, no request
leaves the server. Screenshots go to ``RURALWATCH_SCREENSHOT_DIR`` (default /tmp).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from ruralwatch.keyareas.models import RequestStatus, SupportRequest
from tests.browser import chromium
from tests.keyareas.conftest import (
    DAY,
    FAST_HASHERS,
    PASSWORD,
    PASTURE,
    TOWN,
    build,
    make_users,
    tag_pasture,
)

SHOTS = Path(os.environ.get("RURALWATCH_SCREENSHOT_DIR", "/tmp"))
PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}
DESK = {"viewport": {"width": 1366, "height": 900}}

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


def _open(browser: Any, base: str, locale: str, size: dict[str, Any], user: str, path: str):  # type: ignore[no-untyped-def]
    context = browser.new_context(locale=locale, **size)
    page = context.new_page()
    page.set_default_timeout(60_000)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("request", lambda r: errors.append(r.url) if not r.url.startswith(base) else None)
    page.goto(f"{base}{path}")
    page.fill("input[name=username]", user)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit].primary")
    page.wait_for_url(f"**{path.split('?')[0]}*")
    return context, page, errors


def test_request_sent_on_a_phone_and_answered_at_a_desk(
    live_server: Any, tmp_path: Path, settings: Any
) -> None:
    settings.PASSWORD_HASHERS = FAST_HASHERS
    build(tmp_path)
    make_users()
    tag_pasture(tmp_path)
    base = live_server.url
    day = DAY.isoformat()
    with chromium() as browser:
        context, page, errors = _open(
            browser, base, "zh-CN", PHONE, "pasture", f"/keyareas/?date={day}"
        )
        table = page.locator("table.ka-table")
        assert table.locator("tr.ka-rising").count() == 2
        assert table.locator("tr.ka-first_case").count() == 1
        assert table.locator("tr.ka-low").count() == 1
        assert "出现首例" in table.inner_text() and "上升" in table.inner_text()
        page.screenshot(path=str(SHOTS / "keyareas-panel-phone-zh.png"), full_page=True)
        # the wide table scrolls inside its box: the page itself fits the phone
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        page.click(f"a[href^='/keyareas/area/{PASTURE}/']")
        page.select_option("select[name=need]", "oxygen")
        page.fill("input[name=quantity]", "1")
        page.fill("input[name=hours]", "6")
        page.click("form[action$='/request/'] button[type=submit]")
        page.wait_for_selector("ul.ka-messages")
        assert "支援请求已发给对口支援单位" in page.inner_text("ul.ka-messages")
        assert "氧气" in page.inner_text("main")
        assert not errors, errors
        context.close()

        context, page, errors = _open(
            browser, base, "en-US", DESK, "town", f"/keyareas/area/{TOWN}/"
        )
        page.wait_for_selector("input[name=answer]")
        assert "Requests to here" in page.inner_text("main")  # the browser's language
        page.fill("input[name=answer]", "One concentrator leaves at 14:00")
        page.screenshot(path=str(SHOTS / "keyareas-request-desk.png"), full_page=True)
        page.click("form[action$='/requests/answer/'] button[type=submit]")
        page.wait_for_selector("ul.ka-messages")
        assert not errors, errors
        context.close()
    req = SupportRequest.objects.get()
    assert req.status == RequestStatus.ANSWERED
    assert req.answer == "One concentrator leaves at 14:00"
