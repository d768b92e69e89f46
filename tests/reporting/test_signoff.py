"""Sign-off up the levels: a county signs after its townships, approved days are locked for
the importer too (all or nothing, the row and the reason named), unlocking goes top-down
with a reason, and the overview counts reports and approvals."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ruralwatch.areas.models import Area
from ruralwatch.core.problems import ImportRejected
from ruralwatch.reporting.models import ApprovalEvent, DayApproval, ReportValue
from ruralwatch.reporting.services import import_reports
from ruralwatch.reporting.signoff import Refused, approve_day, overview, unlock_day
from tests.reporting.intake_world import DAY, FAST_HASHERS, NOW, World, build

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(settings: Any) -> World:
    settings.PASSWORD_HASHERS = FAST_HASHERS
    return build()


def _file(tmp_path: Path, rows: list[tuple[str, str, int]]) -> Path:
    path = tmp_path / "reports.csv"
    lines = ["area_code,date,indicator,value"] + [f"{a},{d},new_cases,{v}" for a, d, v in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_county_after_townships_and_unlock_top_down(world: World, tmp_path: Path) -> None:
    county, town = world.county, world.township
    v0, v1 = world.villages[0], world.villages[1]
    import_reports(_file(tmp_path, [(v0.code, DAY.isoformat(), 2)]), now=NOW)
    with pytest.raises(Refused, match="乡镇"):
        approve_day(county, DAY, user=world.users["county"], now=NOW)
    approval = approve_day(town, DAY, user=world.users["township"], role="township", now=NOW)
    assert (approval.received, approval.expected) == (1, len(world.villages))
    with pytest.raises(Refused):
        approve_day(town, DAY, user=world.users["township"], now=NOW)  # already approved
    with pytest.raises(Refused):
        approve_day(v0, DAY, user=None, now=NOW)  # a village does not sign off
    townships = Area.objects.filter(parent=county, level=4).exclude(code=town.code)
    for t in townships:
        approve_day(t, DAY, user=None, now=NOW)
    approve_day(county, DAY, user=world.users["county"], role="county", now=NOW)

    # Locked for the importer: the whole file is refused, the locked row named.
    other_day = DAY.replace(day=DAY.day - 1).isoformat()
    path = _file(tmp_path, [(v1.code, other_day, 1), (v1.code, DAY.isoformat(), 5)])
    with pytest.raises(ImportRejected) as exc:
        import_reports(path, now=NOW)
    (problem,) = exc.value.problems
    assert (problem.row, problem.column) == (3, "date") and county.name in problem.reason
    assert not ReportValue.objects.filter(area=v1).exists()

    # Top-down: the township stays while the county's approval stands; a reason is needed.
    with pytest.raises(Refused):
        unlock_day(town, DAY, user=world.users["county"], reason="更正", now=NOW)
    with pytest.raises(Refused):
        unlock_day(county, DAY, user=world.users["prefecture"], reason=" ", now=NOW)
    unlock_day(county, DAY, user=world.users["prefecture"], reason="县级复核", role="prefecture")
    unlock_day(town, DAY, user=world.users["county"], reason="村医更正", role="county")
    assert not DayApproval.objects.filter(area__in=[county, town]).exists()
    import_reports(path, now=NOW)  # accepted now
    kinds = list(
        ApprovalEvent.objects.filter(area=town).order_by("id").values_list("kind", "reason")
    )
    assert kinds == [("approved", ""), ("unlocked", "村医更正")]


def test_overview_counts_reports_and_approvals(world: World, tmp_path: Path) -> None:
    v0 = world.villages[0]
    import_reports(_file(tmp_path, [(v0.code, DAY.isoformat(), 2)]), now=NOW)
    approve_day(world.township, DAY, user=None, now=NOW)
    county = overview(world.county, DAY)
    row = next(c for c in county.children if c.code == world.township.code)
    assert (row.received, row.expected, row.approved) == (1, len(world.villages), True)
    assert county.approved_children == 1 and county.approval is None
    assert county.expected == Area.objects.filter(level=5, l3=world.county.code).count()
    town = overview(world.township, DAY)
    assert town.approval is not None and all(c.approved for c in town.children)
    assert [c.received for c in town.children if c.code == v0.code] == [1]
