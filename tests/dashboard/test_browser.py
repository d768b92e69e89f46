"""The dashboard in a real browser (Debian's chromium driven by Playwright).

Logs in, waits for vega-embed to draw the map and the curve from the local bundle, drills
down by clicking a row, drills up through the breadcrumb and switches the language.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest

from ruralwatch.accounts.services import create_user_with_jurisdiction
from tests.browser import chromium
from tests.dashboard import data

SCREENSHOT = Path(os.environ.get("RURALWATCH_SCREENSHOT", "/tmp/dashboard.png"))

# live_server needs a transactional database, which is flushed afterwards; serialized rollback
# restores the rows data migrations load (indicators, key groups, rules) for later tests.
pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


def _wait_for_charts(page) -> None:
    for chart in ("#map", "#curve"):
        page.wait_for_selector(f"{chart}[data-rendered='true'] svg", timeout=30_000)


def test_login_map_curve_drill_down_and_language(
    live_server, transactional_db, tmp_path: Path
) -> None:
    data.build_tree(tmp_path)
    create_user_with_jurisdiction("county", "pw-county-123", data.COUNTY, "county")
    with chromium() as browser:
        _walk_through(browser, live_server.url)


def _walk_through(browser: Any, base: str) -> None:
    context = browser.new_context(locale="zh-CN", viewport={"width": 1200, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(60_000)  # CI machines can be busy
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))

    page.goto(f"{base}/")
    assert "/accounts/login/" in page.url
    page.fill("input[name=username]", "county")
    page.fill("input[name=password]", "pw-county-123")
    page.click("button[type=submit].primary")

    page.wait_for_selector("h1:has-text('测试县')")
    _wait_for_charts(page)
    # The county map has one circle per village (three); the table lists the two townships.
    assert page.locator("#map svg g.mark-symbol.role-mark path").count() == 3
    assert page.locator("table.children tbody tr").count() == 2
    assert page.locator("#curve svg g.mark-rect.role-mark path").count() == 7  # seven reported days
    assert page.locator("#curve svg g.mark-line.role-mark path").count() == 1
    assert "流行曲线" in page.inner_text("main")
    page.screenshot(path=str(SCREENSHOT), full_page=True)

    # Drill down: click the township's row (not its link): fragment swap, URL pushed.
    page.click("tr[data-href$='/area/110101001000/'] td.code")
    page.wait_for_selector("h1:has-text('甲镇')")
    assert page.url.endswith(f"/area/{data.TOWN_A}/")
    _wait_for_charts(page)
    assert page.locator("#map svg g.mark-symbol.role-mark path").count() == 2  # two villages
    assert page.locator("table.children tbody tr").count() == 2

    # Drill up through the breadcrumb.
    page.click("nav.crumbs a:has-text('测试县')")
    page.wait_for_selector("h1:has-text('测试县')")
    _wait_for_charts(page)

    # Switch to English: the language form posts back to the current area.
    page.click("form.lang button[value=en]")
    page.wait_for_selector("h2:has-text('Epidemic curve')")
    assert page.url.endswith(f"/area/{data.COUNTY}/")
    assert page.locator("html").get_attribute("lang") == "en"
    _wait_for_charts(page)

    assert errors == []
    outside = [u for u in requests if not u.startswith(base)]
    assert outside == []  # no CDN
    assert any(re.search(r"/static-bundle/vega\.js$", u) for u in requests)
    context.close()
