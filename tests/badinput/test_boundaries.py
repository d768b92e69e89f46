"""Bad-input corpus of ``ruralwatch areas boundaries FILE.geojson[.gz]``: every file refused
whole, naming the feature (``row``, from 1) and the property or member at fault (``column``)
and the reason, nothing written."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ruralwatch.areas.services import import_boundaries
from tests.badinput.corpus import PREF, TOWN, Case, Data, _truncated_gz, gzip_bomb
from tests.badinput.harness import (
    BOMB_MIB,
    SQUARE,
    assert_cli_refuses,
    assert_refused,
    collection,
    feature,
    gz,
    world_fixture,
    write_cases,
)

pytestmark = pytest.mark.django_db
world = world_fixture()

GOOD = feature(PREF)


def _cases() -> list[tuple[Case, Data]]:
    c: list[tuple[Case, Data]] = []

    def add(name: str, column: str | None, reason: str, data: Data, row: int | None) -> None:
        c.append((Case("boundaries", name, column, reason, row), data))

    def bad(name: str, second: Any, column: str, reason: str) -> None:
        """A good feature, then the bad one (feature 2)."""
        add(name, column, reason, collection(GOOD, second).encode(), 2)

    # --- the file as a whole
    add("empty.geojson", None, "not valid JSON", b"", None)
    add("binary.geojson", None, "neither UTF-8 nor GB18030", bytes(range(128, 256)) * 8, None)
    add("not_json.geojson", None, "not valid JSON", b"code,name\n1,2\n", None)
    add("truncated_json.geojson", None, "not valid JSON", collection(GOOD).encode()[:-30], None)
    add("array.geojson", None, "FeatureCollection", b"[]", None)
    add("feature_alone.geojson", None, "FeatureCollection", json.dumps(GOOD).encode(), None)
    add("null.geojson", None, "FeatureCollection", b"null", None)
    add(
        "features_not_list.geojson",
        "features",
        "must be a list",
        b'{"type":"FeatureCollection","features":{"a":1}}',
        None,
    )
    add("no_features.geojson", "features", "no features", collection().encode(), None)
    add("deep.geojson", None, "not valid JSON", b"[" * 100_000 + b"]" * 100_000, None)
    add("long_number.geojson", None, "not valid JSON", b'{"type":' + b"1" * 5000 + b"}", None)
    add("truncated.geojson.gz", None, "truncated or damaged", _truncated_gz(collection(GOOD)), None)
    add(
        "bomb.geojson.gz",
        None,
        "MiB of data once decompressed",
        lambda: gzip_bomb('{"type":"FeatureCollection","features":[', BOMB_MIB),
        None,
    )
    # --- a feature
    bad("not_a_feature.geojson", {"type": "Point"}, "type", "not a GeoJSON Feature")
    bad("feature_is_list.geojson", [1, 2], "type", "not a GeoJSON Feature")
    bad("no_code.geojson", feature(None, name="东镇"), "properties.code", "no area code")
    bad(
        "no_properties.geojson",
        {"type": "Feature", "geometry": GOOD["geometry"]},
        "properties.code",
        "no area code",
    )
    bad(
        "properties_list.geojson",
        {**feature(None), "properties": [TOWN]},
        "properties.code",
        "no area code",
    )
    bad("code_11.geojson", feature("99010100100"), "properties.code", "not a 12-digit")
    bad("code_letters.geojson", feature("99010100100X"), "properties.code", "not a 12-digit")
    bad("code_float.geojson", feature(990101001000.0), "properties.code", "not a 12-digit")
    bad("code_list.geojson", feature([TOWN]), "properties.code", "not a 12-digit")
    bad("adcode_5.geojson", feature(None, adcode="99010"), "properties.code", "not a 12-digit")
    bad("code_unknown.geojson", feature("990101009000"), "properties.code", "unknown area")
    bad("adcode_unknown.geojson", feature(None, adcode="990199"), "properties.code", "unknown area")
    bad("duplicate.geojson", feature(PREF), "properties.code", "duplicate code")
    bad(
        "duplicate_adcode.geojson",
        feature(None, adcode=PREF[:6]),
        "properties.code",
        "duplicate code",
    )
    # --- its geometry
    geometry = "geometry"
    bad("point.geojson", feature(TOWN, [110.1, 30.1], kind="Point"), geometry, "Polygon or")
    bad("no_geometry.geojson", {**feature(TOWN), "geometry": None}, geometry, "Polygon or")
    bad("geometry_text.geojson", {**feature(TOWN), "geometry": "POLYGON"}, geometry, "Polygon or")
    bad("no_coordinates.geojson", feature(TOWN, []), geometry, "coordinates are not lists")
    bad("coordinates_text.geojson", feature(TOWN, "x"), geometry, "coordinates are not lists")
    ragged = [[[110.0, 30.0], [110.5], [110.5, 30.5], [110.0, 30.5]]]
    bad("ragged.geojson", feature(TOWN, ragged), geometry, "coordinates")
    words = [[["a", "b"], ["c", "d"], ["e", "f"], ["a", "b"]]]
    bad("words.geojson", feature(TOWN, words), geometry, "coordinates are not lists")
    dicts = [[{"x": 1}, {"x": 2}, {"x": 3}]]
    bad("dicts.geojson", feature(TOWN, dicts), geometry, "coordinates")
    nulls = [[[110.0, None], [110.5, 30.0], [110.5, 30.5], [110.0, 30.0]]]
    bad("null_coordinate.geojson", feature(TOWN, nulls), geometry, "coordinates are not lists")
    for name, x in (("nan", "NaN"), ("inf", "Infinity"), ("1e400", "1e400")):
        text = collection(GOOD, feature(TOWN, [[[110.0, 30.0], [999.0, 30.0], [110.5, 30.5]]]))
        text = text.replace("999.0", x)
        add(f"coordinate_{name}.geojson", geometry, "coordinates are not lists", text.encode(), 2)
    far = [[[110.0, 30.0], [200.0, 30.0], [110.5, 30.5], [110.0, 30.0]]]
    bad("longitude_200.geojson", feature(TOWN, far), geometry, "outside longitude")
    pole = [[[110.0, 30.0], [110.5, 95.0], [110.5, 30.5], [110.0, 30.0]]]
    bad("latitude_95.geojson", feature(TOWN, pole), geometry, "outside longitude")
    two = [[[110.0, 30.0], [110.5, 30.0], [110.0, 30.0]]]
    bad("two_points.geojson", feature(TOWN, two), geometry, "fewer than 3 distinct points")
    line = [[[110.0, 30.0], [110.25, 30.0], [110.5, 30.0], [110.0, 30.0]]]
    bad("flat.geojson", feature(TOWN, line), geometry, "no area")
    bad("multi_empty.geojson", feature(TOWN, [], kind="MultiPolygon"), geometry, "coordinates")
    bad(
        "multi_as_polygon.geojson",
        feature(TOWN, [SQUARE], kind="Polygon"),
        geometry,
        "coordinates are not lists",
    )
    add(
        "no_code.geojson.gz",
        "properties.code",
        "no area code",
        gz(collection(GOOD, feature(None))),
        2,
    )
    add(
        "village_unknown_and_bad.geojson",
        "properties.code",
        "unknown area",
        collection(GOOD, feature("990101009001", [])).encode(),
        2,
    )
    return c


CASES = _cases()
ALL = [case for case, _data in CASES]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_cases(tmp_path_factory.mktemp("boundaries"), CASES)


def test_the_corpus_is_large() -> None:
    assert len(ALL) >= 45


@pytest.mark.parametrize("case", ALL, ids=[c.name for c in ALL])
def test_refused_whole_with_a_clear_problem(case: Case, corpus: Path, world: None) -> None:
    assert_refused(case, lambda: import_boundaries(corpus / case.name))


def test_the_good_feature_alone_is_accepted(tmp_path: Path, world: None) -> None:
    """The corpus's bad files differ from an accepted one only in what they are about."""
    path = tmp_path / "good.geojson"
    path.write_text(collection(GOOD, feature(TOWN, [[[110, 30], [110.2, 30], [110.1, 30.2]]])))
    summary = import_boundaries(path, derive=False)
    assert summary.imported == 2


@pytest.mark.parametrize("name", ["code_unknown.geojson", "deep.geojson", "coordinate_nan.geojson"])
def test_command_line(
    name: str, corpus: Path, world: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    case = next(c for c in ALL if c.name == name)
    assert_cli_refuses(case, ["areas", "boundaries", str(corpus / name)], monkeypatch)
