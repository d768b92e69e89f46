"""``ruralwatch rt`` and ``ruralwatch mem``: situation assessment from CSV files.

Both commands read a CSV, call one ``ruralwatch.epi.assess`` function and write a CSV. Each has
an R compatibility mode (``--format oracle``) that reads and writes the layout of the R
packages (EpiEstim, mem), so that results can be compared with R line by line.
"""

from __future__ import annotations

import csv
import json
import math
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ruralwatch.cli._runtime import console, fail, out

if TYPE_CHECKING:  # numpy and the estimators are imported when a command runs
    import numpy as np

EPIESTIM_COLUMNS = (
    "t_start",
    "t_end",
    "Mean(R)",
    "Std(R)",
    "Quantile.0.025(R)",
    "Quantile.0.05(R)",
    "Quantile.0.25(R)",
    "Median(R)",
    "Quantile.0.75(R)",
    "Quantile.0.95(R)",
    "Quantile.0.975(R)",
)


def _fmt(x: Any) -> str:
    """A number as R writes it in the oracle files: ``NA`` for missing, 17 significant digits."""
    import numpy as np

    if x is None:
        return "NA"
    if isinstance(x, bool | np.bool_):
        return "1" if x else "0"
    if isinstance(x, int | np.integer):
        return str(int(x))
    v = float(x)
    if math.isnan(v):
        return "NA"
    if math.isinf(v):
        return "Inf" if v > 0 else "-Inf"
    if v == int(v) and abs(v) < 1e15:
        return str(int(v))
    return repr(v)


def _read_csv(path: Path) -> tuple[list[str], list[list[str]]]:
    with path.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    if not rows:
        raise fail(f"{path}: empty file")
    return [h.strip() for h in rows[0]], [r for r in rows[1:] if r]


def _num(s: str) -> float:
    s = s.strip()
    return math.nan if s in ("", "NA", "NaN", "nan") else float(s)


def _json_arg(text: str) -> dict[str, Any]:
    """A JSON object given inline or as a path to a file."""
    p = Path(text)
    raw = (
        p.read_text(encoding="utf-8") if not text.lstrip().startswith("{") and p.exists() else text
    )
    try:
        obj = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise fail(f"not valid JSON: {exc}") from exc
    if not isinstance(obj, dict):
        raise fail("the JSON argument must be an object")
    return obj


