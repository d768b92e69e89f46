"""``ruralwatch areas …``: load and inspect the division tree."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from ruralwatch.cli._runtime import console, django_setup, fail, out, progress_bar

areas_app = typer.Typer(
    help="Administrative divisions (province › … › village).", no_args_is_help=True
)


@areas_app.command("import")
def import_cmd(
    file: Path = typer.Argument(
        ...,
        help="Division list (CSV, CSV.gz, XLSX): code, name, level, parent_code[, urban_rural …].",
    ),
    root: str | None = typer.Option(
        None, "--root", help="Load only this unit, its ancestors and its subtree."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> None:
    """Import a National Bureau of Statistics division list (all-or-nothing, idempotent)."""
    django_setup()
    from ruralwatch.areas.services import import_areas
    from ruralwatch.core.problems import ImportRejected

    try:
        with progress_bar() as update:
            summary = import_areas(file, root=root, progress=update)
    except ImportRejected as exc:
        console.print(exc.render(limit=200), highlight=False, markup=False)
        raise fail(str(exc)) from exc
    if summary.imported or summary.updated:
        # Who reports and under which parent changed: the daily cycle rolls every date again.
        from ruralwatch.reporting.services import mark_rollups_stale

        mark_rollups_stale()
    if as_json:
        out.print_json(json.dumps(summary.as_dict(), ensure_ascii=False))
    else:
        out.print(
            f"{summary.file}: {summary.rows} areas — imported {summary.imported}, "
            f"updated {summary.updated}, unchanged {summary.unchanged}; "
            f"by level {summary.by_level}",
            highlight=False,
        )


@areas_app.command("boundaries")
def boundaries_cmd(
    file: Path = typer.Argument(
        ...,
        help="GeoJSON FeatureCollection (.geojson or .geojson.gz); each feature's 'code' "
        "(12 digits) or 'adcode' (6 digits) names its area.",
    ),
    derive: bool = typer.Option(
        True,
        "--derive/--no-derive",
        help="Then derive the shapes of the areas below that have only points (Voronoi).",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> None:
    """Import area boundaries (all-or-nothing, idempotent) and derive the shapes below."""
    django_setup()
    from ruralwatch.areas.services import import_boundaries
    from ruralwatch.core.problems import ImportRejected

    try:
        with progress_bar() as update:
            summary = import_boundaries(file, derive=derive, progress=update)
    except ImportRejected as exc:
        console.print(exc.render(limit=200), highlight=False, markup=False)
        raise fail(str(exc)) from exc
    if summary.imported or summary.updated:
        # Who reports and under which parent changed: the daily cycle rolls every date again.
        from ruralwatch.reporting.services import mark_rollups_stale

        mark_rollups_stale()
    if as_json:
        out.print_json(json.dumps(summary.as_dict(), ensure_ascii=False))
    else:
        out.print(
            f"{summary.file}: {summary.rows} boundaries — imported {summary.imported}, "
            f"updated {summary.updated}, unchanged {summary.unchanged}; "
            f"by level {summary.by_level}; derived below: {summary.derived}",
            highlight=False,
        )


def register(app: typer.Typer) -> None:
    app.add_typer(areas_app, name="areas")
