"""Writes of the resources app: the facility registry with its capacity, and stock reports.

Both importers read CSV/CSV.gz/XLSX through :mod:`ruralwatch.core.tabular`, validate every
cell in polars and reject the whole file with every problem (file, row, column, reason); an
accepted file is staged and upserted in one transaction, and importing it again changes
nothing. :func:`record_stock` is the one-report write that a form or the API calls.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from ruralwatch.areas.models import Area
from ruralwatch.core import bulk
from ruralwatch.core.problems import ImportRejected, ImportSummary, Problem
from ruralwatch.core.tabular import (
    ROW,
    canonical_columns,
    date_span_problems,
    length_problems,
    max_length,
    only_columns,
    parse_date,
    problems_where,
    read_table,
)
from ruralwatch.resources.models import (
    Capacity,
    CountyPairing,
    Facility,
    FacilityKind,
    Item,
    StockReport,
    Transfer,
)

#: The earliest date a capacity or stock report may carry.
EARLIEST = dt.date(2000, 1, 1)

FACILITY_ALIASES: dict[str, tuple[str, ...]] = {
    "code": ("facility_code", "机构编码", "机构代码", "编码"),
    "name": ("机构名称", "名称"),
    "kind": ("type", "机构类型", "类型"),
    "area_code": ("area", "区划代码", "所在区划"),
    "population_served": ("服务人口",),
    "as_of": ("date", "截至日期", "日期"),
    "fever_clinic": ("发热门诊",),
    "fever_clinic_hours": ("发热门诊时长", "发热门诊每日小时"),
    "beds": ("床位", "床位数"),
    "icu_beds": ("icu", "ICU床位", "重症床位"),
    "oxygen": ("供氧", "氧气"),
    "doctors": ("医生", "医生数"),
    "nurses": ("护士", "护士数"),
    "ambulances": ("救护车", "救护车数"),
    "grade": ("等级", "医院等级"),
}
CAPACITY_COUNTS = ("beds", "icu_beds", "doctors", "nurses", "ambulances")
CAPACITY_COLUMNS = ("fever_clinic", "fever_clinic_hours", "oxygen", *CAPACITY_COUNTS)
#: Kinds by code and by their Chinese names.
KIND_NAMES: dict[str, str] = {
    **{k.value: k.value for k in FacilityKind},
    "乡镇卫生院": FacilityKind.TOWNSHIP_HEALTH_CENTRE,
    "村卫生室": FacilityKind.VILLAGE_CLINIC,
    "县医院": FacilityKind.COUNTY_HOSPITAL,
    "县级医院": FacilityKind.COUNTY_HOSPITAL,
    "养老院": FacilityKind.NURSING_HOME,
    "敬老院": FacilityKind.NURSING_HOME,
    "城市医院": FacilityKind.URBAN_HOSPITAL,
}
#: Hospital grades by number and by their Chinese names.
GRADES = {"1": 1, "2": 2, "3": 3, "一级": 1, "二级": 2, "三级": 3}
#: The level of the area each kind of facility is placed in.
KIND_LEVEL = {
    FacilityKind.TOWNSHIP_HEALTH_CENTRE: (4,),
    FacilityKind.VILLAGE_CLINIC: (5,),
    FacilityKind.COUNTY_HOSPITAL: (3,),
    FacilityKind.NURSING_HOME: (4, 5),
    FacilityKind.URBAN_HOSPITAL: (2, 3),
}
YES = ("1", "y", "yes", "true", "是", "有")
NO = ("0", "n", "no", "false", "否", "无")

STOCK_ALIASES: dict[str, tuple[str, ...]] = {
    "facility_code": ("facility", "机构编码", "机构代码"),
    "item": ("item_code", "物资", "物资编码", "品种"),
    "date": ("日期", "报告日期"),
    "on_hand": ("stock", "库存", "现有库存"),
    "received": ("入库", "收到"),
    "issued": ("出库", "发放"),
}
#: The largest count a cell may hold (a typo guard, and PostgreSQL's integer).
MAX_COUNT = 10_000_000


@dataclass
class FacilityImportSummary(ImportSummary):
    inserted: int = 0
    capacity_rows: int = 0


@dataclass
class StockImportSummary(ImportSummary):
    inserted: int = 0


def _count_problems(frame: pl.DataFrame, file: str, columns: tuple[str, ...]) -> list[Problem]:
    problems: list[Problem] = []
    for c in columns:
        if c not in frame.columns:
            continue
        n = pl.col(c).cast(pl.Int64, strict=False)
        problems += problems_where(
            frame,
            pl.col(c).is_not_null() & (n.is_null() | ~pl.col(c).str.contains(r"^\d+$")),
            file,
            c,
            pl.format(_("not a whole number of at least 0: {}"), pl.col(c)),
        )
        problems += problems_where(
            frame,
            n > MAX_COUNT,
            file,
            c,
            pl.format(_("{} is not a plausible count (at most {})"), pl.col(c), pl.lit(MAX_COUNT)),
        )
    return problems


def _yes_no(expr: pl.Expr) -> pl.Expr:
    low = expr.str.to_lowercase()
    return pl.when(low.is_in(YES)).then(True).when(low.is_in(NO)).then(False).otherwise(None)


def _area_levels(codes: list[str]) -> dict[str, int]:
    levels: dict[str, int] = {}
    for start in range(0, len(codes), 900):
        levels.update(
            Area.objects.filter(code__in=codes[start : start + 900]).values_list("code", "level")
        )
    return levels


def _duplicates(frame: pl.DataFrame, key: list[str], file: str, column: str) -> list[Problem]:
    first = pl.col(ROW).min().over(key)
    return problems_where(
        frame,
        pl.all_horizontal([pl.col(k).is_not_null() for k in key]) & (pl.col(ROW) != first),
        file,
        column,
        pl.format(_("duplicate of row {}"), first),
    )


def import_facilities(
    path: str | Path, *, today: dt.date | None = None, progress: Any = None
) -> FacilityImportSummary:
    """Import the facility registry, with capacity as of a date where the file gives one.

    Columns: ``code``, ``name``, ``kind`` (township_health_centre, village_clinic,
    county_hospital, nursing_home, or their Chinese names), ``area_code``; optional
    ``population_served``; capacity (optional, needs ``as_of``): ``fever_clinic`` (yes/no),
    ``fever_clinic_hours``, ``beds``, ``icu_beds``, ``oxygen`` (yes/no), ``doctors``,
    ``nurses``, ``ambulances``. A capacity row replaces the facility's row of the same
    ``as_of`` only; earlier dates stay (history).
    """
    today = today or timezone.localdate()
    file = Path(path).name
    frame = only_columns(
        canonical_columns(
            read_table(path), FACILITY_ALIASES, ["code", "name", "kind", "area_code"], file
        ),
        FACILITY_ALIASES,
    )
    problems: list[Problem] = []
    for c in ("code", "name", "kind", "area_code"):
        problems += problems_where(frame, pl.col(c).is_null(), file, c, _("empty cell"))
    frame = frame.with_columns(
        pl.col("kind")
        .replace_strict(KIND_NAMES, default=None, return_dtype=pl.String)
        .alias("kind_code")
    )
    problems += problems_where(
        frame,
        pl.col("kind").is_not_null() & pl.col("kind_code").is_null(),
        file,
        "kind",
        pl.format(
            _("unknown facility kind {} (one of: {})"),
            pl.col("kind"),
            pl.lit(", ".join(k.value for k in FacilityKind)),
        ),
    )
    problems += length_problems(
        frame, file, {"code": max_length(Facility, "code"), "name": max_length(Facility, "name")}
    )
    problems += _count_problems(frame, file, ("population_served", *CAPACITY_COUNTS))
    has_capacity = [c for c in CAPACITY_COLUMNS if c in frame.columns]
    if has_capacity and "as_of" not in frame.columns:
        problems.append(
            Problem(file, 1, "as_of", _("capacity columns need an as_of column (the date)"))
        )
    if "as_of" in frame.columns:
        frame = frame.with_columns(parse_date(pl.col("as_of")).alias("as_of_date"))
        problems += problems_where(
            frame,
            pl.col("as_of").is_not_null() & pl.col("as_of_date").is_null(),
            file,
            "as_of",
            pl.format(_("not a date: {} (use YYYY-MM-DD)"), pl.col("as_of")),
        )
        problems += problems_where(
            frame,
            pl.col("as_of").is_null()
            & pl.any_horizontal([pl.col(c).is_not_null() for c in has_capacity])
            if has_capacity
            else pl.lit(False),
            file,
            "as_of",
            _("capacity given without the date it holds for"),
        )
        problems += date_span_problems(frame, "as_of_date", file, "as_of", EARLIEST, today)
        problems += _duplicates(frame, ["code", "as_of_date"], file, "as_of")
    else:
        problems += _duplicates(frame, ["code"], file, "code")
    for c in ("fever_clinic", "oxygen"):
        if c in frame.columns:
            frame = frame.with_columns(_yes_no(pl.col(c)).alias(f"{c}_bool"))
            problems += problems_where(
                frame,
                pl.col(c).is_not_null() & pl.col(f"{c}_bool").is_null(),
                file,
                c,
                pl.format(_("not yes or no: {}"), pl.col(c)),
            )
    if "fever_clinic_hours" in frame.columns:
        hours = pl.col("fever_clinic_hours").cast(pl.Int64, strict=False)
        problems += problems_where(
            frame,
            pl.col("fever_clinic_hours").is_not_null()
            & (hours.is_null() | (hours < 0) | (hours > 24)),
            file,
            "fever_clinic_hours",
            pl.format(_("hours a day must be 0–24, got {}"), pl.col("fever_clinic_hours")),
        )
    codes = frame["area_code"].drop_nulls().unique().to_list()
    levels = _area_levels(codes)
    problems += problems_where(
        frame,
        pl.col("area_code").is_not_null() & ~pl.col("area_code").is_in(list(levels)),
        file,
        "area_code",
        pl.format(_("unknown area code {}"), pl.col("area_code")),
    )
    level = pl.col("area_code").replace_strict(levels, default=None, return_dtype=pl.Int64)
    for kind, allowed in KIND_LEVEL.items():
        problems += problems_where(
            frame,
            (pl.col("kind_code") == kind.value) & level.is_not_null() & ~level.is_in(list(allowed)),
            file,
            "area_code",
            pl.format(
                _("a {} belongs in an area of level {}; {} is of level {}"),
                pl.col("kind_code"),
                pl.lit(" or ".join(str(a) for a in allowed)),
                pl.col("area_code"),
                level,
            ),
        )
    problems += _grade_problems(frame, file)
    if problems:
        raise ImportRejected(problems)
    frame = frame.with_columns(
        (
            pl.col("grade").replace_strict(GRADES, default=None, return_dtype=pl.Int64)
            if "grade" in frame.columns
            else pl.lit(None, pl.Int64)
        ).alias("grade_number")
    )

    def col(name: str, dtype: Any) -> pl.Expr:
        return (
            pl.col(name).cast(dtype, strict=False) if name in frame.columns else pl.lit(None, dtype)
        ).alias(name)

    # A facility listed with several dates of capacity: its latest row names it.
    latest = frame.sort(
        ["code", "as_of_date" if "as_of_date" in frame.columns else ROW], nulls_last=False
    ).unique("code", keep="last", maintain_order=True)
    facilities = latest.select(
        "code",
        "name",
        pl.col("kind_code").alias("kind"),
        "area_code",
        col("population_served", pl.Int64),
        "grade_number",
    )
    summary = FacilityImportSummary(file=file, rows=frame.height)
    table = Facility._meta.db_table
    with transaction.atomic():
        bulk.import_lock("resources_facilities", table)
        bulk.create_staging(
            "stage_res_fac",
            [
                ("code", "varchar(40)"),
                ("name", "varchar(100)"),
                ("kind", "varchar(30)"),
                ("area_code", "varchar(12)"),
                ("population_served", "integer"),
                ("grade_number", "integer"),
            ],
        )
        bulk.load_staging("stage_res_fac", facilities)
        total, existing, changed = bulk.row(
            f"SELECT COUNT(*), COUNT(f.code), SUM(CASE WHEN f.name <> s.name OR f.kind <> s.kind "
            f"OR f.area_id <> s.area_code OR COALESCE(f.population_served, -1) <> "
            f"COALESCE(s.population_served, -1) OR COALESCE(f.grade, -1) <> "
            f"COALESCE(s.grade_number, -1) OR NOT f.active THEN 1 ELSE 0 END) "
            f"FROM stage_res_fac s LEFT JOIN {table} f ON f.code = s.code"
        )
        bulk.execute(
            f"INSERT INTO {table} (code, name, kind, area_id, population_served, grade, active) "
            f"SELECT code, name, kind, area_code, population_served, grade_number, true "
            f"FROM stage_res_fac WHERE true ON CONFLICT (code) DO UPDATE SET "
            f"name = excluded.name, kind = excluded.kind, area_id = excluded.area_id, "
            f"population_served = excluded.population_served, grade = excluded.grade, "
            f"active = true"
        )
        summary.inserted, summary.updated = total - existing, changed
        summary.unchanged = existing - changed
        if has_capacity:
            summary.capacity_rows = _upsert_capacity(frame, col)
        bulk.drop_staging("stage_res_fac")
    return summary


def _grade_problems(frame: pl.DataFrame, file: str) -> list[Problem]:
    """A grade is 1, 2 or 3 (or 一级, 二级, 三级); an urban hospital needs 2 or 3 (the
    pairing of counties is with hospitals of level 2 and above)."""
    urban = pl.col("kind_code") == FacilityKind.URBAN_HOSPITAL.value
    if "grade" not in frame.columns:
        return problems_where(
            frame,
            urban,
            file,
            "grade",
            _("an urban hospital needs its grade (2 or 3); the file has no grade column"),
        )
    grade = pl.col("grade").replace_strict(GRADES, default=None, return_dtype=pl.Int64)
    problems = problems_where(
        frame,
        pl.col("grade").is_not_null() & grade.is_null(),
        file,
        "grade",
        pl.format(_("not a hospital grade: {} (1, 2 or 3)"), pl.col("grade")),
    )
    problems += problems_where(
        frame,
        urban & (grade.is_null() | (grade < 2)) & (pl.col("grade").is_null() | grade.is_not_null()),
        file,
        "grade",
        pl.format(
            _("an urban hospital paired with counties is of grade 2 or 3, got {}"),
            pl.col("grade").fill_null("—"),
        ),
    )
    return problems


def _upsert_capacity(frame: pl.DataFrame, col: Any) -> int:
    cap = frame.filter(pl.col("as_of_date").is_not_null()).select(
        pl.col("code").alias("facility_code"),
        pl.col("as_of_date").cast(pl.String).alias("as_of"),
        (pl.col("fever_clinic_bool") if "fever_clinic_bool" in frame.columns else pl.lit(False))
        .fill_null(False)
        .alias("fever_clinic"),
        col("fever_clinic_hours", pl.Int64),
        col("beds", pl.Int64),
        col("icu_beds", pl.Int64),
        (pl.col("oxygen_bool") if "oxygen_bool" in frame.columns else pl.lit(False))
        .fill_null(False)
        .alias("oxygen"),
        col("doctors", pl.Int64),
        col("nurses", pl.Int64),
        col("ambulances", pl.Int64),
    )
    names = ["facility_code", "as_of", *CAPACITY_COLUMNS]
    # In the order of CAPACITY_COLUMNS: fever_clinic, its hours, oxygen, then the counts.
    types = ["varchar(40)", "date", "boolean", "integer", "boolean"] + ["integer"] * len(
        CAPACITY_COUNTS
    )
    bulk.create_staging("stage_res_cap", list(zip(names, types, strict=True)))
    bulk.load_staging("stage_res_cap", cap.select(names))
    table = Capacity._meta.db_table
    sets = ", ".join(f"{c} = excluded.{c}" for c in CAPACITY_COLUMNS)
    cols = ", ".join(CAPACITY_COLUMNS)
    bulk.execute(
        f"INSERT INTO {table} (facility_id, as_of, {cols}) "
        f"SELECT facility_code, as_of, {cols} FROM stage_res_cap WHERE true "
        f"ON CONFLICT (facility_id, as_of) DO UPDATE SET {sets}"
    )
    bulk.drop_staging("stage_res_cap")
    return cap.height


def import_stock(
    path: str | Path, *, today: dt.date | None = None, progress: Any = None
) -> StockImportSummary:
    """Import stock reports: ``facility_code``, ``item``, ``date``, ``on_hand`` and optional
    ``received`` and ``issued`` (since the facility's previous report of the item)."""
    today = today or timezone.localdate()
    file = Path(path).name
    frame = only_columns(
        canonical_columns(
            read_table(path), STOCK_ALIASES, ["facility_code", "item", "date", "on_hand"], file
        ),
        STOCK_ALIASES,
    )
    problems: list[Problem] = []
    for c in ("facility_code", "item", "date", "on_hand"):
        problems += problems_where(frame, pl.col(c).is_null(), file, c, _("empty cell"))
    items = {i.code: i.code for i in Item.objects.all()}
    items.update({i.name_zh: i.code for i in Item.objects.all()})
    frame = frame.with_columns(
        pl.col("item")
        .replace_strict(items, default=None, return_dtype=pl.String)
        .alias("item_code"),
        parse_date(pl.col("date")).alias("date_parsed"),
    )
    problems += problems_where(
        frame,
        pl.col("item").is_not_null() & pl.col("item_code").is_null(),
        file,
        "item",
        pl.format(
            _("unknown item {} (one of: {})"),
            pl.col("item"),
            pl.lit(", ".join(sorted(set(items.values())))),
        ),
    )
    problems += problems_where(
        frame,
        pl.col("date").is_not_null() & pl.col("date_parsed").is_null(),
        file,
        "date",
        pl.format(_("not a date: {} (use YYYY-MM-DD)"), pl.col("date")),
    )
    problems += date_span_problems(frame, "date_parsed", file, "date", EARLIEST, today)
    problems += _count_problems(frame, file, ("on_hand", "received", "issued"))
    problems += _duplicates(frame, ["facility_code", "item_code", "date_parsed"], file, "date")
    codes = frame["facility_code"].drop_nulls().unique().to_list()
    known: set[str] = set()
    for start in range(0, len(codes), 900):
        known.update(
            Facility.objects.filter(code__in=codes[start : start + 900]).values_list(
                "code", flat=True
            )
        )
    problems += problems_where(
        frame,
        pl.col("facility_code").is_not_null() & ~pl.col("facility_code").is_in(sorted(known)),
        file,
        "facility_code",
        pl.format(
            _("unknown facility {} (import the facility registry first)"), pl.col("facility_code")
        ),
    )
    if problems:
        raise ImportRejected(problems)
    stage = frame.select(
        "facility_code",
        pl.col("item_code").alias("item"),
        pl.col("date_parsed").cast(pl.String).alias("date"),
        pl.col("on_hand").cast(pl.Int64),
        (pl.col("received") if "received" in frame.columns else pl.lit(None, pl.String))
        .cast(pl.Int64)
        .fill_null(0)
        .alias("received"),
        (pl.col("issued") if "issued" in frame.columns else pl.lit(None, pl.String))
        .cast(pl.Int64)
        .fill_null(0)
        .alias("issued"),
    )
    summary = StockImportSummary(file=file, rows=frame.height)
    summary.inserted, summary.updated, summary.unchanged = _upsert_stock(stage)
    return summary


def _staged_upsert(
    table: str,
    key: list[tuple[str, str, str]],
    values: list[tuple[str, str, str]],
    stage: pl.DataFrame,
) -> tuple[int, int, int]:
    """Store validated rows in one transaction through a staging table: ``key`` and
    ``values`` are (table column, staging column, SQL type), ``stage`` has the staging
    columns in that order (dates as text). A row whose key is stored replaces its values
    (only where one differs, nulls compared as values). Returns (inserted, updated,
    unchanged)."""
    name = f"stage_{table}"
    columns = key + values
    with transaction.atomic():
        bulk.import_lock(table, table)
        bulk.create_staging(name, [(s_col, sql_type) for _t, s_col, sql_type in columns])
        bulk.load_staging(name, stage)
        on = " AND ".join(f"t.{t_col} = s.{s_col}" for t_col, s_col, _ in key)
        differs = " OR ".join(
            f"t.{t_col} <> s.{s_col} OR (t.{t_col} IS NULL) <> (s.{s_col} IS NULL)"
            for t_col, s_col, _ in values
        )
        total, existing, changed = bulk.row(
            f"SELECT COUNT(*), COUNT(t.id), SUM(CASE WHEN t.id IS NOT NULL AND ({differs}) "
            f"THEN 1 ELSE 0 END) FROM {name} s LEFT JOIN {table} t ON {on}"
        )
        stored = ", ".join(t_col for t_col, _s, _q in columns)
        staged = ", ".join(s_col for _t, s_col, _q in columns)
        sets = ", ".join(f"{t_col} = excluded.{t_col}" for t_col, _s, _q in values)
        update_when = " OR ".join(
            f"{table}.{t_col} <> excluded.{t_col} OR "
            f"({table}.{t_col} IS NULL) <> (excluded.{t_col} IS NULL)"
            for t_col, _s, _q in values
        )
        bulk.execute(
            f"INSERT INTO {table} ({stored}) SELECT {staged} FROM {name} WHERE true "
            f"ON CONFLICT ({', '.join(t for t, _s, _q in key)}) DO UPDATE SET {sets} "
            f"WHERE {update_when}"
        )
        bulk.drop_staging(name)
        bulk.analyze_if_grown(table, total - existing)
    changed = changed or 0
    return total - existing, changed, existing - changed


def _upsert_stock(stage: pl.DataFrame) -> tuple[int, int, int]:
    """Store validated stock rows (``facility_code``, ``item``, ``date`` as text, ``on_hand``,
    ``received``, ``issued``); a row of the same facility, item and date is replaced."""
    return _staged_upsert(
        StockReport._meta.db_table,
        [
            ("facility_id", "facility_code", "varchar(40)"),
            ("item_id", "item", "varchar(30)"),
            ("date", "date", "date"),
        ],
        [
            ("on_hand", "on_hand", "integer"),
            ("received", "received", "integer"),
            ("issued", "issued", "integer"),
        ],
        stage,
    )


def _report_problems(
    where: str, row: int | None, date: dt.date, counts: dict[str, int], today: dt.date
) -> list[Problem]:
    """What is wrong with one stock report's date and counts (a form's or the API's)."""
    problems = [
        Problem(where, row, name, _("must be a whole number from 0 to %(m)d") % {"m": MAX_COUNT})
        for name, value in counts.items()
        if not 0 <= value <= MAX_COUNT
    ]
    if not EARLIEST <= date <= today:
        problems.append(
            Problem(
                where,
                row,
                "date",
                _("date %(d)s is outside the accepted span %(a)s … %(b)s")
                % {"d": date.isoformat(), "a": EARLIEST.isoformat(), "b": today.isoformat()},
            )
        )
    return problems


def record_stock(
    facility: Facility,
    item: Item,
    date: dt.date,
    on_hand: int,
    received: int = 0,
    issued: int = 0,
    *,
    today: dt.date | None = None,
) -> StockReport:
    """One stock report (a form or the API): validated like a row of a file, then stored;
    a report of the same facility, item and date is replaced."""
    today = today or timezone.localdate()
    counts = {"on_hand": on_hand, "received": received, "issued": issued}
    problems = _report_problems("stock", None, date, counts, today)
    if problems:
        raise ImportRejected(problems)
    report, _created = StockReport.objects.update_or_create(
        facility=facility,
        item=item,
        date=date,
        defaults={"on_hand": on_hand, "received": received, "issued": issued},
    )
    return report


@dataclass
class StockBatchSummary:
    received: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0


def record_stock_batch(
    reports: list[dict[str, Any]], *, within: str, today: dt.date | None = None
) -> StockBatchSummary:
    """Stock reports sent by a system (the API): each a dict of ``facility``, ``item``,
    ``date``, ``on_hand``, ``received``, ``issued``. All or nothing: every problem is raised
    at once as a :class:`Problem` whose row is the report's position (from 0) and whose
    column is the field. A facility whose area is not under ``within`` (the sender's
    jurisdiction path) is refused exactly like one that does not exist."""
    today = today or timezone.localdate()
    where = "reports"
    codes = sorted({str(r["facility"]) for r in reports})
    known: set[str] = set()
    for start in range(0, len(codes), 900):
        known.update(
            Facility.objects.filter(
                code__in=codes[start : start + 900], area__path__startswith=within
            ).values_list("code", flat=True)
        )
    items = set(Item.objects.values_list("code", flat=True))
    problems: list[Problem] = []
    seen: dict[tuple[str, str, dt.date], int] = {}
    for i, r in enumerate(reports):
        if r["facility"] not in known:
            problems.append(
                Problem(
                    where,
                    i,
                    "facility",
                    _("no facility %(code)s in your jurisdiction") % {"code": r["facility"]},
                )
            )
        if r["item"] not in items:
            problems.append(
                Problem(
                    where,
                    i,
                    "item",
                    _("unknown item %(item)s (one of: %(items)s)")
                    % {"item": r["item"], "items": ", ".join(sorted(items))},
                )
            )
        key = (r["facility"], r["item"], r["date"])
        if key in seen:
            problems.append(
                Problem(where, i, "date", _("duplicate of report %(n)d") % {"n": seen[key]})
            )
        seen.setdefault(key, i)
        counts = {n: int(r[n]) for n in ("on_hand", "received", "issued")}
        problems += _report_problems(where, i, r["date"], counts, today)
    if problems:
        raise ImportRejected(problems)
    stage = pl.DataFrame(
        {
            "facility_code": [r["facility"] for r in reports],
            "item": [r["item"] for r in reports],
            "date": [r["date"].isoformat() for r in reports],
            "on_hand": [int(r["on_hand"]) for r in reports],
            "received": [int(r["received"]) for r in reports],
            "issued": [int(r["issued"]) for r in reports],
        },
        schema={
            "facility_code": pl.String,
            "item": pl.String,
            "date": pl.String,
            "on_hand": pl.Int64,
            "received": pl.Int64,
            "issued": pl.Int64,
        },
    )
    out = StockBatchSummary(received=len(reports))
    out.inserted, out.updated, out.unchanged = _upsert_stock(stage)
    return out


def load_synthetic(resources: Any, directory: Path, *, today: dt.date) -> dict[str, int]:
    """Write a synthetic registry and its stock (:mod:`ruralwatch.synth.resources`) as the CSV
    files a county would send, and import them through the importers above."""
    directory.mkdir(parents=True, exist_ok=True)
    fac_path = directory / "facilities.csv"
    resources.registry_frame().write_csv(fac_path)
    stock_path = directory / "stock.csv"
    resources.stock.with_columns(pl.col("date").cast(pl.String)).write_csv(stock_path)
    f = import_facilities(fac_path, today=today)
    s = import_stock(stock_path, today=today)
    return {"facilities": f.rows, "capacity_rows": f.capacity_rows, "stock_rows": s.rows}


#: The demo's shipment: this share of the county's need of each item, so that the allocation
#: has to choose (docs/resources.md).
DEMO_SHIPMENT_SHARE = 0.6
DEMO_SHIPMENT_ITEMS = ("antipyretic", "antigen_kit", "pulse_oximeter", "oxygen_concentrator")


def load_demo_resources(
    region: Any, seed: int, on: dt.date, directory: Path
) -> list[dict[str, Any]]:
    """The demo's synthetic facilities, capacity and stock, imported from the CSV files the
    county would send; returns the truth entries (gaps and stock-outs) for ``truth.json``."""
    from ruralwatch.synth.resources import build_referrals, build_resources

    res = build_resources(region, seed, on=on)
    load_synthetic(res, directory, today=on)
    referrals = build_referrals(region, res, seed)
    load_synthetic_referrals(referrals, directory, today=on)
    return res.truth + referrals.truth


def load_synthetic_referrals(referrals: Any, directory: Path, *, today: dt.date) -> dict[str, int]:
    """Write the synthetic urban hospitals, pairings and transfers
    (:func:`ruralwatch.synth.resources.build_referrals`) as the files a prefecture and its
    counties would send, and import them through the importers (facilities first: a pairing
    names a registered hospital, a transfer a registered route)."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = {
        "urban_hospitals": directory / "urban_hospitals.csv",
        "pairings": directory / "pairings.csv",
        "transfers": directory / "transfers.csv",
    }
    referrals.hospitals.write_csv(paths["urban_hospitals"])
    referrals.pairings_frame().write_csv(paths["pairings"])
    referrals.transfers_frame().write_csv(paths["transfers"])
    h = import_facilities(paths["urban_hospitals"], today=today)
    p = import_pairings(paths["pairings"], today=today)
    t = import_transfers(paths["transfers"], today=today)
    return {"urban_hospitals": h.rows, "pairings": p.rows, "transfers": t.rows}


def demo_resources_summary(county: Area, on: dt.date) -> dict[str, Any]:
    """``summary.json``'s ``resources``, ``allocation`` and ``referrals`` blocks: the gap
    summary; a shipment of :data:`DEMO_SHIPMENT_SHARE` of the county's need allocated to its
    centres and clinics; the referral network's pairings, flows and route gaps (figures only,
    so that a re-run gives the same blocks)."""
    from ruralwatch.resources import selectors

    summary = selectors.resources_summary(county.path, on)
    need = selectors.allocation_inputs(county.path, on, list(DEMO_SHIPMENT_ITEMS))
    totals = need.group_by("item").agg(pl.col("need").sum())
    supply = {
        item: int(n * DEMO_SHIPMENT_SHARE)
        for item, n in totals.iter_rows()
        if int(n * DEMO_SHIPMENT_SHARE) > 0
    }
    allocation: dict[str, Any] | None = None
    if supply:
        result = selectors.allocate(county, on, supply, mode="weighted")
        t = result.totals
        allocation = {
            "area": county.code,
            "date": on.isoformat(),
            "mode": result.mode,
            "supply": result.supply,
            "allocated": t["units"],
            "need": t["need"],
            "fill_rate": {k: round(v, 4) for k, v in t["fill_rate"].items()},
            "minimum_covered": t["minimum_covered"],
            "minimum_total": t["minimum_total"],
            "objective": round(t["objective"], 3),
            "objective_max": round(t["objective_max"], 3),
            "recipients": t["recipients"],
            "stopped_by": t["binding"],
        }
    network = selectors.referral_network(county.path, on)
    referrals = {
        "date": network["date"],
        "days": network["days"],
        "pairings": [
            {"county": p["county"], "hospital": p["hospital"], "reserved_beds": p["reserved_beds"]}
            for p in network["pairings"]
        ],
        "unpaired": len(network["unpaired"]),
        **network["totals"],
        "gaps": sorted(
            f"{g['kind']}:{g['source']}>{g['target']}"
            for g in network["gaps"]
            if g["kind"] != selectors.UNPAIRED
        ),
    }
    return {"resources": summary, "allocation": allocation, "referrals": referrals}


# --- the referral network: county pairings and transfers (docs/resources.md) -----------------

PAIRING_ALIASES: dict[str, tuple[str, ...]] = {
    "county_code": ("county", "区县代码", "县代码", "县"),
    "hospital_code": ("hospital", "医院编码", "对口医院"),
    "since": ("起始日期", "开始日期"),
    "until": ("截止日期", "结束日期"),
    "reserved_beds": ("预留床位",),
    "green_channel": ("绿色通道",),
}
TRANSFER_ALIASES: dict[str, tuple[str, ...]] = {
    "date": ("日期", "转诊日期"),
    "from_facility": ("from", "转出机构", "转出机构编码"),
    "to_facility": ("to", "转入机构", "转入机构编码"),
    "patients": ("转诊人数", "人数"),
    "severe": ("重症", "其中重症"),
    "green_channel": ("绿色通道", "其中绿色通道"),
}
#: The steps of the referral chain, bottom up (a nursing home refers like a village clinic).
CHAIN_RANK = {
    FacilityKind.VILLAGE_CLINIC.value: 1,
    FacilityKind.NURSING_HOME.value: 1,
    FacilityKind.TOWNSHIP_HEALTH_CENTRE.value: 2,
    FacilityKind.COUNTY_HOSPITAL.value: 3,
    FacilityKind.URBAN_HOSPITAL.value: 4,
}


@dataclass
class PairingImportSummary(ImportSummary):
    inserted: int = 0


@dataclass
class TransferImportSummary(ImportSummary):
    inserted: int = 0


def _facility_frame(codes: list[str]) -> pl.DataFrame:
    """Facilities by code with their kind, grade and the county and township of their area."""
    rows: list[tuple[Any, ...]] = []
    for start in range(0, len(codes), 900):
        rows += Facility.objects.filter(code__in=codes[start : start + 900]).values_list(
            "code", "kind", "grade", "area_id", "area__l3", "area__l4"
        )
    return pl.DataFrame(
        rows,
        schema={
            "code": pl.String,
            "kind": pl.String,
            "grade": pl.Int64,
            "area": pl.String,
            "county": pl.String,
            "township": pl.String,
        },
        orient="row",
    )


def import_pairings(
    path: str | Path, *, today: dt.date | None = None, progress: Any = None
) -> PairingImportSummary:
    """Import county pairings with urban hospitals: ``county_code``, ``hospital_code`` (an
    urban hospital of grade 2 or 3 in the registry), ``since``; optional ``until``,
    ``reserved_beds`` and ``green_channel`` (yes/no, default yes). A row replaces the pairing
    of the same county, hospital and ``since``."""
    today = today or timezone.localdate()
    file = Path(path).name
    frame = only_columns(
        canonical_columns(
            read_table(path), PAIRING_ALIASES, ["county_code", "hospital_code", "since"], file
        ),
        PAIRING_ALIASES,
    )
    problems: list[Problem] = []
    for c in ("county_code", "hospital_code", "since"):
        problems += problems_where(frame, pl.col(c).is_null(), file, c, _("empty cell"))
    frame = frame.with_columns(
        parse_date(pl.col("since")).alias("since_date"),
        (parse_date(pl.col("until")) if "until" in frame.columns else pl.lit(None, pl.Date)).alias(
            "until_date"
        ),
    )
    for c in ("since", "until"):
        if c not in frame.columns:
            continue
        problems += problems_where(
            frame,
            pl.col(c).is_not_null() & pl.col(f"{c}_date").is_null(),
            file,
            c,
            pl.format(_("not a date: {} (use YYYY-MM-DD)"), pl.col(c)),
        )
    problems += date_span_problems(frame, "since_date", file, "since", EARLIEST, today)
    problems += problems_where(
        frame,
        pl.col("until_date") < pl.col("since_date"),
        file,
        "until",
        pl.format(
            _("{} is before the pairing's start {}"),
            pl.col("until_date").cast(pl.String),
            pl.col("since"),
        ),
    )
    problems += _count_problems(frame, file, ("reserved_beds",))
    if "green_channel" in frame.columns:
        frame = frame.with_columns(_yes_no(pl.col("green_channel")).alias("green_bool"))
        problems += problems_where(
            frame,
            pl.col("green_channel").is_not_null() & pl.col("green_bool").is_null(),
            file,
            "green_channel",
            pl.format(_("not yes or no: {}"), pl.col("green_channel")),
        )
    else:
        frame = frame.with_columns(pl.lit(None, pl.Boolean).alias("green_bool"))
    levels = _area_levels(frame["county_code"].drop_nulls().unique().to_list())
    problems += problems_where(
        frame,
        pl.col("county_code").is_not_null() & ~pl.col("county_code").is_in(list(levels)),
        file,
        "county_code",
        pl.format(_("unknown area code {}"), pl.col("county_code")),
    )
    level = pl.col("county_code").replace_strict(levels, default=None, return_dtype=pl.Int64)
    problems += problems_where(
        frame,
        level.is_not_null() & (level != 3),
        file,
        "county_code",
        pl.format(_("{} is not a county (level {})"), pl.col("county_code"), level),
    )
    hospitals = _facility_frame(frame["hospital_code"].drop_nulls().unique().to_list())
    frame = frame.join(
        hospitals.select(
            pl.col("code").alias("hospital_code"),
            pl.col("kind").alias("h_kind"),
            pl.col("grade").alias("h_grade"),
        ),
        on="hospital_code",
        how="left",
    ).sort(ROW)
    problems += problems_where(
        frame,
        pl.col("hospital_code").is_not_null() & pl.col("h_kind").is_null(),
        file,
        "hospital_code",
        pl.format(
            _("unknown facility {} (import the facility registry first)"),
            pl.col("hospital_code"),
        ),
    )
    problems += problems_where(
        frame,
        pl.col("h_kind").is_not_null()
        & (
            (pl.col("h_kind") != FacilityKind.URBAN_HOSPITAL) | (pl.col("h_grade").fill_null(0) < 2)
        ),
        file,
        "hospital_code",
        pl.format(
            _("{} is not an urban hospital of grade 2 or 3 (kind {}, grade {})"),
            pl.col("hospital_code"),
            pl.col("h_kind"),
            pl.col("h_grade").cast(pl.String).fill_null("—"),
        ),
    )
    problems += _duplicates(frame, ["county_code", "hospital_code", "since_date"], file, "since")
    if problems:
        raise ImportRejected(problems)
    stage = frame.select(
        "county_code",
        "hospital_code",
        pl.col("since_date").cast(pl.String).alias("since"),
        pl.col("until_date").cast(pl.String).alias("until"),
        (
            pl.col("reserved_beds").cast(pl.Int64)
            if "reserved_beds" in frame.columns
            else pl.lit(None, pl.Int64)
        ).alias("reserved_beds"),
        pl.col("green_bool").fill_null(True).alias("green_channel"),
    )
    summary = PairingImportSummary(file=file, rows=frame.height)
    summary.inserted, summary.updated, summary.unchanged = _staged_upsert(
        CountyPairing._meta.db_table,
        [
            ("county_id", "county_code", "varchar(12)"),
            ("hospital_id", "hospital_code", "varchar(40)"),
            ("since", "since", "date"),
        ],
        [
            ("until", "until", "date"),
            ("reserved_beds", "reserved_beds", "integer"),
            ("green_channel", "green_channel", "boolean"),
        ],
        stage,
    )
    return summary


def _pairings_frame(counties: list[str]) -> pl.DataFrame:
    rows: list[tuple[Any, ...]] = []
    for start in range(0, len(counties), 900):
        rows += CountyPairing.objects.filter(
            county_id__in=counties[start : start + 900]
        ).values_list("county_id", "hospital_id", "since", "until", "green_channel")
    return pl.DataFrame(
        rows,
        schema={
            "county": pl.String,
            "hospital": pl.String,
            "since": pl.Date,
            "until": pl.Date,
            "green": pl.Boolean,
        },
        orient="row",
    )


def route_problems(frame: pl.DataFrame, file: str) -> list[Problem]:
    """Rows of transfers (``from_facility``, ``to_facility``, ``date_parsed``, ``patients_n``,
    ``green_n``, with the facilities known) whose step is not a route of the network: the
    receiving end must be above the sender in the chain village clinic (or nursing home) →
    township health centre → county hospital → paired urban hospital; the health centre of
    the sender's township, the county hospital of its county, a hospital paired with its
    county on the date; a step that skips a level carries green-channel patients only, and
    to a paired hospital only where the pairing has a green channel."""
    codes = pl.concat([frame["from_facility"], frame["to_facility"]]).drop_nulls().unique()
    fac = _facility_frame(codes.to_list())
    src = fac.rename({c: f"s_{c}" for c in fac.columns})
    dst = fac.rename({c: f"t_{c}" for c in fac.columns})
    rows = (
        frame.select(ROW, "from_facility", "to_facility", "date_parsed", "patients_n", "green_n")
        .join(src, left_on="from_facility", right_on="s_code", how="inner")
        .join(dst, left_on="to_facility", right_on="t_code", how="inner")
    )
    pairs = _pairings_frame(rows["s_county"].drop_nulls().unique().to_list())
    paired = (
        rows.select(ROW, "s_county", "to_facility", "date_parsed")
        .join(
            pairs,
            left_on=["s_county", "to_facility"],
            right_on=["county", "hospital"],
            how="inner",
        )
        .filter(
            (pl.col("since") <= pl.col("date_parsed"))
            & (pl.col("until").is_null() | (pl.col("until") >= pl.col("date_parsed")))
        )
        .group_by(ROW)
        .agg(pl.col("green").any().alias("pair_green"))
    )
    rows = rows.join(paired, on=ROW, how="left").with_columns(
        pl.col("s_kind")
        .replace_strict(CHAIN_RANK, default=None, return_dtype=pl.Int64)
        .alias("s_rank"),
        pl.col("t_kind")
        .replace_strict(CHAIN_RANK, default=None, return_dtype=pl.Int64)
        .alias("t_rank"),
    )
    t_kind = pl.col("t_kind")
    serves = (
        pl.when(t_kind == FacilityKind.TOWNSHIP_HEALTH_CENTRE)
        .then(pl.col("t_area") == pl.col("s_township"))
        .when(t_kind == FacilityKind.COUNTY_HOSPITAL)
        .then(pl.col("t_area") == pl.col("s_county"))
        .when(t_kind == FacilityKind.URBAN_HOSPITAL)
        .then(pl.col("pair_green").is_not_null())
        .otherwise(False)
        .fill_null(False)
    )
    upward = pl.col("t_rank").is_not_null() & pl.col("s_rank").is_not_null()
    upward = upward & (pl.col("t_rank") > pl.col("s_rank"))
    skips = upward & (pl.col("t_rank") - pl.col("s_rank") > 1)
    problems = problems_where(
        rows,
        ~upward,
        file,
        "to_facility",
        pl.format(
            _(
                "{} ({}) is not above {} ({}) in the referral chain (village clinic → "
                "township health centre → county hospital → paired hospital)"
            ),
            pl.col("to_facility"),
            pl.col("t_kind"),
            pl.col("from_facility"),
            pl.col("s_kind"),
        ),
    )
    problems += problems_where(
        rows,
        upward & ~serves & (t_kind != FacilityKind.URBAN_HOSPITAL),
        file,
        "to_facility",
        pl.format(
            _("{} does not serve the township or county of {}"),
            pl.col("to_facility"),
            pl.col("from_facility"),
        ),
    )
    problems += problems_where(
        rows,
        upward & ~serves & (t_kind == FacilityKind.URBAN_HOSPITAL),
        file,
        "to_facility",
        pl.format(
            _("{} is not paired with the county of {} on {}"),
            pl.col("to_facility"),
            pl.col("from_facility"),
            pl.col("date_parsed").cast(pl.String),
        ),
    )
    problems += problems_where(
        rows,
        skips & serves & (pl.col("green_n") != pl.col("patients_n")),
        file,
        "green_channel",
        pl.format(
            _(
                "a transfer from {} to {} skips a level: only green-channel patients may "
                "(green_channel must equal patients, {})"
            ),
            pl.col("from_facility"),
            pl.col("to_facility"),
            pl.col("patients_n"),
        ),
    )
    problems += problems_where(
        rows,
        skips & serves & (t_kind == FacilityKind.URBAN_HOSPITAL) & ~pl.col("pair_green"),
        file,
        "to_facility",
        pl.format(
            _("the pairing of {} with the county of {} has no green channel"),
            pl.col("to_facility"),
            pl.col("from_facility"),
        ),
    )
    return problems


def import_transfers(
    path: str | Path, *, today: dt.date | None = None, progress: Any = None
) -> TransferImportSummary:
    """Import referral transfers: ``date``, ``from_facility``, ``to_facility``, ``patients``;
    optional ``severe`` and ``green_channel`` (of the patients). Every row must follow a route
    of the network (:func:`route_problems`). A row replaces the count of the same date and
    route."""
    today = today or timezone.localdate()
    file = Path(path).name
    frame = only_columns(
        canonical_columns(
            read_table(path),
            TRANSFER_ALIASES,
            ["date", "from_facility", "to_facility", "patients"],
            file,
        ),
        TRANSFER_ALIASES,
    )
    problems: list[Problem] = []
    for c in ("date", "from_facility", "to_facility", "patients"):
        problems += problems_where(frame, pl.col(c).is_null(), file, c, _("empty cell"))
    frame = frame.with_columns(parse_date(pl.col("date")).alias("date_parsed"))
    problems += problems_where(
        frame,
        pl.col("date").is_not_null() & pl.col("date_parsed").is_null(),
        file,
        "date",
        pl.format(_("not a date: {} (use YYYY-MM-DD)"), pl.col("date")),
    )
    problems += date_span_problems(frame, "date_parsed", file, "date", EARLIEST, today)
    problems += _count_problems(frame, file, ("patients", "severe", "green_channel"))

    def count(name: str) -> pl.Expr:
        if name not in frame.columns:
            return pl.lit(0, pl.Int64).alias(f"{name}_n")
        return pl.col(name).cast(pl.Int64, strict=False).fill_null(0).alias(f"{name}_n")

    frame = frame.with_columns(
        pl.col("patients").cast(pl.Int64, strict=False).alias("patients_n"),
        count("severe").alias("severe_n"),
        count("green_channel").alias("green_n"),
    )
    for c, n in (("severe", "severe_n"), ("green_channel", "green_n")):
        problems += problems_where(
            frame,
            pl.col(n) > pl.col("patients_n"),
            file,
            c,
            pl.format(_("{} is more than the patients ({})"), pl.col(n), pl.col("patients_n")),
        )
    problems += problems_where(
        frame,
        pl.col("from_facility") == pl.col("to_facility"),
        file,
        "to_facility",
        _("a facility does not refer to itself"),
    )
    problems += _duplicates(frame, ["date_parsed", "from_facility", "to_facility"], file, "date")
    codes = pl.concat([frame["from_facility"], frame["to_facility"]]).drop_nulls().unique()
    known = set(_facility_frame(codes.to_list())["code"].to_list())
    for c in ("from_facility", "to_facility"):
        problems += problems_where(
            frame,
            pl.col(c).is_not_null() & ~pl.col(c).is_in(sorted(known)),
            file,
            c,
            pl.format(_("unknown facility {} (import the facility registry first)"), pl.col(c)),
        )
    if not problems:
        problems += route_problems(frame, file)
    if problems:
        raise ImportRejected(problems)
    stage = frame.select(
        pl.col("date_parsed").cast(pl.String).alias("date"),
        "from_facility",
        "to_facility",
        pl.col("patients_n").alias("patients"),
        pl.col("severe_n").alias("severe"),
        pl.col("green_n").alias("green_channel"),
    )
    summary = TransferImportSummary(file=file, rows=frame.height)
    summary.inserted, summary.updated, summary.unchanged = _staged_upsert(
        Transfer._meta.db_table,
        [
            ("date", "date", "date"),
            ("source_id", "from_facility", "varchar(40)"),
            ("target_id", "to_facility", "varchar(40)"),
        ],
        [
            ("patients", "patients", "integer"),
            ("severe", "severe", "integer"),
            ("green_channel", "green_channel", "integer"),
        ],
        stage,
    )
    return summary
