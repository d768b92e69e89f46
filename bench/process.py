"""Whole processes: the ``ruralwatch`` command, start to finish (interpreter start-up, imports,
reading the CSV, the method, writing the CSV), against the R peers' per-series loops (timing
only the loop, so R's start-up and its reading of the data are not counted).

Rows: ``ruralwatch --help``; ``detect ears-c1`` on 10,000 daily series × 400 days (long CSV,
4 million rows); ``detect farrington-flexible`` with the Noufaily settings on 1,000 weekly
series × 315 weeks, 52 monitored; ``rt`` on 3,000 daily series × 365 days.

The environment of this workplace sets ``PYTHONDONTWRITEBYTECODE``, so that every process
would compile every module from source; an installed package has its bytecode. The children
here run with a bytecode cache in the work directory, warmed by one untimed run.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import polars as pl

from bench import data
from bench._util import best_of, log, run_r, versus_r, write_panel_csv
from bench.detect import FARRINGTON_NOUFAILY, SEED, agreement
from bench.rt import SI_MEAN, SI_SD
from bench.rt import _agreement as rt_agreement

FULL = {
    "help_repeat": 10,
    "ears_units": 10_000,
    "ears_days": 400,
    "ears_monitor": 30,
    "r_ears_series": 10_000,
    "farr_units": 1_000,
    "farr_weeks": 315,
    "farr_monitor": 52,
    "r_farrington_series": 20,
    "rt_units": 3_000,
    "rt_days": 365,
    "r_rt_series": 100,
    "repeat": 3,
    "farr_repeat": 2,
}
QUICK = {
    **FULL,
    "help_repeat": 3,
    "ears_units": 500,
    "r_ears_series": 50,
    "farr_units": 40,
    "r_farrington_series": 2,
    "rt_units": 200,
    "r_rt_series": 10,
    "repeat": 1,
    "farr_repeat": 1,
}
FIRST_DAY = np.datetime64("2023-01-01")
FIRST_MONDAY = np.datetime64("2000-01-03")


def _ruralwatch() -> str:
    exe = Path(sys.executable).parent / "ruralwatch"
    return str(exe) if exe.exists() else "ruralwatch"


def _env(workdir: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(workdir / "pycache")
    return env


def _run(args: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall and CPU seconds (user + system, the child's threads included) of one process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(args, env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed:\n{proc.stdout[-2000:]}{proc.stderr[-3000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def _best(args: list[str], env: dict[str, str], repeat: int) -> dict[str, float]:
    """The fastest of ``repeat`` timed runs (wall) and that run's CPU time."""
    runs = [_run(args, env) for _ in range(max(repeat, 1))]
    wall, cpu = min(runs)
    return {"wall_s": wall, "cpu_s": cpu, "runs": len(runs)}


def _long_csv(path: Path, counts: np.ndarray, dates: np.ndarray, units: list[str], col: str) -> int:
    """A long CSV (date by date, every unit each date) of a time × units matrix of counts."""
    n_t, n_u = counts.shape
    frame = pl.DataFrame(
        {
            "date": pl.Series(dates).gather(np.repeat(np.arange(n_t), n_u)),
            "unit": pl.Series(units).gather(np.tile(np.arange(n_u), n_t)),
            col: counts.ravel().astype(np.int64),
        }
    )
    frame.write_csv(path)
    return frame.height


def _row(
    name: str,
    *,
    series: int,
    length: int,
    monitored: int,
    input_rows: int,
    ours: dict[str, float],
    r: dict[str, Any] | None,
    target: float | None,
    agree: dict[str, Any] | None,
    command: str,
    method_s: float,
) -> dict[str, Any]:
    ours_ps = ours["wall_s"] / series
    return {
        "name": name,
        "series": series,
        "length": length,
        "monitored": monitored,
        "input_rows": input_rows,
        "ours_s": ours["wall_s"],
        "ours_cpu_s": ours["cpu_s"],
        "ours_runs": ours["runs"],
        "ours_per_series_ms": ours_ps * 1e3,
        **versus_r(r, ours_ps),
        "target": target,
        "agreement": agree,
        "command": command,
        "method_s": method_s,
    }


def _detect_result(out_csv: Path, n_monitor: int, n_units: int, first_row: int) -> Any:
    """Our output CSV as the arrays ``agreement`` compares (dates outer, units inner)."""
    frame = pl.read_csv(
        out_csv,
        columns=["upperbound", "alarm"],
        null_values="NA",
        schema_overrides={"upperbound": pl.Float64, "alarm": pl.Float64},
    )
    shape = (n_monitor, n_units)
    return SimpleNamespace(
        index=np.arange(first_row, first_row + n_monitor),
        upperbound=frame["upperbound"].fill_null(np.nan).to_numpy().reshape(shape),
        alarm=frame["alarm"].fill_null(np.nan).to_numpy().reshape(shape),
    )


