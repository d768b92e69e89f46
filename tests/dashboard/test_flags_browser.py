"""The outlier flags in chromium (issue 13, item 5): on a 1440×900 desktop and a 390×844
phone, in Chinese and English, the county page shows the flags panel with the standing flags,
a ring in the children's table, and the village page a ring on its curve; no card is cut at
the right edge, no sideways scrolling, no console error or warning. Screenshots go to
``RURALWATCH_SCREENSHOT_DIR`` (default /tmp)."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import Any

import pytest

from ruralwatch.accounts.services import create_user_with_jurisdiction
from ruralwatch.intake.models import OutlierFlag
from ruralwatch.reporting.services import roll_up
from tests.browser import chromium
from tests.dashboard import data
from tests.dashboard.test_browser_issue12 import CLIPPED, VIEWPORTS

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

SHOTS = Path(os.environ.get("RURALWATCH_SCREENSHOT_DIR", "/tmp"))
WORDS = {
    "zh-CN": ("被标记的数值", "待报告人确认", "已确认无误"),
    "en-GB": ("Flagged values", "to be confirmed", "confirmed as reported"),
}


#: The village curve's ring and the chart's own box, read at the same moment.
BOXES = """() => [
  document.querySelector('#curve svg path[aria-roledescription="point"]'),
  document.querySelector('#curve'),
].map((el) => {
  const r = el.getBoundingClientRect();
  return {x: r.x + window.scrollX, y: r.y + window.scrollY, width: r.width, height: r.height};
})"""


def _flag(area: str, day: dt.date, indicator: str, value: float, status: str) -> None:
    OutlierFlag.objects.create(
        area_id=area,
        date=day,
        indicator=indicator,
        value=value,
        method="seasonal",
        score=7.5,
        baseline=1.2,
        scale=1.0,
        status=status,
        flagged_at=data.NOW,
    )


def _log_in(browser: Any, base: str, locale: str, size: tuple[int, int]) -> tuple[Any, Any, list]:
    context = browser.new_context(locale=locale, viewport={"width": size[0], "height": size[1]})
    page = context.new_page()
    page.set_default_timeout(60_000)
    console: list[str] = []
    page.on("pageerror", lambda exc: console.append(f"pageerror {exc}"))
    page.on(
        "console",
        lambda m: console.append(f"{m.type} {m.text}") if m.type in ("error", "warning") else None,
    )
    page.goto(f"{base}/accounts/login/")
    page.fill("input[name=username]", "flags_browser")
    page.fill("input[name=password]", "pw-flags-browser-123")
    page.click("button[type=submit].primary")
    page.wait_for_load_state("networkidle")
    return context, page, console


def _charts_drawn(page: Any) -> None:
    page.wait_for_function(
        "() => [...document.querySelectorAll('.chart[data-spec]')].every(el => el.dataset.rendered)"
    )


def test_flags_panel_table_and_curve_on_desktop_and_phone(live_server: Any, tmp_path: Path) -> None:
    data.build_tree(tmp_path)
    roll_up(data.DAY1, data.DAY7)
    _flag(data.B1, data.DAY7, "new_cases", 4, "open")
    _flag(data.A1, data.DAY7 - dt.timedelta(days=2), "new_cases", 1, "confirmed")
    create_user_with_jurisdiction("flags_browser", "pw-flags-browser-123", data.COUNTY, "county")
    day = data.DAY7.isoformat()
    problems: list[str] = []
    with chromium() as browser:
        for locale, words in WORDS.items():
            for device, size in VIEWPORTS.items():
                tag = f"{locale}-{device}"
                context, page, console = _log_in(browser, live_server.url, locale, size)
                page.goto(f"{live_server.url}/area/{data.COUNTY}/?date={day}")
                page.wait_for_selector("#flags-panel")
                _charts_drawn(page)
                panel = page.inner_text("#flags-panel")
                problems += [f"{tag}: no {w!r} in the panel" for w in words if w not in panel]
                rows = page.locator("#flags-panel tbody tr").count()
                if rows != 2:
                    problems.append(f"{tag}: {rows} flag rows, not 2")
                # Rings beside both townships' counts (each holds one standing flag).
                marks = page.locator("#children .flag-mark").count()
                if marks != 2:
                    problems.append(f"{tag}: {marks} rings in the children's table, not 2")
                problems += [f"{tag}: {p}" for p in page.evaluate(CLIPPED)]
                page.screenshot(path=str(SHOTS / f"flags_county_{tag}.png"), full_page=True)
                # The village's curve: one ring, on day 7, in the chart's own box.
                page.goto(f"{live_server.url}/area/{data.B1}/?date={day}")
                page.wait_for_selector("#curve[data-rendered=true] svg")
                # The panels come after the page and move the curve down when they arrive:
                # wait for them, then take both boxes in one go.
                page.wait_for_selector("#panels[data-loaded]")
                ring = page.locator('#curve svg path[aria-roledescription="point"]')
                if ring.count() != 1:
                    problems.append(f"{tag}: {ring.count()} rings on the village curve, not 1")
                else:
                    # (the centre: chromium's box of a stroked SVG path is wider than it)
                    box, chart = page.evaluate(BOXES)
                    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
                    inside = chart["x"] < x < chart["x"] + chart["width"]
                    if not (inside and chart["y"] < y < chart["y"] + chart["height"]):
                        problems.append(f"{tag}: the ring's centre outside the chart {box} {chart}")
                problems += [f"{tag} village: {p}" for p in page.evaluate(CLIPPED)]
                page.screenshot(path=str(SHOTS / f"flags_village_{tag}.png"), full_page=True)
                problems += [f"{tag}: {c}" for c in console]
                context.close()
    assert problems == [], "\n".join(problems)
