"""The intake app's nightly work: every active validation rule and the outlier screen over the
last days' stored village values, one county at a time (the cycle's validate step and the
worker call :func:`nightly`). Values are never changed; violations and open flags of the
screened dates are replaced, so a re-run leaves the same state.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl
from django.db import transaction
from django.utils import timezone

from ruralwatch.areas.models import Area
from ruralwatch.areas.selectors import code_between, code_range
from ruralwatch.core import bulk
from ruralwatch.core.dates import consecutive_runs
from ruralwatch.intake import outliers as screen
from ruralwatch.intake import rules as engine
from ruralwatch.intake import screen_days
from ruralwatch.intake.models import FlagStatus, OutlierFlag, OutlierMethod, Violation
from ruralwatch.intake.services import _stored_long, _wide, active_rules
from ruralwatch.reporting.models import Indicator, ReportValue, Submission

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
    alone (:func:`nightly_per_county`), which tests check row for row. The cycle runs the
    same partitions through its runner (:func:`nightly_parts`, :func:`validate_part`, on
    worker processes when it has them) and adds them up the same way."""
    now = now or timezone.now()
    scope = nightly_parts(day, days=days, path=path)
    if scope is None:
        return nightly_per_county(day, days=days, path=path, now=now)
    totals = nightly_totals(scope)
    for part in scope.parts:
        add_part(totals, validate_part(part, scope.county_only, day, days=days, now=now))
    return totals


def keep_copies(day: dt.date, *, path: str = "/") -> int:
    """Make the copies (:mod:`ruralwatch.intake.screen_days`) of the :data:`screen_days.KEEP_DAYS`
    days up to ``day`` that the nights have not kept, for every partition of :func:`nightly`
    under ``path``, as the nights before would have: after an upgrade from code that kept two
    weeks, or a database loaded in bulk (the national benchmark's set-up), so that the cycle's
    assessment reads its days from them. Reads the values of the days without a copy, a
    partition at a time, and screens nothing. Returns the number of partitions."""
    scope = _scope(path)
    first = day - dt.timedelta(days=screen_days.KEEP_DAYS - 1)
    for prefix in scope.parts:
        areas = _populations(prefix, scope.county_only)["area_code"]
        _values_in_part(prefix, scope.county_only, first, day, areas)
    return len(scope.parts)


def begin_whole_days(sender: Any, **kwargs: Any) -> int:
    """Receiver of ``reporting.hooks.whole_days_begin``: the last take, for
    :func:`keep_imported`."""
    return screen_days.last_take()


def whole_days_written(
    sender: Any,
    *,
    values: pl.DataFrame,
    dates: list[dt.date],
    tokens: dict[Any, Any],
    arrivals: pl.DataFrame | None = None,
    **kwargs: Any,
) -> bool:
    """Receiver of ``reporting.hooks.whole_days_written`` (:func:`keep_imported`)."""
    since = tokens.get(begin_whole_days)
    return since is not None and keep_imported(values, dates, since=since, arrivals=arrivals)


