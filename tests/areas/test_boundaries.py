"""Boundary import (real county outlines of Luoyang, 洛阳市) and shapes derived from points.

The division list is the real 2016 NBS tree of Luoyang down to townships (with their GCJ-02
seats); the boundaries are the real county outlines from ``data/geo``.
"""

from __future__ import annotations

import gzip
import json
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest

from ruralwatch.areas import geometry
from ruralwatch.areas.models import Area, AreaShape
from ruralwatch.areas.services import derive_shapes, import_areas, import_boundaries
from ruralwatch.core.problems import ImportRejected
from tests.shared import DATA

pytestmark = pytest.mark.django_db

PREFECTURE = "410300"  # 洛阳市
COUNTY = "410327000000"  # 宜阳县
LINFEN = "141000"


@cache
def _tree(prefecture: str = PREFECTURE) -> pl.DataFrame:
    frame = pl.read_csv(DATA / "admin" / "cn_divisions_2016_village.csv.gz", infer_schema=False)
    return frame.filter(
        (pl.col("code") == prefecture[:2] + "0000000000")
        | (pl.col("code").str.starts_with(prefecture[:4]) & pl.col("level").is_in(["2", "3", "4"]))
    )


@cache
def _features(name: str) -> tuple[dict[str, Any], ...]:
    with gzip.open(DATA / "geo" / name, "rt", encoding="utf-8") as fh:
        return tuple(json.load(fh)["features"])


def _counties(prefecture: str = PREFECTURE) -> list[dict[str, Any]]:
    return [
        f
        for f in _features("cn_counties.geojson.gz")
        if f["properties"]["parent_adcode"] == prefecture
    ]


def _load_tree(tmp_path: Path, prefecture: str = PREFECTURE) -> None:
    path = tmp_path / "tree.csv"
    _tree(prefecture).write_csv(path)
    import_areas(path)


def _write(tmp_path: Path, features: list[dict[str, Any]], name: str = "b.geojson.gz") -> Path:
    path = tmp_path / name
    data = json.dumps({"type": "FeatureCollection", "features": features}, ensure_ascii=False)
    if name.endswith(".gz"):
        path.write_bytes(gzip.compress(data.encode("utf-8")))
    else:
        path.write_text(data, encoding="utf-8")
    return path


def _shape(code: str) -> geometry.Shape:
    return geometry.from_geojson(json.loads(AreaShape.objects.get(area_id=code).geometry))


def test_real_county_outlines_import_and_reimport_unchanged(tmp_path: Path) -> None:
    _load_tree(tmp_path)
    counties = _counties()
    path = _write(tmp_path, counties)
    first = import_boundaries(path, derive=False)
    assert (first.rows, first.imported, first.updated, first.unchanged) == (
        len(counties),
        len(counties),
        0,
        0,
    )
    assert first.by_level == {3: len(counties)}
    stored = AreaShape.objects.get(area_id=COUNTY)
    assert not stored.derived and stored.source == "b.geojson.gz"
    source = next(f for f in counties if f["properties"]["code"] == COUNTY)
    assert geometry.area(_shape(COUNTY)) == pytest.approx(
        geometry.area(geometry.parse(source["geometry"])), rel=1e-6
    )
    # Every simplified variant is valid GeoJSON, not larger than the one before, and keeps
    # the area within a few per cent.
    sizes = [len(getattr(stored, f)) for f in ("geometry", "lod1", "lod2", "lod3", "lod4")]
    assert sizes == sorted(sizes, reverse=True)
    for lod in ("lod3", "lod4"):
        a = geometry.area(geometry.from_geojson(json.loads(getattr(stored, lod))))
        assert a == pytest.approx(geometry.area(_shape(COUNTY)), rel=0.05)
    again = import_boundaries(_write(tmp_path, counties, "b.geojson"), derive=False)
    assert (again.imported, again.updated, again.unchanged) == (0, 0, len(counties))


