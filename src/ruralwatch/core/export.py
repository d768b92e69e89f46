"""Exporting a table a page shows: XLSX (with the page's own column labels, e.g. Chinese) and CSV.

One helper for every view: give it the rows, the columns (key + label) and a file name; it
returns the HTTP response. The labels are whatever the caller translated (``gettext``), so an
export in a Chinese session has Chinese headers and the same headers as the page's table.

    columns = [Column("code", _("Code")), Column("name", _("Name")), Column("rate", _("Rate"))]
    return export_response(request.GET.get("format"), rows, columns, "townships-2023-02-05")

``rows`` are mappings (keyed by ``Column.key``) or sequences (in column order). Values keep
their type in XLSX (numbers stay numbers, dates are dates); ``None`` is an empty cell. CSV is
UTF-8 with a BOM so that Excel opens Chinese text correctly. Both are written in a streaming
fashion (openpyxl's write-only workbook), so a 100,000-row list is not held twice as cells.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.http import HttpResponse
from django.utils.encoding import escape_uri_path
from django.utils.functional import Promise

#: The formats a view may offer, by the name the ``format`` query parameter carries.
FORMATS = ("xlsx", "csv")
XLSX_CONTENT_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CSV_CONTENT_TYPE = "text/csv; charset=utf-8"
#: Excel's own limits: a sheet title is at most 31 characters, without []:*?/\ .
_SHEET_TITLE_BAD = re.compile(r"[\[\]:*?/\\]")
#: Characters that make a spreadsheet read a cell as a formula (CSV/formula injection).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
#: Excel's row limit (header included).
MAX_ROWS = 1_048_576


@dataclass(frozen=True)
class Column:
    """One column of an export: ``key`` picks the value from a row mapping, ``label`` heads it."""

    key: str
    label: str | Promise
    #: Excel number format for the column's numbers (e.g. "0.0%", "#,##0"); None = general.
    number_format: str | None = None
    width: float | None = None


class ExportTooLarge(ValueError):
    """More rows than one sheet holds."""


def normalise_columns(columns: Sequence[Column | tuple[str, Any]]) -> list[Column]:
    return [c if isinstance(c, Column) else Column(str(c[0]), c[1]) for c in columns]


def _cell(value: Any) -> Any:
    """A value as a spreadsheet cell: numbers, dates and text kept, everything else as text."""
    if value is None:
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float, Decimal)):
        if isinstance(value, float) and value != value:  # NaN: an empty cell, not "nan"
            return None
        return value
    if isinstance(value, dt.datetime):
        # openpyxl cannot store aware datetimes; a page shows local time, so does the file.
        if value.tzinfo is not None:
            from django.utils import timezone

            value = timezone.localtime(value).replace(tzinfo=None)
        return value
    if isinstance(value, dt.date):
        return value
    text = str(value)
    return _defuse(text)


def _defuse(text: str) -> str:
    """Text that a spreadsheet would read as a formula gets a leading apostrophe-like guard.

    A code or a phone such as "+86…" or "-" must not become a formula; a quote prefix is what
    OWASP recommends for CSV injection. Pure numbers written as text ("-3") are left alone.
    """
    if text and text[0] in _FORMULA_START:
        try:
            float(text)
        except ValueError:
            return "'" + text
    return text


def _values(row: Mapping[str, Any] | Sequence[Any], keys: Sequence[str]) -> list[Any]:
    if isinstance(row, Mapping):
        return [row.get(k) for k in keys]
    values = list(row)
    if len(values) != len(keys):
        raise ValueError(f"a row has {len(values)} values for {len(keys)} columns")
    return values


def _sheet_title(title: str) -> str:
    cleaned = _SHEET_TITLE_BAD.sub("_", title).strip("'") or "Sheet1"
    return cleaned[:31]


def xlsx_bytes(
    rows: Iterable[Mapping[str, Any] | Sequence[Any]],
    columns: Sequence[Column | tuple[str, Any]],
    *,
    sheet: str = "Sheet1",
) -> bytes:
    """The rows as an XLSX workbook of one sheet: a bold, frozen header row, then the rows."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    cols = normalise_columns(columns)
    keys = [c.key for c in cols]
    data = rows if isinstance(rows, Sequence) else list(rows)
    if len(data) + 1 > MAX_ROWS:
        raise ExportTooLarge(f"{len(data)} rows: more than one sheet holds ({MAX_ROWS - 1})")
    for row in data:  # refuse a malformed row before the workbook is half written
        if not isinstance(row, Mapping):
            _values(row, keys)
    wb = Workbook(write_only=True)
    ws = wb.create_sheet(_sheet_title(sheet))
    ws.freeze_panes = "A2"
    for i, c in enumerate(cols, start=1):
        width = c.width or max(10.0, min(40.0, 2.2 * len(str(c.label)) + 2))
        ws.column_dimensions[get_column_letter(i)].width = width
    bold = Font(bold=True)
    header = []
    for c in cols:
        cell = WriteOnlyCell(ws, value=str(c.label))
        cell.font = bold
        header.append(cell)
    ws.append(header)
    formats = [c.number_format for c in cols]
    for row in data:
        out: list[Any] = []
        for j, value in enumerate(_values(row, keys)):
            v = _cell(value)
            fmt = formats[j]
            if fmt is None and isinstance(v, dt.date):
                fmt = "yyyy-mm-dd hh:mm" if isinstance(v, dt.datetime) else "yyyy-mm-dd"
            if fmt is not None and v is not None and not isinstance(v, str):
                cell = WriteOnlyCell(ws, value=v)
                cell.number_format = fmt
                out.append(cell)
            else:
                out.append(v)
        ws.append(out)
    buffer = io.BytesIO()
    wb.save(buffer)
    return buffer.getvalue()


