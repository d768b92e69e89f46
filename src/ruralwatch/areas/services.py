"""Writes to the area tree. The only place that computes materialized paths and level columns."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from django.db import models, transaction
from django.db.models import ForeignObjectRel
from django.utils.translation import gettext as _

from ruralwatch.areas import geometry
from ruralwatch.areas.geometry import GeometryError
from ruralwatch.areas.models import KEY_AREA_TAGS, SIGNIFICANT, Area, AreaShape
from ruralwatch.core import bulk
from ruralwatch.core.problems import ImportRejected, ImportSummary, Problem
from ruralwatch.core.tabular import (
    ROW,
    _decode,
    _read_bytes,
    canonical_columns,
    length_problems,
    max_length,
    only_columns,
    problems_where,
    read_table,
)

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

#: Parent levels a level may hang under. Townships may hang under a prefecture: Dongguan,
#: Zhongshan and Danzhou have no county level (the 2023 NBS tree does this for 77 townships).
PARENT_LEVELS: dict[int, tuple[int, ...]] = {2: (1,), 3: (2,), 4: (3, 2), 5: (4,)}
#: Most residents a unit of each level may report (China's largest: Guangdong 127 M,
#: Chongqing 32 M, Pudong 5.7 M, towns around 1 M); above it is a typing error.
MAX_POPULATION = {1: 200_000_000, 2: 50_000_000, 3: 10_000_000, 4: 2_000_000, 5: 500_000}


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
    ok_level = level.is_between(1, 5).fill_null(False)
    for num in ("population", "population_65plus"):
        if num in frame.columns:
            val = pl.col(num).cast(pl.Int64, strict=False)
            problems += problems_where(
                frame,
                pl.col(num).is_not_null() & (val.is_null() | (val < 0)),
                file,
                num,
                pl.format(_("must be a non-negative whole number, got {}"), pl.col(num)),
            )
            cap = level.replace_strict(MAX_POPULATION, default=None, return_dtype=pl.Int64)
            problems += problems_where(
                frame,
                ok_level & (val > cap),
                file,
                num,
                pl.format(
                    _("population {} is more than a level-{} unit can have (at most {})"),
                    val,
                    level,
                    cap,
                ),
            )
    if {"population", "population_65plus"} <= set(frame.columns):
        problems += problems_where(
            frame,
            pl.col("population_65plus").cast(pl.Int64, strict=False)
            > pl.col("population").cast(pl.Int64, strict=False),
            file,
            "population_65plus",
            pl.format(
                _("{} people aged 65+ is more than the population {}"),
                pl.col("population_65plus"),
                pl.col("population"),
            ),
        )
    for num, bound in (("lon", 180.0), ("lat", 90.0)):
        if num in frame.columns:
            val = pl.col(num).cast(pl.Float64, strict=False)
            problems += problems_where(
                frame,
                pl.col(num).is_not_null() & (val.is_null() | val.is_nan() | (val.abs() > bound)),
                file,
                num,
                pl.format(
                    _("must be a number from {} to {} (degrees), got {}"),
                    pl.lit(-bound),
                    pl.lit(bound),
                    pl.col(num),
                ),
            )
    code_ok = pl.col("code").fill_null("").str.contains(r"^\d{12}$")
    for lv, digits in SIGNIFICANT.items():
        own = pl.col("code").str.slice(
            SIGNIFICANT.get(lv - 1, 0), digits - SIGNIFICANT.get(lv - 1, 0)
        )
        tail_zero = pl.col("code").str.slice(digits).str.contains(r"^0*$")
        # Province, prefecture and county codes end in zeros; a township's last three digits
        # are not checked (the 2016 NBS list has one township, 653130103001, that breaks it).
        bad = ~own.str.contains(r"[1-9]") | (~tail_zero if lv <= 3 else pl.lit(False))
        problems += problems_where(
            frame,
            code_ok & (level == lv) & bad,
            file,
            "code",
            pl.format(
                _(
                    "code {} does not have the pattern of a level-{} unit ({} significant digits, "
                    "the last of them not all zero, then zeros)"
                ),
                pl.col("code"),
                pl.lit(lv),
                pl.lit(digits),
            ),
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
    problems += length_problems(
        frame,
        file,
        {c: max_length(Area, c) for c in ("name", "urban_rural", "key_areas")},
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
        allowed = pl.col("level").replace_strict(
            {lv: list(ps) for lv, ps in PARENT_LEVELS.items()},
            default=[],
            return_dtype=pl.List(pl.Int16),
        )
        joined = joined.with_columns(
            pl.col("parent_level").is_in(allowed).alias("level_ok"),
            (
                pl.col("code").str.slice(
                    0, pl.col("parent_level").replace_strict(SIGNIFICANT, return_dtype=pl.Int64)
                )
                == pl.col("parent_code").str.slice(
                    0, pl.col("parent_level").replace_strict(SIGNIFICANT, return_dtype=pl.Int64)
                )
            ).alias("prefix_ok"),
        )
        for r, lv, pl_ in (
            joined.filter(~pl.col("level_ok")).select(ROW, "level", "parent_level").iter_rows()
        ):
            problems.append(
                Problem(
                    file,
                    int(r),
                    "level",
                    _(
                        "a level-%(l)d unit cannot hang under a level-%(p)d parent (levels may "
                        "not be skipped; allowed parent levels: %(a)s)"
                    )
                    % {
                        "l": lv,
                        "p": pl_,
                        "a": ", ".join(str(x) for x in PARENT_LEVELS.get(lv, ())) or "-",
                    },
                )
            )
        for r, c, p in (
            joined.filter(pl.col("level_ok") & ~pl.col("prefix_ok"))
            .select(ROW, "code", "parent_code")
            .iter_rows()
        ):
            problems.append(
                Problem(
                    file,
                    int(r),
                    "parent_code",
                    _("code %(c)s does not start with the digits of its parent %(p)s")
                    % {"c": c, "p": p},
                )
            )
        good = (
            joined.filter(pl.col("level_ok") & pl.col("prefix_ok"))
            .drop("level_ok", "prefix_ok")
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
    # Rows refused above leave their children unresolved: report those only when nothing
    # else was wrong, so one bad parent does not bury the file in consequential errors.
    if problems:
        return pl.concat(resolved, how="vertical_relaxed"), problems
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
    frame = only_columns(frame, AREA_ALIASES)
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
        # Concurrent imports: the second checks and counts after the first committed.
        bulk.import_lock("areas", Area._meta.db_table)
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

    Used to rebuild a synthetic region from scratch (the demo, run again in the same
    checkout). Rows of other models that reference the areas are deleted (or their reference
    cleared where it is nullable with SET_NULL), found from the model graph, so no app has to
    be listed here; their own dependants follow the same way. Every statement is a ``DELETE``
    or ``UPDATE`` with a subquery on the materialized path: no list of keys passes through
    Python, so a region of any size stays below SQLite's limit on bound variables. Returns the
    number of areas deleted.
    """
    area = Area.objects.filter(code=root).first()
    if area is None:
        return 0
    table = Area._meta.db_table
    in_subtree = f"SELECT code FROM {table} WHERE path LIKE %s"
    params = [area.path + "%"]
    with transaction.atomic():
        for rel in _deletion_order(_relations(Area)):
            if rel.related_model is Area:
                continue
            column = rel.field.column
            if rel.on_delete is models.SET_NULL:
                _set_null(rel, f"{column} IN ({in_subtree})", params)
            else:
                _delete_where(rel.related_model, f"{column} IN ({in_subtree})", params, depth=1)
        # Children first: the parent FK is enforced.
        n = 0
        for level in (5, 4, 3, 2, 1):
            n += bulk.execute(
                f"DELETE FROM {table} WHERE level = %s AND path LIKE %s", [level, area.path + "%"]
            )
    return n


