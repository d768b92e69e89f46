"""core.export: the XLSX opens with openpyxl and holds exactly the rows and Chinese headers given;
the CSV is UTF-8 with a BOM; formulas are defused; bad formats are refused."""

from __future__ import annotations

import csv
import datetime as dt
import io

import openpyxl
import pytest

from ruralwatch.core.export import (
    Column,
    ExportTooLarge,
    csv_text,
    export_response,
    is_export,
    xlsx_bytes,
)
from tests.shared import SHARED

COLUMNS = [
    Column("code", "区划代码"),
    Column("name", "名称"),
    Column("rate", "覆盖率", number_format="0.0%"),
    Column("day", "日期"),
    Column("n", "人数"),
]


def _real_rows(limit: int = 300) -> list[dict[str, object]]:
    """Real codes and names from the 2016 division list (villages of the first county)."""
    import polars as pl

    path = next(iter(sorted((SHARED / "data" / "admin").glob("*village*"))), None)
    if path is None:
        pytest.skip("no village list in ../shared/data/admin")
    frame = pl.read_csv(path, infer_schema_length=0, n_rows=limit)
    code_col = next(c for c in frame.columns if "code" in c.lower())
    name_col = next(c for c in frame.columns if "name" in c.lower())
    return [
        {
            "code": code,
            "name": name,
            "rate": (i % 7) / 7,
            "day": dt.date(2023, 2, 5) - dt.timedelta(days=i % 30),
            "n": i * 1000 + 17,
        }
        for i, (code, name) in enumerate(zip(frame[code_col], frame[name_col], strict=True))
    ]


def test_xlsx_round_trip_with_chinese_headers() -> None:
    rows = _real_rows()
    body = xlsx_bytes(rows, COLUMNS, sheet="村/列表")
    wb = openpyxl.load_workbook(io.BytesIO(body))
    ws = wb.active
    assert ws is not None
    assert ws.title == "村_列表"
    values = list(ws.iter_rows(values_only=True))
    assert list(values[0]) == ["区划代码", "名称", "覆盖率", "日期", "人数"]
    assert len(values) == len(rows) + 1
    for got, want in zip(values[1:], rows, strict=True):
        assert got[0] == want["code"]  # codes stay text: leading digits kept
        assert got[1] == want["name"]
        assert got[2] == pytest.approx(want["rate"])
        assert got[3].date() == want["day"]  # type: ignore[union-attr]
        assert got[4] == want["n"]
    assert ws["C2"].number_format == "0.0%"
    assert ws.freeze_panes == "A2"


def test_sequences_none_nan_and_formula_injection() -> None:
    rows = [
        ["=HYPERLINK(1)", None, float("nan"), dt.date(2023, 1, 1), -3],
        ["-3", "", 0.5, None, 0],
    ]
    wb = openpyxl.load_workbook(io.BytesIO(xlsx_bytes(rows, COLUMNS)))
    ws = wb.active
    assert ws is not None
    got = list(ws.iter_rows(min_row=2, values_only=True))
    assert got[0][0] == "'=HYPERLINK(1)"
    assert got[0][1] is None and got[0][2] is None
    assert got[0][4] == -3
    assert got[1][0] == "-3"  # a number written as text is not a formula: left alone
    with pytest.raises(ValueError, match="2 values for 5 columns"):
        xlsx_bytes([[1, 2]], COLUMNS)


def test_csv_matches_rows() -> None:
    rows = _real_rows(50)
    text = csv_text(rows, COLUMNS)
    parsed = list(csv.reader(io.StringIO(text)))
    assert parsed[0] == ["区划代码", "名称", "覆盖率", "日期", "人数"]
    assert len(parsed) == 51
    assert parsed[1][0] == rows[0]["code"]
    assert parsed[1][3] == "2023-02-05"
    assert parsed[2][4] == "1017"


def test_response_headers_and_formats() -> None:
    rows = _real_rows(5)
    r = export_response("xlsx", rows, COLUMNS, "重点人群 2023-02-05")
    assert r["Content-Type"].startswith("application/vnd.openxmlformats")
    assert (
        "filename*=UTF-8''%E9%87%8D%E7%82%B9%E4%BA%BA%E7%BE%A4-2023-02-05.xlsx"
        in r["Content-Disposition"]
    )
    openpyxl.load_workbook(io.BytesIO(r.content))
    c = export_response("CSV", rows, [("code", "代码")], "x")
    assert c.content.startswith("\ufeff代码".encode())
    with pytest.raises(ValueError, match="unknown export format"):
        export_response("pdf", rows, COLUMNS, "x")
    assert is_export("xlsx") and is_export("csv") and not is_export(None) and not is_export("x")


def test_too_many_rows(monkeypatch: pytest.MonkeyPatch) -> None:
    import ruralwatch.core.export as export

    monkeypatch.setattr(export, "MAX_ROWS", 3)
    with pytest.raises(ExportTooLarge):
        xlsx_bytes([[i, i, i, i, i] for i in range(5)], COLUMNS)
