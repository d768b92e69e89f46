"""The daily cycle command: roll-up and detection for a date, idempotent."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ruralwatch.areas.services import import_areas
from ruralwatch.cli import app
from ruralwatch.reporting.models import AggregateValue
from ruralwatch.reporting.services import import_reports
from ruralwatch.signals.models import Signal

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
    monkeypatch.setattr("ruralwatch.cli.cycle.django_setup", lambda: None)
    runner = CliRunner(env={"COLUMNS": "250"})
    args = ["cycle", "--date", "2023-01-10", "--days-back", "9", "--root", "990101000000"]
    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    state = (
        AggregateValue.objects.count(),
        list(Signal.objects.values_list("area_id", "date", "method")),
    )
    second = runner.invoke(app, args)
    assert second.exit_code == 0, second.output
    assert (
        AggregateValue.objects.count(),
        list(Signal.objects.values_list("area_id", "date", "method")),
    ) == state
    out = json.loads(second.output)
    assert out["steps"]["roll_up"]["aggregates"] == 4 * 10  # four ancestor levels × ten days
    assert ("990101001000", dt.date(2023, 1, 10), "ears-c1") in state[1]
    bad = runner.invoke(app, ["cycle", "--date", "2023-01-10", "--root", "990199999999"])
    assert bad.exit_code == 2 and "990199999999" in bad.output
