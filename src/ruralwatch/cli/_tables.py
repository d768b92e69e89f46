"""Vectorised CSV I/O for the numerical commands (``detect``, ``rt``): panels in, tables out.

Reading: a long CSV (``date, unit, <value columns>``, one row per unit and date) or a wide CSV
(``date`` and one column per unit) becomes a (dates × units) grid with numpy/polars, without a
pivot: every record gets its row (date) and column (unit) index and the values are scattered
into the grid. Bad input stops with the file, row (line number) and column.

Writing: a table is built column by column and written by polars. ``NaN`` is written ``NA``; a
numeric column whose values are all whole numbers is written without decimals. (The R
compatibility modes write R's number layout themselves: see ``_fmt`` in the commands.)

This module imports numpy and polars at the top: import it inside a command, not at start-up.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl

__all__ = ["Grid", "TableError", "numeric_column", "read_grid", "write_table"]

_NULLS = ["", "NA"]


class TableError(Exception):
    """Bad input: the message names the file, row and column."""


@dataclass(frozen=True)
class Grid:
    """Values on a (dates × units) grid; a cell with no record is ``NaN``.

    Attributes:
        dates: ``datetime64[D]``, sorted, distinct (the dates present in the file).
        units: unit codes (long layout: in the order of their first appearance in the file, or
            sorted; wide layout: in the order of the columns).
        values: column name -> (len(dates), len(units)) float array.
    """

    dates: npt.NDArray[np.datetime64]
    units: tuple[str, ...]
    values: dict[str, npt.NDArray[np.float64]]


def _read(path: Path, schema: Mapping[str, pl.DataType] | None) -> pl.DataFrame:
    """The CSV with the given column types (``None``: every column as text)."""
    try:
        if schema is None:
            df = pl.read_csv(path, infer_schema=False)
        else:
            df = pl.read_csv(path, schema_overrides=dict(schema), null_values=_NULLS)
    except FileNotFoundError:
        raise TableError(f"{path}: no such file") from None
    except (OSError, pl.exceptions.NoDataError) as exc:
        raise TableError(f"{path}: cannot read CSV ({exc})") from None
    return df


def _header(path: Path) -> list[str]:
    """The header's column names as written (not stripped)."""
    try:
        with path.open(encoding="utf-8") as fh:
            line = fh.readline()
    except FileNotFoundError:
        raise TableError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise TableError(f"{path}: cannot read ({exc})") from None
    if not line.strip():
        raise TableError(f"{path}: empty file")
    return line.rstrip("\r\n").split(",")


def _first_bad(path: Path, df: pl.DataFrame, column: str, *, counts: bool) -> None:
    """Raise for the first text cell of ``column`` that is not a number (>= 0 for counts)."""
    text = pl.col(column).str.strip_chars()
    num = text.cast(pl.Float64, strict=False)
    missing = text.is_null() | text.is_in(_NULLS)
    bad = ~missing & (num.is_null() | num.is_nan() | num.is_infinite())
    if counts:
        bad = bad | (~missing & (num < 0))
    hit = df.with_row_index("_line", offset=2).filter(bad)
    if hit.height:
        r = hit.row(0, named=True)
        what = "a count >= 0" if counts else "a number"
        raise TableError(f"{path}: row {r['_line']}, column {column}: {r[column]!r} is not {what}")


def _first_bad_date(path: Path, df: pl.DataFrame) -> None:
    parsed = pl.col("date").str.strip_chars().str.to_date("%Y-%m-%d", strict=False)
    hit = df.with_row_index("_line", offset=2).filter(parsed.is_null())
    if hit.height:
        r = hit.row(0, named=True)
        raise TableError(f"{path}: row {r['_line']}, column date: {r['date']!r} is not YYYY-MM-DD")


