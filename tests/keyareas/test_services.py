"""Key-area tags (import, the level above, the default derivation), the watch on real areas,
and support requests tracked, escalated and closed by dispatch."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from ruralwatch.areas.models import Area
from ruralwatch.core.problems import ImportRejected
from ruralwatch.dispatch.models import AutoReason, Status, Task
from ruralwatch.dispatch.services import escalate_due, sync_tasks
from ruralwatch.keyareas import selectors, services
from ruralwatch.keyareas.models import Pairing, RequestStatus, TagChange, TagSource
from tests.keyareas.conftest import (
    COUNTY,
    DAY,
    FOREST,
    NOW,
    OUT_COUNTY,
    P1,
    P2,
    P3,
    PASTURE,
    TOWN,
    tag_pasture,
    write_csv,
)

pytestmark = pytest.mark.django_db


def tags_of(*codes: str) -> dict[str, str]:
    return dict(Area.objects.filter(code__in=codes).values_list("code", "key_areas"))


# --- tags ----------------------------------------------------------------------------------------


def test_default_derivation_from_real_names(world: Any) -> None:
    county = Area.objects.get(code=COUNTY)
    found = {d.code: (d.tags, d.rule) for d in services.derive_tags(county)}
    # 康保牧场 is a pasture and 屯垦林场 a forest farm by name; the pasture's rural villages
    # inherit its tag, its village with urban-rural code 123 and the forest farm's do not.
    assert found == {
        PASTURE: ("pastoral", "name"),
        FOREST: ("forest", "name"),
        P1: ("pastoral", "inherited"),
        P3: ("pastoral", "inherited"),
    }
    assert services.apply_derivation(county) == 4
    assert tags_of(PASTURE, P1, P2, P3)[P2] == ""
    assert TagChange.objects.filter(source=TagSource.DERIVED).count() == 4
    assert services.derive_tags(county) == []  # tagged areas are never suggested again


def test_import_rejects_every_bad_row_and_writes_nothing(world: Any, tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "bad.csv",
        [
            ["区划代码", "三区一岛", "支援单位"],
            [PASTURE, "pastoral", P1],  # 2: the support unit lies inside the key area
            [P1, "desert", ""],  # 3: unknown tag
            ["130723999999", "forest", ""],  # 4: unknown area
            [P3, "mountain", TOWN],  # 5 and 6: P3 twice
            [P3, "", ""],
            [TOWN, "", "130723000999"],  # 7: unknown support unit, and no tags
            [FOREST, "forest", PASTURE],  # 8: the support unit is a key area (after row 2)
        ],
    )
    with pytest.raises(ImportRejected) as info:
        services.import_tags(path)
    where = {(p.row, p.column) for p in info.value.problems}
    assert where == {
        (2, "support_unit"),
        (3, "key_areas"),
        (4, "code"),
        (5, "code"),
        (6, "code"),
        (7, "support_unit"),
        (8, "support_unit"),
    }
    assert all(p.file == "bad.csv" for p in info.value.problems)
    text = info.value.render()
    assert "desert" in text and "130723999999" in text
    assert set(tags_of(PASTURE, P1, P3, FOREST).values()) == {""}
    assert not Pairing.objects.exists()


def test_import_sets_tags_and_pairing_idempotently(world: Any, tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "tags.csv",
        [
            ["code", "key_areas", "support_unit"],
            [PASTURE, "Pastoral、forest", TOWN],
            [P1, " pastoral ", ""],
        ],
    )
    s = services.import_tags(path)
    assert (s.rows, s.updated, s.pairings, s.tagged) == (2, 2, 1, 2)
    assert tags_of(PASTURE, P1) == {PASTURE: "pastoral,forest", P1: "pastoral"}
    assert Pairing.objects.get(key_area_id=PASTURE).support_unit_id == TOWN
    again = services.import_tags(path)
    assert (again.updated, again.unchanged, again.pairings) == (0, 2, 0)
    # Clearing the tags ends the pairing.
    services.import_tags(write_csv(tmp_path / "clear.csv", [["code", "key_areas"], [PASTURE, ""]]))
    assert not Pairing.objects.filter(key_area_id=PASTURE).exists()


def test_import_by_a_user_is_scoped_to_below_their_level(
    world: Any, users: dict[str, Any], tmp_path: Path
) -> None:
    outside = Area.objects.filter(path__startswith=Area.objects.get(code=OUT_COUNTY).path).last()
    assert outside is not None
    path = write_csv(
        tmp_path / "scoped.csv",
        [["code", "key_areas"], [P1, "pastoral"], [COUNTY, "mountain"], [outside.code, "forest"]],
    )
    with pytest.raises(ImportRejected) as info:
        services.import_tags(path, user=users["county"])
    assert {(p.row, p.column) for p in info.value.problems} == {(3, "code"), (4, "code")}
    with pytest.raises(PermissionDenied):
        services.import_tags(path, user=users["doctor"])


def test_the_level_above_sets_tags(world: Any, users: dict[str, Any]) -> None:
    pasture, p1 = Area.objects.get(code=PASTURE), Area.objects.get(code=P1)
    assert services.set_tags(users["county"], pasture, ["island", "pastoral"]) == "pastoral,island"
    assert services.set_tags(users["pasture"], p1, ["pastoral"]) == "pastoral"
    for user, area in (
        (users["pasture"], pasture),  # its own level: no
        (users["doctor"], p1),  # village roles set nothing
        (users["leader"], p1),  # the county leader reads
        (users["outside"], p1),  # not in the jurisdiction
    ):
        with pytest.raises(PermissionDenied):
            services.set_tags(user, area, ["forest"])
    with pytest.raises(ValidationError):
        services.set_tags(users["county"], pasture, ["desert"])
    change = TagChange.objects.filter(area_id=PASTURE).get()
    assert (change.before, change.after, change.source) == ("", "pastoral,island", "page")


# --- the watch -----------------------------------------------------------------------------------


def test_watch_on_real_areas(world: Any, tmp_path: Path) -> None:
    tag_pasture(tmp_path)
    rows, params = selectors.watch_rows(Area.objects.get(code=COUNTY).path, DAY)
    by = {r.code: r for r in rows}
    assert set(by) == {PASTURE, P1, P2, P3}
    assert (by[P1].status, by[P1].observed, by[P1].days_since_first) == ("first_case", 1, 0)
    assert by[P1].first_case_date == DAY
    assert (by[P2].status, by[P2].observed, by[P2].days_since_first) == ("rising", 3, 2)
    assert (by[P3].status, by[P3].days_since_first) == ("low", None)
    # the pasture: 4 cases in a week against a baseline of none (its own pool, level 4)
    assert (by[PASTURE].status, by[PASTURE].observed) == ("rising", 4)
    assert all(r.completeness == 1.0 for r in rows)
    assert by[PASTURE].support_code == TOWN
    # three villages × 28 days × 1,000 people without a case: the rule of three
    assert by[P1].limit == pytest.approx(2.995732 / (3 * 28 * 1000) * 7 * 1000, rel=1e-5)
    assert params["window"] == 7 and params["alpha"] == 0.05
    # The village doctor's own view of P1: the same pool, the same numbers.
    (own,), _ = selectors.watch_rows(Area.objects.get(code=P1).path, DAY)
    assert (own.code, own.status, own.limit) == (P1, "first_case", by[P1].limit)
    # a day before the cases: every key area still low
    before, _ = selectors.watch_rows(Area.objects.get(code=COUNTY).path, DAY - dt.timedelta(3))
    assert {r.status for r in before} == {"low"}


def test_panel_counts(world: Any, tmp_path: Path) -> None:
    tag_pasture(tmp_path)
    p = selectors.panel(Area.objects.get(code=COUNTY), DAY)
    assert p["count"] == 4
    assert p["by_status"] == {"no_reports": 0, "low": 1, "first_case": 1, "rising": 2}
    assert p["by_tag"]["pastoral"] == 4
    assert [r.status for r in p["rows"]] == ["rising", "rising", "first_case", "low"]
    s = selectors.summary(Area.objects.get(code=COUNTY), DAY)
    assert s["count"] == 4 and s["paired"] == 1 and len(s["watched"]) == 3
    assert selectors.panel(Area.objects.get(code=OUT_COUNTY), DAY)["count"] == 0


# --- dispatch ------------------------------------------------------------------------------------


def test_rise_and_first_case_become_county_tasks(world: Any, tmp_path: Path) -> None:
    tag_pasture(tmp_path)
    s = sync_tasks(DAY, now=NOW)
    assert s.created["key_area_rise"] == 3  # the pasture, P1 (first case), P2 (rising)
    tasks = Task.objects.filter(kind_id="key_area_rise")
    assert {t.area_id for t in tasks} == {PASTURE, P1, P2}
    assert {(t.owner_area_id, t.owner_role) for t in tasks} == {(COUNTY, "county")}
    ev = tasks.get(area_id=P2).evidence
    assert ev["method"] == "keyarea-exact-poisson" and ev["status"] == "rising"
    assert ev["observed"] == 3 and ev["params"]["quiet_days"] == 14
    assert sync_tasks(DAY, now=NOW).created["key_area_rise"] == 0  # idempotent
    # P2's cases were a typo: corrected to zeros, P2 is low again and its task closes itself.
    from ruralwatch.reporting.models import ReportValue

    ReportValue.objects.filter(area_id=P2, indicator_id="new_cases").update(value=0)
    later = sync_tasks(DAY, now=NOW + dt.timedelta(hours=1))
    assert later.auto_closed["key_area_rise"] == 1
    closed = Task.objects.get(kind_id="key_area_rise", area_id=P2)
    assert (closed.status, closed.auto_reason) == (Status.CLOSED_AUTO, AutoReason.KEY_AREA_QUIET)


def test_support_request_goes_to_the_paired_unit_and_escalates(
    world: Any, users: dict[str, Any], tmp_path: Path
) -> None:
    tag_pasture(tmp_path)
    p1 = Area.objects.get(code=P1)
    with pytest.raises(ValidationError):  # P1 itself has no paired unit
        services.file_request(users["doctor"], p1, "oxygen", now=NOW)
    pasture = Area.objects.get(code=PASTURE)
    with pytest.raises(PermissionDenied):  # the village doctor does not speak for the pasture
        services.file_request(users["doctor"], pasture, "oxygen", now=NOW)
    req = services.file_request(
        users["pasture"], pasture, "oxygen", quantity=2, note="两台制氧机", hours=6, now=NOW
    )
    assert req.support_unit_id == TOWN and req.respond_by == NOW + dt.timedelta(hours=6)
    sync_tasks(DAY, now=NOW + dt.timedelta(minutes=5))
    task = Task.objects.get(kind_id="support_request")
    assert (task.area_id, task.owner_area_id, task.owner_role) == (PASTURE, TOWN, "township")
    assert task.due_ack == NOW + dt.timedelta(hours=2)  # the kind's 2 h from the filing
    assert task.due_done == req.respond_by
    assert task.evidence["need"] == "oxygen" and task.evidence["quantity"] == 2
    # Nobody acknowledges: two hours later it moves up to the county.
    assert escalate_due(NOW + dt.timedelta(hours=1))["escalated"] == 0
    assert escalate_due(NOW + dt.timedelta(hours=2, minutes=1))["escalated"] == 1
    task.refresh_from_db()
    assert (task.owner_area_id, task.owner_role, task.escalations) == (COUNTY, "county", 1)
    # Only the support unit's side answers; then the task closes itself.
    with pytest.raises(PermissionDenied):
        services.answer_request(users["doctor"], req, "…")
    with pytest.raises(ValidationError):
        services.answer_request(users["town"], req, "  ")
    services.answer_request(users["town"], req, "两台制氧机今日16时送达", now=NOW)
    with pytest.raises(ValidationError):
        services.answer_request(users["town"], req, "again")
    s = sync_tasks(DAY, now=NOW + dt.timedelta(hours=3))
    assert s.auto_closed["support_request"] == 1
    task.refresh_from_db()
    assert task.auto_reason == AutoReason.REQUEST_ANSWERED
    req.refresh_from_db()
    assert req.status == RequestStatus.ANSWERED


def test_pairing_rules(world: Any, users: dict[str, Any], tmp_path: Path) -> None:
    tag_pasture(tmp_path)
    pasture = Area.objects.get(code=PASTURE)
    with pytest.raises(ValidationError):
        services.set_pairing(users["county"], pasture, P1)  # inside the key area
    with pytest.raises(ValidationError):
        services.set_pairing(users["county"], pasture, OUT_COUNTY)  # not in the jurisdiction
    with pytest.raises(PermissionDenied):
        services.set_pairing(users["town"], pasture, TOWN)  # not the level above
    assert services.set_pairing(users["county"], pasture, COUNTY).support_unit_id == COUNTY


def test_the_worker_turns_a_request_into_a_task_within_a_tick(
    world: Any, users: dict[str, Any], tmp_path: Path
) -> None:
    """A request for oxygen must not wait for tomorrow's cycle: the worker's next tick gives
    the paired unit its task, and the tick after the answer closes it."""
    from ruralwatch.cycle.worker import Worker

    tag_pasture(tmp_path)
    pasture = Area.objects.get(code=PASTURE)
    req = services.file_request(users["pasture"], pasture, "oxygen", quantity=1, now=NOW)
    w = Worker(cycle=False)
    done = w.tick(NOW + dt.timedelta(minutes=1))
    assert done["support"]["created"] == 1
    task = Task.objects.get(kind_id="support_request")
    assert (task.area_id, task.owner_area_id) == (PASTURE, TOWN)
    assert w.tick(NOW + dt.timedelta(minutes=2))["support"]["created"] == 0  # idempotent
    services.answer_request(users["town"], req, "已送达", now=NOW + dt.timedelta(minutes=3))
    assert w.tick(NOW + dt.timedelta(minutes=4))["support"]["auto_closed"] == 1
