"""``ruralwatch resources …`` (registry, stock, gaps) and ``ruralwatch allocate``."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer

from ruralwatch.cli._runtime import django_setup, fail, import_each, out

res_app = typer.Typer(
    help="Resources: the facility and capacity registry, stock, gaps and minimums.",
    no_args_is_help=True,
)


def _date(text: str | None, root_path: str) -> dt.date:
    """``--date``, or the latest stock report's date under the area (the data's date, not
    the wall clock's)."""
    from ruralwatch.core.dates import in_span, iso_day

    if not text:
        from ruralwatch.resources.selectors import latest_stock_date

        return latest_stock_date(root_path)
    day = iso_day(text.strip())
    if day is None or not in_span(day):
        raise fail(f"not a date (YYYY-MM-DD): {text}", 2)
    return day


def _area(code: str):  # type: ignore[no-untyped-def]
    from ruralwatch.areas.models import Area

    area = Area.objects.filter(code=code.strip()).first()
    if area is None:
        raise fail(f"unknown area {code}", 2)
    return area


@res_app.command("import-facilities")
def import_facilities_cmd(
    files: list[Path] = typer.Argument(..., help="Registry files (CSV, CSV.gz or XLSX)."),
    as_json: bool = typer.Option(False, "--json", help="Print the summaries as JSON."),
) -> None:
    """Import facilities and their capacity as of a date (each file all-or-nothing)."""
    django_setup()
    from ruralwatch.resources.services import import_facilities

    summaries, rejected = import_each(files, import_facilities)
    if as_json:
        print(json.dumps([s.as_dict() for s in summaries], ensure_ascii=False))
    else:
        for s in summaries:
            out.print(
                f"{s.file}: {s.rows} rows — facilities new {s.inserted}, changed {s.updated}, "
                f"unchanged {s.unchanged}; capacity rows {s.capacity_rows}",
                highlight=False,
            )
    if rejected:
        raise fail(f"{rejected} file(s) rejected; nothing from them was stored")


@res_app.command("import-stock")
def import_stock_cmd(
    files: list[Path] = typer.Argument(..., help="Stock report files (CSV, CSV.gz or XLSX)."),
    as_json: bool = typer.Option(False, "--json", help="Print the summaries as JSON."),
) -> None:
    """Import stock reports (on hand, received, issued; each file all-or-nothing)."""
    django_setup()
    from ruralwatch.resources.services import import_stock

    _import(files, import_stock, as_json)


@res_app.command("gaps")
def gaps_cmd(
    area: str = typer.Option(..., "--area", help="Area code (any level)."),
    date: str = typer.Option(
        None, "--date", help="Date (YYYY-MM-DD; default: the latest stock report's)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the gap lists as JSON."),
) -> None:
    """Coverage gaps and stock below the minimums under an area on a date."""
    django_setup()
    from ruralwatch.resources import selectors

    root = _area(area)
    on = _date(date, root.path)
    stock = selectors.stock_gaps(root.path, on)
    capacity = selectors.capacity_gaps(root.path, on)
    if as_json:
        print(
            json.dumps(
                {
                    "date": on.isoformat(),
                    "capacity": capacity,
                    "stock": stock.select(
                        "code",
                        "name",
                        "area",
                        "item",
                        "status",
                        "on_hand",
                        "minimum",
                        "days_consumption",
                        "days_demand",
                    ).to_dicts(),
                    "summary": selectors.resources_summary(root.path, on),
                },
                ensure_ascii=False,
                default=str,
            )
        )
        return
    for kind in selectors.CAPACITY_GAPS:
        out.print(f"{kind}: {sum(1 for g in capacity if g['kind'] == kind)}", highlight=False)
    for status in selectors.GAP_STATUSES:
        out.print(f"{status}: {int((stock['status'] == status).sum())}", highlight=False)


@res_app.command("import-pairings")
def import_pairings_cmd(
    files: list[Path] = typer.Argument(..., help="Pairing files (CSV, CSV.gz or XLSX)."),
    as_json: bool = typer.Option(False, "--json", help="Print the summaries as JSON."),
) -> None:
    """Import counties' pairings with urban hospitals of grade 2 or 3 (all-or-nothing)."""
    django_setup()
    from ruralwatch.resources.services import import_pairings

    _import(files, import_pairings, as_json)


@res_app.command("import-transfers")
def import_transfers_cmd(
    files: list[Path] = typer.Argument(..., help="Transfer files (CSV, CSV.gz or XLSX)."),
    as_json: bool = typer.Option(False, "--json", help="Print the summaries as JSON."),
) -> None:
    """Import referral transfers (patients per day and route; each file all-or-nothing)."""
    django_setup()
    from ruralwatch.resources.services import import_transfers

    _import(files, import_transfers, as_json)