def _relations(model: type[models.Model]) -> list[ForeignObjectRel]:
    """Foreign keys of other models (many-to-many through tables included) to ``model``."""
    return [
        f
        for f in model._meta.get_fields(include_hidden=True)
        if isinstance(f, ForeignObjectRel)
        and (f.one_to_many or f.one_to_one)
        and isinstance(f.related_model, type)
    ]


def _reach(rel: ForeignObjectRel, depth: int = 0) -> tuple[set[Any], set[Any]]:
    """The models whose rows deleting along ``rel`` deletes, and those whose references it
    clears (``SET_NULL``), following the cascade as ``_delete_where`` does."""
    if rel.on_delete is models.SET_NULL:
        return set(), {rel.related_model}
    unconstrained = rel.on_delete is models.DO_NOTHING and not getattr(
        rel.field, "db_constraint", True
    )
    if unconstrained and depth > 0:  # kept, dangling (_delete_where skips it below the top)
        return set(), set()
    deleted, nulled = {rel.related_model}, set()
    if depth < 8 and rel.related_model is not rel.model:
        for sub in _relations(rel.related_model):
            d, n = _reach(sub, depth + 1)
            deleted |= d
            nulled |= n
    return deleted, nulled


def _deletion_order(rels: list[ForeignObjectRel]) -> list[ForeignObjectRel]:
    """``rels`` ordered so that a relation whose deletion removes rows that another relation
    would first set to NULL comes before it: a key-group person is deleted (with its contacts)
    before the subtree's responsible doctors, whose deletion would otherwise clear the doctor
    of every one of those persons, row by row, just before they go. Only the order changes;
    every statement is the same (foreign keys are checked at commit)."""
    reach = [_reach(r) for r in rels]
    out: list[ForeignObjectRel] = []
    left = list(range(len(rels)))
    while left:
        for i in left:  # the first relation no other remaining one must precede
            if not any(reach[j][0] & reach[i][1] for j in left if j != i):
                break
        else:  # a cycle: keep the model graph's order
            i = left[0]
        left.remove(i)
        out.append(rels[i])
    return out


