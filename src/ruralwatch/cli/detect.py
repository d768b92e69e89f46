"""``ruralwatch detect``: temporal aberration detection on a CSV of counts.

Normal mode reads a long CSV ``date, unit, observed[, population]``, pivots it to a panel, runs
one registered detector over every unit and writes a long CSV ``date, unit, observed, expected,
upperbound, alarm, score`` plus the method's own columns.

R compatibility mode (``--r-function`` with ``--r-control`` and ``--format oracle``) reads an
input series in the oracle layout, takes R's control list as JSON and writes R's output columns,
so that results can be compared with the R ``surveillance`` package line by line.
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import polars as pl
import typer

from ruralwatch.cli._runtime import fail, out
from ruralwatch.epi.detect import METHODS
from ruralwatch.epi.detect.base import DetectionResult
from ruralwatch.epi.panel import Panel

_FREQS = {"day": 365, "week": 52, "month": 12, "365": 365, "52": 52, "12": 12}

# R function -> (output columns after t, observed, upperbound, alarm)
_R_COLUMNS: dict[str, tuple[str, ...]] = {
    "earsC": (),
    "farrington": ("trend", "q", "median_threshold"),
    "farringtonFlexible": (
        "expected",
        "score",
        "pvalue",
        "mu0",
        "phi",
        "trend",
        "trend_coef",
    ),
    "cusum": ("cusum", "m"),
    "glrnb": ("mu0",),
    "rki": (),
}

_FLEX_NAMES = {
    "b": "b",
    "w": "w",
    "reweight": "reweight",
    "weightsThreshold": "weights_threshold",
    "trend": "trend",
    "pThresholdTrend": "p_threshold_trend",
    "alpha": "alpha",
    "limit54": "limit54",
    "powertrans": "power_trans",
    "populationOffset": "population_offset",
    "noPeriods": "no_periods",
    "pastWeeksNotIncluded": "past_weeks_not_included",
    "thresholdMethod": "threshold_method",
}
_CLASSIC_NAMES = ("b", "w", "reweight", "alpha", "trend", "limit54", "powertrans")
# R control entries that only steer R's printing or fitting internals.
_IGNORED = {"range", "verbose", "glmWarnings", "fitFun", "plot", "method"}


class UsageError(Exception):
    """A problem with the command line or the input file (exit code 2)."""


def _fmt(x: Any) -> str:
    """A number as the oracle files write it: ``NA``, integers plain, reals with 17 digits."""
    if x is None:
        return "NA"
    v = float(x)
    if math.isnan(v):
        return "NA"
    if math.isinf(v):
        return "Inf" if v > 0 else "-Inf"
    if v == int(v) and abs(v) < 1e15:
        return str(int(v))
    return f"{v:.17g}"


def _parse_value(text: str) -> Any:
    low = text.strip().lower()
    if low in ("true", "false"):
        return low == "true"
    if low in ("none", "null"):
        return None
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        pass
    if text.strip().startswith(("[", "{")):
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise UsageError(f"--param value {text!r} is not valid JSON: {exc}") from None
    return text


def _parse_params(items: list[str]) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for item in items:
        if "=" not in item:
            raise UsageError(f"--param {item!r}: expected NAME=VALUE")
        name, value = item.split("=", 1)
        name = name.strip().replace("-", "_")
        if not name.isidentifier():
            raise UsageError(f"--param {item!r}: {name!r} is not a parameter name")
        params[name] = _parse_value(value)
    return params


# --------------------------------------------------------------------------------------------
# Normal mode
# --------------------------------------------------------------------------------------------


def _read_long(path: Path) -> pl.DataFrame:
    try:
        df = pl.read_csv(path, infer_schema=False)
    except (OSError, pl.exceptions.PolarsError) as exc:
        raise UsageError(f"{path}: cannot read CSV ({exc})") from None
    df = df.rename({c: c.strip() for c in df.columns})
    missing = [c for c in ("date", "unit", "observed") if c not in df.columns]
    if missing:
        raise UsageError(f"{path}: missing column(s) {', '.join(missing)}")
    df = df.with_row_index("row", offset=2)  # line numbers in the file (header is line 1)
    parsed = df.with_columns(
        pl.col("date").str.strip_chars().str.to_date("%Y-%m-%d", strict=False).alias("_date"),
        pl.col("unit").str.strip_chars().alias("unit"),
        pl.col("observed").str.strip_chars().alias("_obs_text"),
    )
    bad_date = parsed.filter(pl.col("_date").is_null())
    if bad_date.height:
        r = bad_date.row(0, named=True)
        raise UsageError(f"{path}: row {r['row']}, column date: {r['date']!r} is not YYYY-MM-DD")
    bad_unit = parsed.filter(pl.col("unit").is_null() | (pl.col("unit") == ""))
    if bad_unit.height:
        raise UsageError(f"{path}: row {bad_unit['row'][0]}, column unit: empty unit code")
    obs_missing = pl.col("_obs_text").is_null() | pl.col("_obs_text").is_in(["", "NA"])
    parsed = parsed.with_columns(
        pl.when(obs_missing)
        .then(None)
        .otherwise(pl.col("_obs_text").cast(pl.Float64, strict=False))
        .alias("observed_f"),
        obs_missing.alias("_obs_missing"),
    )
    bad_obs = parsed.filter(
        ~pl.col("_obs_missing")
        & (
            pl.col("observed_f").is_null()
            | (pl.col("observed_f") < 0)
            | pl.col("observed_f").is_nan()
        )
    )
    if bad_obs.height:
        r = bad_obs.row(0, named=True)
        raise UsageError(
            f"{path}: row {r['row']}, column observed: {r['observed']!r} is not a count >= 0"
        )
    if "population" in parsed.columns:
        parsed = parsed.with_columns(
            pl.col("population").str.strip_chars().cast(pl.Float64, strict=False).alias("pop_f")
        )
        bad_pop = parsed.filter(pl.col("pop_f").is_null() & ~pl.col("population").is_in(["", "NA"]))
        if bad_pop.height:
            r = bad_pop.row(0, named=True)
            raise UsageError(
                f"{path}: row {r['row']}, column population: {r['population']!r} is not a number"
            )
    dup = parsed.filter(pl.struct("_date", "unit").is_duplicated())
    if dup.height:
        r = dup.row(0, named=True)
        raise UsageError(f"{path}: row {r['row']}: duplicate date {r['date']} for unit {r['unit']}")
    return parsed


def _infer_freq(dates: np.ndarray) -> int:
    if dates.size < 2:
        raise UsageError("cannot infer --freq from fewer than two dates; give --freq")
    step = float(np.median(np.diff(dates.astype(np.int64))))
    if step <= 1.5:
        return 365
    if 6 <= step <= 8:
        return 52
    if 27 <= step <= 32:
        return 12
    raise UsageError(f"cannot infer --freq from a date spacing of {step:g} days; give --freq")


def _panel_from_long(df: pl.DataFrame, freq: int | None) -> Panel:
    wide = (
        df.select("_date", "unit", "observed_f")
        .pivot(on="unit", index="_date", values="observed_f")
        .sort("_date")
    )
    units = [c for c in wide.columns if c != "_date"]
    dates = wide["_date"].to_numpy().astype("datetime64[D]")
    counts = wide.select(units).to_numpy().astype(np.float64)
    population = None
    if "pop_f" in df.columns:
        pw = (
            df.select("_date", "unit", "pop_f")
            .pivot(on="unit", index="_date", values="pop_f")
            .sort("_date")
        )
        population = pw.select(units).to_numpy().astype(np.float64)
    f = freq if freq is not None else _infer_freq(dates)
    return Panel(
        counts=counts,
        units=tuple(units),
        dates=dates,
        freq=f,  # type: ignore[arg-type]
        population=population,
    )


def _write_long(path: Path, res: DetectionResult, panel: Panel) -> None:
    extra = sorted(res.extra)
    dates = res.dates if res.dates is not None else panel.dates
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["date", "unit", "observed", "expected", "upperbound", "alarm", "score", *extra])
        for i, row in enumerate(res.index):
            day = (
                str(dates[i])
                if dates is not None and res.dates is not None
                else (str(panel.dates[row]) if panel.dates is not None else str(int(row) + 1))
            )
            for j, unit in enumerate(res.units):
                w.writerow(
                    [
                        day,
                        unit,
                        _fmt(res.observed[i, j]),
                        _fmt(res.expected[i, j]),
                        _fmt(res.upperbound[i, j]),
                        _fmt(res.alarm[i, j]),
                        _fmt(res.score[i, j]),
                        *(_fmt(res.extra[k][i, j]) for k in extra),
                    ]
                )


# --------------------------------------------------------------------------------------------
# R compatibility mode
# --------------------------------------------------------------------------------------------


def _read_oracle(path: Path, freq: int, start: tuple[int, int]) -> Panel:
    try:
        with path.open(newline="", encoding="utf-8") as fh:
            rows = list(csv.reader(fh))
    except OSError as exc:
        raise UsageError(f"{path}: cannot read ({exc})") from None
    if not rows:
        raise UsageError(f"{path}: empty file")
    header = [h.strip() for h in rows[0]]
    need = ("t", "date", "observed")
    miss = [c for c in need if c not in header]
    if miss:
        raise UsageError(f"{path}: missing column(s) {', '.join(miss)}")
    col = {name: i for i, name in enumerate(header)}
    obs, pop, dates = [], [], []
    for n, r in enumerate(rows[1:], start=2):
        if not r:
            continue
        text = r[col["observed"]].strip()
        try:
            obs.append(math.nan if text in ("NA", "NaN", "") else float(text))
        except ValueError:
            raise UsageError(
                f"{path}: row {n}, column observed: {text!r} is not a number"
            ) from None
        if "population" in col:
            p = r[col["population"]].strip()
            try:
                pop.append(math.nan if p in ("NA", "") else float(p))
            except ValueError:
                raise UsageError(
                    f"{path}: row {n}, column population: {p!r} is not a number"
                ) from None
        dates.append(r[col["date"]].strip())
    dated = all(d not in ("NA", "") for d in dates)
    try:
        dt = np.array(dates, dtype="datetime64[D]") if dated else None
    except ValueError:
        raise UsageError(f"{path}: column date: not all dates are YYYY-MM-DD") from None
    return Panel.single(
        obs,
        unit="1",
        dates=dt,
        freq=freq,  # type: ignore[arg-type]
        population=pop if pop else None,
        start=start,
    )


def _r_call(r_function: str, control: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """Registry name and keyword arguments for an R function and its control list."""
    c = {k: v for k, v in control.items() if k not in _IGNORED}
    if r_function == "earsC":
        method = str(control.get("method", "C1"))
        return f"ears-{method.lower()}", {
            "alpha": c.get("alpha"),
            "baseline": c.get("baseline", 7),
            "min_sigma": c.get("minSigma", 0.0),
        }
    if r_function == "farrington":
        names = {"powertrans": "power_trans"}
        return "farrington", {names.get(k, k): v for k, v in c.items() if k in _CLASSIC_NAMES}
    if r_function == "farringtonFlexible":
        unknown = sorted(set(c) - set(_FLEX_NAMES))
        if unknown:
            raise UsageError(f"unknown farringtonFlexible control entries: {', '.join(unknown)}")
        return "farrington-flexible", {_FLEX_NAMES[k]: v for k, v in c.items()}
    if r_function == "cusum":
        return "cusum", {k: c[k] for k in ("k", "h", "m", "trans", "alpha") if k in c}
    if r_function == "glrnb":
        kw: dict[str, Any] = {
            "c_arl": c.get("c.ARL", 5),
            "m_tilde": c.get("Mtilde", 1),
            "M": c.get("M", -1),
            "change": c.get("change", "intercept"),
            "dir": c.get("dir", "inc"),
            "ret": c.get("ret", "value"),
            "theta": c.get("theta"),
            "x_max": c.get("xMax", 10000),
        }
        mu0 = c.get("mu0")
        if isinstance(mu0, dict):
            kw["s"] = mu0.get("S", 1)
            kw["trend"] = bool(mu0.get("trend", False))
        elif mu0 is not None:
            kw["mu0"] = mu0
        if c.get("alpha") == 0:
            return "glr-poisson", kw
        kw["alpha"] = c.get("alpha")
        return "glr-nb", kw
    if r_function == "rki":
        method = str(control.get("method", "rki1"))
        if method not in ("rki1", "rki2", "rki3"):
            raise UsageError(f"rki control method must be rki1, rki2 or rki3, got {method!r}")
        return method, {}
    raise UsageError(f"unknown --r-function {r_function!r}; valid: {', '.join(sorted(_R_COLUMNS))}")


def _write_r(path: Path, r_function: str, res: DetectionResult) -> None:
    cols = _R_COLUMNS[r_function]
    values = {
        "expected": res.expected,
        "score": res.score,
        **res.extra,
    }
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["t", "observed", "upperbound", "alarm", *cols])
        for i, row in enumerate(res.index):
            w.writerow(
                [
                    str(int(row) + 1),
                    _fmt(res.observed[i, 0]),
                    _fmt(res.upperbound[i, 0]),
                    _fmt(res.alarm[i, 0]),
                    *(_fmt(values[c][i, 0]) for c in cols),
                ]
            )


# --------------------------------------------------------------------------------------------
# The command
# --------------------------------------------------------------------------------------------


def _monitor_rows(panel: Panel, monitor_from: str | None, monitor_last: int | None) -> Any:
    if monitor_from is not None and monitor_last is not None:
        raise UsageError("give --monitor-from or --monitor-last, not both")
    if monitor_last is not None:
        if monitor_last < 1 or monitor_last > panel.n_time:
            raise UsageError(f"--monitor-last must lie in 1..{panel.n_time}")
        return np.arange(panel.n_time - monitor_last, panel.n_time)
    if monitor_from is not None:
        if panel.dates is None:
            raise UsageError("--monitor-from needs dated input")
        try:
            day = np.datetime64(monitor_from, "D")
        except ValueError:
            raise UsageError(f"--monitor-from {monitor_from!r} is not YYYY-MM-DD") from None
        rows = np.flatnonzero(panel.dates >= day)
        if rows.size == 0:
            raise UsageError(f"no time point on or after {monitor_from}")
        return rows
    return None


def run_detect(
    method: str | None,
    input: Path,
    output: Path,
    *,
    freq: str | None = None,
    param: list[str] | None = None,
    monitor_from: str | None = None,
    monitor_last: int | None = None,
    r_function: str | None = None,
    r_control: str | None = None,
    fmt: str = "long",
    r_start: str | None = None,
) -> DetectionResult:
    """The command's work, callable from tests. Raises :class:`UsageError` on bad usage."""
    f = None
    if freq is not None:
        if freq not in _FREQS:
            raise UsageError(f"--freq must be day, week, month, 365, 52 or 12, got {freq!r}")
        f = _FREQS[freq]
    params = _parse_params(param or [])
    if r_function is not None:
        if fmt != "oracle":
            raise UsageError("--r-function needs --format oracle")
        if f is None:
            raise UsageError("--format oracle needs --freq (52, 12 or 365)")
        try:
            control = json.loads(r_control) if r_control else {}
        except json.JSONDecodeError as exc:
            raise UsageError(f"--r-control is not valid JSON: {exc}") from None
        if not isinstance(control, dict):
            raise UsageError("--r-control must be a JSON object")
        start = (2000, 1)
        if r_start:
            try:
                y, p = (int(x) for x in r_start.split(","))
            except ValueError:
                raise UsageError("--r-start must be YEAR,PERIOD") from None
            start = (y, p)
        panel = _read_oracle(input, f, start)
        name, kw = _r_call(r_function, control)
        if method is not None and method != name:
            raise UsageError(f"METHOD {method!r} does not match --r-function {r_function!r}")
        if name not in METHODS:
            raise UsageError(f"{name} is not implemented")
        rng = control.get("range")
        if isinstance(rng, dict):
            kw["monitor"] = np.arange(int(rng["first"]) - 1, int(rng["last"]))
        else:
            mon = _monitor_rows(panel, monitor_from, monitor_last)
            if mon is not None:
                kw["monitor"] = mon
        kw.update(params)
        try:
            res = METHODS[name](panel, **kw)
        except (TypeError, ValueError) as exc:
            raise UsageError(f"{name}: {exc}") from None
        _write_r(output, r_function, res)
        return res
    if fmt != "long":
        raise UsageError("--format oracle needs --r-function")
    if method is None:
        raise UsageError(f"METHOD is required; one of {', '.join(sorted(METHODS))}")
    if method not in METHODS:
        raise UsageError(f"unknown METHOD {method!r}; valid: {', '.join(sorted(METHODS))}")
    panel = _panel_from_long(_read_long(input), f)
    mon = _monitor_rows(panel, monitor_from, monitor_last)
    if mon is not None:
        params["monitor"] = mon
    try:
        res = METHODS[method](panel, **params)
    except (TypeError, ValueError) as exc:
        raise UsageError(f"{method}: {exc}") from None
    _write_long(output, res, panel)
    return res


