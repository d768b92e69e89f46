"""Issue 12 in a real browser (Debian's chromium, Playwright) at 1440×900 and 390×844:

9. the person card is not clipped (every fact's box lies inside its card and shows all of
   its text; the page does not scroll sideways);
6. the day's list pages and exports (the XLSX a browser downloads opens with openpyxl and
   matches the cards);
7. the register form's pickers search as one types (htmx) and the doctors follow the village;
8. all the form's errors show at once;
10. a 404 on a phone is the site's page, with the way on.

Screenshots go to ``RURALWATCH_SCREENSHOT_DIR`` (default /tmp).
"""

from __future__ import annotations

import datetime as dt
import io
import os
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from django.utils import timezone

from ruralwatch.accounts.services import create_user_with_jurisdiction
from ruralwatch.keygroups import services
from ruralwatch.keygroups.models import KeyGroup
from tests.browser import chromium
from tests.keygroups.test_pages import (
    A1,
    A2,
    FAST_HASHERS,
    PASSWORD,
    add_doctor_persons,
    build_world,
    id_number,
)

SHOTS = Path(os.environ.get("RURALWATCH_SCREENSHOT_DIR", "/tmp"))
DESKTOP = {"width": 1440, "height": 900}
PHONE = {"width": 390, "height": 844}

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

#: Every element of a card that holds text, its box against the card's, and whether its text
#: is cut (its content wider or taller than the box with overflow hidden, or the box outside
#: the card). Returns the offenders.
CLIPPED = """
(selector) => {
  const bad = [];
  for (const card of document.querySelectorAll(selector)) {
    const c = card.getBoundingClientRect();
    for (const el of card.querySelectorAll('dt, dd, p, span, a, .tag, .tier-badge, .due-badge')) {
      const r = el.getBoundingClientRect();
      if (r.width === 0 && r.height === 0) continue;
      const style = getComputedStyle(el);
      const cut = (el.scrollWidth > el.clientWidth + 1 && style.overflowX !== 'visible')
        || r.left < c.left - 1 || r.right > c.right + 1;
      const where = `[${Math.round(r.left)}-${Math.round(r.right)}]`
        + ` in [${Math.round(c.left)}-${Math.round(c.right)}]`;
      if (cut) bad.push(`${el.tagName}: "${el.textContent.trim().slice(0, 40)}" ${where}`);
    }
  }
  return bad;
}
"""


def _log_in(page: Any, base: str, username: str, then: str) -> None:
    page.goto(f"{base}/accounts/login/?next={then}")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit].primary")
    page.wait_for_url(f"**{then}")


def _long_world(tmp_path: Path) -> dict[str, Any]:
    """The pages' world, with a person whose card is full (long household, every group,
    guardian) and enough persons in A1 for two pages."""
    world = build_world(tmp_path)
    today = timezone.localdate()
    birth = dt.date(today.year - 79, 3, 1)
    groups = list(KeyGroup.objects.values_list("code", flat=True))
    full = services.register_person(
        name="欧阳长名字老人",
        sex="M",
        birth_date=birth,
        id_number=id_number(birth, 91),
        village=world["doctor"].area,
        groups=groups,
        phone="+86 138-0013-8000",
        household="第十二村民小组幸福路一百二十三号后院东厢房",
        doctor=world["doctor"],
        guardian_name="欧阳监护人",
        guardian_relation="儿子",
        guardian_phone="13900139000",
        comorbidity=2,
        vaccination=1,
        registered_on=today - dt.timedelta(days=30),
    )
    world["full"] = full
    add_doctor_persons(world["doctor"], 52)
    world["village_user"] = create_user_with_jurisdiction("vil_a1", PASSWORD, A1, "village_cadre")
    return world


def test_cards_lists_and_forms_in_the_browser(
    live_server: Any, transactional_db: None, tmp_path: Path, settings: Any
) -> None:
    settings.PASSWORD_HASHERS = FAST_HASHERS
    world = _long_world(tmp_path)
    full_ref = str(world["full"].ref)
    with chromium() as browser:
        for name, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
            context = browser.new_context(locale="zh-CN", viewport=viewport, accept_downloads=True)
            page = context.new_page()
            page.set_default_timeout(60_000)
            errors: list[str] = []
            _collect_errors(page, errors)
            _log_in(page, live_server.url, "doc_a1", f"/keygroups/persons/{full_ref}/")
            _person_card(page, name, viewport)
            _day_list(page, live_server.url, name, viewport)
            assert not errors, errors
            context.close()
        context = browser.new_context(locale="zh-CN", viewport=DESKTOP)
        page = context.new_page()
        page.set_default_timeout(60_000)
        _log_in(page, live_server.url, "county", "/keygroups/register/")
        _register(page, live_server.url)
        context.close()
        # On a phone: the form and an error page fit the screen and keep the site's frame.
        context = browser.new_context(locale="zh-CN", viewport=PHONE, is_mobile=True)
        page = context.new_page()
        page.set_default_timeout(60_000)
        errors = []
        _collect_errors(page, errors)
        _log_in(page, live_server.url, "county", "/keygroups/register/")
        page.fill("#id_village_q", "乙")
        _wait_option(page, "#id_village", A1, present=False)
        _no_sideways_scroll(page, PHONE)
        page.screenshot(path=str(SHOTS / "kg_register_phone.png"), full_page=False)
        page.goto(f"{live_server.url}/keygroups/persons/nobody-here/")
        assert page.locator("h1").inner_text() == "页面不存在"
        assert page.locator(".topbar .brand").is_visible()
        assert page.locator(".error-ways a[href='/accounts/start/']").is_visible()
        _no_sideways_scroll(page, PHONE)
        page.screenshot(path=str(SHOTS / "error_404_phone.png"), full_page=False)
        assert [e for e in errors if "404" not in e] == []  # the 404 itself is logged
        context.close()