def keep_imported(
    values: pl.DataFrame,
    dates: list[dt.date],
    *,
    since: int,
    path: str = "/",
    arrivals: pl.DataFrame | None = None,
) -> bool:
    """Make the copies (:mod:`ruralwatch.intake.screen_days`) of ``dates`` from ``values``, the
    whole of those dates' values that an import has just written (long: ``area_code``,
    ``date`` as ISO text, ``indicator``, ``value``), for every partition of :func:`nightly`
    under ``path``: the frames :func:`_values_in_part` would read from the values; with
    ``arrivals``, the whole of those dates' submissions it wrote (``area_code``, ``date`` as
    ISO text, ``delay_hours``), kept with them (:func:`_read_arrivals`). False,
    with nothing kept, where the dates span more than the days kept or a date was changed by
    another writer meanwhile (:func:`screen_days.keep_written`): the import then marks them.

    The usual national day: 5.2 million values written, and the night's validation read
    them back through the values' key, a probe per village (12.8 s of the database's CPU in
    the cycle); making the copies here costs the import about 2 s of its CPU."""
    if not dates or (max(dates) - min(dates)).days >= screen_days.KEEP_DAYS:
        return False
    scope = _scope(path)
    parts = {p: screen_days.partition_codes(p, scope.county_only) for p in scope.parts}
    part_of = pl.concat(
        [
            codes.to_frame("area_code").with_columns(pl.lit(p).alias("part"))
            for p, codes in parts.items()
        ]
    )
    for day in sorted(dates):
        mine = values.filter(pl.col("date") == day.isoformat())
        wide = (
            mine.lazy()
            .select("area_code", "indicator", pl.col("value").cast(pl.Float64))
            .pivot(  # lazily, told its columns: half the time of the frame's pivot
                on="indicator",
                on_columns=mine["indicator"].unique().sort(),
                index="area_code",
                values="value",
            )
            .join(part_of.lazy(), on="area_code")
            .collect()
        )
        by_part = {p: f.drop("part") for (p,), f in wide.partition_by("part", as_dict=True).items()}
        subs_by_part = {}
        if arrivals is not None:
            subs = arrivals.filter(pl.col("date") == day.isoformat()).join(part_of, on="area_code")
            subs_by_part = {
                p: f.select("area_code", "delay_hours")
                for (p,), f in subs.partition_by("part", as_dict=True).items()
            }
        copies = {}
        for prefix, codes in parts.items():
            frame = by_part.get(prefix, wide.drop("part").clear())
            reported = sorted(c for c in frame.columns[1:] if frame[c].null_count() < frame.height)
            copies[(prefix, scope.county_only)] = (
                screen_days.areas_key(codes),
                frame.sort("area_code").select(
                    "area_code", pl.lit(day, dtype=pl.Date).alias("date"), *reported
                ),
                None
                if arrivals is None
                else subs_by_part.get(prefix, pl.DataFrame(schema=screen_days.ARRIVALS)),
            )
        if not screen_days.keep_written(day, copies, since=since):
            return False
    return True


def nightly_parts(day: dt.date, *, days: int = 7, path: str = "/") -> _Scope | None:
    """The partitions :func:`nightly` validates one by one, or ``None`` where its bounded
    read does not hold and it runs :func:`nightly_per_county` instead."""
    start = day - dt.timedelta(days=days - 1)
    if not _bounded(screen.Params(), screen.HISTORY_DAYS, start, day):
        return None
    return _scope(path)


def nightly_totals(scope: _Scope) -> dict[str, Any]:
    """:func:`nightly`'s result before any partition is added."""
    return {
        "counties": scope.counties,
        "partitions": len(scope.parts),
        "violations": 0,
        "flags": {},
        "values_read": 0,
    }


def add_part(totals: dict[str, Any], run: dict[str, Any]) -> None:
    """One partition's :func:`validate_part` added to :func:`nightly`'s totals."""
    totals["violations"] += run["violations"]
    totals["values_read"] += run["values_read"]
    for method, n in run["flags"].items():
        totals["flags"][method] = totals["flags"].get(method, 0) + n


def validate_part(
    prefix: str, county_only: bool, day: dt.date, *, days: int, now: dt.datetime
) -> dict[str, Any]:
    """One partition of :func:`nightly` (a prefix of :func:`nightly_parts`), written in its
    own transaction: what the cycle's runner calls per partition, here or in a worker
    process (plain values in and out, so that it travels)."""
    start = day - dt.timedelta(days=days - 1)
    run = _validate_part(
        prefix,
        county_only,
        start,
        day,
        rules=active_rules(),
        prm=screen.Params(),
        history_days=screen.HISTORY_DAYS,
        now=now,
    )
    return asdict(run)


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
# province, one query: the screened days of every area (the rules need them anyway) and the
# ``half_window`` days before them (the neighbours of the first days, and the repeat screen's
# day before), a row per area and day. The bounds then pick, in memory, the series with a
# value of at least ``min_value``, of those the ones with enough small neighbours
# (outliers.seasonal_may_flag_neighbours), of those the ones that pass the series bound, and
# of their areas the ones that pass the expectation bound; only those areas' whole history is
# read, and the whole screen runs on it as before, so the flags are the same
# (tests/intake/test_nightly_scale.py).


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


def _lead(prm: screen.Params) -> int:
    """How many days before the screened ones the bounded run reads with them: the seasonal
    screen's ``half_window`` (the neighbours of the first days), or the repeat screen's day
    before."""
    return prm.half_window if "seasonal" in prm.methods else int("repeat" in prm.methods)


