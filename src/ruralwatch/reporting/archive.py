"""Retention of village detail (issue 15): old report values and submissions moved to a file.

A year of national village reports is about two billion values. The task force's pages and
the cycle need the recent village detail (the assessment reads 90 days, outlier screening 63)
and the roll-ups of every date; old village detail is rarely read. ``archive(before)`` moves
the values and submissions dated before ``before`` into one Parquet file (zstd), checks the
file by reading it back, and only then deletes the rows, in one transaction; the roll-ups and
completeness of those dates stay. ``restore(file)`` puts the rows back. An archived date is
never rolled up again (its roll-ups would be computed from nothing) and imports refuse values
for it with a message that says how to restore it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import polars as pl
from django.db import transaction
from django.utils.translation import gettext as _

from ruralwatch.core import bulk
from ruralwatch.reporting.models import ArchivedPeriod, ReportValue, Submission

VALUE_SCHEMA: dict[str, Any] = {
    "area_id": pl.String,
    "date": pl.String,
    "indicator_id": pl.String,
    "value": pl.Float64,
    "reporter": pl.String,
    "submitted_at": pl.String,
}
SUBMISSION_SCHEMA: dict[str, Any] = {
    "area_id": pl.String,
    "date": pl.String,
    "submitted_at": pl.String,
    "delay_hours": pl.Float64,
    "reporter": pl.String,
}


@dataclass
class ArchiveSummary:
    file: str
    start: str | None
    end: str | None
    values: int
    submissions: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def archived_dates(start: dt.date, end: dt.date) -> set[dt.date]:
    """The dates in [start, end] whose village detail is archived."""
    out: set[dt.date] = set()
    for a, b in ArchivedPeriod.objects.filter(start__lte=end, end__gte=start).values_list(
        "start", "end"
    ):
        day = max(a, start)
        while day <= min(b, end):
            out.add(day)
            day += dt.timedelta(days=1)
    return out


def archive_period_of(day: dt.date) -> ArchivedPeriod | None:
    return ArchivedPeriod.objects.filter(start__lte=day, end__gte=day).first()


def _select(table: str, columns: dict[str, Any], where: str, params: list[Any]) -> pl.DataFrame:
    cols = ", ".join(f"CAST({c} AS TEXT)" if c in ("date", "submitted_at") else c for c in columns)
    frame = bulk.fetch_frame(f"SELECT {cols} FROM {table} WHERE {where}", params, schema=columns)
    frame.columns = list(columns)
    return frame


def archive(before: dt.date, directory: Path) -> ArchiveSummary:
    """Move the values and submissions dated before ``before`` (and after the last archived
    period) to ``directory/village-detail-FIRST-LAST.parquet``; see the module doc."""
    last_end = ArchivedPeriod.objects.order_by("-end").values_list("end", flat=True).first()
    start = last_end + dt.timedelta(days=1) if last_end else dt.date.min
    if before <= start:
        return ArchiveSummary("", None, None, 0, 0)
    where, params = "date >= %s AND date < %s", [start.isoformat(), before.isoformat()]
    values = _select(ReportValue._meta.db_table, VALUE_SCHEMA, where, params)
    subs = _select(Submission._meta.db_table, SUBMISSION_SCHEMA, where, params)
    if values.is_empty() and subs.is_empty():
        return ArchiveSummary("", None, None, 0, 0)
    dates = pl.concat([values["date"], subs["date"]])
    first = dt.date.fromisoformat(str(dates.min())[:10])
    last = dt.date.fromisoformat(str(dates.max())[:10])
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"village-detail-{first}-{last}.parquet"
    both = pl.concat(
        [
            values.with_columns(pl.lit("value").alias("kind")),
            subs.with_columns(pl.lit("submission").alias("kind")),
        ],
        how="diagonal",
    )
    partial = path.with_suffix(".partial")
    both.write_parquet(partial, compression="zstd", statistics=True)
    again = pl.read_parquet(partial)
    if again.height != both.height or again["value"].sum() != both["value"].sum():
        partial.unlink()
        raise RuntimeError(_("the archive %(file)s did not read back as written") % {"file": path})
    partial.replace(path)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    with transaction.atomic():
        for model in (ReportValue, Submission):
            bulk.execute(f"DELETE FROM {model._meta.db_table} WHERE {where}", params)
        ArchivedPeriod.objects.create(
            start=first,
            end=last,
            file=str(path),
            sha256=digest,
            values=values.height,
            submissions=subs.height,
        )
    return ArchiveSummary(
        str(path), first.isoformat(), last.isoformat(), values.height, subs.height
    )


def restore(path: Path) -> ArchiveSummary:
    """Put an archived period's rows back (idempotent) and forget the period."""
    period = ArchivedPeriod.objects.filter(file=str(path)).first()
    if period is None:
        raise ValueError(_("%(file)s is not a recorded archive") % {"file": path})
    if hashlib.sha256(path.read_bytes()).hexdigest() != period.sha256:
        raise ValueError(_("%(file)s changed since it was written (checksum)") % {"file": path})
    both = pl.read_parquet(path)
    values = both.filter(pl.col("kind") == "value").select(list(VALUE_SCHEMA))
    subs = both.filter(pl.col("kind") == "submission").select(list(SUBMISSION_SCHEMA))
    with transaction.atomic():
        for model, frame in ((ReportValue, values), (Submission, subs)):
            table = model._meta.db_table
            bulk.create_staging("stage_restore", [(c, "text") for c in frame.columns])
            bulk.load_staging("stage_restore", frame)
            # SQLite keeps dates and times as the text they were read as.
            casts = {"value": "CAST(value AS REAL)", "delay_hours": "CAST(delay_hours AS REAL)"}
            if bulk.is_postgres():
                casts |= {
                    "date": "CAST(date AS DATE)",
                    "value": "CAST(value AS DOUBLE PRECISION)",
                    "delay_hours": "CAST(delay_hours AS DOUBLE PRECISION)",
                    "submitted_at": "CAST(submitted_at AS TIMESTAMPTZ)",
                }
            select = ", ".join(casts.get(c, c) for c in frame.columns)
            key = "area_id, date, indicator_id" if model is ReportValue else "area_id, date"
            bulk.execute(
                f"INSERT INTO {table} ({', '.join(frame.columns)}) SELECT {select} "
                f"FROM stage_restore WHERE true ON CONFLICT ({key}) DO NOTHING"
            )
            bulk.drop_staging("stage_restore")
        period.delete()
    return ArchiveSummary(
        str(path), period.start.isoformat(), period.end.isoformat(), values.height, subs.height
    )