def _collect_errors(page: Any, errors: list[str]) -> None:
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)


#: Whether a select lists an option (by value, or by text with ``text:``).
HAS_OPTION = """([select, want]) => [...document.querySelectorAll(select + ' option')].some(
  o => want.startsWith('text:') ? o.textContent.includes(want.slice(5)) : o.value === want)"""


def _wait_option(page: Any, select: str, want: str, present: bool = True) -> None:
    script = HAS_OPTION if present else f"(a) => !({HAS_OPTION})(a)"
    page.wait_for_function(script, arg=[select, want])


def _no_sideways_scroll(page: Any, viewport: dict[str, int]) -> None:
    assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"]


def _person_card(page: Any, name: str, viewport: dict[str, int]) -> None:
    page.wait_for_selector(".kg-facts")
    page.screenshot(path=str(SHOTS / f"kg_person_{name}.png"), full_page=True)
    assert page.evaluate(CLIPPED, ".kg-person .card") == []
    _no_sideways_scroll(page, viewport)
    # The facts the issue found cut: the age in full, the phone, the tags.
    birth = page.locator(".kg-facts div:has(dt:text('出生日期')) dd").inner_text()
    assert "岁)" in birth or "岁）" in birth, birth
    assert page.locator(".kg-facts a[href^='tel:']").first.is_visible()
    tags = page.locator(".kg-facts .tag")
    assert tags.count() >= 3
    for i in range(tags.count()):
        assert tags.nth(i).is_visible()


def _day_list(page: Any, base: str, name: str, viewport: dict[str, int]) -> None:
    page.goto(f"{base}/keygroups/today/")
    page.wait_for_selector("#overdue .kg-rows > li")
    page.screenshot(path=str(SHOTS / f"kg_today_{name}.png"), full_page=False)
    assert page.evaluate(CLIPPED, ".kg-row") == []
    _no_sideways_scroll(page, viewport)
    cards = page.locator(".kg-row").evaluate_all("els => els.map(e => e.dataset.ref)")
    assert len(cards) == 50
    with page.expect_navigation():
        page.locator(".kg-pager a[rel=next]").first.click()
    rest = page.locator(".kg-row").evaluate_all("els => els.map(e => e.dataset.ref)")
    assert rest and not set(rest) & set(cards)
    with page.expect_download() as download:
        page.locator(".kg-pager .exports a").first.click()
    workbook = openpyxl.load_workbook(io.BytesIO(Path(download.value.path()).read_bytes()))
    sheet = workbook.active
    assert sheet is not None
    refs = [row[0] for row in sheet.iter_rows(min_row=2, values_only=True)]
    assert refs == cards + rest


def _register(page: Any, base: str) -> None:
    page.wait_for_selector("#id_village_q")
    # The village picker searches as one types; the doctors follow the chosen village.
    page.fill("#id_village_q", "甲二")
    _wait_option(page, "#id_village", A1, present=False)  # the search narrowed the list
    options = page.locator("#id_village option").evaluate_all("os => os.map(o => o.value)")
    assert A2 in options
    page.select_option("#id_village", A2)
    _wait_option(page, "#id_doctor", "text:李医生", present=False)
    page.fill("#id_village_q", "")
    _wait_option(page, "#id_village", A1)
    page.select_option("#id_village", A1)
    _wait_option(page, "#id_doctor", "text:李医生")
    # Every error at once: a bad phone and a bad ID number together.
    page.fill("#id_name", "新发现")
    page.check("input[name=sex][value=M]")
    page.fill("#id_birth_date", "1948-05-06")
    good = id_number(dt.date(1948, 5, 6), 77)
    page.fill("#id_id_number", good[:-1] + ("0" if good[-1] != "0" else "1"))
    page.fill("#id_phone", "12ab")
    page.check("input[name=groups][value=age65]")
    with page.expect_navigation():
        page.click("form.kg-form button.primary")
    assert page.locator("#phone-error").is_visible()
    assert page.locator("#id_number-error").is_visible()
    page.screenshot(path=str(SHOTS / "kg_register_errors.png"), full_page=True)
