"""``ruralwatch keyareas …``: import, derive, panel, sync-requests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from ruralwatch.areas.models import Area
from ruralwatch.cli import app
from ruralwatch.dispatch.models import Task
from ruralwatch.keyareas.services import answer_request, file_request
from tests.keyareas.conftest import COUNTY, DAY, FOREST, P1, PASTURE, TOWN, write_csv

pytestmark = pytest.mark.django_db
runner = CliRunner()


def test_import_derive_panel_and_requests(
    world: Any, users: dict[str, Any], tmp_path: Path
) -> None:
    bad = write_csv(tmp_path / "bad.csv", [["code", "key_areas"], [P1, "desert"]])
    r = runner.invoke(app, ["keyareas", "import", str(bad)])
    assert (
        r.exit_code == 1 and "bad.csv, 第 2 行, 列 key_areas" in r.output and "desert" in r.output
    )
    good = write_csv(
        tmp_path / "good.csv", [["code", "key_areas", "support_unit"], [PASTURE, "pastoral", TOWN]]
    )
    r = runner.invoke(app, ["keyareas", "import", str(good), "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["pairings"] == 1
    r = runner.invoke(app, ["keyareas", "derive", "--root", COUNTY, "--apply"])
    assert r.exit_code == 0 and FOREST in r.stdout and "tagged 3 area(s)" in r.stdout
    r = runner.invoke(app, ["keyareas", "panel", COUNTY, "--date", DAY.isoformat()])
    panel = json.loads(r.stdout)
    # The pasture now shares its baseline with the forest farm (2 cases a day): its 4 cases
    # are no rise there, but still its first case after a quiet winter, as is P1's.
    assert panel["count"] == 4
    assert (panel["by_status"]["first_case"], panel["by_status"]["rising"]) == (2, 0)
    request = file_request(users["pasture"], Area.objects.get(code=PASTURE), "transport")
    r = runner.invoke(app, ["keyareas", "sync-requests"])
    assert json.loads(r.stdout) == {"created": 1, "auto_closed": 0}
    task = Task.objects.get(kind_id="support_request")
    assert task.owner_area_id == TOWN and task.due_done == request.respond_by
    answer_request(users["town"], request, "救护车已出发")
    r = runner.invoke(app, ["keyareas", "sync-requests"])
    assert json.loads(r.stdout) == {"created": 0, "auto_closed": 1}