def _import(files: list[Path], service: Callable[..., Any], as_json: bool) -> None:
    """Run an importer over each file and print its summary (new, changed, unchanged)."""
    summaries, rejected = import_each(files, service)
    if as_json:
        print(json.dumps([s.as_dict() for s in summaries], ensure_ascii=False))
    else:
        for s in summaries:
            out.print(
                f"{s.file}: {s.rows} rows — new {s.inserted}, changed {s.updated}, "
                f"unchanged {s.unchanged}",
                highlight=False,
            )
    if rejected:
        raise fail(f"{rejected} file(s) rejected; nothing from them was stored")


@res_app.command("referrals")
def referrals_cmd(
    area: str = typer.Option(..., "--area", help="Area code (any level)."),
    date: str = typer.Option(
        None, "--date", help="Date (YYYY-MM-DD; default: the latest transfer's)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the network as JSON."),
) -> None:
    """The referral network under an area: pairings, flows per route and the gaps."""
    django_setup()
    from ruralwatch.resources import selectors

    root = _area(area)
    on = _date(date, root.path) if date else selectors.latest_transfer_date(root.path)
    network = selectors.referral_network(root.path, on)
    if as_json:
        print(json.dumps(network, ensure_ascii=False, default=str))
        return
    t = network["totals"]
    out.print(
        f"{network['start']} … {network['date']}: {t['patients']} patients on {t['routes']} "
        f"routes ({t['severe']} severe, {t['green_channel']} green channel); "
        f"{len(network['pairings'])} pairing(s), {len(network['unpaired'])} county(ies) unpaired",
        highlight=False,
    )
    for kind in selectors.ROUTE_GAPS:
        n = sum(1 for g in network["gaps"] if g["kind"] == kind)
        out.print(f"{kind}: {n}", highlight=False)


def allocate(
    area: str = typer.Option(..., "--area", help="Area the shipment arrived at (a county)."),
    supply: list[str] = typer.Option(
        ..., "--supply", help="ITEM=UNITS, repeatable (e.g. --supply antigen_kit=5000)."
    ),
    date: str = typer.Option(
        None, "--date", help="Stock date (YYYY-MM-DD; default: the latest stock report's)."
    ),
    mode: str = typer.Option("weighted", "--mode", help="weighted (default) or maxmin."),
    transport: float = typer.Option(
        None, "--transport", help="Load one vehicle run to a township carries (volume units)."
    ),
    out_file: Path = typer.Option(None, "--out", help="Write the dispatch list (.xlsx or .csv)."),
    as_json: bool = typer.Option(False, "--json", help="Print the allocation as JSON."),
) -> None:
    """Allocate a shipment to the health centres and village clinics below an area: whole
    packs, minimums first, then weighted unmet need (or the max-min fill rate)."""
    parsed: dict[str, int] = {}
    for s in supply:
        item, _sep, units = s.partition("=")
        if not _sep or not units.strip().isdigit():
            raise fail(f"--supply must be ITEM=UNITS with a whole number (got {s!r})", 2)
        parsed[item.strip()] = int(units)
    if mode not in ("weighted", "maxmin"):
        raise fail(f"--mode must be weighted or maxmin (got {mode!r})", 2)
    if transport is not None and not transport > 0:
        raise fail("--transport must be a positive load", 2)
    if out_file is not None and out_file.suffix.lower() not in (".xlsx", ".csv"):
        raise fail("--out must name a .xlsx or .csv file", 2)
    django_setup()
    from ruralwatch.core.export import csv_text, xlsx_bytes
    from ruralwatch.resources import selectors

    root = _area(area)
    on = _date(date, root.path)
    try:
        result = selectors.allocate(root, on, parsed, mode=mode, transport=transport)
    except ValueError as exc:
        raise fail(str(exc), 2) from exc
    if out_file is not None:
        columns = selectors.allocation_columns()
        rows = [r for r in result.rows if r["units"] > 0]
        out_file.parent.mkdir(parents=True, exist_ok=True)
        if out_file.suffix.lower() == ".xlsx":
            out_file.write_bytes(xlsx_bytes(rows, columns, sheet=root.code))
        else:
            out_file.write_text(csv_text(rows, columns), encoding="utf-8-sig")
    if as_json:
        print(
            json.dumps(
                {
                    "area": result.area,
                    "date": on.isoformat(),
                    "mode": result.mode,
                    "supply": result.supply,
                    "totals": result.totals,
                    "rows": result.rows,
                },
                ensure_ascii=False,
                default=str,
            )
        )
        return
    t = result.totals
    for item in result.items:
        out.print(
            f"{item}: {t['units'][item]} of {result.supply[item]} units allocated, "
            f"need {t['need'][item]}, fill rate {t['fill_rate'][item]:.1%}",
            highlight=False,
        )
    out.print(
        f"minimums covered {t['minimum_covered']}/{t['minimum_total']}; objective "
        f"{t['objective']:.1f} of {t['objective_max']:.1f}; gap {t['mip_gap']:.1e}; "
        f"{t['seconds']} s",
        highlight=False,
    )


def register(app: typer.Typer) -> None:
    app.add_typer(res_app, name="resources")
    app.command("allocate")(allocate)
