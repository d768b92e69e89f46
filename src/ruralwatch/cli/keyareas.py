"""``ruralwatch keyareas …``: key areas (三区一岛) — tags, their watch, support requests."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import typer

from ruralwatch.cli._runtime import console, django_setup, fail, out

keyareas_app = typer.Typer(
    help="Key areas (mountain, pastoral, forest, island): tags, watch, support requests.",
    no_args_is_help=True,
)


@keyareas_app.command("import")
def import_cmd(
    file: Path = typer.Argument(
        ..., help="CSV or XLSX: code, key_areas[, support_unit] (all-or-nothing, idempotent)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> None:
    """Import key-area tags and support units."""
    django_setup()
    from ruralwatch.core.problems import ImportRejected
    from ruralwatch.keyareas.services import import_tags

    try:
        summary = import_tags(file)
    except ImportRejected as exc:
        console.print(exc.render(limit=200), highlight=False, markup=False)
        raise fail(str(exc)) from exc
    if as_json:
        out.print_json(json.dumps(summary.as_dict(), ensure_ascii=False))
    else:
        out.print(
            f"{summary.file}: {summary.rows} rows — changed {summary.updated}, "
            f"unchanged {summary.unchanged}; tagged {summary.tagged}, cleared {summary.cleared}; "
            f"pairings set {summary.pairings}",
            highlight=False,
        )


@keyareas_app.command("derive")
def derive_cmd(
    root: str | None = typer.Option(None, "--root", help="Only under this area (code)."),
    apply: bool = typer.Option(False, "--apply", help="Store the tags (default: only list)."),
) -> None:
    """The default derivation of tags from real names (林场, 林业局, 牧场, …岛镇/乡) and
    inheritance by a tagged township's rural villages; never overwrites a tag."""
    django_setup()
    from ruralwatch.areas.models import Area
    from ruralwatch.keyareas.services import apply_derivation, derive_tags

    area = None
    if root is not None:
        area = Area.objects.filter(code=root).first()
        if area is None:
            raise fail(f"unknown area {root}")
    found = derive_tags(area)
    for d in found:
        out.print(f"{d.code}\t{d.name}\t{d.tags}\t{d.rule}", highlight=False)
    if apply:
        n = apply_derivation(area)
        out.print(f"tagged {n} area(s)", highlight=False)


@keyareas_app.command("panel")
def panel_cmd(
    code: str = typer.Argument(..., help="The area whose key areas to show."),
    date: str | None = typer.Option(None, "--date", help="YYYY-MM-DD (default: latest data)."),
) -> None:
    """The key-area panel of an area as JSON (what the pages and summary.json show)."""
    django_setup()
    from ruralwatch.areas.models import Area
    from ruralwatch.keyareas.selectors import summary
    from ruralwatch.reporting.selectors import latest_date

    area = Area.objects.filter(code=code).first()
    if area is None:
        raise fail(f"unknown area {code}")
    try:
        day = dt.date.fromisoformat(date) if date else latest_date()
    except ValueError as exc:
        raise fail(f"not a date: {date}") from exc
    if day is None:
        raise fail("no data yet")
    out.print_json(json.dumps(summary(area, day), ensure_ascii=False))


@keyareas_app.command("sync-requests")
def sync_requests_cmd() -> None:
    """Make tasks of the open support requests now, and close those answered (the daily
    cycle does it too; a timer may run this every few minutes)."""
    django_setup()
    from ruralwatch.dispatch.causes_keyareas import sync_support_requests

    out.print_json(json.dumps(sync_support_requests()))


def register(app: typer.Typer) -> None:
    app.add_typer(keyareas_app, name="keyareas")
