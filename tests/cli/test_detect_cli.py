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
from ruralwatch.epi.detect.base import Reason
from ruralwatch.epi.detect.rnames import R_FUNCTIONS, r_call
from tests.epi.detect import oracle as O  # noqa: N812

runner = CliRunner(env={"COLUMNS": "250"})  # no wrapping of error panels

# The R spellings of one call that R itself treats as the same call (checked in R 4.2.2 with
# surveillance 1.20.3: the sts function and its algo.* twin, glrpois and glrnb with alpha 0,
# algo.rkiN and algo.rki / rki with rkiN's b, w, actY give identical upper bounds and alarms).
_RKI_CONTROL = {
    "algo.rki1": {"b": 0, "w": 6, "actY": True},
    "algo.rki2": {"b": 1, "w": 6, "actY": True},
    "algo.rki3": {"b": 2, "w": 4, "actY": False},
}


def _spellings(case: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """(test id suffix, R function, control) that R answers with the case's oracle output."""
    rf, ctl = case["r_function"], dict(case["control"])
    out = [("", rf, ctl)]
    if rf.startswith("algo.") and rf[5:] in R_FUNCTIONS and not rf.startswith("algo.rki"):
        out.append((f"-{rf[5:]}", rf[5:], ctl))
    if rf == "algo.glrnb" and ctl.get("alpha") == 0:
        pois = {k: v for k, v in ctl.items() if k != "alpha"}
        out += [("-algo.glrpois", "algo.glrpois", pois), ("-glrpois", "glrpois", pois)]
    if rf in _RKI_CONTROL:
        given = {**ctl, **_RKI_CONTROL[rf]}
        out += [("-algo.rki", "algo.rki", given), ("-rki", "rki", given)]
        if rf == "algo.rki3":  # R's defaults for algo.rki / rki are rki3's settings
            out += [("-algo.rki-defaults", "algo.rki", ctl), ("-rki-defaults", "rki", ctl)]
    return out


def _cases() -> list[Any]:
    manifest = json.loads((O.ORACLES / "manifest.json").read_text(encoding="utf-8"))
    out = []
    for c in manifest["cases"]:
        if c["package"] != "surveillance":
            continue
        for suffix, rf, ctl in _spellings(c):
            if r_call(rf, ctl).method not in METHODS:
                continue
            out.append(pytest.param(c, rf, ctl, id=c["case_id"] + suffix))
    return out


def test_every_oracle_function_name_is_known() -> None:
    manifest = json.loads((O.ORACLES / "manifest.json").read_text(encoding="utf-8"))
    names = {c["r_function"] for c in manifest["cases"] if c["package"] == "surveillance"}
    assert names <= set(R_FUNCTIONS), names - set(R_FUNCTIONS)


def _tol(case: dict[str, Any]) -> tuple[float, float]:
    alg, ctl = case["algorithm"], case["control"]
    if alg in ("farrington", "farringtonFlexible"):
        return 1e-5, 1e-8
    if alg == "glrnb":
        return 1e-4, 1e-8
    if alg == "cusum" and ctl.get("m") == "glm":
        return 1e-6, 1e-12
    return 1e-9, 1e-12


@pytest.mark.parametrize(("case", "r_function", "control"), _cases())
def test_r_compat_mode_matches_oracle(
    case: dict[str, Any], r_function: str, control: dict[str, Any], tmp_path: Path
) -> None:
    dest = tmp_path / "out.csv"
    args = [
        "detect",
        "--r-function", r_function,
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


# --------------------------------------------------------------------------------------------
# R names outside the oracles' settings, --param types, wide input
# --------------------------------------------------------------------------------------------

FIXTURES = Path(__file__).resolve().parent / "fixtures"


@pytest.mark.parametrize("r_function", ["algo.rki", "rki"])
def test_rki_with_its_own_settings_matches_r(r_function: str, tmp_path: Path) -> None:
    # R output made by fixtures/rki__b1_w5_actY__salmonella.agona.R (b = 1, w = 5, actY = TRUE,
    # none of the three named variants).
    theirs = pl.read_csv(FIXTURES / "rki__b1_w5_actY__salmonella.agona.csv")
    control = {"range": {"first": 209, "last": 312}, "b": 1, "w": 5, "actY": True}
    dest = tmp_path / "out.csv"
    res = runner.invoke(
        app,
        [
            "detect", "--r-function", r_function, "--r-control", json.dumps(control),
            "--format", "oracle", "--freq", "52", "--r-start", "1990,1",
            "--input", str(O.ORACLES / "surveillance/inputs/salmonella.agona.csv"),
            "--output", str(dest),
        ],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    ours = pl.read_csv(dest)
    assert ours["t"].to_list() == theirs["t"].to_list()
    np.testing.assert_allclose(ours["upperbound"], theirs["upperbound"], rtol=1e-9, atol=1e-12)
    assert ours["alarm"].to_list() == theirs["alarm"].to_list()


@pytest.mark.parametrize(
    ("r_function", "control", "message"),
    [
        ("algo.nope", {}, "unknown R function 'algo.nope'"),
        ("algo.cusum", {"kk": 1}, "unknown control entry kk"),
        ("algo.rki1", {"b": 2}, "algo.rki1 fixes b = 0"),
        ("glrpois", {"alpha": 0.2}, "alpha must be 0"),
        ("earsC", {"method": "C4"}, "method must be C1, C2 or C3"),
    ],
)
def test_bad_r_calls_exit_2(
    r_function: str, control: dict[str, Any], message: str, tmp_path: Path
) -> None:
    res = runner.invoke(
        app,
        [
            "detect", "--r-function", r_function, "--r-control", json.dumps(control),
            "--format", "oracle", "--freq", "52",
            "--input", str(O.ORACLES / "surveillance/inputs/salmonella.agona.csv"),
            "--output", str(tmp_path / "o.csv"),
        ],
    )  # fmt: skip
    assert res.exit_code == 2, res.output
    assert message in res.output


_NOUFAILY = O.cases("farringtonFlexible")
_NEWPORT = next(c for c in _NOUFAILY if c["case_id"] == "farringtonFlexible__noufaily__stsNewport")


def _newport_params() -> list[str]:
    """The Noufaily control list of the stsNewport oracle case as --param items."""
    ctl = _NEWPORT["control"]
    assert ctl["powertrans"] == "none" and ctl["thresholdMethod"] == "nbPlugin"
    return [
        f"b={ctl['b']}", f"w={ctl['w']}", f"reweight={ctl['reweight']}",
        f"weights_threshold={ctl['weightsThreshold']}", f"trend={ctl['trend']}",
        f"p_threshold_trend={ctl['pThresholdTrend']}", f"alpha={ctl['alpha']}",
        f"limit54={json.dumps(ctl['limit54'])}", "power_trans=none",
        f"population_offset={ctl['populationOffset']}", f"no_periods={ctl['noPeriods']}",
        f"past_weeks_not_included={ctl['pastWeeksNotIncluded']}",
        "threshold_method=nbplugin",  # any case of a legal value
    ]  # fmt: skip


@pytest.mark.parametrize("layout", ["long", "wide"])
def test_noufaily_settings_from_the_command_line_match_r(layout: str, tmp_path: Path) -> None:
    """``--param power_trans=none`` is the string 'none' (found #2), reproducing R's
    ``farringtonFlexible`` with ``powertrans = "none"`` in the normal (long / wide) mode."""
    series = pl.read_csv(O.ORACLES / _NEWPORT["input_file"], null_values="NA")
    src = tmp_path / "in.csv"
    if layout == "long":
        series.select("date", pl.lit("Newport").alias("unit"), "observed").write_csv(src)
    else:
        series.select("date", pl.col("observed").alias("Newport")).write_csv(src)
    dest = tmp_path / "out.csv"
    rng = _NEWPORT["control"]["range"]
    args = ["detect", "farrington-flexible", "--input", str(src), "--output", str(dest)]
    args += ["--freq", "week", "--monitor-last", str(rng["last"] - rng["first"] + 1)]
    for p in _newport_params():
        args += ["--param", p]
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    ours = pl.read_csv(dest, null_values="NA", schema_overrides={"unit": pl.String})
    theirs = O.load_output(_NEWPORT)
    for name in ("upperbound", "expected", "pvalue", "phi"):
        got = ours[name].cast(pl.Float64).fill_null(np.nan).to_numpy()
        O.assert_close(got, theirs[name], 1e-5, 1e-8, name, _NEWPORT["case_id"])
    tie = O.ties(theirs["observed"], theirs["upperbound"], 1e-5, 1e-8)
    alarm = ours["alarm"].cast(pl.Float64).fill_null(np.nan).to_numpy()
    O.assert_alarms_match(alarm, theirs["alarm"], tie, _NEWPORT["case_id"])


def _params(method: str, *items: str) -> dict[str, Any]:
    from ruralwatch.cli.detect import _parse_params

    return _parse_params(list(items), method, METHODS[method])


def test_param_values_follow_the_declared_types() -> None:
    assert _params("farrington-flexible", "power_trans=none") == {"power_trans": "none"}
    assert _params("farrington", "power_trans=1/2") == {"power_trans": "1/2"}
    assert _params("farrington-flexible", "threshold_method=MUAN") == {"threshold_method": "muan"}
    assert _params("farrington-flexible", "past_weeks_not_included=none") == {
        "past_weeks_not_included": None
    }
    assert _params("farrington-flexible", "reweight=FALSE", "b=3", "alpha=0.01") == {
        "reweight": False,
        "b": 3,
        "alpha": 0.01,
    }
    assert _params("farrington-flexible", "limit54=[3,2]") == {"limit54": [3, 2]}
    assert _params("ears-c1", "alpha=NA", "min_sigma=1") == {"alpha": None, "min_sigma": 1.0}
    assert _params("cusum", "m=glm", "trans=rossi") == {"m": "glm", "trans": "rossi"}
    assert _params("cusum", "m=3.5") == {"m": 3.5}
    assert _params("glr-nb", "alpha=none", "dir=dec") == {"alpha": None, "dir": "dec"}


@pytest.mark.parametrize(
    ("method", "item", "message"),
    [
        ("farrington-flexible", "power_trans=cube", "is not one of '2/3', '1/2', 'none'"),
        ("farrington-flexible", "b=three", "'three' is not an integer"),
        ("farrington-flexible", "reweight=maybe", "is not true or false"),
        ("farrington-flexible", "alpha=none", "is not a number"),
        ("ears-c1", "nonsense=1", "ears-c1 has no such parameter"),
        ("ears-c1", "monitor=3", "use --monitor-from or --monitor-last"),
    ],
)
def test_bad_param_values_are_named(method: str, item: str, message: str) -> None:
    from ruralwatch.cli.detect import UsageError

    with pytest.raises(UsageError, match=message.replace("(", r"\(")):
        _params(method, item)


def test_long_output_layout_na_and_reason(tmp_path: Path) -> None:
    src, dest = tmp_path / "in.csv", tmp_path / "out.csv"
    # Unit 2 has a missing count on the last day: NA outputs there, with a reason code.
    days = np.arange(np.datetime64("2024-01-01"), np.datetime64("2024-01-21"))
    lines = ["date,unit,observed"]
    for u in ("1", "2"):
        for k, d in enumerate(days):
            v = "NA" if (u == "2" and k == days.size - 1) else str(3 + (k * 7 + int(u)) % 5)
            lines.append(f"{d},{u},{v}")
    src.write_text("\n".join(lines) + "\n", encoding="utf-8")
    res = runner.invoke(
        app,
        ["detect", "ears-c1", "--input", str(src), "--output", str(dest), "--monitor-last", "3"],
    )
    assert res.exit_code == 0, res.output
    text = dest.read_text(encoding="utf-8").splitlines()
    header = text[0].split(",")
    assert header[:7] == ["date", "unit", "observed", "expected", "upperbound", "alarm", "score"]
    assert header[7:] == ["sd", "reason"]  # EARS's own column, then why a value is NA
    assert len(text) == 1 + 3 * 2
    assert text[1].startswith("2024-01-18,1,")
    assert text[2].startswith("2024-01-18,2,")
    last = text[-1].split(",")
    assert last[:3] == ["2024-01-20", "2", "NA"]
    assert last[5] == "NA"
    # Which code a detector gives is the detector's business; the column carries its codes.
    assert {line.split(",")[-1] for line in text[1:]} <= {r.code for r in Reason}
    first = text[1].split(",")
    assert first[-1] == "ok" and first[5] in ("0", "1")
    assert "." not in first[2]  # counts are written as integers


def test_long_and_wide_input_give_the_same_output(tmp_path: Path) -> None:
    long_src, wide_src = tmp_path / "long.csv", tmp_path / "wide.csv"
    _long_csv(long_src)
    frame = pl.read_csv(long_src, schema_overrides={"unit": pl.String})
    wide = frame.pivot(on="unit", index="date", values="observed")
    wide.write_csv(wide_src)
    outs = []
    for src in (long_src, wide_src):
        dest = tmp_path / f"out-{src.stem}.csv"
        res = runner.invoke(app, ["detect", "ears-c2", "--input", str(src), "--output", str(dest)])
        assert res.exit_code == 0, res.output
        outs.append(dest.read_text(encoding="utf-8"))
    assert outs[0] == outs[1]
