"""Reading user files (CSV, CSV.gz, XLSX; UTF-8 or GB18030) into all-string polars frames.

Every cell is read as text so that codes keep their leading digits and each validation step
can say exactly which cell was wrong. ``row`` numbers are the line numbers a user sees in a
spreadsheet (header = row 1).
"""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import io
import zipfile
import zlib
from collections.abc import Mapping, Sequence
from pathlib import Path

import polars as pl
from django.conf import settings
from django.utils.translation import gettext as _

from ruralwatch.core.problems import ImportRejected, Problem

ROW = "__row__"


#: Limits on what one file may hold once decompressed/unpacked. A deployment may change them
#: with the settings of the same names; the defaults hold the national 2016 village list
#: (713,034 rows, 57 MB as CSV) with room to spare.
DEFAULT_MAX_MB = 256
DEFAULT_MAX_CELLS = 20_000_000
DEFAULT_MAX_COLUMNS = 1_000
#: Excel's own row limit.
MAX_ROWS = 1_048_576
_READ_CHUNK = 1 << 20


def max_bytes() -> int:
    """Most bytes a file may hold after decompression (``RURALWATCH_IMPORT_MAX_MB``)."""
    return int(getattr(settings, "RURALWATCH_IMPORT_MAX_MB", DEFAULT_MAX_MB)) * (1 << 20)


def max_cells() -> int:
    """Most cells a spreadsheet may hold (``RURALWATCH_IMPORT_MAX_CELLS``)."""
    return int(getattr(settings, "RURALWATCH_IMPORT_MAX_CELLS", DEFAULT_MAX_CELLS))


def max_columns() -> int:
    return int(getattr(settings, "RURALWATCH_IMPORT_MAX_COLUMNS", DEFAULT_MAX_COLUMNS))


def _reject(name: str, reason: str) -> ImportRejected:
    return ImportRejected([Problem(name, None, None, reason)])


def _too_big(name: str, limit: int) -> ImportRejected:
    return _reject(
        name,
        _("the file holds more than %(mb)d MiB of data once decompressed; split it")
        % {"mb": limit >> 20},
    )


def _read_bytes(path: Path, name: str) -> bytes:
    """The file's bytes, gunzipped if it is gzip, read in chunks and never beyond the limit.

    A truncated or damaged gzip stream and a file that inflates beyond :func:`max_bytes`
    are refused with a reason; a decompression bomb is never held in memory.
    """
    limit = max_bytes()
    with path.open("rb") as fh:
        magic = fh.read(2)
        fh.seek(0)
        if magic != b"\x1f\x8b":
            raw = fh.read(limit + 1)
            if len(raw) > limit:
                raise _too_big(name, limit)
            return raw
        out = bytearray()
        try:
            with gzip.GzipFile(fileobj=fh) as gz:
                while chunk := gz.read(_READ_CHUNK):
                    out += chunk
                    if len(out) > limit:
                        raise _too_big(name, limit)
        except (EOFError, OSError, zlib.error) as exc:
            raise _reject(
                name,
                _("the compressed file is truncated or damaged (%(e)s)")
                % {"e": str(exc) or type(exc).__name__},
            ) from exc
    return bytes(out)


def _decode(raw: bytes, name: str) -> str:
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        pass
    try:
        return raw.decode("gb18030")
    except UnicodeDecodeError as exc:
        raise ImportRejected(
            [Problem(name, None, None, _("the file is neither UTF-8 nor GB18030 text"))]
        ) from exc


