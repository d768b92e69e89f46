"""The daily cycle command: roll-up and detection for a date, idempotent."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from ruralwatch.areas.services import import_areas
from ruralwatch.reporting.models import AggregateValue
from ruralwatch.reporting.services import import_reports
from ruralwatch.signals.models import Signal
from tests.commands import cli_runner

pytestmark = pytest.mark.django_db

TREE = """code,name,level,parent_code
990000000000,示范省,1,
990100000000,示范市,2,990000000000
990101000000,示范县,3,990100000000
990101001000,东镇,4,990101000000
990101001001,东一村,5,990101001000
"""


def test_cycle_cli_rolls_up_and_detects_twice_the_same(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "tree.csv").write_text(TREE, encoding="utf-8")
    import_areas(tmp_path / "tree.csv")
    start = dt.date(2023, 1, 1)
    counts = [3, 4, 3, 3, 4, 3, 3, 3, 3, 25]
    lines = ["area_code,date,new_cases"] + [
        f"990101001001,{start + dt.timedelta(days=i)},{c}" for i, c in enumerate(counts)
    ]
    (tmp_path / "r.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    import_reports(tmp_path / "r.csv", now=dt.datetime(2023, 2, 1, tzinfo=dt.UTC))
    # The command sets Django up itself; inside the test the database is already there.
    invoke = cli_runner(monkeypatch)
    args = ["cycle", "--date", "2023-01-10", "--days-back", "9", "--root", "990101000000"]
    first = invoke(args)
    assert first.exit_code == 0, first.output
    state = (
        AggregateValue.objects.count(),
        list(Signal.objects.values_list("area_id", "date", "method")),
    )
    second = invoke(args)
    assert second.exit_code == 0, second.output
    assert (
        AggregateValue.objects.count(),
        list(Signal.objects.values_list("area_id", "date", "method")),
    ) == state
    # four ancestor levels × ten days
    assert json.loads(first.output)["steps"]["roll_up"]["aggregates"] == 4 * 10
    # Nothing changed since: the second cycle rolls up no date and keeps the roll-ups.
    out = json.loads(second.output)
    assert out["steps"]["roll_up"] == out["steps"]["roll_up"] | {"dates": [], "aggregates": 0}
    assert ("990101001000", dt.date(2023, 1, 10), "ears-c1") in state[1]
    bad = invoke(["cycle", "--date", "2023-01-10", "--root", "990199999999"])
    assert bad.exit_code == 2 and "990199999999" in bad.output


def _small_store(tmp_path: Path) -> None:
    (tmp_path / "tree.csv").write_text(TREE, encoding="utf-8")
    import_areas(tmp_path / "tree.csv")
    start = dt.date(2023, 1, 1)
    counts = [3, 4, 3, 3, 4, 3, 3, 3, 3, 25]
    lines = ["area_code,date,new_cases"] + [
        f"990101001001,{start + dt.timedelta(days=i)},{c}" for i, c in enumerate(counts)
    ]
    (tmp_path / "r.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    import_reports(tmp_path / "r.csv", now=dt.datetime(2023, 2, 1, tzinfo=dt.UTC))


def test_a_failing_rule_or_step_does_not_stop_the_cycle(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Rules with bad parameters in the database, and a step that raises, are recorded with
    their error; the other rules and steps run, and the rules say why they did not run."""
    from ruralwatch.cycle.services import run_cycle
    from ruralwatch.signals.models import DetectionRule

    _small_store(tmp_path)
    bad_range = DetectionRule.objects.create(
        indicator_id="new_cases", level=4, method="cusum", params={"h": -1}
    )
    unknown = DetectionRule.objects.create(
        indicator_id="new_cases", level=4, method="rki1", params={"bogus": 1}
    )
    not_a_dict = DetectionRule.objects.create(
        indicator_id="new_cases", level=4, method="glr-poisson", params="oops"
    )
    no_method = DetectionRule.objects.create(
        indicator_id="new_cases", level=4, method="ears-c9", params={}
    )

    def broken_assess(*args: object, **kwargs: object) -> None:
        raise RuntimeError("assessment broke")

    monkeypatch.setattr("ruralwatch.cycle.services.assess", broken_assess)
    result = run_cycle(dt.date(2023, 1, 10), root="990101000000", days_back=9)

    # the good default rule still ran and raised its signal
    assert Signal.objects.filter(
        area_id="990101001000", date=dt.date(2023, 1, 10), method="ears-c1"
    ).exists()
    assert result.steps["roll_up"]["aggregates"] == 4 * 10
    errors = {(d["step"], d.get("rule", "")): d["error"] for d in result.did_not_run}
    assert errors[("assess", "")] == "RuntimeError: assessment broke"
    detect = result.steps["detect"]
    assert "h must lie in" in detect["skipped"][str(bad_range)]
    assert "unknown parameter(s) bogus" in detect["skipped"][str(unknown)]
    assert detect["failed"][str(not_a_dict)].startswith("TypeError")
    assert "unknown detection method 'ears-c9'" in detect["skipped"][str(no_method)]
    for rule in (bad_range, unknown, not_a_dict, no_method):
        rule.refresh_from_db()
        assert rule.last_run == dt.date(2023, 1, 10)
        assert rule.last_error == errors[("detect", str(rule))]
    good = DetectionRule.objects.get(indicator_id="new_cases", level=4, method="ears-c1")
    assert good.last_run == dt.date(2023, 1, 10) and good.last_error == ""
    json.dumps(result.__dict__)  # the CLI prints it as JSON

    # the dashboard says which rules did not run, with the error
    from django.template.loader import render_to_string
    from django.utils import translation

    from ruralwatch.areas.models import Area
    from ruralwatch.dashboard.selectors import area_overview

    county = Area.objects.get(code="990101000000")
    overview = area_overview(county, within=None, date=dt.date(2023, 1, 10))
    assert {r.pk for r in overview.rules_not_run} == {
        bad_range.pk,
        unknown.pk,
        not_a_dict.pk,
        no_method.pk,
    }
    with translation.override("zh-hans"):
        html = render_to_string("dashboard/_area.html", {"o": overview, "area": county})
    assert "上一轮未运行的检测规则" in html
    assert "h must lie in (0, inf), got -1" in html