def _write_rows(path: Path, header: list[str], rows: list[list[Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(header)
        for r in rows:
            w.writerow([_fmt(v) if not isinstance(v, str) else v for v in r])


def _read_si(path: Path) -> np.ndarray:
    import numpy as np

    header, rows = _read_csv(path)
    col = header.index("p") if "p" in header else len(header) - 1
    return np.array([_num(r[col]) for r in rows], dtype=np.float64)


def _range(spec: Any) -> np.ndarray:
    import numpy as np

    if isinstance(spec, dict):
        return np.arange(int(spec["first"]), int(spec["last"]) + 1, dtype=np.int64)
    return np.asarray(spec, dtype=np.int64).ravel()


# ---------------------------------------------------------------------------------------- rt


def _rt_oracle(input: Path, output: Path, r_config: str, si_distr_file: Path | None) -> None:
    import numpy as np

    from ruralwatch.epi.assess.rt import SerialIntervalWarning, discrete_si, estimate_rt

    # What the estimate accepts with a warning is printed once, by _print_warnings.
    warnings.simplefilter("ignore", SerialIntervalWarning)

    cfg = _json_arg(r_config)
    header, rows = _read_csv(input)
    cols = {
        h: [_num(r[i]) if h != "dates" else math.nan for r in rows] for i, h in enumerate(header)
    }
    if "local" in cols and "imported" in cols:
        inc = np.array(cols["local"])
        imported: np.ndarray | None = np.array(cols["imported"])
    elif "I" in cols:
        inc, imported = np.array(cols["I"]), None
    else:
        raise fail(f"{input}: need a column I, or columns local and imported")
    n = inc.size
    method = cfg.get("method", "parametric_si")
    if method == "parametric_si":
        if cfg.get("mean_si") is None or cfg.get("std_si") is None:
            raise fail("parametric_si needs mean_si and std_si")
        si = discrete_si(np.arange(n), float(cfg["mean_si"]), float(cfg["std_si"]))
    elif method == "non_parametric_si":
        given = cfg.get("si_distr")
        if isinstance(given, list):
            si = np.asarray(given, dtype=np.float64)
        elif si_distr_file is not None:
            si = _read_si(si_distr_file)
        elif isinstance(given, str) and Path(given).exists():
            si = _read_si(Path(given))
        else:
            raise fail(
                "non_parametric_si needs si_distr (a list, a file in the config, or --si-distr)"
            )
    else:
        raise fail(f"method {method!r} is not supported (parametric_si, non_parametric_si)")
    ts = _range(cfg["t_start"]) if cfg.get("t_start") is not None else None
    te = _range(cfg["t_end"]) if cfg.get("t_end") is not None else None
    res = estimate_rt(
        inc,
        si,
        ts,
        te,
        mean_prior=float(cfg.get("mean_prior", 5.0)),
        std_prior=float(cfg.get("std_prior", 5.0)),
        imported=imported,
        cv_posterior=float(cfg.get("cv_posterior", 0.3)),
        window=int(cfg.get("window_length", 7)),
        si_sum="warn" if method == "parametric_si" else "error",
    )
    _print_warnings(res.warnings)
    body: list[list[Any]] = []
    for i in range(res.t_start.size):
        body.append(
            [int(res.t_start[i]), int(res.t_end[i]), res.mean[i, 0], res.std[i, 0]]
            + [res.quantiles[q, i, 0] for q in range(len(res.quantile_levels))]
        )
    _write_rows(output, list(EPIESTIM_COLUMNS), body)


def _print_warnings(notes: tuple[str, ...]) -> None:
    """What the estimate accepted with a warning (as EpiEstim warns), on standard error."""
    for note in notes:
        console.print(f"[yellow]warning:[/yellow] {note}")


def _rt_long(
    input: Path,
    output: Path,
    si_mean: float | None,
    si_sd: float | None,
    si_distr_file: Path | None,
    window: int,
    mean_prior: float,
    std_prior: float,
    cv_posterior: float,
) -> None:
    """Long (or wide) incidence in, one row per unit and window out; vectorised both ways."""
    import numpy as np
    import polars as pl

    from ruralwatch.cli._tables import (
        TableError,
        numeric_column,
        read_grid,
        repeat_labels,
        write_table,
    )
    from ruralwatch.epi.assess.rt import SerialIntervalWarning, discrete_si, estimate_rt

    # What the estimate accepts with a warning is printed once, by _print_warnings.
    warnings.simplefilter("ignore", SerialIntervalWarning)

    try:
        grid = read_grid(
            input,
            ("cases", "imported"),
            required=("cases",),
            counts=("cases", "imported"),
            sort_units=True,
        )
    except TableError as exc:
        raise fail(str(exc)) from None
    # A day without a record is a missing day on the daily axis from the first to the last date.
    d0 = grid.dates[0]
    all_dates = np.arange(d0, grid.dates[-1] + np.timedelta64(1, "D"), dtype="datetime64[D]")
    n_t, n_u = all_dates.size, len(grid.units)
    rows = (grid.dates - d0).astype(np.int64)
    cases = np.full((n_t, n_u), np.nan)
    cases[rows] = grid.values["cases"]
    imported = None
    if "imported" in grid.values:
        imported = np.zeros((n_t, n_u))
        imported[rows] = grid.values["imported"]
        # No record at all for a unit and day: no imported cases either (its cases are missing).
        imported[np.isnan(imported) & np.isnan(cases)] = 0.0
    if si_distr_file is not None:
        si = _read_si(si_distr_file)
    elif si_mean is not None and si_sd is not None:
        si = discrete_si(np.arange(n_t), si_mean, si_sd)
    else:
        raise fail("give --si-mean and --si-sd, or --si-distr FILE")
    try:
        res = estimate_rt(
            cases,
            si,
            window=window,
            mean_prior=mean_prior,
            std_prior=std_prior,
            imported=imported,
            cv_posterior=cv_posterior,
            si_sum="error" if si_distr_file is not None else "warn",
        )
    except ValueError as exc:
        raise fail(str(exc)) from exc
    _print_warnings(res.warnings)
    n_w = res.t_start.size
    # Units outer, windows inner: (W, U) arrays are read column by column (transposed).
    by_unit = np.tile(np.arange(n_w), n_u)
    starts = pl.Series("date_start", all_dates[res.t_start - 1])
    ends = pl.Series("date_end", all_dates[res.t_end - 1])
    columns = [
        repeat_labels("unit", grid.units, n_w, tile=False),
        pl.Series("t_start", res.t_start).gather(by_unit),
        pl.Series("t_end", res.t_end).gather(by_unit),
        starts.gather(by_unit),
        ends.gather(by_unit),
        numeric_column("mean", res.mean.T.ravel(), real=True),
        numeric_column("std", res.std.T.ravel(), real=True),
        *(
            numeric_column(f"q{q:g}", res.quantiles[k].T.ravel(), real=True)
            for k, q in enumerate(res.quantile_levels)
        ),
        numeric_column("cv", res.cv.T.ravel(), real=True),
        numeric_column("reliable", res.reliable.T.ravel()),
    ]
    write_table(output, columns)


def rt_cmd(
    input: Annotated[
        Path,
        typer.Option(
            "--input",
            help="CSV: date, unit, cases[, imported] (EpiEstim layout with --format oracle).",
        ),
    ],
    output: Annotated[Path, typer.Option("--output", help="CSV to write.")],
    si_mean: Annotated[
        float | None, typer.Option("--si-mean", help="Mean serial interval (days), offset Gamma.")
    ] = None,
    si_sd: Annotated[
        float | None, typer.Option("--si-sd", help="SD of the serial interval (days).")
    ] = None,
    si_distr: Annotated[
        Path | None, typer.Option("--si-distr", help="Discrete SI as CSV (k,p), p[0] = 0.")
    ] = None,
    window: Annotated[int, typer.Option("--window", help="Sliding window length (days).")] = 7,
    mean_prior: Annotated[float, typer.Option("--mean-prior", help="Prior mean of R.")] = 5.0,
    std_prior: Annotated[float, typer.Option("--std-prior", help="Prior SD of R.")] = 5.0,
    cv_posterior: Annotated[
        float, typer.Option("--cv-posterior", help="CV below which a window is reliable.")
    ] = 0.3,
    fmt: Annotated[
        str, typer.Option("--format", help="long (default) or oracle (EpiEstim layout).")
    ] = "long",
    r_config: Annotated[
        str | None,
        typer.Option("--r-config", help="oracle mode: EpiEstim config as JSON (inline or file)."),
    ] = None,
) -> None:
    """Instantaneous reproduction number R_t (Cori et al. 2013) on sliding windows."""
    if fmt == "oracle":
        if r_config is None:
            raise fail("--format oracle needs --r-config")
        try:
            _rt_oracle(input, output, r_config, si_distr)
        except ValueError as exc:
            raise fail(str(exc)) from exc
    elif fmt == "long":
        _rt_long(
            input, output, si_mean, si_sd, si_distr, window, mean_prior, std_prior, cv_posterior
        )
    else:
        raise fail(f"unknown --format {fmt!r} (long, oracle)")
    out.print(f"wrote {output}", highlight=False)


# --------------------------------------------------------------------------------------- mem

_LABEL_COLUMNS = {"row", "label", "week", "period", "month"}
TIMING_COLUMNS = (
    "season",
    "column",
    "length",
    "percent",
    "sum",
    "start",
    "end",
    "slope_threshold",
    "n_pre_data",
    "n_epi_data",
    "n_post_data",
    "h_method1",
    "h_fill",
    "decision_margin",
)


def _read_seasons(path: Path) -> tuple[list[str], np.ndarray, int]:
    """Periods × seasons; columns named row/label/week/period/month are labels, not seasons."""
    import numpy as np

    header, rows = _read_csv(path)
    keep = [i for i, h in enumerate(header) if h.lower() not in _LABEL_COLUMNS]
    if not keep:
        raise fail(f"{path}: no season columns")
    try:
        data = np.array([[_num(r[i]) for i in keep] for r in rows], dtype=np.float64)
    except (ValueError, IndexError) as exc:
        raise fail(f"{path}: not a numeric table: {exc}") from exc
    start_label = 1
    if "label" in header and rows:
        try:
            start_label = int(float(rows[0][header.index("label")]))
        except ValueError:
            start_label = 1
    return [header[i] for i in keep], data, start_label


def _parse_value(text: str) -> Any:
    t = text.strip()
    if t.upper() in ("NA", "NULL", "NONE"):
        return None
    if t.upper() in ("TRUE", "FALSE"):
        return t.upper() == "TRUE"
    if "," in t:
        return [float(x) for x in t.split(",")]
    try:
        return int(t)
    except ValueError:
        return float(t)


def mem_cmd(
    input: Annotated[
        Path, typer.Option("--input", help="CSV: rows = periods, one column per season.")
    ],
    output: Annotated[Path, typer.Option("--output", help="CSV to write (name,value).")],
    param: Annotated[
        list[str] | None,
        typer.Option("--param", help="NAME=VALUE, mem names (i.method=2) or method=2; repeatable."),
    ] = None,
    fmt: Annotated[
        str, typer.Option("--format", help="plain (default) or oracle (R mem layout).")
    ] = "plain",
    r_args: Annotated[
        str | None,
        typer.Option("--r-args", help="oracle mode: mem arguments as JSON (inline or file)."),
    ] = None,
    r_function: Annotated[
        str, typer.Option("--r-function", help="oracle mode: memmodel or memtiming.")
    ] = "memmodel",
) -> None:
    """Moving Epidemic Method: epidemic and intensity thresholds (or per-season timing)."""
    from ruralwatch.epi.assess import mem

    names, data, start_label = _read_seasons(input)
    args: dict[str, Any] = {}
    if fmt == "oracle":
        if r_args is not None:
            args = _json_arg(r_args)
    elif fmt != "plain":
        raise fail(f"unknown --format {fmt!r} (plain, oracle)")
    for item in param or []:
        if "=" not in item:
            raise fail(f"--param needs NAME=VALUE, got {item!r}")
        k, v = item.split("=", 1)
        args[k.strip()] = _parse_value(v)
    args = {k: v for k, v in args.items() if k not in ("i.type.boot", "i.iter.boot", "i.mem.info")}
    try:
        if r_function == "memtiming":
            n_values = int(args.get("i.n.values", args.get("n_values", 5)))
            method = int(args.get("i.method", args.get("method", 2)))
            par = float(args.get("i.param", args.get("param", 2.8)))
            body: list[list[Any]] = []
            for j, name in enumerate(names):
                t = mem.memtiming(data[:, j], n_values, method, par)
                body.append(
                    [
                        name,
                        j + 1,
                        t.length,
                        t.percent,
                        t.sum,
                        t.start,
                        t.end,
                        t.slope_threshold,
                        t.n_pre,
                        t.n_epi,
                        t.n_post,
                        t.h_method1,
                        t.h_fill,
                        t.decision_margin,
                    ]
                )
            _write_rows(output, list(TIMING_COLUMNS), body)
        elif r_function == "memmodel":
            model = mem.memmodel(data, names, start_label=start_label, **args)
            _write_rows(output, ["name", "value"], [[k, v] for k, v in model.summary.items()])
        else:
            raise fail(f"unknown --r-function {r_function!r} (memmodel, memtiming)")
    except (ValueError, TypeError) as exc:
        raise fail(str(exc)) from exc
    out.print(f"wrote {output}", highlight=False)


def register(app: typer.Typer) -> None:
    app.command("rt")(rt_cmd)
    app.command("mem")(mem_cmd)
