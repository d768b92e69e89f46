"""Issue 12's dashboard in a real browser (Debian's chromium through Playwright), for a county
and a province user, on a desktop (1440×900) and a phone (390×844): every chart drawn, no
console error or warning (Vega's included), no card or tile cut at the right edge, the date
picker in the site frame changing the numbers, the no-data state of a date outside the data.
Screenshots go to $RURALWATCH_SCREENSHOTS (default /tmp/ruralwatch-shots)."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest

from ruralwatch.accounts.services import create_user_with_jurisdiction
from ruralwatch.assessments.models import Judgement
from tests.browser import chromium
from tests.dashboard import data
from tests.dashboard.test_issue12 import EVIDENCE

SHOTS = Path(os.environ.get("RURALWATCH_SCREENSHOTS", "/tmp/ruralwatch-shots"))
VIEWPORTS = {"desktop": (1440, 900), "phone": (390, 844)}

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

#: Boxes of every card, tile and table wrapper that end beyond the viewport's right edge (or
#: start left of 0), and the page's own horizontal overflow.
CLIPPED = """() => {
  const width = document.documentElement.clientWidth;
  const out = [];
  for (const el of document.querySelectorAll(
      '.card, .kpi, .kpis, .headline, .evidence-block, .scroll, .pager, .topbar, .crumbs')) {
    const box = el.getBoundingClientRect();
    if (box.width === 0) continue;
    if (box.right > width + 0.5 || box.left < -0.5) {
      out.push(`${el.className || el.tagName} ${Math.round(box.left)}..${Math.round(box.right)}`);
    }
  }
  for (const el of document.querySelectorAll('.kpi, .evidence-block dd, .evidence-block dt')) {
    if (el.scrollWidth > el.clientWidth + 1) out.push(`text cut in ${el.className || el.tagName}`);
  }
  const page = document.documentElement.scrollWidth;
  if (page > width + 0.5) out.push(`page ${page} > ${width}`);
  return out;
}"""


def _tile(page: Any, code: str) -> str:
    return page.inner_text(f'li.kpi[data-kpi="{code}"] .kpi-value').strip()


def _wait_for_charts(page: Any) -> None:
    page.wait_for_function(
        "() => [...document.querySelectorAll('.chart[data-spec]')]"
        ".every(el => el.dataset.rendered)",
        timeout=60_000,
    )
    assert page.locator(".chart[data-rendered='error']").count() == 0


def test_county_and_province_users_on_desktop_and_phone(
    live_server: Any, transactional_db: None, tmp_path: Path
) -> None:
    data.build_tree(tmp_path)
    Judgement.objects.create(
        area_id=data.COUNTY,
        indicator_id="new_cases",
        date=data.DAY7,
        level="medium",
        phase="steady_decline",
        text_zh="疫情处于中等水平，呈稳步下降态势。",
        text_en="The epidemic is at a medium level and declining steadily.",
        evidence=EVIDENCE,
    )
    create_user_with_jurisdiction("county", "pw-county-123", data.COUNTY, "county")
    create_user_with_jurisdiction("province", "pw-province-123", data.PROVINCE, "province")
    SHOTS.mkdir(parents=True, exist_ok=True)
    problems: list[str] = []
    with chromium() as browser:
        for user, name in (("county", "测试县"), ("province", "测试省")):
            for device, (width, height) in VIEWPORTS.items():
                problems += _walk(browser, live_server.url, user, name, device, width, height)
    assert problems == [], "\n".join(problems)


def _walk(
    browser: Any, base: str, user: str, name: str, device: str, width: int, height: int
) -> list[str]:
    context = browser.new_context(
        locale="zh-CN", viewport={"width": width, "height": height}, accept_downloads=True
    )
    page = context.new_page()
    page.set_default_timeout(60_000)
    console: list[str] = []
    page.on("pageerror", lambda exc: console.append(f"pageerror {exc}"))
    page.on(
        "console",
        lambda msg: (
            console.append(f"{msg.type} {msg.text}") if msg.type in ("error", "warning") else None
        ),
    )
    page.goto(f"{base}/accounts/login/")
    page.fill("input[name=username]", user)
    page.fill("input[name=password]", f"pw-{user}-123")
    page.click("button[type=submit].primary")
    page.wait_for_selector(f"h1:has-text('{name}')")
    _wait_for_charts(page)
    tag = f"{user}-{device}"
    problems = [f"{tag}: {p}" for p in page.evaluate(CLIPPED)]
    page.screenshot(path=str(SHOTS / f"dashboard-{tag}.png"), full_page=True)

    if user == "county":
        # The evidence panel opens and reads as words; the table is sorted by a click.
        page.click("#evidence summary")
        text = page.inner_text("#evidence")
        if "{'" in text or "None" in text or "日增长率" not in text:
            problems.append(f"{tag}: evidence panel reads {text[:80]!r}")
        problems += [f"{tag} (evidence): {p}" for p in page.evaluate(CLIPPED)]
        page.screenshot(path=str(SHOTS / f"dashboard-{tag}-evidence.png"), full_page=True)
        page.click("table.children thead a.sort:has-text('名称')")
        page.wait_for_url(re.compile(r"sort=name"))
        rows = page.locator("table.children tbody th").all_inner_texts()
        if rows != sorted(rows):
            problems.append(f"{tag}: sorted by name gives {rows}")
        _wait_for_charts(page)
        if device == "desktop":
            # Print: no picker, pager or download links; the evidence opened by the page.
            page.emulate_media(media="print")
            for hidden in ("#asof-picker", ".pager", ".indicator-picker"):
                if page.locator(hidden).first.is_visible():
                    problems.append(f"{tag}: {hidden} is printed")
            page.screenshot(path=str(SHOTS / f"dashboard-{tag}-print.png"), full_page=True)
            page.emulate_media(media="screen")

    # The date picker in the site frame changes the numbers (and the URL carries the day).
    before = _tile(page, "new_cases")
    assert page.input_value("#asof-date") == "2023-01-07"
    page.fill("#asof-date", "2023-01-05")
    page.click("#asof-picker button[type=submit]")
    page.wait_for_url(re.compile(r"date=2023-01-05"))
    page.wait_for_selector(f"h1:has-text('{name}')")
    _wait_for_charts(page)
    after = _tile(page, "new_cases")
    # County: 23 cases in 01-01…01-07, 15 in 12-30…01-05 (A1 5, A2 10, B1 0); the province
    # has the same villages.
    if (before, after) != ("23", "15"):
        problems.append(f"{tag}: new cases {before} -> {after}, expected 23 -> 15")
    problems += [f"{tag} (2023-01-05): {p}" for p in page.evaluate(CLIPPED)]

    # A date outside the data: said plainly, nothing drawn, no Vega warning.
    page.goto(f"{base}/?date=2031-01-01")
    page.wait_for_selector("#no-data")
    if "2023-01-07" not in page.inner_text("#no-data"):
        problems.append(f"{tag}: the no-data state does not name the latest date")
    problems += [f"{tag} (no data): {p}" for p in page.evaluate(CLIPPED)]
    page.screenshot(path=str(SHOTS / f"dashboard-{tag}-nodata.png"), full_page=True)
    page.goto(f"{base}/?date=latest")
    page.wait_for_selector("#kpis")
    problems += [f"{tag}: console {c}" for c in console]
    context.close()
    return problems