def test_a_fixed_rule_clears_its_error(tmp_path: Path) -> None:
    from ruralwatch.cycle.services import run_cycle
    from ruralwatch.signals.models import DetectionRule

    _small_store(tmp_path)
    rule = DetectionRule.objects.create(
        indicator_id="new_cases", level=4, method="cusum", params={"h": -1}
    )
    run_cycle(dt.date(2023, 1, 10), root="990101000000", days_back=9)
    rule.refresh_from_db()
    assert rule.last_error
    rule.params = {"h": 2.26, "m": 3.0}
    rule.save()
    again = run_cycle(dt.date(2023, 1, 10), root="990101000000", days_back=9)
    rule.refresh_from_db()
    assert rule.last_error == ""
    assert all(d.get("rule") != str(rule) for d in again.did_not_run)


def test_values_imported_without_their_roll_up_are_rolled_up_by_the_next_cycle(
    tmp_path: Path,
) -> None:
    """An import commits the dates it changed as awaiting their roll-up (an API upload, or a
    process killed between the import's commit and its roll-up): the next cycle rolls them up,
    even when they lie before its own window, and clears them."""
    from ruralwatch.cycle.services import run_cycle
    from ruralwatch.intake.models import ScreenDay
    from ruralwatch.reporting.models import RollupPending, ValidationPending
    from ruralwatch.reporting.services import roll_up

    (tmp_path / "tree.csv").write_text(TREE, encoding="utf-8")
    import_areas(tmp_path / "tree.csv")
    early = dt.date(2023, 1, 2)
    (tmp_path / "r.csv").write_text(
        f"area_code,date,new_cases\n990101001001,{early},7\n990101001001,2023-01-30,1\n",
        encoding="utf-8",
    )
    import_reports(tmp_path / "r.csv", now=dt.datetime(2023, 2, 1, tzinfo=dt.UTC))
    # The import is committed; its roll-up never ran.
    assert set(RollupPending.objects.values_list("date", flat=True)) == {
        early,
        dt.date(2023, 1, 30),
    }
    # Both dates held nothing before: the nightly validation's copies of them were made from
    # the file (reporting.hooks), so they are not marked for it (intake.screen_days).
    assert not ValidationPending.objects.exists()
    assert set(ScreenDay.objects.values_list("date", flat=True)) == {early, dt.date(2023, 1, 30)}
    assert not AggregateValue.objects.filter(date=early).exists()
    result = run_cycle(dt.date(2023, 1, 31), days_back=7)  # its own window starts on 24 Jan
    window = [(dt.date(2023, 1, 24) + dt.timedelta(days=i)).isoformat() for i in range(8)]
    assert result.steps["roll_up"]["dates"] == [early.isoformat(), *window]
    county = AggregateValue.objects.get(area_id="990101000000", date=early)
    assert county.value == 7
    assert not RollupPending.objects.exists() and not ValidationPending.objects.exists()
    # A roll-up run by hand clears what it covers, and only that.
    (tmp_path / "s.csv").write_text(
        "area_code,date,new_cases\n990101001001,2023-01-03,2\n990101001001,2023-01-20,2\n",
        encoding="utf-8",
    )
    import_reports(tmp_path / "s.csv", now=dt.datetime(2023, 2, 1, tzinfo=dt.UTC))
    roll_up(dt.date(2023, 1, 1), dt.date(2023, 1, 10))
    assert list(RollupPending.objects.values_list("date", flat=True)) == [dt.date(2023, 1, 20)]


