"""The demo's synthetic county on Yiyang county's real outline: every point lies inside its
parent's derived shape, so every township and village gets a shape (no database)."""

from __future__ import annotations

import numpy as np
import polars as pl

from ruralwatch.areas import geometry
from ruralwatch.synth import build_region
from ruralwatch.synth.geo import POOL_PER_LEAF, place_in_pool, read_outline
from tests.shared import DATA


def test_points_nest_in_the_cells_derived_from_them() -> None:
    real = read_outline(DATA / "geo", "county")
    assert real is not None and real["properties"]["name"] == "宜阳县"
    outline = geometry.parse(real["geometry"])
    region = build_region(7, scale="county")
    leaves = region.areas.filter(pl.col("level") == 5).height
    pool = geometry.sample_inside(outline, POOL_PER_LEAF * leaves, np.random.default_rng(7))
    areas = place_in_pool(region.areas, 7, pool)
    again = place_in_pool(region.areas, 7, pool)
    assert areas.equals(again)  # deterministic for a seed
    assert areas.filter(pl.col("level") >= 3)["lon"].null_count() == 0
    county = areas.filter(pl.col("level") == 3)["code"][0]
    townships = areas.filter(pl.col("parent_code") == county).sort("code")
    pts = townships.select("lon", "lat").to_numpy()
    assert geometry.contains(outline, pts[:, 0], pts[:, 1]).all()
    cells = geometry.voronoi_cells(pts, geometry.bbox(outline))
    total = 0.0
    for code, cell in zip(townships["code"], cells, strict=True):
        shape = geometry.clip_convex(outline, cell)
        total += geometry.area(shape)
        villages = areas.filter(pl.col("parent_code") == code).select("lon", "lat").to_numpy()
        assert len(villages) > 0
        assert geometry.contains(shape, villages[:, 0], villages[:, 1]).all(), code
    assert abs(total - geometry.area(outline)) < 1e-9
