"""``ruralwatch brief``: issue the scheduling-meeting briefing of an area for a date."""

from __future__ import annotations

import shutil
from pathlib import Path

import typer

from ruralwatch.cli._runtime import django_setup, fail, out


def brief(
    area: str = typer.Option(..., "--area", help="Area code (12 digits)."),
    date: str = typer.Option(..., "--date", help="Cycle date (YYYY-MM-DD)."),
    fmt: str = typer.Option("pdf", "--format", help="pdf or html."),
    lang: str = typer.Option("zh-hans", "--lang", help="zh-hans (default) or en."),
    out_file: Path | None = typer.Option(
        None, "--out", help="Also copy the briefing to this file (it is archived either way)."
    ),
) -> None:
    """Compose, render and archive the briefing; print where it is and how many pages."""
    from ruralwatch.core.dates import in_span, iso_day

    day = iso_day(date.strip())
    if day is None or not in_span(day):
        raise fail(f"--date must be a day written YYYY-MM-DD (got {date!r})", 2)
    if fmt.lower() not in ("pdf", "html"):
        raise fail(f"--format must be pdf or html (got {fmt!r})", 2)
    if lang.lower() not in ("zh-hans", "zh", "en"):
        raise fail(f"--lang must be zh-hans or en (got {lang!r})", 2)
    django_setup()
    from ruralwatch.areas.models import Area
    from ruralwatch.briefings.services import BriefingError, file_path, issue_briefing

    if not Area.objects.filter(code=area.strip()).exists():
        raise fail(f"unknown area {area!r} (no such code in the division list)", 2)
    try:
        briefing = issue_briefing(area.strip(), day, language=lang, fmt=fmt)
    except BriefingError as exc:
        raise fail(str(exc), 2) from exc
    path = file_path(briefing)
    if out_file is not None:
        out_file.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, out_file)
        path = out_file
    pages = f", {briefing.pages} page(s)" if briefing.pages else ""
    out.print(
        f"Briefing No. {briefing.issue} (revision {briefing.revision}) of {area} for {day}: "
        f"{path}{pages}, {briefing.size:,} bytes, {briefing.seconds:.1f} s",
        highlight=False,
        markup=False,
        soft_wrap=True,
    )


def register(app: typer.Typer) -> None:
    app.command("brief")(brief)
