"""Tasks from their causes: one task per cause, owners by level, idempotent, auto-close."""

from __future__ import annotations

import datetime as dt

import pytest

from ruralwatch.assessments.models import Judgement
from ruralwatch.dispatch.models import EventKind, Status, Task, TaskEvent, TaskKind
from ruralwatch.dispatch.services import act, report_due_date, sync_tasks
from ruralwatch.keygroups.models import Person, Referral
from ruralwatch.reporting.models import Submission
from ruralwatch.signals.models import Signal
from tests.dashboard import data
from tests.dispatch import conftest as _fixtures
from tests.dispatch.conftest import (
    DAY6,
    T0,
    TOWN2,
    VILLAGE2,
    add_signal,
    hours,
    set_value,
)

# The tree is built once for this module; each test's writes are rolled back.
tree = _fixtures.shared_tree

DAY7 = data.DAY7


def _task(kind: str, area: str) -> Task:
    return Task.objects.get(kind_id=kind, area_id=area)


def test_report_due_date_follows_the_deadline_in_local_time() -> None:
    # DAY7's reports are due 2023-01-08 12:00 in Shanghai = 04:00 UTC.
    assert report_due_date(dt.datetime(2023, 1, 8, 3, 59, tzinfo=dt.UTC)) == DAY6
    assert report_due_date(dt.datetime(2023, 1, 8, 4, 0, tzinfo=dt.UTC)) == DAY7


def _rebound_judgement(
    area: str,
    day: dt.date,
    rebound: dict[str, str],
    *,
    detected: bool = True,
    text: tuple[str, str] = ("", ""),
    **evidence: object,
) -> None:
    """A township's judgement with the rebound watch's evidence ``rebound``."""
    Judgement.objects.create(
        area_id=area,
        indicator_id="new_cases",
        date=day,
        level="low",
        phase="growth" if detected else "steady_decline",
        rebound_detected=detected,
        text_zh=text[0],
        text_en=text[1],
        evidence={"rebound": rebound, **evidence},
    )


def _every_cause() -> None:
    """A cause of each source the tree can hold (no key area, no facility here)."""
    add_signal(data.TOWN_A, DAY7)  # township signal → township health centre
    add_signal(data.COUNTY, DAY6)  # county signal (kind owned by townships) → the county itself
    add_signal(data.A1, DAY7, single=True)  # single death → county CDC, 2 h
    set_value(data.A1, DAY7, "kg_overdue", 10)  # 10 of 100 overdue: > 2 and > 5 %
    set_value(data.A1, DAY7, "kg_registered", 100)
    set_value(data.B1, DAY7, "kg_overdue", 4)  # 4 of 100: under 5 %, no task
    set_value(data.B1, DAY7, "kg_registered", 100)
    _rebound_judgement(
        data.TOWN_B,
        DAY7,
        {"event": "new_year", "event_start": "2023-01-01", "onset_date": "2023-01-05"},
        text=("节后回升", "rebound"),
        sum7=4,
    )


def test_every_source_makes_one_task_with_its_owner_and_deadlines(tree: None) -> None:
    _every_cause()
    summary = sync_tasks(DAY7, now=T0)
    assert summary.created == {
        "signal": 2,
        "single_case": 1,
        "rebound": 1,
        "missing_report": 2,  # A2 and the second county's village
        "overdue_contacts": 1,
        "open_referral": 0,
        "support_request": 0,  # no key area here (tests/keyareas)
        "key_area_rise": 0,
        "stock_out": 0,  # no facility registered here (tests/resources)
        "capacity_gap": 0,
    }
    town = _task("signal", data.TOWN_A)
    assert (town.owner_area_id, town.owner_level, town.owner_role) == (data.TOWN_A, 4, "township")
    assert town.owner_path == f"/{data.PROVINCE}/{data.PREFECTURE}/{data.COUNTY}/{data.TOWN_A}/"
    assert town.source_key == f"signal:{town.source_id}:{data.TOWN_A}:{DAY7.isoformat()}"
    assert town.due_ack == hours(24) and town.due_done == hours(72)
    assert town.evidence["observed"] == 9.0 and town.evidence["threshold"] == 6.5
    county = _task("signal", data.COUNTY)
    assert (county.owner_area_id, county.owner_level, county.owner_role) == (
        data.COUNTY,
        3,
        "county",
    )
    single = _task("single_case", data.A1)
    assert (single.owner_area_id, single.owner_role) == (data.COUNTY, "county")
    assert single.due_ack == hours(2) and single.priority == 1
    missing = _task("missing_report", data.A2)
    assert (missing.owner_area_id, missing.date) == (data.TOWN_A, DAY7)
    assert missing.evidence["last_report"] == DAY6.isoformat()
    assert _task("missing_report", VILLAGE2).owner_area_id == TOWN2
    overdue = _task("overdue_contacts", data.A1)
    assert (overdue.owner_area_id, overdue.owner_role) == (data.A1, "village_doctor")
    assert overdue.evidence["overdue"] == 10 and overdue.evidence["registered"] == 100
    rebound = _task("rebound", data.TOWN_B)
    assert rebound.owner_area_id == data.COUNTY
    assert rebound.source_key == f"rebound:{data.TOWN_B}:new_year:2023-01-01"
    assert rebound.evidence["rebound"]["onset_date"] == "2023-01-05"
    assert TaskEvent.objects.filter(kind=EventKind.CREATED).count() == Task.objects.count() == 7


