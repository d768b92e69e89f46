"""``ruralwatch detect``: temporal aberration detection on a CSV of counts.

Normal mode reads a long CSV ``date, unit, observed[, population]`` (or a wide one: ``date`` and
one column of counts per unit), puts it on a dates × units grid, runs one registered detector
over every unit and writes a long CSV ``date, unit, observed, expected, upperbound, alarm,
score`` plus the method's own columns and ``reason`` (``ok``, or why the values there are NA:
the codes of :class:`~ruralwatch.epi.detect.base.Reason`). Reading and writing are vectorised
(``ruralwatch.cli._tables``).

R compatibility mode (``--r-function`` with ``--r-control`` and ``--format oracle``) reads an
input series in the oracle layout, takes R's control list as JSON and writes R's output columns,
so that results can be compared with the R ``surveillance`` package line by line. Both R
spellings are accepted (``algo.cusum`` and ``cusum``, ``algo.rki1`` …); the names live in
:mod:`ruralwatch.epi.detect.rnames`.

Nothing heavy (numpy, polars, the detectors) is imported until the command runs.
"""

from __future__ import annotations

import csv
import json
import math
import types
import typing
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ruralwatch.cli._runtime import fail, out

if TYPE_CHECKING:  # numpy, polars and the detectors are imported when the command runs
    from ruralwatch.epi.detect.base import DetectionResult, Detector
    from ruralwatch.epi.detect.rnames import RCall
    from ruralwatch.epi.panel import Panel

_FREQS = {"day": 365, "week": 52, "month": 12, "365": 365, "52": 52, "12": 12}


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


# --------------------------------------------------------------------------------------------
# --param NAME=VALUE, read by the parameter's declared type
# --------------------------------------------------------------------------------------------

_NONE_WORDS = ("none", "null", "na")
_BOOL_WORDS = {"true": True, "false": False}


