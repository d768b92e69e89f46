"""The briefing in a real browser (Debian's chromium driven by Playwright): from the area page
to the archive, issue a briefing with the button, download the PDF and check its bytes; the
page on a phone and on a desktop, in Chinese and in English (screenshots kept for review)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from ruralwatch.accounts.services import create_user_with_jurisdiction
from ruralwatch.briefings.models import Briefing
from tests.browser import chromium
from tests.dashboard import data

SHOTS = Path(os.environ.get("RURALWATCH_SCREENSHOT_DIR", "/tmp"))

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


def test_issue_and_download_from_the_page(live_server, transactional_db, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    data.build_tree(tmp_path)
    create_user_with_jurisdiction("county", "pw-county-123", data.COUNTY, "county")
    base = live_server.url
    with chromium() as browser:
        context = browser.new_context(
            locale="zh-CN", viewport={"width": 390, "height": 844}, accept_downloads=True
        )
        page = context.new_page()
        page.set_default_timeout(90_000)
        page.goto(f"{base}/accounts/login/?next=/area/{data.COUNTY}/")
        page.fill("input[name=username]", "county")
        page.fill("input[name=password]", "pw-county-123")
        page.click("button[type=submit].primary")
        page.click("#briefings-link")
        page.wait_for_selector("h1:has-text('调度简报')")
        page.select_option("#b-format", "pdf")
        page.click("button[type=submit].primary")
        page.wait_for_selector("table.briefings a[download]")
        page.screenshot(path=str(SHOTS / "briefings-phone-zh.png"), full_page=True)
        with page.expect_download() as info:
            page.click("table.briefings a[download]")
        download = info.value
        saved = tmp_path / download.suggested_filename
        download.save_as(saved)
        assert saved.read_bytes()[:5] == b"%PDF-"
        digest = hashlib.sha256(saved.read_bytes()).hexdigest()
        page.set_viewport_size({"width": 1366, "height": 900})
        page.click("button[lang=en]")
        page.wait_for_selector("h1:has-text('Scheduling-meeting briefings')")
        page.screenshot(path=str(SHOTS / "briefings-desktop-en.png"), full_page=True)
        context.close()
    b = Briefing.objects.get()
    assert (b.area_id, b.format, b.language, b.sha256) == (data.COUNTY, "pdf", "zh-hans", digest)
    assert saved.name == b.filename