def _bounded(prm: screen.Params, history_days: int, start: dt.date, end: dt.date) -> bool:
    """Whether the bounded read gives the whole screen's flags: no trailing robust z (its
    baseline reads the 28 days before), a panel too short for the seasonal screen's
    year-before weeks (with them, whether they count depends on each county's span), and a
    history at least as long as the days read before the screened ones (with less, the
    whole screen does not see the neighbours or the day before that the bounds count)."""
    span = history_days + (end - start).days + 1
    return (
        "robust_z" not in prm.methods
        and span <= 365 + prm.half_window
        and history_days >= _lead(prm)
    )


_LONG = {"area_code": pl.String, "date": pl.String, "indicator": pl.String, "value": pl.Float64}
_KEYS = ["area_code", "date"]
_CODES = "intake_nightly_codes"


def _fetch_long(sql: str, params: list[Any]) -> pl.DataFrame:
    frame = bulk.fetch_frame(sql, params, schema=_LONG)
    frame.columns = list(_LONG)
    return frame.with_columns(pl.col("date").cast(pl.String).str.slice(0, 10).str.to_date())


def _indicators_on(first: dt.date, last: dt.date) -> list[str]:
    """The indicators of the indicator table with a value on a day of [first, last], in any
    area: probes of the (date, indicator) index per indicator and day, up to its first value
    (a few milliseconds), which spares the pivot a column per indicator nobody reports (河南:
    8 of 14; each column is an expression evaluated on every value read). The probe is a
    lateral subquery with a limit, which PostgreSQL cannot turn into a join: as ``EXISTS``,
    over the values partitioned by date (reporting migration 0016) it was planned as a
    semi-join that read every value of the window, 0.7-0.9 s a partition of the nightly
    validation (21 s of the national cycle's database time)."""
    days = [(first + dt.timedelta(days=i)).isoformat() for i in range((last - first).days + 1)]
    if not days:
        return []
    value, indicator = ReportValue._meta.db_table, Indicator._meta.db_table
    marks = ", ".join(["%s"] * len(days))
    probe = f"SELECT 1 FROM {value} v WHERE v.date IN ({marks}) AND v.indicator_id = i.code"
    sql = (
        f"SELECT i.code FROM {indicator} i CROSS JOIN LATERAL ({probe} LIMIT 1) AS one"
        if bulk.is_postgres()  # SQLite has no LATERAL; it probes an EXISTS per indicator
        else f"SELECT i.code FROM {indicator} i WHERE EXISTS ({probe})"
    )
    found = bulk.rows(sql, days)
    return sorted(str(code) for (code,) in found)


def _fetch_wide(body: str, params: list[Any], codes: list[str]) -> pl.DataFrame:
    """The values of ``FROM … WHERE …`` (``body``, the values aliased ``v``) as a wide frame:
    a row per area and day that holds a value, a column per indicator of ``codes`` (null
    where nothing was reported), pivoted in SQL. Most of a night's reading was the fetch of
    one row per value (about 2 µs of this process's CPU each, in the driver's copy loop); a
    row per area-day is eight times fewer rows for a little more of the database's CPU
    (河南's week: 5.7 + 3.8 CPU s as values, 0.8 + 4.4 s as area-days, this process +
    PostgreSQL at load 5-7). The query also counts each area-day's values: as the unique
    key holds one value per indicator and area-day, a count above the row's reported
    columns is a value of an indicator not in ``codes``; then the values are read again
    one row each and pivoted here, so nothing is ever left out. (A count costs the backend
    less than testing every value's indicator against the list: 3.5-3.7 against 4.0-4.2 s
    of CPU for 河南's 14 days.)"""
    by_row = f"SELECT v.area_id, CAST(v.date AS TEXT), v.indicator_id, v.value {body}"
    if codes:
        columns = ", ".join(["MAX(CASE WHEN v.indicator_id = %s THEN v.value END)"] * len(codes))
        keys = [f"k{i}" for i in range(len(codes))]
        schema: dict[str, Any] = {"area_code": pl.String, "date": pl.String}
        schema |= {k: pl.Float64 for k in keys}
        schema["n"] = pl.Int64
        frame = bulk.fetch_frame(
            f"SELECT v.area_id, CAST(v.date AS TEXT), {columns}, COUNT(*) {body} "
            f"GROUP BY v.area_id, v.date",
            [*codes, *params],
            schema=schema,
        )
        frame.columns = list(schema)
        reported = pl.sum_horizontal([pl.col(k).is_not_null() for k in keys])
        if frame.filter(pl.col("n") != reported).is_empty():
            wide = frame.drop("n").rename(dict(zip(keys, codes, strict=True)))
            return wide.with_columns(pl.col("date").str.slice(0, 10).str.to_date())
    long = _fetch_long(by_row, params)
    if long.is_empty():
        return pl.DataFrame(schema={"area_code": pl.String, "date": pl.Date})
    return long.pivot(on="indicator", index=_KEYS, values="value")


