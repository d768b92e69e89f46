"""summary.json's resources and allocation blocks (what the demo writes)."""

from __future__ import annotations

from ruralwatch.resources.services import DEMO_SHIPMENT_SHARE, demo_resources_summary
from ruralwatch.synth.resources import Resources
from tests.resources.conftest import ON, county


def test_demo_blocks(loaded: Resources, region) -> None:
    c = county(region)
    block = demo_resources_summary(c, ON)
    res, alloc = block["resources"], block["allocation"]
    assert res["stock_outs"] == sum(1 for t in loaded.truth if t["kind"] == "stock_out")
    assert sum(res["days_of_supply"]["distribution"].values()) > 0
    assert alloc is not None and alloc["recipients"] > 0
    for item, units in alloc["allocated"].items():
        assert units <= alloc["supply"][item] <= alloc["need"][item] * DEMO_SHIPMENT_SHARE + 1
        assert 0 <= alloc["fill_rate"][item] <= 1
    assert alloc["minimum_covered"] <= alloc["minimum_total"]
    assert demo_resources_summary(c, ON) == block  # a re-run gives the same block