def test_bad_features_are_all_reported_and_nothing_is_written(tmp_path: Path) -> None:
    _load_tree(tmp_path)
    good = _counties()[0]
    square = {
        "type": "Polygon",
        "coordinates": [[[112, 34], [112.1, 34], [112.1, 34.1], [112, 34]]],
    }
    features = [
        good,
        {"type": "Feature", "properties": {"name": "无码"}, "geometry": square},
        {"type": "Feature", "properties": {"code": "999999000000"}, "geometry": square},
        {"type": "Feature", "properties": {"code": good["properties"]["code"]}, "geometry": square},
        {
            "type": "Feature",
            "properties": {"adcode": "410322"},
            "geometry": {"type": "Point", "coordinates": [1, 2]},
        },
        {
            "type": "Feature",
            "properties": {"adcode": "410323"},
            "geometry": {"type": "Polygon", "coordinates": [[[112, 34], [112.1, 34], [112, 34]]]},
        },
        {
            "type": "Feature",
            "properties": {"adcode": "410324"},
            "geometry": {
                "type": "Polygon",
                "coordinates": [[[112, 34], [212, 34], [112, 35], [112, 34]]],
            },
        },
        {
            "type": "Feature",
            "properties": {"adcode": "410325"},
            "geometry": {"type": "Polygon", "coordinates": [[["a", 34], [1, 2], [3, 4]]]},
        },
        {"type": "Feature", "properties": {"code": "4103"}, "geometry": square},
    ]
    with pytest.raises(ImportRejected) as rejected:
        import_boundaries(_write(tmp_path, features), derive=False)
    found = {(p.row, p.column): p.reason for p in rejected.value.problems}
    assert set(found) == {
        (2, "properties.code"),
        (3, "properties.code"),
        (4, "properties.code"),
        (5, "geometry"),
        (6, "geometry"),
        (7, "geometry"),
        (8, "geometry"),
        (9, "properties.code"),
    }
    assert "999999000000" in found[(3, "properties.code")]
    assert "feature 1" in found[(4, "properties.code")] or "1" in found[(4, "properties.code")]
    assert str(rejected.value.problems[0]).startswith("b.geojson.gz")
    assert AreaShape.objects.count() == 0


def test_not_a_feature_collection_and_damaged_gzip(tmp_path: Path) -> None:
    bad = tmp_path / "x.geojson"
    bad.write_text('{"type": "Feature"}', encoding="utf-8")
    with pytest.raises(ImportRejected):
        import_boundaries(bad)
    broken = tmp_path / "y.geojson.gz"
    broken.write_bytes(gzip.compress(b'{"type": "FeatureCollection", "features": []}')[:20])
    with pytest.raises(ImportRejected):
        import_boundaries(broken)


def _overlap_counts(parts: list[geometry.Shape], outline: geometry.Shape, n: int) -> np.ndarray:
    pts = geometry.sample_inside(outline, n, np.random.default_rng(3))
    return sum(geometry.contains(p, pts[:, 0], pts[:, 1]).astype(int) for p in parts)


def test_townships_derived_from_real_seats_cover_each_county_without_overlap(
    tmp_path: Path,
) -> None:
    """Linfen (临汾市): 11 of its 17 counties have the seat of every township in the list."""
    _load_tree(tmp_path, LINFEN)
    summary = import_boundaries(_write(tmp_path, _counties(LINFEN)))
    townships = Area.objects.filter(level=4, l2=LINFEN + "000000")
    shaped = AreaShape.objects.filter(derived=True, area__level=4)
    assert summary.derived == shaped.count() >= 100
    checked = 0
    for county in Area.objects.filter(level=3, shape__derived=False):
        kids = list(townships.filter(parent=county).values_list("code", flat=True))
        parts = [_shape(c) for c in kids if AreaShape.objects.filter(area_id=c).exists()]
        if len(parts) != len(kids) or not kids:
            continue  # a seat outside its county's outline (GCJ-02 vs WGS84) gets no shape
        outline = _shape(county.code)
        total = sum(geometry.area(p) for p in parts)
        assert total == pytest.approx(geometry.area(outline), rel=1e-4)
        counts = _overlap_counts(parts, outline, 600)
        assert (counts == 1).mean() > 0.995  # points on a shared edge may count twice
        checked += 1
    assert checked >= 9
    # Idempotent: derived again, the same shapes.
    before = dict(shaped.values_list("area_id", "geometry"))
    assert derive_shapes() == len(before)
    assert dict(shaped.values_list("area_id", "geometry")) == before