def _long_of(wide: pl.DataFrame) -> pl.DataFrame:
    """``wide``'s values as a long frame (area_code, date, indicator, value)."""
    if wide.width <= len(_KEYS):
        return pl.DataFrame(schema=_LONG).with_columns(pl.col("date").str.to_date())
    return (
        wide.unpivot(index=_KEYS, variable_name="indicator", value_name="value")
        .drop_nulls("value")
        .select(list(_LONG))
    )


def _count_values(wide: pl.DataFrame) -> int:
    indicators = wide.columns[len(_KEYS) :]
    return wide.height * len(indicators) - sum(wide[c].null_count() for c in indicators)


def _values_in_part(
    prefix: str,
    county_only: bool,
    first: dt.date,
    last: dt.date,
    areas: pl.Series,
    key: int | None = None,
) -> pl.DataFrame:
    """The partition's values in [first, last], wide (:func:`_fetch_wide`); ``areas`` are the
    partition's codes (:func:`_populations`), ``key`` their fingerprint
    (:func:`screen_days.areas_key`, made here if not given). The days kept from an earlier
    night and not changed since come from their copies (:mod:`ruralwatch.intake.screen_days`),
    the others from the values (:func:`_read_values`, a run of consecutive days at a time),
    and those are kept for the next night. Columns: ``area_code``, ``date``, the indicators in
    code order."""
    taken = screen_days.take_changed()
    days = [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]
    key = screen_days.areas_key(areas) if key is None else key
    kept = screen_days.read(prefix, county_only, days, key)
    fresh: dict[dt.date, pl.DataFrame] = {}
    arrived: dict[dt.date, pl.DataFrame] = {}
    for run in consecutive_runs(d for d in days if d not in kept):
        wide = _read_values(prefix, county_only, run[0], run[-1], areas)
        subs = _read_arrivals(prefix, county_only, run[0], run[-1], areas)
        by_day = {d: f for (d,), f in wide.partition_by("date", as_dict=True).items()}
        subs_by_day = {d: f for (d,), f in subs.partition_by("date", as_dict=True).items()}
        for day in run:
            frame = by_day.get(day, wide.clear())
            fresh[day] = frame.select(
                [c for c in frame.columns if c in _KEYS or frame[c].null_count() < frame.height]
            )
            arrived[day] = subs_by_day.get(day, subs.clear()).drop("date")
    if fresh:
        # kept beyond the window: the cycle's assessment reads them too (screen_days.KEEP_DAYS)
        oldest = min(first, last - dt.timedelta(days=screen_days.KEEP_DAYS - 1))
        screen_days.keep(
            prefix,
            county_only,
            key,
            fresh,
            since=taken.since,
            older_than=oldest,
            arrivals=arrived,
        )
    frames = [f for f in (kept | fresh).values() if not f.is_empty()]
    if not frames:
        return pl.DataFrame(schema={"area_code": pl.String, "date": pl.Date})
    wide = pl.concat(frames, how="diagonal_relaxed")
    return wide.select(*_KEYS, *sorted(c for c in wide.columns if c not in _KEYS))


