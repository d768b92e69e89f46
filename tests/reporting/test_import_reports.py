"""Report import: formats, headers, encodings, validation with row/column, all-or-nothing."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from django.utils import timezone, translation
from openpyxl import Workbook

from ruralwatch.areas.services import import_areas
from ruralwatch.core.problems import ImportRejected
from ruralwatch.reporting.models import ImportBatch, ReportValue, Submission
from ruralwatch.reporting.services import import_reports

pytestmark = pytest.mark.django_db

TREE = """code,name,level,parent_code,population
990000000000,示范省,1,,
990100000000,示范市,2,990000000000,
990101000000,示范县,3,990100000000,
990101001000,东镇,4,990101000000,
990101002000,西乡,4,990101000000,
990101001001,东一村,5,990101001000,1000
990101001002,东二村,5,990101001000,2000
990101002001,西一村,5,990101002000,1500
"""
NOW = dt.datetime(2023, 2, 6, 9, 0, tzinfo=dt.UTC)


@pytest.fixture
def tree(tmp_path: Path) -> None:
    path = tmp_path / "tree.csv"
    path.write_text(TREE, encoding="utf-8")
    import_areas(path)


def _snapshot() -> tuple[list[tuple[object, ...]], list[tuple[object, ...]], int]:
    values = list(
        ReportValue.objects.order_by("area_id", "date", "indicator_id").values_list(
            "area_id", "date", "indicator_id", "value", "submitted_at"
        )
    )
    subs = list(
        Submission.objects.order_by("area_id", "date").values_list(
            "area_id", "date", "submitted_at"
        )
    )
    return values, subs, ImportBatch.objects.count()


def test_wide_csv_then_idempotent_reimport(tree: None, tmp_path: Path) -> None:
    path = tmp_path / "day.csv"
    path.write_text(
        "area_code,date,fever_visits,new_cases,deaths\n"
        "990101001001,2023-01-02,12,3,0\n"
        "990101001002,2023-01-02,7,,0\n",  # empty cell: not reported, not zero
        encoding="utf-8",
    )
    s = import_reports(path, now=NOW)
    assert (s.values, s.imported, s.updated, s.unchanged) == (5, 5, 0, 0)
    assert not ReportValue.objects.filter(area_id="990101001002", indicator_id="new_cases").exists()
    assert ReportValue.objects.get(area_id="990101001001", indicator_id="deaths").value == 0
    before = _snapshot()
    again = import_reports(path, now=NOW + dt.timedelta(hours=5))
    assert (again.imported, again.updated, again.unchanged) == (0, 0, 5)
    assert _snapshot()[:2] == before[:2]
    path.write_text(path.read_text().replace(",12,3,0", ",13,3,0"), encoding="utf-8")
    changed = import_reports(path, now=NOW)
    assert (changed.imported, changed.updated, changed.unchanged) == (0, 1, 4)


def test_gb18030_long_format_with_chinese_headers(tree: None, tmp_path: Path) -> None:
    path = tmp_path / "gbk.csv"
    text = (
        "区划代码,日期,指标,数值,报告人,提交时间\n"
        "990101002001,2023/01/05,新增病例数,4,张医生,2023-01-06 13:30\n"
        "990101002001,2023/01/05,发热门诊（诊室）就诊人次,9,张医生,2023-01-05 20:00\n"
    )
    path.write_bytes(text.encode("gb18030"))
    s = import_reports(path, now=NOW)
    assert s.imported == 2
    sub = Submission.objects.get(area_id="990101002001", date=dt.date(2023, 1, 5))
    # The earliest arrival counts: 20:00 local on the report date = 20 h after local midnight.
    assert sub.delay_hours == pytest.approx(20.0)
    assert timezone.localtime(sub.submitted_at).hour == 20
    assert (
        ReportValue.objects.get(area_id="990101002001", indicator_id="new_cases").reporter
        == "张医生"
    )


def test_xlsx_wide(tree: None, tmp_path: Path) -> None:
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.append(["村代码", "日期", "新增病例数", "Deaths"])
    ws.append(["990101001001", dt.datetime(2023, 1, 7), 2, 0])
    ws.append(["990101001002", "2023-01-07", 0, 1])
    path = tmp_path / "villages.xlsx"
    wb.save(path)
    s = import_reports(path, now=NOW)
    assert s.imported == 4
    assert ReportValue.objects.filter(date=dt.date(2023, 1, 7), indicator_id="deaths").count() == 2


def test_malformed_file_gets_one_message_per_problem_and_changes_nothing(
    tree: None, tmp_path: Path
) -> None:
    good = tmp_path / "good.csv"
    good.write_text("area_code,date,new_cases\n990101001001,2023-01-02,1\n", encoding="utf-8")
    import_reports(good, now=NOW)
    before = _snapshot()
    bad = tmp_path / "bad.csv"
    bad.write_bytes(
        (
            "区划代码,日期,新增病例数,死亡数\n"
            "990101001001,2023-01-03,2,0\n"  # row 2: fine
            "990199999999,2023-01-03,1,0\n"  # row 3: unknown area code
            "990101001002,2023-01-03,-4,0\n"  # row 4: negative count
            "990101001002,2099-01-01,1,0\n"  # row 5: future date
            "990101001001,2023-01-03,2,0\n"  # row 6: duplicate of row 2
            "990101002001,2023-01-03,三,0\n"  # row 7: non-numeric cell
            "990101002001,2023-13-45,1,0\n"  # row 8: not a date
            "990101002001,2023-01-04,1.5,0\n"  # row 9: fractional count
        ).encode("gb18030")
    )
    with translation.override("en"), pytest.raises(ImportRejected) as info:
        import_reports(bad, now=NOW)
    got = {(p.row, p.column) for p in info.value.problems}
    assert got == {
        (3, "area_code"),
        (4, "value"),
        (5, "date"),
        (6, "indicator"),
        (7, "value"),
        (8, "date"),
        (9, "value"),
    }
    messages = "\n".join(str(p) for p in info.value.problems)
    for fragment in (
        "bad.csv",
        "990199999999",
        "negative",
        "future",
        "duplicate of row 2",
        "三",
        "2023-13-45",
    ):
        assert fragment in messages
    with pytest.raises(ImportRejected) as info_zh:  # zh-Hans is the default language
        import_reports(bad, now=NOW)
    assert "计数为负" in "\n".join(str(p) for p in info_zh.value.problems)
    assert _snapshot() == before


def test_submitted_in_the_future_is_rejected(tree: None, tmp_path: Path) -> None:
    path = tmp_path / "future.csv"
    path.write_text(
        "area_code,date,new_cases,submitted_at\n990101001001,2023-01-02,1,2023-03-01 08:00\n",
        encoding="utf-8",
    )
    with pytest.raises(ImportRejected) as info:
        import_reports(path, now=NOW)
    assert [(p.row, p.column) for p in info.value.problems] == [(2, "submitted_at")]


def test_missing_required_column_is_named(tree: None, tmp_path: Path) -> None:
    path = tmp_path / "nodate.csv"
    path.write_text("area_code,new_cases\n990101001001,1\n", encoding="utf-8")
    with pytest.raises(ImportRejected) as info:
        import_reports(path, now=NOW)
    [problem] = info.value.problems
    assert (problem.row, problem.column) == (1, "date")
    assert "日期" in problem.reason  # the accepted Chinese header is suggested
    assert ReportValue.objects.count() == 0


def test_unknown_indicator_column_in_wide_file(tree: None, tmp_path: Path) -> None:
    path = tmp_path / "extra.csv"
    path.write_text(
        "area_code,date,new_cases,bananas\n990101001001,2023-01-02,1,4\n", encoding="utf-8"
    )
    with pytest.raises(ImportRejected) as info:
        import_reports(path, now=NOW)
    assert [(p.row, p.column) for p in info.value.problems] == [(1, "bananas")]


def test_a_first_big_load_leaves_the_planner_informed(tree: None, tmp_path: Path) -> None:
    """After the first import into empty tables the planner's row estimate is the real one
    (ANALYZE ran, on PostgreSQL and SQLite alike), so a cycle right after a big load is not
    planned for an empty table; a small import into a table believed big does not analyse
    again."""
    from django.db import connection

    from ruralwatch.core import bulk

    path = tmp_path / "days.csv"
    lines = ["area_code,date,fever_visits,new_cases,deaths"]
    for day in range(1, 29):
        for village in ("990101001001", "990101001002", "990101002001"):
            lines.append(f"{village},2023-01-{day:02d},{day},1,0")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    table = ReportValue._meta.db_table
    # Statistics outlive a rolled-back test (PostgreSQL writes them in place): start from the
    # empty table's own.
    with connection.cursor() as cur:
        cur.execute(f'ANALYZE "{table}"')
    import_reports(path, now=NOW)
    with connection.cursor() as cur:
        if connection.vendor == "postgresql":
            cur.execute("SELECT reltuples FROM pg_class WHERE oid = %s::regclass", [table])
            believed = cur.fetchone()[0]
        else:
            cur.execute("SELECT stat FROM sqlite_stat1 WHERE tbl = %s", [table])
            believed = int(cur.fetchone()[0].split()[0])
    assert believed == ReportValue.objects.count() == 3 * 28 * 3
    assert bulk.analyze_if_grown(table, 5) is False  # 5 more rows: not worth it
    assert bulk.analyze_if_grown(table, 100) is True