def register(app: typer.Typer) -> None:
    @app.command("detect")
    def detect(
        method: Annotated[
            str | None, typer.Argument(help="Detector name (ears-c1, farrington-flexible, …).")
        ] = None,
        input: Annotated[Path, typer.Option("--input", help="Input CSV.")] = Path("-"),
        output: Annotated[Path, typer.Option("--output", help="Output CSV.")] = Path("-"),
        freq: Annotated[str | None, typer.Option(help="day|week|month (or 365|52|12).")] = None,
        param: Annotated[
            list[str] | None, typer.Option("--param", help="NAME=VALUE, repeatable.")
        ] = None,
        monitor_from: Annotated[str | None, typer.Option(help="First date to judge.")] = None,
        monitor_last: Annotated[int | None, typer.Option(help="Judge the last N points.")] = None,
        r_function: Annotated[
            str | None, typer.Option(help="R compatibility: earsC, farrington, … ")
        ] = None,
        r_control: Annotated[str | None, typer.Option(help="R control list as JSON.")] = None,
        format: Annotated[str, typer.Option("--format", help="long or oracle.")] = "long",
        r_start: Annotated[str | None, typer.Option(help="YEAR,PERIOD of the first row.")] = None,
    ) -> None:
        """Detect aberrations in every series of a CSV and write the judgements."""
        if str(input) == "-" or str(output) == "-":
            raise fail("--input and --output are required", code=2)
        try:
            res = run_detect(
                method,
                input,
                output,
                freq=freq,
                param=param,
                monitor_from=monitor_from,
                monitor_last=monitor_last,
                r_function=r_function,
                r_control=r_control,
                fmt=format,
                r_start=r_start,
            )
        except UsageError as exc:
            raise fail(str(exc), code=2) from None
        n_alarm = int(np.nansum(res.alarm))
        out.print(
            f"{res.method}: {len(res.units)} series × {len(res.index)} time points, "
            f"{n_alarm} alarm(s) -> {output}"
        )
