"""Map data: the synthetic province (the province benchmark's 20,868 villages) drawn on Henan's
real outline, its shapes derived level by level, and the size of each page's map data.

    DATABASE_URL=sqlite:////tmp/maps.sqlite3 RURALWATCH_ENV=development python -m bench.maps

Steps, timed: the province's division list and the outline imported, every level below
derived (Voronoi cells cut to the parent's shape), then the map data (GeoJSON features, as
the page downloads them) of the province, a prefecture, a county and a township page.
No reports are loaded: every measure is null, which a number replaces with a few bytes per
feature. Also the county outlines of the whole country imported (2,862 features).
"""

from __future__ import annotations

import gzip
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

SEED = 20230122
DATA = Path(os.environ.get("RURALWATCH_SHARED", Path(__file__).resolve().parents[2] / "shared"))
GEO = DATA / "data" / "geo"


def run() -> dict[str, Any]:
    import django

    django.setup()
    import numpy as np
    import polars as pl
    from django.core.management import call_command

    from ruralwatch.areas import geometry
    from ruralwatch.areas.models import Area, AreaShape
    from ruralwatch.areas.services import delete_subtree, import_areas, import_boundaries
    from ruralwatch.dashboard.maps import map_features
    from ruralwatch.synth import build_region
    from ruralwatch.synth.geo import POOL_PER_LEAF, outline_collection, place_in_pool, read_outline

    call_command("migrate", interactive=False, verbosity=0)
    out: dict[str, Any] = {}
    work = Path(tempfile.mkdtemp(prefix="bench-maps-"))
    region = build_region(SEED, scale="province")
    real = read_outline(GEO, "province")
    assert real is not None, f"no outline in {GEO}"
    t = time.perf_counter()
    shape = geometry.parse(real["geometry"])
    villages = region.areas.filter(pl.col("level") == 5).height
    pool = geometry.sample_inside(shape, POOL_PER_LEAF * villages, np.random.default_rng(SEED))
    areas = place_in_pool(region.areas, SEED, pool)
    out["place_s"] = round(time.perf_counter() - t, 2)
    cols = ["code", "name", "level", "parent_code", "population", "lon", "lat"]
    areas.select(cols).write_csv(work / "areas.csv")
    root = areas.filter(pl.col("level") == 1)["code"][0]
    delete_subtree(root)
    import_areas(work / "areas.csv")
    (work / "outline.geojson").write_text(
        json.dumps(outline_collection(real, [root]), ensure_ascii=False), encoding="utf-8"
    )
    t = time.perf_counter()
    summary = import_boundaries(work / "outline.geojson")
    out["import_and_derive_s"] = round(time.perf_counter() - t, 2)
    out["derived"] = summary.derived
    out["villages"] = villages
    out["villages_with_shape"] = AreaShape.objects.filter(area__level=5).count()
    pages = {}
    for level in (1, 2, 3, 4):
        area = Area.objects.filter(level=level, path__startswith=f"/{root}/").order_by("code")[0]
        t = time.perf_counter()
        body = map_features(area, None, "new_cases", lambda c: f"/area/{c}/")
        ms = (time.perf_counter() - t) * 1000
        raw = body.encode("utf-8")
        pages[area.get_level_display()] = {
            "code": area.code,
            "features": len(json.loads(body)["features"]),
            "bytes": len(raw),
            "gzip_bytes": len(gzip.compress(raw)),
            "ms": round(ms, 1),
        }
    out["map_data"] = pages
    # The country's real county outlines through the importer (no derivation).
    counties = GEO / "cn_counties.geojson.gz"
    tree = DATA / "data" / "admin" / "cn_divisions_2016_village.csv.gz"
    frame = pl.read_csv(tree, infer_schema=False).filter(pl.col("level").is_in(["1", "2", "3"]))
    with gzip.open(counties, "rt", encoding="utf-8") as fh:
        features = json.load(fh)["features"]
    known = {f["properties"]["code"] for f in features}
    missing = known - set(frame["code"].to_list())
    out["national_counties_not_in_2016_list"] = len(missing)
    frame.write_csv(work / "national.csv")
    import_areas(work / "national.csv")
    kept = [f for f in features if f["properties"]["code"] not in missing]
    (work / "counties.geojson").write_text(
        json.dumps({"type": "FeatureCollection", "features": kept}), encoding="utf-8"
    )
    t = time.perf_counter()
    s = import_boundaries(work / "counties.geojson", derive=False)
    out["national_counties"] = {"features": s.rows, "s": round(time.perf_counter() - t, 2)}
    t = time.perf_counter()
    again = import_boundaries(work / "counties.geojson", derive=False)
    out["national_counties_reimport"] = {
        "unchanged": again.unchanged,
        "s": round(time.perf_counter() - t, 2),
    }
    return out


if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ruralwatch.config.settings")
    print(json.dumps(run(), ensure_ascii=False, indent=2))