def _set_null(rel: ForeignObjectRel, where: str, params: list[str]) -> None:
    table = rel.related_model._meta.db_table
    bulk.execute(f"UPDATE {table} SET {rel.field.column} = NULL WHERE {where}", params)


def _delete_where(model: Any, where: str, params: list[str], depth: int) -> None:
    """Delete the rows of ``model`` matching ``where`` after their dependants (set-based)."""
    if depth > 8:  # a cycle of CASCADE relations; none exists in the model graph today
        raise RuntimeError(f"delete_subtree: relation chain too deep at {model.__name__}")
    meta = model._meta
    table = meta.db_table
    keys = f"SELECT {meta.pk.column} FROM {table} WHERE {where}"
    for rel in _deletion_order(_relations(model)):
        column = rel.field.column
        if rel.on_delete is models.SET_NULL:
            _set_null(rel, f"{column} IN ({keys})", params)
        elif rel.on_delete is models.DO_NOTHING and not getattr(rel.field, "db_constraint", True):
            continue  # a fact table without a constraint keeps its (now dangling) key
        else:
            _delete_where(rel.related_model, f"{column} IN ({keys})", params, depth + 1)
    bulk.execute(f"DELETE FROM {table} WHERE {where}", params)


# --- Boundaries ---------------------------------------------------------------------------

SHAPE_COLUMNS = [
    "area_id",
    "derived",
    "source",
    "min_lon",
    "min_lat",
    "max_lon",
    "max_lat",
    "vertices",
    "geometry",
    "lod1",
    "lod2",
    "lod3",
    "lod4",
]
#: Feature properties that may carry the area code: a 12-digit statistical code, or a
#: 6-digit GB/T 2260 code (province, prefecture, county), completed with six zeros.
CODE_PROPERTIES = ("code", "adcode")


@dataclass
class BoundaryImportSummary(ImportSummary):
    imported: int = 0
    derived: int = 0
    by_level: dict[int, int] = field(default_factory=dict)


def _geometry_reason(code: str) -> str:
    return {
        "type": _("the geometry must be a Polygon or MultiPolygon"),
        "coordinates": _(
            "the coordinates are not lists of [longitude, latitude] number pairs in rings"
        ),
        "range": _("a coordinate is outside longitude -180..180 or latitude -90..90"),
        "ring": _("a ring has fewer than 3 distinct points"),
        "area": _("the polygon has no area"),
    }.get(code, _("the geometry cannot be read"))


def _feature_code(props: dict[str, Any]) -> tuple[str | None, str | None]:
    """(code, None) or (None, reason) from a feature's properties."""
    for key in CODE_PROPERTIES:
        value = props.get(key)
        if value is None or value == "":
            continue
        text = str(value).strip()
        if key == "adcode" and len(text) == 6 and text.isdigit():
            return text + "000000", None
        if len(text) == 12 and text.isdigit():
            return text, None
        return None, _("%(key)s %(value)s is not a 12-digit (or 6-digit adcode) area code") % {
            "key": key,
            "value": text,
        }
    return None, _("no area code: the feature needs a 'code' (12 digits) or 'adcode' property")


