"""The key-group pages in a real browser (Debian's chromium driven by Playwright).

A village doctor on a phone-sized screen sees the overdue person first, taps "well" and
the row leaves the overdue list without a page load (htmx swaps the server's sections); the
contact method chosen above the list is the one stored, "positive" asks first, a refused
reading shows its reason in the row; a county user opens the area page and drills down to a
township (htmx: URL pushed, no page load, the language switch follows).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from ruralwatch.keygroups.models import Contact
from tests.browser import chromium
from tests.keygroups.test_pages import COUNTY, FAST_HASHERS, PASSWORD, TOWN_A, build_world

SHOTS = Path(os.environ.get("RURALWATCH_SCREENSHOT_DIR", "/tmp"))

# live_server needs a transactional database, which is flushed afterwards; serialized rollback
# restores the rows data migrations load (indicators, key groups, rules) for later tests.
pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


def _log_in(page: Any, username: str) -> None:
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit].primary")


def test_doctor_phone_and_county_drill_down(
    live_server: Any, transactional_db: None, tmp_path: Path, settings: Any
) -> None:
    settings.PASSWORD_HASHERS = FAST_HASHERS
    world = build_world(tmp_path)
    overdue_ref, due_ref = str(world["overdue"].ref), str(world["due"].ref)
    with chromium() as browser:
        _doctor_taps_well(browser, live_server.url, overdue_ref, due_ref)
        _county_drills_down(browser, live_server.url)


def _doctor_taps_well(browser: Any, base: str, overdue_ref: str, due_ref: str) -> None:
    context = browser.new_context(
        locale="zh-CN",
        viewport={"width": 390, "height": 844},
        is_mobile=True,
        has_touch=True,
        device_scale_factor=2,
    )
    page = context.new_page()
    page.set_default_timeout(60_000)  # CI machines can be busy
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    outside: list[str] = []
    page.on("request", lambda r: outside.append(r.url) if not r.url.startswith(base) else None)

    page.goto(f"{base}/keygroups/today/")
    assert "/accounts/login/" in page.url
    _log_in(page, "doc_a1")
    page.wait_for_selector("h1:has-text('今日联系')")
    assert page.url.endswith("/keygroups/today/")

    overdue_rows = page.locator("#overdue .kg-rows > li")
    assert overdue_rows.count() == 1
    assert overdue_rows.first.get_attribute("data-ref") == overdue_ref  # overdue comes first
    assert page.locator("#due .kg-rows > li").first.get_attribute("data-ref") == due_ref
    # Phone layout: nothing wider than the screen, buttons large enough to tap.
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    well = page.locator(f"#row-{overdue_ref} button[value=well]")
    box = well.bounding_box()
    assert box is not None and box["height"] >= 44
    page.screenshot(path=str(SHOTS / "kg_today.png"), full_page=True)

    page.evaluate("window.__sameDocument = true")
    well.tap()
    page.wait_for_selector(f"#done #row-{overdue_ref}")
    assert page.locator("#overdue .kg-rows > li").count() == 0
    assert page.inner_text("#overdue .count") == "0"
    assert page.locator("#overdue .empty").is_visible()
    assert page.inner_text("#done .count") == "1"
    assert page.get_attribute(f"#row-{overdue_ref}", "data-due") == "ok"
    assert page.evaluate("window.__sameDocument === true")  # no page load
    page.screenshot(path=str(SHOTS / "kg_today_after.png"), full_page=True)

    # A reload shows the same state from the server.
    page.reload()
    page.wait_for_selector(f"#done #row-{overdue_ref}")
    assert page.locator("#overdue .kg-rows > li").count() == 0

    # The method chosen above the list is the one stored.
    page.evaluate("window.__sameDocument = true")
    page.check("input[name=kg-method][value=visit]")
    page.locator(f"#row-{due_ref} button[value=symptoms]").tap()
    page.wait_for_selector(f"#done #row-{due_ref}")
    assert Contact.objects.filter(person__ref=due_ref).latest("id").method == "visit"
    assert page.is_checked("input[name=kg-method][value=visit]")  # the choice stays

    # A reading without a value is refused; the reason shows in the row, nothing is stored.
    n = Contact.objects.count()
    page.locator(f"#row-{due_ref} button[value=spo2]").tap()
    box = page.locator(f"#row-{due_ref} .kg-error")
    box.wait_for(state="visible")
    assert "血氧" in box.inner_text() and Contact.objects.count() == n

    # "Positive" asks first: dismissed, nothing is stored; accepted, the person turns red.
    asked: list[str] = []

    def answer(dialog: Any, accept: bool) -> None:
        asked.append(dialog.message)
        dialog.accept() if accept else dialog.dismiss()

    page.once("dialog", lambda d: answer(d, False))
    page.locator(f"#row-{due_ref} button[value=positive]").tap()
    page.wait_for_timeout(500)
    assert len(asked) == 1 and Contact.objects.count() == n
    page.once("dialog", lambda d: answer(d, True))
    page.locator(f"#row-{due_ref} button[value=positive]").tap()
    page.wait_for_selector(f"#row-{due_ref}.tier-red")
    assert len(asked) == 2 and "张奶奶" in asked[0]
    assert Contact.objects.count() == n + 1
    assert page.evaluate("window.__sameDocument === true")  # still no page load
    page.screenshot(path=str(SHOTS / "kg_today_positive.png"), full_page=True)

    # The person page and the registration form fit the phone too.
    page.click(f"#row-{due_ref} .kg-name a")
    page.wait_for_selector("#log-contact")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.screenshot(path=str(SHOTS / "kg_person.png"), full_page=True)
    page.goto(f"{base}/keygroups/register/")
    page.wait_for_selector("form.kg-form")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.screenshot(path=str(SHOTS / "kg_register.png"), full_page=True)
    # The day's list in English fits the phone as well.
    page.goto(f"{base}/keygroups/today/")
    page.click("form.lang button[value=en]")
    page.wait_for_selector('h1:has-text("Today\'s contacts")')
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.screenshot(path=str(SHOTS / "kg_today_en.png"), full_page=True)
    assert errors == [] and outside == []
    context.close()


def _county_drills_down(browser: Any, base: str) -> None:
    context = browser.new_context(locale="zh-CN", viewport={"width": 1200, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(60_000)  # CI machines can be busy
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))

    page.goto(f"{base}/keygroups/area/{COUNTY}/")
    _log_in(page, "county")
    page.wait_for_selector("h1:has-text('测试县')")
    assert page.locator("table.children tbody tr").count() == 2
    page.screenshot(path=str(SHOTS / "kg_area.png"), full_page=True)

    page.evaluate("window.__sameDocument = true")
    page.click(f"tr[data-href$='/keygroups/area/{TOWN_A}/'] td.num >> nth=0")
    page.wait_for_selector("h1:has-text('甲镇')")
    assert page.url.endswith(f"/keygroups/area/{TOWN_A}/")
    assert page.evaluate("window.__sameDocument === true")  # fragment swap
    assert page.locator("table.children tbody tr").count() == 2  # two villages
    assert "甲一村" in page.inner_text("main")

    # The breadcrumb goes back up without a page load; the title follows the page.
    assert "甲镇" in page.title()
    page.click(f"nav.crumbs a[href$='/keygroups/area/{COUNTY}/']")
    page.wait_for_selector("h1:has-text('测试县')")
    assert page.evaluate("window.__sameDocument === true")
    page.click(f"table.children a[href$='/keygroups/area/{TOWN_A}/']")
    page.wait_for_selector("h1:has-text('甲镇')")

    # The language switch after a drill-down stays on the page shown.
    page.click("form.lang button[value=en]")
    page.wait_for_selector("h2:has-text('Coverage by tier')")
    assert page.url.endswith(f"/keygroups/area/{TOWN_A}/")
    page.screenshot(path=str(SHOTS / "kg_area_town_en.png"), full_page=True)

    page.goto(f"{base}/keygroups/area/{COUNTY}/")
    page.wait_for_selector("h2:has-text('Coverage by tier')")
    page.screenshot(path=str(SHOTS / "kg_area_en.png"), full_page=True)
    assert errors == []
    context.close()