def _read_values(
    prefix: str, county_only: bool, first: dt.date, last: dt.date, areas: pl.Series
) -> pl.DataFrame:
    """The partition's values in [first, last] read from the values, wide.

    On PostgreSQL the values are read by those codes on the values' unique key (``area_id =
    ANY(…)``: one descent of the key per area, bounded by the dates), an index-only scan of
    the key that carries the value (reporting migration 0011). The key's range of the
    partition's codes (areas.selectors.code_range) would read every day stored of those
    areas, not only the window's (PostgreSQL 15 cannot skip within a range of the key's first
    column), and the planner then turned to the (date, indicator) index and read every
    province's values of the window once per province; joining the areas in SQL compared
    every value's code with theirs (a collation comparison each) and cost more than the read.
    河南's 14 days, 5.6 million values, parallel plans off, load 3-4: 2.9-3.0 s of backend
    CPU, the same as by the range on the bench's 14 days, and a window of two days out of
    them still reads the key area by area. Elsewhere (SQLite) the range of codes, or a join
    on the areas where there is none, and the rows kept to ``areas`` here: the same rows."""
    where, params, ranged = _of_partition("v", prefix, county_only, first, last, areas)
    wide = _fetch_wide(
        f"FROM {ReportValue._meta.db_table} v {where}", params, _indicators_on(first, last)
    )
    return wide.filter(pl.col("area_code").is_in(areas.implode())) if ranged else wide


def _of_partition(
    alias: str, prefix: str, county_only: bool, first: dt.date, last: dt.date, areas: pl.Series
) -> tuple[str, list[Any], bool]:
    """The ``JOIN … WHERE …`` that keeps a table of area-days (aliased ``alias``) to the
    partition's areas (``areas``, its codes) and [first, last], with its parameters, and
    whether it keeps the partition's code range, which may hold other areas (the caller keeps
    ``areas`` of what it read): by the codes on PostgreSQL (:func:`_read_values`), elsewhere by
    the range or, where the codes form none, joined to the areas."""
    days = f"WHERE {alias}.date BETWEEN %s AND %s"
    params: list[Any] = [first.isoformat(), last.isoformat()]
    if bulk.is_postgres():
        return f"{days} AND {alias}.area_id = ANY(%s)", [*params, areas.to_list()], False
    bounds = code_range(prefix)
    if bounds is None:
        where, more = screen_days.partition_sql(prefix, county_only)
        join = f"JOIN {Area._meta.db_table} a ON a.code = {alias}.area_id"
        return f"{join} {days} AND {where}", [*params, *more], False
    return f"{days} AND {alias}.area_id BETWEEN %s AND %s", [*params, *bounds], True


def _read_arrivals(
    prefix: str, county_only: bool, first: dt.date, last: dt.date, areas: pl.Series
) -> pl.DataFrame:
    """The partition's submissions in [first, last] (``area_code``, ``date``, ``delay_hours``),
    read as :func:`_read_values` reads its values and kept with their copies for the
    nowcast's triangle (:func:`screen_days.arrival_days`)."""
    where, params, ranged = _of_partition("s", prefix, county_only, first, last, areas)
    frame = bulk.fetch_frame(
        f"SELECT s.area_id, CAST(s.date AS TEXT), s.delay_hours "
        f"FROM {Submission._meta.db_table} s {where}",
        params,
        schema={"area_code": pl.String, "date": pl.String, "delay_hours": pl.Float64},
    ).with_columns(pl.col("date").str.slice(0, 10).str.to_date())
    return frame.filter(pl.col("area_code").is_in(areas.implode())) if ranged else frame


def _history_of(
    prefix: str, county_only: bool, key: int, codes: pl.Series, first: dt.date, last: dt.date
) -> pl.DataFrame:
    """Every value of the areas ``codes`` of the partition (whose areas' fingerprint is ``key``,
    :func:`screen_days.areas_key`) in [first, last], long: the seasonal screen's history of the
    series it may flag. The days an earlier night or import kept a copy of (and no writer changed
    since: the partition's read has just taken the marks) come from their copies, the others from
    the values, a run of consecutive days at a time (:func:`_values_of`). From the values alone,
    each day was a probe of the values' key per hot area in that day's partition, partitions the
    database had long stopped caching once it outgrew the machine's memory (with 60 days of national
    history the validation's servers took 14.3 s of CPU against 1.5 s with 14 days,
    docs/national-scale.md, session 30). Nothing read here is kept: it is not the partition's whole
    day."""
    if codes.is_empty() or first > last:
        return pl.DataFrame(schema=_LONG).with_columns(pl.col("date").str.to_date())
    days = [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]
    kept = screen_days.read(prefix, county_only, days, key)
    wanted = codes.unique().implode()
    frames = [_long_of(frame.filter(pl.col("area_code").is_in(wanted))) for frame in kept.values()]
    for run in consecutive_runs(d for d in days if d not in kept):
        frames.append(_values_of(codes, run[0], run[-1]))
    return pl.concat(
        [f.with_columns(pl.col("value").cast(pl.Float64)) for f in frames], how="vertical"
    )


