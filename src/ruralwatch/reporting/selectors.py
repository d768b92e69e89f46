"""Reads from the report store. Set-based: each function is one or a few queries.

Callers pass areas they obtained through :mod:`ruralwatch.accounts.access`; these functions do
no access control themselves.

Missing is not zero: a day without any value is ``None``, a 7-day window without any value
sums to ``None``, and an area without a population has no incidence.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from django.db.models import Count, Exists, F, Max, OuterRef, Q, Subquery, Sum

from ruralwatch.areas.models import SIGNIFICANT, Area, Level
from ruralwatch.areas.selectors import subtree_q, subtree_sql
from ruralwatch.reporting.models import (
    AggregateValue,
    Completeness,
    ReportValue,
    Submission,
    ValueChange,
)
from ruralwatch.reporting.services import deadline_hours

if TYPE_CHECKING:
    import polars as pl

PER = 100_000
#: A read of the reported values of an indicator under a subtree, ``(root_path, indicator,
#: first, last)`` to the ``(area, date, value)`` rows :func:`values_by_area` gives for them:
#: what the cycle hands detection and the assessment to read the villages' days the
#: validation kept (``intake.screen_days``) instead of the values.
ValuesRead = Callable[[str, str, dt.date, dt.date], "pl.DataFrame"]
#: A read of the submissions kept of some days of a subtree, ``(root_path, days)`` to a frame
#: (``area_code``, ``delay_hours``) per day it holds: what the cycle hands the nowcast's
#: triangle (:func:`delay_triangle`) to read the days the validation kept
#: (``intake.screen_days.arrival_days``) instead of the submissions.
ArrivalsRead = Callable[[str, list[dt.date]], "dict[dt.date, pl.DataFrame]"]


def latest_date() -> dt.date | None:
    """The latest date that has rolled-up values, else the latest reported date.

    One index lookup per level (``aggregate_level_date``) in one query: a MAX over the whole
    roll-up table read all of it on every page (130 ms on SQLite with a province's 60 days).
    """
    from django.db import connection

    table = connection.ops.quote_name(AggregateValue._meta.db_table)
    levels = [level for level in Level.values if level != Level.VILLAGE]
    per_level = " UNION ALL ".join(
        f'SELECT MAX("date") AS d FROM {table} WHERE "level" = %s' for _ in levels
    )
    with connection.cursor() as cur:
        cur.execute(f"SELECT MAX(d) FROM ({per_level}) AS per_level", levels)
        found = cur.fetchone()[0]
    latest: dt.date | None = dt.date.fromisoformat(found) if isinstance(found, str) else found
    if latest is None:
        latest = ReportValue.objects.aggregate(d=Max("date"))["d"]
    return latest


def is_nation(area: Area) -> bool:
    """Whether ``area`` is the whole stored tree as one unsaved area (code ``""``, path ``/``):
    the national overview of users who see everything (``dashboard.selectors.nation``)."""
    return not area.code


def own_rows(area: Area, prefix: str = "") -> Q:
    """Rows of ``area`` itself; for the nation, the rows of the roots of the tree (to be
    summed). ``prefix`` is the lookup to the area (``"area__"`` from a value row)."""
    if is_nation(area):
        return Q(**{f"{prefix}parent__isnull": True})
    return Q(**{f"{prefix}code": area.code})


def child_rows(area: Area, prefix: str = "") -> Q:
    """Rows of the children of ``area`` (for the nation: the roots of the tree)."""
    if is_nation(area):
        return Q(**{f"{prefix}parent__isnull": True})
    return Q(**{f"{prefix}parent_id": area.code})


def _days(start: dt.date, end: dt.date) -> list[dt.date]:
    return [start + dt.timedelta(days=i) for i in range((end - start).days + 1)]


def daily_series(
    area: Area, indicator_code: str, start: dt.date, end: dt.date
) -> list[tuple[dt.date, float | None]]:
    """One ``(date, value)`` per day in ``[start, end]``; ``None`` where nothing was reported.

    Villages read their reported values, levels 1–4 their roll-ups (one query either way);
    the nation sums the roll-ups of the roots.
    """
    model = ReportValue if area.level == Level.VILLAGE else AggregateValue
    rows = model.objects.filter(indicator_id=indicator_code, date__range=(start, end))
    if is_nation(area):
        found = dict(
            rows.filter(own_rows(area, "area__"))
            .values("date")
            .annotate(total=Sum("value"))
            .values_list("date", "total")
        )
    else:
        found = dict(rows.filter(area_id=area.code).values_list("date", "value"))
    return [(day, found.get(day)) for day in _days(start, end)]


def incidence(cases: float | None, population: int | None) -> float | None:
    """Cases per 100,000 population; ``None`` without cases data or population."""
    if cases is None or not population:
        return None
    return cases / population * PER


def village_incidence(
    area: Area, indicator_code: str, end: dt.date, days: int = 7
) -> list[dict[str, Any]]:
    """Like :func:`children_incidence`, for every village of ``area``'s subtree (a county map
    coloured village by village). Three queries whatever the number of villages."""
    start = end - dt.timedelta(days=days - 1)
    villages = list(
        Area.objects.filter(path__startswith=area.path, level=Level.VILLAGE)
        .order_by("code")
        .values("code", "name", "level", "population", "lon", "lat")
    )
    sums = {
        row["area_id"]: row
        for row in ReportValue.objects.filter(
            subtree_q(area.path),
            area__level=Level.VILLAGE,
            indicator_id=indicator_code,
            date__range=(start, end),
        )
        .values("area_id")
        .annotate(total=Sum("value"), n_days=Count("date", distinct=True))
    }
    received = set(
        Submission.objects.filter(subtree_q(area.path), date=end).values_list("area_id", flat=True)
    )
    rows = []
    for v in villages:
        got = sums.get(v["code"])
        cases = got["total"] if got else None
        rows.append(
            {
                **v,
                "cases": cases,
                "days_reported": got["n_days"] if got else 0,
                "incidence": incidence(cases, v["population"]),
                "expected": 1,
                "received": int(v["code"] in received),
                "completeness": float(v["code"] in received),
            }
        )
    return rows


def children_incidence(
    area: Area, indicator_code: str, end: dt.date, days: int = 7
) -> list[dict[str, Any]]:
    """For each child of ``area``: its window sum, incidence and completeness on ``end``.

    Keys: code, name, level, population, lon, lat, cases (sum over the ``days`` days ending
    on ``end``, ``None`` if nothing was reported), days_reported, incidence (per 100,000),
    expected, received, on_time and completeness (share of expected village reports received
    on ``end``). Three queries whatever the number of children. Sorted by code.
    """
    start = end - dt.timedelta(days=days - 1)
    children = list(
        Area.objects.filter(child_rows(area))
        .order_by("code")
        .values("code", "name", "level", "population", "lon", "lat")
    )
    if not children:
        return []
    villages = all(c["level"] == Level.VILLAGE for c in children)
    model = ReportValue if villages else AggregateValue
    sums = {
        row["area_id"]: row
        for row in model.objects.filter(
            child_rows(area, "area__"), indicator_id=indicator_code, date__range=(start, end)
        )
        .values("area_id")
        .annotate(total=Sum("value"), n_days=Count("date", distinct=True))
    }
    status: dict[str, tuple[int, int, int]] = {}
    if villages:
        deadline = deadline_hours()
        for code, delay in Submission.objects.filter(
            child_rows(area, "area__"), date=end
        ).values_list("area_id", "delay_hours"):
            status[code] = (1, 1, 1 if delay <= deadline else 0)
    else:
        status = {
            code: (expected, received, on_time)
            for code, expected, received, on_time in Completeness.objects.filter(
                child_rows(area, "area__"), date=end
            ).values_list("area_id", "expected", "received", "on_time")
        }
    rows = []
    for child in children:
        got = sums.get(child["code"])
        cases = got["total"] if got else None
        if villages:
            expected, received, on_time = status.get(child["code"], (1, 0, 0))
        else:
            expected, received, on_time = status.get(child["code"], (0, 0, 0))
        rows.append(
            {
                **child,
                "cases": cases,
                "days_reported": got["n_days"] if got else 0,
                "incidence": incidence(cases, child["population"]),
                "expected": expected,
                "received": received,
                "on_time": on_time,
                "completeness": received / expected if expected else None,
            }
        )
    return rows


def completeness_by_level(root_area: Area, date: dt.date) -> list[dict[str, Any]]:
    """Report completeness on ``date`` for each level of the subtree of ``root_area``.

    For each level from the root's down to townships: how many units there are, how many
    received every expected village report, and the summed expected, received and on-time
    village reports. One query.
    """
    rows = (
        Completeness.objects.filter(subtree_q(root_area.path), date=date)
        .values("level")
        .annotate(
            units=Count("id"),
            complete_units=Count("id", filter=Q(received=F("expected"))),
            expected=Sum("expected"),
            received=Sum("received"),
            on_time=Sum("on_time"),
        )
        .order_by("level")
    )
    return [
        {
            **row,
            "level_label": Level(row["level"]).label,
            "completeness": row["received"] / row["expected"] if row["expected"] else None,
            "timeliness": row["on_time"] / row["expected"] if row["expected"] else None,
        }
        for row in rows
    ]


def report_rows_outside(path: Any, allowed: Any) -> list[Any]:
    """Problems for rows of a report file whose area is not in ``allowed`` (an Area queryset,
    e.g. a user's :func:`~ruralwatch.accounts.access.scope_areas`).

    Read-only; meant to run before :func:`ruralwatch.reporting.services.import_reports`. Only
    well-formed (12-digit) codes are checked, the importer reports the rest. A code missing
    from the tree and one outside ``allowed`` get the same reason, so a rejection does not
    reveal which areas exist elsewhere. Raises ``ImportRejected`` if the file is unreadable.
    """
    from pathlib import Path

    import polars as pl
    from django.utils.translation import gettext as _

    from ruralwatch.core.tabular import canonical_columns, problems_where, read_table
    from ruralwatch.reporting.services import REPORT_ALIASES

    file = Path(path).name
    frame = canonical_columns(read_table(path), REPORT_ALIASES, ["area_code", "date"], file)
    well_formed = pl.col("area_code").str.contains(r"^\d{12}$")
    codes = frame.filter(well_formed)["area_code"].unique().to_list()
    inside: set[str] = set()
    for start in range(0, len(codes), 900):
        inside.update(
            allowed.filter(code__in=codes[start : start + 900]).values_list("code", flat=True)
        )
    outside = sorted(set(codes) - inside)
    if not outside:
        return []
    return problems_where(
        frame,
        well_formed & pl.col("area_code").is_in(outside),
        file,
        "area_code",
        pl.format(_("unknown area code {}"), pl.col("area_code")),
    )


def missing_villages(area: Area, day: dt.date, limit: int = 2000) -> list[dict[str, Any]]:
    """The villages of ``area``'s subtree active on ``day`` whose report of ``day`` has not
    arrived, by township and code, each with its township's name and its last report date.
    Two queries whatever the number of villages (at most ``limit`` rows)."""
    arrived = Submission.objects.filter(area_id=OuterRef("code"), date=day)
    last = Submission.objects.filter(area_id=OuterRef("code"), date__lt=day).order_by("-date")
    rows: list[dict[str, Any]] = [
        dict(r)
        for r in Area.objects.filter(level=Level.VILLAGE, path__startswith=area.path)
        .exclude(valid_from__gt=day)
        .exclude(valid_to__lt=day)
        .exclude(Exists(arrived))
        .annotate(last_report=Subquery(last.values("date")[:1]))
        .order_by("l4", "code")
        .values("code", "name", "l4", "last_report")[:limit]
    ]
    townships = dict(
        Area.objects.filter(code__in={r["l4"] for r in rows}).values_list("code", "name")
    )
    for r in rows:
        r["township"] = townships.get(r["l4"], "")
    return rows


def values_by_area(
    source: str,
    indicator: str,
    start: dt.date,
    end: dt.date,
    *,
    root_path: str = "/",
    level: int | None = None,
) -> Any:
    """``(area, date, value)`` of ``indicator`` for ``start``…``end``: the villages' reported
    values (``source`` ``"report"``) or the roll-ups (``"aggregate"``), of the areas under
    ``root_path`` (of ``level`` only, if given). One query; a missing day has no row.

    On PostgreSQL the query makes one text line per area, fetched in blocks of a township and
    split by polars (:func:`_lines`): ``COPY`` hands its rows to Python one at a time, and a
    read of every village's values is millions of rows (河南's 50,757 villages: 0.76 million for
    15 days, 4.5 million for the assessment's 91). Up to ``MASK_DAYS`` days the line holds the
    days that have a value as bits (:func:`_masked_cells`) and only the values that are not
    zero as ``day:value`` (the day counted from ``start``): most villages report zeros most
    days (90 % of 河南's 91 days), and each value made into text and gathered was most of the
    read. Longer reads (years of roll-ups for a baseline) list every value. The values' text
    is PostgreSQL's shortest exact form, as in the row-per-value CSV, so they parse to the same
    doubles."""
    import polars as pl

    from ruralwatch.core import bulk

    if source not in ("report", "aggregate"):
        raise ValueError(f"unknown source {source!r}")
    table = (ReportValue if source == "report" else AggregateValue)._meta.db_table
    area = Area._meta.db_table
    where = "v.indicator_id = %s AND v.date BETWEEN %s AND %s"
    params: list[Any] = [indicator, start.isoformat(), end.isoformat()]
    join = ""
    if level is not None or root_path != "/":
        # The whole tree needs no join on the areas (a third of the read on SQLite).
        join = f"JOIN {area} a ON a.code = v.area_id "
        under, bounds = subtree_sql(root_path, "a", "v.area_id")
        where += under
        params += bounds
    if level is not None:
        where += " AND a.level = %s"
        params.append(level)
        if source == "aggregate":
            # The roll-ups' own level too: the index (level, date) then reads the level's rows
            # only, not every level's of the years of baseline a county rule asks for (at 365
            # days of history the read scanned 8,800 pages for 8,030 rows, 0.24 s instead of
            # 0.05 s). A roll-up made before its area changed level is redone by the next
            # cycle (an area import marks every rolled-up date stale).
            where += " AND v.level = %s"
            params.append(level)
    if not bulk.is_postgres():
        frame = bulk.fetch_frame(
            f"SELECT v.area_id, CAST(v.date AS TEXT), v.value FROM {table} v {join}WHERE {where}",
            params,
            schema={"area": pl.String, "date": pl.String, "value": pl.Float64},
        )
        return frame.with_columns(pl.col("date").str.slice(0, 10).str.to_date())
    n_days = (end - start).days + 1
    day = f"(v.date - DATE '{start.isoformat()}')"  # a date's own text: no quoting needed
    cell = f"CAST({day} AS TEXT) || ':' || CAST(v.value AS TEXT)"
    if 0 < n_days <= MASK_DAYS:
        words = -(-n_days // 64)
        masks = " || ',' || ".join(
            f"CAST(bit_or(CAST(1 AS BIGINT) << {day}) AS TEXT)"
            if words == 1
            else f"CAST(coalesce(bit_or(CASE WHEN {day} BETWEEN {64 * w} AND {64 * w + 63} "
            f"THEN CAST(1 AS BIGINT) << ({day} - {64 * w}) END), 0) AS TEXT)"
            for w in range(words)
        )
        lines = _lines(
            f"SELECT v.area_id, {masks} || '|' || "
            f"coalesce(string_agg({cell}, ';') FILTER (WHERE v.value <> 0), '') "
            f"FROM {table} v {join}WHERE {where} GROUP BY v.area_id",
            params,
        )
        cells = _masked_cells(lines, n_days, words)
    else:
        cells = _cells(
            _lines(
                f"SELECT v.area_id, string_agg({cell}, ';') "
                f"FROM {table} v {join}WHERE {where} GROUP BY v.area_id",
                params,
            )
        ).with_columns(pl.col("x").cast(pl.Float64))
    return cells.select(
        "area",
        (pl.lit(start, dtype=pl.Date) + pl.duration(days=pl.col("day"))).alias("date"),
        pl.col("x").alias("value"),
    )


#: Reads of up to this many days send the days with a value as bits (:func:`values_by_area`):
#: two 64-bit words, which hold the assessment's 91 days.
MASK_DAYS = 128


def _masked_cells(lines: Any, n_days: int, words: int) -> Any:
    """``(area, day, x)`` (``x`` Float64) of the lines of a masked read: ``words`` masks of the
    days that have a value (bit ``d`` of word ``w`` is day ``64 w + d``; the words as signed
    decimals), ``|``, then the values that are not zero as ``day:value;…``. Every day of the
    masks holds 0 but those listed."""
    import numpy as np
    import polars as pl

    if lines.is_empty():
        return pl.DataFrame(schema={"area": pl.String, "day": pl.Int64, "x": pl.Float64})
    parts = lines.select(
        "area", pl.col("cells").str.split_exact("|", 1).struct.rename_fields(["m", "nz"])
    ).unnest("cells")
    masks = (
        parts.select(pl.col("m").str.split(",").list.to_array(words))
        .to_series()
        .cast(pl.Array(pl.Int64, words))
        .to_numpy()
        .reshape(-1, words)
    )
    # Bit d of each little-endian word: day 64 w + d (the sign bit is day 64 w + 63).
    bits = np.unpackbits(
        np.ascontiguousarray(masks.astype("<i8")).view(np.uint8), axis=1, bitorder="little"
    )[:, :n_days]
    row, day = np.nonzero(bits)  # row-major: sorted by line, then day
    key = row * n_days + day
    value = np.zeros(len(key))
    listed = _cells(
        parts.with_row_index("line").select("line", cells="nz").filter(pl.col("cells") != "")
    )
    if not listed.is_empty():
        at = listed["line"].cast(pl.Int64).to_numpy() * n_days + listed["day"].to_numpy()
        where = np.searchsorted(key, at)
        if (where >= len(key)).any() or (key[np.minimum(where, len(key) - 1)] != at).any():
            raise ValueError("a value's day is not among its area's reported days")
        value[where] = listed["x"].cast(pl.Float64).to_numpy()
    return pl.DataFrame(
        {"area": parts["area"].gather(row), "day": day.astype(np.int64), "x": value}
    )


def _lines(sql: str, params: list[Any]) -> Any:
    """The lines ``(area, cells)`` of a PostgreSQL query (:func:`values_by_area`), fetched in
    blocks: the lines of the areas of one township's code prefix (``SIGNIFICANT`` digits of
    level 4) joined into one row (``area=cells#area=cells…``) and split here. ``COPY`` hands its
    rows to Python one at a time, about 2.5 µs each: a line per village was 0.12 s of this
    process's CPU for 河南's 50,757 villages, a block per township about a twentieth of that. Run
    without JIT: a read of every village is costed high enough to be compiled, 0.2 s of backend
    CPU each time for a statement that runs once; and with 64 MB for the grouping, which sorted
    a province's village values on disk with the default 4 MB (the single-case rule's read on
    河南, 400,000 values: 1.34-1.41 s of backend CPU, 0.76-1.21 s with the memory, load 4-9)."""
    import polars as pl
    from django.db import transaction

    from ruralwatch.core import bulk

    with transaction.atomic():
        bulk.execute("SET LOCAL jit = off")
        bulk.execute("SET LOCAL work_mem = '64MB'")
        blocks = bulk.fetch_frame(
            f"SELECT string_agg(l.area || '=' || l.cells, '#') FROM ({sql}) l (area, cells) "
            f"GROUP BY left(l.area, {SIGNIFICANT[Level.TOWNSHIP]})",
            params,
            schema={"block": pl.String},
        )
    return (
        blocks.select(pl.col("block").str.split("#"))
        .explode("block")
        .select(pl.col("block").str.split_exact("=", 1).struct.rename_fields(["area", "cells"]))
        .unnest("block")
    )


def _cells(lines: Any) -> Any:
    """One row per cell of ``lines`` (the columns of a line, then ``cells``): the line's
    columns, ``day`` (Int64) and the cell's text ``x``."""
    import polars as pl

    keys = [c for c in lines.columns if c != "cells"]
    if lines.is_empty():
        return pl.DataFrame(
            schema={**{k: lines.schema[k] for k in keys}, "day": pl.Int64, "x": pl.String}
        )
    return (
        lines.select(*keys, pl.col("cells").str.split(";"))
        .explode("cells")
        .select(*keys, pl.col("cells").str.split_exact(":", 1).struct.rename_fields(["d", "x"]))
        .unnest("cells")
        .select(*keys, pl.col("d").cast(pl.Int64).alias("day"), "x")
    )


def arrival_moment(
    root_path: str, indicator_code: str, start: dt.date, end: dt.date
) -> dt.datetime | None:
    """The moment a subtree's reports for ``start``…``end`` describe: the latest first
    submission or correction of one of them (local time), ``None`` without reports. Two
    aggregate queries; :func:`delay_triangle` counts delays from it."""
    from django.db import connection
    from django.db.models import Max
    from django.utils import timezone

    subs = Submission._meta.db_table
    area = Area._meta.db_table
    where, args = "s.date BETWEEN %s AND %s", [start.isoformat(), end.isoformat()]
    join = ""
    if root_path != "/":
        join = f"JOIN {area} a ON a.code = s.area_id "
        under, bounds = subtree_sql(root_path, "a", "s.area_id")
        where += under
        args += bounds
    with connection.cursor() as cur:
        cur.execute(f"SELECT MAX(s.submitted_at) FROM {subs} s {join}WHERE {where}", args)
        latest = cur.fetchone()[0]
    if latest is None:
        return None
    if isinstance(latest, str):  # SQLite returns the text it stored
        latest = dt.datetime.fromisoformat(latest)
    if timezone.is_naive(latest):
        latest = timezone.make_aware(latest, dt.UTC)
    changes = ValueChange.objects.filter(indicator_id=indicator_code, date__range=(start, end))
    if root_path != "/":
        changes = changes.filter(area__path__startswith=root_path)
    fixed = changes.aggregate(at=Max("at"))["at"]
    return timezone.localtime(max(latest, fixed) if fixed is not None else latest)


def delay_triangle(
    root_path: str,
    indicator_code: str,
    start: dt.date,
    end: dt.date,
    *,
    now: dt.datetime | None = None,
    panel: tuple[Any, Any] | None = None,
    arrivals: ArrivalsRead | None = None,
) -> tuple[dt.datetime | None, Any]:
    """The reporting triangle of a subtree's villages: what arrived, by how late (nowcasting).

    Returns ``(now, rows)``: ``now`` is the latest first submission or correction (local time)
    of a report for ``start``…``end`` in the subtree, the moment the data describe (``None``
    without reports); ``rows`` a polars frame of the villages' values summed by ancestor
    (``l1``…``l4``), report ``date`` and ``delay`` in days counted at ``now``'s time of day
    (``value``; also ``squares``, the sum of the squared values, and ``reports``, their number:
    the cases of one report arrive together, which widens the nowcast's intervals). Delay ``d``
    holds the reports that arrived more than ``d - 1`` and at most ``d`` days after the same
    time of day as ``now`` on the report date (0 up to that time on the date itself), so the
    cell ``(date, d)`` is complete once ``date + d <= now``'s date. A report arrives at its
    first submission (``Submission``); the cases a correction adds (``ValueChange``) arrive when
    it was made (a correction down stays with the first arrival). Four queries, and two more
    per 900 corrected villages.

    ``now`` (aware) replaces the subtree's own moment (:func:`arrival_moment`): a subtree
    judged as a part of a larger tree (the cycle's partitions, ``cycle/distributed.py``) counts
    delays from the moment of the whole tree, so that its nowcast is the one the whole tree's
    run makes.

    ``panel`` ``(block, codes)``: the villages' values of the indicator when the caller has
    read them already (the assessment's panel): ``block[t, j]`` the value of the village
    ``codes[j]`` on ``start`` + ``t`` days (``start``…``end``, NaN where none). When those are
    every village of the subtree, the submissions are read alone and each arrival's value is
    read off the block, instead of joining the two tables in the database: the same rows.
    With a ``panel``, ``arrivals`` reads the submissions of the days it keeps (the cycle's:
    the validation's copies) and the others are read from the table.
    """
    import polars as pl
    from django.utils import timezone

    from ruralwatch.core import bulk

    subs = Submission._meta.db_table
    area = Area._meta.db_table
    value_table = ReportValue._meta.db_table
    where, args = "s.date BETWEEN %s AND %s", [start.isoformat(), end.isoformat()]
    if root_path != "/":
        under, bounds = subtree_sql(root_path, "a", "s.area_id")
        where += under
        args += bounds
    if now is None:
        now = arrival_moment(root_path, indicator_code, start, end)
    changes = ValueChange.objects.filter(indicator_id=indicator_code, date__range=(start, end))
    if root_path != "/":
        changes = changes.filter(area__path__startswith=root_path)
    fixes = list(
        changes.order_by("at").values_list(
            "area_id", "date", "at", "old_value", "new_value", *(f"area__l{k}" for k in range(1, 5))
        )
    )
    schema = {
        "l1": pl.String,
        "l2": pl.String,
        "l3": pl.String,
        "l4": pl.String,
        "date": pl.String,
        "delay": pl.Int64,
        "value": pl.Float64,
        "squares": pl.Float64,
        "reports": pl.Int64,
    }
    if now is None:
        return None, pl.DataFrame(schema=schema)
    now = timezone.localtime(now)
    hour = now.hour + now.minute / 60 + now.second / 3600
    # Grouped by the village's parent (one short key instead of four ancestor columns: the
    # hash or sort of the ~villages x days joined rows was most of the cost), whose own
    # ancestor columns are the village's; the value range on (date, indicator) is the index's.
    delay = "CAST(-FLOOR((%s - s.delay_hours) / 24.0) AS INTEGER)"
    if panel is not None:
        rows = _arrived(panel, root_path, delay, hour, start, end, arrivals)
        if rows is not None:
            if fixes:
                rows = _with_corrections(rows, fixes, indicator_code, now, hour)
            return now, rows
    rows = bulk.fetch_frame(
        f"SELECT t.l1, t.l2, t.l3, t.l4, CAST(g.date AS TEXT), g.delay, g.value, g.squares, "
        f"g.reports FROM (SELECT a.parent_id AS parent, s.date AS date, {delay} AS delay, "
        f"SUM(v.value) AS value, SUM(v.value * v.value) AS squares, COUNT(*) AS reports "
        f"FROM {value_table} v JOIN {subs} s ON s.area_id = v.area_id AND s.date = v.date "
        f"JOIN {area} a ON a.code = v.area_id "
        f"WHERE v.indicator_id = %s AND v.date BETWEEN %s AND %s AND {where} "
        f"GROUP BY a.parent_id, s.date, {delay}) g JOIN {area} t ON t.code = g.parent",
        [hour, indicator_code, start.isoformat(), end.isoformat(), *args, hour],
        schema=schema,
    )
    rows = rows.with_columns(
        pl.col("date").str.slice(0, 10).str.to_date(), pl.col("delay").clip(lower_bound=0)
    )
    if fixes:
        rows = _with_corrections(rows, fixes, indicator_code, now, hour)
    return now, rows


def _arrived(
    panel: tuple[Any, Any],
    root_path: str,
    delay: str,
    hour: float,
    start: dt.date,
    end: dt.date,
    arrivals: ArrivalsRead | None = None,
) -> Any:
    """:func:`delay_triangle`'s rows from the villages' values in memory (``panel``: the block
    of days ``start``…``end`` × villages and the villages' codes) and one read of the
    submissions (area, date, delay) and of the villages' ancestors; ``None`` when the panel
    does not hold every village of the subtree (some were left out of it).

    Each submission's value is read off the block at its day and its village's column, a
    gather of numpy arrays, instead of a frame of (area code, date, value) that the panel made
    (0.12 s) and that was joined to the villages and then to the submissions: on 河南's 746,039
    submissions the triangle took 0.63 s of this process's CPU, 0.39 s now.

    On PostgreSQL the submissions are read by the subtree's code range alone
    (:func:`ruralwatch.areas.selectors.code_range`), without the join on the areas' path: the
    villages read here by path are joined to them in memory anyway, so the rows are the same.
    They come as one text line per day (``area:delay;area:delay…``), grouped by the date, a
    few dozen groups: grouped by area, the read hashed or sorted every submission (on 河南 of
    the four-province database, 746,039 submissions of 36 days, with the join: 1.24 s of
    backend CPU, the hash spilling to disk; by day and code range: 0.56 s); on the national
    database the join's plan scans all 713,034 areas for each province, in parallel workers.
    Each day is a range of the submissions' (date, area) index, which carries the delay
    (reporting migration 0015): by the primary key's range of areas the read went through
    every stored day of them (河南 on the nation's 15 days: 0.42–0.47 s, a hash aggregate
    spilling to disk; by day 0.23–0.29 s, no spill, and no more with a year kept).

    ``arrivals`` (:data:`ArrivalsRead`) gives the submissions of the days it keeps; only the
    others are read here, a run of consecutive days at a time: the triangle's 36 days cost
    about 0.04 s of CPU per province-sized day read (河南, half of it the database's), the
    same days every cycle."""
    import numpy as np
    import polars as pl

    from ruralwatch.core import bulk
    from ruralwatch.core.dates import consecutive_runs

    block, codes = panel
    block = np.asarray(block, dtype=np.float64)
    if block.shape != ((end - start).days + 1, len(codes)):
        raise ValueError("the panel's block is (days start…end, villages)")
    area = Area._meta.db_table
    under, params = ("", []) if root_path == "/" else (" AND a.path LIKE %s", [root_path + "%"])
    levels = ["l1", "l2", "l3", "l4"]
    # The villages by their ancestors (a row per township: a row per village is 50,000
    # rows for 河南, each handed over on its own), numbered: the grouping of the ~villages x
    # days rows below is on integers (village, day from ``start``, delay), the codes only on
    # the groups' few thousand rows at the end.
    concat = "string_agg" if bulk.is_postgres() else "group_concat"
    by_ancestors = bulk.fetch_frame(
        f"SELECT a.l1, a.l2, a.l3, a.l4, {concat}(a.code, ';') FROM {area} a "
        f"WHERE a.level = 5{under} GROUP BY a.l1, a.l2, a.l3, a.l4",
        params,
        schema={**{level: pl.String for level in levels}, "areas": pl.String},
    ).with_row_index("group")
    number = (
        by_ancestors.select("group", pl.col("areas").str.split(";").alias("area"))
        .explode("area")
        .with_row_index("village")
    )
    # each village's column of the block (number order)
    column = number.join(
        pl.DataFrame({"area": pl.Series(codes, dtype=pl.String)}).with_row_index("column"),
        on="area",
        how="left",
        maintain_order="left",
    )["column"]
    if column.null_count():
        return None
    groups = by_ancestors.select("group", pl.col(levels).fill_null(""))
    days = [start + dt.timedelta(days=i) for i in range((end - start).days + 1)]
    kept = arrivals(root_path, days) if arrivals is not None else {}
    parts = [
        frame.select(
            pl.lit((day - start).days, dtype=pl.Int64).alias("day"),
            pl.col("area_code").alias("area"),
            # the statement's expression, in the same double arithmetic
            (-((hour - pl.col("delay_hours")) / 24.0).floor()).cast(pl.Int64).alias("delay"),
        )
        for day, frame in kept.items()
    ]
    for run in consecutive_runs(d for d in days if d not in kept):
        parts.append(_submitted(root_path, delay, hour, start, run[0], run[-1]))
    arrived = (
        pl.concat(parts)
        .join(number, on="area")
        .select("village", "group", "day", pl.col("delay").cast(pl.Int64))
    )
    value = block[arrived["day"].to_numpy(), column.to_numpy()[arrived["village"].to_numpy()]]
    known = ~np.isnan(value)  # a submission without a value has no cases to count
    cells = (
        arrived.filter(pl.Series(known))
        .with_columns(pl.Series("value", value[known], dtype=pl.Float64))
        .group_by("group", "day", "delay")
        .agg(
            pl.col("value").sum(),
            (pl.col("value") * pl.col("value")).sum().alias("squares"),
            pl.len().cast(pl.Int64).alias("reports"),
        )
    )
    return cells.join(groups, on="group").select(
        *levels,
        (pl.lit(start, dtype=pl.Date) + pl.duration(days=pl.col("day"))).alias("date"),
        pl.col("delay").clip(lower_bound=0),
        "value",
        "squares",
        "reports",
    )


def _submitted(
    root_path: str, delay: str, hour: float, start: dt.date, first: dt.date, last: dt.date
) -> Any:
    """The submissions of ``root_path``'s subtree on ``first``…``last`` (maybe with those of
    other areas in its code range: the caller keeps its villages) as ``day`` (from
    ``start``), ``area`` and ``delay`` (the statement ``delay`` at ``hour``): on PostgreSQL
    one text line per day, each a range of the (date, area) index (:func:`_arrived`)."""
    import polars as pl

    from ruralwatch.core import bulk

    subs, area = Submission._meta.db_table, Area._meta.db_table
    where = "s.date BETWEEN %s AND %s"
    args: list[Any] = [first.isoformat(), last.isoformat()]
    join = ""
    if root_path != "/":
        under, sub_bounds = subtree_sql(root_path, "a", "s.area_id")
        join, where, args = (
            f"JOIN {area} a ON a.code = s.area_id ",
            where + under,
            args + sub_bounds,
        )
    if bulk.is_postgres():
        from django.db import transaction

        from ruralwatch.areas.selectors import code_range

        bounds = code_range(root_path)
        if bounds is not None:
            # each day a range of the (date, area) index: the window's submissions of the
            # subtree and no others, whatever the history kept (a range of the areas on the
            # primary key read every stored day of them; the dates as a range of the index,
            # every area of each day)
            days = [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]
            join, where = "", "s.date = ANY(%s) AND s.area_id BETWEEN %s AND %s"
            args = [days, *bounds]
        # One line per day (``area:delay;…``): a row per submission was 0.76 million rows for
        # 河南 with 15 days of history, each handed to Python on its own.
        with transaction.atomic():
            # a statement that runs once: JIT would compile it for 0.2 s of backend CPU
            bulk.execute("SET LOCAL jit = off")
            by_day = bulk.fetch_frame(
                f"SELECT s.date - CAST(%s AS DATE), string_agg(s.area_id || ':' || "
                f"CAST({delay} AS TEXT), ';') FROM {subs} s {join}WHERE {where} GROUP BY s.date",
                [start.isoformat(), hour, *args],
                schema={"day": pl.Int64, "cells": pl.String},
            )
        return (
            by_day.select("day", pl.col("cells").str.split(";"))
            .explode("cells")
            .select(
                "day",
                pl.col("cells").str.split_exact(":", 1).struct.rename_fields(["area", "delay"]),
            )
            .unnest("cells")
            .select("day", "area", pl.col("delay").cast(pl.Int64))
        )
    return bulk.fetch_frame(
        f"SELECT s.area_id, CAST(s.date AS TEXT), {delay} FROM {subs} s {join}WHERE {where}",
        [hour, *args],
        schema={"area": pl.String, "date": pl.String, "delay": pl.Int64},
    ).select(
        _day(pl.col("date").str.slice(0, 10).str.to_date(), start),
        "area",
        "delay",
    )


def _day(date: Any, start: dt.date) -> Any:
    """The days from ``start`` to the dates of the expression ``date``, as ``day``."""
    import polars as pl

    return (date - pl.lit(start, dtype=pl.Date)).dt.total_days().alias("day")


def _with_corrections(
    rows: Any, fixes: list[tuple[Any, ...]], indicator: str, now: dt.datetime, hour: float
) -> Any:
    """Move the cases a correction added from the report's first arrival to the correction's
    own delay (``ValueChange``): they were late. A correction down is a fix, not a late case,
    and stays with the first arrival; the added cases of a day never exceed its current value.
    """
    import math

    import polars as pl

    def delay(day: dt.date, hours: float) -> int:
        # the SQL's expression, so that a report's first arrival lands in the same cell
        return max(0, -math.floor((hour - hours) / 24.0))

    days = {(f[0], f[1]) for f in fixes}
    codes = sorted({code for code, _day in days})
    lo, hi = min(d for _c, d in days), max(d for _c, d in days)
    first: dict[tuple[str, dt.date], float] = {}
    current: dict[tuple[str, dt.date], float] = {}
    for i in range(0, len(codes), 900):
        chunk = codes[i : i + 900]
        for code, day, hours in Submission.objects.filter(
            area_id__in=chunk, date__range=(lo, hi)
        ).values_list("area_id", "date", "delay_hours"):
            first[(code, day)] = hours
    for i in range(0, len(codes), 900):
        chunk = codes[i : i + 900]
        for code, day, value in ReportValue.objects.filter(
            area_id__in=chunk, date__range=(lo, hi), indicator_id=indicator
        ).values_list("area_id", "date", "value"):
            current[(code, day)] = value
    added: dict[tuple[str, dt.date], list[tuple[int, float, tuple[Any, ...]]]] = {}
    for code, day, at, old, new, *ancestors in fixes:
        more = (new or 0.0) - (old or 0.0)
        if more <= 0 or (code, day) not in first:
            continue
        start_local = dt.datetime.combine(day, dt.time(), tzinfo=now.tzinfo)
        hours = (at - start_local).total_seconds() / 3600
        added.setdefault((code, day), []).append((delay(day, hours), more, tuple(ancestors)))
    out: list[tuple[Any, ...]] = []
    for (code, day), parts in added.items():
        total = sum(more for _d, more, _a in parts)
        scale = min(1.0, current.get((code, day), 0.0) / total) if total > 0 else 0.0
        up = parts[0][2]
        out.append((*up, day, delay(day, first[(code, day)]), -total * scale))
        out.extend((*up, day, d, more * scale) for d, more, _a in parts)
    if not out:
        return rows
    extra = pl.DataFrame(
        out,
        schema={
            "l1": pl.String,
            "l2": pl.String,
            "l3": pl.String,
            "l4": pl.String,
            "date": pl.Date,
            "delay": pl.Int64,
            "value": pl.Float64,
        },
        orient="row",
    ).with_columns(pl.lit(0.0).alias("squares"), pl.lit(0, dtype=pl.Int64).alias("reports"))
    keys = ["l1", "l2", "l3", "l4", "date", "delay"]
    return (
        pl.concat([rows, extra.select(rows.columns)])
        .group_by(keys)
        .agg(pl.col("value", "squares", "reports").sum())
        .select(rows.columns)
    )
