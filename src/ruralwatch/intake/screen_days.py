"""Compact copies of the village values the nightly validation reads.

Every night the validation reads a partition's last two weeks of village values (the screened
week and the seven days before it, :mod:`ruralwatch.intake.nightly`), but on a normal night
only one of those days is new: the thirteen others were read, as the same rows, the night
before. At national scale that read was a third of the daily cycle's CPU (73 million values
through the values' key, grouped into a row per area and day). So each partition's day, as the
validation reads it, is kept here (:class:`~ruralwatch.intake.models.ScreenDay`: Arrow IPC,
zstd) and read back instead, as long as

- no writer has changed that date's values since: every writer of village values marks the
  dates it changes (``reporting.services.mark_changed``, in its own transaction), and
  :func:`take_changed`, which every read calls first, drops the copies of the marked dates
  and the marks together;
- the partition's areas are those the copy was made of (:func:`areas_key`): a new division
  list, a village moved or added, and the copy is read again from the values.

A copy holds exactly the rows the values would give (tests/intake/test_nightly_scale.py), so the
flags and violations are the same with or without copies; only the read is cheaper.

On PostgreSQL :func:`take_changed` first waits for the writers still marking dates (``LOCK
TABLE … IN SHARE ROW EXCLUSIVE MODE`` conflicts with their ``INSERT``'s lock until they
commit): a writer that marked a date before the marks were taken has then committed its values,
so the read that follows sees them; one that marks later leaves its mark for the next night.
The mode conflicts with itself too, so the partitions of one night, on several workers, take
the marks one after the other (in ``SHARE`` mode two of them could both hold it and then wait
for each other to delete: a deadlock the national benchmark met).

Partitions on several workers share the marks: one partition's take drops the copies of every
partition, but another partition may have read that date from the values before the writer's
change and keep it after that take, and the mark that would have dropped its copy is gone. So
each take is logged (:class:`~ruralwatch.intake.models.ScreenTake`), a partition remembers the
last take it saw when it took the marks itself, and :func:`keep` (under the same lock, so no
take falls between its check and its write) does not keep a day taken since: the next night
reads it from the values again. The log is kept for :data:`TAKES_KEPT` (a validation reads and
keeps within minutes).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import polars as pl
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from ruralwatch.areas.models import Area, Level
from ruralwatch.core import bulk
from ruralwatch.core.dates import consecutive_runs
from ruralwatch.intake.models import ScreenDay, ScreenTake
from ruralwatch.reporting.models import ReportValue, ValidationPending
from ruralwatch.reporting.selectors import values_by_area

#: Days up to a night's last day of which a partition's copies are kept: the assessment's
#: village series, ``assessments.services.HISTORY_DAYS`` days before the cycle's date and the
#: date itself (:func:`report_values`; a test keeps the two in step). About 100 kB a
#: province and day: some 300 MB for the nation.
KEEP_DAYS = 91
#: How long before the oldest day kept the copies of other partitions are kept.
FORGET_DAYS = 30
#: How long the log of takes is kept (far longer than a partition's read and keep).
TAKES_KEPT = dt.timedelta(days=1)


@dataclass(frozen=True)
class Taken:
    """What :func:`take_changed` took: the dates, and the last take logged when it did (pass
    it to :func:`keep`)."""

    dates: list[dt.date]
    since: int


def _lock_marks() -> None:
    """Wait for the writers still marking, and keep takes and keeps one at a time (PostgreSQL;
    SQLite has one writer at a time anyway)."""
    if bulk.is_postgres():
        bulk.execute(f"LOCK TABLE {ValidationPending._meta.db_table} IN SHARE ROW EXCLUSIVE MODE")


def take_changed() -> Taken:
    """The dates marked changed since the last call, their marks removed, their copies (of
    every partition) dropped and the take logged, in one transaction."""
    with transaction.atomic():
        _lock_marks()
        dates = sorted(ValidationPending.objects.values_list("date", flat=True))
        if dates:
            ScreenDay.objects.filter(date__in=dates).delete()
            ValidationPending.objects.filter(date__in=dates).delete()
            ScreenTake.objects.bulk_create([ScreenTake(date=d) for d in dates])
        since = ScreenTake.objects.aggregate(last=Max("id"))["last"] or 0
    return Taken(dates, since)


def last_take() -> int:
    """The id of the last take logged (0 if none): what a writer of whole days notes before
    it reads what its days hold (:func:`keep_written`)."""
    return ScreenTake.objects.aggregate(last=Max("id"))["last"] or 0


def keep_written(
    day: dt.date,
    copies: dict[tuple[str, bool], tuple[int, pl.DataFrame, pl.DataFrame | None]],
    *,
    since: int,
) -> bool:
    """Keep the copies of a day that a writer has just written whole, in its transaction
    (``copies``: for each partition and ``county_only``, its areas' key, its frame and its
    arrivals or ``None``, as :func:`keep` takes them), instead of marking the day changed;
    ``since`` is :func:`last_take` from before the writer read that the day held nothing.

    Nothing is kept (False: the writer marks the day as any writer does) if the day is marked
    changed, or a take of it was logged since ``since``: another writer's values of the day,
    which these copies lack, may have been stored meanwhile. Otherwise every copy of the day
    (of any partition: made while it held nothing) is dropped and a take of it is logged, so
    that a validation that read the day before the writer's commit does not keep its own
    (:func:`keep` refuses a day taken since its take); a writer that stores values of the day
    later marks it, as every writer does, and the next take drops these copies. The marks'
    lock, held to the writer's commit, makes the check and the write one step."""
    with transaction.atomic():
        _lock_marks()
        if (
            ValidationPending.objects.filter(date=day).exists()
            or ScreenTake.objects.filter(id__gt=since, date=day).exists()
        ):
            return False
        ScreenDay.objects.filter(date=day).delete()
        take = ScreenTake.objects.create(date=day)
        oldest = day - dt.timedelta(days=KEEP_DAYS - 1)
        for (partition, county_only), (key, frame, arrived) in copies.items():
            keep(
                partition,
                county_only,
                key,
                {day: frame},
                since=take.id,
                older_than=oldest,
                arrivals=None if arrived is None else {day: arrived},
            )
    return True


