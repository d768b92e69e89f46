"""``ruralwatch keygroups …``: import rosters, audit "no omissions", overdue lists, indicators."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import typer

from ruralwatch.cli._runtime import django_setup, fail, import_each, out

kg_app = typer.Typer(
    help="Key groups: rosters, health-monitoring lists and the no-omissions audit.",
    no_args_is_help=True,
)


def _date(text: str | None) -> dt.date:
    if not text:
        from django.utils import timezone

        return timezone.localdate()
    try:
        return dt.date.fromisoformat(text)
    except ValueError as exc:
        raise fail(f"not a date (YYYY-MM-DD): {text}", 2) from exc


def _area(code: str):  # type: ignore[no-untyped-def]
    from ruralwatch.areas.models import Area

    area = Area.objects.filter(code=code).first()
    if area is None:
        raise fail(f"unknown area {code}", 2)
    return area


@kg_app.command("import")
def import_cmd(
    files: list[Path] = typer.Argument(..., help="Roster files (CSV, CSV.gz or XLSX)."),
    as_json: bool = typer.Option(False, "--json", help="Print the summaries as JSON."),
) -> None:
    """Import rosters; each file is all-or-nothing and re-importing is idempotent."""
    django_setup()
    from ruralwatch.keygroups.services import import_roster

    summaries, rejected = import_each(files, import_roster)
    if as_json:
        out.print_json(json.dumps([s.as_dict() for s in summaries], ensure_ascii=False))
    else:
        for s in summaries:
            out.print(
                f"{s.file}: {s.rows} rows — inserted {s.inserted}, updated {s.updated}, "
                f"unchanged {s.unchanged}",
                highlight=False,
            )
    if rejected:
        raise fail(f"{rejected} file(s) rejected; nothing from them was stored")


@kg_app.command("audit")
def audit_cmd(
    area: str = typer.Option(..., "--area", help="Area code (any level)."),
    date: str = typer.Option(None, "--date", help="Audit date (YYYY-MM-DD; default today)."),
    as_json: bool = typer.Option(False, "--json", help='Print {"findings": [...]} as JSON.'),
) -> None:
    """The "no omissions" audit of an area's subtree on a date."""
    django_setup()
    from ruralwatch.keygroups.selectors import audit, audit_summary

    findings = audit(_area(area), _date(date))
    if as_json:
        print(json.dumps({"findings": findings}, ensure_ascii=False, default=str))
        return
    for kind, n in audit_summary(findings).items():
        out.print(f"{kind}: {n}", highlight=False)


@kg_app.command("overdue")
def overdue_cmd(
    area: str = typer.Option(..., "--area", help="Area code (any level)."),
    date: str = typer.Option(None, "--date", help="Date (YYYY-MM-DD; default today)."),
    level: int = typer.Option(5, "--level", help="Group by this level (1–5)."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Registered, due and overdue contacts per area."""
    django_setup()
    from ruralwatch.keygroups.selectors import coverage

    rows = coverage(_area(area).path, _date(date), level)
    if as_json:
        print(json.dumps(rows, ensure_ascii=False))
        return
    for r in rows:
        out.print(
            f"{r['area']}: registered {r['registered']}, due {r['due']}, "
            f"overdue {r['overdue']}, coverage {r['coverage']}",
            highlight=False,
        )


@kg_app.command("indicators")
def indicators_cmd(
    date: str = typer.Option(None, "--date", help="Date (YYYY-MM-DD; default today)."),
    area: str = typer.Option(None, "--area", help="Limit to this subtree."),
    retier: bool = typer.Option(True, "--retier/--no-retier", help="Re-tier first."),
) -> None:
    """Re-tier and write the kg_* indicators into the report store for a date."""
    django_setup()
    from ruralwatch.keygroups import services

    on = _date(date)
    root = _area(area) if area else None
    if retier:
        services.retier(on, root_path=root.path if root else None)
    n = services.write_indicators(on, root)
    from ruralwatch.reporting.services import roll_up

    roll_up(on, on)
    out.print(f"{on}: {n} village values written and rolled up")


def register(app: typer.Typer) -> None:
    app.add_typer(kg_app, name="keygroups")
