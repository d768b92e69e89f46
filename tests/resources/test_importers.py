"""The registry and stock importers: all-or-nothing with file, row, column and reason;
idempotent; CSV and XLSX alike; through the command line too."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from django.utils import translation
from openpyxl import Workbook
from typer.testing import CliRunner

from ruralwatch.cli import app
from ruralwatch.core.problems import ImportRejected
from ruralwatch.resources.models import Capacity, Facility, StockReport
from ruralwatch.resources.services import import_facilities, import_stock, record_stock
from ruralwatch.synth.resources import Resources
from tests.resources.conftest import ON


@pytest.fixture(autouse=True)
def _english():  # type: ignore[no-untyped-def]
    """Reasons are compared in English (the catalog gives them in Chinese by default)."""
    with translation.override("en"):
        yield


HEADER = "code,name,kind,area_code,as_of,fever_clinic,fever_clinic_hours,doctors\n"


def _counts() -> tuple[int, int, int]:
    return Facility.objects.count(), Capacity.objects.count(), StockReport.objects.count()


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _village(region) -> str:  # type: ignore[no-untyped-def]
    return str(region.villages["code"][0])


def _township(region) -> str:  # type: ignore[no-untyped-def]
    return str(region.townships["code"][0])


FACILITY_CASES = [
    # (row text with {v} village, {t} township; expected row, column, words in the reason)
    ("x1,甲,hospital,{v},2023-02-01,yes,8,1", 2, "kind", "unknown facility kind hospital"),
    ("x1,甲,village_clinic,999999999999,2023-02-01,yes,8,1", 2, "area_code", "unknown area code"),
    ("x1,甲,village_clinic,{t},2023-02-01,yes,8,1", 2, "area_code", "level 5"),
    ("x1,甲,village_clinic,{v},2023-02-01,maybe,8,1", 2, "fever_clinic", "not yes or no"),
    ("x1,甲,village_clinic,{v},2023-02-01,yes,25,1", 2, "fever_clinic_hours", "0–24"),
    ("x1,甲,village_clinic,{v},2023-02-01,yes,8,-1", 2, "doctors", "whole number"),
    ("x1,甲,village_clinic,{v},2023-02-30,yes,8,1", 2, "as_of", "not a date"),
    ("x1,甲,village_clinic,{v},2099-01-01,yes,8,1", 2, "as_of", "outside the accepted span"),
    ("x1,,village_clinic,{v},2023-02-01,yes,8,1", 2, "name", "empty cell"),
    ("x1,甲,village_clinic,{v},,yes,8,1", 2, "as_of", "without the date"),
]


@pytest.mark.parametrize(("row", "line", "column", "reason"), FACILITY_CASES)
def test_bad_registry_rows_are_refused_whole(
    loaded: Resources, region, tmp_path: Path, row: str, line: int, column: str, reason: str
) -> None:
    good = f"ok1,乙,village_clinic,{_village(region)},2023-02-01,no,0,2"
    text = HEADER + row.format(v=_village(region), t=_township(region)) + "\n" + good + "\n"
    before = _counts()
    with pytest.raises(ImportRejected) as exc:
        import_facilities(_write(tmp_path, "reg.csv", text), today=ON)
    hits = [p for p in exc.value.problems if p.row == line and p.column == column]
    assert hits and reason in hits[0].reason, exc.value.render()
    assert all(p.file == "reg.csv" for p in exc.value.problems)
    assert _counts() == before  # nothing written, not even the good row


def test_missing_column_and_duplicates(loaded: Resources, region, tmp_path: Path) -> None:
    with pytest.raises(ImportRejected) as exc:
        import_facilities(_write(tmp_path, "a.csv", "code,name,area_code\nx,y,z\n"), today=ON)
    assert [(p.row, p.column) for p in exc.value.problems] == [(1, "kind")]
    v = _village(region)
    dup = HEADER + f"x,甲,village_clinic,{v},2023-02-01,no,0,1\n" * 2
    with pytest.raises(ImportRejected) as exc:
        import_facilities(_write(tmp_path, "b.csv", dup), today=ON)
    assert "duplicate of row 2" in exc.value.problems[0].reason and exc.value.problems[0].row == 3


def test_registry_import_is_idempotent_and_keeps_history(
    loaded: Resources, region, tmp_path: Path
) -> None:
    v = _village(region)
    text = HEADER + f"new-vc,新村卫生室,村卫生室,{v},2023-01-01,否,0,1\n"
    first = import_facilities(_write(tmp_path, "r.csv", text), today=ON)
    assert (first.inserted, first.capacity_rows) == (1, 1)
    again = import_facilities(_write(tmp_path, "r.csv", text), today=ON)
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 1)
    later = HEADER + f"new-vc,新村卫生室,村卫生室,{v},2023-02-01,否,0,0\n"
    import_facilities(_write(tmp_path, "r2.csv", later), today=ON)
    rows = list(
        Capacity.objects.filter(facility_id="new-vc")
        .order_by("as_of")
        .values_list("doctors", flat=True)
    )
    assert rows == [1, 0]  # the earlier date is kept


STOCK_HEADER = "facility_code,item,date,on_hand,received,issued\n"
STOCK_CASES = [
    ("{f},aspirin,2023-02-05,10,0,0", "item", "unknown item aspirin"),
    ("nosuch,antigen_kit,2023-02-05,10,0,0", "facility_code", "unknown facility nosuch"),
    ("{f},antigen_kit,2023-02-05,-3,0,0", "on_hand", "whole number"),
    ("{f},antigen_kit,2023-02-05,1.5,0,0", "on_hand", "whole number"),
    ("{f},antigen_kit,5/2/2023,10,0,0", "date", "not a date"),
    ("{f},antigen_kit,2023-02-06,10,0,0", "date", "outside the accepted span"),
    ("{f},antigen_kit,2023-02-05,99999999999,0,0", "on_hand", "plausible"),
]


@pytest.mark.parametrize(("row", "column", "reason"), STOCK_CASES)
def test_bad_stock_rows_are_refused_whole(
    loaded: Resources, tmp_path: Path, row: str, column: str, reason: str
) -> None:
    f = loaded.facilities["code"][0]
    text = STOCK_HEADER + f"{f},antipyretic,2023-02-05,10,0,0\n" + row.format(f=f) + "\n"
    before = _counts()
    with pytest.raises(ImportRejected) as exc:
        import_stock(_write(tmp_path, "s.csv", text), today=ON)
    hits = [p for p in exc.value.problems if p.row == 3 and p.column == column]
    assert hits and reason in hits[0].reason, exc.value.render()
    assert _counts() == before


def test_stock_xlsx_with_chinese_headers_and_idempotent(loaded: Resources, tmp_path: Path) -> None:
    f = loaded.facilities["code"][0]
    wb = Workbook()
    ws = wb.active
    ws.append(["机构编码", "物资", "日期", "库存", "入库", "出库"])
    ws.append([f, "抗原检测试剂", dt.datetime(2023, 2, 6), 7, 7, 0])
    path = tmp_path / "stock.xlsx"
    wb.save(path)
    s = import_stock(path, today=ON + dt.timedelta(days=1))
    assert (s.rows, s.inserted) == (1, 1)
    assert import_stock(path, today=ON + dt.timedelta(days=1)).unchanged == 1
    assert (
        StockReport.objects.get(
            facility_id=f, item_id="antigen_kit", date=ON + dt.timedelta(days=1)
        ).on_hand
        == 7
    )


def test_record_stock_validates(loaded: Resources) -> None:
    fac = Facility.objects.get(code=loaded.facilities["code"][0])
    from ruralwatch.resources.models import Item

    item = Item.objects.get(code="antipyretic")
    with pytest.raises(ImportRejected):
        record_stock(fac, item, ON + dt.timedelta(days=3), 5, today=ON)
    with pytest.raises(ImportRejected):
        record_stock(fac, item, ON, -1, today=ON)
    assert record_stock(fac, item, ON, 5, today=ON).on_hand == 5


def test_cli_imports_gaps_and_allocates(loaded: Resources, region, tmp_path: Path) -> None:
    runner = CliRunner()
    bad = _write(tmp_path, "bad.csv", STOCK_HEADER + "nosuch,antigen_kit,2023-02-05,1,0,0\n")
    r = runner.invoke(app, ["resources", "import-stock", str(bad)])
    assert r.exit_code == 1 and "unknown facility nosuch" in r.output
    county = region.areas.filter(region.areas["level"] == 3)["code"][0]
    r = runner.invoke(
        app, ["resources", "gaps", "--area", county, "--date", "2023-02-05", "--json"]
    )
    assert r.exit_code == 0, r.output
    gaps = json.loads(r.stdout)
    assert len(gaps["stock"]) == sum(
        1
        for t in loaded.truth
        if t["kind"] in ("stock_out", "below_minimum", "short_days_of_supply")
    )
    out = tmp_path / "list.xlsx"
    r = runner.invoke(
        app,
        [
            "allocate",
            "--area",
            county,
            "--date",
            "2023-02-05",
            "--supply",
            "pulse_oximeter=60",
            "--mode",
            "maxmin",
            "--out",
            str(out),
            "--json",
        ],
    )
    assert r.exit_code == 0, r.output
    res = json.loads(r.stdout)
    assert 0 < res["totals"]["units"]["pulse_oximeter"] <= 60 and out.stat().st_size > 0
    r = runner.invoke(app, ["allocate", "--area", county, "--supply", "oximeters"])
    assert r.exit_code == 2 and "ITEM=UNITS" in r.output
