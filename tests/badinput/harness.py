"""The bad-input corpus's harness for the importers added after reports, areas and roster.

One *world* — the corpus's tree (:data:`tests.badinput.corpus.TREE`) with facilities,
capacity, stock, a pairing, a transfer, key-area tags and a boundary, all loaded through
the importers — is built once per test module (committed outside the tests' transactions)
and removed after it. Each case then runs inside the test's transaction against that world
and must leave every table an importer of this corpus writes exactly as it was: the same
row count and the same checksum of every row.

Generic cases (empty file, junk, truncated gzip, decompression bombs, huge XLSX dimensions,
uncached formulas, missing and surplus columns …) are made here from one importer's good
header and row; each importer's module adds the cases of its own columns.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.db import models
from django.test import override_settings
from django.utils import translation

from ruralwatch.areas.models import Area, AreaShape
from ruralwatch.core.problems import ImportRejected, Problem
from ruralwatch.keyareas.models import Pairing as SupportPairing
from ruralwatch.keyareas.models import TagChange
from ruralwatch.resources.models import Capacity, CountyPairing, Facility, StockReport, Transfer
from tests.badinput.corpus import (
    COUNTY,
    PREF,
    PROV,
    TOWN,
    TREE,
    V1,
    V2,
    V3,
    Case,
    Data,
    _csv,
    _gz,
    _truncated_gz,
    _xlsx,
    gzip_bomb,
    xlsx_declaring,
    xlsx_far_cell,
    xlsx_zip_bomb,
)
from tests.commands import cli_runner

#: The decompressed-size limit the corpus runs under (the default, 256 MiB, is tested at full
#: size by test_corpus.py; a bomb here needs only to pass the limit) and the bombs' size.
LIMIT_MB = 8
BOMB_MIB = 12

#: The importers' "today" (the world's data lie before it).
TODAY = dt.date(2023, 2, 6)
WEST = "990101002000"

#: Every table an importer of this corpus (or the division importer it builds on) writes.
WRITTEN: tuple[type[models.Model], ...] = (
    Area,
    AreaShape,
    Facility,
    Capacity,
    StockReport,
    CountyPairing,
    Transfer,
    TagChange,
    SupportPairing,
)

# --- the world -----------------------------------------------------------------------------

FACILITIES = (
    "code,name,kind,area_code,population_served,as_of,fever_clinic,beds,oxygen,doctors,grade\n"
    f"THC-E,东镇卫生院,乡镇卫生院,{TOWN},3000,2023-02-01,是,20,是,5,\n"
    f"THC-W,西乡卫生院,township_health_centre,{WEST},2000,2023-02-01,否,10,是,3,\n"
    f"VC-1,东一村卫生室,村卫生室,{V1},1000,2023-02-01,,0,否,1,\n"
    f"VC-2,东二村卫生室,village_clinic,{V2},2000,2023-02-01,,0,否,1,\n"
    f"VC-3,西一村卫生室,village_clinic,{V3},2000,2023-02-01,,0,否,1,\n"
    f"CH,示范县医院,县医院,{COUNTY},5000,2023-02-01,是,100,是,40,2\n"
    f"UH,示范市第一医院,城市医院,{PREF},,2023-02-01,是,800,是,300,三级\n"
)
STOCK = (
    "facility_code,item,date,on_hand,received,issued\n"
    "VC-1,antigen_kit,2023-02-01,20,10,5\n"
    "THC-E,antigen_kit,2023-02-01,200,100,50\n"
)
PAIRINGS = (
    "county_code,hospital_code,since,until,reserved_beds,green_channel\n"
    f"{COUNTY},UH,2022-12-01,,20,是\n"
)
TRANSFERS = (
    "date,from_facility,to_facility,patients,severe,green_channel\n"
    "2023-02-01,VC-1,THC-E,2,0,0\n"
    "2023-02-01,CH,UH,1,1,1\n"
)
TAGS = f"code,key_areas,support_unit\n{V3},mountain,{TOWN}\n"
#: A square around the county (the boundary the world holds before each case).
SQUARE = [[[110.0, 30.0], [110.5, 30.0], [110.5, 30.5], [110.0, 30.5], [110.0, 30.0]]]


def feature(code: Any, coordinates: Any = None, kind: str = "Polygon", **props: Any) -> dict:
    """A GeoJSON feature (``code`` None: no code property)."""
    properties = dict(props)
    if code is not None:
        properties["code"] = code
    return {
        "type": "Feature",
        "properties": properties,
        "geometry": {"type": kind, "coordinates": SQUARE if coordinates is None else coordinates},
    }


def collection(*features: Any) -> str:
    return json.dumps({"type": "FeatureCollection", "features": list(features)})


def build_world(directory: Path) -> None:
    """Load the world through the importers (each file must be accepted)."""
    from ruralwatch.areas.services import import_areas, import_boundaries
    from ruralwatch.keyareas.services import import_tags
    from ruralwatch.resources.services import (
        import_facilities,
        import_pairings,
        import_stock,
        import_transfers,
    )

    directory.mkdir(parents=True, exist_ok=True)
    files: list[tuple[str, str, Callable[[Path], Any]]] = [
        ("tree.csv", TREE, import_areas),
        ("boundary.geojson", collection(feature(COUNTY)), import_boundaries),
        ("facilities.csv", FACILITIES, lambda p: import_facilities(p, today=TODAY)),
        ("stock.csv", STOCK, lambda p: import_stock(p, today=TODAY)),
        ("pairings.csv", PAIRINGS, lambda p: import_pairings(p, today=TODAY)),
        ("transfers.csv", TRANSFERS, lambda p: import_transfers(p, today=TODAY)),
        ("tags.csv", TAGS, import_tags),
    ]
    for name, text, importer in files:
        path = directory / name
        path.write_text(text, encoding="utf-8")
        importer(path)


def remove_world() -> None:
    from ruralwatch.areas.services import delete_subtree

    delete_subtree(PROV)


def world_fixture() -> Any:
    """A module-scoped fixture that builds the world once and removes it after the module."""

    @pytest.fixture(scope="module")
    def world(
        django_db_setup: None,
        django_db_blocker: Any,
        tmp_path_factory: pytest.TempPathFactory,
    ) -> Iterator[None]:
        with django_db_blocker.unblock():
            empty = counts()
            build_world(tmp_path_factory.mktemp("world"))
        try:
            yield
        finally:
            with django_db_blocker.unblock():
                remove_world()
                assert counts() == empty, "the world was not removed whole"

    return world


# --- the state an importer must leave untouched --------------------------------------------


def counts() -> dict[str, int]:
    return {m.__name__: m.objects.count() for m in WRITTEN}


def state() -> dict[str, tuple[int, str]]:
    """Row count and a SHA-256 of every row (all columns, in key order) of each table."""
    out: dict[str, tuple[int, str]] = {}
    for model in WRITTEN:
        digest = hashlib.sha256()
        n = 0
        for row in model.objects.order_by("pk").values_list():
            digest.update(repr(row).encode())
            n += 1
        out[model.__name__] = (n, digest.hexdigest())
    return out


# --- generic cases -------------------------------------------------------------------------


def generic_cases(
    importer: str, header: str, good: str, *, formula_column: int, required: str
) -> list[tuple[Case, Data]]:
    """The cases every tabular importer must refuse, made from its ``header`` and one
    ``good`` row (both CSV text); ``formula_column`` indexes the cell made a formula in the
    XLSX cases and ``required`` names a required column dropped in one case."""
    heads = header.split(",")
    cells = good.split(",")
    text = f"{header}\n{good}\n"
    rows: list[list[object]] = [heads, cells]
    formula = list(cells)
    formula[formula_column] = "=A1*2"
    idx = heads.index(required)
    dropped = ",".join(h for i, h in enumerate(heads) if i != idx)
    dropped_row = ",".join(c for i, c in enumerate(cells) if i != idx)
    c: list[tuple[Case, Data]] = []

    def add(name: str, column: str | None, reason: str, data: Data, row: int | None) -> None:
        c.append((Case(importer, name, column, reason, row), data))

    add("empty.csv", None, "the file is empty", b"", None)
    add("blank_lines.csv", None, "the file is empty", b"\n\n  \n", None)
    add("binary.csv", None, "neither UTF-8 nor GB18030", bytes(range(128, 256)) * 8, None)
    add("latin1.csv", None, "neither UTF-8 nor GB18030", b"\xff\xfe\xff" * 40, None)
    add("ragged.csv", None, "not a readable CSV", _csv(f"{text}{good},extra,fields\n"), None)
    add(
        "too_many_columns.csv",
        None,
        "columns",
        _csv(header + "," + ",".join(f"c{i}" for i in range(1200)) + "\n"),
        None,
    )
    add(
        "missing_column.csv",
        required,
        "required column is missing",
        _csv(f"{dropped}\n{dropped_row}\n"),
        1,
    )
    add("header_only_wrong.csv", required, "required column", _csv("a,b,c\n1,2,3\n"), 1)
    add("truncated.csv.gz", None, "truncated or damaged", _truncated_gz(text * 20), None)
    add("garbage.csv.gz", None, "truncated or damaged", b"\x1f\x8b" + b"garbage" * 100, None)
    add(
        "bomb.csv.gz",
        None,
        "MiB of data once decompressed",
        lambda: gzip_bomb(header, BOMB_MIB),
        None,
    )
    add("not_a_zip.xlsx", None, "not a readable XLSX", _csv(text), None)
    add(
        "dimension_xfd.xlsx",
        None,
        "the sheet declares",
        xlsx_declaring(rows, "A1:XFD1048576"),
        None,
    )
    add(
        "dimension_rows.xlsx",
        None,
        "the sheet declares",
        xlsx_declaring(rows, "A1:Z10000000"),
        None,
    )
    add("far_cell.xlsx", "XFD", "column without a header", xlsx_far_cell(rows), 1048576)
    add(
        "zip_bomb.xlsx",
        None,
        "MiB of data once decompressed",
        lambda: xlsx_zip_bomb(rows, BOMB_MIB),
        None,
    )
    add(
        "formula_uncached.xlsx",
        heads[formula_column],
        "no stored result",
        _xlsx([*rows, formula]),
        3,
    )
    return c


def gz(text: str) -> bytes:
    return _gz(text)


# --- running and checking ------------------------------------------------------------------


def write_cases(directory: Path, cases: list[tuple[Case, Data]]) -> Path:
    for case, data in cases:
        (directory / case.name).write_bytes(data() if callable(data) else data)
    names = [case.name for case, _data in cases]
    assert len(names) == len(set(names)), "corpus file names must be unique per importer"
    return directory


def matches(case: Case, problems: list[Problem]) -> bool:
    return any(
        p.column == case.column
        and case.reason in p.reason
        and (case.row is None or p.row == case.row)
        for p in problems
    )


def assert_refused(case: Case, run: Callable[[], Any]) -> None:
    """``run`` raises ImportRejected (nothing else), a problem names the case's file, row,
    column and reason, and every written table is unchanged."""
    before = state()
    with (
        override_settings(RURALWATCH_IMPORT_MAX_MB=LIMIT_MB),
        translation.override("en"),
        pytest.raises(ImportRejected) as info,
    ):
        run()
    problems = info.value.problems
    assert matches(case, problems), [str(p) for p in problems]
    assert all(p.file == case.name and p.reason for p in problems), [str(p) for p in problems]
    assert state() == before


def assert_cli_refuses(case: Case, args: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """The command exits 1 printing the reason, without a traceback, and writes nothing."""
    monkeypatch.setenv("LANGUAGE", "en")
    invoke = cli_runner(monkeypatch)  # the test database is already migrated
    before = state()
    with override_settings(RURALWATCH_IMPORT_MAX_MB=LIMIT_MB), translation.override("en"):
        result = invoke(args)
    output = result.output + (result.stderr if result.stderr_bytes is not None else "")
    assert result.exit_code == 1, output
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in output and "Aborted" not in output
    assert case.reason in output, output
    assert case.name in output, output
    assert state() == before