def _values_of(codes: pl.Series, first: dt.date, last: dt.date) -> pl.DataFrame:
    """Every value of these areas in [first, last], long (one query: the codes go into a
    temporary table joined on the values' unique key)."""
    if codes.is_empty() or first > last:
        return pl.DataFrame(schema=_LONG).with_columns(pl.col("date").str.to_date())
    bulk.create_staging(_CODES, [("code", "varchar(12)")])
    try:
        bulk.load_staging(_CODES, codes.unique().to_frame("code"))
        value = ReportValue._meta.db_table
        return _long_of(
            _fetch_wide(
                f"FROM {value} v JOIN {_CODES} c ON c.code = v.area_id "
                f"WHERE v.date BETWEEN %s AND %s",
                [first.isoformat(), last.isoformat()],
                _indicators_on(first, last),
            )
        )
    finally:
        bulk.drop_staging(_CODES)


def _populations(prefix: str, county_only: bool) -> pl.DataFrame:
    where, params = screen_days.partition_sql(prefix, county_only)
    return bulk.fetch_columns(
        f"SELECT a.code, a.population FROM {Area._meta.db_table} a WHERE {where}",
        params,
        schema={"area_code": pl.String, engine.POPULATION: pl.Float64},
    )


@dataclass
class _Cube:
    areas: pl.Series  # sorted area codes
    days: list[dt.date]
    values: screen.FlagArray  # areas × indicators × days, NaN where nothing was reported


def _cube_of(wide: pl.DataFrame, first: dt.date, last: dt.date) -> _Cube:
    """``wide``'s days [first, last] as areas × indicators × days (the indicators that hold
    a value; an indicator with none would only add NaN, which no bound counts)."""
    days = [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]
    indicators = [c for c in wide.columns[len(_KEYS) :] if wide[c].null_count() < wide.height]
    areas = wide["area_code"].unique().sort()
    a = areas.search_sorted(wide["area_code"]).to_numpy()
    d = wide.select((pl.col("date") - pl.lit(first)).dt.total_days())["date"].to_numpy()
    cube = np.full((areas.len(), len(indicators), len(days)), np.nan)
    for k, code in enumerate(indicators):
        cube[a, k, d] = wide[code].cast(pl.Float64).to_numpy()
    return _Cube(areas, days, cube)


def _series_passing(
    cube: screen.FlagArray,
    ai: npt.NDArray[np.intp],
    ki: npt.NDArray[np.intp],
    bound: Callable[[screen.FlagArray], npt.NDArray[np.bool_]],
    skip: int,
    block: int,
) -> npt.NDArray[np.bool_]:
    """Whether ``bound`` (of each series alone, as an area of one indicator) marks a value
    of the series (area ``ai``, indicator ``ki``) from the ``skip``-th day on, ``block``
    series at a time."""
    out = np.zeros(ai.size, dtype=bool)
    for lo in range(0, ai.size, block):
        series = cube[ai[lo : lo + block], ki[lo : lo + block], :][:, None, :]
        out[lo : lo + block] = bound(series)[:, 0, skip:].any(axis=1)
    return out


def _seasonal_candidates(cube: _Cube, skip: int, prm: screen.Params) -> pl.Series:
    """The areas with a value from the ``skip``-th day of the cube on that the seasonal
    screen may flag (the cube starts ``half_window`` days before the screened ones), in
    rounds on fewer and fewer series: those with a value of at least ``min_value``; of
    those, the ones with enough neighbours small enough to count toward its ratio test
    (outliers.seasonal_may_flag_neighbours); the ones that pass against their own baseline
    (outliers.seasonal_may_flag_series); then every indicator of their areas against the
    expectation itself (outliers.seasonal_may_flag)."""
    values, days = cube.values, cube.days
    with np.errstate(invalid="ignore"):
        ai, ki = np.nonzero((values[:, :, skip:] >= prm.min_value).any(axis=2))
    block = prm.block * 8
    keep = _series_passing(
        values, ai, ki, lambda s: screen.seasonal_may_flag_neighbours(s, prm), skip, block
    )
    ai, ki = ai[keep], ki[keep]
    keep = _series_passing(
        values,
        ai,
        ki,
        lambda s: screen.seasonal_may_flag_series(s, screen.seasonal_baseline(s, prm, days), prm),
        skip,
        block,
    )
    areas = np.unique(ai[keep])
    hot: list[npt.NDArray[np.intp]] = [np.zeros(0, dtype=np.intp)]
    for lo in range(0, areas.size, prm.block):
        part = areas[lo : lo + prm.block]
        local = values[part]
        may = screen.seasonal_may_flag(local, screen.seasonal_expected(local, prm, days), prm)
        hot.append(part[may[:, :, skip:].any(axis=(1, 2))])
    return cube.areas.gather(np.concatenate(hot))


