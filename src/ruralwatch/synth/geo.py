"""Synthetic coordinates: township seats spread over a county, villages around their seats.

:func:`place_in_pool` puts a region inside a real outline (:data:`OUTLINES`): every area's
point lies inside its parent's derived shape, so the map's Voronoi cells nest level by level.
:func:`place_areas` is the plain layout without an outline: counties on a grid, townships on a
jittered ring around the county seat (the first township is the seat), villages scattered
around their township's seat. Both vectorised and deterministic for a seed.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl
from scipy.spatial import cKDTree

# A plausible rural county centre (degrees); only the layout matters, not the place.
CENTRE = (112.45, 34.62)
COUNTY_RADIUS_DEG = 0.28


def place_areas(
    areas: pl.DataFrame, seed: int, centre: tuple[float, float] = CENTRE
) -> pl.DataFrame:
    """``areas`` with ``lon``/``lat`` for counties, townships and villages (others null)."""
    rng = np.random.default_rng(seed + 7919)
    cos_lat = float(np.cos(np.radians(centre[1])))
    counties = areas.filter(pl.col("level") == 3).select("code")
    side = int(np.ceil(np.sqrt(max(counties.height, 1))))
    i = np.arange(counties.height)
    r, c = np.divmod(i, side)
    placed = counties.with_columns(
        pl.Series("lon", centre[0] + (c - (side - 1) / 2) * 2.4 * COUNTY_RADIUS_DEG),
        pl.Series("lat", centre[1] + (r - (side - 1) / 2) * 2.0 * COUNTY_RADIUS_DEG),
    )
    for level in (4, 5):
        rows = (
            areas.filter(pl.col("level") == level)
            .select("code", "parent_code")
            .with_columns(
                pl.int_range(pl.len()).over("parent_code").alias("k"),
                pl.len().over("parent_code").alias("n"),
            )
            .join(
                placed.rename({"code": "parent_code", "lon": "plon", "lat": "plat"}),
                on="parent_code",
                how="left",
            )
        )
        k = rows["k"].to_numpy().astype(float)
        n = rows["n"].to_numpy().astype(float)
        u1, u2, g = (
            rng.random(rows.height),
            rng.random(rows.height),
            rng.normal(0, 0.15, rows.height),
        )
        if level == 4:
            angle = 2 * np.pi * k / np.maximum(n - 1, 1) + g
            radius = np.where(k == 0, 0.0, COUNTY_RADIUS_DEG * (0.55 + 0.35 * u1))
        else:
            angle = 2 * np.pi * u2
            radius = 0.012 * np.sqrt(n) * np.sqrt(u1)
        plon = rows["plon"].fill_null(centre[0]).to_numpy()
        plat = rows["plat"].fill_null(centre[1]).to_numpy()
        placed = pl.concat(
            [
                placed,
                rows.select("code").with_columns(
                    pl.Series("lon", np.round(plon + radius * np.cos(angle) / cos_lat, 5)),
                    pl.Series("lat", np.round(plat + radius * np.sin(angle), 5)),
                ),
            ]
        )
    return areas.drop([c for c in ("lon", "lat") if c in areas.columns]).join(
        placed, on="code", how="left"
    )


#: Real outlines the synthetic regions are drawn on, in the shared reference data's ``geo/``
#: folder: Yiyang county (宜阳县, Luoyang, Henan) for the demo county, Henan for the province.
OUTLINES = {
    "county": ("cn_counties.geojson.gz", "410327000000"),
    "province": ("cn_provinces.geojson.gz", "410000000000"),
}
#: Candidate points drawn inside the outline per leaf area (more: rounder cells).
POOL_PER_LEAF = 15
#: Separates the sibling groups in the nearest-seat search (far beyond any distance in degrees).
_GROUP_GAP = 1.0e4


def read_outline(geo_dir: Path, scale: str) -> dict[str, Any] | None:
    """The real feature (GeoJSON) the region of ``scale`` is drawn on; ``None`` if the
    boundary file is not there (the demo then keeps the plain synthetic layout)."""
    name, code = OUTLINES[scale]
    path = geo_dir / name
    if not path.exists():
        return None
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        features = json.load(fh)["features"]
    return next((f for f in features if f["properties"].get("code") == code), None)


def outline_collection(outline: dict[str, Any], codes: list[str]) -> dict[str, Any]:
    """A FeatureCollection giving the outline to each of ``codes`` (the synthetic root and its
    single-child chain), for ``ruralwatch areas boundaries``."""
    real = outline["properties"]
    return {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "properties": {"code": c, "outline_of": f"{real.get('name')} {real.get('code')}"},
                "geometry": outline["geometry"],
            }
            for c in codes
        ],
    }


def place_in_pool(areas: pl.DataFrame, seed: int, pool: npt.NDArray[np.float64]) -> pl.DataFrame:
    """``areas`` with ``lon``/``lat`` taken from ``pool``, candidate points inside a real
    outline (the caller samples them), so that shapes derived from the points nest.

    Level by level: each pool point belongs to one area of the level above (the root owns
    all); an area's children take random points among those of their parent; then every
    point goes to the nearest child of its owner. So each point chosen for a child lies in
    its parent's Voronoi cell among its siblings, cut to the grandparent's: exactly the shape
    :func:`ruralwatch.areas.services.derive_shapes` gives the parent. Deterministic for a seed.
    """
    rng = np.random.default_rng(seed + 104729)
    pts = np.asarray(pool, dtype=float)
    levels = sorted(int(v) for v in areas["level"].unique())
    top = areas.filter(pl.col("level") == levels[0])
    centre = pts.mean(axis=0)
    start = int(np.argmin(np.hypot(*(pts - centre).T)))
    codes = top["code"].to_list()
    lon = {c: float(pts[start, 0]) for c in codes}
    lat = {c: float(pts[start, 1]) for c in codes}
    owner = np.zeros(len(pts), dtype=np.int64)  # index into ``codes`` (the level above)
    for level in levels[1:]:
        rows = areas.filter(pl.col("level") == level).select("code", "parent_code")
        index = {c: i for i, c in enumerate(codes)}
        parent = np.array([index.get(p, -1) for p in rows["parent_code"].to_list()])
        order = np.argsort(owner, kind="stable")
        bounds = np.searchsorted(owner[order], np.arange(len(codes) + 1))
        seats = np.zeros((rows.height, 2))
        for p in np.unique(parent[parent >= 0]):
            kids = np.flatnonzero(parent == p)
            mine = order[bounds[p] : bounds[p + 1]]
            if len(mine) == 0:
                mine = np.array([int(np.argmin(np.hypot(*(pts - seats_of(p, codes, lon, lat)).T)))])
            pick = rng.choice(mine, size=len(kids), replace=len(mine) < len(kids))
            seats[kids] = pts[pick]
        tree = cKDTree(np.column_stack([seats, parent * _GROUP_GAP]))
        _, nearest = tree.query(np.column_stack([pts, owner * _GROUP_GAP]))
        owner = np.where(parent[nearest] == owner, nearest, -1)
        codes = rows["code"].to_list()
        lon.update(zip(codes, seats[:, 0].tolist(), strict=True))
        lat.update(zip(codes, seats[:, 1].tolist(), strict=True))
    placed = pl.DataFrame(
        {
            "code": list(lon),
            "lon": list(lon.values()),
            "lat": [lat[c] for c in lon],
        }
    )
    return areas.drop([c for c in ("lon", "lat") if c in areas.columns]).join(
        placed, on="code", how="left"
    )


def seats_of(
    p: int, codes: list[str], lon: dict[str, float], lat: dict[str, float]
) -> npt.NDArray[np.float64]:
    return np.array([lon[codes[p]], lat[codes[p]]])