def _alternatives(hint: Any) -> list[Any]:
    """The members of a (possibly nested) Union annotation."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        return [a for arg in typing.get_args(hint) for a in _alternatives(arg)]
    return [hint]


def _is_sequence(hint: Any) -> bool:
    origin = typing.get_origin(hint) or hint
    simple = (int, float, bool, str, complex, bytes, type(None), typing.Literal)
    return origin not in simple and not (isinstance(origin, type) and origin in simple)


def _typed_value(name: str, text: str, hint: Any) -> Any:
    """``text`` as a value of the declared type ``hint``.

    A literal the parameter allows wins over everything else (``power_trans=none`` is the string
    ``'none'``, not Python ``None``); ``none``/``null``/``NA`` is ``None`` only where the
    parameter accepts ``None``.
    """
    t = text.strip()
    alts = _alternatives(hint)
    literals = [
        v for a in alts if typing.get_origin(a) is typing.Literal for v in typing.get_args(a)
    ]
    for v in literals:
        if isinstance(v, str) and v == t:
            return v
    for v in literals:
        if isinstance(v, str) and v.lower() == t.lower():
            return v
    low = t.lower()
    if type(None) in alts and low in _NONE_WORDS:
        return None
    if bool in alts and low in _BOOL_WORDS:
        return _BOOL_WORDS[low]
    if int in alts and bool not in alts:
        try:
            return int(t)
        except ValueError:
            pass
    if float in alts or complex in alts:
        try:
            return float(t)
        except ValueError:
            pass
    if t.startswith(("[", "{")) and any(_is_sequence(a) for a in alts):
        try:
            return json.loads(t)
        except json.JSONDecodeError as exc:
            raise UsageError(f"--param {name}: {t!r} is not valid JSON: {exc}") from None
    if str in alts:
        return t
    if literals:
        allowed = ", ".join(repr(v) for v in literals)
        if type(None) in alts:
            allowed += " or none"
        raise UsageError(f"--param {name}: {t!r} is not one of {allowed}")
    kinds = [
        k
        for k, ok in (
            ("true or false", bool in alts),
            ("an integer", int in alts and bool not in alts),
            ("a number", float in alts),
            ("a JSON list", any(_is_sequence(a) for a in alts)),
            ("none", type(None) in alts),
        )
        if ok
    ]
    raise UsageError(f"--param {name}: {t!r} is not {' or '.join(kinds) or 'a valid value'}")


def _guess_value(text: str) -> Any:
    """A value for a parameter without a declared type."""
    t = text.strip()
    low = t.lower()
    if low in _BOOL_WORDS:
        return _BOOL_WORDS[low]
    for conv in (int, float):
        try:
            return conv(t)
        except ValueError:
            pass
    if t.startswith(("[", "{")):
        try:
            return json.loads(t)
        except json.JSONDecodeError as exc:
            raise UsageError(f"--param value {t!r} is not valid JSON: {exc}") from None
    return t


def _parse_params(items: list[str], method: str, detector: Detector) -> dict[str, Any]:
    """``NAME=VALUE`` items as keyword arguments of ``detector``, each read by its type."""
    import inspect

    fn = getattr(detector, "fn", detector)
    accepts = getattr(detector, "accepts", None)
    if accepts is None:
        accepts = tuple(
            n
            for n, p in inspect.signature(fn).parameters.items()
            if p.kind is inspect.Parameter.KEYWORD_ONLY
        )
    try:
        hints = typing.get_type_hints(fn)
    except (NameError, TypeError):
        hints = {}
    settable = [a for a in accepts if a != "monitor"]
    params: dict[str, Any] = {}
    for item in items:
        if "=" not in item:
            raise UsageError(f"--param {item!r}: expected NAME=VALUE")
        name, value = item.split("=", 1)
        name = name.strip().replace("-", "_")
        if not name.isidentifier():
            raise UsageError(f"--param {item!r}: {name!r} is not a parameter name")
        if name == "monitor":
            raise UsageError("--param monitor: use --monitor-from or --monitor-last")
        if name not in settable:
            valid = ", ".join(settable) or "none"
            raise UsageError(f"--param {name}: {method} has no such parameter; valid: {valid}")
        hint = hints.get(name)
        params[name] = _guess_value(value) if hint is None else _typed_value(name, value, hint)
    return params


# --------------------------------------------------------------------------------------------
# Normal mode
# --------------------------------------------------------------------------------------------


def _infer_freq(dates: Any) -> int:
    import numpy as np

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


def _read_panel(path: Path, freq: int | None) -> Panel:
    """A long (``date, unit, observed[, population]``) or wide (``date, <unit>…``) CSV."""
    from ruralwatch.cli._tables import TableError, read_grid
    from ruralwatch.epi.panel import Panel

    try:
        grid = read_grid(
            path, ("observed", "population"), required=("observed",), counts=("observed",)
        )
    except TableError as exc:
        raise UsageError(str(exc)) from None
    f = freq if freq is not None else _infer_freq(grid.dates)
    return Panel(
        counts=grid.values["observed"],
        units=grid.units,
        dates=grid.dates,
        freq=f,  # type: ignore[arg-type]
        population=grid.values.get("population"),
    )


def _write_long(path: Path, res: DetectionResult, panel: Panel) -> None:
    """One row per monitored date and unit (dates outer, units inner)."""
    import numpy as np
    import polars as pl

    from ruralwatch.cli._tables import numeric_column, repeat_labels, write_table
    from ruralwatch.epi.detect.base import Reason

    n_rows, n_units = len(res.index), len(res.units)
    if res.dates is not None:
        when = pl.Series("date", np.asarray(res.dates, dtype="datetime64[D]"))
    elif panel.dates is not None:
        when = pl.Series("date", panel.dates[res.index])
    else:
        when = pl.Series("date", np.asarray(res.index, dtype=np.int64) + 1)
    reason = res.reason if res.reason is not None else np.zeros((n_rows, n_units), np.int8)
    codes = [""] * (max(Reason) + 1)
    for r in Reason:
        codes[r] = r.code
    columns = [
        when.gather(np.repeat(np.arange(n_rows), n_units)),
        repeat_labels("unit", res.units, n_rows, tile=True),
        *(
            numeric_column(name, getattr(res, name).ravel())
            for name in ("observed", "expected", "upperbound", "alarm", "score")
        ),
        *(numeric_column(k, res.extra[k].ravel()) for k in sorted(res.extra)),
        pl.Series("reason", codes).gather(reason.ravel().astype(np.int64)),
    ]
    write_table(path, columns)


# --------------------------------------------------------------------------------------------
# R compatibility mode
# --------------------------------------------------------------------------------------------


def _read_oracle(path: Path, freq: int, start: tuple[int, int]) -> Panel:
    """One series in the oracle input layout (``t, date, observed[, population]``)."""
    import numpy as np
    import polars as pl

    from ruralwatch.epi.panel import Panel

    try:
        df = pl.read_csv(path, infer_schema=False)
    except FileNotFoundError:
        raise UsageError(f"{path}: no such file") from None
    except (OSError, pl.exceptions.PolarsError) as exc:
        raise UsageError(f"{path}: cannot read ({exc})") from None
    df = df.rename({c: c.strip() for c in df.columns})
    miss = [c for c in ("t", "date", "observed") if c not in df.columns]
    if miss:
        raise UsageError(f"{path}: missing column(s) {', '.join(miss)}")
    if df.height == 0:
        raise UsageError(f"{path}: empty file")
    nums = {}
    for name in ("observed", "population"):
        if name not in df.columns:
            continue
        text = pl.col(name).str.strip_chars()
        missing = text.is_null() | text.is_in(["", "NA", "NaN"])
        value = pl.when(missing).then(float("nan")).otherwise(text.cast(pl.Float64, strict=False))
        col = df.select(value.alias(name), missing.alias("_m")).with_row_index("_line", offset=2)
        bad = col.filter(pl.col(name).is_null())
        if bad.height:
            line = bad["_line"][0]
            raise UsageError(
                f"{path}: row {line}, column {name}: {df[name][line - 2]!r} is not a number"
            )
        nums[name] = col[name].to_numpy()
    dates = df["date"].str.strip_chars()
    dt = None
    if not dates.is_in(["NA", ""]).any() and not dates.is_null().any():
        parsed = dates.str.to_date("%Y-%m-%d", strict=False)
        if parsed.is_null().any():
            raise UsageError(f"{path}: column date: not all dates are YYYY-MM-DD")
        dt = parsed.to_numpy().astype("datetime64[D]")
    return Panel.single(
        np.asarray(nums["observed"], dtype=np.float64),
        unit="1",
        dates=dt,
        freq=freq,  # type: ignore[arg-type]
        population=nums.get("population"),
        start=start,
    )


def _write_r(path: Path, call: RCall, res: DetectionResult) -> None:
    """R's output columns for the R call, numbers as the oracle files write them."""
    values = {"expected": res.expected, "score": res.score, **res.extra}
    missing = [c for c in call.columns if c not in values]
    if missing:
        raise UsageError(f"{res.method} gives no column {', '.join(missing)}")
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["t", "observed", "upperbound", "alarm", *call.columns])
        for i, row in enumerate(res.index):
            w.writerow(
                [
                    str(int(row) + 1),
                    _fmt(res.observed[i, 0]),
                    _fmt(res.upperbound[i, 0]),
                    _fmt(res.alarm[i, 0]),
                    *(_fmt(values[c][i, 0]) for c in call.columns),
                ]
            )