def test_sync_twice_creates_nothing_new(tree: None) -> None:
    add_signal(data.TOWN_A, DAY7)
    add_signal(data.A1, DAY7, single=True)
    first = sync_tasks(DAY7, now=T0)
    state = sorted(Task.objects.values_list("source_key", "status", "owner_area_id"))
    events = TaskEvent.objects.count()
    second = sync_tasks(DAY7, now=hours(1))
    third = sync_tasks(DAY7, now=T0)  # the same instant again
    assert sum(first.created.values()) == 4
    assert sum(second.created.values()) == sum(third.created.values()) == 0
    assert sum(second.auto_closed.values()) == 0
    assert sorted(Task.objects.values_list("source_key", "status", "owner_area_id")) == state
    assert TaskEvent.objects.count() == events


def test_tasks_close_themselves_when_the_cause_has_gone(tree: None) -> None:
    add_signal(data.TOWN_A, DAY7)
    add_signal(data.TOWN_B, DAY7)
    set_value(data.A1, DAY7, "kg_overdue", 10)
    sync_tasks(DAY7, now=T0)
    # The township verifies B's signal and confirms it: a human judgement stays.
    b = _task("signal", data.TOWN_B)
    from tests.dispatch.conftest import hours as h

    user = _township_b_user()
    for action, outcome in (("acknowledge", None), ("verify", None), ("outcome", "confirmed")):
        act(b, user, action, outcome=outcome, now=h(1))
    # Detection re-run: both signals are gone. A2's report arrives; A1 catches up.
    Signal.objects.all().delete()
    Submission.objects.create(
        area_id=data.A2, date=DAY7, submitted_at=hours(2), delay_hours=38.0, reporter="x"
    )
    set_value(data.A1, DAY7, "kg_overdue", 1)
    summary = sync_tasks(DAY7, now=hours(3))
    assert summary.auto_closed["signal"] == 1
    assert summary.auto_closed["missing_report"] == 1
    assert summary.auto_closed["overdue_contacts"] == 1
    a = _task("signal", data.TOWN_A)
    assert (a.status, a.auto_reason, a.closed_at) == (Status.CLOSED_AUTO, "signal_gone", hours(3))
    assert _task("signal", data.TOWN_B).status == Status.OUTCOME
    missing = _task("missing_report", data.A2)
    assert (missing.status, missing.auto_reason) == (Status.CLOSED_AUTO, "report_arrived")
    event = TaskEvent.objects.get(task=missing, kind=EventKind.AUTO_CLOSED)
    assert event.reason == "report_arrived" and event.actor is None
    # The cause never comes back as a second task for the same key.
    assert sum(sync_tasks(DAY7, now=hours(4)).created.values()) == 0


def _township_b_user():  # type: ignore[no-untyped-def]
    from ruralwatch.accounts.models import Role
    from ruralwatch.accounts.services import create_user_with_jurisdiction

    return create_user_with_jurisdiction("tb", "pw-Long-enough-123", data.TOWN_B, Role.TOWNSHIP)