def test_villages_are_derived_inside_their_derived_township(tmp_path: Path) -> None:
    """Recursion: villages' cells are cut to the township's derived cell, which is cut to
    the county's real outline; every level sums to the one above."""
    county = next(f for f in _counties() if f["properties"]["code"] == COUNTY)
    outline = geometry.parse(county["geometry"])
    rng = np.random.default_rng(11)
    seats = geometry.sample_inside(outline, 6, rng)
    rows = [
        ("410000000000", "河南省", 1, "", None, None),
        ("410300000000", "洛阳市", 2, "410000000000", None, None),
        (COUNTY, "宜阳县", 3, "410300000000", None, None),
    ]
    for t, (x, y) in enumerate(seats, start=1):
        code = f"410327{100 + t:03d}000"
        rows.append((code, f"镇{t}", 4, COUNTY, float(x), float(y)))
    frame = pl.DataFrame(
        rows, schema=["code", "name", "level", "parent_code", "lon", "lat"], orient="row"
    )
    frame.write_csv(tmp_path / "t.csv")
    import_areas(tmp_path / "t.csv")
    import_boundaries(_write(tmp_path, [county]))
    # Villages: points inside each derived township.
    villages = []
    for t in range(1, 7):
        code = f"410327{100 + t:03d}000"
        pts = geometry.sample_inside(_shape(code), 5, rng)
        villages += [
            (f"{code[:9]}{200 + v:03d}", f"村{t}-{v}", 5, code, float(x), float(y))
            for v, (x, y) in enumerate(pts, start=1)
        ]
    pl.DataFrame(
        rows + villages,
        schema=["code", "name", "level", "parent_code", "lon", "lat"],
        orient="row",
    ).write_csv(tmp_path / "v.csv")
    import_areas(tmp_path / "v.csv")
    assert derive_shapes("410000000000") == 6 + 30
    for t in range(1, 7):
        code = f"410327{100 + t:03d}000"
        parts = [_shape(v[0]) for v in villages if v[3] == code]
        assert sum(geometry.area(p) for p in parts) == pytest.approx(
            geometry.area(_shape(code)), rel=1e-4
        )
        assert (_overlap_counts(parts, _shape(code), 300) == 1).mean() > 0.99
    total = sum(geometry.area(_shape(f"410327{100 + t:03d}000")) for t in range(1, 7))
    assert total == pytest.approx(geometry.area(outline), rel=1e-4)
    # A township with an imported shape keeps it; a re-derivation does not touch it.
    assert AreaShape.objects.filter(derived=False).count() == 1


def test_cli_boundaries_prints_problems_or_the_summary(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from ruralwatch.cli import app

    _load_tree(tmp_path)
    runner = CliRunner()
    bad = _write(tmp_path, [{"type": "Feature", "properties": {}, "geometry": None}], "bad.json")
    result = runner.invoke(app, ["areas", "boundaries", str(bad)])
    assert result.exit_code == 1
    assert "bad.json" in result.output and "properties.code" in result.output
    good = _write(tmp_path, _counties())
    result = runner.invoke(app, ["areas", "boundaries", str(good), "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout[result.stdout.index("{") :])
    assert summary["imported"] == len(_counties()) and summary["by_level"] == {"3": 15}
    assert summary["derived"] == AreaShape.objects.filter(derived=True).count()