def _warm(env: dict[str, str]) -> None:
    """Compile every module the commands import into the bytecode cache, and Farrington's
    kernel into numba's cache (a fresh checkout compiles it at its first call, a few seconds),
    untimed."""
    modules = (
        "ruralwatch.cli, ruralwatch.cli._tables, ruralwatch.epi.detect.ears, "
        "ruralwatch.epi.detect.farrington, ruralwatch.epi.assess.rt, polars, scipy.special, "
        "scipy.stats"
    )
    _run([sys.executable, "-c", f"import {modules}"], env)
    kernel = (
        "import numpy as np; from ruralwatch.epi.detect.farrington import farrington_flexible; "
        "from ruralwatch.epi.panel import Panel; "
        "c = np.random.default_rng(0).poisson(5.0, (320, 2)).astype(float); "
        "farrington_flexible(Panel(counts=c, units=('a', 'b'), freq=52), no_periods=10, "
        "monitor=slice(-2, None))"
    )
    _run([sys.executable, "-c", kernel], env)


def _command(args: list[str], workdir: Path) -> str:
    """The command line as a user types it (files named without the temporary directory)."""
    return " ".join(["ruralwatch", *args[1:]]).replace(f"{workdir}/", "")


def _help(sizes: dict[str, int], env: dict[str, str]) -> dict[str, Any]:
    args = [_ruralwatch(), "--help"]
    _run(args, env)  # warm the bytecode cache
    best = _best(args, env, sizes["help_repeat"])
    log(f"ruralwatch --help: {best['wall_s']:.3f} s (CPU {best['cpu_s']:.3f} s)")
    return {
        "name": "`ruralwatch --help`",
        "ours_s": best["wall_s"],
        "ours_cpu_s": best["cpu_s"],
        "ours_runs": best["runs"],
        "target_s": 0.3,
        "command": "ruralwatch --help",
    }


def _ears(sizes: dict[str, int], workdir: Path, env: dict[str, str]) -> dict[str, Any]:
    n_u, n_t, n_m = sizes["ears_units"], sizes["ears_days"], sizes["ears_monitor"]
    counts = data.daily_panel(SEED, n_u, n_t)
    units = [f"d{j:05d}" for j in range(n_u)]
    dates = np.arange(FIRST_DAY, FIRST_DAY + n_t)
    src, dest = workdir / "daily_long.csv", workdir / "ears_out.csv"
    rows = _long_csv(src, counts, dates, units, "observed")
    args = [_ruralwatch(), "detect", "ears-c1", "--input", str(src), "--output", str(dest)]
    args += ["--freq", "day", "--monitor-last", str(n_m)]
    _run(args, env)  # warm the bytecode cache and the file cache
    ours = _best(args, env, sizes["repeat"])
    log(f"process ears-c1: {ours['wall_s']:.2f} s (CPU {ours['cpu_s']:.2f} s) for {n_u} series")
    from ruralwatch.epi.detect import METHODS
    from ruralwatch.epi.panel import Panel

    panel = Panel(counts=counts, units=tuple(units), dates=dates, freq=365)
    det = METHODS["ears-c1"]
    _, method_s = best_of(lambda: det(panel, monitor=slice(-n_m, None)), sizes["repeat"])
    wide = workdir / "daily_wide.csv"
    write_panel_csv(wide, counts, units)
    r = run_r(
        "ears.R",
        [str(wide), str(sizes["r_ears_series"]), str(n_t - n_m + 1), "C1"],
        workdir / "r_ears",
    )
    log(f"process ears-c1: R {r['seconds']:.1f} s for {r['series']} series")
    res = _detect_result(dest, n_m, n_u, n_t - n_m)
    return _row(
        "`detect ears-c1`",
        series=n_u,
        length=n_t,
        monitored=n_m,
        input_rows=rows,
        ours=ours,
        r=r,
        target=20,
        agree=agreement(res, r["csv"]),
        command=_command(args, workdir),
        method_s=method_s,
    )