def test_one_open_task_per_village_for_lasting_causes(tree: None) -> None:
    """A village still silent the next day keeps its one open task; once that is closed by
    hand, the next missed day makes a new one."""
    sync_tasks(DAY7, now=T0)
    assert Task.objects.filter(kind_id="missing_report", area_id=data.A2).count() == 1
    day8 = dt.date(2023, 1, 8)
    sync_tasks(day8, now=T0 + dt.timedelta(days=1))
    assert Task.objects.filter(kind_id="missing_report", area_id=data.A2).count() == 1
    Task.objects.filter(kind_id="missing_report").update(status=Status.CLOSED)
    sync_tasks(day8, now=T0 + dt.timedelta(days=1))
    keys = set(
        Task.objects.filter(kind_id="missing_report", area_id=data.A2).values_list(
            "source_key", flat=True
        )
    )
    assert keys == {f"missing_report:{data.A2}:2023-01-07", f"missing_report:{data.A2}:2023-01-08"}


def test_referral_without_outcome_and_inactive_kinds(tree: None) -> None:
    person = Person.objects.create(
        ref="P-1",
        name="x",
        sex="F",
        birth_date=dt.date(1940, 1, 1),
        id_enc="e",
        id_hash="h",
        id_masked="m",
        village_id=data.B1,
        registered_on=dt.date(2022, 12, 1),
    )
    old = Referral.objects.create(
        person=person,
        date=DAY7 - dt.timedelta(days=3),
        destination="township_health_centre",
        reason="low_spo2",
    )
    Referral.objects.create(
        person=person,
        date=DAY7 - dt.timedelta(days=1),
        destination="township_health_centre",
        reason="positive",
    )
    TaskKind.objects.filter(code="missing_report").update(active=False)
    summary = sync_tasks(DAY7, now=T0)
    assert summary.created["open_referral"] == 1 and "missing_report" not in summary.created
    task = Task.objects.get(kind_id="open_referral")
    assert (task.area_id, task.owner_area_id, task.source_id) == (data.B1, data.TOWN_B, old.pk)
    assert task.evidence["person"] == "P-1" and task.evidence["days_without_outcome"] == 3
    Referral.objects.filter(pk=old.pk).update(outcome="admitted", outcome_date=DAY7)
    assert sync_tasks(DAY7, now=hours(1)).auto_closed["open_referral"] == 1


def test_sync_limited_to_a_subtree(tree: None) -> None:
    add_signal(data.TOWN_A, DAY7)
    from ruralwatch.areas.models import Area

    county2 = Area.objects.get(code=TOWN2)
    summary = sync_tasks(DAY7, root_path=county2.path, now=T0)
    assert summary.created["signal"] == 0 and summary.created["missing_report"] == 1
    assert set(Task.objects.values_list("area_id", flat=True)) == {VILLAGE2}


@pytest.mark.parametrize("kind", ["signal", "single_case"])
def test_signal_kinds_split_by_method(tree: None, kind: str) -> None:
    add_signal(data.A1, DAY7, single=kind == "single_case")
    summary = sync_tasks(DAY7, now=T0)
    other = "signal" if kind == "single_case" else "single_case"
    assert summary.created[kind] == 1 and summary.created[other] == 0


def _judgement(day: dt.date, rebound: bool) -> None:
    spring = {"event": "spring_festival", "event_start": "2023-01-21"}
    _rebound_judgement(data.TOWN_A, day, spring, detected=rebound)


def test_the_judgements_kinds_apart_make_what_one_sync_makes(tree: None) -> None:
    # The cycle on its workers makes the tasks in two parts: every kind but the rebound
    # watch's while the assessment runs, the rebound watch's after it.
    _every_cause()

    def made() -> list[tuple[object, ...]]:
        rows = Task.objects.values_list(
            "kind_id", "area_id", "date", "source_key", "owner_area_id", "due_ack", "evidence"
        )
        return sorted(rows, key=repr)

    beside = sync_tasks(DAY7, now=T0, judgements=False)
    assert "rebound" not in beside.created and beside.created["signal"] == 2
    assert Task.objects.filter(kind_id="rebound").count() == 0
    after = sync_tasks(DAY7, now=T0, judgements=True)
    assert after.created == {"rebound": 1}
    assert after.open == Task.objects.count() == 7
    halves = made()
    TaskEvent.objects.all().delete()
    Task.objects.all().delete()
    whole = sync_tasks(DAY7, now=T0)
    assert whole.created == beside.created | after.created
    assert made() == halves