# --------------------------------------------------------------------------------------------
# The command
# --------------------------------------------------------------------------------------------


def _monitor_rows(panel: Panel, monitor_from: str | None, monitor_last: int | None) -> Any:
    import numpy as np

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


def _run_r_mode(
    method: str | None,
    input: Path,
    output: Path,
    *,
    f: int | None,
    param: list[str],
    monitor_from: str | None,
    monitor_last: int | None,
    r_function: str,
    r_control: str | None,
    fmt: str,
    r_start: str | None,
) -> DetectionResult:
    from ruralwatch.epi.detect.rnames import r_call

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
    try:
        call = r_call(r_function, control)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if method is not None and method != call.method:
        raise UsageError(f"METHOD {method!r} does not match --r-function {r_function!r}")
    detector = call.detector
    panel = _read_oracle(input, f, start)
    kw = dict(call.params)
    if call.monitor is not None:
        if monitor_from is not None or monitor_last is not None:
            raise UsageError("the R control's range and --monitor-from/--monitor-last clash")
        kw["monitor"] = call.monitor
    else:
        mon = _monitor_rows(panel, monitor_from, monitor_last)
        if mon is not None:
            kw["monitor"] = mon
    kw.update(_parse_params(param, call.method, detector))
    try:
        res = detector(panel, **kw)
    except (TypeError, ValueError) as exc:
        raise UsageError(f"{call.method}: {exc}") from None
    _write_r(output, call, res)
    return res


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
    if r_function is not None:
        return _run_r_mode(
            method,
            input,
            output,
            f=f,
            param=param or [],
            monitor_from=monitor_from,
            monitor_last=monitor_last,
            r_function=r_function,
            r_control=r_control,
            fmt=fmt,
            r_start=r_start,
        )
    from ruralwatch.epi.detect import METHODS

    if fmt != "long":
        raise UsageError("--format oracle needs --r-function")
    if method is None:
        raise UsageError(f"METHOD is required; one of {', '.join(sorted(METHODS))}")
    if method not in METHODS:
        raise UsageError(f"unknown METHOD {method!r}; valid: {', '.join(sorted(METHODS))}")
    detector = METHODS[method]
    params = _parse_params(param or [], method, detector)
    panel = _read_panel(input, f)
    mon = _monitor_rows(panel, monitor_from, monitor_last)
    if mon is not None:
        params["monitor"] = mon
    try:
        res = detector(panel, **params)
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
            str | None,
            typer.Option(
                help="R compatibility: an R surveillance function (earsC, farringtonFlexible, "
                "algo.farrington, algo.cusum, algo.glrnb, algo.rki1, …)."
            ),
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
        import numpy as np

        n_alarm = int(np.nansum(res.alarm))
        out.print(
            f"{res.method}: {len(res.units)} series × {len(res.index)} time points, "
            f"{n_alarm} alarm(s) -> {output}"
        )
