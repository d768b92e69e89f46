"""The demo's referral network (issue 14, item 6): its urban hospital, pairing and week of
transfers are loaded through the importers, and the route the generator put over capacity is
found (recall 1.0 against truth.json), listed in summary.json and made a capacity task."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from ruralwatch.areas.models import Area
from ruralwatch.cycle.demo import DEMO_END, run_demo
from ruralwatch.dispatch.models import Task
from ruralwatch.resources import selectors
from ruralwatch.synth.resources import ROUTE_KINDS

pytestmark = pytest.mark.django_db

SEED = 20230122


def test_demo_referral_gaps_are_found(tmp_path: Path) -> None:
    # A short winter: the referral network depends on the last week only.
    result = run_demo(tmp_path, seed=SEED, start=DEMO_END - dt.timedelta(days=20), keygroups=False)
    truth = json.loads((tmp_path / "truth.json").read_text(encoding="utf-8"))
    routes = {t["id"] for t in truth if t["kind"] in ROUTE_KINDS}
    assert routes, "the demo injects a route over capacity"
    county = Area.objects.get(code=result.county_code)
    network = selectors.referral_network(county.path, DEMO_END)
    found = {
        f"{g['kind']}:{g['source']}>{g['target']}:{DEMO_END.isoformat()}"
        for g in network["gaps"]
        if g["kind"] != selectors.UNPAIRED
    }
    assert routes - found == set()  # recall 1.0
    assert found - routes == set()  # precision 1.0
    block = result.summary["referrals"]
    assert block["unpaired"] == 0 and len(block["pairings"]) == 1
    assert block["routes_over_capacity"] == len(routes)
    assert {f"{g}:{DEMO_END.isoformat()}" for g in block["gaps"]} == routes
    assert block["patients"] > block["severe"] > 0
    # The cycle made each route gap a capacity task owned by the county.
    tasks = Task.objects.filter(kind_id="capacity_gap", area_path__startswith=county.path)
    keys = {t.source_key for t in tasks}
    for t in truth:
        if t["kind"] in ROUTE_KINDS:
            key = f"capacity_gap:{t['kind']}:{t['source']}>{t['facility']}"
            assert any(k.startswith(key) for k in keys), (key, keys)