def partition_sql(prefix: str, county_only: bool) -> tuple[str, list[Any]]:
    """``a`` (the areas) restricted to a validation partition: the subtree of ``prefix``,
    only the areas under a county with ``county_only`` (as the county loop screened)."""
    return "a.path LIKE %s" + (" AND a.l3 <> ''" if county_only else ""), [prefix + "%"]


def areas_key(codes: pl.Series) -> int:
    """A fingerprint of a partition's area codes (signed 64 bits, for a ``bigint``)."""
    text = "\n".join(codes.sort().to_list()).encode()
    return int.from_bytes(hashlib.blake2b(text, digest_size=8).digest(), "big", signed=True)


def read(
    partition: str,
    county_only: bool,
    days: Iterable[dt.date],
    key: int,
    *,
    columns: list[str] | None = None,
) -> dict[dt.date, pl.DataFrame]:
    """The copies kept of these days of the partition, made of the areas ``key`` fingerprints:
    a frame per day (``area_code``, ``date``, a column per indicator), as :func:`keep` was
    given it; with ``columns``, only those of the indicators it holds (the others are not
    decompressed)."""
    found = ScreenDay.objects.filter(
        partition=partition, county_only=county_only, date__in=list(days), areas_hash=key
    ).values_list("date", "data")
    out = {}
    for day, data in found:
        buffer = io.BytesIO(bytes(data))
        held = None
        if columns is not None:
            names = pl.read_ipc_schema(buffer)
            held = ["area_code", *(c for c in columns if c in names)]
            buffer.seek(0)
        frame = pl.read_ipc(buffer, columns=held)
        out[day] = frame.select(
            "area_code", pl.lit(day, dtype=pl.Date).alias("date"), pl.exclude("area_code")
        )
    return out


def keep(
    partition: str,
    county_only: bool,
    key: int,
    frames: dict[dt.date, pl.DataFrame],
    *,
    since: int,
    older_than: dt.date | None = None,
    arrivals: dict[dt.date, pl.DataFrame] | None = None,
) -> None:
    """Keep these days of the partition (``frames``: a frame per day, a day with no value an
    empty one, read after the take ``since`` names), replacing what was kept of them, except
    the days a take after that one dropped (their frames may predate a change); with
    ``older_than``, the partition's copies of days before it are dropped (no later night or
    cycle reads them), and those of any partition (a subtree validated once, by hand) of days
    :data:`FORGET_DAYS` before it. ``arrivals``: the partition's submissions of (some of)
    these days (``area_code``, ``delay_hours``), read with the frames, kept with them for the
    nowcast's triangle (:func:`arrival_days`)."""
    arrived = arrivals or {}
    made = {
        day: _copy(partition, county_only, key, day, frame, arrived.get(day))
        for day, frame in frames.items()
    }
    mine = ScreenDay.objects.filter(partition=partition, county_only=county_only)
    with transaction.atomic():
        _lock_marks()
        stale = set(
            ScreenTake.objects.filter(id__gt=since, date__in=list(frames)).values_list(
                "date", flat=True
            )
        )
        mine.filter(date__in=list(frames)).delete()
        if older_than is not None:
            mine.filter(date__lt=older_than).delete()
            forgotten = older_than - dt.timedelta(days=FORGET_DAYS)
            ScreenDay.objects.filter(date__lt=forgotten).delete()
        ScreenTake.objects.filter(taken_at__lt=timezone.now() - TAKES_KEPT).delete()
        ScreenDay.objects.bulk_create([c for day, c in made.items() if day not in stale])


