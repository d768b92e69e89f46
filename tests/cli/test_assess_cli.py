"""``ruralwatch rt`` and ``ruralwatch mem``, in the long layout and in the R compatibility mode."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from ruralwatch.cli import app
from tests.shared import ORACLES

runner = CliRunner()


def _table(path: Path) -> tuple[list[str], list[list[str]]]:
    with path.open() as fh:
        rows = list(csv.reader(fh))
    return rows[0], rows[1:]


def _num(s: str) -> float:
    return np.nan if s in ("NA", "NaN") else float(s)


def _epiestim_cases() -> list[dict[str, Any]]:
    manifest = json.loads((ORACLES / "manifest.json").read_text())
    return [c for c in manifest["cases"] if c["package"] == "EpiEstim"]


@pytest.mark.parametrize("case", _epiestim_cases(), ids=lambda c: c["case_id"])
def test_rt_oracle_mode_reproduces_epiestim(case: dict[str, Any], tmp_path: Path) -> None:
    cfg = dict(case["control"])
    args = ["rt", "--format", "oracle", "--input", str(ORACLES / case["input_file"])]
    if case["si_distr_file"]:
        cfg["si_distr"] = None
        args += ["--si-distr", str(ORACLES / case["si_distr_file"])]
    out = tmp_path / "out.csv"
    args += ["--output", str(out), "--r-config", json.dumps(cfg)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    head, rows = _table(out)
    ref_head, ref_rows = _table(ORACLES / case["output_file"])
    assert head == ref_head
    assert len(rows) == len(ref_rows)
    mine = np.array([[_num(x) for x in r] for r in rows])
    ref = np.array([[_num(x) for x in r] for r in ref_rows])
    np.testing.assert_array_equal(np.isnan(mine), np.isnan(ref))
    ok = ~np.isnan(ref)
    np.testing.assert_allclose(mine[ok], ref[ok], rtol=1e-8, atol=0)


def test_rt_long_layout(tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    days = np.arange(np.datetime64("2023-01-01"), np.datetime64("2023-02-15"))
    src = tmp_path / "cases.csv"
    with src.open("w") as fh:
        fh.write("date,unit,cases\n")
        for u, r in (("110101", 0.05), ("110102", -0.03)):
            lam = 50 * np.exp(r * np.arange(days.size))
            for d, y in zip(days, rng.poisson(lam), strict=True):
                fh.write(f"{d},{u},{y}\n")
    out = tmp_path / "rt.csv"
    result = runner.invoke(
        app,
        ["rt", "--input", str(src), "--output", str(out), "--si-mean", "2.6", "--si-sd", "1.5"],
    )
    assert result.exit_code == 0, result.output
    head, rows = _table(out)
    assert head[:7] == ["unit", "t_start", "t_end", "date_start", "date_end", "mean", "std"]
    assert head[-2:] == ["cv", "reliable"]
    by_unit: dict[str, list[float]] = {}
    for r in rows:
        by_unit.setdefault(r[0], []).append(float(r[5]))
    assert len(by_unit["110101"]) == days.size - 7
    assert np.median(by_unit["110101"][5:]) > 1.05
    assert np.median(by_unit["110102"][5:]) < 0.98
    assert rows[0][3] == "2023-01-02" and rows[0][4] == "2023-01-08"


def test_rt_needs_a_serial_interval(tmp_path: Path) -> None:
    src = tmp_path / "c.csv"
    src.write_text("date,unit,cases\n2023-01-01,1,3\n2023-01-02,1,4\n")
    result = runner.invoke(app, ["rt", "--input", str(src), "--output", str(tmp_path / "o.csv")])
    assert result.exit_code != 0
