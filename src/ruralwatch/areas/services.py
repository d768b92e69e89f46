"""Writes to the area tree. The only place that computes materialized paths and level columns."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl
from django.db import models, transaction
from django.db.models import ForeignObjectRel
from django.utils.translation import gettext as _

from ruralwatch.areas.models import KEY_AREA_TAGS, Area
from ruralwatch.core import bulk
from ruralwatch.core.problems import ImportRejected, ImportSummary, Problem
from ruralwatch.core.tabular import ROW, canonical_columns, problems_where, read_table

AREA_ALIASES: dict[str, tuple[str, ...]] = {
    "code": ("区划代码", "统计用区划代码", "代码", "area_code"),
    "name": ("名称", "区划名称", "area_name"),
    "level": ("级别", "层级"),
    "parent_code": ("上级代码", "上级区划代码", "parent"),
    "urban_rural": ("城乡分类代码", "城乡分类", "urban_rural_code"),
    "virtual": ("虚拟",),
    "population": ("人口", "常住人口"),
    "population_65plus": ("65岁以上人口", "65岁及以上人口"),
    "key_areas": ("重点地区", "三区一岛"),
    "lon": ("经度", "lon_gcj02", "longitude"),
    "lat": ("纬度", "lat_gcj02", "latitude"),
}

AREA_COLUMNS: list[tuple[str, str]] = [
    ("row_no", "bigint"),
    ("code", "varchar(12)"),
    ("name", "varchar(100)"),
    ("level", "smallint"),
    ("parent_code", "varchar(12)"),
    ("path", "varchar(80)"),
    ("l1", "varchar(12)"),
    ("l2", "varchar(12)"),
    ("l3", "varchar(12)"),
    ("l4", "varchar(12)"),
    ("l5", "varchar(12)"),
    ("urban_rural", "varchar(3)"),
    ("virtual", "boolean"),
    ("population", "bigint"),
    ("population_65plus", "bigint"),
    ("key_areas", "varchar(40)"),
    ("lon", "double precision"),
    ("lat", "double precision"),
]
LEVEL_COLS = ["l1", "l2", "l3", "l4", "l5"]


@dataclass
class AreaImportSummary(ImportSummary):
    imported: int = 0
    by_level: dict[int, int] = field(default_factory=dict)


def _validate(frame: pl.DataFrame, file: str) -> tuple[pl.DataFrame, list[Problem]]:
    problems: list[Problem] = []
    problems += problems_where(
        frame,
        ~pl.col("code").fill_null("").str.contains(r"^\d{12}$"),
        file,
        "code",
        _("code must be 12 digits"),
    )
    problems += problems_where(frame, pl.col("name").is_null(), file, "name", _("name is empty"))
    level = pl.col("level").cast(pl.Int16, strict=False)
    problems += problems_where(
        frame,
        level.is_null() | ~level.is_between(1, 5),
        file,
        "level",
        _("level must be 1 (province) to 5 (village)"),
    )
    problems += problems_where(
        frame,
        pl.col("parent_code").is_not_null() & ~pl.col("parent_code").str.contains(r"^\d{12}$"),
        file,
        "parent_code",
        _("parent code must be 12 digits"),
    )
    problems += problems_where(
        frame,
        (level > 1) & pl.col("parent_code").is_null(),
        file,
        "parent_code",
        _("only provinces (level 1) may have no parent"),
    )
    dup = pl.col("code").is_duplicated() & (pl.col(ROW) != pl.col(ROW).min().over("code"))
    problems += problems_where(
        frame,
        dup & pl.col("code").is_not_null(),
        file,
        "code",
        pl.format(
            _("duplicate code {} (first seen in row {})"),
            pl.col("code"),
            pl.col(ROW).min().over("code"),
        ),
    )
    for num in ("population", "population_65plus"):
        if num in frame.columns:
            val = pl.col(num).cast(pl.Int64, strict=False)
            problems += problems_where(
                frame,
                pl.col(num).is_not_null() & (val.is_null() | (val < 0)),
                file,
                num,
                _("must be a non-negative whole number"),
            )
    for num in ("lon", "lat"):
        if num in frame.columns:
            problems += problems_where(
                frame,
                pl.col(num).is_not_null() & pl.col(num).cast(pl.Float64, strict=False).is_null(),
                file,
                num,
                _("must be a number"),
            )
    if "key_areas" in frame.columns:
        allowed = "|".join(KEY_AREA_TAGS)
        problems += problems_where(
            frame,
            pl.col("key_areas").is_not_null()
            & ~pl.col("key_areas").str.contains(rf"^(({allowed})(,({allowed}))*)?$"),
            file,
            "key_areas",
            _("key-area tags must be a comma-separated list of: %(tags)s")
            % {"tags": ", ".join(KEY_AREA_TAGS)},
        )
    return frame.with_columns(level.alias("level")), problems


def _existing(codes: list[str]) -> pl.DataFrame:
    """Stored areas with the given codes (code, level, path, l1..l5), fetched in chunks."""
    rows: list[tuple[object, ...]] = []
    for start in range(0, len(codes), 500):
        rows += Area.objects.filter(code__in=codes[start : start + 500]).values_list(
            "code", "level", "path", *LEVEL_COLS
        )
    return pl.DataFrame(
        rows,
        schema={
            "code": pl.String,
            "level": pl.Int16,
            "path": pl.String,
            **{c: pl.String for c in LEVEL_COLS},
        },
        orient="row",
    )


def _resolve_tree(frame: pl.DataFrame, file: str) -> tuple[pl.DataFrame, list[Problem]]:
    """Compute path and l1..l5 for every row, level by level, without walking rows."""
    parents_needed = (
        frame.filter(pl.col("parent_code").is_not_null())
        .select("parent_code")
        .unique()
        .join(frame.select(pl.col("code").alias("parent_code")), on="parent_code", how="anti")
    )
    known = _existing(parents_needed["parent_code"].to_list())
    problems: list[Problem] = []
    resolved = []
    pending = frame
    is_root = (pl.col("level") == 1) & pl.col("parent_code").is_null()
    roots = pending.filter(is_root).with_columns(
        ("/" + pl.col("code") + "/").alias("path"),
        pl.col("code").alias("l1"),
        *[pl.lit("").alias(c) for c in LEVEL_COLS[1:]],
    )
    resolved.append(roots)
    known = pl.concat([known, roots.select(known.columns)])
    pending = pending.filter(~is_root)
    for _step in range(5):
        if pending.is_empty():
            break
        joined = pending.join(
            known.rename({"code": "parent_code", "level": "parent_level", "path": "parent_path"}),
            on="parent_code",
            how="inner",
        )
        if joined.is_empty():
            break
        bad_level = joined.filter(pl.col("parent_level") >= pl.col("level"))
        problems += [
            Problem(
                file,
                int(r),
                "level",
                _("level %(l)d is not below its parent's level %(p)d") % {"l": lv, "p": pl_},
            )
            for r, lv, pl_ in bad_level.select(ROW, "level", "parent_level").iter_rows()
        ]
        good = (
            joined.filter(pl.col("parent_level") < pl.col("level"))
            .with_columns(
                (pl.col("parent_path") + pl.col("code") + "/").alias("path"),
                *[
                    pl.when(pl.col("level") == i + 1)
                    .then(pl.col("code"))
                    .when(pl.col("level") > i + 1)
                    .then(pl.col(c))
                    .otherwise(pl.lit(""))
                    .alias(c)
                    for i, c in enumerate(LEVEL_COLS)
                ],
            )
            .drop("parent_level", "parent_path")
        )
        resolved.append(good.select(roots.columns))
        known = pl.concat([known, good.select(known.columns)])
        pending = pending.join(joined.select("code"), on="code", how="anti")
    problems += [
        Problem(file, int(r), "parent_code", _("unknown parent %(p)s") % {"p": p})
        for r, p in pending.select(ROW, "parent_code").iter_rows()
    ]
    return pl.concat(resolved, how="vertical_relaxed"), problems


def _normalise(frame: pl.DataFrame) -> pl.DataFrame:
    def opt(name: str, dtype: type[pl.DataType], default: object = None) -> pl.Expr:
        if name in frame.columns:
            return pl.col(name).cast(dtype, strict=False).alias(name)
        return pl.lit(default, dtype=dtype).alias(name)

    virtual = (
        pl.col("virtual").is_in(["1", "true", "True", "是"]).fill_null(False).alias("virtual")
        if "virtual" in frame.columns
        else pl.lit(False).alias("virtual")
    )
    return frame.with_columns(
        opt("urban_rural", pl.String, ""),
        virtual,
        opt("population", pl.Int64),
        opt("population_65plus", pl.Int64),
        opt("key_areas", pl.String, ""),
        opt("lon", pl.Float64),
        opt("lat", pl.Float64),
    ).with_columns(pl.col("urban_rural").fill_null(""), pl.col("key_areas").fill_null(""))


def _select_subtree(frame: pl.DataFrame, root: str, file: str) -> pl.DataFrame:
    if root not in set(frame["code"].to_list()):
        raise ImportRejected(
            [Problem(file, None, "code", _("root %(r)s is not in the file") % {"r": root})]
        )
    root_path = frame.filter(pl.col("code") == root)["path"][0]
    ancestors = set(root_path.strip("/").split("/"))
    return frame.filter(pl.col("path").str.starts_with(root_path) | pl.col("code").is_in(ancestors))


def import_areas(
    path: str | Path,
    *,
    root: str | None = None,
    progress: Callable[[str, int, int], None] | None = None,
) -> AreaImportSummary:
    """Import a division list (code, name, level, parent_code[, urban_rural, …]).

    All-or-nothing: every bad row is reported (file, row, column, reason) and nothing is
    written. Re-importing the same file changes nothing. With ``root`` only that unit, its
    ancestors and its subtree are loaded.
    """
    file = Path(path).name
    frame = read_table(path)
    frame = canonical_columns(frame, AREA_ALIASES, ["code", "name", "level", "parent_code"], file)
    frame, problems = _validate(frame, file)
    if problems:
        raise ImportRejected(problems)
    frame = _normalise(frame)
    tree, problems = _resolve_tree(frame, file)
    if problems:
        raise ImportRejected(problems)
    if root is not None:
        tree = _select_subtree(tree, root, file)
    summary = AreaImportSummary(file=file, rows=tree.height)
    summary.by_level = {
        int(lv): int(n) for lv, n in tree.group_by("level").len().sort("level").iter_rows()
    }
    staging = tree.rename({ROW: "row_no"}).select([c for c, _t in AREA_COLUMNS]).sort("level")
    with transaction.atomic():
        bulk.create_staging("stage_area", AREA_COLUMNS)
        if progress:
            progress("load", 0, staging.height)
        bulk.load_staging(
            "stage_area",
            staging,
            progress=(lambda n: progress("load", n, staging.height)) if progress else None,
        )
        _reject_moves(file)
        summary.imported, summary.updated, summary.unchanged = _upsert()
        bulk.drop_staging("stage_area")
    return summary


def _reject_moves(file: str) -> None:
    """Refuse to re-parent stored areas: their subtrees' paths would all change."""
    table = Area._meta.db_table
    moved = bulk.fetch_frame(
        f"SELECT s.row_no, s.code, t.parent_id FROM stage_area s JOIN {table} t ON t.code = s.code "
        f"WHERE COALESCE(t.parent_id, '') <> COALESCE(s.parent_code, '') ORDER BY s.row_no"
    )
    if moved.height:
        raise ImportRejected(
            [
                Problem(
                    file,
                    int(r),
                    "parent_code",
                    _(
                        "area %(c)s is already stored under parent %(o)s; moving areas between "
                        "parents is not done by import"
                    )
                    % {"c": c, "o": o},
                )
                for r, c, o in moved.iter_rows()
            ]
        )