def test_rebound_task_once_per_festival_and_closed_when_the_watch_stops(tree: None) -> None:
    TaskKind.objects.filter(code="missing_report").update(active=False)
    day8, day9 = DAY7 + dt.timedelta(days=1), DAY7 + dt.timedelta(days=2)
    _judgement(DAY7, True)
    _judgement(day8, True)  # still firing the next day: the same cause
    assert sync_tasks(DAY7, now=T0).created["rebound"] == 1
    assert sync_tasks(day8, now=hours(24)).created["rebound"] == 0
    _judgement(day9, False)
    summary = sync_tasks(day9, now=hours(48))
    task = Task.objects.get(kind_id="rebound")
    assert summary.auto_closed["rebound"] == 1
    assert (task.status, task.auto_reason) == (Status.CLOSED_AUTO, "rebound_ended")


def test_signal_evidence_is_the_json_of_its_values(tree: None) -> None:
    # The sync writes a signal's evidence as JSON text itself (the parameters as stored): it
    # must read back as the dict json.dumps would have written, whole and tiny floats, NULL,
    # and parameters with nesting, non-ASCII text, quotes, backslashes and tabs included.
    signal = add_signal(data.TOWN_A, DAY7)
    params = {"k": 1, "alpha": 0.05, "名": '值 "q" \\ \t', "nested": {"a": [1, 2.5, None]}}
    Signal.objects.filter(pk=signal.pk).update(
        observed=12.0, expected=1e-07, threshold=None, score=2.5e20, params=params
    )
    sync_tasks(DAY7, now=T0)
    evidence = _task("signal", data.TOWN_A).evidence
    assert evidence == {
        "method": "ears-c1",
        "indicator": "new_cases",
        "date": DAY7.isoformat(),
        "observed": 12.0,
        "expected": 1e-07,
        "threshold": None,
        "score": 2.5e20,
        "params": params,
        "rule": signal.rule_id,
    }
    assert isinstance(evidence["observed"], float)


def test_a_cause_made_into_a_task_meanwhile_is_skipped(
    tree: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A concurrent sync may make a cause into a task after this one looked for the known
    # keys: the insert then breaks the unique key, the rows go in again skipping it, and the
    # new tasks' ids and events are read back.
    from ruralwatch.dispatch import services

    add_signal(data.TOWN_A, DAY7)
    assert sync_tasks(DAY7, now=T0).created["signal"] == 1
    add_signal(data.TOWN_A, DAY6)
    # both looks for known keys (the read's own, in the database, and the one before the
    # insert) made before the other sync's commit
    monkeypatch.setattr(services, "_not_tasked", lambda rows: rows)
    monkeypatch.setattr(services, "_known", lambda kind, causes: set())
    assert sync_tasks(DAY7, now=hours(1)).created["signal"] == 1
    tasks = Task.objects.filter(kind_id="signal").order_by("date")
    assert [t.date for t in tasks] == [DAY6, DAY7]
    assert all(t.events.filter(kind=EventKind.CREATED).count() == 1 for t in tasks)


def test_the_causes_read_leaves_out_those_already_made_into_tasks(tree: None) -> None:
    # The signals' and the rebound watch's reads leave out, in the database, the causes whose
    # key is a task's already, by a key built in SQL: it must be the key the task is stored
    # under, the rebound's fallbacks (no festival named, no start) included, or yesterday's
    # causes would be read again every morning.
    from ruralwatch.dispatch import services

    _every_cause()
    for town, rebound in (
        (data.TOWN_A, {"event": "", "onset_date": "2023-01-05"}),  # "event", the onset
        (TOWN2, {}),  # "event", the judgement's date
    ):
        _rebound_judgement(town, DAY7, rebound)
    start = DAY7 - dt.timedelta(days=7)

    def causes(code: str) -> list[str]:
        plan = services._plan(TaskKind.objects.get(code=code), DAY7, start, "/", T0)
        assert plan is not None
        return sorted(c.key for c in plan[2]())

    kinds = ("signal", "single_case", "rebound")
    before = {code: causes(code) for code in kinds}
    assert before["rebound"] == [
        f"rebound:{data.TOWN_A}:event:2023-01-05",
        f"rebound:{data.TOWN_B}:new_year:2023-01-01",
        f"rebound:{TOWN2}:event:{DAY7.isoformat()}",
    ]
    assert len(before["signal"]) == 2 and len(before["single_case"]) == 1
    sync_tasks(DAY7, now=T0)
    for code in kinds:
        stored = Task.objects.filter(kind_id=code).values_list("source_key", flat=True)
        assert sorted(stored) == before[code]
        assert causes(code) == []
