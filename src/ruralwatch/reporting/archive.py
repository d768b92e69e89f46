"""Retention of village detail (issue 15): old report values and submissions moved to a file.

A year of national village reports is about two billion values. The task force's pages and
the cycle need the recent village detail (the assessment reads 90 days, outlier screening 63)
and the roll-ups of every date; old village detail is rarely read. ``archive(before)`` moves
the values and submissions dated before ``before`` into one Parquet file (zstd), checks the
file by reading it back, and only then deletes the rows, in one transaction; the roll-ups and
completeness of those dates stay. ``restore(file)`` puts the rows back. An archived date is
never rolled up again (its roll-ups would be computed from nothing) and imports refuse values
for it with a message that says how to restore it.

Apps above this one archive their village rows of the same dates in the same file and
transaction as :class:`Section` s (the village judgements, ``assessments.archive``);
``cycle.retention`` is the entry point that passes them, and the one the command calls."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

import polars as pl
from django.db import transaction
from django.utils.translation import gettext as _

from ruralwatch.core import archive as files
from ruralwatch.core import bulk
from ruralwatch.reporting import partitions
from ruralwatch.reporting.models import (
    ArchivedPeriod,
    ReportValue,
    Submission,
    ValidationPending,
)

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


class Section(Protocol):
    """Rows of an app above this one (reporting may not import it) archived with the village
    detail of the same dates, in the same file and transaction: ``cycle.retention`` passes
    them in. Its rows carry a ``kind`` column of one of ``kinds``, and a ``date`` column (ISO
    text) where they have a date."""

    kinds: tuple[str, ...]

    def take(self, start: dt.date, before: dt.date) -> pl.DataFrame:
        """The rows to archive of the dates in [start, before)."""
        ...

    def delete(self, start: dt.date, before: dt.date) -> None:
        """Delete what :meth:`take` returned (inside the archive's transaction)."""
        ...

    def put_back(self, rows: pl.DataFrame) -> None:
        """Insert the file's rows of its kinds that are missing (inside the restore's
        transaction); ``rows`` has every column of the file."""
        ...


@dataclass
class ArchiveSummary:
    file: str
    start: str | None
    end: str | None
    values: int
    submissions: int
    #: rows of the sections' kinds, by kind (``{"judgement": n, …}``)
    other: dict[str, int] = field(default_factory=dict)

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


def archive(before: dt.date, directory: Path, sections: Sequence[Section] = ()) -> ArchiveSummary:
    """Move the values and submissions dated before ``before`` (and after the last archived
    period), and the rows of ``sections`` of the same dates, to
    ``directory/village-detail-FIRST-LAST.parquet``; see the module doc."""
    last_end = ArchivedPeriod.objects.order_by("-end").values_list("end", flat=True).first()
    start = last_end + dt.timedelta(days=1) if last_end else dt.date.min
    if before <= start:
        return ArchiveSummary("", None, None, 0, 0)
    where, params = "date >= %s AND date < %s", [start.isoformat(), before.isoformat()]
    values = _select(ReportValue._meta.db_table, VALUE_SCHEMA, where, params)
    subs = _select(Submission._meta.db_table, SUBMISSION_SCHEMA, where, params)
    others = [section.take(start, before) for section in sections]
    parts = [
        values.with_columns(pl.lit("value").alias("kind")),
        subs.with_columns(pl.lit("submission").alias("kind")),
        *others,
    ]
    dates = pl.concat([p["date"] for p in parts if "date" in p.columns]).drop_nulls()
    if dates.is_empty():
        return ArchiveSummary("", None, None, 0, 0)
    first = dt.date.fromisoformat(str(dates.min())[:10])
    last = dt.date.fromisoformat(str(dates.max())[:10])
    directory.mkdir(parents=True, exist_ok=True)
    # recorded whole, so that a restore finds it from any working directory
    path = (directory / f"village-detail-{first}-{last}.parquet").resolve()
    both = pl.concat(parts, how="diagonal")
    digest = files.write_checked(both, path)
    with files.publishing(path):
        # The values' partitions wholly inside the period go with their rows; the rest of
        # its values (and submissions) are deleted.
        partitions.drop_within(start, before)
        for model in (ReportValue, Submission):
            bulk.execute(f"DELETE FROM {model._meta.db_table} WHERE {where}", params)
        for section in sections:
            section.delete(start, before)
        _validate_again(values)
        ArchivedPeriod.objects.create(
            start=first,
            end=last,
            file=str(path),
            sha256=digest,
            values=values.height,
            submissions=subs.height,
        )
    return ArchiveSummary(
        str(path),
        first.isoformat(),
        last.isoformat(),
        values.height,
        subs.height,
        _counts(pl.concat(others, how="diagonal") if others else None),
    )


def _validate_again(values: pl.DataFrame) -> None:
    """The dates of these village values, whose values went or came back, marked for the
    nightly validation to read again (its copies of them are stale; their roll-ups are not)."""
    ValidationPending.mark(
        dt.date.fromisoformat(str(d)[:10]) for d in values["date"].unique().to_list()
    )


def _counts(rows: pl.DataFrame | None) -> dict[str, int]:
    if rows is None or rows.is_empty():
        return {}
    return dict(rows.group_by("kind").len().sort("kind").iter_rows())


def restore(path: Path, sections: Sequence[Section] = ()) -> ArchiveSummary:
    """Put an archived period's rows back (idempotent) and forget the period. A file holding
    rows of a kind none of ``sections`` takes is refused: its period would be forgotten with
    those rows still only in the file."""
    # as given, or whole (older records kept the path as the command was given it)
    period = ArchivedPeriod.objects.filter(file__in={str(path), str(path.resolve())}).first()
    if period is None:
        raise ValueError(_("%(file)s is not a recorded archive") % {"file": path})
    both = files.read_checked(path, period.sha256)
    known = {"value", "submission"} | {k for s in sections for k in s.kinds}
    unknown = sorted(set(both["kind"].unique().to_list()) - known)
    if unknown:
        raise ValueError(
            _("%(file)s holds rows this restore cannot put back: %(kinds)s")
            % {"file": path, "kinds": ", ".join(unknown)}
        )
    values = both.filter(pl.col("kind") == "value").select(list(VALUE_SCHEMA))
    subs = both.filter(pl.col("kind") == "submission").select(list(SUBMISSION_SCHEMA))
    # SQLite keeps dates and times as the text they were read as.
    casts = {"value": "CAST(value AS REAL)", "delay_hours": "CAST(delay_hours AS REAL)"}
    if bulk.is_postgres():
        casts |= {
            "date": "CAST(date AS DATE)",
            "value": "CAST(value AS DOUBLE PRECISION)",
            "delay_hours": "CAST(delay_hours AS DOUBLE PRECISION)",
            "submitted_at": "CAST(submitted_at AS TIMESTAMPTZ)",
        }
    # the values' dates get their partitions back first (reporting.partitions)
    partitions.ensure(dt.date.fromisoformat(str(d)[:10]) for d in values["date"].unique())
    with transaction.atomic():
        files.insert_missing(
            ReportValue._meta.db_table, values, casts, "area_id, date, indicator_id"
        )
        files.insert_missing(Submission._meta.db_table, subs, casts, "area_id, date")
        for section in sections:
            # A file written before the section existed has none of its rows or columns.
            rows = both.filter(pl.col("kind").is_in(list(section.kinds)))
            if not rows.is_empty():
                section.put_back(rows)
        _validate_again(values)
        period.delete()
    return ArchiveSummary(
        str(path),
        period.start.isoformat(),
        period.end.isoformat(),
        values.height,
        subs.height,
        _counts(both.filter(~pl.col("kind").is_in(["value", "submission"]))),
    )
