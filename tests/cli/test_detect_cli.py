"""``ruralwatch detect``: long-CSV mode, R compatibility mode against the oracles, errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
from typer.testing import CliRunner

from ruralwatch.cli import app
from ruralwatch.epi.detect import METHODS
from tests.epi.detect import oracle as O  # noqa: N812

runner = CliRunner(env={"COLUMNS": "250"})  # no wrapping of error panels

_R_NAME = {
    "algo.rki1": "rki",
    "algo.rki2": "rki",
    "algo.rki3": "rki",
    "algo.farrington": "farrington",
    "algo.cusum": "cusum",
    "algo.glrnb": "glrnb",
}


def _r_function(case: dict[str, Any]) -> str:
    return _R_NAME.get(case["r_function"], case["r_function"])


def _registry_name(case: dict[str, Any]) -> str:
    rf, ctl = _r_function(case), case["control"]
    return {
        "earsC": f"ears-{str(ctl.get('method', 'C1')).lower()}",
        "farrington": "farrington",
        "farringtonFlexible": "farrington-flexible",
        "cusum": "cusum",
        "glrnb": "glr-poisson" if ctl.get("alpha") == 0 else "glr-nb",
        "rki": case["variant"],
    }[rf]


def _cases() -> list[Any]:
    manifest = json.loads((O.ORACLES / "manifest.json").read_text(encoding="utf-8"))
    out = []
    for c in manifest["cases"]:
        if c["package"] != "surveillance" or _registry_name(c) not in METHODS:
            continue
        out.append(pytest.param(c, id=c["case_id"]))
    return out


def _tol(case: dict[str, Any]) -> tuple[float, float]:
    alg, ctl = case["algorithm"], case["control"]
    if alg in ("farrington", "farringtonFlexible"):
        return 1e-5, 1e-8
    if alg == "glrnb":
        return 1e-4, 1e-8
    if alg == "cusum" and ctl.get("m") == "glm":
        return 1e-6, 1e-12
    return 1e-9, 1e-12


@pytest.mark.parametrize("case", _cases())
def test_r_compat_mode_matches_oracle(case: dict[str, Any], tmp_path: Path) -> None:
    control = dict(case["control"])
    if _r_function(case) == "rki":
        control["method"] = case["variant"]
    dest = tmp_path / "out.csv"
    args = [
        "detect",
        "--r-function", _r_function(case),
        "--r-control", json.dumps(control),
        "--format", "oracle",
        "--freq", str(case["freq"]),
        "--r-start", f"{case['start'][0]},{case['start'][1]}",
        "--input", str(O.ORACLES / case["input_file"]),
        "--output", str(dest),
    ]  # fmt: skip
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    ours = pl.read_csv(dest, null_values=["NA"], infer_schema_length=0)
    theirs = O.load_output(case)
    assert ours.columns == list(theirs), (ours.columns, list(theirs))
    rtol, atol = _tol(case)
    cid = case["case_id"]
    col = {c: ours[c].cast(pl.Float64).fill_null(np.nan).to_numpy() for c in ours.columns}
    for name in theirs:
        if name == "alarm":
            continue
        if (
            name == "upperbound"
            and case["algorithm"] == "glrnb"
            and case["control"]["ret"] == "cases"
        ):
            continue  # an integer search given our own mu0 fit (checked in the glrnb tests)
        O.assert_close(col[name], theirs[name], rtol, atol, name, cid)
    if case["algorithm"] in ("cusum", "glrnb"):
        stat = theirs["cusum"] if case["algorithm"] == "cusum" else theirs["upperbound"]
        level = case["control"].get("h", case["control"].get("c.ARL"))
        tie = O.ties(stat, level, max(rtol, 1e-4), atol)
        if case["algorithm"] == "glrnb" and case["control"]["ret"] == "cases":
            tie = np.ones_like(tie)
        O.assert_alarms_match(col["alarm"], theirs["alarm"], tie, cid, propagate=True)
    else:
        tie = O.ties(theirs["observed"], theirs["upperbound"], rtol, atol)
        O.assert_alarms_match(col["alarm"], theirs["alarm"], tie, cid)


def _long_csv(path: Path) -> None:
    rng = np.random.default_rng(1)
    dates = np.arange(np.datetime64("2015-01-05"), np.datetime64("2021-01-04"), 7)
    rows = ["date,unit,observed,population"]
    for unit in ("110101", "110102"):
        y = rng.poisson(5.0, dates.size)
        y[-1] = 40
        rows += [f"{d},{unit},{v},1000" for d, v in zip(dates, y, strict=True)]
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")


def test_long_mode_farrington_flexible(tmp_path: Path) -> None:
    src, dest = tmp_path / "in.csv", tmp_path / "out.csv"
    _long_csv(src)
    res = runner.invoke(
        app,
        [
            "detect", "farrington-flexible", "--input", str(src), "--output", str(dest),
            "--freq", "week", "--param", "no_periods=10", "--param", "past_weeks_not_included=26",
            "--param", "threshold_method=nbPlugin", "--param", "limit54=[5,4]",
            "--monitor-last", "10",
        ],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    df = pl.read_csv(dest, schema_overrides={"unit": pl.String})
    assert df.columns[:7] == [
        "date",
        "unit",
        "observed",
        "expected",
        "upperbound",
        "alarm",
        "score",
    ]
    assert {"pvalue", "phi", "trend", "trend_coef", "mu0"} <= set(df.columns)
    assert df.height == 20
    assert df["unit"].unique().sort().to_list() == ["110101", "110102"]
    last = df.filter(pl.col("date") == df["date"].max())
    assert last["alarm"].to_list() == [1, 1]


def test_long_mode_monitor_from_and_freq_inferred(tmp_path: Path) -> None:
    src, dest = tmp_path / "in.csv", tmp_path / "out.csv"
    _long_csv(src)
    res = runner.invoke(
        app, ["detect", "ears-c1", "--input", str(src), "--output", str(dest),
              "--monitor-from", "2020-12-01"],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    df = pl.read_csv(dest)
    assert df["date"].min() >= "2020-12-01"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("date,unit,observed\n2020-01-06,1,3\n2020-13-01,1,4\n", "row 3, column date"),
        ("date,unit,observed\n2020-01-06,1,3\n2020-01-13,1,-4\n", "row 3, column observed"),
        ("date,unit\n2020-01-06,1\n", "missing column(s) observed"),
        ("date,unit,observed\n2020-01-06,1,3\n2020-01-06,1,4\n", "duplicate date"),
    ],
)
def test_bad_input_reports_row_and_column(tmp_path: Path, content: str, message: str) -> None:
    src = tmp_path / "in.csv"
    src.write_text(content, encoding="utf-8")
    res = runner.invoke(
        app, ["detect", "ears-c1", "--input", str(src), "--output", str(tmp_path / "o.csv")]
    )
    assert res.exit_code == 2
    assert message in res.output
    assert str(src) in res.output.replace("\n", "")


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    src = tmp_path / "in.csv"
    _long_csv(src)
    dest = str(tmp_path / "o.csv")
    for args in (
        ["detect", "no-such-method", "--input", str(src), "--output", dest],
        ["detect", "ears-c1", "--input", str(src), "--output", dest, "--param", "alpha"],
        ["detect", "ears-c1", "--input", str(src), "--output", dest, "--freq", "fortnight"],
        ["detect", "ears-c1", "--input", str(src), "--output", dest, "--param", "nonsense=1"],
        ["detect", "--r-function", "nope", "--format", "oracle", "--freq", "52",
         "--input", str(src), "--output", dest],
    ):  # fmt: skip
        res = runner.invoke(app, args)
        assert res.exit_code == 2, (args, res.output)
