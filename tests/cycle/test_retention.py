"""The daily cycle's retention step (RURALWATCH_KEEP_VILLAGE_DAYS): village detail older than
the days kept moves to the archive at the end of a whole-tree cycle, never fewer days than
the cycle's steps read."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from pytest_django.fixtures import Settings

from ruralwatch.areas.services import import_areas
from ruralwatch.cycle.retention import MIN_KEEP_DAYS
from ruralwatch.cycle.services import run_cycle
from ruralwatch.reporting.models import AggregateValue, ArchivedPeriod, ReportValue
from ruralwatch.reporting.services import import_reports
from tests.trees import ONE_TOWNSHIP

pytestmark = pytest.mark.django_db

FIRST = dt.date(2022, 10, 1)
DAYS = 100
LAST = FIRST + dt.timedelta(days=DAYS - 1)
NOW = dt.datetime.combine(LAST + dt.timedelta(days=1), dt.time(6), tzinfo=dt.UTC)


def _store(tmp_path: Path) -> None:
    (tmp_path / "tree.csv").write_text(ONE_TOWNSHIP, encoding="utf-8")
    import_areas(tmp_path / "tree.csv")
    lines = ["area_code,date,new_cases"]
    for i in range(DAYS):
        day = FIRST + dt.timedelta(days=i)
        lines += [f"990101001001,{day},{i % 5}", f"990101001002,{day},{(i + 2) % 3}"]
    (tmp_path / "r.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    import_reports(tmp_path / "r.csv", now=NOW)


def test_the_cycle_archives_what_is_older_than_the_days_kept(
    tmp_path: Path, settings: Settings
) -> None:
    _store(tmp_path)
    settings.RURALWATCH_KEEP_VILLAGE_DAYS = MIN_KEEP_DAYS
    settings.RURALWATCH_ARCHIVE_DIR = tmp_path / "archive"
    result = run_cycle(LAST, days_back=7, now=NOW)
    kept_from = LAST - dt.timedelta(days=MIN_KEEP_DAYS - 1)
    step = result.steps["retention"]
    assert "error" not in step, step
    assert step["kept_from"] == kept_from.isoformat() == "2022-10-11"
    assert (step["start"], step["end"]) == (FIRST.isoformat(), "2022-10-10")
    assert step["values"] == 2 * 10 and Path(step["file"]).parent == tmp_path / "archive"
    dates = ReportValue.objects.values_list("date", flat=True)
    assert min(dates) == kept_from and ReportValue.objects.count() == 2 * MIN_KEEP_DAYS
    # the roll-ups of the archived days stay, and the period is recorded
    assert AggregateValue.objects.filter(date__lt=kept_from).exists()
    assert ArchivedPeriod.objects.get().end == dt.date(2022, 10, 10)
    # a second cycle of the same day has nothing more to archive
    again = run_cycle(LAST, days_back=7, now=NOW)
    assert again.steps["retention"]["file"] == "" and ArchivedPeriod.objects.count() == 1


def test_fewer_days_than_the_cycle_reads_are_refused_and_nothing_moves(
    tmp_path: Path, settings: Settings
) -> None:
    _store(tmp_path)
    settings.RURALWATCH_KEEP_VILLAGE_DAYS = 30
    settings.RURALWATCH_ARCHIVE_DIR = tmp_path / "archive"
    result = run_cycle(LAST, days_back=7, now=NOW)
    error = result.steps["retention"]["error"]
    assert "RURALWATCH_KEEP_VILLAGE_DAYS=30" in error and str(MIN_KEEP_DAYS) in error
    assert [d["step"] for d in result.did_not_run] == ["retention"]
    assert ReportValue.objects.count() == 2 * DAYS and not ArchivedPeriod.objects.exists()
    assert not (tmp_path / "archive").exists()


def test_no_retention_by_default_nor_on_a_subtree(tmp_path: Path, settings: Settings) -> None:
    _store(tmp_path)
    assert "retention" not in run_cycle(LAST, days_back=7, now=NOW).steps
    settings.RURALWATCH_KEEP_VILLAGE_DAYS = MIN_KEEP_DAYS
    settings.RURALWATCH_ARCHIVE_DIR = tmp_path / "archive"
    county = run_cycle(LAST, root="990101000000", days_back=7, now=NOW)
    assert "retention" not in county.steps and ReportValue.objects.count() == 2 * DAYS
