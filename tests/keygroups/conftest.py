"""Fixtures: a small synthetic region in the database, and its persons in one township."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from ruralwatch.areas.models import Area
from ruralwatch.areas.services import import_areas
from ruralwatch.synth.region import Region, build_region

ON = dt.date(2023, 2, 5)
SEED = 20230122


@pytest.fixture(scope="session")
def region() -> Region:
    return build_region(SEED, n_townships=12, n_villages=60)


def load_tree(region: Region, tmp_path: Path) -> None:
    path = tmp_path / "areas.csv"
    region.areas.select(
        "code", "name", "level", "parent_code", "population", "population_65plus"
    ).write_csv(path)
    import_areas(path)


@pytest.fixture
def tree(db: None, region: Region, tmp_path: Path) -> Region:
    load_tree(region, tmp_path)
    return region


@pytest.fixture
def village(tree: Region) -> Area:
    code = tree.villages["code"][0]
    return Area.objects.get(code=code)


def first_township(region: Region) -> str:
    return str(region.townships["code"][0])


def smallest_township(region: Region) -> str:
    v = region.villages.with_columns(pl.col("code").str.slice(0, 9).alias("t"))
    t = v.group_by("t").agg(pl.col("population_65plus").sum()).sort("population_65plus")["t"][0]
    return str(t) + "000"


def as_ids(items: list[dict[str, Any]]) -> set[str]:
    return {i["id"] for i in items}