def _copy(
    partition: str,
    county_only: bool,
    key: int,
    day: dt.date,
    frame: pl.DataFrame,
    arrivals: pl.DataFrame | None = None,
) -> ScreenDay:
    # In the areas' order, whoever made it: an import's copy is in its file's order, a night's
    # in the order of its grouped read (the plan's): the same day is the same copy, byte for
    # byte, whichever made it.
    return ScreenDay(
        partition=partition,
        county_only=county_only,
        date=day,
        areas_hash=key,
        rows=frame.height,
        data=_ipc(frame.sort("area_code").drop("date")),
        arrivals=None if arrivals is None else _ipc(_arrival_rows(arrivals)),
    )


#: A copy's arrivals: the submissions of its day (:func:`arrival_days`).
ARRIVALS = {"area_code": pl.String, "delay_hours": pl.Float64}


def _arrival_rows(arrivals: pl.DataFrame) -> pl.DataFrame:
    return arrivals.select(
        pl.col("area_code").cast(pl.String), pl.col("delay_hours").cast(pl.Float64)
    ).sort("area_code")


def _ipc(frame: pl.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.write_ipc(buffer, compression="zstd")
    return buffer.getvalue()


def report_values(
    root_path: str, indicator: str, first: dt.date, last: dt.date, *, villages: bool = False
) -> pl.DataFrame:
    """``(area, date, value)`` of ``indicator`` reported on ``first``…``last`` by the areas
    under ``root_path`` (the villages only, with ``villages``): the rows of
    :func:`ruralwatch.reporting.selectors.values_by_area` (``"report"``), with the days a
    validation of that subtree kept a copy of read from the copies instead of the values.

    The cycle reads a province's villages by one probe of the values' key per village:
    detection for the last eight days (the single-case rule's ``deaths``), the assessment for
    its 91 (``new_cases``); the night's validation read and kept the same days of the same
    province (copies are kept :data:`KEEP_DAYS`). A copy stands for its day while no writer
    has marked the day changed (:func:`take_changed` drops the copies of a marked day with its
    mark, and :func:`keep` never keeps a day taken since its read), so a day with a mark, a
    day without a copy, or copies made of other areas (the partition's fingerprint,
    :func:`areas_key`) are read from the values, a run of days at a time; a day on which no
    area reported ``indicator`` at all is not read (one probe of the (date, indicator) index:
    a run costs a probe per village whatever its length, and a new deployment's first months
    have few days). The areas a county-only partition leaves out (those above the counties)
    are read from the values for the kept days by their codes. A change committed after the
    marks are looked at is read as before it, as a read of the values a moment earlier would;
    its mark stays for the next night."""
    level = Level.VILLAGE if villages else None
    days = [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]
    kept = _kept_days(_as_partition(root_path), indicator, days, villages)
    present = _reported_days(indicator, [d for d in days if d not in kept])
    frames = [
        *kept.values(),
        *(
            values_by_area("report", indicator, run[0], run[-1], root_path=root_path, level=level)
            for run in consecutive_runs(present)
        ),
    ]
    return pl.concat(frames) if frames else pl.DataFrame(schema=_ROWS)


def _as_partition(root_path: str) -> str:
    """The partition a validation keeps the copies of ``root_path``'s subtree under: the
    tree's root for the whole tree of one root (the validation's partitions are provinces, the
    cycle in one process reads "/"), else the path itself."""
    if root_path != "/":
        return root_path
    roots = list(Area.objects.filter(parent__isnull=True).values_list("path", flat=True)[:2])
    return roots[0] if len(roots) == 1 else root_path


def village_values(root_path: str, indicator: str, first: dt.date, last: dt.date) -> pl.DataFrame:
    """:func:`report_values` of the villages (level 5): detection's village series."""
    return report_values(root_path, indicator, first, last, villages=True)


#: The columns of :func:`report_values` (those of ``values_by_area``).
_ROWS = {"area": pl.String, "date": pl.Date, "value": pl.Float64}


def _reported_days(indicator: str, days: list[dt.date]) -> list[dt.date]:
    """The days of ``days`` on which some area reported ``indicator`` (one probe each of the
    values' (date, indicator) index)."""
    if not days:
        return []
    table = ReportValue._meta.db_table
    probes = " UNION ALL ".join(
        f"SELECT {i} WHERE EXISTS (SELECT 1 FROM {table} v "
        "WHERE v.date = %s AND v.indicator_id = %s)"
        for i in range(len(days))
    )
    params = [p for d in days for p in (d.isoformat(), indicator)]
    return [days[int(i)] for (i,) in bulk.rows(probes, params)]


@dataclass(frozen=True)
class _Usable:
    """The copies of a partition that stand for its days (:func:`_usable`)."""

    county_only: bool
    key: int
    days: list[dt.date]
    #: The partition's areas that are not villages and those its copies leave out
    #: (``code``, ``level``, ``outside``: 1 for the latter).
    others: pl.DataFrame


def _usable(root_path: str, days: list[dt.date]) -> _Usable | None:
    """The copies kept of ``root_path``'s partition that may stand for these days: made of
    its areas as they are now, of the days no writer has marked changed since; ``None``
    where there are none, or a village lies outside the copies' areas (a village outside
    every county: the values would be read for it anyway)."""
    made = set(
        ScreenDay.objects.filter(partition=root_path, date__in=days).values_list(
            "county_only", "areas_hash"
        )
    )
    if not made:
        return None
    marked = set(ValidationPending.objects.filter(date__in=days).values_list("date", flat=True))
    usable = [d for d in days if d not in marked]
    if not usable:
        return None
    for county_only in sorted({c for c, _ in made}):
        key, others = _partition_areas(root_path, county_only)
        if (county_only, key) not in made:
            continue
        outside = others.filter(pl.col("outside") == 1)
        if (outside["level"] == Level.VILLAGE).any():
            continue  # a village outside every county: as many probes as the values' read
        return _Usable(county_only, key, usable, others)
    return None


#: The partitions' areas read in the current :func:`areas_read_once` block, by (partition,
#: county only); ``None`` outside one.
_AREAS: ContextVar[dict[tuple[str, bool], tuple[int, pl.DataFrame]] | None] = ContextVar(
    "screen_days_areas", default=None
)


@contextmanager
def areas_read_once() -> Iterator[None]:
    """Within the block, a partition's areas (their fingerprint, :func:`areas_key`, and those
    that are not villages) are read once for every read of its copies: the assessment of a
    partition reads its copies twice, for the values (:func:`report_values`) and for the
    submissions (:func:`arrival_days`), and each worked them out anew (河南: 0.09 s each, a
    third of it the 53,429 codes). A step that reads a partition wraps its reads in one block:
    the copies it reads are then all checked against the same areas, as one read would."""
    token = _AREAS.set({})
    try:
        yield
    finally:
        _AREAS.reset(token)


def _partition_areas(root_path: str, county_only: bool) -> tuple[int, pl.DataFrame]:
    """The fingerprint of a validation partition's areas (:func:`areas_key`) and its areas
    that are not villages and those a county-only partition leaves out (``code``, ``level``,
    ``outside``: 1 for the latter); read once per :func:`areas_read_once` block."""
    read = _AREAS.get()
    if read is not None and (root_path, county_only) in read:
        return read[(root_path, county_only)]
    key = areas_key(partition_codes(root_path, county_only))
    # The areas that are not villages (few: a province's townships, counties and the areas
    # above them) and those a county-only copy leaves out; not the partition's every area
    # (山东's 81,535 as rows were about 0.1 s of this read's 0.25 s of CPU).
    where, params = partition_sql(root_path, county_only)
    left_out = f"CASE WHEN {where} THEN 0 ELSE 1 END"
    others = bulk.fetch_frame(
        f"SELECT a.code, a.level, {left_out} FROM {Area._meta.db_table} a "
        f"WHERE a.path LIKE %s AND (a.level <> %s OR {left_out} = 1)",
        [*params, root_path + "%", Level.VILLAGE, *params],
        schema={"code": pl.String, "level": pl.Int64, "outside": pl.Int64},
    )
    if read is not None:
        read[(root_path, county_only)] = (key, others)
    return key, others


def _kept_days(
    root_path: str, indicator: str, days: list[dt.date], villages: bool
) -> dict[dt.date, pl.DataFrame]:
    """The days of :func:`report_values` its copies hold, each as its rows."""
    use = _usable(root_path, days)
    if use is None:
        return {}
    copies = read(root_path, use.county_only, use.days, use.key, columns=[indicator])
    if not copies:
        return {}
    unwanted = use.others["code"] if villages else pl.Series(dtype=pl.String)
    rows = {day: _column_of(frame, indicator, unwanted) for day, frame in copies.items()}
    outside = use.others.filter(pl.col("outside") == 1)
    if not villages and outside.height:
        _add_outside(rows, indicator, outside)
    return rows


def arrival_days(root_path: str, days: list[dt.date]) -> dict[dt.date, pl.DataFrame]:
    """The submissions (``area_code``, ``delay_hours``) of those of ``days`` whose copies of
    ``root_path``'s partition (:func:`_as_partition`) stand for them and hold their
    arrivals: what the nowcast's reporting triangle reads
    (:func:`ruralwatch.reporting.selectors.delay_triangle`) instead of those days'
    submissions. Its every village's submissions of each day, and maybe those of other
    areas of the partition (the triangle keeps the villages). A copy's arrivals were read with
    its values, and a writer that adds or moves a submission writes values of its day, which
    marks the day (as for the values, :func:`report_values`); the other days are left out,
    for the caller to read.

    The triangle reads 36 days (the nowcast's window and its delays) of every village; from
    the submissions that was about 0.04 s of CPU per province-sized day (河南: 0.21-0.26 s of
    the process and 0.31-0.35 s of the database for 14 days), so some 18 s for the nation's
    36 days each cycle, for days that did not change."""
    partition = _as_partition(root_path)
    use = _usable(partition, days)
    if use is None:
        return {}
    found = ScreenDay.objects.filter(
        partition=partition,
        county_only=use.county_only,
        date__in=use.days,
        areas_hash=use.key,
        arrivals__isnull=False,
    ).values_list("date", "arrivals")
    return {day: pl.read_ipc(io.BytesIO(bytes(data or b""))) for day, data in found}


def partition_codes(root_path: str, county_only: bool) -> pl.Series:
    """The codes of a validation partition's areas (:func:`partition_sql`), for
    :func:`areas_key`: one text on PostgreSQL (山东's 81,517 as rows through COPY took this
    process 0.05–0.07 s, as one text 0.01 s)."""
    where, params = partition_sql(root_path, county_only)
    sql = f"SELECT a.code FROM {Area._meta.db_table} a WHERE {where}"
    return bulk.fetch_columns(sql, params, schema={"code": pl.String})["code"]


def _add_outside(rows: dict[dt.date, pl.DataFrame], indicator: str, outside: pl.DataFrame) -> None:
    """The values of the ``outside`` areas (a county-only copy has none of them: a province
    and its prefectures) over the kept days added to their ``rows``: by their codes, one
    probe of the values' key each (by their level under the subtree, the planner read every
    value of the subtree's days to find theirs)."""
    codes = outside["code"].to_list()
    marks = ", ".join(["%s"] * len(codes))
    found = bulk.fetch_frame(
        f"SELECT v.area_id, CAST(v.date AS TEXT), v.value FROM {ReportValue._meta.db_table} v "
        f"WHERE v.area_id IN ({marks}) AND v.indicator_id = %s AND v.date BETWEEN %s AND %s",
        [*codes, indicator, min(rows).isoformat(), max(rows).isoformat()],
        schema={"area": pl.String, "date": pl.String, "value": pl.Float64},
    ).with_columns(pl.col("date").str.slice(0, 10).str.to_date())
    for (day,), of_day in found.partition_by("date", as_dict=True).items():
        if day in rows:
            rows[day] = pl.concat([rows[day], of_day])


def _column_of(wide: pl.DataFrame, indicator: str, unwanted: pl.Series) -> pl.DataFrame:
    """A copy's values of ``indicator`` as ``(area, date, value)`` rows, but those of the
    ``unwanted`` areas (a copy leaves out an indicator nobody reported that day: no rows)."""
    if indicator not in wide.columns:
        return pl.DataFrame(schema=_ROWS)
    return wide.select(
        pl.col("area_code").alias("area"),
        "date",
        pl.col(indicator).cast(pl.Float64).alias("value"),
    ).filter(pl.col("value").is_not_null() & ~pl.col("area").is_in(unwanted.implode()))