_DATA_COLS = [
    "name",
    "urban_rural",
    "virtual",
    "population",
    "population_65plus",
    "key_areas",
    "lon",
    "lat",
]


def _upsert() -> tuple[int, int, int]:
    table = Area._meta.db_table
    changed = " OR ".join(
        f"NOT (t.{c} IS NOT DISTINCT FROM s.{c})" if bulk.is_postgres() else f"NOT (t.{c} IS s.{c})"
        for c in _DATA_COLS
    )
    total = bulk.scalar("SELECT COUNT(*) FROM stage_area")
    existing = bulk.scalar(f"SELECT COUNT(*) FROM stage_area s JOIN {table} t ON t.code = s.code")
    updated = bulk.scalar(
        f"SELECT COUNT(*) FROM stage_area s JOIN {table} t ON t.code = s.code WHERE {changed}"
    )
    cols = [c for c, _t in AREA_COLUMNS if c not in ("parent_code", "row_no")]
    insert_cols = ", ".join(["parent_id", *cols])
    select_cols = ", ".join(["s.parent_code", *(f"s.{c}" for c in cols)])
    update = ", ".join(f"{c} = excluded.{c}" for c in _DATA_COLS)
    bulk.execute(
        f"INSERT INTO {table} ({insert_cols}) SELECT {select_cols} FROM stage_area s "
        f"WHERE true ORDER BY s.level "
        f"ON CONFLICT (code) DO UPDATE SET {update}"
    )
    return total - existing, updated, existing - updated


def delete_subtree(root: str) -> int:
    """Delete ``root``, everything under it and every row that points at those areas.

    Used to rebuild a synthetic region from scratch. Rows of other models that reference the
    areas are deleted (or their reference cleared where it is nullable with SET_NULL), found
    from the model graph, so no app has to be listed here. Returns the number of areas deleted.
    """
    area = Area.objects.filter(code=root).first()
    if area is None:
        return 0
    with transaction.atomic():
        relations = [
            f
            for f in Area._meta.get_fields(include_hidden=True)
            if isinstance(f, ForeignObjectRel) and (f.one_to_many or f.one_to_one)
        ]
        for rel in relations:
            model = rel.related_model
            if model is Area or not isinstance(model, type):
                continue
            qs = model._default_manager.filter(**{f"{rel.field.name}__path__startswith": area.path})
            if rel.on_delete is models.SET_NULL:
                qs.update(**{rel.field.name: None})
            else:
                qs.delete()
        table = Area._meta.db_table
        # Children first: the parent FK is enforced.
        n = 0
        for level in (5, 4, 3, 2, 1):
            n += bulk.execute(
                f"DELETE FROM {table} WHERE level = %s AND path LIKE %s", [level, area.path + "%"]
            )
    return n
