"""The bad-input corpus: files every importer must refuse, each with the problem it must name.

``write_corpus(directory)`` writes every file and returns its :class:`Case` list; the files are
generated (not committed) so the large ones — a gzip that inflates past the size limit, an XLSX
that declares 17 billion cells — cost kilobytes on disk and nothing in the repository. Run
``python -m tests.badinput.corpus DIR`` to write them for a look by hand.

All cases are written against :data:`TREE` (a province down to three villages) and against
the default indicators and key groups that the migrations load. Each file holds one mistake,
so the expected problem (column and a reason substring) is unambiguous; ``row`` is the
spreadsheet row the problem must name (``None`` for a whole-file problem).
"""

from __future__ import annotations

import datetime as dt
import gzip
import io
import sys
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from openpyxl import Workbook

TREE = """code,name,level,parent_code,population,population_65plus
990000000000,示范省,1,,5000,800
990100000000,示范市,2,990000000000,5000,800
990101000000,示范县,3,990100000000,5000,800
990101001000,东镇,4,990101000000,3000,500
990101002000,西乡,4,990101000000,2000,300
990101001001,东一村,5,990101001000,1000,200
990101001002,东二村,5,990101001000,2000,300
990101002001,西一村,5,990101002000,2000,300
"""
V1, V2, V3 = "990101001001", "990101001002", "990101002001"
TOWN, COUNTY, PREF, PROV = "990101001000", "990101000000", "990100000000", "990000000000"
#: The importers' "now": every report date below is before it.
NOW = dt.datetime(2023, 2, 6, 9, 0, tzinfo=dt.UTC)
TODAY = dt.date(2023, 2, 6)


#: A file's bytes, or a function that makes them (the large files are made only when written).
Data = bytes | Callable[[], bytes]


@dataclass(frozen=True)
class Case:
    importer: str  # "areas", "reports" or "roster"
    name: str  # file name
    column: str | None  # the column the problem must name (None: a whole-file problem)
    reason: str  # a substring of the (English) reason
    row: int | None = None

    @property
    def id(self) -> str:
        return f"{self.importer}:{self.name}"


def id_number(birth: str, seq: int, region: str = "990101") -> str:
    """A resident ID number with a correct check character (GB 11643-1999)."""
    weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    first = region + birth + f"{seq:03d}"
    return first + "10X98765432"[sum(int(d) * w for d, w in zip(first, weights, strict=True)) % 11]


# --- file builders -------------------------------------------------------------------------


def _csv(text: str) -> bytes:
    return text.encode("utf-8")


def _gz(text: str) -> bytes:
    return gzip.compress(text.encode("utf-8"), mtime=0)


