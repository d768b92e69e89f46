"""The daily form in a real browser (Debian's chromium, Playwright) on a 390x844 phone.

A doctor opens the form, the network goes away, the doctor fills in and sends the report
(it waits in the phone's queue), reloads the page (served by the service worker with no
network), the network comes back, and exactly one report is stored. A doubled sending stores
one. A day signed off by the township refuses the change and shows why.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone

from ruralwatch.reporting.models import FormReport, ReportValue, Submission
from ruralwatch.reporting.signoff import approve_day
from tests.browser import chromium
from tests.reporting.intake_world import FAST_HASHERS, PASSWORD, build

SHOTS = Path(os.environ.get("RURALWATCH_SCREENSHOT_DIR", "/tmp"))

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


def _phone(browser: Any, base: str) -> tuple[Any, Any]:
    context = browser.new_context(
        locale="zh-CN",
        viewport={"width": 390, "height": 844},
        is_mobile=True,
        has_touch=True,
        service_workers="allow",
    )
    page = context.new_page()
    page.set_default_timeout(60_000)
    page.goto(f"{base}/accounts/login/?next=/intake/")
    page.fill("input[name=username]", "doc1")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit].primary")
    page.wait_for_selector("#in-form")
    return context, page


def _fill(page: Any, new_cases: str) -> None:
    for box in page.locator(".in-unknown input").all():
        box.uncheck()
    for box in page.locator(".in-field input[type=number]").all():
        box.fill("0")
    page.fill("input[name=v_new_cases]", new_cases)
    page.check("input[name=u_deaths]")  # not known


def _one_writer_at_a_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """On SQLite the test database is in memory and Django's live server shares the test's one
    connection between its request threads: two sendings at once (the page and the service
    worker's Background Sync, as here) would interleave their transactions on that single
    connection, which no deployment does (each thread has its own connection and SQLite
    serialises writers). Serialise them as SQLite would; the second must still be answered
    as a duplicate of the first."""
    from django.db import connection

    from ruralwatch.intake import views

    if connection.vendor != "sqlite":
        return
    lock = threading.Lock()
    submit = views.submit_day

    def serialised(*args: Any, **kwargs: Any) -> Any:
        with lock:
            return submit(*args, **kwargs)

    monkeypatch.setattr(views, "submit_day", serialised)


def test_offline_report_reload_online_one_report(
    live_server: Any, transactional_db: None, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.PASSWORD_HASHERS = FAST_HASHERS
    _one_writer_at_a_time(monkeypatch)
    world = build()
    village = world.villages[0]
    today = timezone.localdate()
    with chromium() as browser:
        context, page = _phone(browser, live_server.url)
        assert page.url.endswith(f"/intake/report/{village.code}/")
        page.wait_for_function("navigator.serviceWorker.controller !== null || true")
        page.evaluate("navigator.serviceWorker.ready.then(() => true)")
        page.reload()  # now controlled by the service worker, which keeps a copy of the page
        page.wait_for_function("navigator.serviceWorker.controller !== null")
        assert page.evaluate("document.documentElement.scrollWidth") <= 390

        context.set_offline(True)
        _fill(page, "3")
        page.tap("#in-send")
        page.wait_for_selector("#in-queue:not([hidden])")
        assert page.inner_text("#in-queue-count") == "1"
        assert not FormReport.objects.exists()
        page.screenshot(path=str(SHOTS / "intake_offline_queued.png"), full_page=True)

        response = page.reload()  # no network: the service worker answers
        assert response is not None and response.from_service_worker
        page.wait_for_selector("#in-queue:not([hidden])")
        assert page.inner_text("#in-queue-count") == "1"
        assert not FormReport.objects.exists()

        context.set_offline(False)
        page.evaluate("window.dispatchEvent(new Event('online'))")
        page.wait_for_function("document.getElementById('in-queue').hidden")
        # The page and the service worker's Background Sync may both send; the queue empties at
        # the first answer. Under a loaded machine give the other request time to finish, then
        # hold the claim: exactly one report.
        deadline = time.monotonic() + 10
        while FormReport.objects.count() == 0 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert FormReport.objects.count() == 1
        assert Submission.objects.filter(area=village, date=today).count() == 1
        stored = dict(
            ReportValue.objects.filter(area=village, date=today).values_list(
                "indicator_id", "value"
            )
        )
        assert stored["new_cases"] == 3 and "deaths" not in stored

        # A doubled sending (two taps; and the same request sent twice) stores one report.
        page.goto(f"{live_server.url}/intake/report/{village.code}/")
        _fill(page, "3")
        page.fill("input[name=reason]", "复核")
        # Online, the validation rules are checked before sending: 3 new cases without a
        # positive test is shown first, and nothing is sent.
        page.tap("#in-send")
        page.wait_for_selector("#in-check:not([hidden]) [data-rule=cases_le_positives]")
        assert FormReport.objects.count() == 1
        page.fill("input[name=v_antigen_pos]", "3")
        page.evaluate(
            "document.getElementById('in-send').click(); document.getElementById('in-send').click()"
        )
        page.wait_for_selector("#in-done")
        page.wait_for_function("document.getElementById('in-queue').hidden")
        assert FormReport.objects.count() == 2  # the second report of the day, once
        # The same sending arriving twice (a retry after a lost answer): stored once.
        answers = page.evaluate(
            """async () => {
                const f = document.getElementById('in-form');
                const values = {};
                f.querySelectorAll('.in-field').forEach((x) => { values[x.dataset.code] = 1; });
                const body = JSON.stringify({key: 'double-0001', date: f.elements.date.value,
                  values, reporter: 'x', reason: 'retry'});
                const token = document.cookie.match(/csrftoken=([^;]+)/)[1];
                const send = () => fetch(f.action, {method: 'POST', body,
                  headers: {'Content-Type': 'application/json', 'X-CSRFToken': token}});
                const first = await send();
                const second = await send();
                return [first.status, second.status];
            }"""
        )
        assert answers == [201, 200]
        assert FormReport.objects.count() == 3
        context.close()


def test_signed_off_day_refuses_with_reason(
    live_server: Any, transactional_db: None, settings: Any
) -> None:
    settings.PASSWORD_HASHERS = FAST_HASHERS
    world = build()
    today = timezone.localdate()
    approve_day(world.township, today, user=world.users["township"], now=timezone.now())
    with chromium() as browser:
        context, page = _phone(browser, live_server.url)
        assert world.township.name in page.inner_text("#in-lock")
        _fill(page, "5")
        page.fill("input[name=v_pcr_pos]", "5")
        page.tap("#in-send")
        page.wait_for_selector("#in-refused")
        text = page.inner_text("#in-refused")
        assert world.township.name in text and today.isoformat() in text and "锁定" in text
        page.screenshot(path=str(SHOTS / "intake_locked.png"), full_page=True)
        assert not FormReport.objects.exists()
        assert page.inner_text("#in-queue-count") == "0"  # refused, not left waiting
        context.close()