def _xlsx_cell(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time() else value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    text = str(value).strip()
    return text or None


def read_table(path: str | Path) -> pl.DataFrame:
    """Read a CSV/CSV.gz/XLSX file as strings, with a ``__row__`` column of spreadsheet rows.

    Bounded: a file that inflates beyond :func:`max_bytes`, a sheet declaring or holding more
    than :func:`max_cells` cells, and formula cells without a stored result are refused with a
    reason before they can exhaust memory or be read as empty.
    """
    path = Path(path)
    name = path.name
    if not path.is_file():
        raise ImportRejected([Problem(name, None, None, _("file not found"))])
    suffixes = "".join(path.suffixes).lower()
    if suffixes.endswith((".xlsx", ".xlsm")):
        frame = _read_xlsx(path)
    else:
        text = _decode(_read_bytes(path, name), name)
        if not text.strip():
            raise ImportRejected([Problem(name, None, None, _("the file is empty"))])
        try:
            frame = pl.read_csv(
                io.StringIO(text),
                infer_schema=False,
                truncate_ragged_lines=False,
            )
        except (pl.exceptions.ComputeError, pl.exceptions.PolarsError) as exc:
            raise ImportRejected(
                [
                    Problem(
                        name,
                        None,
                        None,
                        # polars' first line says what is wrong; the rest is advice to coders.
                        _("not a readable CSV file: %(e)s")
                        % {"e": str(exc).strip().splitlines()[0] if str(exc).strip() else exc},
                    )
                ]
            ) from exc
        if frame.width > max_columns():
            raise _reject(
                name,
                _("the file has %(n)d columns; at most %(m)d are read")
                % {"n": frame.width, "m": max_columns()},
            )
    frame = frame.rename({c: c.strip() for c in frame.columns})
    frame = frame.with_columns(
        [pl.col(c).str.strip_chars().replace("", None) for c in frame.columns]
    )
    frame = frame.with_row_index(ROW, offset=2).with_columns(pl.col(ROW).cast(pl.Int64))
    controls = _control_problems(frame, name)
    if controls:
        raise ImportRejected(controls)
    return frame


#: Control characters no cell may hold (tab, line feed and carriage return may): PostgreSQL
#: refuses NUL in text outright (SQLite would store it), and the others are junk.
_CONTROL = r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]"


def _control_problems(frame: pl.DataFrame, name: str) -> list[Problem]:
    """A problem for every header and cell that holds a control character."""
    reason = _("the text holds a control character (such as NUL); remove it")
    problems = [
        Problem(name, 1, repr(c)[1:-1], reason)
        for c in frame.columns
        if c != ROW and pl.Series([c]).str.contains(_CONTROL).any()
    ]
    for c in frame.columns:
        if c != ROW:
            problems += problems_where(frame, pl.col(c).str.contains(_CONTROL), name, c, reason)
    return problems


def _xlsx_limits(path: Path) -> None:
    """Refuse a workbook whose parts unpack beyond the byte limit (zip bomb), before loading."""
    limit = max_bytes()
    try:
        with zipfile.ZipFile(path) as zf:
            unpacked = sum(i.file_size for i in zf.infolist())
    except (zipfile.BadZipFile, OSError) as exc:
        raise _reject(path.name, _("not a readable XLSX file: %(e)s") % {"e": exc}) from exc
    if unpacked > limit:
        raise _too_big(path.name, limit)


def _sheet_has_formulas(ws: object) -> bool:
    """Whether the sheet's XML holds any formula element (streamed, bounded memory)."""
    src = ws._get_source()  # type: ignore[attr-defined]  # openpyxl read-only worksheet
    tail = b""
    try:
        while chunk := src.read(_READ_CHUNK):
            block = tail + chunk
            if b"<f>" in block or b"<f " in block or b"<x:f" in block:
                return True
            tail = block[-8:]
    finally:
        src.close()
    return False