def _diagnose(path: Path, value_columns: Sequence[str], counts: Sequence[str], unit: bool) -> None:
    """Find and raise the first bad cell by reading every column as text (the slow path, taken
    only when the typed read failed)."""
    df = _read(path, None)
    df = df.rename({c: c.strip() for c in df.columns})
    _first_bad_date(path, df)
    if unit:
        _check_units(path, df.with_columns(pl.col("unit").str.strip_chars()))
    for c in value_columns:
        if c in df.columns:
            _first_bad(path, df, c, counts=c in counts)


def _check_units(path: Path, df: pl.DataFrame) -> None:
    hit = df.with_row_index("_line", offset=2).filter(
        pl.col("unit").is_null() | (pl.col("unit") == "")
    )
    if hit.height:
        raise TableError(f"{path}: row {hit['_line'][0]}, column unit: empty unit code")


def _check_values(
    path: Path, df: pl.DataFrame, columns: Sequence[str], counts: Sequence[str]
) -> None:
    """Typed columns: NaN / infinite (and negative for counts) are errors with row and column."""
    for c in columns:
        bad = _bad_value(c, c in counts)
        if df.select(bad.any()).item():
            hit = df.with_row_index("_line", offset=2).filter(bad)
            what = "a count >= 0" if c in counts else "a number"
            v = hit[c][0]
            raise TableError(f"{path}: row {hit['_line'][0]}, column {c}: {v!r} is not {what}")


def _date_rows(
    dates: npt.NDArray[np.int32],
) -> tuple[npt.NDArray[np.datetime64], npt.NDArray[np.int64]]:
    """Distinct sorted dates and each record's index into them."""
    days = np.unique(pl.Series(dates).unique().to_numpy())
    if days.size > 1:
        step = np.diff(days)
        if np.all(step == step[0]):
            rows = (dates.astype(np.int64) - int(days[0])) // int(step[0])
            return days.astype("datetime64[D]"), rows
    rows = np.searchsorted(days, dates).astype(np.int64)
    return days.astype("datetime64[D]"), rows