def _text(shape: geometry.Shape, tol: float) -> str:
    """The shape simplified at ``tol`` as compact GeoJSON, rounded to the tolerance's grid."""
    gj = geometry.to_geojson(geometry.simplify(shape, tol), geometry.decimals_for(tol))
    return json.dumps(gj, separators=(",", ":"))


def shape_row(code: str, shape: geometry.Shape, *, derived: bool, source: str) -> tuple[Any, ...]:
    """One row of :class:`AreaShape` (``SHAPE_COLUMNS`` order): the shape and its variants."""
    variants = geometry.simplify_many(shape, geometry.TOLERANCES)
    texts = [
        json.dumps(geometry.to_geojson(v, geometry.decimals_for(tol)), separators=(",", ":"))
        for v, tol in zip(variants, geometry.TOLERANCES, strict=True)
    ]
    x0, y0, x1, y1 = geometry.bbox(shape)
    return (code, derived, source[:200], x0, y0, x1, y1, geometry.vertices(shape), *texts)


def _read_features(path: Path, file: str) -> list[Any]:
    try:
        data = json.loads(_decode(_read_bytes(path, file), file))
    except RecursionError as exc:
        raise ImportRejected(
            [Problem(file, None, None, _("not valid JSON: %(e)s") % {"e": _("nested too deeply")})]
        ) from exc
    except ValueError as exc:  # JSONDecodeError, and a number of more than 4,300 digits
        raise ImportRejected(
            [Problem(file, None, None, _("not valid JSON: %(e)s") % {"e": str(exc)})]
        ) from exc
    if not isinstance(data, dict) or data.get("type") != "FeatureCollection":
        raise ImportRejected(
            [Problem(file, None, None, _("the file must be a GeoJSON FeatureCollection"))]
        )
    features = data.get("features")
    if not isinstance(features, list):
        raise ImportRejected([Problem(file, None, "features", _("'features' must be a list"))])
    return features


def import_boundaries(
    path: str | Path,
    *,
    derive: bool = True,
    progress: Callable[[str, int, int], None] | None = None,
) -> BoundaryImportSummary:
    """Import area boundaries from a GeoJSON FeatureCollection (plain or gzip).

    Features are matched to stored areas by the code in their properties (``code``, 12
    digits, or ``adcode``, 6). All-or-nothing: every problem is reported with the feature's
    number (``row``, counted from 1) and the property at fault (``column``: properties.code,
    geometry …), and nothing is written. Re-importing the same file changes nothing. Imported
    shapes replace derived ones; with ``derive`` the shapes of the areas below that have
    only points are then derived again (:func:`derive_shapes`).
    """
    file = Path(path).name
    features = _read_features(Path(path), file)
    summary = BoundaryImportSummary(file=file, rows=len(features))
    problems: list[Problem] = []
    first: dict[str, int] = {}
    parsed: dict[str, geometry.Shape] = {}
    for i, feature in enumerate(features, start=1):
        if progress:
            progress("check", 1, len(features))
        if not isinstance(feature, dict) or feature.get("type") != "Feature":
            problems.append(Problem(file, i, "type", _("not a GeoJSON Feature")))
            continue
        props = feature.get("properties")
        code, reason = _feature_code(props if isinstance(props, dict) else {})
        if code is None:
            problems.append(Problem(file, i, "properties.code", str(reason)))
        elif code in first:
            problems.append(
                Problem(
                    file,
                    i,
                    "properties.code",
                    _("duplicate code %(c)s (first in feature %(f)d)")
                    % {"c": code, "f": first[code]},
                )
            )
        else:
            first[code] = i
        try:
            shape = geometry.parse(feature.get("geometry"))
        except GeometryError as exc:
            problems.append(Problem(file, i, "geometry", _geometry_reason(str(exc))))
            continue
        if code is not None and first.get(code) == i:
            parsed[code] = shape
    codes = list(first)
    known: dict[str, int] = {}
    for start in range(0, len(codes), 500):
        known.update(
            Area.objects.filter(code__in=codes[start : start + 500]).values_list("code", "level")
        )
    problems += [
        Problem(
            file,
            first[c],
            "properties.code",
            _("unknown area %(c)s: import the division list first") % {"c": c},
        )
        for c in codes
        if c not in known
    ]
    if not features:
        problems.append(Problem(file, None, "features", _("the collection has no features")))
    if problems:
        raise ImportRejected(problems)
    table = AreaShape._meta.db_table
    full = {code: _text(shape, 0.0) for code, shape in parsed.items()}
    for lv in sorted(set(known.values())):
        summary.by_level[lv] = sum(1 for c in parsed if known[c] == lv)
    with transaction.atomic():
        bulk.import_lock("area_shapes", table)
        stored: dict[str, tuple[bool, str]] = {}
        for start in range(0, len(codes), 500):
            for code, derived, text in AreaShape.objects.filter(
                area_id__in=codes[start : start + 500]
            ).values_list("area_id", "derived", "geometry"):
                stored[code] = (derived, text)
        # Simplified variants only for what changed: a re-import compares and stops there.
        changed = []
        for code, shape in parsed.items():
            if stored.get(code) != (False, full[code]):
                changed.append(shape_row(code, shape, derived=False, source=file))
            if progress:
                progress("simplify", 1, len(parsed))
        summary.imported = sum(1 for r in changed if r[0] not in stored)
        summary.updated = len(changed) - summary.imported
        summary.unchanged = len(parsed) - len(changed)
        gone = [r[0] for r in changed if r[0] in stored]
        for start in range(0, len(gone), 500):
            AreaShape.objects.filter(area_id__in=gone[start : start + 500]).delete()
        bulk.insert_rows(table, SHAPE_COLUMNS, changed)
        if derive:
            summary.derived = derive_shapes(progress=progress)
    return summary


