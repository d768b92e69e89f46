"""``ruralwatch evaluate-detection`` with tiny replicates writes the report and the CSV."""

from __future__ import annotations

from pathlib import Path

import polars as pl
from typer.testing import CliRunner

from ruralwatch.cli import app
from ruralwatch.epi.evaluate import BEGIN_MARK, END_MARK, SKIPPED_METHODS

runner = CliRunner(env={"COLUMNS": "250"})


def _run(tmp_path: Path, *extra: str) -> tuple[int, str]:
    res = runner.invoke(
        app,
        [
            "evaluate-detection",
            "--seed",
            "5",
            "--replicates",
            "1",
            "--output",
            str(tmp_path / "eval.md"),
            "--method",
            "ears-c1",
            "--method",
            "glr-nb",
            *extra,
        ],
    )
    return res.exit_code, res.output


def test_writes_report_and_csv(tmp_path: Path) -> None:
    code, output = _run(tmp_path)
    assert code == 0, output
    md = (tmp_path / "eval.md").read_text(encoding="utf-8")
    assert md.startswith("# ") and BEGIN_MARK in md and END_MARK in md
    assert "ruralwatch evaluate-detection --seed 5 --replicates 1" in md
    assert "| ears-c1 |" in md and "| glr-nb |" in md
    df = pl.read_csv(tmp_path / "eval.csv")
    assert set(df["method"]) == {"ears-c1", "glr-nb"}
    assert df.height == 2 * 12 * 5  # methods x scenarios x (clean + 4 sizes)
    assert {"fpr", "pod", "pod_first_week", "sensitivity", "specificity", "ppv"} <= set(df.columns)
    clean = df.filter(pl.col("k") == 0)
    assert (clean["clean_weeks"] == 49).all()


def test_rerun_keeps_text_around_the_marks_and_is_deterministic(tmp_path: Path) -> None:
    assert _run(tmp_path)[0] == 0
    first_csv = (tmp_path / "eval.csv").read_text(encoding="utf-8")
    path = tmp_path / "eval.md"
    path.write_text(
        "# Mine\n\nbefore\n\n" + path.read_text(encoding="utf-8").split("\n", 2)[2] + "\nafter\n",
        encoding="utf-8",
    )
    assert _run(tmp_path, "--csv", str(tmp_path / "again.csv"))[0] == 0
    md = path.read_text(encoding="utf-8")
    assert md.startswith("# Mine\n\nbefore") and md.rstrip().endswith("after")
    assert md.count(BEGIN_MARK) == 1
    assert (tmp_path / "again.csv").read_text(encoding="utf-8") == first_csv


def test_unknown_and_skipped_methods_are_usage_errors(tmp_path: Path) -> None:
    res = runner.invoke(app, ["evaluate-detection", "--method", "nope", "--replicates", "1"])
    assert res.exit_code == 2 and "unknown method" in res.output
    skipped = next(iter(SKIPPED_METHODS))
    res = runner.invoke(app, ["evaluate-detection", "--method", skipped, "--replicates", "1"])
    assert res.exit_code == 2 and "not evaluated" in res.output
