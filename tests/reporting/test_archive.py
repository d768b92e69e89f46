"""Retention of village detail (issue 15): values and submissions moved to a Parquet file,
roll-ups kept, archived dates never rolled up again, imports for them refused, restore exact."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pytest
from django.utils.translation import override

from ruralwatch.areas.services import import_areas
from ruralwatch.core.problems import ImportRejected
from ruralwatch.reporting.archive import archive, archived_dates, restore
from ruralwatch.reporting.models import (
    AggregateValue,
    ArchivedPeriod,
    Completeness,
    ReportValue,
    RollupPending,
    Submission,
    ValidationPending,
)
from ruralwatch.reporting.services import (
    dates_to_roll_up,
    import_reports,
    mark_rollups_stale,
    roll_up,
)
from tests.commands import cli_runner
from tests.trees import ONE_TOWNSHIP as TREE

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2023, 2, 1, tzinfo=dt.UTC)


def _store(tmp_path: Path) -> None:
    (tmp_path / "tree.csv").write_text(TREE, encoding="utf-8")
    import_areas(tmp_path / "tree.csv")
    lines = ["area_code,date,new_cases,fever_visits,submitted_at"]
    for i in range(10):
        day = dt.date(2023, 1, 1) + dt.timedelta(days=i)
        lines.append(f"990101001001,{day},{i},{2 * i},{day} 20:15:00")
        if i % 3:
            lines.append(f"990101001002,{day},1,0,{day + dt.timedelta(days=1)} 09:00:00")
    (tmp_path / "r.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    import_reports(tmp_path / "r.csv", now=NOW)
    roll_up(dt.date(2023, 1, 1), dt.date(2023, 1, 10))


def _snapshot(model: type, cols: tuple[str, ...]) -> set[tuple[object, ...]]:
    return set(model.objects.values_list(*cols))  # type: ignore[attr-defined]


def test_archive_moves_old_detail_keeps_roll_ups_and_restore_brings_it_back(
    tmp_path: Path,
) -> None:
    _store(tmp_path)
    value_cols = ("area_id", "date", "indicator_id", "value", "reporter", "submitted_at")
    sub_cols = ("area_id", "date", "submitted_at", "delay_hours", "reporter")
    values, subs = _snapshot(ReportValue, value_cols), _snapshot(Submission, sub_cols)
    aggregates = _snapshot(AggregateValue, ("area_id", "date", "indicator_id", "value"))
    completeness = _snapshot(Completeness, ("area_id", "date", "expected", "received", "on_time"))

    ValidationPending.objects.all().delete()  # as the nightly validation leaves it
    s = archive(dt.date(2023, 1, 6), tmp_path / "archive")
    assert (s.start, s.end) == ("2023-01-01", "2023-01-05")
    # the night's copies of those days are stale (intake.screen_days), their roll-ups are not
    gone = {dt.date(2023, 1, d) for d in range(1, 6)}
    assert set(ValidationPending.objects.values_list("date", flat=True)) == gone
    old = {v for v in values if v[1] < dt.date(2023, 1, 6)}
    assert s.values == len(old) and s.submissions == 5 + 3
    assert _snapshot(ReportValue, value_cols) == values - old
    assert not Submission.objects.filter(date__lt=dt.date(2023, 1, 6)).exists()
    # Roll-ups and completeness of the archived dates stay as they were.
    assert _snapshot(AggregateValue, ("area_id", "date", "indicator_id", "value")) == aggregates
    assert (
        _snapshot(Completeness, ("area_id", "date", "expected", "received", "on_time"))
        == completeness
    )
    # The file holds exactly what left the tables.
    stored = pl.read_parquet(s.file)
    assert stored.filter(pl.col("kind") == "value").height == len(old)
    assert archived_dates(dt.date(2022, 12, 30), dt.date(2023, 1, 8)) == {
        dt.date(2023, 1, d) for d in range(1, 6)
    }
    # Nothing more to archive before the same day; a later cut takes the next days only.
    assert archive(dt.date(2023, 1, 6), tmp_path / "archive").file == ""

    ValidationPending.objects.all().delete()
    restored = restore(Path(s.file))
    assert set(ValidationPending.objects.values_list("date", flat=True)) == gone
    assert (restored.values, restored.submissions) == (s.values, s.submissions)
    assert _snapshot(ReportValue, value_cols) == values
    assert _snapshot(Submission, sub_cols) == subs
    assert not ArchivedPeriod.objects.exists()
    roll_up(dt.date(2023, 1, 1), dt.date(2023, 1, 10))  # allowed again, and the same
    assert _snapshot(AggregateValue, ("area_id", "date", "indicator_id", "value")) == aggregates


def test_archived_dates_are_never_rolled_up_and_imports_for_them_are_refused(
    tmp_path: Path,
) -> None:
    _store(tmp_path)
    archive(dt.date(2023, 1, 4), tmp_path / "archive")
    assert mark_rollups_stale() == 7  # 4 … 10 January, not the archived days
    assert set(RollupPending.objects.values_list("date", flat=True)) == {
        dt.date(2023, 1, d) for d in range(4, 11)
    }
    RollupPending.objects.create(date=dt.date(2023, 1, 2))  # as an old import would leave it
    assert dt.date(2023, 1, 2) not in dates_to_roll_up(dt.date(2022, 12, 30), dt.date(2023, 1, 10))
    with override("en"), pytest.raises(ValueError, match="archived"):
        roll_up(dt.date(2023, 1, 1), dt.date(2023, 1, 10))
    with override("zh-hans"), pytest.raises(ValueError, match="已归档"):
        roll_up(dt.date(2023, 1, 1), dt.date(2023, 1, 10))
    (tmp_path / "late.csv").write_text(
        "area_code,date,new_cases\n990101001001,2023-01-02,5\n990101001001,2023-01-08,5\n",
        encoding="utf-8",
    )
    with override("en"), pytest.raises(ImportRejected) as err:
        import_reports(tmp_path / "late.csv", now=NOW)
    [problem] = err.value.problems
    assert (problem.row, problem.column) == (2, "date") and "archived" in problem.reason
    assert ReportValue.objects.filter(date=dt.date(2023, 1, 8), value=5).count() == 0


def test_the_archive_command_keeps_the_last_days(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _store(tmp_path)
    invoke = cli_runner(monkeypatch)
    target = tmp_path / "arch"
    result = invoke(["reports", "archive", "--keep-days", "3", "--dir", str(target)])
    assert result.exit_code == 0, result.output
    assert "2023-01-01 … 2023-01-07" in result.output
    assert ReportValue.objects.order_by("date").values_list("date", flat=True).first() == dt.date(
        2023, 1, 8
    )
    both = invoke(["reports", "archive", "--keep-days", "3", "--before", "2023-01-02"])
    assert both.exit_code == 2 and "exactly one" in both.output
    [path] = target.glob("*.parquet")
    back = invoke(["reports", "restore", str(path)])
    assert back.exit_code == 0, back.output
    assert ReportValue.objects.filter(date=dt.date(2023, 1, 1)).exists()
    with override("en"):
        again = invoke(["reports", "restore", str(path)])
    assert again.exit_code == 1 and "not a recorded archive" in again.output


def test_a_file_archived_by_a_relative_folder_restores_from_anywhere(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The archive records its file's whole path: a restore given the path relative to
    another working directory (or whole) finds it."""
    _store(tmp_path)
    monkeypatch.chdir(tmp_path)
    s = archive(dt.date(2023, 1, 5), Path("arch"))
    assert Path(s.file) == tmp_path / "arch" / Path(s.file).name
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    back = restore(Path("..") / "arch" / Path(s.file).name)
    assert back.values == s.values and not ArchivedPeriod.objects.exists()
