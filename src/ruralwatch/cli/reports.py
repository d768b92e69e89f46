"""``ruralwatch reports …``: import village reports and roll them up."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import typer

from ruralwatch.cli._runtime import django_setup, fail, import_each, out

reports_app = typer.Typer(
    help="Daily village reports: import, roll-up, completeness.", no_args_is_help=True
)


@reports_app.command("import")
def import_cmd(
    files: list[Path] = typer.Argument(
        ..., help="CSV, CSV.gz or XLSX files (long or wide; UTF-8 or GB18030)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the summaries as JSON."),
    roll: bool = typer.Option(
        True, "--rollup/--no-rollup", help="Roll up the imported dates afterwards."
    ),
) -> None:
    """Import report files; each file is all-or-nothing and re-importing is idempotent."""
    django_setup()
    from ruralwatch.reporting.services import import_reports, roll_up

    summaries, rejected = import_each(files, import_reports)
    dates = sorted({d for s in summaries for d in s.dates})
    if dates:  # the validation rules' violations of those dates (docs/intake.md)
        from ruralwatch.intake.nightly import run_rules

        run_rules(dt.date.fromisoformat(dates[0]), dt.date.fromisoformat(dates[-1]))
    if roll and dates:
        roll_up(dt.date.fromisoformat(dates[0]), dt.date.fromisoformat(dates[-1]))
    if as_json:
        out.print_json(json.dumps([s.as_dict() for s in summaries], ensure_ascii=False))
    else:
        for s in summaries:
            out.print(
                f"{s.file}: {s.values} values from {s.rows} rows — imported {s.imported}, "
                f"updated {s.updated}, unchanged {s.unchanged}",
                highlight=False,
            )
    if rejected:
        raise fail(f"{rejected} file(s) rejected; nothing from them was stored")


@reports_app.command("rollup")
def rollup_cmd(
    start: str = typer.Option(..., "--from", help="First date (YYYY-MM-DD)."),
    end: str = typer.Option(..., "--to", help="Last date (YYYY-MM-DD)."),
) -> None:
    """Roll every indicator up to every ancestor level and recompute completeness."""
    django_setup()
    from ruralwatch.reporting.services import roll_up

    try:
        first, last = dt.date.fromisoformat(start), dt.date.fromisoformat(end)
    except ValueError as exc:
        raise fail(f"--from/--to must be YYYY-MM-DD: {exc}", 2) from exc
    s = roll_up(first, last)
    out.print(
        f"{s.start} … {s.end}: {s.aggregates} aggregates, {s.completeness_rows} completeness rows"
    )


@reports_app.command("keep-copies")
def keep_copies_cmd(
    day: str = typer.Option(..., "--day", help="The last day kept (YYYY-MM-DD)."),
) -> None:
    """Keep the nightly validation's copies of the 91 days up to --day that no night kept
    (after an upgrade from code that kept two weeks, or a history loaded in bulk), so that
    the cycle's assessment reads them instead of the values (docs/intake.md)."""
    django_setup()
    from ruralwatch.intake.nightly import keep_copies
    from ruralwatch.intake.screen_days import KEEP_DAYS

    try:
        last = dt.date.fromisoformat(day)
    except ValueError as exc:
        raise fail(f"--day must be YYYY-MM-DD: {exc}", 2) from exc
    parts = keep_copies(last)
    first = last - dt.timedelta(days=KEEP_DAYS - 1)
    out.print(f"{first} … {last}: the copies of {parts} partition(s) are kept", highlight=False)


@reports_app.command("archive")
def archive_cmd(
    before: str | None = typer.Option(
        None, "--before", help="Archive the village detail dated before this day (YYYY-MM-DD)."
    ),
    keep_days: int | None = typer.Option(
        None,
        "--keep-days",
        min=1,
        help="Keep this many days of village detail up to the latest report; archive the rest.",
    ),
    directory: Path | None = typer.Option(
        None,
        "--dir",
        help="Where the Parquet files go (default: RURALWATCH_ARCHIVE_DIR, var/archive).",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> None:
    """Move old village report values, submissions and judgements to a Parquet file;
    roll-ups and the judgements of townships and above stay."""
    django_setup()
    from django.conf import settings

    from ruralwatch.cycle.retention import archive
    from ruralwatch.reporting.models import ReportValue

    if (before is None) == (keep_days is None):
        raise fail("give exactly one of --before and --keep-days", 2)
    if before is not None:
        try:
            cut = dt.date.fromisoformat(before)
        except ValueError as exc:
            raise fail(f"--before must be YYYY-MM-DD: {exc}", 2) from exc
    else:
        latest = ReportValue.objects.order_by("-date").values_list("date", flat=True).first()
        if latest is None:
            raise fail("no village reports are stored", 1)
        cut = latest - dt.timedelta(days=(keep_days or 1) - 1)
    s = archive(cut, directory or settings.RURALWATCH_ARCHIVE_DIR)
    if as_json:
        out.print_json(json.dumps(s.as_dict(), ensure_ascii=False))
    elif not s.file:
        out.print(f"nothing dated before {cut} is left to archive")
    else:
        out.print(
            f"{s.start} … {s.end}: {s.values} values, {s.submissions} submissions and "
            f"{s.other.get('judgement', 0)} village judgements moved to {s.file}; their "
            "roll-ups are kept",
            highlight=False,
        )


@reports_app.command("restore")
def restore_cmd(
    file: Path = typer.Argument(..., help="A file written by `reports archive`."),
) -> None:
    """Put an archived period's village detail and village judgements back."""
    django_setup()
    from ruralwatch.cycle.retention import restore

    try:
        s = restore(file)
    except (ValueError, OSError) as exc:
        raise fail(str(exc), 1) from exc
    out.print(
        f"{s.start} … {s.end}: {s.values} values, {s.submissions} submissions and "
        f"{s.other.get('judgement', 0)} village judgements restored",
        highlight=False,
    )


def register(app: typer.Typer) -> None:
    app.add_typer(reports_app, name="reports")
