"""Synthetic coordinates: township seats spread over a county, villages around their seats.

The demo has no real village boundaries, so the dashboard draws villages as points. Counties
sit on a grid, townships on a jittered ring around the county seat (the first township is the
seat), villages scatter around their township's seat. Vectorised and deterministic for a seed.
"""

from __future__ import annotations

import numpy as np
import polars as pl

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
