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


# ------------------------------------------------------------------------------------ mem

MEM = ORACLES / "mem"
MEM_CASES = json.loads((MEM / "manifest.json").read_text())["cases"]
CLI_MEMMODEL = [
    c
    for c in MEM_CASES
    if c["r_function"] == "memmodel"
    and not c.get("r_error")
    and (
        c["variant"] in ("default", "types_median", "use_t", "levels") or c["series_id"] == "flucyl"
    )
    and not (c["series_id"] == "flucyl" and c["variant"] in ("method3", "method4"))
]
CLI_MEMTIMING = [
    c
    for c in MEM_CASES
    if c["r_function"] == "memtiming" and c["variant"] in ("method2_default", "method1")
]


def _close_str(a: str, b: str, rel: float = 1e-9, abs_: float = 1e-12) -> bool:
    x, y = _num(a), _num(b)
    if np.isnan(y):
        return bool(np.isnan(x))
    return abs(x - y) <= abs_ + rel * abs(y)


@pytest.mark.parametrize("case", CLI_MEMMODEL, ids=lambda c: c["case_id"])
def test_mem_oracle_mode_memmodel(case: dict[str, Any], tmp_path: Path) -> None:
    out = tmp_path / "summary.csv"
    args = ["mem", "--format", "oracle", "--input", str(MEM / case["input_file"])]
    args += ["--output", str(out), "--r-args", json.dumps(case["arguments"])]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    head, rows = _table(out)
    assert head == ["name", "value"]
    got = dict(rows)
    _, ref_rows = _table(MEM / case["files"]["summary"])
    for name, value in ref_rows:
        assert name in got
        if name.endswith(("_int", "_label")) and name != "start_label":
            continue  # knife-edge floor/ceiling: checked in tests/epi/assess/test_oracle_mem.py
        assert _close_str(got[name], value), (name, got[name], value)


@pytest.mark.parametrize("case", CLI_MEMTIMING, ids=lambda c: c["case_id"])
def test_mem_oracle_mode_memtiming(case: dict[str, Any], tmp_path: Path) -> None:
    out = tmp_path / "timing.csv"
    args = ["mem", "--format", "oracle", "--r-function", "memtiming"]
    args += ["--input", str(MEM / case["input_file"]), "--output", str(out)]
    args += ["--r-args", json.dumps(case["arguments"])]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    head, rows = _table(out)
    ref_head, ref_rows = _table(MEM / case["files"]["timing"])
    assert head == ref_head
    assert len(rows) == len(ref_rows)
    tol = {"h_method1": 1e-4, "h_fill": 1e-4, "decision_margin": 1e-4}
    for r, ref in zip(rows, ref_rows, strict=True):
        for k, a, b in zip(head, r, ref, strict=True):
            if k == "season":
                assert a == b
            else:
                assert _close_str(a, b, tol.get(k, 1e-9), 1e-9), (k, a, b)


def test_mem_plain_mode_with_params(tmp_path: Path) -> None:
    out = tmp_path / "s.csv"
    src = MEM / "inputs" / "flucyl.csv"
    args = ["mem", "--input", str(src), "--output", str(out)]
    args += ["--param", "i.type.threshold=1", "--param", "method=2", "--param", "seasons=NA"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    got = dict(_table(out)[1])
    ref = dict(_table(MEM / "memmodel" / "types_arith" / "flucyl__summary.csv")[1])
    assert _close_str(got["pre_threshold"], ref["pre_threshold"])
    bad = runner.invoke(app, ["mem", "--input", str(src), "--output", str(out), "--param", "x"])
    assert bad.exit_code != 0


SI_SUM = Path(__file__).parents[1] / "epi" / "assess" / "fixtures" / "epiestim_si_sum"


@pytest.mark.parametrize("n", [10, 14])
def test_rt_short_series_with_parametric_si_runs_as_epiestim(n: int, tmp_path: Path) -> None:
    """A parametric SI discretised over a short series loses mass: EpiEstim uses it as it is
    (with a warning when more than 0.01 is lost) and so does the command, with the same numbers."""
    case = "param_short14" if n == 14 else "param_short10_mers"
    mean_si, std_si = (2.6, 1.5) if n == 14 else (6.8, 4.1)
    lines = (SI_SUM / "incidence.csv").read_text().splitlines()[: n + 1]
    (tmp_path / "in.csv").write_text("\n".join(lines) + "\n")
    cfg = {"method": "parametric_si", "mean_si": mean_si, "std_si": std_si}
    args = ["rt", "--format", "oracle", "--input", str(tmp_path / "in.csv")]
    args += ["--output", str(tmp_path / "out.csv"), "--r-config", json.dumps(cfg)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert ("does not sum to 1" in result.output) == (n == 10)
    header, got = _table(tmp_path / "out.csv")
    want_header, want = _table(SI_SUM / f"{case}.csv")
    assert len(header) == len(want_header) and len(got) == len(want)  # R's names vs the fixture's
    for g, w in zip(got, want, strict=True):
        np.testing.assert_allclose([_num(x) for x in g], [_num(x) for x in w], rtol=1e-6)