def _truncated_gz(text: str) -> bytes:
    data = _gz(text * 50)
    return data[: len(data) // 2]


def gzip_bomb(header: str, inflated_mib: int) -> bytes:
    """A gzip file: one header line, then ``inflated_mib`` MiB of the digit 0 (a few KiB a
    100 MiB once compressed)."""
    comp = zlib.compressobj(9, zlib.DEFLATED, 31)
    out = [comp.compress(header.encode() + b"\n")]
    block = b"0" * (1 << 20)
    for _ in range(inflated_mib):
        out.append(comp.compress(block))
    out.append(comp.flush())
    return b"".join(out)


def _xlsx(rows: list[list[object]]) -> bytes:
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    for row in rows:
        ws.append(row)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def _rewrite_sheet(data: bytes, edit: Callable[[bytes], bytes]) -> bytes:
    """The XLSX ``data`` with its first sheet's XML passed through ``edit``."""
    src = zipfile.ZipFile(io.BytesIO(data))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as out:
        for info in src.infolist():
            body = src.read(info.filename)
            if info.filename == "xl/worksheets/sheet1.xml":
                body = edit(body)
            out.writestr(info.filename, body)
    return buf.getvalue()


def xlsx_declaring(rows: list[list[object]], ref: str) -> bytes:
    """An XLSX whose sheet declares the dimension ``ref`` (e.g. ``A1:XFD1048576``)."""

    def edit(xml: bytes) -> bytes:
        start = xml.index(b"<dimension ref=")
        end = xml.index(b"/>", start) + 2
        return xml[:start] + f'<dimension ref="{ref}"/>'.encode() + xml[end:]

    return _rewrite_sheet(_xlsx(rows), edit)


def xlsx_far_cell(rows: list[list[object]]) -> bytes:
    """An XLSX without a declared dimension whose last cell is XFD1048576 (a 2 KiB file)."""

    def edit(xml: bytes) -> bytes:
        start = xml.index(b"<dimension ref=")
        end = xml.index(b"/>", start) + 2
        xml = xml[:start] + xml[end:]
        far = b'<row r="1048576"><c r="XFD1048576" t="inlineStr"><is><t>x</t></is></c></row>'
        return xml.replace(b"</sheetData>", far + b"</sheetData>")

    return _rewrite_sheet(_xlsx(rows), edit)


def xlsx_zip_bomb(rows: list[list[object]], inflated_mib: int) -> bytes:
    """An XLSX with an extra part that unpacks to ``inflated_mib`` MiB."""
    data = _xlsx(rows)
    src = zipfile.ZipFile(io.BytesIO(data))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as out:
        for info in src.infolist():
            out.writestr(info.filename, src.read(info.filename))
        with out.open("xl/media/padding.bin", "w", force_zip64=True) as pad:
            block = b"\0" * (1 << 20)
            for _ in range(inflated_mib):
                pad.write(block)
    return buf.getvalue()


# --- the cases -----------------------------------------------------------------------------

#: Above the default decompressed-size limit (256 MiB).
BOMB_MIB = 300

REPORT_LONG = "area_code,date,indicator,value"
ROSTER_HEADER = (
    "姓名,性别,出生日期,身份证号,联系电话,村代码,重点人群类别,责任医生,包保干部,"
    "监护人,与监护人关系,监护人电话,基础疾病,疫苗接种,状态,登记日期,住址"
)
AREA_HEADER = "code,name,level,parent_code,population,population_65plus,lon,lat"


def _report(*rows: str, header: str = REPORT_LONG) -> str:
    return "\n".join((header, *rows)) + "\n"


def _ok_report_row(area: str = V1, day: str = "2023-01-08", value: str = "3") -> str:
    return f"{area},{day},new_cases,{value}"


def _roster_row(**over: str) -> str:
    """One good roster row (an 82-year-old in V1), with fields replaced by ``over``."""
    row = {
        "person": "王大爷",
        "sex": "男",
        "birth": "1940-03-01",
        "id": id_number("19400301", 11),
        "phone": "13800000000",
        "village": V1,
        "groups": "65岁及以上老年人",
        "doctor": "李医生",
        "cadre": "赵干部",
        "guardian": "",
        "relation": "",
        "gphone": "",
        "comorb": "稳定",
        "vacc": "未全程",
        "status": "在册",
        "registered": "2023-01-10",
        "address": "东一村3组",
    }
    row.update(over)
    return ",".join(row.values())


def _roster(*rows: str) -> str:
    return "\n".join((ROSTER_HEADER, _roster_row(), *rows)) + "\n"


def _area(*rows: str) -> str:
    return "\n".join((AREA_HEADER, *rows)) + "\n"


def _report_cases() -> list[tuple[Case, Data]]:
    c: list[tuple[Case, Data]] = []

    def add(name: str, column: str | None, reason: str, data: Data, row: int | None = 3) -> None:
        c.append((Case("reports", name, column, reason, row), data))

    def one(name: str, bad_row: str, column: str | None, reason: str) -> None:
        add(name, column, reason, _csv(_report(_ok_report_row(), bad_row)))

    level_reason = "reported by level-5 units only"
    one("township_row.csv", _ok_report_row(TOWN, value="100"), "area_code", "level-4 unit")
    one("county_row.csv", _ok_report_row(COUNTY, value="100"), "area_code", "level-3 unit")
    one("prefecture_row.csv", _ok_report_row(PREF), "area_code", "level-2 unit")
    one("province_row.csv", _ok_report_row(PROV), "area_code", level_reason)
    add(
        "township_wide.csv",
        "area_code",
        level_reason,
        _csv(f"区划代码,日期,new_cases,deaths\n{V1},2023-01-08,3,0\n{TOWN},2023-01-08,100,1\n"),
    )
    for name, text in (
        ("nan.csv", "NaN"),
        ("nan_lower.csv", "nan"),
        ("inf.csv", "inf"),
        ("minus_inf.csv", "-inf"),
        ("infinity.csv", "Infinity"),
        ("1e400.csv", "1e400"),
    ):
        one(name, _ok_report_row(V2, value=text), "value", "not a finite number")
    for name, text in (
        ("ten_to_15.csv", "1000000000000000"),
        ("above_max.csv", "100001"),
        ("million.csv", "1e6"),
        ("thousands_sep.csv", '"1,000,000"'),
    ):
        one(name, _ok_report_row(V2, value=text), "value", "largest plausible value")
    one("negative.csv", _ok_report_row(V2, value="-1"), "value", "negative count")
    one("fraction.csv", _ok_report_row(V2, value="2.5"), "value", "whole number")
    one("text_value.csv", _ok_report_row(V2, value="abc"), "value", "not a number")
    one("hex_value.csv", _ok_report_row(V2, value="0x10"), "value", "not a number")
    one("empty_value.csv", _ok_report_row(V2, value=""), "value", "value is empty")
    for name, day, reason in (
        ("date_1900.csv", "1900-01-01", "earliest report date"),
        ("date_1999.csv", "1999-12-31", "earliest report date"),
        ("date_year_1.csv", "0001-01-01", "earliest report date"),
        ("date_trailing.csv", "2023-01-05abc", "not a date"),
        ("date_feb30.csv", "2023-02-30", "not a date"),
        ("date_month13.csv", "2023-13-01", "not a date"),
        ("date_dmy.csv", "05/01/2023", "not a date"),
        ("date_time.csv", "2023-01-05 08:00", "not a date"),
        ("date_word.csv", "yesterday", "not a date"),
        ("date_2099.csv", "2099-01-01", "in the future"),
        ("date_9999.csv", "9999-12-31", "in the future"),
    ):
        one(name, _ok_report_row(V2, day=day), "date", reason)
    one("code_11.csv", _ok_report_row("99010100100"), "area_code", "not 12 digits")
    one("code_letter.csv", _ok_report_row("99010100100A"), "area_code", "not 12 digits")
    one("code_empty.csv", _ok_report_row(""), "area_code", "area code is empty")
    one("code_unknown.csv", _ok_report_row("990101009001"), "area_code", "unknown area code")
    one("indicator_unknown.csv", f"{V2},2023-01-08,no_such,1", "indicator", "unknown indicator")
    one("duplicate.csv", _ok_report_row(), "indicator", "duplicate of row 2")
    header = REPORT_LONG + ",reporter,submitted_at"
    ok = _ok_report_row() + ",张三,2023-01-08 20:00"
    for name, row, column, reason in (
        ("reporter_long.csv", _ok_report_row(V2) + "," + "张" * 65 + ",", "reporter", "at most 64"),
        (
            "submitted_future.csv",
            _ok_report_row(V2) + ",张三,2031-01-01 08:00",
            "submitted_at",
            "in the future",
        ),
        (
            "submitted_before_date.csv",
            _ok_report_row(V2) + ",张三,2022-12-01 08:00",
            "submitted_at",
            "before the report date",
        ),
        ("submitted_word.csv", _ok_report_row(V2) + ",张三,soon", "submitted_at", "not a time"),
    ):
        add(name, column, reason, _csv(_report(ok, row, header=header)))
    add(
        "missing_date_column.csv",
        "date",
        "required column is missing",
        _csv(f"area_code,indicator,value\n{V1},new_cases,1\n"),
        row=1,
    )
    add(
        "unknown_wide_column.csv",
        "mystery",
        "unknown column",
        _csv(f"area_code,date,new_cases,mystery\n{V1},2023-01-08,1,2\n"),
        row=1,
    )
    add(
        "too_many_columns.csv",
        None,
        "columns",
        _csv("area_code,date," + ",".join(f"c{i}" for i in range(1200)) + "\n"),
        row=None,
    )
    add("empty.csv", None, "the file is empty", b"", row=None)
    add("blank_lines.csv", None, "the file is empty", b"\n\n  \n", row=None)
    add("binary.csv", None, "neither UTF-8 nor GB18030", bytes(range(128, 256)) * 8, row=None)
    add(
        "ragged.csv",
        None,
        "not a readable CSV",
        _csv(_report(_ok_report_row(), f"{V2},2023-01-08,new_cases,1,extra,fields")),
        row=None,
    )
    good = _report(_ok_report_row(), _ok_report_row(V2))
    add("truncated.csv.gz", None, "truncated or damaged", _truncated_gz(good), row=None)
    add("garbage.csv.gz", None, "truncated or damaged", b"\x1f\x8b" + b"garbage" * 100, row=None)
    add(
        "bomb.csv.gz",
        None,
        "MiB of data once decompressed",
        lambda: gzip_bomb(REPORT_LONG, BOMB_MIB),
        row=None,
    )
    add(
        "township_row.csv.gz",
        "area_code",
        "level-4 unit",
        _gz(_report(_ok_report_row(), _ok_report_row(TOWN, value="100"))),
    )
    rows: list[list[object]] = [
        ["区划代码", "日期", "指标", "数值"],
        [V1, "2023-01-08", "new_cases", 3],
    ]
    add(
        "dimension_xfd.xlsx",
        None,
        "the sheet declares",
        xlsx_declaring(rows, "A1:XFD1048576"),
        row=None,
    )
    add(
        "dimension_rows.xlsx",
        None,
        "the sheet declares",
        xlsx_declaring(rows, "A1:Z10000000"),
        row=None,
    )
    add(
        "far_cell.xlsx",
        "XFD",
        "column without a header",
        xlsx_far_cell(rows),
        row=1048576,
    )
    add(
        "formula_uncached.xlsx",
        "数值",
        "no stored result",
        _xlsx([*rows, [V2, "2023-01-08", "new_cases", "=B1*2"]]),
    )
    add(
        "formula_date_uncached.xlsx",
        "日期",
        "no stored result",
        _xlsx([*rows, [V2, "=TODAY()", "new_cases", 1]]),
    )
    add(
        "township_row.xlsx",
        "area_code",
        "level-4 unit",
        _xlsx([*rows, [TOWN, "2023-01-08", "new_cases", 100]]),
    )
    add(
        "nan_text.xlsx",
        "value",
        "not a finite number",
        _xlsx([*rows, [V2, "2023-01-08", "new_cases", "NaN"]]),
    )
    add(
        "date_trailing.xlsx",
        "date",
        "not a date",
        _xlsx([*rows, [V2, "2023-01-05abc", "new_cases", 1]]),
    )
    add("not_a_zip.xlsx", None, "not a readable XLSX", _csv(good), row=None)
    add(
        "zip_bomb.xlsx",
        None,
        "MiB of data once decompressed",
        lambda: xlsx_zip_bomb(rows, BOMB_MIB),
        None,
    )
    return c


def _area_cases() -> list[tuple[Case, Data]]:
    c: list[tuple[Case, Data]] = []

    def one(name: str, row: str, column: str | None, reason: str, line: int | None = 2) -> None:
        c.append((Case("areas", name, column, reason, line), _csv(_area(row))))

    skip = "cannot hang under"
    one("village_under_county.csv", f"990101003001,新村,5,{COUNTY},,,,", "level", skip)
    one("village_under_prefecture.csv", f"990101003001,新村,5,{PREF},,,,", "level", skip)
    one("township_under_province.csv", f"990101003000,新镇,4,{PROV},,,,", "level", skip)
    one("county_under_province.csv", f"990102000000,新县,3,{PROV},,,,", "level", skip)
    one("village_under_village.csv", f"990101001003,新村,5,{V1},,,,", "level", skip)
    prefix = "does not start with the digits of its parent"
    one("village_other_county.csv", f"990102001003,外村,5,{TOWN},,,,", "parent_code", prefix)
    one("village_other_town.csv", f"990101002009,外村,5,{TOWN},,,,", "parent_code", prefix)
    one("township_other_county.csv", f"990102005000,外镇,4,{COUNTY},,,,", "parent_code", prefix)
    one("move_village.csv", f"{V1},东一村,5,990101002000,,,,", "parent_code", prefix)
    pattern = "does not have the pattern of a level"
    one("township_code_as_village.csv", f"990101003000,假村,5,{TOWN},,,,", "code", pattern)
    one("county_code_as_township.csv", f"990102000000,假镇,4,{COUNTY},,,,", "code", pattern)
    one("province_tail.csv", "990000000001,假省,1,,,,,", "code", pattern)
    one("county_tail.csv", f"990102000001,假县,3,{PREF},,,,", "code", pattern)
    one("level_6.csv", f"990101001003,新村,6,{TOWN},,,,", "level", "level must be 1")
    one("level_0.csv", f"990101001003,新村,0,{TOWN},,,,", "level", "level must be 1")
    one("level_word.csv", f"990101001003,新村,村,{TOWN},,,,", "level", "level must be 1")
    one("code_11.csv", f"99010100100,新村,5,{TOWN},,,,", "code", "12 digits")
    one("code_letters.csv", f"99010100100X,新村,5,{TOWN},,,,", "code", "12 digits")
    one("parent_bad.csv", "990101001003,新村,5,9901010010,,,,", "parent_code", "12 digits")
    one("parent_missing.csv", "990101001003,新村,5,,,,,", "parent_code", "only provinces")
    one(
        "parent_unknown.csv",
        "990101009003,新村,5,990101009000,,,,",
        "parent_code",
        "unknown parent",
    )
    one("name_empty.csv", f"990101001003,,5,{TOWN},,,,", "name", "name is empty")
    one("name_200.csv", f"990101001003,{'长' * 200},5,{TOWN},,,,", "name", "at most 100")
    one("name_101.csv", f"990101001003,{'a' * 101},5,{TOWN},,,,", "name", "at most 100")
    for name, pop, reason in (
        ("population_huge.csv", "99999999999", "more than a level-5 unit can have"),
        ("population_600k.csv", "600000", "more than a level-5 unit can have"),
        ("population_negative.csv", "-5", "non-negative whole number"),
        ("population_fraction.csv", "1.5", "non-negative whole number"),
        ("population_nan.csv", "NaN", "non-negative whole number"),
        ("population_text.csv", "many", "non-negative whole number"),
        ("population_1e30.csv", "1e30", "non-negative whole number"),
    ):
        one(name, f"990101001003,新村,5,{TOWN},{pop},,,", "population", reason)
    one(
        "elderly_over_total.csv",
        f"990101001003,新村,5,{TOWN},100,150,,",
        "population_65plus",
        "more than the population",
    )
    one(
        "elderly_negative.csv",
        f"990101001003,新村,5,{TOWN},100,-1,,",
        "population_65plus",
        "non-negative whole number",
    )
    for name, lon, lat, column in (
        ("lon_999.csv", "999", "30", "lon"),
        ("lon_nan.csv", "NaN", "30", "lon"),
        ("lon_text.csv", "east", "30", "lon"),
        ("lat_91.csv", "100", "91", "lat"),
        ("lat_inf.csv", "100", "inf", "lat"),
        ("lat_minus_100.csv", "100", "-100", "lat"),
    ):
        one(name, f"990101001003,新村,5,{TOWN},,,{lon},{lat}", column, "degrees")
    c.append(
        (
            Case("areas", "duplicate_code.csv", "code", "duplicate code", 3),
            _csv(_area(f"990101001003,新村,5,{TOWN},,,,", f"990101001003,新村,5,{TOWN},,,,")),
        )
    )
    c.append(
        (
            Case("areas", "urban_rural_long.csv", "urban_rural", "at most 3", 2),
            _csv(f"code,name,level,parent_code,urban_rural\n990101001003,新村,5,{TOWN},1234\n"),
        )
    )
    c.append(
        (
            Case("areas", "key_areas_bad.csv", "key_areas", "key-area tags", 2),
            _csv(f"code,name,level,parent_code,key_areas\n990101001003,新村,5,{TOWN},moon\n"),
        )
    )
    c.append(
        (
            # A column of the file's own named like the importer's working columns (the
            # parent's level and path it joins) must not stand in for them.
            Case("areas", "extra_parent_level_column.csv", "level", skip, 2),
            _csv(
                "code,name,level,parent_code,parent_level,parent_path\n"
                f"990101003001,新村,5,{COUNTY},4,/x/\n"
            ),
        )
    )
    c.append(
        (
            Case("areas", "missing_parent_column.csv", "parent_code", "required column", 1),
            _csv("code,name,level\n990101001003,新村,5\n"),
        )
    )
    good = _area(f"990101001003,新村,5,{TOWN},100,10,100.5,30.5")
    c.append((Case("areas", "truncated.csv.gz", None, "truncated or damaged"), _truncated_gz(good)))
    c.append(
        (
            Case("areas", "bomb.csv.gz", None, "MiB of data once decompressed"),
            lambda: gzip_bomb(AREA_HEADER, BOMB_MIB),
        )
    )
    c.append(
        (
            Case("areas", "village_under_county.csv.gz", "level", skip, 2),
            _gz(_area(f"990101003001,新村,5,{COUNTY},,,,")),
        )
    )
    rows: list[list[object]] = [
        ["code", "name", "level", "parent_code", "population"],
        ["990101001003", "新村", 5, TOWN, 100],
    ]
    c.append(
        (
            Case("areas", "dimension_xfd.xlsx", None, "the sheet declares"),
            xlsx_declaring(rows, "A1:XFD1048576"),
        )
    )
    c.append(
        (
            Case("areas", "formula_uncached.xlsx", "population", "no stored result", 3),
            _xlsx([*rows, ["990101001004", "新村二", 5, TOWN, "=E2*2"]]),
        )
    )
    c.append(
        (
            Case("areas", "village_under_county.xlsx", "level", skip, 2),
            _xlsx([rows[0], ["990101003001", "新村", 5, COUNTY, 100]]),
        )
    )
    c.append((Case("areas", "empty.csv", None, "the file is empty"), b""))
    return c


def _roster_cases() -> list[tuple[Case, Data]]:
    c: list[tuple[Case, Data]] = []

    def one(name: str, column: str | None, reason: str, **over: str) -> None:
        c.append((Case("roster", name, column, reason, 3), _csv(_roster(_roster_row(**over)))))

    # Every second row below is a different person (ID sequence 13 onwards), so the only
    # problem is the one the case is about.
    span = "outside the accepted span"
    one("born_1800.csv", "birth_date", span, birth="1800-01-01", id=id_number("18000101", 13))
    one("born_1899.csv", "birth_date", span, birth="1899-12-31", id=id_number("18991231", 13))
    one("born_2099.csv", "birth_date", span, birth="2099-01-01", id=id_number("20990101", 13))
    one("id_born_1800.csv", "id_number", span, birth="", id=id_number("18000101", 13))
    one(
        "registered_2099.csv",
        "registered_on",
        span,
        id=id_number("19400301", 13),
        registered="2099-01-01",
    )
    one(
        "registered_1990.csv",
        "registered_on",
        span,
        id=id_number("19400301", 13),
        registered="1990-05-01",
    )
    one(
        "registered_before_birth.csv",
        "registered_on",
        "before the date of birth",
        person="王小宝",
        birth="2015-02-03",
        id=id_number("20150203", 13),
        groups="留守儿童",
        guardian="王奶奶",
        relation="祖母",
        registered="2010-01-01",
    )
    one(
        "registered_trailing.csv",
        "registered_on",
        "not a date",
        id=id_number("19400301", 13),
        registered="2023-01-05abc",
    )
    phone = "not a phone number"
    for name, text in (
        ("phone_dashes.csv", "-------"),
        ("phone_20_digits.csv", "1" * 20),
        ("phone_markup.csv", "<b>x</b>;DROP"),
        ("phone_short.csv", "12345"),
        ("phone_letters.csv", "138abcd0000"),
        ("phone_plus_only.csv", "+"),
    ):
        one(name, "phone", phone, id=id_number("19400301", 13), phone=text)
    one(
        "guardian_phone_bad.csv",
        "guardian_phone",
        phone,
        person="王小宝",
        birth="2015-02-03",
        id=id_number("20150203", 13),
        groups="留守儿童",
        guardian="王奶奶",
        relation="祖母",
        gphone="call me",
    )
    calendar = "not a calendar date"
    one("id_feb30.csv", "id_number", calendar, birth="", id=id_number("19990230", 13))
    one("id_month13.csv", "id_number", calendar, birth="", id=id_number("19991301", 13))
    one("id_day00.csv", "id_number", calendar, birth="", id=id_number("19990100", 13))
    bad_check = id_number("19400301", 13)[:-1] + (
        "0" if id_number("19400301", 13)[-1] != "0" else "1"
    )
    one("id_check_digit.csv", "id_number", "correct check digit", id=bad_check)
    one("id_17.csv", "id_number", "correct check digit", id=id_number("19400301", 13)[:17])
    one("id_empty.csv", "id_number", "resident ID number is empty", id="")
    one(
        "birth_trailing.csv",
        "birth_date",
        "not a date",
        birth="1940-03-01abc",
        id=id_number("19400301", 13),
    )
    one(
        "birth_mismatch.csv",
        "birth_date",
        "does not match the ID number",
        birth="1940-03-02",
        id=id_number("19400301", 13),
    )
    one("name_empty.csv", "name", "name is empty", person="", id=id_number("19400301", 13))
    one("name_61.csv", "name", "at most 60", person="王" * 61, id=id_number("19400301", 13))
    one("name_200.csv", "name", "at most 60", person="a" * 200, id=id_number("19400301", 13))
    one(
        "address_81.csv", "household", "at most 80", address="村" * 81, id=id_number("19400301", 13)
    )
    one(
        "relation_21.csv",
        "guardian_relation",
        "at most 20",
        person="王小宝",
        birth="2015-02-03",
        id=id_number("20150203", 13),
        groups="留守儿童",
        guardian="王奶奶",
        relation="亲" * 21,
    )
    one("doctor_61.csv", "doctor", "at most 60", doctor="医" * 61, id=id_number("19400301", 13))
    one("sex_unknown.csv", "sex", "unknown sex", sex="X", id=id_number("19400301", 13))
    one("sex_mismatch.csv", "sex", "does not match", sex="女", id=id_number("19400301", 13))
    one(
        "village_unknown.csv",
        "village",
        "unknown village",
        village="990101009009",
        id=id_number("19400301", 13),
    )
    one(
        "village_is_township.csv",
        "village",
        "unknown village",
        village=TOWN,
        id=id_number("19400301", 13),
    )
    one(
        "group_unknown.csv",
        "groups",
        "unknown key group",
        groups="外星人",
        id=id_number("19400301", 13),
    )
    one(
        "group_empty.csv",
        "groups",
        "key-group category is empty",
        groups="",
        id=id_number("19400301", 13),
    )
    one(
        "child_no_guardian.csv",
        "guardian_name",
        "guardian is needed",
        person="王小宝",
        birth="2015-02-03",
        id=id_number("20150203", 13),
        groups="留守儿童",
    )
    one("duplicate_id.csv", "id_number", "duplicate of row 2")
    one(
        "comorbidity_bad.csv",
        "comorbidity",
        "unknown value",
        comorb="maybe",
        id=id_number("19400301", 13),
    )
    one(
        "vaccination_bad.csv",
        "vaccination",
        "unknown value",
        vacc="x",
        id=id_number("19400301", 13),
    )
    one("status_bad.csv", "status", "unknown value", status="x", id=id_number("19400301", 13))
    good = _roster(_roster_row(id=id_number("19400301", 13)))
    c.append(
        (Case("roster", "truncated.csv.gz", None, "truncated or damaged"), _truncated_gz(good))
    )
    c.append(
        (
            Case("roster", "bomb.csv.gz", None, "MiB of data once decompressed"),
            lambda: gzip_bomb(ROSTER_HEADER, BOMB_MIB),
        )
    )
    c.append(
        (
            Case("roster", "missing_columns.csv", "id_number", "required column", 1),
            _csv("姓名,村代码,重点人群类别\n王大爷,990101001001,独居老人\n"),
        )
    )
    header = ROSTER_HEADER.split(",")
    ok = _roster_row().split(",")
    c.append(
        (
            Case("roster", "dimension_xfd.xlsx", None, "the sheet declares"),
            xlsx_declaring([header, ok], "A1:XFD1048576"),
        )
    )
    phone_formula = _roster_row(id=id_number("19400301", 13)).split(",")
    phone_formula[4] = "=A1&B1"
    c.append(
        (
            Case("roster", "formula_uncached.xlsx", "联系电话", "no stored result", 3),
            _xlsx([header, ok, phone_formula]),
        )
    )
    c.append(
        (
            Case("roster", "id_feb30.xlsx", "id_number", calendar, 3),
            _xlsx([header, ok, _roster_row(birth="", id=id_number("19990230", 13)).split(",")]),
        )
    )
    return c


def write_corpus(directory: Path) -> list[Case]:
    """Write every file of the corpus into ``directory`` (one sub-folder per importer)."""
    cases = []
    for case, data in (*_report_cases(), *_area_cases(), *_roster_cases()):
        folder = directory / case.importer
        folder.mkdir(parents=True, exist_ok=True)
        (folder / case.name).write_bytes(data() if callable(data) else data)
        cases.append(case)
    names = [c.id for c in cases]
    assert len(names) == len(set(names)), "corpus file names must be unique per importer"
    return cases


if __name__ == "__main__":
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "badinput-corpus")
    for case in write_corpus(target):
        print(f"{case.importer}/{case.name}: {case.column or '-'}: {case.reason}")