def test_the_cycle_makes_tasks_once_and_reads_them_back(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """The cycle's last step turns the signals of its window into tasks; run again for the same
    date it creates none, and its ``tasks`` block (read from the database) is unchanged. A
    failing task step is recorded like the other steps."""
    from ruralwatch.cycle.services import run_cycle
    from ruralwatch.dispatch.models import Task

    _small_store(tmp_path)
    now = dt.datetime(2023, 2, 1, 8, 0, tzinfo=dt.UTC)
    first = run_cycle(dt.date(2023, 1, 10), root="990101000000", days_back=9, now=now)
    assert not first.did_not_run
    # one task per signal of the window (the village's single report series flags the 25 cases
    # of 10 Jan at the township and above)
    signals = set(Signal.objects.values_list("rule_id", "area_id", "date"))
    assert len(signals) >= 1
    tasks = set(Task.objects.filter(kind_id="signal").values_list("source_id", "area_id", "date"))
    assert tasks == signals
    assert ("990101001000", dt.date(2023, 1, 10)) in {(a, d) for _, a, d in tasks}
    assert set(Task.objects.values_list("created_at", flat=True)) == {now}
    n = len(signals)
    assert first.steps["tasks"]["created"]["signal"] == n
    assert first.tasks["created"] == {"signal": n}
    assert first.tasks["open"] == n and first.tasks["escalated"] == 0
    second = run_cycle(
        dt.date(2023, 1, 10), root="990101000000", days_back=9, now=now + dt.timedelta(hours=1)
    )
    assert sum(second.steps["tasks"]["created"].values()) == 0
    assert sum(second.steps["tasks"]["auto_closed"].values()) == 0
    assert second.tasks == first.tasks
    assert Task.objects.count() == n

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("tasks broke")

    monkeypatch.setattr("ruralwatch.cycle.services.sync_tasks", broken)
    third = run_cycle(dt.date(2023, 1, 10), root="990101000000", days_back=9, now=now)
    assert {"step": "tasks", "error": "RuntimeError: tasks broke"} in third.did_not_run
    assert "error" not in third.steps["detect"] and "error" not in third.steps["assess"]
    assert third.tasks == first.tasks
    json.dumps(third.__dict__)


def test_the_cycle_rolls_up_only_the_dates_that_changed(tmp_path: Path) -> None:
    """Incremental roll-ups (issue 15): a cycle rolls up the dates whose values changed or that
    were never rolled up, and leaves the others; after the area tree changed every rolled-up
    date is rolled up again. The result equals a full roll-up of the window."""
    from ruralwatch.cycle.services import run_cycle
    from ruralwatch.reporting.services import mark_rollups_stale, roll_up

    _small_store(tmp_path)
    first = run_cycle(dt.date(2023, 1, 10), days_back=9)
    assert len(first.steps["roll_up"]["dates"]) == 10
    (tmp_path / "late.csv").write_text(
        "area_code,date,new_cases\n990101001001,2023-01-04,9\n990101001001,2023-01-11,2\n",
        encoding="utf-8",
    )
    import_reports(tmp_path / "late.csv", now=dt.datetime(2023, 2, 1, tzinfo=dt.UTC))
    second = run_cycle(dt.date(2023, 1, 11), days_back=9)
    assert second.steps["roll_up"]["dates"] == ["2023-01-04", "2023-01-11"]
    incremental = set(AggregateValue.objects.values_list("area_id", "date", "indicator", "value"))
    roll_up(dt.date(2023, 1, 1), dt.date(2023, 1, 11))
    full = set(AggregateValue.objects.values_list("area_id", "date", "indicator", "value"))
    assert incremental == full
    assert ("990101000000", dt.date(2023, 1, 4), "new_cases", 9.0) in full
    assert run_cycle(dt.date(2023, 1, 11), days_back=9).steps["roll_up"]["dates"] == []
    assert mark_rollups_stale() == 11
    third = run_cycle(dt.date(2023, 1, 11), days_back=9)
    assert len(third.steps["roll_up"]["dates"]) == 11


def test_an_area_import_that_changes_the_tree_marks_every_roll_up_stale(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`ruralwatch areas import` with a new village: the dates rolled up before are awaiting
    their roll-up again (expected reporters changed); the same file again changes nothing."""
    from ruralwatch.cycle.services import run_cycle
    from ruralwatch.reporting.models import RollupPending, ValidationPending

    _small_store(tmp_path)
    run_cycle(dt.date(2023, 1, 10), days_back=9)
    assert not RollupPending.objects.exists()
    invoke = cli_runner(monkeypatch)
    (tmp_path / "more.csv").write_text(
        TREE + "990101001002,新村,5,990101001000\n", encoding="utf-8"
    )
    assert invoke(["areas", "import", str(tmp_path / "tree.csv")]).exit_code == 0
    assert not RollupPending.objects.exists()  # unchanged tree
    result = invoke(["areas", "import", str(tmp_path / "more.csv")])
    assert result.exit_code == 0, result.output
    assert RollupPending.objects.count() == ValidationPending.objects.count() == 10
    again = run_cycle(dt.date(2023, 1, 10), days_back=9)
    assert len(again.steps["roll_up"]["dates"]) == 10


def test_the_cycle_leaves_the_planner_statistics_of_the_new_day(tmp_path: Path) -> None:
    """After the cycle the planner knows the new date (PostgreSQL): without it a date past the
    known ones is estimated at one row and the county page took seconds (docs/national-scale.md).
    The new day's import is too small a growth for the importer's own ANALYZE."""
    from django.db import connection

    from ruralwatch.cycle.services import run_cycle
    from ruralwatch.dispatch.models import Task

    (tmp_path / "tree.csv").write_text(TREE, encoding="utf-8")
    import_areas(tmp_path / "tree.csv")
    start = dt.date(2023, 1, 1)
    month = ["area_code,date,new_cases"] + [
        f"990101001001,{start + dt.timedelta(days=i)},3" for i in range(30)
    ]
    (tmp_path / "month.csv").write_text("\n".join(month) + "\n", encoding="utf-8")
    import_reports(tmp_path / "month.csv", now=dt.datetime(2023, 2, 5, tzinfo=dt.UTC))
    (tmp_path / "day.csv").write_text(
        "area_code,date,new_cases\n990101001001,2023-01-31,4\n", encoding="utf-8"
    )
    import_reports(tmp_path / "day.csv", now=dt.datetime(2023, 2, 5, tzinfo=dt.UTC))

    def knows_the_new_day() -> bool:
        with connection.cursor() as cur:
            cur.execute(
                "SELECT COUNT(*) FROM pg_stats WHERE tablename = 'reporting_submission' "
                "AND attname = 'date' AND concat(most_common_vals::text, "
                "histogram_bounds::text) LIKE '%2023-01-31%'"
            )
            return bool(cur.fetchone()[0])

    postgres = connection.vendor == "postgresql"
    if postgres:
        assert not knows_the_new_day()

    def task_rows_estimated() -> float:
        with connection.cursor() as cur:
            cur.execute("SELECT reltuples FROM pg_class WHERE relname = 'dispatch_task'")
            return float(cur.fetchone()[0])

    result = run_cycle(dt.date(2023, 1, 31), days_back=7)
    assert "error" not in result.steps["statistics"]
    if postgres:
        assert knows_the_new_day()
        # The task table is analysed with what the cycle wrote (the task lists' plans).
        assert "dispatch_task" in result.steps["statistics"]["tables"]
        assert task_rows_estimated() == Task.objects.count()
    else:
        assert result.steps["statistics"]["tables"] == []


def test_the_tasks_parts_are_one_record_and_a_failing_part_leaves_the_other() -> None:
    # On workers the cycle makes the tasks in two parts (before and after the assessment's
    # end): one record with both parts' counts; a part that fails is recorded as failed and
    # the other's tasks still count.
    from ruralwatch.cycle.services import _TwoPartStep

    failures: list[Exception] = []

    def failed(exc: Exception) -> dict[str, object]:
        failures.append(exc)
        return {"error": f"{type(exc).__name__}: {exc}"}

    def beside() -> dict[str, object]:
        made = {"signal": 3, "missing_report": 2}
        return {"created": made, "auto_closed": {"signal": 1}, "open": 9, "notified": {"a": 2}}

    def after() -> dict[str, object]:
        return {"created": {"rebound": 1}, "auto_closed": {}, "open": 10, "notified": {"a": 1}}

    def broken() -> dict[str, object]:
        raise RuntimeError("database gone")

    step = _TwoPartStep(0.0, failed)
    step.run("beside_assessment", beside)
    step.run("after_assessment", after)
    out = step.merged()
    assert out["created"] == {"signal": 3, "missing_report": 2, "rebound": 1}
    assert out["auto_closed"] == {"signal": 1}
    assert (out["open"], out["notified"]) == (10, {"a": 3})
    assert list(out["parts"]) == ["beside_assessment", "after_assessment"]
    assert "error" not in out and not failures

    step = _TwoPartStep(0.0, failed)
    step.run("beside_assessment", beside)
    step.run("after_assessment", broken)
    out = step.merged()
    assert out["error"] == "RuntimeError: database gone" and len(failures) == 1
    assert out["created"] == {"signal": 3, "missing_report": 2} and out["open"] == 9
    assert out["parts"]["after_assessment"]["error"] == "RuntimeError: database gone"
