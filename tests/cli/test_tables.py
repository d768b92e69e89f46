"""The vectorised CSV reader and writer of the numerical commands (``ruralwatch.cli._tables``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest

from ruralwatch.cli._tables import TableError, numeric_column, read_grid, write_table

DAYS = np.arange(np.datetime64("2024-03-01"), np.datetime64("2024-03-05"))  # 4 dates
UNITS = ["0102", "0101", "0990", "0033"]  # 4 units: a square grid, codes with leading zeros


def _records(rng: np.random.Generator) -> pl.DataFrame:
    """Every unit on every date, date by date, with counts and a population."""
    n_t, n_u = DAYS.size, len(UNITS)
    return pl.DataFrame(
        {
            "date": np.repeat(DAYS, n_u),
            "unit": UNITS * n_t,
            "observed": rng.integers(0, 50, n_t * n_u).astype(np.float64),
            "population": np.tile([100.0, 200.0, 300.0, 400.0], n_t),
        }
    )


def _expected(frame: pl.DataFrame, name: str) -> np.ndarray:
    """The grid by looking every cell up (dates × UNITS in first-appearance order)."""
    out = np.full((DAYS.size, len(UNITS)), np.nan)
    for row in frame.iter_rows(named=True):
        out[list(DAYS).index(np.datetime64(row["date"])), UNITS.index(row["unit"])] = row[name]
    return out


@pytest.mark.parametrize("order", ["by_date", "by_unit", "shuffled", "with_gaps"])
def test_every_record_lands_in_its_cell(order: str, tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    frame = _records(rng)
    if order == "by_unit":
        # unit by unit, units in UNITS order (not sorted), dates increasing in each
        frame = frame.with_columns(pl.col("unit").cast(pl.Enum(UNITS))).sort("unit", "date")
        frame = frame.with_columns(pl.col("unit").cast(pl.String))
    elif order == "shuffled":
        frame = frame.sample(fraction=1.0, shuffle=True, seed=5)
    elif order == "with_gaps":
        frame = frame.filter(pl.int_range(pl.len()) % 5 != 3)
    src = tmp_path / "in.csv"
    frame.write_csv(src)
    grid = read_grid(src, ("observed", "population"), required=("observed",))
    assert list(grid.dates) == list(DAYS)
    first_seen = list(dict.fromkeys(frame["unit"].to_list()))
    assert grid.units == tuple(first_seen)
    perm = [UNITS.index(u) for u in first_seen]
    for name in ("observed", "population"):
        np.testing.assert_array_equal(grid.values[name], _expected(frame, name)[:, perm])
    sorted_grid = read_grid(src, ("observed",), sort_units=True)
    assert sorted_grid.units == tuple(sorted(UNITS))
    idx = [UNITS.index(u) for u in sorted(UNITS)]
    want = _expected(frame, "observed")[:, idx]
    np.testing.assert_array_equal(sorted_grid.values["observed"], want)


def test_wide_layout(tmp_path: Path) -> None:
    src = tmp_path / "wide.csv"
    src.write_text("date,0101,0102\n2024-03-02,4,NA\n2024-03-01,1,2\n", encoding="utf-8")
    grid = read_grid(src, ("observed",))
    assert grid.units == ("0101", "0102")
    assert [str(d) for d in grid.dates] == ["2024-03-01", "2024-03-02"]
    np.testing.assert_array_equal(grid.values["observed"], [[1, 2], [4, np.nan]])


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("date,unit,observed\n2024-03-01,1,3\n2024-03-01,2,x\n", "row 3, column observed"),
        ("date,unit,observed\n2024-03-01,1,3\n2024-03-01,2,-1\n", "row 3, column observed"),
        ("date,unit,observed\n2024-03-01,1,3\n2024-03-01,2,NaN\n", "row 3, column observed"),
        ("date,unit,observed\n2024-03-01,1,3\n2024-03-01,,1\n", "row 3, column unit"),
        ("date,unit,observed\n2024-03-01,1,3\n03/02/2024,1,1\n", "row 3, column date"),
        ("date,unit,observed\n2024-03-01,1,3\n2024-03-02,1,1\n2024-03-01,1,4\n", "row 4: dup"),
        ("date,unit\n2024-03-01,1\n", "missing column(s) observed"),
        ("date,unit,observed\n", "no data rows"),
        ("date,a,a\n2024-03-01,1,2\n", "column 'a' appears twice"),
    ],
)
def test_bad_input_names_row_and_column(tmp_path: Path, content: str, message: str) -> None:
    src = tmp_path / "bad.csv"
    src.write_text(content, encoding="utf-8")
    with pytest.raises(TableError, match=message.replace("(", r"\(").replace(")", r"\)")):
        read_grid(src, ("observed",), counts=("observed",))


def test_written_numbers(tmp_path: Path) -> None:
    dest = tmp_path / "out.csv"
    write_table(
        dest,
        [
            numeric_column("count", np.array([3.0, np.nan, 0.0])),
            numeric_column("real", np.array([0.1, np.nan, 2.0])),
            numeric_column("flag", np.array([True, False, True])),
            numeric_column("inf", np.array([np.inf, 1.5, -np.inf])),
        ],
    )
    lines = dest.read_text(encoding="utf-8").splitlines()
    assert lines == ["count,real,flag,inf", "3,0.1,1,inf", "NA,NA,0,1.5", "0,2.0,1,-inf"]
    back = pl.read_csv(dest, null_values="NA")
    assert back["real"][0] == 0.1  # shortest repr, read back exactly