def csv_text(
    rows: Iterable[Mapping[str, Any] | Sequence[Any]],
    columns: Sequence[Column | tuple[str, Any]],
) -> str:
    """The rows as CSV text (header = the labels); dates in ISO form, None as an empty field."""
    cols = normalise_columns(columns)
    keys = [c.key for c in cols]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([str(c.label) for c in cols])
    for row in rows:
        out = []
        for value in _values(row, keys):
            v = _cell(value)
            if v is None:
                out.append("")
            elif isinstance(v, (dt.date, dt.datetime)):
                out.append(v.isoformat(sep=" ") if isinstance(v, dt.datetime) else v.isoformat())
            else:
                out.append(str(v))
        writer.writerow(out)
    return buffer.getvalue()


def _filename(stem: str, ext: str) -> str:
    safe = re.sub(r"[\\/:*?\"<>|\s]+", "-", stem).strip("-") or "export"
    return f"{safe}.{ext}"


def export_response(
    fmt: str | None,
    rows: Iterable[Mapping[str, Any] | Sequence[Any]],
    columns: Sequence[Column | tuple[str, Any]],
    filename: str,
    *,
    sheet: str | None = None,
) -> HttpResponse:
    """An attachment of the rows in ``fmt`` ("xlsx" or "csv"; anything else raises ValueError).

    ``filename`` is the stem (no extension); non-ASCII names (Chinese) are sent per RFC 6266.
    """
    fmt = (fmt or "").lower()
    if fmt == "xlsx":
        body = xlsx_bytes(rows, columns, sheet=sheet or filename)
        response = HttpResponse(body, content_type=XLSX_CONTENT_TYPE)
    elif fmt == "csv":
        # BOM: Excel reads a UTF-8 CSV without it as the local code page, garbling Chinese.
        response = HttpResponse("\ufeff" + csv_text(rows, columns), content_type=CSV_CONTENT_TYPE)
    else:
        raise ValueError(f"unknown export format {fmt!r}; expected one of {', '.join(FORMATS)}")
    return attach(response, filename, fmt)


def attach(response: HttpResponse, filename: str, ext: str) -> HttpResponse:
    """``response`` sent as an attachment named ``filename``.``ext`` (a non-ASCII name per
    RFC 6266, with an ASCII fallback); every export and document download goes through it."""
    name = _filename(filename, ext)
    ascii_name = name.encode("ascii", "replace").decode("ascii").replace("?", "_")
    response["Content-Disposition"] = (
        f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{escape_uri_path(name)}"
    )
    response["X-Content-Type-Options"] = "nosniff"
    return response


def is_export(fmt: str | None) -> bool:
    """Whether a request's ``format`` parameter asks for an export this module writes."""
    return (fmt or "").lower() in FORMATS
