"""Reading user files (CSV, CSV.gz, XLSX; UTF-8 or GB18030) into all-string polars frames.

Every cell is read as text so that codes keep their leading digits and each validation step
can say exactly which cell was wrong. ``row`` numbers are the line numbers a user sees in a
spreadsheet (header = row 1).
"""

from __future__ import annotations

import datetime as dt
import gzip
import io
from collections.abc import Mapping, Sequence
from pathlib import Path

import polars as pl
from django.utils.translation import gettext as _

from ruralwatch.core.problems import ImportRejected, Problem

ROW = "__row__"


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
    """Read a CSV/CSV.gz/XLSX file as strings, with a ``__row__`` column of spreadsheet rows."""
    path = Path(path)
    name = path.name
    if not path.exists():
        raise ImportRejected([Problem(name, None, None, _("file not found"))])
    suffixes = "".join(path.suffixes).lower()
    if suffixes.endswith((".xlsx", ".xlsm")):
        frame = _read_xlsx(path)
    else:
        raw = path.read_bytes()
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
        text = _decode(raw, name)
        if not text.strip():
            raise ImportRejected([Problem(name, None, None, _("the file is empty"))])
        try:
            frame = pl.read_csv(
                io.StringIO(text),
                infer_schema=False,
                truncate_ragged_lines=False,
            )
        except pl.exceptions.ComputeError as exc:
            raise ImportRejected(
                [Problem(name, None, None, _("not a readable CSV file: %(e)s") % {"e": exc})]
            ) from exc
    frame = frame.rename({c: c.strip() for c in frame.columns})
    frame = frame.with_columns(
        [pl.col(c).str.strip_chars().replace("", None) for c in frame.columns]
    )
    return frame.with_row_index(ROW, offset=2).with_columns(pl.col(ROW).cast(pl.Int64))


def _read_xlsx(path: Path) -> pl.DataFrame:
    from openpyxl import load_workbook

    try:
        wb = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:
        raise ImportRejected(
            [Problem(path.name, None, None, _("not a readable XLSX file: %(e)s") % {"e": exc})]
        ) from exc
    ws = wb.worksheets[0]
    rows = ws.iter_rows(values_only=True)
    header = next(rows, None)
    if header is None:
        raise ImportRejected([Problem(path.name, None, None, _("the file is empty"))])
    names = [str(h).strip() if h is not None else f"column{i + 1}" for i, h in enumerate(header)]
    columns: list[list[str | None]] = [[] for _ in names]
    for row in rows:
        for i in range(len(names)):
            columns[i].append(_xlsx_cell(row[i]) if i < len(row) else None)
    wb.close()
    # Trailing rows that are empty in every column are not data.
    n = len(columns[0]) if columns else 0
    while n and all(col[n - 1] is None for col in columns):
        n -= 1
    return pl.DataFrame(
        {name: col[:n] for name, col in zip(names, columns, strict=True)},
        schema={name: pl.String for name in names},
    )


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