def _repeats(wide: pl.DataFrame, start: dt.date, end: dt.date, prm: screen.Params) -> pl.DataFrame:
    """outliers.repeats on a wide frame (days in [start, end] whose values, reported or not
    indicator by indicator, are the previous day's, with enough nonzero values): the same
    rows, without grouping every value of the week."""
    indicators = wide.columns[len(_KEYS) :]
    if not indicators or wide.is_empty():
        return pl.DataFrame(schema=screen.SCHEMA)
    nonzero = pl.sum_horizontal(
        [(pl.col(c) != 0).fill_null(False).cast(pl.Int64) for c in indicators]
    )
    days = wide.with_columns(nonzero.alias("nonzero")).filter(
        pl.col("date").is_between(start, end) & (pl.col("nonzero") >= prm.repeat_min_nonzero)
    )
    before = {c: f"p{i}" for i, c in enumerate(indicators)}
    prev = wide.select(
        "area_code",
        (pl.col("date") + pl.duration(days=1)).alias("date"),
        *[pl.col(c).alias(p) for c, p in before.items()],
    )
    same = days.join(prev, on=_KEYS).filter(
        pl.all_horizontal([pl.col(c).eq_missing(pl.col(p)) for c, p in before.items()])
    )
    return screen.repeat_flags(same)


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
    replaced and the others kept as the reporter left them. One read of the partition's
    days from ``half_window`` before ``start`` (the day before for the repeat screen alone)
    serves the rules, the repeat screen and the seasonal screen's bounds."""
    lead = _lead(prm)
    first = start - dt.timedelta(days=lead)
    pops = _populations(prefix, county_only)
    key = screen_days.areas_key(pops["area_code"])  # the copies' fingerprint, for both reads
    wide = _values_in_part(prefix, county_only, first, end, pops["area_code"], key)
    read = _count_values(wide)
    week = wide.filter(pl.col("date") >= start)
    found = None
    parts = [pl.DataFrame(schema=screen.SCHEMA)]
    if not week.is_empty():
        if with_rules and rules:
            found = engine.evaluate(rules, week.join(pops, on="area_code", how="left"))
        if "rule" in prm.methods and rules:
            parts.append(screen.rule_flags_of_wide(week, rules))
        if "repeat" in prm.methods:
            parts.append(_repeats(wide, start, end, prm))
        if "seasonal" in prm.methods:
            hot = _seasonal_candidates(_cube_of(wide, first, end), lead, prm)
            # The screen reads ``history_days`` before ``start``: from the database up to the
            # days already read, and those from memory.
            since = max(first, start - dt.timedelta(days=history_days))
            history = _history_of(
                prefix,
                county_only,
                key,
                hot,
                start - dt.timedelta(days=history_days),
                since - dt.timedelta(days=1),
            )
            read += history.height
            mine = wide.filter(pl.col("area_code").is_in(hot.implode()) & (pl.col("date") >= since))
            full = pl.concat([history, _long_of(mine)])
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
    where, params = screen_days.partition_sql(prefix, county_only)
    # The partition's code range on the tables' own area column (their area index reads the
    # province's rows): bounded by date and path alone, every partition read the flags of
    # the whole window, the nation's, and looked each one's area up (the nation: 31
    # partitions × 20,000 flags, 6.4 s of the database's time for the delete and the read).
    between, bounds = code_between(prefix, "area_id")
    mine = (
        f"area_id IN (SELECT a.code FROM {area} a WHERE {where}){between} "
        f"AND date BETWEEN %s AND %s"
    )
    params = [*params, *bounds, start.isoformat(), end.isoformat()]
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