def read_grid(
    path: Path,
    value_columns: Sequence[str],
    *,
    required: Sequence[str] | None = None,
    counts: Sequence[str] = (),
    layout: str = "auto",
    sort_units: bool = False,
) -> Grid:
    """A long or wide CSV as a grid of ``value_columns``.

    Long layout: columns ``date, unit`` and the value columns (``required`` ones must be there;
    the others are read when present). Wide layout (``layout="wide"``, or ``auto`` when there is
    no ``unit`` column): ``date`` and one column per unit holding the first value column. Empty
    and ``NA`` cells are missing (``NaN``); columns in ``counts`` must be >= 0. A unit with two
    records for one date is an error. Units come in the order of their first appearance, or
    sorted with ``sort_units``.
    """
    written = _header(path)
    names = [h.strip() for h in written]
    twice = sorted({h for h in names if names.count(h) > 1})
    if twice:
        raise TableError(f"{path}: column {twice[0]!r} appears twice in the header")
    raw = dict(zip(names, written, strict=True))
    header = list(raw)
    if layout == "auto":
        layout = "long" if "unit" in header or "date" not in header else "wide"
    if layout == "wide":
        return _read_wide(path, raw, value_columns[0], counts=value_columns[0] in counts)
    need = ["date", "unit", *(value_columns if required is None else required)]
    missing = [c for c in need if c not in header]
    if missing:
        raise TableError(f"{path}: missing column(s) {', '.join(missing)}")
    present = [c for c in value_columns if c in header]
    schema: dict[str, pl.DataType] = {"date": pl.Date(), "unit": pl.String()}
    schema.update({c: pl.Float64() for c in present})
    try:
        df = _read(path, {raw[c]: t for c, t in schema.items()})
    except pl.exceptions.PolarsError as exc:
        _diagnose(path, present, counts, unit=True)
        raise TableError(f"{path}: cannot read CSV ({exc})") from None
    df = df.rename({c: c.strip() for c in df.columns}).select("date", "unit", *present)
    if df.height == 0:
        raise TableError(f"{path}: no data rows")
    # One pass for every check; the slow, precise messages only when one of them fails.
    flags = df.select(
        pl.col("date").is_null().any().alias("date"),
        pl.col("unit").is_null().any().alias("unit"),
        *(_bad_value(c, c in counts).any().alias(c) for c in present),
    ).row(0, named=True)
    if flags["date"]:
        _diagnose(path, present, counts, unit=True)
    if flags["unit"]:
        _check_units(path, df)
    if any(flags[c] for c in present):
        _check_values(path, df, present, counts)
    regular = _regular_grid(df)
    if regular is not None:
        day_numbers, units, shape, by_date = regular
        order = np.argsort(np.array(units), kind="stable") if sort_units else slice(None)
        ordered: dict[str, npt.NDArray[np.float64]] = {}
        for c in present:
            column = df[c].fill_null(np.nan).to_numpy().astype(np.float64, copy=False)
            block = column.reshape(shape)
            ordered[c] = np.ascontiguousarray((block if by_date else block.T)[:, order])
        if sort_units:
            units = tuple(sorted(units))
        return Grid(dates=day_numbers.astype("datetime64[D]"), units=units, values=ordered)
    days, rows = _date_rows(df["date"].to_physical().to_numpy())
    unit_codes = df["unit"].unique(maintain_order=True)
    if sort_units:
        unit_codes = unit_codes.sort()
    cols = df["unit"].cast(pl.Enum(unit_codes.to_list())).to_physical().to_numpy()
    n_t, n_u = days.size, unit_codes.len()
    flat = rows * n_u + cols.astype(np.int64)
    if np.bincount(flat, minlength=n_t * n_u).max() > 1:
        dup = df.with_row_index("_line", offset=2).filter(
            ~pl.struct("date", "unit").is_first_distinct()
        )
        r = dup.row(0, named=True)
        raise TableError(
            f"{path}: row {r['_line']}: duplicate date {r['date']} for unit {r['unit']}"
        )
    values: dict[str, npt.NDArray[np.float64]] = {}
    for c in present:
        grid = np.full(n_t * n_u, np.nan)
        grid[flat] = df[c].fill_null(np.nan).to_numpy()
        values[c] = grid.reshape(n_t, n_u)
    return Grid(dates=days, units=tuple(unit_codes.to_list()), values=values)


def _bad_value(column: str, count: bool) -> pl.Expr:
    x = pl.col(column)
    bad = x.is_nan() | x.is_infinite()
    return bad | (x < 0) if count else bad


def _codes(unit: pl.Series) -> npt.NDArray[np.uint64]:
    """A 64-bit hash of every unit code, to compare the runs of a file cheaply. Two different
    codes of one file with the same hash would pass for the same unit; for 10,000 codes the
    chance of that is about 3e-12."""
    return unit.hash(seed=0).to_numpy()


