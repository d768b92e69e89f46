# ruff: noqa: F811  (fixtures imported from the resources tests, used by name)
"""The resources and key-area panels in chromium: fetched after the county page, drawn in
Chinese and in English, on a 1440×900 desktop and a 390×844 phone, with no card cut at the
right edge, no sideways scrolling and no console error or warning."""

from __future__ import annotations

from typing import Any

import pytest

from ruralwatch.accounts.services import create_user_with_jurisdiction
from ruralwatch.synth.resources import Resources
from tests.browser import chromium
from tests.dashboard.test_browser_issue12 import CLIPPED, VIEWPORTS
from tests.resources.conftest import ON, county, loaded, region, synthetic  # noqa: F401

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

WORDS = {
    "zh-CN": ("药品与器械", "重点地区监测", "缺货"),
    "en-GB": ("Medicines and equipment", "Key areas under watch", "Out of stock"),
}


def test_panels_on_desktop_and_phone_in_both_languages(
    live_server: Any, loaded: Resources, region: Any
) -> None:
    code = county(region).code
    create_user_with_jurisdiction("panels", "pw-panels-123", code, "county")
    stock_outs = sum(1 for t in loaded.truth if t["kind"] == "stock_out")
    problems: list[str] = []
    with chromium() as browser:
        for locale, words in WORDS.items():
            for device, (width, height) in VIEWPORTS.items():
                context = browser.new_context(
                    locale=locale, viewport={"width": width, "height": height}
                )
                page = context.new_page()
                page.set_default_timeout(60_000)
                console: list[str] = []
                page.on("pageerror", lambda exc, c=console: c.append(f"pageerror {exc}"))
                page.on(
                    "console",
                    lambda m, c=console: (
                        c.append(f"{m.type} {m.text}") if m.type in ("error", "warning") else None
                    ),
                )
                page.goto(f"{live_server.url}/accounts/login/")
                page.fill("input[name=username]", "panels")
                page.fill("input[name=password]", "pw-panels-123")
                page.click("button[type=submit].primary")
                page.wait_for_load_state("networkidle")
                page.goto(f"{live_server.url}/area/{code}/?date={ON.isoformat()}")
                page.wait_for_selector("#panels[data-loaded=true] #keyareas-panel")
                tag = f"{locale}-{device}"
                text = page.inner_text("#panels")
                problems += [f"{tag}: no {w!r}" for w in words if w not in text]
                tile = page.inner_text('#resources-panel [data-kpi="stock-outs"] .kpi-value')
                if tile.strip() != str(stock_outs):
                    problems.append(f"{tag}: stock-outs {tile!r}, truth {stock_outs}")
                problems += [f"{tag}: {p}" for p in page.evaluate(CLIPPED)]
                # The two cards sit side by side on a desktop and stack on a phone.
                boxes = [
                    page.locator(sel).bounding_box()
                    for sel in ("#resources-panel", "#keyareas-panel")
                ]
                assert boxes[0] and boxes[1]
                side_by_side = abs(boxes[0]["y"] - boxes[1]["y"]) < 1
                if side_by_side != (device == "desktop"):
                    problems.append(f"{tag}: cards side by side = {side_by_side}")
                problems += [f"{tag}: {c}" for c in console]
                context.close()
    assert problems == [], "\n".join(problems)
