"""The intake app's nightly work: every active validation rule and the outlier screen over the
last days' stored village values, one county at a time (the cycle's validate step and the
worker call :func:`nightly`). Values are never changed; violations and open flags of the
screened dates are replaced, so a re-run leaves the same state.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl
from django.db import transaction
from django.utils import timezone

from ruralwatch.areas.models import Area
from ruralwatch.core import bulk
from ruralwatch.intake import outliers as screen
from ruralwatch.intake import rules as engine
from ruralwatch.intake.models import FlagStatus, OutlierFlag, OutlierMethod, Violation
from ruralwatch.intake.services import _stored_long, _wide, active_rules
from ruralwatch.reporting.models import Indicator, ReportValue

# --- nightly run -------------------------------------------------------------------------------


@dataclass
class RuleRun:
    start: str
    end: str
    rules: int
    area_days: int
    violations: int


def run_rules(
    start: dt.date,
    end: dt.date,
    *,
    path: str = "/",
    now: dt.datetime | None = None,
    days_per_pass: int = 7,
) -> RuleRun:
    """The nightly run (and the check after a file import): every active rule over every
    stored village-day in [start, end], ``days_per_pass`` days at a time (a national file
    spans millions of village-days); the violations of those dates are replaced, so a re-run
    leaves the same state."""
    now = now or timezone.now()
    rules = active_rules()
    area_days = found_n = 0
    day = start
    while day <= end:
        last = min(end, day + dt.timedelta(days=days_per_pass - 1))
        wide = _wide(_stored_long(day, last, path))
        found = engine.evaluate(rules, wide) if rules and not wide.is_empty() else None
        with transaction.atomic():
            _in_subtree(Violation.objects.filter(date__range=(day, last)), path).delete()
            if found is not None:
                _insert_violations(found, now)
        area_days += wide.height
        found_n += 0 if found is None else found.height
        day = last + dt.timedelta(days=1)
    return RuleRun(start.isoformat(), end.isoformat(), len(rules), area_days, found_n)


# --- outlier screening -------------------------------------------------------------------------


@dataclass
class ScreenRun:
    start: str
    end: str
    values: int
    flags: dict[str, int]


def screen_outliers(
    start: dt.date,
    end: dt.date,
    *,
    history_days: int = screen.HISTORY_DAYS,
    params: screen.Params | None = None,
    path: str = "/",
    now: dt.datetime | None = None,
) -> ScreenRun:
    """Flag doubtful village values in [start, end] against each area's own history (read
    from ``history_days`` before ``start``), repeated days and failing rules. Values are
    never changed; open flags of those dates are replaced, a confirmed or corrected flag is
    kept as the reporter left it. Reads the history only of the areas that need it
    (:func:`_validate_part`), province by province."""
    now = now or timezone.now()
    prm = params or screen.Params()
    if not _bounded(prm, history_days, start, end):
        return _screen_outliers_whole(
            start, end, history_days=history_days, params=params, path=path, now=now
        )
    parts = [path]
    if path == "/":  # the tree's roots (every area lies under one)
        roots = Area.objects.filter(parent__isnull=True).values_list("path", flat=True)
        parts = sorted(roots) or [path]
    rules = active_rules()
    counts = {m: 0 for m in OutlierMethod.values}
    read = 0
    for part in parts:
        run = _validate_part(
            part,
            False,
            start,
            end,
            rules=rules,
            prm=prm,
            history_days=history_days,
            now=now,
            with_rules=False,
        )
        read += run.values_read
        for m, n in run.flags.items():
            counts[m] += n
    return ScreenRun(start.isoformat(), end.isoformat(), read, counts)


def _screen_outliers_whole(
    start: dt.date,
    end: dt.date,
    *,
    history_days: int = screen.HISTORY_DAYS,
    params: screen.Params | None = None,
    path: str = "/",
    now: dt.datetime | None = None,
) -> ScreenRun:
    """:func:`screen_outliers` reading every value of the subtree's history at once (the
    reference, and the fallback where the bounded read does not hold)."""
    now = now or timezone.now()
    long = _stored_long(start - dt.timedelta(days=history_days), end, path)
    rules = active_rules()
    flags = screen.screen(long, start, end, rules=rules, params=params)
    with transaction.atomic():
        mine = _in_subtree(OutlierFlag.objects.filter(date__range=(start, end)), path)
        mine.filter(status=FlagStatus.OPEN).delete()
        kept = set(mine.values_list("area_id", "date", "indicator", "method"))
        rows = _open_flag_rows(flags, kept, now)
        bulk.insert_rows(OutlierFlag._meta.db_table, [*_FLAG_COLUMNS], rows)
    return ScreenRun(start.isoformat(), end.isoformat(), long.height, _per_method(flags))


def set_flag_status(flag: OutlierFlag, status: str) -> OutlierFlag:
    """The reporter confirmed the value as reported, or corrected it."""
    if status not in FlagStatus.values:
        raise ValueError(status)
    flag.status = status
    flag.save(update_fields=["status"])
    return flag


def _in_subtree(qs: Any, path: str) -> Any:
    if path == "/":
        return qs
    return qs.filter(area_id__in=Area.objects.filter(path__startswith=path).values("code"))


def nightly(
    day: dt.date, *, days: int = 7, path: str = "/", now: dt.datetime | None = None
) -> dict[str, Any]:
    """What the worker or the cycle calls once a day: rules and outlier screening over the
    last ``days`` days up to ``day`` (late reports and corrections arrive for those), for the
    subtree at ``path``: every area under a county (or the whole subtree of a county or
    lower, or of a tree without counties), province by province (see :func:`_validate_part`;
    memory stays that of a province's week). The result is that of screening each county
    alone (:func:`nightly_per_county`), which tests check row for row."""
    now = now or timezone.now()
    start = day - dt.timedelta(days=days - 1)
    prm = screen.Params()
    if not _bounded(prm, screen.HISTORY_DAYS, start, day):
        return nightly_per_county(day, days=days, path=path, now=now)
    scope = _scope(path)
    rules = active_rules()
    totals: dict[str, Any] = {
        "counties": scope.counties,
        "partitions": len(scope.parts),
        "violations": 0,
        "flags": {},
        "values_read": 0,
    }
    for part in scope.parts:
        run = _validate_part(
            part,
            scope.county_only,
            start,
            day,
            rules=rules,
            prm=prm,
            history_days=screen.HISTORY_DAYS,
            now=now,
        )
        totals["violations"] += run.violations
        totals["values_read"] += run.values_read
        for method, n in run.flags.items():
            totals["flags"][method] = totals["flags"].get(method, 0) + n
    return totals


def nightly_per_county(
    day: dt.date, *, days: int = 7, path: str = "/", now: dt.datetime | None = None
) -> dict[str, Any]:
    """The nightly run one county at a time, every value of the screened history read: the
    reference :func:`nightly` is checked against, and what it falls back to where its bound
    does not hold (a screen of more than a year, or the trailing robust z)."""
    start = day - dt.timedelta(days=days - 1)
    root = Area.objects.filter(path=path).values_list("level", flat=True).first()
    if root is not None and root >= 3:
        parts = [path]
    else:
        parts = list(
            Area.objects.filter(level=3, path__startswith=path)
            .order_by("path")
            .values_list("path", flat=True)
        ) or [path]
    totals: dict[str, Any] = {"counties": len(parts), "violations": 0, "flags": {}}
    for part in parts:
        ran = run_rules(start, day, path=part, now=now)
        screened = _screen_outliers_whole(start, day, path=part, now=now)
        totals["violations"] += ran.violations
        for method, n in screened.flags.items():
            totals["flags"][method] = totals["flags"].get(method, 0) + n
    return totals


# --- the nightly run at scale ------------------------------------------------------------------
#
# Most of a night's work used to be reading: every value of the last 63 days (the history the
# seasonal screen's MAD needs), county by county. A value can be flagged by the seasonal
# screen only if it is at least ``min_value``, at least ``min_ratio`` times its expectation
# and its score reaches ``z`` with the scale's floor (outliers.seasonal_may_flag); the
# expectation is at least the series' own centred median (outliers.seasonal_may_flag_series),
# and both read only the ``half_window`` days around the value. So the run reads, per
# province: the screened days of every area (the rules need them anyway); the week before
# for the series with a value of at least ``min_value``; every indicator of the week before
# for the areas whose values pass the series bound; and the whole history only for the
# areas whose values pass the expectation bound. The whole screen then runs on those areas'
# full history, as before, so the flags are the same (tests/intake/test_nightly_scale.py).


@dataclass
class _Scope:
    parts: list[str]  # path prefixes, one per province (or the subtree itself)
    county_only: bool  # only areas under a county (l3 set), as the county loop screened
    counties: int


def _scope(path: str) -> _Scope:
    """The partitions of :func:`nightly`'s subtree and which areas it covers: those of
    :func:`nightly_per_county`'s counties (areas whose path starts with a county's), or the
    whole subtree where that loop ran it as one part."""
    root = Area.objects.filter(path=path).values_list("level", flat=True).first()
    if root is not None and root >= 3:
        return _Scope([path], False, 1)
    counties = list(
        Area.objects.filter(level=3, path__startswith=path).values_list("path", flat=True)
    )
    if not counties:
        return _Scope([path], False, 1)
    if root is not None:
        return _Scope([path], True, len(counties))
    parts = {c[: c.index("/", len(path)) + 1] for c in counties}
    return _Scope(sorted(parts), True, len(counties))


def _bounded(prm: screen.Params, history_days: int, start: dt.date, end: dt.date) -> bool:
    """Whether the bounded read gives the whole screen's flags: no trailing robust z (its
    baseline reads the 28 days before), and a panel too short for the seasonal screen's
    year-before weeks (with them, whether they count depends on each county's span)."""
    span = history_days + (end - start).days + 1
    return "robust_z" not in prm.methods and span <= 365 + prm.half_window


_LONG = {"area_code": pl.String, "date": pl.String, "indicator": pl.String, "value": pl.Float64}
_CODES = "intake_nightly_codes"
_SERIES = "intake_nightly_series"


def _scope_sql(prefix: str, county_only: bool) -> tuple[str, list[Any]]:
    """``a`` (areas) restricted to the partition."""
    return "a.path LIKE %s" + (" AND a.l3 <> ''" if county_only else ""), [prefix + "%"]


def _fetch_long(sql: str, params: list[Any]) -> pl.DataFrame:
    frame = bulk.fetch_frame(sql, params, schema=_LONG)
    frame.columns = list(_LONG)
    return frame.with_columns(pl.col("date").cast(pl.String).str.slice(0, 10).str.to_date())


def _fetch_days(body: str, params: list[Any]) -> tuple[pl.DataFrame, pl.DataFrame | None]:
    """The values of ``FROM … WHERE …`` (``body``, the values aliased ``v``) as a long frame,
    and as a wide one (a row per area and day, a column per indicator; None where it could
    not be made), fetched as one row per area and day (the day's values pivoted in SQL).
    Most of a night's reading was the fetch of one row per value (about 2 µs of this
    process's CPU each, in the driver's copy loop); a row per area-day is eight times fewer
    rows for a little more of the database's CPU (河南's week: 5.7 + 3.8 CPU s as values,
    0.8 + 4.4 s as area-days, this process + PostgreSQL at load 5-7). A value of an
    indicator missing from the indicator table is counted by the query, and then the
    values are read again one row each, so nothing is ever left out."""
    codes = sorted(Indicator.objects.values_list("code", flat=True))
    by_row = f"SELECT v.area_id, CAST(v.date AS TEXT), v.indicator_id, v.value {body}"
    if not codes:
        return _fetch_long(by_row, params), None
    marks = ", ".join(["%s"] * len(codes))
    columns = ", ".join(["MAX(CASE WHEN v.indicator_id = %s THEN v.value END)"] * len(codes))
    schema: dict[str, Any] = {"area_code": pl.String, "date": pl.String}
    schema |= {f"k{i}": pl.Float64 for i in range(len(codes))}
    schema["other"] = pl.Int64
    frame = bulk.fetch_frame(
        f"SELECT v.area_id, CAST(v.date AS TEXT), {columns}, "
        f"SUM(CASE WHEN v.indicator_id IN ({marks}) THEN 0 ELSE 1 END) {body} "
        f"GROUP BY v.area_id, v.date",
        [*codes, *codes, *params],
        schema=schema,
    )
    frame.columns = list(schema)
    if frame.height and int(frame["other"].sum()):
        return _fetch_long(by_row, params), None
    wide = frame.drop("other").rename({f"k{i}": c for i, c in enumerate(codes)})
    wide = wide.with_columns(pl.col("date").str.slice(0, 10).str.to_date())
    long = (
        wide.unpivot(index=["area_code", "date"], variable_name="indicator", value_name="value")
        .drop_nulls("value")
        .select(list(_LONG))
    )
    return long, wide


def _values_in_part(
    prefix: str, county_only: bool, first: dt.date, last: dt.date
) -> tuple[pl.DataFrame, pl.DataFrame | None]:
    value, area = ReportValue._meta.db_table, Area._meta.db_table
    where, params = _scope_sql(prefix, county_only)
    return _fetch_days(
        f"FROM {value} v JOIN {area} a ON a.code = v.area_id "
        f"WHERE v.date BETWEEN %s AND %s AND {where}",
        [first.isoformat(), last.isoformat(), *params],
    )


def _values_of(codes: pl.Series, first: dt.date, last: dt.date) -> pl.DataFrame:
    """Every value of these areas in [first, last] (one query: the codes go into a
    temporary table joined on the values' unique key)."""
    if codes.is_empty() or first > last:
        return pl.DataFrame(schema=_LONG).with_columns(pl.col("date").str.to_date())
    bulk.create_staging(_CODES, [("code", "varchar(12)")])
    try:
        bulk.load_staging(_CODES, codes.unique().to_frame("code"))
        value = ReportValue._meta.db_table
        return _fetch_days(
            f"FROM {value} v JOIN {_CODES} c ON c.code = v.area_id WHERE v.date BETWEEN %s AND %s",
            [first.isoformat(), last.isoformat()],
        )[0]
    finally:
        bulk.drop_staging(_CODES)


def _values_of_series(
    series: pl.DataFrame, first: dt.date, last: dt.date, *, ratio: float | None = None
) -> pl.DataFrame:
    """Every value of these (area_code, indicator) series in [first, last]; with ``ratio``,
    only those whose ``ratio`` times is at most the series' ``top``."""
    if series.is_empty() or first > last:
        return pl.DataFrame(schema=_LONG).with_columns(pl.col("date").str.to_date())
    columns = [("code", "varchar(12)"), ("indicator", "varchar(40)")]
    picked = [pl.col("area_code").alias("code"), pl.col("indicator")]
    where, params = "", [first.isoformat(), last.isoformat()]
    params_: list[Any] = params
    if ratio is not None:
        columns.append(("top", "double precision"))
        picked.append(pl.col("top"))
        where, params_ = " AND %s * v.value <= c.top", [*params, ratio]
    bulk.create_staging(_SERIES, columns)
    try:
        bulk.load_staging(_SERIES, series.select(picked))
        value = ReportValue._meta.db_table
        return _fetch_long(
            f"SELECT v.area_id, CAST(v.date AS TEXT), v.indicator_id, v.value FROM {value} v "
            f"JOIN {_SERIES} c ON c.code = v.area_id AND c.indicator = v.indicator_id "
            f"WHERE v.date BETWEEN %s AND %s{where}",
            params_,
        )
    finally:
        bulk.drop_staging(_SERIES)


def _keyed(long: pl.DataFrame) -> pl.DataFrame:
    """Each (area, indicator) series as an area of its own ("area|indicator")."""
    return long.with_columns(
        (pl.col("area_code") + "|" + pl.col("indicator")).alias("area_code"),
        pl.lit("").alias("indicator"),
    )


def _series_may_flag(
    window: pl.DataFrame,
    small: pl.DataFrame,
    tops: pl.DataFrame,
    first: dt.date,
    end: dt.date,
    prm: screen.Params,
) -> pl.DataFrame:
    """The series of ``tops`` with a value of the week that
    outliers.seasonal_may_flag_neighbours keeps, from the week's values and the small ones
    of the days before (a neighbour left out is one whose ``min_ratio`` times is above the
    series' largest value of the week, so it counts for no value of the week)."""
    series = tops.select("area_code", "indicator")
    local = pl.concat([small, window.join(series, on=["area_code", "indicator"], how="semi")])
    passed = _passing(
        _keyed(local),
        first,
        end,
        prm.block * 8,
        lambda cube, _days: screen.seasonal_may_flag_neighbours(cube, prm),
        prm.half_window,
    )
    if not passed:
        return series.clear()
    split = pl.Series("key", passed, pl.String).str.split_exact("|", 1)
    return split.struct.rename_fields(["area_code", "indicator"]).struct.unnest()


def _populations(prefix: str, county_only: bool) -> pl.DataFrame:
    where, params = _scope_sql(prefix, county_only)
    return bulk.fetch_frame(
        f"SELECT a.code, a.population FROM {Area._meta.db_table} a WHERE {where}",
        params,
        schema={"area_code": pl.String, engine.POPULATION: pl.Float64},
    ).rename(lambda c: "area_code" if c == "code" else c)


def _cube(
    long: pl.DataFrame, first: dt.date, last: dt.date
) -> tuple[list[str], list[dt.date], screen.FlagArray]:
    """areas × indicators × days of [first, last] (NaN where nothing was reported), the
    indicators in ``long``'s sorted order."""
    days = [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]
    areas = long["area_code"].unique().sort()
    indicators = long["indicator"].unique().sort()
    a_ix = {c: i for i, c in enumerate(areas.to_list())}
    k_ix = {c: i for i, c in enumerate(indicators.to_list())}
    a = long["area_code"].replace_strict(a_ix, return_dtype=pl.Int64).to_numpy()
    k = long["indicator"].replace_strict(k_ix, return_dtype=pl.Int64).to_numpy()
    d = long.select((pl.col("date") - pl.lit(first)).dt.total_days())["date"].to_numpy()
    cube = np.full((len(a_ix), len(k_ix), len(days)), np.nan)
    cube[a, k, d] = long["value"].to_numpy()
    return areas.to_list(), days, cube


def _may_flag(local: pl.DataFrame, start: dt.date, end: dt.date, prm: screen.Params) -> list[str]:
    """The areas of ``local`` (every value of [start - half_window, end]) with a value in
    [start, end] that the seasonal screen may flag (outliers.seasonal_may_flag), a block of
    areas at a time."""
    first = start - dt.timedelta(days=prm.half_window)
    return _passing(
        local,
        first,
        end,
        prm.block,
        lambda cube, days: screen.seasonal_may_flag(
            cube, screen.seasonal_expected(cube, prm, days), prm
        ),
        prm.half_window,
    )


def _passing(
    long: pl.DataFrame,
    first: dt.date,
    end: dt.date,
    block: int,
    bound: Callable[[screen.FlagArray, list[dt.date]], npt.NDArray[np.bool_]],
    skip: int,
) -> list[str]:
    """The areas of ``long`` for which ``bound`` (of the cube of [first, end] and its days)
    marks a value from the ``skip``-th day on, ``block`` areas at a time."""
    areas = long["area_code"].unique().sort()
    out: list[str] = []
    for lo in range(0, areas.len(), block):
        part = long.filter(pl.col("area_code").is_in(areas.slice(lo, block).implode()))
        codes, days, cube = _cube(part, first, end)
        may = bound(cube, days)[:, :, skip:]
        out += [codes[i] for i in np.nonzero(may.any(axis=(1, 2)))[0]]
    return out


@dataclass
class _Hot:
    areas: pl.Series
    values_read: int


def _seasonal_candidates(
    window: pl.DataFrame, start: dt.date, end: dt.date, prm: screen.Params
) -> _Hot:
    """The areas with a value in [start, end] the seasonal screen may flag, in two rounds
    that each read the ``half_window`` days before ``start`` for fewer series: the series
    with a value of at least ``min_value`` against their own baseline
    (outliers.seasonal_may_flag_series), then every indicator of the areas left against
    the expectation itself (outliers.seasonal_may_flag)."""
    h = prm.half_window
    first, day_before = start - dt.timedelta(days=h), start - dt.timedelta(days=1)
    tops = (
        window.filter(pl.col("value") >= prm.min_value)
        .group_by("area_code", "indicator")
        .agg(pl.col("value").max().alias("top"))
    )
    # Round 0: of the week before, only the values small enough to count toward the ratio
    # test of some value of the week (outliers.seasonal_may_flag_neighbours).
    small = _values_of_series(tops, first, day_before, ratio=prm.min_ratio)
    read = small.height
    series = _series_may_flag(window, small, tops, first, end, prm)
    before = _values_of_series(series, first, day_before)
    read += before.height
    local = pl.concat([before, window.join(series, on=["area_code", "indicator"], how="semi")])
    passed = _passing(
        _keyed(local),
        first,
        end,
        prm.block * 8,
        lambda cube, days: screen.seasonal_may_flag_series(
            cube, screen.seasonal_baseline(cube, prm, days), prm
        ),
        h,
    )
    areas = pl.Series("area_code", sorted({key.split("|")[0] for key in passed}), pl.String)
    before = _values_of(areas, first, day_before)
    read += before.height
    local = pl.concat([before, window.filter(pl.col("area_code").is_in(areas.implode()))])
    hot = pl.Series(
        "area_code", _may_flag(local, start, end, prm) if areas.len() else [], pl.String
    )
    return _Hot(hot, read)


@dataclass
class PartRun:
    values_read: int
    violations: int
    flags: dict[str, int]


def _validate_part(
    prefix: str,
    county_only: bool,
    start: dt.date,
    end: dt.date,
    *,
    rules: list[engine.Rule],
    prm: screen.Params,
    history_days: int,
    now: dt.datetime,
    with_rules: bool = True,
) -> PartRun:
    """Rules and outlier screening of one partition's values in [start, end], written in one
    transaction: the violations of those dates replaced (``with_rules``), their open flags
    replaced and the others kept as the reporter left them."""
    window, wide_window = _values_in_part(prefix, county_only, start, end)
    read = window.height
    found = None
    parts = [pl.DataFrame(schema=screen.SCHEMA)]
    if not window.is_empty():
        wide = wide_window
        if wide is None:
            wide = window.pivot(on="indicator", index=["area_code", "date"], values="value")
        if with_rules and rules:
            pops = _populations(prefix, county_only)
            found = engine.evaluate(rules, wide.join(pops, on="area_code", how="left"))
        if "rule" in prm.methods and rules:
            parts.append(screen.rule_flags_of_wide(wide, rules))
        day_before = start - dt.timedelta(days=1)
        if "repeat" in prm.methods:
            # Only days with enough nonzero values can repeat the day before; they and the
            # days before them are the repeat screen's input.
            days = (
                window.group_by("area_code", "date")
                .agg((pl.col("value") != 0).sum().alias("nonzero"))
                .filter(pl.col("nonzero") >= prm.repeat_min_nonzero)
                .select("area_code", "date")
            )
            keys = pl.concat([days, days.with_columns(pl.col("date") - pl.duration(days=1))])
            mine = window.join(keys.unique(), on=["area_code", "date"], how="semi")
            firsts = days.filter(pl.col("date") == start)["area_code"]
            before = _values_of(firsts, day_before, day_before)
            read += before.height
            parts.append(screen.repeats(pl.concat([before, mine]), start, end, prm))
        if "seasonal" in prm.methods:
            hot_series = _seasonal_candidates(window, start, end, prm)
            read += hot_series.values_read
            hot = hot_series.areas
            history = _values_of(hot, start - dt.timedelta(days=history_days), day_before)
            read += history.height
            full = pl.concat([history, window.filter(pl.col("area_code").is_in(hot.implode()))])
            if not full.is_empty():
                seasonal = replace(prm, methods=("seasonal",))
                parts.append(screen.screen(full, start, end, params=seasonal))
    flags = pl.concat(parts).sort("area_code", "date", "indicator", "method")
    _store(prefix, county_only, start, end, found if with_rules else None, flags, now)
    return PartRun(read, 0 if found is None else found.height, _per_method(flags))


def _store(
    prefix: str,
    county_only: bool,
    start: dt.date,
    end: dt.date,
    found: pl.DataFrame | None,
    flags: pl.DataFrame,
    now: dt.datetime,
) -> None:
    area = Area._meta.db_table
    where, params = _scope_sql(prefix, county_only)
    mine = f"area_id IN (SELECT a.code FROM {area} a WHERE {where}) AND date BETWEEN %s AND %s"
    params = [*params, start.isoformat(), end.isoformat()]
    violation, flag = Violation._meta.db_table, OutlierFlag._meta.db_table
    with transaction.atomic():
        if found is not None:
            bulk.execute(f"DELETE FROM {violation} WHERE {mine}", params)
            _insert_violations(found, now)
        bulk.execute(
            f"DELETE FROM {flag} WHERE {mine} AND status = %s", [*params, FlagStatus.OPEN.value]
        )
        kept = {
            (a, dt.date.fromisoformat(str(d)[:10]), k, m)
            for a, d, k, m in bulk.rows(
                f"SELECT area_id, date, indicator, method FROM {flag} WHERE {mine}", params
            )
        }
        rows = _open_flag_rows(flags, kept, now)
        bulk.insert_rows(flag, [*_FLAG_COLUMNS], rows)


_FLAG_COLUMNS = (
    "area_id",
    "date",
    "indicator",
    "value",
    "method",
    "score",
    "baseline",
    "scale",
    "status",
    "flagged_at",
)


def _open_flag_rows(
    flags: pl.DataFrame, kept: set[tuple[Any, ...]], now: dt.datetime
) -> list[tuple[Any, ...]]:
    """``flags`` as new open OutlierFlag rows (``_FLAG_COLUMNS``), without those whose (area,
    date, indicator, method) a reporter has already confirmed or corrected (``kept``)."""
    return [
        (a, d, k, v, m, s, b, sc, FlagStatus.OPEN.value, now)
        for a, d, k, v, m, s, b, sc in flags.select(
            "area_code", "date", "indicator", "value", "method", "score", "baseline", "scale"
        ).iter_rows()
        if (a, d, k, m) not in kept
    ]


def _per_method(flags: pl.DataFrame) -> dict[str, int]:
    """How many of ``flags`` each screening method raised (every method named, 0 or more)."""
    counts = {m: 0 for m in OutlierMethod.values}
    for m, n in flags.group_by("method").len().iter_rows():
        counts[m] += n
    return counts


def _insert_violations(found: pl.DataFrame, now: dt.datetime) -> None:
    """The rules' findings (rule, area, date, left, right) as Violation rows."""
    if found.is_empty():
        return
    bulk.insert_rows(
        Violation._meta.db_table,
        ["rule_id", "area_id", "date", "left_value", "right_value", "found_at"],
        [(r, a, d, lv, rv, now) for r, a, d, lv, rv in found.iter_rows()],
    )