def _farrington(sizes: dict[str, int], workdir: Path, env: dict[str, str]) -> dict[str, Any]:
    n_u, n_t, n_m = sizes["farr_units"], sizes["farr_weeks"], sizes["farr_monitor"]
    counts = data.weekly_panel(SEED, n_u, n_t)
    units = [f"w{j:04d}" for j in range(n_u)]
    dates = FIRST_MONDAY + 7 * np.arange(n_t)
    src, dest = workdir / "weekly_long.csv", workdir / "farr_out.csv"
    rows = _long_csv(src, counts, dates, units, "observed")
    args = [_ruralwatch(), "detect", "farrington-flexible", "--input", str(src)]
    args += ["--output", str(dest), "--freq", "week", "--monitor-last", str(n_m)]
    for key, value in FARRINGTON_NOUFAILY.items():
        text = ",".join(str(v) for v in value) if isinstance(value, tuple) else str(value)
        args += ["--param", f"{key}=[{text}]" if isinstance(value, tuple) else f"{key}={text}"]
    ours = _best(args, env, sizes["farr_repeat"])
    log(f"process farrington: {ours['wall_s']:.1f} s (CPU {ours['cpu_s']:.1f} s) for {n_u}")
    from ruralwatch.epi.detect import METHODS
    from ruralwatch.epi.panel import Panel

    panel = Panel(counts=counts, units=tuple(units), dates=dates, freq=52)
    det = METHODS["farrington-flexible"]
    _, method_s = best_of(lambda: det(panel, monitor=slice(-n_m, None), **FARRINGTON_NOUFAILY), 1)
    log(f"process farrington: the method alone {method_s:.1f} s")
    wide = workdir / "weekly_wide.csv"
    write_panel_csv(wide, counts, units)
    r = run_r(
        "farrington.R",
        [str(wide), str(sizes["r_farrington_series"]), str(n_t - n_m + 1)],
        workdir / "r_farr",
        extra=[str(FIRST_MONDAY)],
    )
    log(f"process farrington: R {r['seconds']:.1f} s for {r['series']} series")
    res = _detect_result(dest, n_m, n_u, n_t - n_m)
    return _row(
        "`detect farrington-flexible` (Noufaily)",
        series=n_u,
        length=n_t,
        monitored=n_m,
        input_rows=rows,
        ours=ours,
        r=r,
        target=100,
        agree=agreement(res, r["csv"]),
        command=_command(args, workdir),
        method_s=method_s,
    )


def _rt(sizes: dict[str, int], workdir: Path, env: dict[str, str]) -> dict[str, Any]:
    from ruralwatch.epi.assess.rt import discrete_si, estimate_rt

    n_u, n_t = sizes["rt_units"], sizes["rt_days"]
    si_true = discrete_si(np.arange(60), SI_MEAN, SI_SD)
    incidence = data.renewal_panel(SEED, n_u, n_t, si_true)
    units = [f"s{j:04d}" for j in range(n_u)]
    dates = np.arange(FIRST_DAY, FIRST_DAY + n_t)
    src, dest = workdir / "incidence_long.csv", workdir / "rt_out.csv"
    rows = _long_csv(src, incidence, dates, units, "cases")
    args = [_ruralwatch(), "rt", "--input", str(src), "--output", str(dest)]
    args += ["--si-mean", str(SI_MEAN), "--si-sd", str(SI_SD)]
    ours = _best(args, env, sizes["repeat"])
    log(f"process rt: {ours['wall_s']:.2f} s (CPU {ours['cpu_s']:.2f} s) for {n_u} series")
    _, method_s = best_of(
        lambda: estimate_rt(incidence, discrete_si(np.arange(n_t), SI_MEAN, SI_SD)),
        sizes["repeat"],
    )
    wide = workdir / "incidence_wide.csv"
    write_panel_csv(wide, incidence, units)
    r = run_r(
        "epiestim.R",
        [str(wide), str(sizes["r_rt_series"]), str(SI_MEAN), str(SI_SD)],
        workdir / "r_rt",
    )
    log(f"process rt: EpiEstim {r['seconds']:.1f} s for {r['series']} series")
    out = pl.read_csv(dest, columns=["t_end", "mean"], null_values="NA")
    n_w = out.height // n_u
    res = SimpleNamespace(
        t_end=out["t_end"].to_numpy()[:n_w],
        mean=out["mean"].cast(pl.Float64).fill_null(np.nan).to_numpy().reshape(n_u, n_w).T,
    )
    return _row(
        "`rt` (Cori, parametric SI)",
        series=n_u,
        length=n_t,
        monitored=n_w,
        input_rows=rows,
        ours=ours,
        r=r,
        target=100,
        agree=rt_agreement(res, r["csv"]),  # type: ignore[arg-type]
        command=_command(args, workdir),
        method_s=method_s,
    )


def run(*, quick: bool, workdir: Path) -> dict[str, Any]:
    sizes = QUICK if quick else FULL
    env = _env(workdir)
    _warm(env)
    help_row = _help(sizes, env)
    rows = [_ears(sizes, workdir, env), _farrington(sizes, workdir, env), _rt(sizes, workdir, env)]
    return {"sizes": sizes, "help": help_row, "rows": rows}