def _read_xlsx(path: Path) -> pl.DataFrame:
    from openpyxl import load_workbook
    from openpyxl.utils import get_column_letter

    name = path.name
    _xlsx_limits(path)
    try:
        wb = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:
        raise ImportRejected(
            [Problem(name, None, None, _("not a readable XLSX file: %(e)s") % {"e": exc})]
        ) from exc
    try:
        if not wb.worksheets:
            raise _reject(name, _("the workbook has no sheet"))
        ws = wb.worksheets[0]
        cells_limit, cols_limit = max_cells(), max_columns()
        # The declared dimension (e.g. A1:XFD1048576) is read before any row is loaded.
        declared_rows, declared_cols = ws.max_row, ws.max_column
        if (
            declared_rows
            and declared_cols
            and (declared_cols > cols_limit or declared_rows * declared_cols > cells_limit)
        ):
            raise _reject(
                name,
                _(
                    "the sheet declares %(r)d rows × %(c)d columns (%(dim)s); at most "
                    "%(m)d columns and %(n)d cells are read"
                )
                % {
                    "r": declared_rows,
                    "c": declared_cols,
                    "dim": ws.calculate_dimension(),
                    "m": cols_limit,
                    "n": cells_limit,
                },
            )
        rows = ws.iter_rows(values_only=True)
        try:
            header = next(rows, None)
            if header is None:
                raise ImportRejected([Problem(name, None, None, _("the file is empty"))])
            if len(header) > cols_limit:
                raise _reject(
                    name,
                    _("the file has %(n)d columns; at most %(m)d are read")
                    % {"n": len(header), "m": cols_limit},
                )
            names = [
                str(h).strip() if h is not None else f"column{i + 1}" for i, h in enumerate(header)
            ]
            columns: list[list[str | None]] = [[] for _ in names]
            seen = len(header)
            beyond: Problem | None = None
            for n_row, row in enumerate(rows, start=2):
                seen += max(len(row), len(names))
                if seen > cells_limit or n_row > MAX_ROWS:
                    raise _reject(
                        name,
                        _("the sheet holds more than %(n)d cells; split the file")
                        % {"n": cells_limit},
                    )
                for i in range(len(names)):
                    columns[i].append(_xlsx_cell(row[i]) if i < len(row) else None)
                if len(row) > len(names) and beyond is None:
                    extra = next(
                        (i for i in range(len(names), len(row)) if _xlsx_cell(row[i]) is not None),
                        None,
                    )
                    if extra is not None:
                        beyond = Problem(
                            name,
                            n_row,
                            get_column_letter(extra + 1),
                            _("a value in a column without a header; every column needs one"),
                        )
        except ImportRejected:
            raise
        except Exception as exc:  # openpyxl raises many types on malformed XML
            raise _reject(name, _("not a readable XLSX file: %(e)s") % {"e": exc}) from exc
        formulas = _uncached_formulas(path, ws, columns, names) if _sheet_has_formulas(ws) else []
    finally:
        wb.close()
    if formulas or beyond is not None:
        raise ImportRejected(formulas + ([beyond] if beyond is not None else []))
    # Trailing rows that are empty in every column are not data.
    n = len(columns[0]) if columns else 0
    while n and all(col[n - 1] is None for col in columns):
        n -= 1
    return pl.DataFrame(
        {name: col[:n] for name, col in zip(names, columns, strict=True)},
        schema={name: pl.String for name in names},
    )


def _uncached_formulas(
    path: Path, ws: object, columns: list[list[str | None]], names: list[str]
) -> list[Problem]:
    """Formula cells whose result was never stored in the file (saved by a program that does
    not calculate): their value is unknown, so they are refused rather than read as empty."""
    from openpyxl import load_workbook

    wb = load_workbook(path, read_only=True, data_only=False)
    problems: list[Problem] = []
    try:
        n_data = len(columns[0]) if columns else 0
        for r, row in enumerate(wb.worksheets[0].iter_rows(values_only=True), start=1):
            if r - 2 >= n_data:
                break
            for i, value in enumerate(row[: len(names)]):
                if not (isinstance(value, str) and value.startswith("=")):
                    continue
                if r == 1 or columns[i][r - 2] is None:
                    problems.append(
                        Problem(
                            path.name,
                            r,
                            names[i],
                            _(
                                "formula %(f)s has no stored result; open and save the file in "
                                "a spreadsheet program, or paste values"
                            )
                            % {"f": value[:60]},
                        )
                    )
    finally:
        wb.close()
    return problems


def canonical_columns(
    frame: pl.DataFrame,
    aliases: Mapping[str, Sequence[str]],
    required: Sequence[str],
    file: str,
) -> pl.DataFrame:
    """Rename known headers (Chinese or English, any case) to canonical names.

    Raises :class:`ImportRejected` naming every required column that is missing.
    """
    lookup: dict[str, str] = {}
    for canonical, names in aliases.items():
        for n in (canonical, *names):
            lookup[n.strip().lower()] = canonical
    rename: dict[str, str] = {}
    for col in frame.columns:
        if col == ROW:
            continue
        target = lookup.get(col.strip().lower())
        if target is not None and target not in rename.values():
            rename[col] = target
    frame = frame.rename(rename)
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise ImportRejected(
            [
                Problem(
                    file,
                    1,
                    c,
                    _("required column is missing (accepted headers: %(h)s)")
                    % {"h": ", ".join([c, *aliases.get(c, ())])},
                )
                for c in missing
            ]
        )
    return frame


