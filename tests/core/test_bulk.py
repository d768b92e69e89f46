"""Bulk reads (ruralwatch.core.bulk)."""

from __future__ import annotations

import polars as pl
import pytest

from ruralwatch.core import bulk

pytestmark = pytest.mark.django_db


def test_fetch_columns_gives_the_rows_fetch_frame_gives() -> None:
    """Codes and numbers as one text per column (PostgreSQL) or as rows: the same frame as
    :func:`bulk.fetch_frame`, nulls and an empty result included."""
    sql = (
        "SELECT t.code, t.n, t.x FROM (SELECT '110101001001' AS code, 3 AS n, 1.5 AS x "
        "UNION ALL SELECT '110101001002', NULL, NULL UNION ALL SELECT '110101001003', 0, -2.25) t "
        "WHERE t.code > %s ORDER BY t.code"
    )
    schema = {"code": pl.String, "n": pl.Int64, "x": pl.Float64}
    got = bulk.fetch_columns(sql, ["0"], schema=schema)
    assert got.equals(bulk.fetch_frame(sql, ["0"], schema=schema))
    assert got.rows() == [
        ("110101001001", 3, 1.5),
        ("110101001002", None, None),
        ("110101001003", 0, -2.25),
    ]
    none = bulk.fetch_columns(sql, ["9"], schema=schema)
    assert none.is_empty() and none.schema == pl.Schema(schema)
