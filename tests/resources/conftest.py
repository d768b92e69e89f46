"""Fixtures: a small synthetic region with its facilities, capacity and stock in the database."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from ruralwatch.areas.models import Area
from ruralwatch.areas.services import import_areas
from ruralwatch.synth.region import Region, build_region
from ruralwatch.synth.resources import Resources, build_resources

ON = dt.date(2023, 2, 5)
SEED = 20230122


@pytest.fixture(scope="session")
def region() -> Region:
    return build_region(SEED, n_townships=12, n_villages=80)


@pytest.fixture(scope="session")
def synthetic(region: Region) -> Resources:
    return build_resources(region, SEED, on=ON)


def load_tree(region: Region, tmp_path: Path) -> None:
    path = tmp_path / "areas.csv"
    region.areas.select(
        "code", "name", "level", "parent_code", "population", "population_65plus", "key_areas"
    ).write_csv(path)
    import_areas(path)


@pytest.fixture
def loaded(db: None, region: Region, synthetic: Resources, tmp_path: Path) -> Resources:
    """The region's tree, registry and stock, imported through the importers."""
    from ruralwatch.resources.services import load_synthetic

    load_tree(region, tmp_path)
    load_synthetic(synthetic, tmp_path / "resources", today=ON)
    return synthetic


def county(region: Region) -> Area:
    code = region.areas.filter(region.areas["level"] == 3)["code"][0]
    return Area.objects.get(code=code)


def province(region: Region) -> Area:
    code = region.areas.filter(region.areas["level"] == 1)["code"][0]
    return Area.objects.get(code=code)