def derive_shapes(
    root: str | None = None, *, progress: Callable[[str, int, int], None] | None = None
) -> int:
    """Derive the shapes of areas known only by a point (townships, villages).

    Level by level from the top: the children of a parent that has a shape (imported or
    derived just before) get the Voronoi cells of their points, cut to the parent's shape, so
    they cover the parent without overlapping. A parent's children are derived only if every
    one of them has a point (otherwise the cells would claim the missing children's land).
    Imported shapes are never replaced. Every derived shape under ``root`` (default: the whole
    tree) is rebuilt, so running it twice leaves the same rows. Returns how many were derived.
    """
    table = AreaShape._meta.db_table
    scope = Area.objects.all()
    if root is not None:
        top = Area.objects.filter(code=root).first()
        if top is None:
            return 0
        scope = scope.filter(path__startswith=top.path)
    rows: list[tuple[Any, ...]] = []
    with transaction.atomic():
        bulk.import_lock("area_shapes", table)
        AreaShape.objects.filter(derived=True, area__in=scope.values("code")).delete()
        shapes: dict[str, geometry.Shape] = {}
        for level in (2, 3, 4, 5):
            children = list(
                scope.filter(level=level)
                .order_by("parent_id", "code")
                .values_list("code", "parent_id", "lon", "lat", "shape__vertices")
            )
            if not children:
                continue
            groups: dict[str, list[tuple[str, float | None, float | None]]] = {}
            imported: set[str] = set()
            for code, parent, lon, lat, has_shape in children:
                groups.setdefault(parent, []).append((code, lon, lat))
                if has_shape is not None:
                    imported.add(parent)
            # A parent whose children all have points and none an imported shape.
            complete = {
                p: g
                for p, g in groups.items()
                if p not in imported and all(x is not None and y is not None for _c, x, y in g)
            }
            missing = [p for p in complete if p not in shapes]
            for start in range(0, len(missing), 500):
                for code, text in AreaShape.objects.filter(
                    area_id__in=missing[start : start + 500]
                ).values_list("area_id", "geometry"):
                    shapes[code] = geometry.from_geojson(json.loads(text))
            ready = [p for p in complete if p in shapes]
            for parent in ready:
                group = complete[parent]
                pts = np.array([(x, y) for _c, x, y in group], dtype=float)
                outline = shapes[parent]
                cells = geometry.voronoi_cells(pts, geometry.bbox(outline))
                for (code, _x, _y), cell in zip(group, cells, strict=True):
                    part = geometry.clip_convex(outline, cell)
                    if not part:
                        continue  # the point lies outside its parent: no shape, not a wrong one
                    shapes[code] = part
                    rows.append(shape_row(code, part, derived=True, source="voronoi"))
                if progress:
                    progress(f"derive level {level}", 1, len(ready))
        bulk.insert_rows(table, SHAPE_COLUMNS, rows)
    return len(rows)
