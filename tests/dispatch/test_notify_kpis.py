"""Notifications on each channel, the inbox's query bound, and the accountability figures on a
small example computed by hand."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

import pytest
from django.core import mail
from django.test.utils import override_settings

from ruralwatch.areas.models import Area
from ruralwatch.dispatch import notify
from ruralwatch.dispatch.models import Notification, Task
from ruralwatch.dispatch.selectors import accountability, inbox, unread_count
from ruralwatch.dispatch.services import act, escalate_due, mark_read, remind_due, sync_tasks
from ruralwatch.reporting.models import Submission
from tests.dashboard import data
from tests.dispatch import conftest as _fixtures
from tests.dispatch.conftest import T0, add_signal, hours

# The tree (and users) are built once for this module; each test's writes are rolled back.
tree = _fixtures.shared_tree
users = _fixtures.shared_users

DAY7 = data.DAY7
DAY6 = DAY7 - dt.timedelta(days=1)


class Collect:
    sent: list[tuple[str, str]] = []

    def send(self, user: Any, text: str) -> None:
        Collect.sent.append((user.get_username(), text))


def test_in_app_notifications_and_unread_count(users: dict) -> None:
    add_signal(data.TOWN_A, DAY7)
    summary = sync_tasks(DAY7, now=T0)
    # Township A owns the signal and A2's missing report: two notices for its user.
    assert summary.notified == {"inapp": 2}  # the second county's township has no user
    town = users["town_a"]
    texts = list(Notification.objects.filter(user=town).values_list("text", flat=True))
    assert len(texts) == 2 and unread_count(town) == 2
    assert all("甲镇" in t or "甲二村" in t for t in texts)
    assert unread_count(users["county"]) == 0
    escalate_due(hours(24))  # both escalate to the county, which is told
    assert unread_count(users["county"]) >= 1
    assert mark_read(town) == 2 and unread_count(town) == 0


@override_settings(
    RURALWATCH_NOTIFY_CHANNELS=["email", "sms"],
    RURALWATCH_SMS_BACKEND="tests.dispatch.test_notify_kpis.Collect",
)
def test_email_digest_and_sms_per_user(users: dict) -> None:
    Collect.sent = []
    add_signal(data.TOWN_A, DAY7)
    summary = sync_tasks(DAY7, now=T0)
    assert summary.notified == {"email": 1, "sms": 1}
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["town_a@example.org"]
    assert len(message.body.splitlines()) == 2  # the signal and the missing report
    assert Collect.sent and Collect.sent[0][0] == "town_a"
    assert not Notification.objects.exists()  # in-app is not configured here


@override_settings(RURALWATCH_NOTIFY_CHANNELS=["sms"])
def test_sms_logging_backend(users: dict, caplog: pytest.LogCaptureFixture) -> None:
    add_signal(data.TOWN_A, DAY7)
    with caplog.at_level(logging.INFO, logger="ruralwatch.dispatch.sms"):
        sync_tasks(DAY7, now=T0)
        remind_due(hours(22.5))
    lines = [r.getMessage() for r in caplog.records if r.name == "ruralwatch.dispatch.sms"]
    assert len(lines) == 2 and all(line.startswith("SMS to town_a: ") for line in lines)


@override_settings(RURALWATCH_NOTIFY_CHANNELS=["pigeon"])
def test_unknown_channel_is_named() -> None:
    with pytest.raises(ValueError, match="pigeon"):
        notify.channels()


def test_inbox_order_and_query_bound(users: dict, django_assert_max_num_queries: Any) -> None:
    for day in range(1, 8):
        add_signal(data.TOWN_A, dt.date(2023, 1, day))
        add_signal(data.TOWN_B, dt.date(2023, 1, day))
    add_signal(data.A1, DAY7, single=True)
    sync_tasks(DAY7, now=T0)
    county = users["county"]
    county.refresh_from_db()  # no cached profile
    with django_assert_max_num_queries(4):
        box = inbox(county, hours(30))
        rows = [(t.kind.code, t.area.name, t.owner_area.name) for t in box["mine"] + box["below"]]
    assert [t.kind_id for t in box["mine"]] == ["single_case"]
    # 7 + 7 township signals and A2's missing report are past their deadlines.
    assert len(box["below"]) == 15 and len(rows) == 16
    deadlines = [t.deadline for t in box["below"]]
    assert deadlines == sorted(deadlines)


def test_accountability_figures_by_hand(users: dict) -> None:
    """Four counted tasks in the county; acknowledgement and outcome hours chosen so the
    quartiles are easy to check (numpy's linear interpolation):

    ====  =========  ===========  ============  =================
    task  source     ack (h)      outcome (h)   outcome
    ====  =========  ===========  ============  =================
    s1    signal A   1            5             confirmed
    s2    signal A   30           40            excluded
    c1    single A1  1.5          3             suspected
    s3    signal B   —            —             (escalated, open)
    ====  =========  ===========  ============  =================

    A2's missing report closed itself before anyone acknowledged it: not counted.
    """
    add_signal(data.TOWN_A, DAY6)  # s1
    add_signal(data.TOWN_A, DAY7)  # s2
    add_signal(data.A1, DAY7, single=True)  # c1
    add_signal(data.TOWN_B, DAY7)  # s3
    sync_tasks(DAY7, now=T0)
    s1 = Task.objects.get(area_id=data.TOWN_A, date=DAY6)
    s2 = Task.objects.get(area_id=data.TOWN_A, date=DAY7, kind_id="signal")
    c1 = Task.objects.get(kind_id="single_case")
    town, county = users["town_a"], users["county"]
    act(s1, town, "acknowledge", now=hours(1))
    act(s1, town, "verify", now=hours(2))
    act(s1, town, "outcome", outcome="confirmed", now=hours(5))
    act(c1, county, "acknowledge", now=hours(1.5))
    act(c1, county, "verify", now=hours(2))
    act(c1, county, "outcome", outcome="suspected", now=hours(3))
    Submission.objects.create(
        area_id=data.A2, date=DAY7, submitted_at=hours(9), delay_hours=45.0, reporter="x"
    )
    sync_tasks(DAY7, now=hours(10))  # A2's task closes itself
    escalate_due(hours(25))  # s2 and s3 go to the county
    act(s2, county, "acknowledge", now=hours(30))
    act(s2, county, "verify", now=hours(31))
    act(s2, county, "outcome", outcome="excluded", now=hours(40))

    root = Area.objects.get(code=data.COUNTY)
    figures = accountability(root, hours(-1), hours(24), now=hours(50))
    overall = figures["overall"]
    assert (overall["tasks"], overall["counted"], overall["auto_closed"]) == (5, 4, 1)
    assert overall["response_rate"] == pytest.approx(3 / 4)
    assert overall["ack_hours"] == pytest.approx({"p25": 1.25, "median": 1.5, "p75": 15.75})
    assert overall["done_hours"] == pytest.approx({"p25": 4.0, "median": 5.0, "p75": 22.5})
    assert overall["within_2h"] == 1.0 and overall["single_case"] == 1
    assert overall["within_24h"] == pytest.approx(1 / 3) and overall["temporal"] == 3
    assert overall["yield"] == pytest.approx(1 / 3)
    assert (overall["confirmed"], overall["suspected"], overall["excluded"]) == (1, 1, 1)
    assert overall["overdue"] == 1  # s3, never acknowledged
    assert overall["escalated"] == 2  # s2 and s3
    assert figures["by_kind_status"] == {
        "missing_report": {"closed_auto": 1},
        "signal": {"new": 1, "outcome": 2},
        "single_case": {"outcome": 1},
    }
    levels = {row["level"]: row for row in figures["by_level"]}
    assert levels[3]["tasks"] == 3 and levels[4]["tasks"] == 2  # s2, c1, s3 | s1, A2
    ranking = [(row["code"], row["overdue"], row["role"]) for row in figures["lagging"]]
    assert ranking == [(data.TOWN_B, 1, "township"), (data.TOWN_A, 0, "township")]
    assert figures["lagging"][0]["holders"] == [
        {"user": "town_b", "role": "township", "role_label": "乡镇卫生院"}
    ]
    # A period without these tasks has none; another county's figures do not include them.
    assert accountability(root, hours(24), hours(48), hours(50))["overall"]["tasks"] == 0
    other = Area.objects.get(code="110102000000")
    assert accountability(other, hours(-1), hours(24), hours(50))["overall"]["tasks"] == 1


class Broken:
    name = "broken"

    def send(self, messages: Any) -> int:
        raise ConnectionError("mail server down")


@override_settings(RURALWATCH_NOTIFY_CHANNELS=["tests.dispatch.test_notify_kpis.Broken", "inapp"])
def test_a_failing_channel_neither_stops_the_others_nor_undoes_the_tasks(
    users: dict, caplog: pytest.LogCaptureFixture
) -> None:
    add_signal(data.TOWN_A, DAY7)
    with caplog.at_level(logging.ERROR, logger="ruralwatch.dispatch.notify"):
        summary = sync_tasks(DAY7, now=T0)
    assert summary.notified == {"broken": 0, "inapp": 2}
    assert Task.objects.count() == 3 and unread_count(users["town_a"]) == 2
    assert any("broken" in r.getMessage() for r in caplog.records)