def only_columns(frame: pl.DataFrame, aliases: Mapping[str, Sequence[str]]) -> pl.DataFrame:
    """The row numbers and the canonical columns of ``aliases`` that the frame has, and no
    other: a column of the file's own named like one an importer adds or joins while
    validating ("path", "h_kind" …) must not stand in for it."""
    return frame.select(ROW, *[c for c in aliases if c in frame.columns])


def problems_where(
    frame: pl.DataFrame, mask: pl.Expr, file: str, column: str, reason: pl.Expr | str
) -> list[Problem]:
    """A :class:`Problem` for every row of ``frame`` where ``mask`` holds."""
    reason_expr = reason if isinstance(reason, pl.Expr) else pl.lit(reason)
    bad = (
        frame.select(
            pl.col(ROW), mask.fill_null(False).alias("__bad__"), reason_expr.alias("reason")
        )
        .filter(pl.col("__bad__"))
        .unique(subset=[ROW, "reason"], maintain_order=True)
    )
    return [Problem(file, int(r), column, str(m)) for r, _b, m in bad.iter_rows()]


def file_sha256(path: str | Path) -> str:
    """The SHA-256 of a file's bytes, read in chunks (empty text for a missing file)."""
    path = Path(path)
    digest = hashlib.sha256()
    if path.is_file():
        with path.open("rb") as fh:
            while chunk := fh.read(_READ_CHUNK):
                digest.update(chunk)
    return digest.hexdigest()


def parse_date(text: pl.Expr) -> pl.Expr:
    """A strict date parser for user text: ``YYYY-MM-DD`` (``/`` or ``.`` also accepted),
    ``YYYYMMDD``, or a spreadsheet datetime at midnight. Anything else — trailing text such as
    ``2023-01-05abc``, impossible dates such as 1999-02-30 — gives null."""
    t = text.str.strip_chars().str.replace_all(r"[/.]", "-")
    t = t.str.replace(r"^(\d{4}-\d{1,2}-\d{1,2})[T ]00:00(:00(\.0+)?)?$", "${1}")
    dashed = pl.when(t.str.contains(r"^\d{4}-\d{1,2}-\d{1,2}$")).then(t)
    compact = pl.when(t.str.contains(r"^\d{8}$")).then(t)
    return pl.coalesce(
        dashed.str.to_date("%Y-%m-%d", strict=False),
        compact.str.to_date("%Y%m%d", strict=False),
    )


def date_span_problems(
    frame: pl.DataFrame,
    parsed: str,
    file: str,
    column: str,
    earliest: dt.date,
    latest: dt.date,
) -> list[Problem]:
    """A :class:`Problem` for every parsed date outside ``[earliest, latest]``."""
    return problems_where(
        frame,
        (pl.col(parsed) < earliest) | (pl.col(parsed) > latest),
        file,
        column,
        pl.format(
            _("date {} is outside the accepted span {} … {}"),
            pl.col(parsed).cast(pl.String),
            pl.lit(earliest.isoformat()),
            pl.lit(latest.isoformat()),
        ),
    )


def length_problems(frame: pl.DataFrame, file: str, limits: Mapping[str, int]) -> list[Problem]:
    """A :class:`Problem` for every text longer than its column holds (``column → max``),
    found before the database sees it (SQLite would store it, PostgreSQL would fail)."""
    problems: list[Problem] = []
    for column, limit in limits.items():
        if column not in frame.columns:
            continue
        problems += problems_where(
            frame,
            pl.col(column).str.len_chars() > limit,
            file,
            column,
            pl.format(
                _("text of {} characters; this column holds at most {}"),
                pl.col(column).str.len_chars(),
                pl.lit(limit),
            ),
        )
    return problems


def max_length(model: type, field: str) -> int:
    """The ``max_length`` of a model's text field (the single source of the limit)."""
    length = model._meta.get_field(field).max_length  # type: ignore[attr-defined]
    assert isinstance(length, int)
    return length
