"""``ruralwatch evaluate-detection``: the detectors on simulated series with known outbreaks.

Simulates weekly baseline series after Noufaily et al. (2013) with injected outbreaks, runs the
registered detectors and writes the metrics: a Markdown report (the generated part of
``docs/detection-evaluation.md``, between its marks; the text around them is kept) and a CSV
with one row per method × scenario × outbreak size.
"""

from __future__ import annotations

import csv
import shlex
from pathlib import Path
from typing import Annotated, Any

import typer

from ruralwatch.cli._runtime import console, fail, out

TITLE = "Detection methods on simulated outbreaks"

_CSV_COLUMNS = (
    "method",
    "scenario",
    "level",
    "theta",
    "beta",
    "m",
    "phi",
    "k",
    "series",
    "fpr",
    "pod",
    "pod_first_week",
    "sensitivity",
    "specificity",
    "ppv",
    "median_delay",
    "undecided",
    "clean_weeks",
    "clean_alarms",
    "outbreaks",
    "detected",
    "detected_first_week",
    "outbreak_weeks",
    "outbreak_weeks_alarmed",
    "other_weeks",
    "other_weeks_alarmed",
    "weeks",
    "delays",
)


def _cell(v: Any) -> str:
    if isinstance(v, list):
        return ";".join(str(x) for x in v)
    if isinstance(v, float):
        return "" if v != v else f"{v:.10g}"
    return str(v)


def evaluate_cmd(
    seed: Annotated[int, typer.Option(help="Seed of the simulation (same seed, same result).")] = 1,
    replicates: Annotated[
        int, typer.Option(min=1, help="Baseline series per scenario (each also gets 4 outbreaks).")
    ] = 20,
    output: Annotated[
        Path, typer.Option(help="Markdown report; its generated part is replaced.")
    ] = Path("docs/detection-evaluation.md"),
    csv_path: Annotated[
        Path | None,
        typer.Option("--csv", help="Raw metrics CSV (default: the output with .csv)."),
    ] = None,
    method: Annotated[
        list[str] | None,
        typer.Option("--method", "-m", help="Only these methods (repeat the option)."),
    ] = None,
) -> None:
    """Evaluate the detectors on simulated weekly series with injected outbreaks."""
    from ruralwatch.epi.detect import METHODS
    from ruralwatch.epi.evaluate import (
        DEFAULT_METHODS,
        SKIPPED_METHODS,
        evaluate_detection,
        merge_report,
        report_markdown,
    )

    methods = list(method) if method else list(DEFAULT_METHODS)
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise fail(
            f"unknown method(s) {', '.join(unknown)}; valid: {', '.join(DEFAULT_METHODS)}", 2
        )
    skipped = [m for m in methods if m in SKIPPED_METHODS]
    if skipped:
        raise fail(f"{', '.join(skipped)}: not evaluated ({SKIPPED_METHODS[skipped[0]]})", 2)
    csv_out = csv_path or output.with_suffix(".csv")

    def progress(name: str) -> None:
        console.print(f"running {name} …", highlight=False)

    rows, seconds = evaluate_detection(
        seed=seed, replicates=replicates, methods=methods, progress=progress
    )
    parts = [
        "ruralwatch",
        "evaluate-detection",
        "--seed",
        str(seed),
        "--replicates",
        str(replicates),
    ]
    for m in method or []:
        parts += ["--method", m]
    command = shlex.join(parts)
    generated = report_markdown(rows, seconds, command=command, seed=seed, replicates=replicates)
    existing = output.read_text(encoding="utf-8") if output.exists() else None
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(merge_report(existing, generated, TITLE), encoding="utf-8")
    csv_out.parent.mkdir(parents=True, exist_ok=True)
    with csv_out.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(_CSV_COLUMNS)
        for r in rows:
            writer.writerow([_cell(r[c]) for c in _CSV_COLUMNS])
    out.print(f"wrote {output} and {csv_out} ({len(rows)} rows)", highlight=False)


def register(app: typer.Typer) -> None:
    app.command("evaluate-detection")(evaluate_cmd)