def _regular_grid(
    df: pl.DataFrame,
) -> tuple[npt.NDArray[np.int32], tuple[str, ...], tuple[int, int], bool] | None:
    """The dates, units and reshape of a file that lists every unit on every date in one fixed
    order: date by date with the units in the same order each time (``by_date``, ``shape``
    (dates, units)), or unit by unit with the dates in the same increasing order each time
    (``shape`` (units, dates)). ``None`` for any other file (its records are placed one by
    one)."""
    d = df["date"].to_physical().to_numpy()
    n = d.size
    change = np.flatnonzero(d[1:] != d[:-1])
    if change.size == 0:
        return None
    k = int(change[0]) + 1  # length of the first run of one date
    unit = df["unit"]
    if k > 1 and n % k == 0:  # date by date?
        blocks = d.reshape(n // k, k)
        first = blocks[:, 0]
        if np.all(blocks == first[:, None]) and np.all(first[1:] > first[:-1]):
            units = unit.head(k)
            codes = _codes(unit).reshape(n // k, k)
            if units.n_unique() == k and np.all(codes == codes[0]):
                return first, tuple(units.to_list()), (n // k, k), True
        return None
    # unit by unit: the dates increase within each unit's run
    drop = np.flatnonzero(d[1:] <= d[:-1])
    if drop.size == 0:
        return None
    k = int(drop[0]) + 1  # dates per unit
    if k < 2 or n % k:
        return None
    blocks = d.reshape(n // k, k)
    if not np.all(blocks == blocks[0]):
        return None
    units = unit.gather(np.arange(0, n, k))
    codes = _codes(unit).reshape(n // k, k)
    if units.n_unique() != n // k or not np.all(codes == codes[:, :1]):
        return None
    return blocks[0], tuple(units.to_list()), (n // k, k), False


def _read_wide(path: Path, raw: dict[str, str], name: str, *, counts: bool) -> Grid:
    header = list(raw)
    units = [h for h in header if h != "date"]
    if "date" not in header or not units:
        raise TableError(f"{path}: a wide CSV needs a date column and one column per unit")
    schema: dict[str, pl.DataType] = {
        raw["date"]: pl.Date(),
        **{raw[u]: pl.Float64() for u in units},
    }
    try:
        df = _read(path, schema)
    except pl.exceptions.PolarsError as exc:
        _diagnose(path, units, units if counts else (), unit=False)
        raise TableError(f"{path}: cannot read CSV ({exc})") from None
    df = df.rename({c: c.strip() for c in df.columns})
    if df.select(pl.col("date").is_null().any()).item():
        _diagnose(path, units, units if counts else (), unit=False)
    _check_values(path, df, units, units if counts else ())
    if df.height == 0:
        raise TableError(f"{path}: no data rows")
    dup = df.with_row_index("_line", offset=2).filter(~pl.col("date").is_first_distinct())
    if dup.height:
        raise TableError(f"{path}: row {dup['_line'][0]}: duplicate date {dup['date'][0]}")
    order = np.argsort(df["date"].to_physical().to_numpy(), kind="stable")
    matrix = df.select(units).to_numpy().astype(np.float64)[order]
    dates = df["date"].to_numpy().astype("datetime64[D]")[order]
    return Grid(dates=dates, units=tuple(units), values={name: matrix})


# --------------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------------


def numeric_column(name: str, values: npt.ArrayLike, *, real: bool = False) -> pl.Series:
    """A numeric output column: ``NaN`` -> null (written ``NA``); a column of whole numbers is
    written as integers unless ``real`` (a column of real numbers: the check is skipped)."""
    x = np.asarray(values)
    if real:
        return pl.Series(name, x.astype(np.float64, copy=False)).fill_nan(None)
    if x.dtype == np.bool_:
        return pl.Series(name, x.astype(np.int8))
    if np.issubdtype(x.dtype, np.integer):
        return pl.Series(name, x)
    x = x.astype(np.float64, copy=False)
    finite = np.isfinite(x)
    if np.array_equal(finite, ~np.isnan(x)):
        whole = x[finite]
        if np.all(whole == np.round(whole)) and (whole.size == 0 or np.abs(whole).max() < 1e15):
            ints = pl.Series(name, np.where(finite, x, 0).astype(np.int64))
            if not finite.all():
                ints = ints.scatter(np.flatnonzero(~finite), None)
            return ints
    return pl.Series(name, x).fill_nan(None)


def write_table(path: Path, columns: Sequence[pl.Series]) -> None:
    """Write the columns as a CSV (``NA`` for missing values)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    pl.DataFrame(list(columns)).write_csv(path, null_value="NA", line_terminator="\n")


def repeat_labels(name: str, labels: Sequence[Any], times: int, *, tile: bool) -> pl.Series:
    """``labels`` each repeated ``times`` times (``tile=False``) or the whole list ``times``
    times over (``tile=True``), as a column, without building Python strings per row."""
    base = pl.Series(name, list(labels))
    n = len(labels)
    idx = np.tile(np.arange(n), times) if tile else np.repeat(np.arange(n), times)
    return base.gather(idx)
