"""A subtree's codes as one range of the fact tables' area-leading keys (areas.selectors)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from ruralwatch.areas.models import Area
from ruralwatch.areas.selectors import code_between, code_range, subtree_sql
from ruralwatch.areas.services import import_areas
from ruralwatch.reporting.selectors import values_by_area
from ruralwatch.reporting.services import import_reports

pytestmark = pytest.mark.django_db

TREE = """code,name,level,parent_code
990000000000,示范省,1,
990100000000,甲市,2,990000000000
990101000000,甲县,3,990100000000
990101001000,东镇,4,990101000000
990101001001,东一村,5,990101001000
990101001002,东二村,5,990101001000
990101002000,西镇,4,990101000000
990101002001,西一村,5,990101002000
980000000000,乙省,1,
980100000000,乙市,2,980000000000
980101000000,乙县,3,980100000000
980101001000,南镇,4,980101000000
980101001001,南一村,5,980101001000
"""


@pytest.fixture
def tree(tmp_path: Path) -> None:
    (tmp_path / "tree.csv").write_text(TREE, encoding="utf-8")
    import_areas(tmp_path / "tree.csv")


def path(code: str) -> str:
    return Area.objects.get(code=code).path


def test_the_range_holds_every_code_of_the_subtree(tree: None) -> None:
    assert code_range(path("990101001000")) == ("990101001000", "990101001999")
    assert code_range(path("990101000000")) == ("990101000000", "990101999999")
    assert code_range(path("980000000000")) == ("980000000000", "989999999999")
    assert code_range(path("990101002001")) == ("990101002001", "990101002001")  # a village
    for area in Area.objects.exclude(level=0):
        for other in Area.objects.all():
            lo, hi = code_range(area.path) or ("", "")
            under = other.path.startswith(area.path)
            assert not under or lo <= other.code <= hi, (area.code, other.code)
    assert code_range("/") is None  # the whole tree: nothing to add
    assert code_between("/", "v.area_id") == ("", [])
    assert subtree_sql("/", "a", "v.area_id") == ("", [])
    sql, params = subtree_sql(path("990101001000"), "a", "v.area_id")
    assert sql == " AND a.path LIKE %s AND v.area_id BETWEEN %s AND %s"
    assert params == [path("990101001000") + "%", "990101001000", "990101001999"]


def test_a_subtree_read_returns_its_own_rows_only(tree: None, tmp_path: Path) -> None:
    day = dt.date(2023, 1, 5)
    villages = ["990101001001", "990101001002", "990101002001", "980101001001"]
    lines = ["area_code,date,new_cases"] + [f"{v},{day},{i + 1}" for i, v in enumerate(villages)]
    (tmp_path / "r.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    import_reports(tmp_path / "r.csv", now=dt.datetime(2023, 1, 6, tzinfo=dt.UTC))
    for root, expected in (
        ("990101001000", {"990101001001": 1.0, "990101001002": 2.0}),
        ("990101000000", {"990101001001": 1.0, "990101001002": 2.0, "990101002001": 3.0}),
        ("980000000000", {"980101001001": 4.0}),
    ):
        frame = values_by_area("report", "new_cases", day, day, root_path=path(root))
        got = dict(zip(frame["area"].to_list(), frame["value"].to_list(), strict=True))
        assert got == expected, root


def test_the_orm_bound_keeps_exactly_the_subtree(tree: None, tmp_path: Path) -> None:
    """``code_range_q`` on a foreign key to the areas: the pages' reads of signals, flags,
    completeness and village reports under an area give the rows of that subtree, no more and
    no fewer, and compare the key's own column (no join on the areas for the bound)."""
    from ruralwatch.areas.selectors import code_range_q, subtree_q
    from ruralwatch.reporting.models import ReportValue
    from ruralwatch.reporting.selectors import village_incidence

    day = dt.date(2023, 1, 5)
    villages = ["990101001001", "990101001002", "990101002001", "980101001001"]
    lines = ["area_code,date,new_cases"] + [f"{v},{day},{i + 1}" for i, v in enumerate(villages)]
    (tmp_path / "r.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    import_reports(tmp_path / "r.csv", now=dt.datetime(2023, 1, 6, tzinfo=dt.UTC))
    assert code_range_q("/") == code_range_q("/", "area")  # the whole tree: no condition
    assert not code_range_q("/")
    for root in ("990000000000", "990101000000", "990101001000", "980000000000", "990101002001"):
        p = path(root)
        bounded = ReportValue.objects.filter(code_range_q(p), area__path__startswith=p)
        by_path = ReportValue.objects.filter(area__path__startswith=p)
        assert sorted(bounded.values_list("area_id", flat=True)) == sorted(
            by_path.values_list("area_id", flat=True)
        ), root
        assert sorted(
            ReportValue.objects.filter(subtree_q(p)).values_list("area_id", flat=True)
        ) == sorted(by_path.values_list("area_id", flat=True)), root
        assert "BETWEEN" in str(ReportValue.objects.filter(code_range_q(p)).query)
        assert "JOIN" not in str(ReportValue.objects.filter(code_range_q(p)).query)
    county = Area.objects.get(code="990101000000")
    rows = {r["code"]: r for r in village_incidence(county, "new_cases", day, days=1)}
    assert set(rows) == {"990101001001", "990101001002", "990101002001"}
    assert [rows[c]["days_reported"] for c in sorted(rows)] == [1, 1, 1]
