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
from collections.abc import Iterable
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
from ruralwatch.reporting.models import ValidationPending
from ruralwatch.reporting.selectors import values_by_area

#: How long before the oldest day a night reads the copies of other partitions are kept.
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


def partition_sql(prefix: str, county_only: bool) -> tuple[str, list[Any]]:
    """``a`` (the areas) restricted to a validation partition: the subtree of ``prefix``,
    only the areas under a county with ``county_only`` (as the county loop screened)."""
    return "a.path LIKE %s" + (" AND a.l3 <> ''" if county_only else ""), [prefix + "%"]


def areas_key(codes: pl.Series) -> int:
    """A fingerprint of a partition's area codes (signed 64 bits, for a ``bigint``)."""
    text = "\n".join(codes.sort().to_list()).encode()
    return int.from_bytes(hashlib.blake2b(text, digest_size=8).digest(), "big", signed=True)


def read(
    partition: str, county_only: bool, days: Iterable[dt.date], key: int
) -> dict[dt.date, pl.DataFrame]:
    """The copies kept of these days of the partition, made of the areas ``key`` fingerprints:
    a frame per day (``area_code``, ``date``, a column per indicator), as :func:`keep` was
    given it."""
    found = ScreenDay.objects.filter(
        partition=partition, county_only=county_only, date__in=list(days), areas_hash=key
    ).values_list("date", "data")
    out = {}
    for day, data in found:
        frame = pl.read_ipc(io.BytesIO(bytes(data)))
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
) -> None:
    """Keep these days of the partition (``frames``: a frame per day, a day with no value an
    empty one, read after the take ``since`` names), replacing what was kept of them, except
    the days a take after that one dropped (their frames may predate a change); with
    ``older_than``, the partition's copies of days before it are dropped (no later night reads
    them), and those of any partition (a subtree validated once, by hand) of days
    :data:`FORGET_DAYS` before it."""
    made = {day: _copy(partition, county_only, key, day, frame) for day, frame in frames.items()}
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
    partition: str, county_only: bool, key: int, day: dt.date, frame: pl.DataFrame
) -> ScreenDay:
    buffer = io.BytesIO()
    frame.drop("date").write_ipc(buffer, compression="zstd")
    return ScreenDay(
        partition=partition,
        county_only=county_only,
        date=day,
        areas_hash=key,
        rows=frame.height,
        data=buffer.getvalue(),
    )


def village_values(root_path: str, indicator: str, first: dt.date, last: dt.date) -> pl.DataFrame:
    """``(area, date, value)`` of ``indicator`` reported by the villages under ``root_path``
    on ``first``…``last``: the rows of :func:`ruralwatch.reporting.selectors.values_by_area`
    (``"report"``, level 5), with the days a validation of that subtree kept a copy of read
    from the copies instead of the values.

    The cycle's detection reads a province's villages for the last eight days (the
    single-case rule's ``deaths``), one probe of the values' key per village; seven of those
    days were read and kept by the night before's validation of the same province. A copy
    stands for its day while no writer has marked the day changed (:func:`take_changed` drops
    the copies of a marked day with its mark, and :func:`keep` never keeps a day taken since
    its read), so a day with a mark, a day without a copy, or copies made of other areas (the
    partition's fingerprint, :func:`areas_key`) are read from the values, a run of days at a
    time. A change committed after the marks are looked at is read as before it, as a read
    of the values a moment earlier would; its mark stays for the next night."""

    def stored(start: dt.date, end: dt.date) -> pl.DataFrame:
        frame: pl.DataFrame = values_by_area(
            "report", indicator, start, end, root_path=root_path, level=Level.VILLAGE
        )
        return frame

    days = [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]
    kept = _kept_villages(root_path, indicator, days)
    runs = consecutive_runs(d for d in days if d not in kept)
    frames = [*kept.values(), *(stored(run[0], run[-1]) for run in runs)]
    return pl.concat(frames) if frames else stored(first, last)


def _kept_villages(
    root_path: str, indicator: str, days: list[dt.date]
) -> dict[dt.date, pl.DataFrame]:
    """The days of :func:`village_values` its copies hold, each as its rows."""
    made = set(
        ScreenDay.objects.filter(partition=root_path, date__in=days).values_list(
            "county_only", "areas_hash"
        )
    )
    if not made:
        return {}
    marked = set(ValidationPending.objects.filter(date__in=days).values_list("date", flat=True))
    usable = [d for d in days if d not in marked]
    if not usable:
        return {}
    areas = bulk.fetch_frame(
        f"SELECT a.code, a.level, a.l3 FROM {Area._meta.db_table} a WHERE a.path LIKE %s",
        [root_path + "%"],
        schema={"code": pl.String, "level": pl.Int64, "l3": pl.String},
    ).with_columns(pl.col("l3").fill_null(""))
    villages = areas.filter(pl.col("level") == Level.VILLAGE)["code"]
    for county_only in sorted({c for c, _ in made}):
        mine = areas.filter(pl.col("l3") != "") if county_only else areas
        if county_only and mine.filter(pl.col("level") == Level.VILLAGE).height < villages.len():
            continue  # a village outside every county is not in the copies
        key = areas_key(mine["code"])
        if (county_only, key) not in made:
            continue
        return {
            day: _column_of(frame, indicator, villages)
            for day, frame in read(root_path, county_only, usable, key).items()
        }
    return {}


def _column_of(wide: pl.DataFrame, indicator: str, villages: pl.Series) -> pl.DataFrame:
    """A copy's values of ``indicator`` for ``villages`` as ``(area, date, value)`` rows (a
    copy leaves out an indicator nobody reported that day: no rows)."""
    schema = {"area": pl.String, "date": pl.Date, "value": pl.Float64}
    if indicator not in wide.columns:
        return pl.DataFrame(schema=schema)
    return wide.select(
        pl.col("area_code").alias("area"),
        "date",
        pl.col(indicator).cast(pl.Float64).alias("value"),
    ).filter(pl.col("value").is_not_null() & pl.col("area").is_in(villages.implode()))
