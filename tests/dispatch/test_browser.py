"""The dispatch pages in a real browser (Debian's chromium driven by Playwright).

A township user on a phone-sized screen acknowledges a signal task, starts verifying, records
"excluded" and closes it, each with one tap and without a page load (htmx swaps the row);
a county user at a desk sees a task the township left alone escalated to the county, first
in the inbox, walks the list with j / k, opens it with Enter and reads the trace and the
evidence chart. Screenshots (phone and desktop, Chinese and English) go to
``RURALWATCH_SCREENSHOT_DIR`` (default /tmp).
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone

from ruralwatch.dispatch.models import Status, Task
from ruralwatch.dispatch.services import escalate_due, sync_tasks
from tests.browser import chromium
from tests.dashboard import data
from tests.dispatch.conftest import add_signal, set_value

SHOTS = Path(os.environ.get("RURALWATCH_SCREENSHOT_DIR", "/tmp"))
PASSWORD = "pw-Long-enough-123"  # tests.dispatch.conftest's users
PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}
DESK = {"viewport": {"width": 1366, "height": 900}}

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


def _log_in(page: Any, base: str, username: str, path: str) -> None:
    page.goto(f"{base}{path}")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit].primary")
    page.wait_for_url(f"**{path}")


def _page(browser: Any, base: str, locale: str, size: dict[str, Any]) -> tuple[Any, Any, list]:
    context = browser.new_context(locale=locale, **size)
    page = context.new_page()
    page.set_default_timeout(60_000)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("request", lambda r: errors.append(r.url) if not r.url.startswith(base) else None)
    return context, page, errors


def test_township_closes_on_a_phone_and_county_sees_escalation(
    live_server: Any, users: dict[str, Any]
) -> None:
    now = timezone.now()
    for i in range(1, 8):
        set_value(data.TOWN_A, data.DAY7 - dt.timedelta(days=7 - i), "new_cases", float(i))
    # Township B's signal came 30 h ago and nobody acknowledged it: it escalates to the county.
    add_signal(data.TOWN_B, data.DAY7)
    sync_tasks(data.DAY7, now=now - dt.timedelta(hours=30))
    escalate_due(now=now)
    lost = Task.objects.get(kind_id="signal", area_id=data.TOWN_B)
    assert lost.owner_area_id == data.COUNTY and lost.escalations == 1
    # Township A's signal is new today.
    add_signal(data.TOWN_A, data.DAY7)
    sync_tasks(data.DAY7, now=now)
    task = Task.objects.get(kind_id="signal", area_id=data.TOWN_A)
    base = live_server.url
    with chromium() as browser:
        _township_phone(browser, base, task.pk)
        _county_desk(browser, base, lost.pk)
        _screenshots(browser, base, task.pk, lost.pk)
    task.refresh_from_db()
    assert task.status == Status.CLOSED and task.outcome == "excluded"
    assert [e.kind for e in task.events.order_by("at", "id")] == [
        "created",
        "acknowledged",
        "verifying",
        "outcome",
        "closed",
    ]


def _township_phone(browser: Any, base: str, pk: int) -> None:
    context, page, errors = _page(browser, base, "zh-CN", PHONE)
    _log_in(page, base, "town_a", "/dispatch/")
    row = page.locator(f"#task-{pk}")
    assert row.locator("button[value=acknowledge]").is_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    box = row.locator("button[value=acknowledge]").bounding_box()
    assert box is not None and box["height"] >= 44 and box["width"] >= 120
    page.screenshot(path=str(SHOTS / "dispatch_inbox_phone_zh.png"), full_page=True)
    page.evaluate("window.__same_page = true")
    for tap, then in (
        ("button[value=acknowledge]", "button[value=verify]"),
        ("button[value=verify]", "button[name=outcome][value=excluded]"),
        ("button[name=outcome][value=excluded]", "button[value=close]"),
    ):
        row.locator(tap).tap()
        row.locator(then).wait_for()
        assert row.locator("button[value=respond]").count() == 0  # excluded: no response
    row.locator("button[value=close]").tap()
    page.wait_for_selector(f"#task-{pk} .st-closed")
    assert page.locator(f"#task-{pk} button").count() == 0
    assert page.evaluate("window.__same_page") is True  # no page load: htmx swapped the row
    page.screenshot(path=str(SHOTS / "dispatch_inbox_phone_zh_closed.png"), full_page=True)
    assert not errors, errors
    context.close()


def _county_desk(browser: Any, base: str, lost: int) -> None:
    context, page, errors = _page(browser, base, "en-GB", DESK)
    _log_in(page, base, "county", "/dispatch/")
    row = page.locator(f"#mine #task-{lost}")
    assert "escalated 1 time" in row.inner_text()
    assert "overdue by" in row.inner_text() or "due in" in row.inner_text()
    # The keyboard: j walks the rows, Enter opens the focused one.
    page.locator("h1").click()
    rows = page.locator("tr.dp-task")
    target = next(
        i for i in range(rows.count()) if rows.nth(i).get_attribute("id") == f"task-{lost}"
    )
    for _ in range(target + 1):
        page.keyboard.press("j")
    assert page.evaluate("document.activeElement.id") == f"task-{lost}"
    page.keyboard.press("Enter")
    page.wait_for_url(f"**/dispatch/tasks/{lost}/")
    trace = page.locator(".dp-trace").inner_text()
    assert "escalated" in trace and "township health centre" in trace
    page.wait_for_selector("#signal-chart[data-rendered=true] svg")
    assert page.locator("button[value=acknowledge]").is_visible()  # the county may act now
    page.screenshot(path=str(SHOTS / "dispatch_task_desk_en.png"), full_page=True)
    assert not errors, errors
    context.close()


def _screenshots(browser: Any, base: str, pk: int, lost: int) -> None:
    """The other languages and sizes, to look at."""
    for locale, size, name, user, path in (
        ("en-GB", PHONE, "dispatch_task_phone_en.png", "town_a", f"/dispatch/tasks/{pk}/"),
        ("zh-CN", DESK, "dispatch_inbox_desk_zh.png", "county", "/dispatch/"),
        ("en-GB", DESK, "dispatch_inbox_desk_en.png", "county", "/dispatch/"),
        ("zh-CN", DESK, "dispatch_acc_desk_zh.png", "county", "/dispatch/accountability/"),
        ("en-GB", PHONE, "dispatch_acc_phone_en.png", "county", "/dispatch/accountability/"),
        ("zh-CN", PHONE, "dispatch_task_phone_zh.png", "county", f"/dispatch/tasks/{lost}/"),
    ):
        context, page, errors = _page(browser, base, locale, size)
        _log_in(page, base, user, path)
        if page.locator("[data-spec]").count():
            page.wait_for_selector("[data-spec][data-rendered=true]")
        if size is PHONE:
            assert page.evaluate("document.documentElement.scrollWidth") <= 390, name
        page.screenshot(path=str(SHOTS / name), full_page=True)
        assert not errors, (name, errors)
        context.close()
