"""The synthetic referral network (issue 14, item 6): urban hospitals, pairings and a week of
transfers imported through the importers; the route gap the generator injected is found, and
nothing else (recall and precision 1.0 against its truth)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ruralwatch.resources import selectors
from ruralwatch.resources.models import CountyPairing, Facility, Transfer
from ruralwatch.resources.services import load_synthetic_referrals
from ruralwatch.synth.resources import ROUTE_KINDS, Referrals, Resources, build_referrals
from tests.resources.conftest import ON, SEED, province


@pytest.fixture
def referrals(loaded: Resources, region: Any, tmp_path: Path) -> Referrals:
    ref = build_referrals(region, loaded, SEED)
    load_synthetic_referrals(ref, tmp_path / "referrals", today=ON)
    return ref


def _found(network: dict[str, Any]) -> set[str]:
    return {
        f"{g['kind']}:{g['source']}>{g['target']}:{network['date']}"
        for g in network["gaps"]
        if g["kind"] != selectors.UNPAIRED
    }


def test_the_injected_route_gap_is_found_and_nothing_else(referrals: Referrals, region) -> None:
    truth = {t["id"] for t in referrals.truth if t["kind"] in ROUTE_KINDS}
    assert len(truth) == 1
    network = selectors.referral_network(province(region).path, ON)
    found = _found(network)
    assert truth - found == set()  # recall 1.0
    assert found - truth == set()  # precision 1.0
    assert network["unpaired"] == []  # every county is paired
    gap = next(g for g in network["gaps"] if g["kind"] == selectors.OVER_RESERVED)
    t = referrals.truth[0]
    assert (gap["received"], gap["capacity"]) == (t["received"], t["capacity"])


def test_the_synthetic_network_is_imported_whole(referrals: Referrals, region) -> None:
    assert Facility.objects.filter(kind="urban_hospital", grade=3).count() == (
        referrals.hospitals.height
    )
    assert CountyPairing.objects.count() == referrals.pairings.height
    assert Transfer.objects.count() == referrals.transfers.height > 0
    network = selectors.referral_network(province(region).path, ON)
    t = network["totals"]
    assert t["patients"] == referrals.transfers["patients"].sum()
    assert t["severe"] == referrals.transfers["severe"].sum() > 0
    # Every level of the chain carries patients.
    kinds = {(r["source_kind"], r["target_kind"]) for r in network["routes"]}
    assert kinds == {
        ("village_clinic", "township_health_centre"),
        ("township_health_centre", "county_hospital"),
        ("county_hospital", "urban_hospital"),
    }


def test_importing_the_network_again_changes_nothing(
    referrals: Referrals, region, tmp_path: Path
) -> None:
    before = selectors.referral_network(province(region).path, ON)
    again = load_synthetic_referrals(referrals, tmp_path / "again", today=ON)
    assert again["transfers"] == referrals.transfers.height
    assert Transfer.objects.count() == referrals.transfers.height
    assert selectors.referral_network(province(region).path, ON) == before
